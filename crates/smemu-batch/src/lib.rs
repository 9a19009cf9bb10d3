//! smemu-batch: the pure data logic of SageMaker batch transform — splitting input objects into
//! records and requests, `DataProcessing` filters and joins, and reassembling outputs; no
//! S3, HTTP or Docker here.
//!
//! The usual flow for one input object (see [`TransformPlan`]):
//!
//! ```
//! use bytes::Bytes;
//! use smemu_batch::{AssemblyType, BatchStrategy, DataProcessing, JoinSource, SplitType, TransformPlan, TransformSettings};
//!
//! let plan = TransformPlan::new(TransformSettings {
//!     split: SplitType::Line,
//!     batch_strategy: BatchStrategy::MultiRecord,
//!     content_type: Some("text/csv".into()),
//!     assemble_with: AssemblyType::Line,
//!     data_processing: Some(DataProcessing {
//!         input_filter: "$[1:]".into(),
//!         join_source: JoinSource::Input,
//!         output_filter: "$[0,-1]".into(),
//!     }),
//!     ..TransformSettings::default()
//! })?;
//! let object = Bytes::from_static(b"id1,1,2\nid2,3,4\n");
//! let prepared = plan.prepare(object)?;
//! assert_eq!(prepared.requests()[0].body, Bytes::from_static(b"1,2\n3,4\n"));
//! // ... POST each request body to the model, collect the responses in request order ...
//! let output = prepared.assemble(vec![Bytes::from_static(b"0.1\n0.9\n")])?;
//! assert_eq!(output, Bytes::from_static(b"id1,0.1\nid2,0.9\n"));
//! # Ok::<(), smemu_batch::BatchError>(())
//! ```
//!
//! Modules: [`settings`] (parameters), [`compression`] (gunzip), [`split`] and
//! [`framing`] (records), [`batching`] (requests), [`jsonpath`], [`csv_record`], [`node`]
//! and [`join`] (`DataProcessing`), [`assemble`] (output), [`manifest`] and [`naming`]
//! (input and output URIs), [`distribute`] (objects over instances), [`plan`] (all of it),
//! [`capture`] (a job's `DataCaptureConfig`: manifests and inference ids).

pub mod assemble;
pub mod batching;
pub mod capture;
pub mod compression;
pub mod csv_record;
pub mod distribute;
pub mod error;
pub mod framing;
pub mod join;
pub mod jsonpath;
pub mod manifest;
pub mod naming;
pub mod node;
pub mod plan;
pub mod settings;
pub mod split;

pub use assemble::{Reassembler, assemble_bodies};
pub use batching::{BYTES_PER_MB, max_payload_bytes, pack};
pub use compression::{gunzip, gunzip_reader};
pub use distribute::distribute_objects;
pub use error::BatchError;
pub use framing::{Frame, Probe, RECORDIO_MAGIC, encode_recordio, encode_tfrecord, masked_crc32c};
pub use jsonpath::JsonPath;
pub use manifest::{Manifest, parse_manifest};
pub use naming::{output_uri, relative_key};
pub use node::Node;
pub use plan::{PreparedObject, Request, TransformPlan};
pub use settings::{
    AssemblyType, BatchStrategy, CompressionType, DataFormat, DataProcessing, JoinSource, SplitType, TransformSettings,
};
pub use split::{Record, probe_record, split_records};
