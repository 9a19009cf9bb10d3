//! The `forward` role: passes an invocation on to a neighbour on localhost.
//!
//! It proves that the containers of one instance share a network namespace, as on a SageMaker
//! instance: `127.0.0.1:<port of another container>` must reach that container.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::reply;
use crate::settings::env;

pub async fn forward(content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let Some(port) = env("SMEMU_TEST_FORWARD_PORT").and_then(|p| p.parse::<u16>().ok()) else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "SMEMU_TEST_FORWARD_PORT is not a port", None);
    };
    match call(port, content_type, body).await {
        Ok(response) => response,
        Err(err) => reply(StatusCode::BAD_GATEWAY, format!("forwarding to 127.0.0.1:{port}: {err}"), None),
    }
}

async fn call(port: u16, content_type: &str, body: Bytes) -> Result<Response<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::post("/invocations")
        .header(HOST, format!("127.0.0.1:{port}"))
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let answer = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    Ok(reply(parts.status, body, content_type))
}
