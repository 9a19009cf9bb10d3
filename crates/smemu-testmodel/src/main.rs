//! `smemu-testmodel`: a model server that behaves as a SageMaker container, for smemu's tests.
//!
//! Started as `smemu-testmodel serve`, it listens on `SAGEMAKER_BIND_TO_PORT` (8080 when unset) and
//! answers `GET /ping`, `POST /invocations` and `GET /execution-parameters`. `SMEMU_TEST_ROLE`
//! picks the behaviour:
//! - `echo` (default): the body back, with the request's content type;
//! - `transform`: every line `L` becomes `L|<SMEMU_TEST_TAG>` (default: the hostname), so a
//!   pipeline's output shows which containers ran and in which order;
//! - `predict`: one number per CSV line, the sum of its numeric columns;
//! - `echo-env`: a JSON object of the `SAGEMAKER_*`/`SMEMU_*` variables, the hostname, the request
//!   headers and the files under `/opt/ml/model` with their contents;
//! - `fail`: `/invocations` answers `SMEMU_TEST_FAIL_STATUS` (500) with `SMEMU_TEST_FAIL_MESSAGE`;
//! - `slow`: waits `SMEMU_TEST_DELAY_MS` (2000) before echoing;
//! - `crash`: prints `crashing on purpose` and exits with code 3 at start;
//! - `ping-fail`: `/ping` answers 500.
//!
//! Also: `SMEMU_TEST_STARTUP_DELAY_MS` delays binding; `SMEMU_TEST_OUTPUT_CONTENT_TYPE` sets the
//! answer's content type; `SMEMU_TEST_EXECUTION_PARAMETERS` is the `/execution-parameters` body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

struct Settings {
    role: String,
    tag: String,
    hostname: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_u64(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let settings = Arc::new(Settings {
        role: env("SMEMU_TEST_ROLE").unwrap_or_else(|| "echo".into()),
        tag: env("SMEMU_TEST_TAG").unwrap_or_else(|| hostname.clone()),
        hostname,
    });
    if settings.role == "crash" {
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
    println!("smemu-testmodel role={} listening on {port}", settings.role);
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

async fn handle(settings: Arc<Settings>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    println!("{} {}", req.method(), req.uri().path());
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/ping") if settings.role == "ping-fail" => {
            reply(StatusCode::INTERNAL_SERVER_ERROR, "unhealthy", None)
        }
        (&Method::GET, "/ping") => reply(StatusCode::OK, "", None),
        (&Method::GET, "/execution-parameters") => match env("SMEMU_TEST_EXECUTION_PARAMETERS") {
            Some(body) => reply(StatusCode::OK, body, Some("application/json")),
            None => reply(StatusCode::NOT_FOUND, "", None),
        },
        (&Method::POST, "/invocations") => invocations(&settings, req).await,
        _ => reply(StatusCode::NOT_FOUND, "not found", None),
    };
    Ok(response)
}

async fn invocations(settings: &Settings, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let content_type =
        parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_owned();
    let out_type = env("SMEMU_TEST_OUTPUT_CONTENT_TYPE").unwrap_or(content_type);
    let mut response = match settings.role.as_str() {
        "transform" => {
            let text = String::from_utf8_lossy(&body);
            let mut out = String::new();
            for line in text.split_inclusive('\n') {
                let (content, newline) = line.strip_suffix('\n').map_or((line, ""), |c| (c, "\n"));
                out.push_str(&format!("{content}|{}{newline}", settings.tag));
            }
            reply(StatusCode::OK, out, Some(&out_type))
        }
        "predict" => {
            let text = String::from_utf8_lossy(&body);
            let sums: Vec<String> = text
                .lines()
                .map(|line| line.split(',').filter_map(|c| c.trim().parse::<f64>().ok()).sum::<f64>().to_string())
                .collect();
            reply(StatusCode::OK, sums.join("\n") + "\n", Some("text/csv"))
        }
        "echo-env" => {
            let vars: serde_json::Map<String, serde_json::Value> = std::env::vars()
                .filter(|(k, _)| k.starts_with("SAGEMAKER_") || k.starts_with("SMEMU_"))
                .map(|(k, v)| (k, v.into()))
                .collect();
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned().into()))
                .collect();
            let answer = serde_json::json!({
                "env": vars,
                "hostname": settings.hostname,
                "headers": headers,
                "model_files": model_files(),
                "body": String::from_utf8_lossy(&body),
            });
            reply(StatusCode::OK, answer.to_string(), Some("application/json"))
        }
        "fail" => {
            let status = env("SMEMU_TEST_FAIL_STATUS").and_then(|s| s.parse().ok()).unwrap_or(500);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            reply(status, env("SMEMU_TEST_FAIL_MESSAGE").unwrap_or_else(|| "model failure".into()), Some("text/plain"))
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(env_u64("SMEMU_TEST_DELAY_MS", 2000))).await;
            reply(StatusCode::OK, body, Some(&out_type))
        }
        _ => reply(StatusCode::OK, body, Some(&out_type)),
    };
    if let Some(attributes) = parts.headers.get("x-amzn-sagemaker-custom-attributes") {
        response.headers_mut().insert("x-amzn-sagemaker-custom-attributes", attributes.clone());
    }
    response
}

/// Files under /opt/ml/model, with the contents of small ones (what the container was given).
fn model_files() -> serde_json::Value {
    let mut files = serde_json::Map::new();
    let mut stack = vec![std::path::PathBuf::from("/opt/ml/model")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let content = std::fs::read(&path)
                    .ok()
                    .filter(|c| c.len() <= 4096)
                    .map(|c| String::from_utf8_lossy(&c).into_owned())
                    .unwrap_or_default();
                files.insert(path.display().to_string(), content.into());
            }
        }
    }
    files.into()
}

fn reply(status: StatusCode, body: impl Into<Bytes>, content_type: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Some(value) = content_type.and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
