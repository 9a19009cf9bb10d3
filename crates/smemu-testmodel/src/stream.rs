//! The `stream` role: `/invocations` answered with a chunked body, as a streaming model server
//! answers (HTTP/1.1 chunked encoding), so tests can see parts arrive in order, over time, and a
//! connection dropped mid-stream.
//!
//! `SMEMU_TEST_CHUNKS` (5) chunks: the request body split into that many pieces, or, for an
//! empty body, the tokens `token-1 `, `token-2 `...; `SMEMU_TEST_CHUNK_DELAY_MS` (0) between
//! chunks; `SMEMU_TEST_DROP_AFTER`: the connection is cut (no final chunk) after that many.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::settings::{env, env_u64};

const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

pub type Streamed = Response<UnsyncBoxBody<Bytes, std::io::Error>>;

pub async fn answer(req: Request<Incoming>) -> Streamed {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let mut response = Response::new(whole(format!("cannot read the body: {err}")));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let count = usize::try_from(env_u64("SMEMU_TEST_CHUNKS", 5)).unwrap_or(5).max(1);
    let chunks = Chunks {
        chunks: split(&body, count),
        delay: Duration::from_millis(env_u64("SMEMU_TEST_CHUNK_DELAY_MS", 0)),
        drop_after: env("SMEMU_TEST_DROP_AFTER").and_then(|n| n.parse().ok()),
        sent: 0,
        wait: None,
    };
    let mut response = Response::new(UnsyncBoxBody::new(chunks));
    let content_type = env("SMEMU_TEST_OUTPUT_CONTENT_TYPE")
        .or_else(|| parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| "application/octet-stream".into());
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    if let Some(attributes) = parts.headers.get(CUSTOM_ATTRIBUTES) {
        response.headers_mut().insert(CUSTOM_ATTRIBUTES, attributes.clone());
    }
    response
}

/// A whole body in the streamed type.
pub fn boxed(body: http_body_util::Full<Bytes>) -> UnsyncBoxBody<Bytes, std::io::Error> {
    body.map_err(|never: Infallible| match never {}).boxed_unsync()
}

fn whole(body: impl Into<Bytes>) -> UnsyncBoxBody<Bytes, std::io::Error> {
    boxed(http_body_util::Full::new(body.into()))
}

/// `body` in `count` nearly equal pieces (fewer when it is shorter), or `count` numbered tokens.
fn split(body: &Bytes, count: usize) -> VecDeque<Bytes> {
    if body.is_empty() {
        return (1..=count).map(|n| Bytes::from(format!("token-{n} "))).collect();
    }
    let size = body.len().div_ceil(count);
    (0..body.len()).step_by(size).map(|start| body.slice(start..(start + size).min(body.len()))).collect()
}

/// The chunks, one frame each (hyper writes each data frame as one chunk), with the delay
/// before every chunk but the first; a body error makes hyper cut the connection.
struct Chunks {
    chunks: VecDeque<Bytes>,
    delay: Duration,
    drop_after: Option<usize>,
    sent: usize,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let dropping = self.drop_after == Some(self.sent);
        if !dropping && self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        // Before a drop, a pause even without a delay: hyper flushes what it holds while the body
        // is pending, but discards it when the body fails at once.
        let pause = match (dropping, self.sent) {
            (true, _) => self.delay.max(FLUSH_PAUSE),
            (false, 0) => Duration::ZERO,
            (false, _) => self.delay,
        };
        if !pause.is_zero() {
            let wait = self.wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
        }
        if dropping {
            println!("dropping the connection after {} chunks", self.sent);
            return Poll::Ready(Some(Err(std::io::Error::other("dropped on purpose"))));
        }
        self.sent += 1;
        Poll::Ready(self.chunks.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// How long a dropping stream waits, at least, for what it sent to reach the caller.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_split_into_the_asked_count_or_tokens() {
        let parts: Vec<Bytes> = split(&Bytes::from_static(b"abcdefghij"), 3).into();
        assert_eq!(parts, [&b"abcd"[..], b"efgh", b"ij"]);
        let parts: Vec<Bytes> = split(&Bytes::from_static(b"ab"), 5).into();
        assert_eq!(parts, [&b"a"[..], b"b"]);
        let parts: Vec<Bytes> = split(&Bytes::new(), 2).into();
        assert_eq!(parts, [&b"token-1 "[..], b"token-2 "]);
    }
}
