//! The embedded S3 server: s3s's protocol layer over s3s-fs's directory store, served by hyper-util.
//!
//! Authentication ([`EmbeddedAuth`]). With `--auth strict` s3s verifies every SigV4 signature
//! (header-signed and presigned) against the `--access-keys` file and smemu's own
//! [`InternalKey`]; an unknown key is `InvalidAccessKeyId`, a wrong signature
//! `SignatureDoesNotMatch`, a date more than 15 minutes off `RequestTimeTooSkewed`, an
//! unsigned request `AccessDenied`. With `--auth any` a local tool takes whatever keys a
//! user's CLI or SDK happens to have, and a signature made with an unknown secret cannot be
//! verified, so this module reads the access key id (for the account) and strips the
//! signature (the `Authorization` header and presigned-URL query parameters) before s3s sees
//! the request.
//!
//! One kind of request cannot be made anonymous: `aws-chunked` uploads
//! (`x-amz-content-sha256: STREAMING-…`, sent e.g. by the Java SDK over plain HTTP).
//! s3s only decodes the chunk framing while verifying the signature, so stripping the
//! signature would store the framing as object data. With `--auth any` those requests are
//! passed on unchanged and refused (`NotImplemented`); clients must send plain payloads (the
//! AWS CLI, boto3 and this crate's own client do over `http://`) or the server must be started
//! with `--auth strict`.
//!
//! Access ([`guard`]): keys that would leave their bucket are refused with `InvalidArgument`
//! ([`keys`]); a bucket belongs to the account that created it ([`owners`]) and another
//! account gets `AccessDenied`; ListBuckets lists the caller's buckets only.
//!
//! Addressing is path-style only (`http://127.0.0.1:port/bucket/key`): no `S3Host` is
//! configured, so s3s parses every request path-style.

mod errors;
mod guard;
pub(crate) mod identity;
mod keys;
mod local;
pub(crate) mod owners;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::ObjectError;
use guard::{ClaimedAccount, Guard, Owned};
use identity::Authenticator;
pub use identity::{DEFAULT_ACCOUNT, EmbeddedAuth, InternalKey};
pub use owners::OWNERS_DIR;
use owners::Owners;

/// How long in-flight requests may take to finish once shutdown starts.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(10);

/// Query parameters that carry a presigned URL's signature (SigV4, then SigV2).
const SIGNATURE_QUERY_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// Serves S3 on `listener` until `shutdown` resolves, storing buckets as directories
/// under `root` (created if missing), authenticating requests as `auth` says (see the module
/// docs).
///
/// On shutdown the listener is closed and in-flight requests get up to 10 s to finish.
pub async fn serve_embedded_s3(
    listener: TcpListener,
    root: PathBuf,
    auth: EmbeddedAuth,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ObjectError> {
    serve_embedded(listener, EmbeddedService::new(root, auth)?, shutdown).await
}

/// [`serve_embedded_s3`] of a service built beforehand, so that this process can call the same
/// service in-process too ([`EmbeddedService`]).
pub async fn serve_embedded(
    listener: TcpListener,
    embedded: EmbeddedService,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ObjectError> {
    let endpoint = listener.local_addr().map(|a| format!("http://{a}")).unwrap_or_else(|_| "embedded S3".to_owned());
    let EmbeddedService { service, auth, root } = embedded;
    let anonymize = auth.strict_keys.is_none();

    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(%endpoint, root = %root.display(), any_credentials = anonymize, "embedded S3 listening");

    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(err) => {
                    // Accept errors (EMFILE, a reset before accept) concern one connection,
                    // not the server; back off briefly so a full fd table does not spin.
                    tracing::warn!(%endpoint, error = %err, "embedded S3: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let service = service.clone();
        let auth = auth.clone();
        let handler = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            if anonymize {
                let account = auth.claimed_account(&req);
                req.extensions_mut().insert(ClaimedAccount(account));
                make_anonymous(&mut req);
            }
            let answer = hyper::service::Service::call(&service, req);
            async move { answer.await.map(errors::with_real_message) }
        });
        let conn = http.serve_connection(TokioIo::new(socket), handler);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "embedded S3 connection ended with an error");
            }
        });
    }

    drop(listener);
    if tokio::time::timeout(GRACEFUL_SHUTDOWN, graceful.shutdown()).await.is_err() {
        tracing::warn!(%endpoint, "embedded S3: connections still open after graceful shutdown timeout");
    }
    tracing::info!(%endpoint, "embedded S3 stopped");
    Ok(())
}

/// The embedded server's S3 service: s3s-fs over `root` behind the access checks of [`guard`].
///
/// Built once per process and shared by the listener ([`serve_embedded`]) and by smemu's own
/// writes ([`EmbeddedService::put_object`]), which call it in-process: one s3s-fs instance per
/// root, since two would number their temporary files alike and overwrite each other's uploads.
#[derive(Clone)]
pub struct EmbeddedService {
    service: S3Service,
    auth: Arc<EmbeddedAuth>,
    root: PathBuf,
}

