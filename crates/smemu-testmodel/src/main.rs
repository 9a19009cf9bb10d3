//! `smemu-testmodel`: a model server that behaves as a SageMaker container, for smemu's tests.
//!
//! Started as `smemu-testmodel serve` (SageMaker's hosting command; no argument means the same),
//! it listens on `0.0.0.0:$SAGEMAKER_BIND_TO_PORT` (8080 when unset) and answers `GET /ping`,
//! `POST /invocations` and `GET /execution-parameters`. `SMEMU_TEST_ROLE` picks the behaviour:
//! - `echo` (default): the body back, with the request's content type;
//! - `transform`: every line `L` becomes `L|<SMEMU_TEST_TAG>` (default: `$HOSTNAME`, else the
//!   kernel hostname), so a pipeline's output shows which containers ran and in which order;
//! - `predict`: one number per CSV line, the sum of its numeric columns, as `text/csv`;
//! - `echo-env`: a JSON object of the `SAGEMAKER_*`/`SMEMU_*` variables (and those named in
//!   `SMEMU_TEST_ECHO_VARS`), the hostname, the request headers and the files under
//!   `/opt/ml/model` with the contents of small ones;
//! - `forward`: sends the request on to `http://127.0.0.1:$SMEMU_TEST_FORWARD_PORT/invocations`
//!   and answers what came back (shows that co-located containers reach each other on localhost);
//! - `fail`: `/invocations` answers `SMEMU_TEST_FAIL_STATUS` (500) with `SMEMU_TEST_FAIL_MESSAGE`;
//! - `slow`: waits `SMEMU_TEST_DELAY_MS` (2000) before echoing;
//! - `crash`: prints `crashing on purpose` to stderr and exits with code 3 at start;
//! - `ping-fail`: `/ping` answers 500 forever;
//! - `stream`: a chunked answer, as a streaming model gives (`SMEMU_TEST_CHUNKS` chunks of the
//!   body, or numbered tokens for an empty one, `SMEMU_TEST_CHUNK_DELAY_MS` apart, the connection
//!   cut after `SMEMU_TEST_DROP_AFTER` of them; see `stream.rs`).
//!
//! Also: `SMEMU_TEST_STARTUP_DELAY_MS` delays binding; `SMEMU_TEST_OUTPUT_CONTENT_TYPE` sets the
//! answer's content type (echo, transform, slow); `SMEMU_TEST_EXECUTION_PARAMETERS` is the
//! `/execution-parameters` body (404 without it); `X-Amzn-SageMaker-Custom-Attributes` is sent
//! back when received. One line per request goes to stdout.

mod forward;
mod invocations;
mod settings;
mod stream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use settings::{Role, Settings, env, env_u64};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // SageMaker runs hosting containers as `<entrypoint> serve`; anything else is a training or
    // processing command this image does not implement.
    if let Some(command) = std::env::args().nth(1).filter(|c| c != "serve") {
        eprintln!("smemu-testmodel only serves; unknown command {command:?}");
        std::process::exit(2);
    }
    let settings = Arc::new(Settings::from_env());
    if settings.role == Role::Crash {
        eprintln!("crashing on purpose");
        std::process::exit(3);
    }
    tokio::time::sleep(Duration::from_millis(env_u64("SMEMU_TEST_STARTUP_DELAY_MS", 0))).await;
    let port: u16 = env("SAGEMAKER_BIND_TO_PORT").and_then(|p| p.parse().ok()).unwrap_or(8080);
    let listener = match tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on port {port}: {err}");
            std::process::exit(1);
        }
    };
    println!("smemu-testmodel role={} tag={} listening on {port}", settings.role.name(), settings.tag);
    // As PID 1 without a handler, SIGTERM would be ignored and every stop would wait for SIGKILL.
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(err) => {
            eprintln!("no SIGTERM handler: {err}");
            std::process::exit(1);
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let settings = settings.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(settings.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            _ = terminate.recv() => {
                println!("SIGTERM: stopping");
                return;
            }
        }
    }
}

async fn handle(settings: Arc<Settings>, req: Request<Incoming>) -> Result<stream::Streamed, Infallible> {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = if method == Method::POST && path == "/invocations" && settings.role == Role::Stream {
        stream::answer(req).await
    } else {
        whole(&settings, &method, &path, req).await.map(stream::boxed)
    };
    println!("{method} {path} -> {} in {} ms", response.status().as_u16(), started.elapsed().as_millis());
    Ok(response)
}

/// Every answer but a stream: a whole body.
async fn whole(settings: &Settings, method: &Method, path: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (method, path) {
        (&Method::GET, "/ping") if settings.role == Role::PingFail => {
            reply(StatusCode::INTERNAL_SERVER_ERROR, "unhealthy", None)
        }
        (&Method::GET, "/ping") => reply(StatusCode::OK, "", None),
        (&Method::GET, "/execution-parameters") => match env("SMEMU_TEST_EXECUTION_PARAMETERS") {
            Some(body) => reply(StatusCode::OK, body, Some("application/json")),
            None => reply(StatusCode::NOT_FOUND, "", None),
        },
        (&Method::POST, "/invocations") => invocations::answer(settings, req).await,
        _ => reply(StatusCode::NOT_FOUND, "not found", None),
    }
}

pub(crate) fn reply(status: StatusCode, body: impl Into<Bytes>, content_type: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Some(value) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
