//! `Objects`, the one facade the rest of smemu uses to read, write and list `s3://` and `file://` URIs.
//!
//! `s3://` goes to exactly one S3 endpoint, chosen once from [`ObjectsConfig`]:
//! an external endpoint if one is configured, else the embedded server, else AWS itself.
//! Bodies are streamed in both directions; nothing holds a whole object in memory
//! (uploads are buffered one multipart part, [`PART_SIZE`], at a time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::embedded::owners::Owners;
use crate::embedded::{DEFAULT_ACCOUNT, EmbeddedService, InternalKey};
use crate::error::ObjectError;
use crate::roots::FileRoots;
use crate::uri::ObjectUri;

/// Size of one multipart-upload part, and the threshold above which uploads go multipart.
/// Twice the AWS CLI's 8 MiB: batch transform outputs of a few MiB to 16 MiB go in one PUT,
/// which spares the server a second pass over the data to join the parts (s3s-fs hashes each
/// part and then the whole object). S3's 10,000-part limit makes the largest upload 160 GiB.
pub const PART_SIZE: usize = 16 * 1024 * 1024;

/// The largest chunk [`Objects::get_stream`] yields: large enough that a read is one system
/// call per MiB, not per 4 KiB.
pub const STREAM_CHUNK: usize = 1024 * 1024;

/// The most entries (files and directories) a `file://` listing visits before it stops with an
/// error, unless [`Objects::with_listing_limit`] sets another (`--max-listed-files`): a transform
/// job's input prefix is listed while CreateTransformJob waits.
pub const MAX_LISTED_ENTRIES: usize = 100_000;

/// The deepest directory a `file://` listing descends into (below the listed one).
pub const MAX_LISTED_DEPTH: usize = 64;

/// Environment variable naming an external S3 endpoint, as the AWS CLI and SDKs read it.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_S3";

/// Where `s3://` URIs go.
#[derive(Debug, Clone, Default)]
pub struct ObjectsConfig {
    /// `http://127.0.0.1:<port>` of the embedded server (see [`crate::EmbeddedS3::endpoint`]).
    pub embedded_endpoint: Option<String>,
    /// Static keys for the embedded server instead of [`Self::embedded_key`]; every request
    /// then acts as those keys' account, whatever [`Objects::as_account`] says.
    pub embedded_credentials: Option<(String, String)>,
    /// The embedded server's [`InternalKey`] (see [`crate::EmbeddedAuth::internal_key`]), which
    /// lets this client act as any account, in strict mode too; `None` makes one up, which an
    /// embedded server with `--auth any` accepts.
    pub embedded_key: Option<InternalKey>,
    /// The account this client acts as until [`Objects::as_account`] says otherwise
    /// (`--default-account`; empty: `000000000000`).
    pub default_account: String,
    /// An external S3 (`--s3-endpoint`, or `AWS_ENDPOINT_URL_S3` via [`external_endpoint_from_env`]).
    /// Takes precedence over the embedded server.
    pub external_endpoint: Option<String>,
    /// Static keys for the external S3 instead of the usual AWS credential chain
    /// (environment, profiles, SSO, container and instance roles).
    pub external_credentials: Option<(String, String)>,
    /// Path-style addressing (`endpoint/bucket/key`) for the external endpoint; most
    /// S3-compatible servers (MinIO, LocalStack, another smemu) need it. The embedded
    /// server is always addressed path-style.
    pub force_path_style: bool,
    /// Signing region; S3-compatible servers mostly ignore it, AWS does not.
    pub region: String,
    /// The directory the embedded server keeps its objects in (`<data-dir>/s3`), when it runs
    /// in this process: reads of `s3://` objects then open its files directly (see
    /// [`Objects::get`]); writes, listings and everything else still go through S3.
    pub embedded_root: Option<PathBuf>,
    /// The embedded server's service, when it runs in this process: single-request PutObjects
    /// ([`Objects::put_bytes`]) then call it in-process rather than over HTTP (see
    /// `embedded/local.rs`). Used only with the [`InternalKey`] (not with static
    /// [`Self::embedded_credentials`]), acting as the account [`Objects::as_account`] names.
    pub embedded_service: Option<EmbeddedService>,
}

/// `AWS_ENDPOINT_URL_S3`, if set and non-empty.
pub fn external_endpoint_from_env() -> Option<String> {
    std::env::var(ENDPOINT_ENV).ok().filter(|v| !v.trim().is_empty())
}