impl std::fmt::Debug for EmbeddedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedService").field("root", &self.root).finish_non_exhaustive()
    }
}

impl EmbeddedService {
    /// Builds the service storing buckets as directories under `root` (created if missing).
    pub fn new(root: PathBuf, auth: EmbeddedAuth) -> Result<Self, ObjectError> {
        let auth = Arc::new(auth);
        let service = build_service(&root, &auth)?;
        Ok(EmbeddedService { service, auth, root })
    }
}

fn build_service(root: &std::path::Path, auth: &Arc<EmbeddedAuth>) -> Result<S3Service, ObjectError> {
    let root_uri = format!("file://{}", root.display());
    std::fs::create_dir_all(root).map_err(|e| ObjectError::io(&root_uri, e))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| ObjectError::backend(&root_uri, format!("{e:?}")))?;
    let owners = Owners::new(root, &auth.default_account);
    let mut builder =
        S3ServiceBuilder::new(Owned { fs, owners: owners.clone(), creating: tokio::sync::Mutex::new(()) });
    // An auth provider in both modes: s3s runs the access hook only when one is set. In any
    // mode it only ever sees the aws-chunked uploads `make_anonymous` leaves signed.
    builder.set_auth(Authenticator(auth.clone()));
    builder.set_access(Guard { auth: auth.clone(), owners });
    Ok(builder.build())
}

/// Removes a request's signature so s3s serves it anonymously (see the module docs for why,
/// and for why `aws-chunked` uploads are left alone).
fn make_anonymous<B>(req: &mut http::Request<B>) {
    let streaming = req
        .headers()
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if streaming {
        tracing::warn!(
            uri = %req.uri(),
            "embedded S3 with --auth any cannot decode aws-chunked uploads; \
             send plain payloads or start smemu with --auth strict"
        );
        return;
    }
    req.headers_mut().remove(http::header::AUTHORIZATION);

    let Some(query) = req.uri().query() else { return };
    let is_signature = |pair: &str| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        SIGNATURE_QUERY_PARAMS.contains(&name)
    };
    if !query.split('&').any(is_signature) {
        return;
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_signature(p)).collect();
    let path_and_query =
        if kept.is_empty() { req.uri().path().to_owned() } else { format!("{}?{}", req.uri().path(), kept.join("&")) };
    let mut parts = req.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return,
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

/// A running embedded server, for callers that want a handle instead of driving
/// [`serve_embedded_s3`] themselves.
#[derive(Debug)]
pub struct EmbeddedS3 {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ObjectError>>,
    service: EmbeddedService,
}

impl EmbeddedS3 {
    /// Binds `bind` (port 0 picks a free port) and serves in a background task.
    pub async fn start(bind: SocketAddr, root: PathBuf, auth: EmbeddedAuth) -> Result<Self, ObjectError> {
        let listener = TcpListener::bind(bind).await.map_err(|e| ObjectError::io(format!("http://{bind}"), e))?;
        let addr = listener.local_addr().map_err(|e| ObjectError::io(format!("http://{bind}"), e))?;
        // Built here, so a bad root fails `start` instead of the task.
        let service = EmbeddedService::new(root, auth)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_embedded(listener, service.clone(), async move {
            // A dropped sender also means stop.
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop: Some(stop), task, service })
    }

    /// The service this server serves, to call in-process (see [`EmbeddedService`]).
    pub fn service(&self) -> EmbeddedService {
        self.service.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the value for `ObjectsConfig::embedded_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and returns the server's result.
    pub async fn shutdown(mut self) -> Result<(), ObjectError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(ObjectError::backend(self.endpoint(), format!("embedded S3 task failed: {join}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, content_sha: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().uri(uri).header("authorization", "AWS4-HMAC-SHA256 Credential=x");
        if let Some(v) = content_sha {
            b = b.header("x-amz-content-sha256", v);
        }
        b.body(()).unwrap_or_default()
    }

    #[test]
    fn strips_header_signature() {
        let mut r = req("/b/k", Some("UNSIGNED-PAYLOAD"));
        make_anonymous(&mut r);
        assert!(r.headers().get("authorization").is_none());
        assert_eq!(r.uri().path(), "/b/k");
    }

    #[test]
    fn strips_presigned_query_but_keeps_other_params() {
        let mut r = req("/b/k?partNumber=2&X-Amz-Signature=abc&uploadId=u%2F1&X-Amz-Credential=a%2Fb", None);
        make_anonymous(&mut r);
        assert_eq!(r.uri().query(), Some("partNumber=2&uploadId=u%2F1"));
        let mut r = req("/b/k?X-Amz-Signature=abc", None);
        make_anonymous(&mut r);
        assert_eq!(r.uri().to_string(), "/b/k");
    }

    #[test]
    fn leaves_aws_chunked_uploads_signed() {
        let mut r = req("/b/k", Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
        make_anonymous(&mut r);
        assert!(r.headers().get("authorization").is_some());
    }
}
