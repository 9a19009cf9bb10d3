//! smemu-objects: the object layer — an embedded S3 server, one facade for `s3://` and `file://` URIs, and model artifact fetching.
//!
//! - [`embedded`]: serve S3 (s3s + s3s-fs) from a local directory, with buckets owned by
//!   accounts and, optionally, SigV4 verified;
//! - [`store`]: [`Objects`], reading/writing/listing by URI against the embedded server,
//!   an external S3, or AWS;
//! - [`artifacts`] and [`archive`]: `ModelDataUrl` / `S3DataSource` to a local directory,
//!   extracted safely and cached by content digest;
//! - [`roots`]: where `file://` URIs may point (`--file-root`);
//! - [`uri`], [`error`]: the URI grammar and the one error type.

pub mod archive;
pub mod artifacts;
pub mod embedded;
pub mod error;
pub mod roots;
pub mod store;
pub mod uri;

pub use artifacts::{
    ArtifactCache, ArtifactLease, DEFAULT_MAX_ARTIFACT_SIZE, DEFAULT_MAX_CACHE_SIZE, Eviction, FetchedModel,
    fetch_model_artifacts, fetch_model_artifacts_detailed, fetch_model_prefix,
};
pub use embedded::{
    DEFAULT_ACCOUNT, EmbeddedAuth, EmbeddedS3, EmbeddedService, InternalKey, OWNERS_DIR, serve_embedded,
    serve_embedded_s3,
};
pub use error::{ObjectError, human_bytes};
pub use roots::{Confined, FileRoots};
pub use store::{
    ENDPOINT_ENV, ObjectInfo, ObjectMeta, ObjectReader, Objects, ObjectsConfig, PART_SIZE, S3Target,
    external_endpoint_from_env,
};
pub use uri::ObjectUri;