/// One object found by [`Objects::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full URI of the object.
    pub uri: String,
    /// The object's key (or path) relative to the listed prefix, `/`-separated, without a
    /// leading `/`.
    pub key: String,
    pub size: u64,
    /// The S3 ETag without its quotes; `None` for `file://` objects.
    pub etag: Option<String>,
}

/// What [`Objects::head`] tells about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub uri: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// A streaming object body.
pub type ObjectReader = Pin<Box<dyn AsyncRead + Send>>;

/// Which S3 the client talks to, kept for log lines and `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Target {
    Embedded(String),
    External(String),
    Aws,
}

/// The object layer. Cheap to clone; clones share one HTTP connection pool per account.
#[derive(Debug, Clone)]
pub struct Objects {
    s3: aws_sdk_s3::Client,
    target: S3Target,
    /// [`ObjectsConfig::embedded_root`] and its bucket owners, kept only when the embedded
    /// server is the target.
    embedded_root: Option<(PathBuf, Owners)>,
    /// [`ObjectsConfig::embedded_service`], kept only when the embedded server is the target
    /// and requests sign with the internal key.
    embedded_service: Option<EmbeddedService>,
    /// How to sign as another account on the embedded server; `None` for other targets and
    /// for static [`ObjectsConfig::embedded_credentials`].
    accounts: Option<Arc<AccountClients>>,
    /// The account requests act as (see [`Objects::as_account`]).
    account: String,
    /// Where `file://` URIs may point (see [`crate::roots`]); `None` leaves them unconfined
    /// (library use and tests; smemu itself always sets them).
    file_roots: Option<Arc<FileRoots>>,
    /// The most entries a `file://` listing visits ([`MAX_LISTED_ENTRIES`] unless set).
    max_listed_files: usize,
}
/// One client per account for the embedded server, all signing with the [`InternalKey`].
#[derive(Debug)]
struct AccountClients {
    conf: aws_sdk_s3::Config,
    key: InternalKey,
    clients: Mutex<HashMap<String, aws_sdk_s3::Client>>,
}

impl AccountClients {
    fn client(&self, account: &str) -> aws_sdk_s3::Client {
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(account.to_owned())
            .or_insert_with(|| {
                let credentials = Credentials::new(
                    self.key.access_key_for(account),
                    self.key.secret().to_owned(),
                    None,
                    None,
                    "smemu-internal",
                );
                aws_sdk_s3::Client::from_conf(self.conf.to_builder().credentials_provider(credentials).build())
            })
            .clone()
    }
}

impl Objects {
    /// Builds the S3 client. Only the AWS-hosted/external cases consult the environment
    /// and profile files; the embedded case never does, so a host's AWS settings cannot
    /// redirect smemu's own storage.
    pub async fn new(cfg: ObjectsConfig) -> Result<Self, ObjectError> {
        let region = if cfg.region.is_empty() { "us-east-1".to_owned() } else { cfg.region.clone() };
        let account =
            if cfg.default_account.is_empty() { DEFAULT_ACCOUNT.to_owned() } else { cfg.default_account.clone() };
        if let Some(endpoint) = cfg.external_endpoint.clone().filter(|e| !e.is_empty()) {
            let s3 = external_client(&cfg, region, Some(&endpoint)).await;
            return Ok(Self {
                s3,
                target: S3Target::External(endpoint),
                embedded_root: None,
                embedded_service: None,
                accounts: None,
                account,
                file_roots: None,
                max_listed_files: MAX_LISTED_ENTRIES,
            });
        }
        if let Some(endpoint) = cfg.embedded_endpoint.clone().filter(|e| !e.is_empty()) {
            let conf = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .endpoint_url(&endpoint)
                .force_path_style(true)
                // Plain payloads only: without this the SDK sends streaming bodies
                // aws-chunked, which an embedded server that accepts any keys cannot decode.
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .build();
            let (s3, accounts) = match cfg.embedded_credentials.clone() {
                Some((access, secret)) => {
                    let credentials = Credentials::new(access, secret, None, None, "smemu-embedded");
                    (aws_sdk_s3::Client::from_conf(conf.to_builder().credentials_provider(credentials).build()), None)
                }
                None => {
                    let key = cfg.embedded_key.clone().unwrap_or_else(InternalKey::generate);
                    let accounts = AccountClients { conf, key, clients: Mutex::new(HashMap::new()) };
                    (accounts.client(&account), Some(Arc::new(accounts)))
                }
            };
            let embedded_root = cfg.embedded_root.clone().map(|root| {
                let owners = Owners::new(&root, &account);
                (root, owners)
            });
            let embedded_service = cfg.embedded_service.clone().filter(|_| accounts.is_some());
            return Ok(Self {
                s3,
                target: S3Target::Embedded(endpoint),
                embedded_root,
                embedded_service,
                accounts,
                account,
                file_roots: None,
                max_listed_files: MAX_LISTED_ENTRIES,
            });
        }
        let s3 = external_client(&cfg, region, None).await;
        Ok(Self {
            s3,
            target: S3Target::Aws,
            embedded_root: None,
            embedded_service: None,
            accounts: None,
            account,
            file_roots: None,
            max_listed_files: MAX_LISTED_ENTRIES,
        })
    }

