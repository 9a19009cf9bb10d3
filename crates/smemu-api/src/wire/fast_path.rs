//! InvokeEndpoint's fast path: an API connection is served here, without hyper, for as long as
//! its requests are plain InvokeEndpoint calls; at the first request that is anything else, the
//! connection, with the bytes already read, goes to hyper's server for the rest of its life.
//!
//! Why: the fast path is what lets these connections live on the lanes (`lanes.rs`), apart from
//! the control plane, whose handlers spawn the controllers' tasks and belong on the main runtime.
//! By itself (measured with `make bench`, interleaved rounds) it also cut smemu's CPU per
//! invocation by 8-13 % at concurrency 16, and by at most 5 % at concurrency 1.
//!
//! "Plain" is narrow on purpose, so that this code never has to answer a malformed or unusual
//! request: HTTP/1.1, `POST` to an invocations path, one `Content-Length` of at most 6 MB, no
//! `Transfer-Encoding`, `Expect`, `Upgrade` or `Connection` other than `keep-alive`, at most
//! [`MAX_HEADERS`] headers. That is what the AWS SDKs and CLI send. Everything else (chunked
//! bodies, `100-continue`, `Connection: close`, the control plane, malformed requests and their
//! error answers) is hyper's.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::invoke::{self, Reply};
use super::limits::WireConfig;
use super::{Api, connections, json_rpc, render};
use crate::ApiError;
use smemu_runtime::timers;
use smemu_runtime::{InvokeError, MAX_PAYLOAD, push_decimal, write_message};

/// The most headers a plain request has; the SDKs send about a dozen.
const MAX_HEADERS: usize = 32;
/// The longest head the fast path reads: a longer one is answered with 431 here, AWS-shaped,
/// rather than by hyper with an empty body. The SDKs' heads are well under 2 KiB.
const MAX_HEAD: usize = 64 * 1024;
/// How much is read at once while waiting for a head.
const READ_CHUNK: usize = 8 * 1024;

/// [`connection`] for `tcp`, on the lane this runs on.
pub(super) async fn on_lane(tcp: std::net::TcpStream, api: Api, stopping: watch::Receiver<bool>, main: Handle) {
    match TcpStream::from_std(tcp) {
        Ok(tcp) => connection(tcp, api, stopping, Some(main)).await,
        Err(err) => tracing::warn!(error = %err, "cannot serve an API connection on a lane"),
    }
}

