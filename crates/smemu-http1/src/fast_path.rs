//! The fast path: a connection is served here, without hyper, for as long as its requests are
//! plain (`head.rs`: for smemu, InvokeEndpoint calls as the AWS SDKs and CLI send them), each
//! answered by the caller's [`PlainHandler`]; at the first request that is anything else, the
//! connection, with the bytes already read, goes to hyper's server (`hand_off.rs`) for the rest
//! of its life.
//!
//! Why: the fast path is what lets these connections live on the lanes (`lanes.rs`), apart from
//! the control plane, whose handlers spawn the controllers' tasks and belong on the main runtime.
//! By itself (measured with `make bench`, interleaved rounds) it also cut smemu's CPU per
//! invocation by 8-13 % at concurrency 16, and by at most 5 % at concurrency 1.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::body::{READ_CHUNK, discard};
use crate::framing::{push_decimal, write_message};
use crate::hand_off::{Prefixed, Service, serve_with_hyper};
use crate::head::{MAX_HEAD, Parsed, parse};
use crate::limits::WireConfig;
use crate::plain::{BodyOutcome, PlainBody, PlainHandler, Refusal, Reply};
use crate::timers;

/// What every connection of one listener shares.
pub(crate) struct Server<H, S> {
    pub config: WireConfig,
    pub plain: H,
    pub service: S,
}

/// [`connection`] for `tcp`, on the lane this runs on.
pub(crate) async fn on_lane<H: PlainHandler, S: Service>(
    tcp: std::net::TcpStream,
    server: std::sync::Arc<Server<H, S>>,
    stopping: watch::Receiver<bool>,
    main: Handle,
) {
    match TcpStream::from_std(tcp) {
        Ok(tcp) => connection(tcp, server, stopping, Some(main)).await,
        Err(err) => tracing::warn!(error = %err, "cannot serve an API connection on a lane"),
    }
}

/// Serves `tcp` until the client closes it, smemu stops, a limit is passed, or a request is not
/// plain: then hyper serves the rest, on `main` if given (the connection moves there) or here.
///
/// One timer per connection, made once and moved cheaply (`Sleep::reset` to a later deadline is
/// an atomic store): the head must be complete within the idle timeout of the previous answer
/// (or of the opening), and a body must keep up the minimum rate.
pub(crate) async fn connection<H: PlainHandler, S: Service>(
    mut tcp: TcpStream,
    server: std::sync::Arc<Server<H, S>>,
    mut stopping: watch::Receiver<bool>,
    main: Option<Handle>,
) {
    let config = &server.config;
    let rule = server.plain.rule();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut timer = Box::pin(timers::sleep_until(Instant::now() + config.idle_timeout));
    loop {
        let (head, head_length) = loop {
            match parse(&buf, rule) {
                Parsed::Plain(head, length) => break (head, length),
                Parsed::Partial if buf.len() <= MAX_HEAD => {}
                Parsed::Partial => return refuse(tcp, &server.plain, Refusal::HeadTooLarge { max: MAX_HEAD }).await,
                Parsed::Refused(refusal) => return refuse(tcp, &server.plain, refusal).await,
                Parsed::Other => {
                    let (service, config) = (server.service.clone(), server.config.clone());
                    drop(server);
                    return hand_over(tcp, buf, service, config, stopping, main).await;
                }
            }
            if buf.capacity() == buf.len() {
                buf.reserve(READ_CHUNK);
            }
            // Between requests smemu may stop; a request begun is read and answered (within the
            // shutdown timeout, see `accept`).
            let read = tokio::select! {
                biased;
                read = tcp.read_buf(&mut buf) => read,
                () = stopped(&mut stopping), if buf.is_empty() => return,
                // Idle too long, or too slow with the head: closed without an answer, as the
                // client has not finished asking.
                () = &mut timer => return,
            };
            if !matches!(read, Ok(n) if n > 0) {
                return;
            }
        };
        buf.advance(head_length);
        let length = head.content_length;
        let mut outcome = BodyOutcome::default();
        let body =
            PlainBody { tcp: &mut tcp, buf: &mut buf, timer: timer.as_mut(), config, length, outcome: &mut outcome };
        let reply = server.plain.reply(head, body).await;
        if outcome.cut_off {
            return;
        }
        if write_message(&mut tcp, |out| write_head(out, &reply, false), &reply.body).await.is_err()
            || *stopping.borrow()
        {
            return;
        }
        // A body answered before it was read (missing endpoint, throttled) is read past, not
        // kept, so that the connection can serve the next request.
        if !outcome.read && discard(&mut tcp, &mut buf, length, timer.as_mut(), config).await.is_err() {
            return;
        }
        timer.as_mut().reset(Instant::now() + config.idle_timeout);
    }
}

