//! A fake container's HTTP/1.1 server (hyper): `GET /ping`, `GET /execution-parameters` and
//! `POST /invocations`, answered as its image's script says at the time of the request.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::behaviour::{Answer, Behaviour, Ping, Script, now};

/// The header that carries `CustomAttributes` to containers and back; an echo returns it.
const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

/// Serves one container until its task is aborted; connections live in a set the task owns, so
/// that aborting it closes them too.
pub(super) async fn serve(listener: std::net::TcpListener, script: Script, invocations: Arc<AtomicUsize>) {
    let Ok(listener) = TcpListener::from_std(listener) else { return };
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, say: wait a little rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let (script, invocations) = (script.clone(), invocations.clone());
                let service = hyper::service::service_fn(move |request| {
                    answer(now(&script), invocations.clone(), request)
                });
                connections.spawn(async move {
                    // A client that goes away mid-request is no failure of the fake.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reaps finished connections, so that the set does not grow with each one.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(
    behaviour: Behaviour,
    invocations: Arc<AtomicUsize>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let respond = |status: StatusCode, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/ping") => Ok(match behaviour.ping {
            Ping::Answers(delay) => {
                tokio::time::sleep(delay).await;
                respond(StatusCode::OK, Bytes::new())
            }
            Ping::Fails(status) => respond(status, Bytes::new()),
        }),
        (&Method::GET, "/execution-parameters") => Ok(match &behaviour.execution_parameters {
            Some(body) => {
                let mut response = respond(StatusCode::OK, body.clone());
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            None => respond(StatusCode::NOT_FOUND, Bytes::new()),
        }),
        (&Method::POST, "/invocations") => {
            let content_type = request.headers().get(CONTENT_TYPE).cloned();
            let attributes = request.headers().get(CUSTOM_ATTRIBUTES).cloned();
            invocations.fetch_add(1, Ordering::Relaxed);
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            tokio::time::sleep(behaviour.answer_delay).await;
            Ok(match &behaviour.answer {
                Answer::Echo => {
                    let mut response = respond(StatusCode::OK, body);
                    let headers = response.headers_mut();
                    headers.extend(content_type.map(|value| (CONTENT_TYPE, value)));
                    if let Some(value) = attributes {
                        headers.insert(CUSTOM_ATTRIBUTES, value);
                    }
                    response
                }
                Answer::Fixed { status, content_type, body } => {
                    let mut response = respond(*status, body.clone());
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    response
                }
            })
        }
        _ => Ok(respond(StatusCode::NOT_FOUND, Bytes::new())),
    }
}