/// Serves `tcp` until the client closes it, smemu stops, a limit is passed, or a request is not
/// plain: then hyper serves the rest, on `main` if given (the connection moves there) or here.
///
/// One timer per connection, made once and moved cheaply (`Sleep::reset` to a later deadline is
/// an atomic store): the head must be complete within the idle timeout of the previous answer
/// (or of the opening), and a body must keep up the minimum rate.
pub(super) async fn connection(
    mut tcp: TcpStream,
    api: Api,
    mut stopping: watch::Receiver<bool>,
    main: Option<Handle>,
) {
    let config = &api.limits.config;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut timer = Box::pin(timers::sleep_until(Instant::now() + config.idle_timeout));
    loop {
        let head = loop {
            match parse(&buf, api.state.config.access_keys.is_some()) {
                Parsed::Plain(head) => break head,
                Parsed::Partial if buf.len() <= MAX_HEAD => {}
                Parsed::Partial => return refuse(tcp, Refusal::HeadTooLarge).await,
                Parsed::Refused(refusal) => return refuse(tcp, refusal).await,
                Parsed::Other => return hand_over(tcp, buf.freeze(), api, stopping, main).await,
            }
            if buf.capacity() == buf.len() {
                buf.reserve(READ_CHUNK);
            }
            // Between requests smemu may stop; a request begun is read and answered (within the
            // shutdown timeout, see `connections`).
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
        buf.advance(head.length);
        let length = head.content_length;
        let mut body_read = false;
        let mut cut_off = false;
        let reply =
            invoke::reply(&api.state, &api.limits, head.endpoint, &head.target, &head.headers, length, || async {
                body_read = true;
                read_body(&mut tcp, &mut buf, length, timer.as_mut(), config).await.map_err(|err| {
                    cut_off = true;
                    InvokeError::InvalidHeader(format!("The request body could not be read: {err}"))
                })
            })
            .await;
        if cut_off {
            return;
        }
        if write_message(&mut tcp, |out| write_head(out, &reply, false), &reply.body).await.is_err()
            || *stopping.borrow()
        {
            return;
        }
        // A body answered before it was read (missing endpoint, throttled) is read past, not
        // kept, so that the connection can serve the next request.
        if !body_read && discard(&mut tcp, &mut buf, length, timer.as_mut(), config).await.is_err() {
            return;
        }
        timer.as_mut().reset(Instant::now() + config.idle_timeout);
    }
}

/// Why a body was not read in full.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the connection closed")]
    Closed,
    #[error("the body came more slowly than {0} bytes per second")]
    TooSlow(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads one more chunk of a body into `buf`, unless the minimum rate's deadline passes first.
async fn fill_body(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    timer: Pin<&mut Sleep>,
    rate: u64,
) -> Result<(), BodyError> {
    tokio::select! {
        biased;
        read = tcp.read_buf(buf) => match read? {
            0 => Err(BodyError::Closed),
            _ => Ok(()),
        },
        () = timer => Err(BodyError::TooSlow(rate)),
    }
}

/// The next `length` bytes of the connection (the first of them may be in `buf` already).
async fn read_body(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    length: usize,
    mut timer: Pin<&mut Sleep>,
    config: &WireConfig,
) -> Result<Bytes, BodyError> {
    if buf.len() < length {
        let start = Instant::now();
        let already = buf.len();
        while buf.len() < length {
            timer.as_mut().reset(config.body_deadline(start, (buf.len() - already) as u64));
            let missing = length - buf.len();
            if buf.capacity() == buf.len() {
                // Reserved as it comes, whatever the length claims.
                buf.reserve(missing.min(RESERVE_STEP));
            }
            fill_body(tcp, buf, timer.as_mut(), config.min_body_rate).await?;
        }
    }
    Ok(buf.split_to(length).freeze())
}

/// Reads past the next `length` bytes without keeping them.
async fn discard(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    length: usize,
    mut timer: Pin<&mut Sleep>,
    config: &WireConfig,
) -> Result<(), BodyError> {
    let start = Instant::now();
    let mut left = length;
    loop {
        let n = left.min(buf.len());
        buf.advance(n);
        left -= n;
        if left == 0 {
            return Ok(());
        }
        timer.as_mut().reset(config.body_deadline(start, (length - left) as u64));
        buf.reserve(READ_CHUNK);
        fill_body(tcp, buf, timer.as_mut(), config.min_body_rate).await?;
    }
}

/// How much of a body is reserved at once, whatever its `Content-Length` claims.
const RESERVE_STEP: usize = 1024 * 1024;

/// Answers a request the fast path refuses before reading its body, and closes the connection.
async fn refuse(tcp: TcpStream, refusal: Refusal) {
    let request_id = render::request_id();
    let (status, err) = match refusal {
        Refusal::HeadTooLarge => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, ApiError::head_too_large(MAX_HEAD)),
        Refusal::TooManyHeaders => {
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, ApiError::too_many_headers(HYPER_MAX_HEADERS))
        }
        Refusal::Malformed(detail) => (StatusCode::BAD_REQUEST, ApiError::malformed_http(detail)),
        Refusal::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ApiError::body_too_large(json_rpc::MAX_BODY)),
        Refusal::PayloadTooLarge => {
            let mut reply = invoke::render_error(&InvokeError::PayloadTooLarge { max: MAX_PAYLOAD });
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                reply.headers.insert("x-amzn-requestid", value);
            }
            return close_with(tcp, reply).await;
        }
    };
    tracing::info!(request_id, status = status.as_u16(), error = %err, "request refused before its body");
    let (status, headers, body) = render::error_parts(Some(status), &err, &request_id);
    close_with(tcp, Reply { status, headers, body }).await;
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