    /// Confines every `file://` URI to `roots`, checked each time one is used.
    #[must_use]
    pub fn with_file_roots(mut self, roots: FileRoots) -> Self {
        self.file_roots = Some(Arc::new(roots));
        self
    }

    /// Stops `file://` listings after `max_entries` files and directories (`--max-listed-files`).
    #[must_use]
    pub fn with_listing_limit(mut self, max_entries: usize) -> Self {
        self.max_listed_files = max_entries;
        self
    }

    /// Refuses a `file://` URI outside the roots (see [`crate::roots`]); `s3://` URIs and
    /// malformed ones pass (the latter fail where they are used). What a request names is
    /// checked with this before anything is stored.
    pub fn check_file_uri(&self, uri: &str) -> Result<(), ObjectError> {
        match ObjectUri::parse(uri) {
            Ok(ObjectUri::File { path }) => self.confine(uri, &path),
            _ => Ok(()),
        }
    }

    fn confine(&self, uri: &str, path: &Path) -> Result<(), ObjectError> {
        match &self.file_roots {
            Some(roots) => roots.check(uri, path).map(drop).map_err(ObjectError::from),
            None => Ok(()),
        }
    }

    /// This object layer acting as `account`: on the embedded server its requests sign with
    /// that account's internal key, so they see that account's buckets and no other's. Cheap:
    /// one client per account is built once and shared. Other targets sign as configured.
    pub fn as_account(&self, account: &str) -> Objects {
        let mut acting = self.clone();
        if let Some(accounts) = &self.accounts {
            acting.s3 = accounts.client(account);
        }
        account.clone_into(&mut acting.account);
        acting
    }