/// Answers a request the fast path refuses before reading its body, and closes the connection.
async fn refuse<H: PlainHandler>(tcp: TcpStream, plain: &H, refusal: Refusal) {
    close_with(tcp, plain.refuse(refusal)).await;
}

/// Sends `reply` with `Connection: close`, then ends the connection.
async fn close_with(mut tcp: TcpStream, reply: Reply) {
    if write_message(&mut tcp, |out| write_head(out, &reply, true), &reply.body).await.is_err() {
        return;
    }
    // A FIN after the answer, then what the client still sends is read past for a little while:
    // closing with unread bytes would send a reset, which can destroy the answer before the
    // client reads it.
    if tcp.shutdown().await.is_err() {
        return;
    }
    let linger = async {
        let mut sink = [0u8; READ_CHUNK];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = timers::within(|| tokio::time::timeout(LINGER, linger)).await;
}

/// How long, and for how many bytes, a refused connection is read past before it closes.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Serves the rest of the connection with hyper, `read` (read, not served) first.
async fn hand_over<S: Service>(
    tcp: TcpStream,
    read: BytesMut,
    service: S,
    config: WireConfig,
    stopping: watch::Receiver<bool>,
    main: Option<Handle>,
) {
    let prefix = read.freeze();
    let Some(main) = main else {
        return serve_with_hyper(Prefixed { prefix, inner: tcp }, service, config, stopping).await;
    };
    let tcp = match tcp.into_std() {
        Ok(tcp) => tcp,
        Err(err) => return tracing::warn!(error = %err, "cannot move an API connection to the main runtime"),
    };
    // Awaited, so that the accept loop's graceful stop still waits for this connection; and
    // ended with this task, so that its end of the shutdown timeout closes the connection too.
    let mut served = AbortOnDrop(main.spawn(async move {
        match TcpStream::from_std(tcp) {
            Ok(inner) => serve_with_hyper(Prefixed { prefix, inner }, service, config, stopping).await,
            Err(err) => tracing::warn!(error = %err, "cannot serve an API connection on the main runtime"),
        }
    }));
    let _ = (&mut served.0).await;
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; it must not live across an await.
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The status line and headers of `reply`, with `Content-Length` and `Date` as hyper adds them.
fn write_head(out: &mut BytesMut, reply: &Reply, close: bool) {
    if reply.status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(reply.status.as_str().as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(reply.status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &reply.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    push_decimal(out, reply.body.len());
    out.extend_from_slice(b"\r\ndate: ");
    push_date(out);
    out.extend_from_slice(b"\r\n\r\n");
}

thread_local! {
    /// The `Date` header's text and its second, formatted once a second per thread rather than
    /// for every answer.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn push_date(out: &mut BytesMut) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            *text = httpdate::fmt_http_date(now);
            *cached = second;
        }
        out.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn the_answer_head_has_the_status_the_headers_the_length_and_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/csv"));
        headers.insert("x-amzn-invoked-production-variant", HeaderValue::from_static("AllTraffic"));
        let reply = Reply { status: StatusCode::FAILED_DEPENDENCY, headers, body: Bytes::from_static(b"12345678901") };
        let mut out = BytesMut::new();
        write_head(&mut out, &reply, false);
        let text = std::str::from_utf8(&out).unwrap();
        let date = text.split("date: ").nth(1).unwrap().trim_end();
        assert!(httpdate::parse_http_date(date).is_ok(), "{text}");
        assert_eq!(
            text.replace(date, "D"),
            "HTTP/1.1 424 Failed Dependency\r\ncontent-type: text/csv\r\nx-amzn-invoked-production-variant: AllTraffic\r\ncontent-length: 11\r\ndate: D\r\n\r\n"
        );
    }
}