/// Serves the rest of the connection with hyper, `prefix` (read, not served) first.
async fn hand_over(tcp: TcpStream, prefix: Bytes, api: Api, stopping: watch::Receiver<bool>, main: Option<Handle>) {
    let Some(main) = main else {
        return connections::serve_with_hyper(Prefixed { prefix, inner: tcp }, api, stopping).await;
    };
    let tcp = match tcp.into_std() {
        Ok(tcp) => tcp,
        Err(err) => return tracing::warn!(error = %err, "cannot move an API connection to the main runtime"),
    };
    // Awaited, so that the accept loop's graceful stop still waits for this connection; and
    // ended with this task, so that its end of the shutdown timeout closes the connection too.
    let mut served = AbortOnDrop(main.spawn(async move {
        match TcpStream::from_std(tcp) {
            Ok(inner) => connections::serve_with_hyper(Prefixed { prefix, inner }, api, stopping).await,
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

/// A plain request's head, owned, so that the read buffer can move on.
struct PlainHead {
    /// Bytes of the head, up to and with its empty line.
    length: usize,
    endpoint: String,
    /// The path as received, kept only for `--auth strict` (empty otherwise).
    target: String,
    headers: HeaderMap,
    content_length: usize,
}

enum Parsed {
    Plain(PlainHead),
    /// The head is not complete yet.
    Partial,
    /// A request this path leaves to hyper.
    Other,
    /// A request answered with an error at once, before its body (which is never read).
    Refused(Refusal),
}

/// Why the fast path refuses a request: what hyper would answer with an empty or plain-text
/// body, or (absurd lengths) wait for.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The head passed [`MAX_HEAD`].
    HeadTooLarge,
    /// More headers than hyper reads ([`HYPER_MAX_HEADERS`]).
    TooManyHeaders,
    /// Not HTTP/1.x, or a `Content-Length` that is not a number.
    Malformed(&'static str),
    /// A control-plane body longer than the control plane reads.
    BodyTooLarge,
    /// An invocation body longer than InvokeEndpoint takes: its real validation error.
    PayloadTooLarge,
}

/// hyper's limit on a request's headers; past it hyper would answer a bare 431 itself.
const HYPER_MAX_HEADERS: usize = 100;

/// A head with more headers than the fast path reads: hyper serves it, unless it has more than
/// hyper reads, which is refused here with an AWS-shaped 431. Only reached by such heads, so the
/// slots are allocated here rather than on every request.
fn many_headers(buf: &[u8]) -> Parsed {
    let mut slots = vec![httparse::EMPTY_HEADER; HYPER_MAX_HEADERS];
    match httparse::Request::new(&mut slots).parse(buf) {
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::TooManyHeaders),
        _ => Parsed::Other,
    }
}

/// `signed`: `--auth strict`, where every header and the path are kept for the signature check.
fn parse(buf: &[u8], signed: bool) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let length =
        match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut slots) {
            Ok(httparse::Status::Complete(length)) if length > MAX_HEAD => {
                return Parsed::Refused(Refusal::HeadTooLarge);
            }
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            // More headers than a plain request has: hyper reads up to 100.
            Err(httparse::Error::TooManyHeaders) => return many_headers(buf),
            Err(err) => return Parsed::Refused(Refusal::Malformed(malformed(err))),
        };
    let Some(endpoint) = request.path.and_then(invoke::endpoint_of).filter(|_| request.method == Some("POST")) else {
        return other_request(request.headers);
    };
    if request.version != Some(1) {
        return Parsed::Other;
    }
    let mut headers = HeaderMap::with_capacity(invoke::READ_HEADERS.len());
    let mut content_length = None;
    let mut plain = true;
    for header in request.headers.iter() {
        let is = |name: &HeaderName| header.name.eq_ignore_ascii_case(name.as_str());
        // `--auth strict`: every header, for a client may sign any (the Rust SDK signs `Content-Length`).
        if signed {
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(header.name.as_bytes()), HeaderValue::from_bytes(header.value))
            else {
                return Parsed::Other;
            };
            headers.append(name, value);
        }
        if is(&CONTENT_LENGTH) {
            match (content_length, decimal(header.value)) {
                (None, Some(n)) => content_length = Some(n),
                (_, None) => return Parsed::Refused(Refusal::Malformed("Content-Length is not a decimal number")),
                (Some(first), Some(n)) if first != n => {
                    return Parsed::Refused(Refusal::Malformed("Content-Length is given twice with different values"));
                }
                // Repeated with one value: hyper takes it.
                (Some(_), Some(_)) => return Parsed::Other,
            }
        } else if is(&TRANSFER_ENCODING)
            || is(&EXPECT)
            || is(&UPGRADE)
            || (is(&CONNECTION) && !header.value.eq_ignore_ascii_case(b"keep-alive"))
        {
            plain = false;
        } else if !signed && let Some(name) = invoke::READ_HEADERS.iter().find(|name| is(name)) {
            // Only what the handler reads becomes a header value; httparse has checked the rest
            // as hyper would.
            let Ok(value) = HeaderValue::from_bytes(header.value) else {
                return Parsed::Other;
            };
            headers.append(name.clone(), value);
        }
    }
    match content_length {
        // Refused at once, whatever else the head says: waiting for such a body is the hang.
        Some(content_length) if content_length > MAX_PAYLOAD => Parsed::Refused(Refusal::PayloadTooLarge),
        Some(content_length) if plain => {
            let target = if signed { request.path.unwrap_or_default().to_owned() } else { String::new() };
            Parsed::Plain(PlainHead { length, endpoint, target, headers, content_length })
        }
        // No length (chunked), or headers the fast path leaves to hyper.
        _ => Parsed::Other,
    }
}

/// What is wrong with a head httparse refused.
fn malformed(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::Status | httparse::Error::TooManyHeaders => "invalid request line",
    }
}