    /// The account requests act as.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn target(&self) -> &S3Target {
        &self.target
    }

    /// The underlying SDK client, for operations this facade does not cover.
    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// Size and ETag of one object.
    pub async fn head(&self, uri: &str) -> Result<ObjectMeta, ObjectError> {
        match parse_object(uri)? {
            ObjectUri::S3 { bucket, key } => {
                let out = match self.s3.head_object().bucket(&bucket).key(&key).send().await {
                    Ok(out) => out,
                    Err(e) if is_not_found(&e) => return Err(self.not_found(uri, &bucket).await),
                    Err(e) => return Err(sdk_error(uri, e)),
                };
                Ok(ObjectMeta {
                    uri: uri.to_owned(),
                    size: out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: out.e_tag().map(unquote),
                })
            }
            ObjectUri::File { path } => {
                self.confine(uri, &path)?;
                let md = file_metadata(uri, &path).await?;
                Ok(ObjectMeta { uri: uri.to_owned(), size: md.len(), etag: None })
            }
        }
    }

    /// Streams one object's body.
    ///
    /// An object of the embedded server running in this process is read from its file: s3s-fs
    /// keeps `s3://bucket/key` at `<root>/bucket/key`, written to a temporary file and renamed,
    /// so an open file is always a whole object. Why: its GetObject reads in 4 KiB blocking
    /// steps, which costs batch transform more CPU than the transform itself. Anything that
    /// is not a plain file there (a missing key, a folder) takes the S3 path and its errors.
    pub async fn get(&self, uri: &str) -> Result<ObjectReader, ObjectError> {
        match parse_object(uri)? {
            ObjectUri::S3 { bucket, key } => {
                if let Some(file) = self.embedded_file(&bucket, &key).await {
                    return Ok(Box::pin(file));
                }
                let out = match self.s3.get_object().bucket(&bucket).key(&key).send().await {
                    Ok(out) => out,
                    Err(e) if is_not_found(&e) => return Err(self.not_found(uri, &bucket).await),
                    Err(e) => return Err(sdk_error(uri, e)),
                };
                Ok(Box::pin(out.body.into_async_read()))
            }
            ObjectUri::File { path } => {
                self.confine(uri, &path)?;
                file_metadata(uri, &path).await?;
                let file = tokio::fs::File::open(&path).await.map_err(|e| file_error(uri, e))?;
                Ok(Box::pin(file))
            }
        }
    }

    /// [`Objects::get`] as a stream of chunks (up to [`STREAM_CHUNK`] bytes); errors in the
    /// middle of the body name the URI.
    pub async fn get_stream(&self, uri: &str) -> Result<BoxStream<'static, Result<Bytes, ObjectError>>, ObjectError> {
        let reader = self.get(uri).await?;
        let owned = uri.to_owned();
        Ok(tokio_util::io::ReaderStream::with_capacity(reader, STREAM_CHUNK)
            .map_err(move |e| ObjectError::io(owned.clone(), e))
            .boxed())
    }

    /// The embedded server's file for `bucket`/`key`, open, when there is one and this client's
    /// account owns the bucket (see [`Objects::get`]); S3 answers every other case.
    async fn embedded_file(&self, bucket: &str, key: &str) -> Option<tokio::fs::File> {
        let (root, owners) = self.embedded_root.as_ref()?;
        // Only plain names: `..`, `.` or a leading `/` could point outside the bucket.
        let plain =
            |p: &str| !p.is_empty() && Path::new(p).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain(bucket) || !plain(key) || bucket.starts_with('.') {
            return None;
        }
        if owners.owner_of_name(bucket).await.ok()?.as_deref() != Some(self.account.as_str()) {
            return None;
        }
        let file = tokio::fs::File::open(root.join(bucket).join(key)).await.ok()?;
        file.metadata().await.ok()?.is_file().then_some(file)
    }

    /// Downloads one object to `dest` (parent directories are created). The file appears
    /// under its final name only once complete. Returns the number of bytes written.
    pub async fn get_to_file(&self, uri: &str, dest: &Path) -> Result<u64, ObjectError> {
        let mut reader = self.get(uri).await?;
        write_atomically(dest, |file| async move {
            let mut file = file;
            let n = tokio::io::copy(&mut reader, &mut file).await.map_err(|e| ObjectError::io(uri, e))?;
            file.flush().await.map_err(|e| ObjectError::io(uri, e))?;
            Ok((file, n))
        })
        .await
    }

    /// Uploads from any reader: one PUT up to [`PART_SIZE`], a multipart upload above.
    /// Returns the number of bytes stored.
    pub async fn put_stream<R>(&self, uri: &str, mut reader: R) -> Result<u64, ObjectError>
    where
        R: AsyncRead + Send + Unpin,
    {
        match parse_object(uri)? {
            ObjectUri::S3 { bucket, key } => self.put_s3(uri, &bucket, &key, &mut reader).await,
            ObjectUri::File { path } => {
                self.confine(uri, &path)?;
                write_atomically(&path, |file| async move {
                    let mut file = file;
                    let n = tokio::io::copy(&mut reader, &mut file).await.map_err(|e| ObjectError::io(uri, e))?;
                    file.flush().await.map_err(|e| ObjectError::io(uri, e))?;
                    Ok((file, n))
                })
                .await
            }
        }
    }

    /// Uploads the file at `path`.
    pub async fn put_from_file(&self, uri: &str, path: &Path) -> Result<u64, ObjectError> {
        let source = format!("file://{}", path.display());
        let file = tokio::fs::File::open(path).await.map_err(|e| file_error(&source, e))?;
        self.put_stream(uri, file).await
    }

    /// Uploads a small in-memory body.
    pub async fn put_bytes(&self, uri: &str, body: impl Into<Bytes>) -> Result<u64, ObjectError> {
        let body: Bytes = body.into();
        // A body that fits one PUT is sent as it is: through `put_stream` it was copied into a
        // fresh `PART_SIZE` (16 MiB) buffer first, each page of it faulted in, for every capture
        // file and every other small object.
        if body.len() < PART_SIZE
            && let ObjectUri::S3 { bucket, key } = parse_object(uri)?
        {
            return self.put_one(uri, &bucket, &key, body).await;
        }
        self.put_stream(uri, &body[..]).await
    }

    /// Every object under `prefix_uri`, following pagination to the end, sorted by key.
    ///
    /// The prefix is a plain string prefix, as S3 and SageMaker's `S3Prefix` define it:
    /// `s3://b/data` covers `data/x.csv` and `data2.csv`. For `file://`, a directory is
    /// listed recursively; any other path lists the entries of its parent whose names
    /// start with its last component. A prefix matching nothing is an empty list; a
    /// missing bucket is [`ObjectError::NoSuchBucket`].
    pub async fn list(&self, prefix_uri: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        match ObjectUri::parse(prefix_uri)? {
            ObjectUri::S3 { bucket, key: prefix } => self.list_s3(prefix_uri, &bucket, &prefix).await,
            ObjectUri::File { path } => {
                self.confine(prefix_uri, &path)?;
                let owned = prefix_uri.to_owned();
                let max_entries = self.max_listed_files;
                tokio::task::spawn_blocking(move || list_files(&owned, &path, max_entries))
                    .await
                    .map_err(|e| ObjectError::backend(prefix_uri, format!("listing task failed: {e}")))?
            }
        }
    }

    /// Deletes one object; deleting a missing object succeeds, as in S3.
    pub async fn delete(&self, uri: &str) -> Result<(), ObjectError> {
        match parse_object(uri)? {
            ObjectUri::S3 { bucket, key } => {
                self.s3.delete_object().bucket(&bucket).key(&key).send().await.map_err(|e| sdk_error(uri, e))?;
                Ok(())
            }
            ObjectUri::File { path } => {
                self.confine(uri, &path)?;
                match tokio::fs::remove_file(&path).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ObjectError::io(uri, e)),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Creates a bucket; an existing bucket of ours is not an error.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), ObjectError> {
        let uri = format!("s3://{bucket}/");
        match self.s3.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
            Err(e) => Err(sdk_error(&uri, e)),
        }
    }

    async fn put_s3<R>(&self, uri: &str, bucket: &str, key: &str, reader: &mut R) -> Result<u64, ObjectError>
    where
        R: AsyncRead + Send + Unpin,
    {
        let first = read_part(uri, reader).await?;
        if first.len() < PART_SIZE {
            return self.put_one(uri, bucket, key, first).await;
        }

        let created =
            self.s3.create_multipart_upload().bucket(bucket).key(key).send().await.map_err(|e| sdk_error(uri, e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| ObjectError::backend(uri, "CreateMultipartUpload returned no upload id"))?
            .to_owned();
        match self.upload_parts(uri, bucket, key, &upload_id, first, reader).await {
            Ok(n) => Ok(n),
            Err(err) => {
                // Best effort: an abandoned upload only wastes space on the server.
                if let Err(abort) =
                    self.s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await
                {
                    tracing::warn!(%uri, error = %DisplayErrorContext(&abort), "could not abort multipart upload");
                }
                Err(err)
            }
        }
    }

    /// One PutObject of a body smaller than [`PART_SIZE`].
    async fn put_one(&self, uri: &str, bucket: &str, key: &str, body: Bytes) -> Result<u64, ObjectError> {
        let n = body.len() as u64;
        if let Some(service) = &self.embedded_service {
            service.put_object(uri, &self.account, bucket, key, body).await?;
            return Ok(n);
        }
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .customize()
            // Why: signing hashes the whole body on both sides (SHA-256), which costs more
            // CPU than the upload on loopback; S3, MinIO and s3s accept UNSIGNED-PAYLOAD.
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| sdk_error(uri, e))?;
        Ok(n)
    }

    async fn upload_parts<R>(
        &self,
        uri: &str,
        bucket: &str,
        key: &str,
        upload_id: &str,
        first: Bytes,
        reader: &mut R,
    ) -> Result<u64, ObjectError>
    where
        R: AsyncRead + Send + Unpin,
    {
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut part = first;
        let mut number = 1i32;
        loop {
            total += part.len() as u64;
            let out = self
                .s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| sdk_error(uri, e))?;
            parts.push(CompletedPart::builder().set_e_tag(out.e_tag().map(str::to_owned)).part_number(number).build());
            part = read_part(uri, reader).await?;
            if part.is_empty() {
                break;
            }
            number += 1;
        }
        self.s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_error(uri, e))?;
        Ok(total)
    }

    async fn list_s3(&self, prefix_uri: &str, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut pages = self.s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(prefix_uri, e))?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                found.push(ObjectInfo {
                    uri: format!("s3://{bucket}/{key}"),
                    key: relative_key(key, prefix),
                    size: obj.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: obj.e_tag().map(unquote),
                });
            }
        }
        found.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(found)
    }

    /// A 404 from GetObject/HeadObject does not say whether the bucket or the key is
    /// missing (HEAD has no body, and s3s-fs answers NoSuchKey for both), so ask.
    async fn not_found(&self, uri: &str, bucket: &str) -> ObjectError {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Err(e) if is_not_found(&e) => ObjectError::NoSuchBucket { uri: uri.to_owned() },
            _ => ObjectError::NoSuchKey { uri: uri.to_owned() },
        }
    }
}