/// A complete head that is not an invocation: hyper's, unless its length is absurd or not a
/// number, which is answered here at once.
fn other_request(headers: &[httparse::Header<'_>]) -> Parsed {
    let mut seen = None;
    for header in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str())) {
        match decimal(header.value) {
            Some(n) if n > json_rpc::MAX_BODY => return Parsed::Refused(Refusal::BodyTooLarge),
            Some(n) if seen.is_some_and(|first| first != n) => {
                return Parsed::Refused(Refusal::Malformed("Content-Length is given twice with different values"));
            }
            Some(n) => seen = Some(n),
            None => return Parsed::Refused(Refusal::Malformed("Content-Length is not a decimal number")),
        }
    }
    Parsed::Other
}

/// A `Content-Length` value: ASCII digits only, as RFC 9110 §8.6 has it.
/// (saturating: a longer number than `usize` holds is as absurd as `usize::MAX`).
fn decimal(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0'))))
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

/// A connection handed to hyper: the bytes the fast path read but did not serve come first.
struct Prefixed {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    const PLAIN: &str = "POST /endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 5\r\n\r\n1,2,3";

    fn plain(request: &str) -> PlainHead {
        match parse(request.as_bytes(), false) {
            Parsed::Plain(head) => head,
            Parsed::Partial => panic!("partial: {request:?}"),
            Parsed::Other => panic!("not plain: {request:?}"),
            Parsed::Refused(refusal) => panic!("refused ({refusal:?}): {request:?}"),
        }
    }

    #[test]
    fn a_plain_invocation_is_parsed_with_its_endpoint_headers_and_length() {
        let head = plain(PLAIN);
        assert_eq!(head.endpoint, "churn");
        assert_eq!(head.content_length, 5);
        assert_eq!(&PLAIN.as_bytes()[head.length..], b"1,2,3");
        assert_eq!(head.headers.get("content-type").unwrap(), "text/csv");
        assert_eq!(plain(&PLAIN.replace("churn", "my%20endpoint")).endpoint, "my endpoint");
        assert_eq!(plain(&PLAIN.replace("Host", "Connection: keep-alive\r\nHost")).content_length, 5);
    }

    #[test]
    fn strict_mode_keeps_every_header_and_the_path_for_the_signature_check() {
        let request = PLAIN.replace("Host", "X-Amz-Date: 20260101T000000Z\r\nUser-Agent: sdk\r\nHost");
        let Parsed::Plain(head) = parse(request.as_bytes(), true) else { panic!("not plain") };
        assert_eq!(head.target, "/endpoints/churn/invocations");
        for name in ["host", "content-type", "content-length", "x-amz-date", "user-agent"] {
            assert!(head.headers.contains_key(name), "{name}");
        }
        let head = plain(PLAIN);
        assert_eq!(head.target, "", "nothing more is kept with --auth any");
        assert!(!head.headers.contains_key("host") && !head.headers.contains_key("content-length"));
    }

    #[test]
    fn a_head_cut_short_waits_for_more() {
        for end in [0, 10, PLAIN.find("\r\n\r\n").unwrap()] {
            assert!(matches!(parse(&PLAIN.as_bytes()[..end], false), Parsed::Partial), "{end}");
        }
    }

    #[test]
    fn anything_but_a_plain_invocation_is_left_to_hyper() {
        let others = [
            PLAIN.replace("POST", "GET"),
            PLAIN.replace("HTTP/1.1", "HTTP/1.0"),
            PLAIN.replace("/endpoints/churn/invocations", "/"),
            PLAIN.replace("/invocations", "/invocations?x=1"),
            PLAIN.replace("Content-Length: 5", "Transfer-Encoding: chunked"),
            PLAIN.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 5"),
            PLAIN.replace("Content-Length: 5\r\n", ""),
            PLAIN.replace("Host", "Expect: 100-continue\r\nHost"),
            PLAIN.replace("Host", "Connection: close\r\nHost"),
            PLAIN.replace("Host", "Upgrade: h2c\r\nHost"),
            PLAIN.replace("Host", &format!("{}Host", "X-Many: 1\r\n".repeat(MAX_HEADERS))),
            PLAIN.replace("/endpoints/churn/invocations", "/").replace("Content-Length: 5", "Content-Length: 2097152"),
        ];
        for request in others {
            assert!(matches!(parse(request.as_bytes(), false), Parsed::Other), "{request:?}");
        }
    }

    #[test]
    fn malformed_heads_and_absurd_lengths_are_refused_at_once() {
        let control = PLAIN.replace("/endpoints/churn/invocations", "/");
        let refused = [
            (PLAIN.replace("Content-Length: 5", "Content-Length: +5"), Refusal::Malformed("")),
            (
                PLAIN.replace("Content-Length: 5", &format!("Content-Length: {}", MAX_PAYLOAD + 1)),
                Refusal::PayloadTooLarge,
            ),
            (PLAIN.replace("Content-Length: 5", "Content-Length: 9223372036854775807"), Refusal::PayloadTooLarge),
            (PLAIN.replace("Content-Length: 5", "Content-Length: 99999999999999999999999"), Refusal::PayloadTooLarge),
            (
                PLAIN.replace("Content-Length: 5", "Transfer-Encoding: chunked\r\nContent-Length: 9223372036854775807"),
                Refusal::PayloadTooLarge,
            ),
            (control.replace("Content-Length: 5", "Content-Length: 2097153"), Refusal::BodyTooLarge),
            (control.replace("Content-Length: 5", "Content-Length: 9223372036854775807"), Refusal::BodyTooLarge),
            (control.replace("Content-Length: 5", "Content-Length: x"), Refusal::Malformed("")),
            (PLAIN.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 6"), Refusal::Malformed("")),
            (control.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 6"), Refusal::Malformed("")),
            ("\0garbage\r\n\r\n".to_owned(), Refusal::Malformed("")),
            ("GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n".to_owned(), Refusal::Malformed("")),
            (PLAIN.replace("Host", &format!("X-Big: {}\r\nHost", "b".repeat(MAX_HEAD))), Refusal::HeadTooLarge),
            // hyper would answer more than its 100 headers with a bare 431.
            (
                PLAIN.replace("Host", &format!("{}Host", "X-Many: 1\r\n".repeat(HYPER_MAX_HEADERS))),
                Refusal::TooManyHeaders,
            ),
        ];
        for (request, expected) in refused {
            match parse(request.as_bytes(), false) {
                Parsed::Refused(Refusal::Malformed(_)) if matches!(expected, Refusal::Malformed(_)) => {}
                Parsed::Refused(refusal) => assert_eq!(refusal, expected, "{request:?}"),
                _ => panic!("not refused: {request:?}"),
            }
        }
    }

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

    #[tokio::test]
    async fn hyper_reads_the_bytes_already_read_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b" world").await.unwrap();
            let mut echoed = Vec::new();
            tcp.read_to_end(&mut echoed).await.unwrap();
            echoed
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = Prefixed { prefix: Bytes::from_static(b"hello"), inner: tcp };
        let mut read = vec![0u8; 11];
        io.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"hello world");
        io.write_all(b"echo").await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        assert_eq!(client.await.unwrap(), b"echo");
    }
}