async fn external_client(cfg: &ObjectsConfig, region: String, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
    if let Some((access, secret)) = cfg.external_credentials.clone() {
        loader = loader.credentials_provider(Credentials::new(access, secret, None, None, "smemu-static"));
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(cfg.force_path_style);
    if let Some(endpoint) = endpoint {
        // S3-compatible servers vary in support for aws-chunked uploads with trailing
        // checksums (the SDK's default for streaming bodies); plain payloads work everywhere.
        conf = conf.endpoint_url(endpoint).request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

/// Parses a URI that must name one object (not a bucket or directory prefix).
fn parse_object(uri: &str) -> Result<ObjectUri, ObjectError> {
    let parsed = ObjectUri::parse(uri)?;
    if let ObjectUri::S3 { key, .. } = &parsed
        && key.is_empty()
    {
        return Err(ObjectError::invalid(uri, "names a bucket, not an object"));
    }
    Ok(parsed)
}

/// Reads up to [`PART_SIZE`] bytes; shorter only at end of input.
async fn read_part<R: AsyncRead + Unpin>(uri: &str, reader: &mut R) -> Result<Bytes, ObjectError> {
    let mut buf = BytesMut::with_capacity(PART_SIZE);
    while buf.len() < PART_SIZE {
        let mut limited = (&mut *reader).take((PART_SIZE - buf.len()) as u64);
        let n = limited.read_buf(&mut buf).await.map_err(|e| ObjectError::io(uri, e))?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

fn relative_key(key: &str, prefix: &str) -> String {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    rest.trim_start_matches('/').to_owned()
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool
where
    R: HasStatus,
{
    matches!(err.code(), Some("NoSuchKey" | "NoSuchBucket" | "NotFound"))
        || err.raw_response().is_some_and(|r| r.status_code() == 404)
}

/// Lets [`is_not_found`] look at the HTTP status of any SDK response type.
trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn sdk_error<E, R>(uri: &str, err: SdkError<E, R>) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match err.code() {
        Some("NoSuchBucket") => ObjectError::NoSuchBucket { uri: uri.to_owned() },
        Some("NoSuchKey") => ObjectError::NoSuchKey { uri: uri.to_owned() },
        Some("AccessDenied") => ObjectError::AccessDenied { uri: uri.to_owned() },
        // HeadObject and HeadBucket answers have no body to carry a code.
        None | Some("Forbidden") if err.raw_response().is_some_and(|r| r.status_code() == 403) => {
            ObjectError::AccessDenied { uri: uri.to_owned() }
        }
        // A service error: its code and message say it all; the SDK's full context
        // would add the raw response's Debug dump.
        Some(code) => {
            let status = err.raw_response().map(|r| format!("HTTP {}, ", r.status_code())).unwrap_or_default();
            let message = err.message().map(|m| format!(": {m}")).unwrap_or_default();
            ObjectError::backend(uri, format!("{status}{code}{message}"))
        }
        None => ObjectError::backend(uri, DisplayErrorContext(&err).to_string()),
    }
}

fn file_error(uri: &str, err: std::io::Error) -> ObjectError {
    if err.kind() == std::io::ErrorKind::NotFound {
        ObjectError::NoSuchKey { uri: uri.to_owned() }
    } else {
        ObjectError::io(uri, err)
    }
}

/// A `file://` object must be a regular file; a directory is "no such object".
async fn file_metadata(uri: &str, path: &Path) -> Result<std::fs::Metadata, ObjectError> {
    let md = tokio::fs::metadata(path).await.map_err(|e| file_error(uri, e))?;
    if md.is_dir() {
        return Err(ObjectError::NoSuchKey { uri: uri.to_owned() });
    }
    Ok(md)
}

/// Writes `dest` via a temporary sibling and a rename, so readers never see a partial
/// file and a write that fails or is cancelled leaves nothing behind.
async fn write_atomically<F, Fut>(dest: &Path, write: F) -> Result<u64, ObjectError>
where
    F: FnOnce(tokio::fs::File) -> Fut,
    Fut: std::future::Future<Output = Result<(tokio::fs::File, u64), ObjectError>>,
{
    let dest_uri = format!("file://{}", dest.display());
    let name = dest
        .file_name()
        .ok_or_else(|| ObjectError::invalid(&dest_uri, "destination has no file name"))?
        .to_string_lossy()
        .into_owned();
    let parent = dest.parent().unwrap_or(Path::new("/"));
    tokio::fs::create_dir_all(parent).await.map_err(|e| ObjectError::io(&dest_uri, e))?;
    let tmp = TempFile(parent.join(format!(".{name}.part-{}", uuid::Uuid::new_v4().simple())));
    let file = tokio::fs::File::create(&tmp.0).await.map_err(|e| ObjectError::io(&dest_uri, e))?;
    let (file, n) = write(file).await?;
    drop(file);
    tokio::fs::rename(&tmp.0, dest).await.map_err(|e| ObjectError::io(&dest_uri, e))?;
    Ok(n)
}

/// The temporary file of [`write_atomically`], removed when it goes out of scope: after a failed
/// write, and after one that was cancelled (a stopped transform job drops its writes midway),
/// which would otherwise stay beside the outputs where a later listing of the prefix takes it for
/// an object. After the rename there is nothing left to remove.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Synchronous: a drop cannot wait, and unlinking one file does not block for long.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn list_files(prefix_uri: &str, prefix: &Path, max_entries: usize) -> Result<Vec<ObjectInfo>, ObjectError> {
    let mut listing = Listing { uri: prefix_uri, found: Vec::new(), visited: 0, max_entries };
    match std::fs::metadata(prefix) {
        Ok(md) if md.is_dir() => listing.walk(prefix, "")?,
        Ok(md) => listing.found.push(file_info(prefix, "", md.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Not a path itself: a name prefix within the parent directory.
            let (Some(parent), Some(stem)) = (prefix.parent(), prefix.file_name()) else {
                return Ok(listing.found);
            };
            let stem = stem.to_string_lossy().into_owned();
            let entries = match std::fs::read_dir(parent) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing.found),
                Err(e) => return Err(ObjectError::io(prefix_uri, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| ObjectError::io(prefix_uri, e))?;
                listing.visit()?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(&stem) else { continue };
                let ft = entry.file_type().map_err(|e| ObjectError::io(prefix_uri, e))?;
                if ft.is_dir() {
                    listing.walk(&entry.path(), rest)?;
                } else if ft.is_file() {
                    let len = entry.metadata().map_err(|e| ObjectError::io(prefix_uri, e))?.len();
                    listing.found.push(file_info(&entry.path(), rest, len));
                }
            }
        }
        Err(e) => return Err(ObjectError::io(prefix_uri, e)),
    }
    let mut found = listing.found;
    for info in &mut found {
        info.key = info.key.trim_start_matches('/').to_owned();
    }
    found.sort_by(|a, b| a.uri.cmp(&b.uri));
    Ok(found)
}

fn file_info(path: &Path, key: &str, size: u64) -> ObjectInfo {
    ObjectInfo { uri: format!("file://{}", path.display()), key: key.to_owned(), size, etag: None }
}

/// One `file://` listing, bounded by `max_entries` and [`MAX_LISTED_DEPTH`].
struct Listing<'a> {
    uri: &'a str,
    found: Vec<ObjectInfo>,
    visited: usize,
    max_entries: usize,
}

impl Listing<'_> {
    fn visit(&mut self) -> Result<(), ObjectError> {
        self.visited += 1;
        if self.visited > self.max_entries {
            return Err(ObjectError::ListingTooLarge {
                uri: self.uri.to_owned(),
                reason: format!(
                    "it holds more than {} files and directories, the most smemu lists (smemu --max-listed-files)",
                    self.max_entries
                ),
            });
        }
        Ok(())
    }

    /// Collects regular files under `dir`, keys prefixed by `key_prefix`, with a stack rather
    /// than recursion. Symlinks are followed only to files, never into directories, so a link
    /// cycle cannot make a listing endless; the depth and entry limits bound the rest.
    fn walk(&mut self, dir: &Path, key_prefix: &str) -> Result<(), ObjectError> {
        let mut pending = vec![(dir.to_path_buf(), key_prefix.to_owned(), 0usize)];
        while let Some((dir, key_prefix, depth)) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| ObjectError::io(self.uri, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| ObjectError::io(self.uri, e))?;
                self.visit()?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = format!("{key_prefix}/{name}");
                let ft = entry.file_type().map_err(|e| ObjectError::io(self.uri, e))?;
                if ft.is_dir() {
                    if depth >= MAX_LISTED_DEPTH {
                        return Err(ObjectError::ListingTooLarge {
                            uri: self.uri.to_owned(),
                            reason: format!("it has directories more than {MAX_LISTED_DEPTH} levels deep"),
                        });
                    }
                    pending.push((entry.path(), key, depth + 1));
                } else if let Ok(md) = std::fs::metadata(entry.path())
                    && md.is_file()
                {
                    self.found.push(file_info(&entry.path(), &key, md.len()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_or_failed_write_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dest = tmp.path().join("out").join("part-0.csv.out");
        let left = || -> Vec<String> {
            std::fs::read_dir(tmp.path().join("out"))
                .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default()
        };
        // Cancelled: the write never ends, and its future is dropped once the file exists.
        let (started, begun) = tokio::sync::oneshot::channel();
        let write = write_atomically(&dest, |file| async move {
            let _ = started.send(());
            std::future::pending::<()>().await;
            Ok((file, 0))
        });
        tokio::select! {
            _ = write => panic!("the write cannot end"),
            _ = begun => {}
        }
        assert!(left().is_empty(), "a cancelled write left {:?}", left());
        // Failed.
        let failed = write_atomically(&dest, |_file| async { Err(ObjectError::invalid("file:///x", "boom")) }).await;
        assert!(failed.is_err());
        assert!(left().is_empty(), "a failed write left {:?}", left());
        // Done: only the object.
        let done = write_atomically(&dest, |mut file| async move {
            file.write_all(b"1,a\n").await.map_err(|e| ObjectError::io("file:///x", e))?;
            Ok((file, 4))
        })
        .await;
        assert_eq!(done.ok(), Some(4));
        assert_eq!(left(), ["part-0.csv.out"]);
    }

    #[test]
    fn relative_keys_drop_the_prefix_and_a_leading_slash() {
        assert_eq!(relative_key("data/x.csv", "data"), "x.csv");
        assert_eq!(relative_key("data/x.csv", "data/"), "x.csv");
        assert_eq!(relative_key("data2.csv", "data"), "2.csv");
        assert_eq!(relative_key("a/b", ""), "a/b");
    }

    #[test]
    fn file_listings_stop_at_the_depth_and_entry_limits_and_skip_link_cycles() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = tmp.path();
        // A link cycle is not followed: the listing ends, with the one real file.
        std::fs::create_dir_all(base.join("loop/sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(base.join("loop/sub/f.txt"), "f").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(base.join("loop"), base.join("loop/sub/back")).unwrap_or_else(|e| panic!("{e}"));
        let listed =
            list_files("file:///loop", &base.join("loop"), MAX_LISTED_ENTRIES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["sub/f.txt"]);

        let mut deep = base.join("deep");
        for _ in 0..=MAX_LISTED_DEPTH {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap_or_else(|e| panic!("{e}"));
        let err = list_files("file:///deep", &base.join("deep"), MAX_LISTED_ENTRIES);
        assert!(
            matches!(&err, Err(ObjectError::ListingTooLarge { reason, .. }) if reason.contains("levels deep")),
            "{err:?}"
        );

        let wide = base.join("wide");
        std::fs::create_dir(&wide).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..=MAX_LISTED_ENTRIES {
            std::fs::File::create(wide.join(i.to_string())).unwrap_or_else(|e| panic!("{e}"));
        }
        let err = list_files("file:///wide", &wide, MAX_LISTED_ENTRIES);
        assert!(
            matches!(&err, Err(ObjectError::ListingTooLarge { reason, .. }) if reason.contains("100000")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn read_part_fills_whole_parts_from_short_reads() {
        // A reader that yields a few KiB per read must still produce full parts.
        let data = vec![7u8; PART_SIZE + 10];
        let reader = tokio_util::io::StreamReader::new(futures::stream::iter(
            data.chunks(4097).map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
        ));
        let mut reader = std::pin::pin!(reader);
        let first = read_part("s3://b/k", &mut reader).await;
        assert_eq!(first.as_ref().map(Bytes::len).ok(), Some(PART_SIZE));
        let second = read_part("s3://b/k", &mut reader).await;
        assert_eq!(second.as_ref().map(Bytes::len).ok(), Some(10));
        let third = read_part("s3://b/k", &mut reader).await;
        assert_eq!(third.as_ref().map(Bytes::len).ok(), Some(0));
    }
}
