//! The HTTP/1.1 client smemu uses to reach containers (the transport's second entry point,
//! "send to a container"): keep-alive connections pooled per address, and each exchange run
//! wholly in the caller's task.
//!
//! Why not hyper's pooled client: there a request runs in the caller's task and its connection
//! in another, so every exchange hands off twice between tasks (and often threads), and an
//! invocation of a 2-container pipeline is 2 exchanges. In `make bench` on a 2-core machine
//! (interleaved rounds), this client raised InvokeEndpoint's throughput from about 70 % to about
//! 80 % of calling the containers directly. Containers are HTTP/1.1 servers that smemu only asks
//! for a few paths, so the client needs little: requests with a known length, and answers framed
//! by `Content-Length`, chunked encoding or the end of the connection.
//! An answer is read whole ([`Http1Pool::send`], InvokeEndpoint's path), or its head first and its
//! body part by part as it arrives ([`Http1Pool::send_streaming`], InvokeEndpointWithResponseStream's).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::framing::{RESERVE_STEP, push_decimal, write_message};

/// SageMaker gives a container 250 ms to accept a connection; a little more on a busy laptop.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most header bytes an answer may have before its body.
const MAX_HEAD: usize = 64 * 1024;
/// The most headers an answer may have.
const MAX_HEADERS: usize = 100;
/// The longest line of chunked framing (a chunk size with extensions, or a trailer).
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// An idle connection older than this is closed, not reused (as hyper's pool did).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often check-ins look for connections idle too long.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// The most idle connections kept per container.
const MAX_IDLE_PER_ADDR: usize = 64;

/// One request to a container.
pub struct Request<'a> {
    pub method: &'static str,
    pub path: &'static str,
    /// Name and value of each header besides `Host` and `Content-Length`.
    pub headers: &'a [(&'a str, &'a HeaderValue)],
    /// The answer's headers to keep besides `Content-Type`, by lower-case name: the rest are
    /// read past.
    pub keep: &'static [&'static str],
    pub body: Bytes,
}

/// What a container answered: its status, `Content-Type`, the headers the request asked to keep
/// ([`Request::keep`]), and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    /// Empty (no allocation) unless a kept header came.
    pub kept: Vec<(&'static str, HeaderValue)>,
    pub body: Bytes,
}

impl Answer {
    /// The kept header named `name` (the last, if it came more than once), taken out of the answer.
    pub fn take(&mut self, name: &str) -> Option<HeaderValue> {
        let index = self.kept.iter().rposition(|(kept, _)| *kept == name)?;
        Some(self.kept.swap_remove(index).1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the connection closed before the answer was complete")]
    Closed,
    #[error("the answer is not valid HTTP/1.1: {0}")]
    Malformed(String),
}

struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// Keep-alive connections to containers, keyed by their address.
#[derive(Default)]
pub struct Http1Pool {
    idle: Mutex<IdleConnections>,
}

#[derive(Default)]
struct IdleConnections {
    by_addr: HashMap<SocketAddr, Vec<Idle>>,
    swept: Option<Instant>,
}

thread_local! {
    /// A lane's own pool (see `serve_from_lane_pool`).
    static LANE_POOL: OnceCell<Http1Pool> = const { OnceCell::new() };
}

/// Makes the calling thread, a lane's (`lanes`), keep container connections of its own:
/// a connection is registered with the runtime that opened it, and only a task of that runtime
/// should wait on it, or each wait would cross threads.
pub(crate) fn serve_from_lane_pool() {
    LANE_POOL.with(|pool| {
        let _ = pool.set(Http1Pool::default());
    });
}

impl std::fmt::Debug for Http1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Pool").finish_non_exhaustive()
    }
}

impl Http1Pool {
    /// Sends `request` to `addr` on an idle connection, or a new one (connecting within
    /// `CONNECT_TIMEOUT`), and reads the whole answer.
    pub async fn send(&self, addr: SocketAddr, request: Request<'_>) -> Result<Answer, ClientError> {
        let mut stream = self.open(addr, &request).await?;
        let (answer, reusable) = read_answer(&mut stream, request.keep).await?;
        if reusable {
            self.local(|pool| pool.checkin(addr, stream));
        }
        Ok(answer)
    }

    /// Sends `request` as [`Http1Pool::send`] does but reads only the answer's head: the body is
    /// read part by part from the [`BodyReader`], which gives the connection back to this pool
    /// once the body is wholly read (dropped earlier, the connection is closed).
    pub async fn send_streaming(
        self: &Arc<Self>,
        addr: SocketAddr,
        request: Request<'_>,
    ) -> Result<StreamingAnswer, ClientError> {
        let mut stream = self.open(addr, &request).await?;
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let head = read_final_head(&mut stream, &mut buf, request.keep).await?;
        let no_body = head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED;
        let state = match head.framing {
            _ if no_body => BodyState::Length(0),
            Framing::Length(length) => BodyState::Length(length),
            Framing::Chunked => BodyState::ChunkSize,
            Framing::UntilClose => BodyState::UntilClose,
        };
        let body =
            BodyReader { stream: Some(stream), buf, state, keep_alive: head.keep_alive, addr, pool: self.clone() };
        Ok(StreamingAnswer { status: head.status, content_type: head.content_type, kept: head.kept, body })
    }

    /// A connection to `addr` (idle or new) with `request` written on it.
    async fn open(&self, addr: SocketAddr, request: &Request<'_>) -> Result<TcpStream, ClientError> {
        let mut stream = match self.local(|pool| pool.checkout(addr)) {
            Some(stream) => stream,
            None => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting took too long"))??;
                // Requests are written whole; Nagle would only hold the last segment back.
                stream.set_nodelay(true)?;
                stream
            }
        };
        write_message(&mut stream, |head| write_head(head, addr, request), &request.body).await?;
        Ok(stream)
    }

    /// `f` on the calling lane's own pool, or on this one off the lanes.
    fn local<R>(&self, f: impl FnOnce(&Http1Pool) -> R) -> R {
        LANE_POOL.with(|lane| f(lane.get().unwrap_or(self)))
    }

    /// An idle connection to `addr` that the container has not closed meanwhile.
    fn checkout(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let connections = idle.by_addr.get_mut(&addr)?;
        while let Some(Idle { stream, since }) = connections.pop() {
            if since.elapsed() < IDLE_TIMEOUT && still_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    fn checkin(&self, addr: SocketAddr, stream: TcpStream) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Containers come and go with their endpoints; a gone one's connections are closed by a
        // sweep at some check-in to any container, rather than by a checkout that never comes.
        if idle.swept.is_none_or(|swept| now.duration_since(swept) > SWEEP_INTERVAL) {
            idle.swept = Some(now);
            idle.by_addr.retain(|_, connections| {
                connections.retain(|c| now.duration_since(c.since) < IDLE_TIMEOUT);
                !connections.is_empty()
            });
        }
        let connections = idle.by_addr.entry(addr).or_default();
        if connections.len() < MAX_IDLE_PER_ADDR {
            connections.push(Idle { stream, since: now });
        }
    }
}

/// Whether an idle connection can carry another request: nothing to read yet. A container that
/// closed it (restart, idle timeout) has left an end of stream behind; a container that sent
/// something unasked has left the connection in an unknown state.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
}

fn write_head(head: &mut BytesMut, addr: SocketAddr, request: &Request<'_>) {
    // By hand rather than with `write!`: this runs for every hop of every invocation.
    head.extend_from_slice(request.method.as_bytes());
    head.extend_from_slice(b" ");
    head.extend_from_slice(request.path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    head.extend_from_slice(b".");
                }
                push_decimal(head, octet.into());
            }
            head.extend_from_slice(b":");
            push_decimal(head, v4.port().into());
        }
        SocketAddr::V6(v6) => {
            use std::fmt::Write as _;
            // Writing into a BytesMut cannot fail.
            let _ = write!(head, "{v6}");
        }
    }
    head.extend_from_slice(b"\r\ncontent-length: ");
    push_decimal(head, request.body.len());
    head.extend_from_slice(b"\r\n");
    for (name, value) in request.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
}

/// How an answer's body ends.
enum Framing {
    Length(usize),
    Chunked,
    /// Neither length nor chunked: the body runs to the end of the connection.
    UntilClose,
}

struct Head {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    kept: Vec<(&'static str, HeaderValue)>,
    framing: Framing,
    keep_alive: bool,
}

/// Reads one answer (skipping `1xx` interim ones); also whether the connection can be reused.
async fn read_answer(stream: &mut TcpStream, keep: &'static [&'static str]) -> Result<(Answer, bool), ClientError> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let head = read_final_head(stream, &mut buf, keep).await?;
    let no_body = head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED;
    let (body, reusable) = match head.framing {
        _ if no_body => (Bytes::new(), head.keep_alive),
        Framing::Length(length) => (read_exact(stream, &mut buf, length).await?, head.keep_alive),
        Framing::Chunked => (read_chunked(stream, &mut buf).await?, head.keep_alive),
        Framing::UntilClose => (read_to_end(stream, &mut buf).await?, false),
    };
    // Bytes beyond the answer mean the container misframed it; do not reuse that connection.
    let reusable = reusable && buf.is_empty();
    let answer = Answer { status: head.status, content_type: head.content_type, kept: head.kept, body };
    Ok((answer, reusable))
}

/// The head of the final answer, skipping `1xx` interim ones.
async fn read_final_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    keep: &'static [&'static str],
) -> Result<Head, ClientError> {
    loop {
        let head = read_head(stream, buf, keep).await?;
        if !head.status.is_informational() {
            return Ok(head);
        }
    }
}

/// An answer whose body is still to be read, part by part ([`Http1Pool::send_streaming`]).
#[derive(Debug)]
pub struct StreamingAnswer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub kept: Vec<(&'static str, HeaderValue)>,
    pub body: BodyReader,
}

impl StreamingAnswer {
    /// The kept header named `name` (the last, if it came more than once), taken out of the answer.
    pub fn take(&mut self, name: &str) -> Option<HeaderValue> {
        let index = self.kept.iter().rposition(|(kept, _)| *kept == name)?;
        Some(self.kept.swap_remove(index).1)
    }
}

/// Where a [`BodyReader`] is in the body.
#[derive(Debug, Clone, Copy)]
enum BodyState {
    /// Bytes of a length-framed body still to come.
    Length(usize),
    /// A chunk-size line comes next.
    ChunkSize,
    /// Bytes of the current chunk still to come (then its CRLF).
    ChunkData(usize),
    UntilClose,
    Done,
}

/// A chunk no larger than this is passed on whole once it has all come, so that each chunk a
/// container writes (a token, say) becomes one part; a larger one is passed on as it arrives.
const WHOLE_CHUNK: usize = 64 * 1024;

/// The body of a [`StreamingAnswer`], read as it arrives.
pub struct BodyReader {
    /// `None` once the body is done (the connection is back in the pool or closed).
    stream: Option<TcpStream>,
    buf: BytesMut,
    state: BodyState,
    keep_alive: bool,
    addr: SocketAddr,
    pool: Arc<Http1Pool>,
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader").field("state", &self.state).finish_non_exhaustive()
    }
}

impl BodyReader {
    /// The next bytes of the body as they arrive, `Ok(None)` at its end. An error (the
    /// connection closed early, misframed chunks) ends the body; the connection is not reused.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ClientError> {
        let result = self.advance().await;
        if result.is_err() {
            self.state = BodyState::Done;
            self.stream = None;
        }
        result
    }

    async fn advance(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let Some(stream) = self.stream.as_mut() else { return Ok(None) };
            let buf = &mut self.buf;
            match self.state {
                BodyState::Done => return Ok(None),
                BodyState::Length(0) => {
                    self.finish(true);
                    return Ok(None);
                }
                BodyState::Length(remaining) => {
                    if buf.is_empty() {
                        fill(stream, buf).await?;
                    }
                    let part = buf.split_to(buf.len().min(remaining)).freeze();
                    self.state = BodyState::Length(remaining - part.len());
                    return Ok(Some(part));
                }
                BodyState::UntilClose => {
                    if buf.is_empty() {
                        match fill(stream, buf).await {
                            Ok(()) => {}
                            Err(ClientError::Closed) => {
                                self.finish(false);
                                return Ok(None);
                            }
                            Err(err) => return Err(err),
                        }
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                BodyState::ChunkSize => {
                    let line = read_line(stream, buf).await?;
                    let size = chunk_size(&line)?;
                    if size == 0 {
                        // Trailers, if any, up to the empty line.
                        while !read_line(stream, buf).await?.is_empty() {}
                        self.finish(true);
                        return Ok(None);
                    }
                    self.state = BodyState::ChunkData(size);
                }
                BodyState::ChunkData(0) => {
                    if !read_line(stream, buf).await?.is_empty() {
                        return Err(ClientError::Malformed("a chunk longer than its size".into()));
                    }
                    self.state = BodyState::ChunkSize;
                }
                BodyState::ChunkData(remaining) => {
                    let wanted = if remaining <= WHOLE_CHUNK { remaining } else { 1 };
                    while buf.len() < wanted {
                        if buf.capacity() == buf.len() {
                            buf.reserve((wanted - buf.len()).min(RESERVE_STEP));
                        }
                        fill(stream, buf).await?;
                    }
                    let part = buf.split_to(buf.len().min(remaining)).freeze();
                    self.state = BodyState::ChunkData(remaining - part.len());
                    return Ok(Some(part));
                }
            }
        }
    }

    /// The body is done: the connection goes back to the pool when it can carry another answer.
    fn finish(&mut self, framed: bool) {
        self.state = BodyState::Done;
        if let Some(stream) = self.stream.take()
            && framed
            && self.keep_alive
            // Bytes beyond the answer mean the container misframed it.
            && self.buf.is_empty()
        {
            self.pool.local(|pool| pool.checkin(self.addr, stream));
        }
    }
}

/// The size on a chunk-size line (extensions ignored).
fn chunk_size(line: &[u8]) -> Result<usize, ClientError> {
    let size = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    std::str::from_utf8(size)
        .ok()
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| ClientError::Malformed("an invalid chunk size".into()))
}

async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<(), ClientError> {
    if buf.capacity() == buf.len() {
        buf.reserve(8 * 1024);
    }
    match stream.read_buf(buf).await? {
        0 => Err(ClientError::Closed),
        _ => Ok(()),
    }
}

async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    keep: &'static [&'static str],
) -> Result<Head, ClientError> {
    loop {
        if !buf.is_empty()
            && let Some((head, length)) = parse_head(buf, keep)?
        {
            buf.advance(length);
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(ClientError::Malformed(format!("the headers are longer than {MAX_HEAD} bytes")));
        }
        fill(stream, buf).await?;
    }
}

/// The head at the start of `buf` and its length, or `None` while it is incomplete.
fn parse_head(buf: &[u8], keep: &'static [&'static str]) -> Result<Option<(Head, usize)>, ClientError> {
    // Uninitialised: httparse writes what it finds, and zeroing 100 headers for every answer
    // costs more than parsing the few a container sends.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut headers);
    let length = match parsed.map_err(|err| ClientError::Malformed(err.to_string()))? {
        httparse::Status::Complete(length) => length,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| ClientError::Malformed("no valid status code".into()))?;
    let http11 = response.version == Some(1);
    let (mut content_length, mut chunked, mut close, mut keep_alive) = (None, false, !http11, false);
    let (mut content_type, mut kept) = (None, Vec::new());
    for header in response.headers.iter() {
        let value = || HeaderValue::from_bytes(header.value).ok();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| ClientError::Malformed("an invalid Content-Length".into()))?;
            if content_length.is_some_and(|earlier| earlier != parsed) {
                return Err(ClientError::Malformed("two different Content-Length headers".into()));
            }
            content_length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding when present (RFC 9112 §6.1).
            chunked = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("content-type") {
            content_type = value();
        } else if let Some(name) = keep.iter().find(|name| header.name.eq_ignore_ascii_case(name))
            && let Some(value) = value()
        {
            kept.push((*name, value));
        }
    }
    // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
    let framing = match (chunked, content_length) {
        (true, _) => Framing::Chunked,
        (false, Some(length)) => Framing::Length(length),
        (false, None) => Framing::UntilClose,
    };
    let keep_alive = if http11 { !close } else { keep_alive && !close };
    Ok(Some((Head { status, content_type, kept, framing, keep_alive }, length)))
}

/// The next `length` bytes, from `buf` and then from `stream`.
async fn read_exact(stream: &mut TcpStream, buf: &mut BytesMut, length: usize) -> Result<Bytes, ClientError> {
    while buf.len() < length {
        let missing = length - buf.len();
        if buf.capacity() == buf.len() {
            buf.reserve(missing.min(RESERVE_STEP));
        }
        fill(stream, buf).await?;
    }
    Ok(buf.split_to(length).freeze())
}

async fn read_to_end(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, ClientError> {
    loop {
        match fill(stream, buf).await {
            Ok(()) => {}
            Err(ClientError::Closed) => return Ok(buf.split().freeze()),
            Err(err) => return Err(err),
        }
    }
}

/// One line of chunked framing, without its CRLF.
async fn read_line(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<BytesMut, ClientError> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(end);
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > MAX_CHUNK_LINE {
            return Err(ClientError::Malformed("a chunk size line is too long".into()));
        }
        fill(stream, buf).await?;
    }
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, ClientError> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size = chunk_size(&line)?;
        if size == 0 {
            // Trailers, if any, up to the empty line.
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body.freeze());
        }
        let chunk = read_exact(stream, buf, size).await?;
        body.extend_from_slice(&chunk);
        if read_line(stream, buf).await?.is_empty() {
            continue;
        }
        return Err(ClientError::Malformed("a chunk longer than its size".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[test]
    fn the_request_head_names_host_length_and_headers() {
        let json = HeaderValue::from_static("application/json");
        let headers = [("content-type", &json)];
        let request = Request {
            method: "POST",
            path: "/invocations",
            headers: &headers,
            keep: &[],
            body: Bytes::from(vec![b'x'; 1200]),
        };
        let mut head = BytesMut::new();
        write_head(&mut head, "127.0.0.1:8080".parse().unwrap(), &request);
        assert_eq!(
            &head[..],
            b"POST /invocations HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-length: 1200\r\ncontent-type: application/json\r\n\r\n"
        );
        let ping = Request { method: "GET", path: "/ping", headers: &[], keep: &[], body: Bytes::new() };
        let mut head = BytesMut::new();
        write_head(&mut head, "[::1]:9".parse().unwrap(), &ping);
        assert_eq!(&head[..], b"GET /ping HTTP/1.1\r\nhost: [::1]:9\r\ncontent-length: 0\r\n\r\n");
    }

    /// A server that answers the requests on each connection with the next scripted bytes,
    /// closing the connection after `per_connection` answers; returns its address and the
    /// requests it read, in order.
    async fn scripted(
        answers: Vec<&'static [u8]>,
        per_connection: usize,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter();
            'connections: loop {
                let Ok((mut socket, _)) = listener.accept().await else { break };
                for _ in 0..per_connection {
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1024];
                    // Requests in these tests carry their body in the same segment as the head.
                    loop {
                        let n = socket.read(&mut byte).await.unwrap();
                        if n == 0 {
                            continue 'connections;
                        }
                        request.extend_from_slice(&byte[..n]);
                        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                            let text = String::from_utf8_lossy(&request).to_lowercase();
                            let length = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    seen.push(String::from_utf8(request).unwrap());
                    let Some(answer) = answers.next() else { break 'connections };
                    socket.write_all(answer).await.unwrap();
                }
                if answers.len() == 0 {
                    break;
                }
            }
            seen
        });
        (addr, task)
    }

    fn post(body: &'static str) -> Request<'static> {
        Request {
            method: "POST",
            path: "/invocations",
            headers: &[],
            keep: &[],
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    async fn send(pool: &Http1Pool, addr: SocketAddr, request: Request<'_>) -> Result<Answer, ClientError> {
        pool.send(addr, request).await
    }

    #[tokio::test]
    async fn a_length_framed_answer_keeps_its_headers_and_the_connection_is_reused() {
        let (addr, server) = scripted(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nX-Kept: a=1\r\nX-Other: b\r\nContent-Length: 3\r\n\r\n1,2",
                b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            ],
            2,
        )
        .await;
        let pool = Http1Pool::default();
        let ct = HeaderValue::from_static("text/csv");
        let headers = [("content-type", &ct)];
        let mut first =
            send(&pool, addr, Request { headers: &headers, keep: &["x-kept"], ..post("a,b") }).await.unwrap();
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.body, "1,2");
        assert_eq!(first.content_type.as_ref().unwrap(), "text/csv");
        assert_eq!(first.take("x-kept").unwrap(), "a=1");
        assert!(first.kept.is_empty(), "only the headers asked for are kept: {:?}", first.kept);
        let second = send(&pool, addr, post("")).await.unwrap();
        assert_eq!(second.status, StatusCode::CREATED);
        assert!(second.body.is_empty());
        // Both requests arrived on the one connection the server accepted (it serves 2 per connection).
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("POST /invocations HTTP/1.1\r\n"), "{}", seen[0]);
        assert!(seen[0].contains(&format!("host: {addr}\r\n")), "{}", seen[0]);
        assert!(seen[0].contains("content-type: text/csv\r\n"), "{}", seen[0]);
        assert!(seen[0].ends_with("content-length: 3\r\ncontent-type: text/csv\r\n\r\na,b"), "{}", seen[0]);
    }

    #[test]
    fn on_a_lane_connections_are_kept_in_the_lane_s_own_pool() {
        std::thread::spawn(|| {
            serve_from_lane_pool();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                // Both answers on one connection: the second request must reuse the first's.
                let (addr, server) = scripted(vec![OK, OK], 2).await;
                let shared = Http1Pool::default();
                assert_eq!(send(&shared, addr, post("a")).await.unwrap().body, "ok");
                let idle = |pool: &Http1Pool| pool.idle.lock().unwrap().by_addr.get(&addr).map_or(0, Vec::len);
                assert_eq!(idle(&shared), 0, "the shared pool got the lane's connection");
                assert_eq!(LANE_POOL.with(|lane| idle(lane.get().unwrap())), 1);
                assert_eq!(send(&shared, addr, post("b")).await.unwrap().body, "ok");
                assert_eq!(server.await.unwrap().len(), 2);
            });
        })
        .join()
        .unwrap();
    }

    #[tokio::test]
    async fn a_chunked_answer_is_decoded_with_extensions_and_trailers() {
        let (addr, server) = scripted(
            vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"],
            1,
        )
        .await;
        let answer = send(&Http1Pool::default(), addr, post("q")).await.unwrap();
        assert_eq!(answer.body, "Wikipedia");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_answer_without_length_runs_to_the_close_and_is_not_reused() {
        let (addr, server) = scripted(
            vec![
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ],
            1,
        )
        .await;
        let pool = Http1Pool::default();
        assert_eq!(send(&pool, addr, post("")).await.unwrap().body, "until the end");
        assert_eq!(send(&pool, addr, post("")).await.unwrap().body, "ok");
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_connection_the_container_closed_while_idle_is_not_reused() {
        // One answer per connection, closed right after it, but the answer claims keep-alive.
        let (addr, server) = scripted(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"],
            1,
        )
        .await;
        let pool = Http1Pool::default();
        assert_eq!(send(&pool, addr, post("")).await.unwrap().body, "a");
        // Let the close reach this side before the next checkout.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(send(&pool, addr, post("")).await.unwrap().body, "b");
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn interim_answers_are_skipped() {
        let (addr, server) =
            scripted(vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"], 1).await;
        let answer = send(&Http1Pool::default(), addr, post("x")).await.unwrap();
        assert_eq!((answer.status, answer.body), (StatusCode::OK, Bytes::from_static(b"done")));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn broken_answers_are_errors_not_hangs() {
        let (addr, server) = scripted(
            vec![
                b"NOT HTTP AT ALL\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            ],
            1,
        )
        .await;
        let pool = Http1Pool::default();
        assert!(matches!(send(&pool, addr, post("")).await, Err(ClientError::Malformed(_))));
        assert!(matches!(send(&pool, addr, post("")).await, Err(ClientError::Closed)));
        assert!(matches!(send(&pool, addr, post("")).await, Err(ClientError::Malformed(_))));
        server.await.unwrap();
    }

    /// Every part of a streamed body, or the error that ended it.
    async fn parts(pool: &Arc<Http1Pool>, addr: SocketAddr) -> (StatusCode, Vec<Bytes>, Option<ClientError>) {
        let mut answer = pool.send_streaming(addr, post("q")).await.unwrap();
        let mut parts = Vec::new();
        loop {
            match answer.body.next().await {
                Ok(Some(part)) => parts.push(part),
                Ok(None) => return (answer.status, parts, None),
                Err(err) => return (answer.status, parts, Some(err)),
            }
        }
    }

    fn idle(pool: &Http1Pool, addr: SocketAddr) -> usize {
        pool.idle.lock().unwrap().by_addr.get(&addr).map_or(0, Vec::len)
    }

    #[tokio::test]
    async fn a_streamed_chunked_answer_comes_chunk_by_chunk_and_its_connection_is_reused() {
        const CHUNKED: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
        let (addr, server) = scripted(vec![CHUNKED, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], 2).await;
        let pool = Arc::new(Http1Pool::default());
        let (status, got, err) = parts(&pool, addr).await;
        assert_eq!(status, StatusCode::OK);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, [&b"hello"[..], b" ", b"world"]);
        assert_eq!(idle(&pool, addr), 1, "a wholly read body gives its connection back");
        assert_eq!(pool.send(addr, post("")).await.unwrap().body, "ok");
        assert_eq!(server.await.unwrap().len(), 2, "both answers came on one connection");
    }

    #[tokio::test]
    async fn a_streamed_length_framed_answer_ends_at_its_length() {
        let (addr, server) = scripted(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"], 1).await;
        let pool = Arc::new(Http1Pool::default());
        let (_, got, err) = parts(&pool, addr).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.concat(), b"plain");
        assert_eq!(idle(&pool, addr), 1);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_streamed_answer_without_length_runs_to_the_close_and_is_not_reused() {
        let (addr, server) = scripted(vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"], 1).await;
        let pool = Arc::new(Http1Pool::default());
        let (_, got, err) = parts(&pool, addr).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.concat(), b"to the end");
        assert_eq!(idle(&pool, addr), 0);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_stream_cut_short_is_an_error_after_the_parts_that_came() {
        let (addr, server) = scripted(
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\none\r\n9\r\ntw",
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nshort",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            ],
            1,
        )
        .await;
        let pool = Arc::new(Http1Pool::default());
        let (_, got, err) = parts(&pool, addr).await;
        assert_eq!(got, [&b"one"[..]]);
        assert!(matches!(err, Some(ClientError::Closed)), "{err:?}");
        let (_, got, err) = parts(&pool, addr).await;
        assert_eq!(got.concat(), b"short");
        assert!(matches!(err, Some(ClientError::Closed)), "{err:?}");
        let (_, got, err) = parts(&pool, addr).await;
        assert_eq!(got, [&b"ab"[..]]);
        assert!(matches!(err, Some(ClientError::Malformed(_))), "{err:?}");
        assert_eq!(idle(&pool, addr), 0);
        server.await.unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever the chunk sizes and however the bytes are cut into writes, the parts of a
        /// chunked answer are its body, and the connection goes back to the pool.
        #[test]
        fn streamed_chunks_reassemble_to_the_body_whatever_the_segmentation(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            chunk in 1usize..700,
            segment in 1usize..300,
        ) {
            let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for piece in body.chunks(chunk) {
                answer.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                answer.extend_from_slice(piece);
                answer.extend_from_slice(b"\r\n");
            }
            answer.extend_from_slice(b"0\r\n\r\n");
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (got, idle) = runtime.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    let (mut socket, _) = listener.accept().await.unwrap();
                    let mut request = [0u8; 1024];
                    let _ = socket.read(&mut request).await.unwrap();
                    for piece in answer.chunks(segment) {
                        socket.write_all(piece).await.unwrap();
                        socket.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    // Held open until the client is done, as a keep-alive server would.
                    let _ = socket.read(&mut request).await;
                });
                let pool = Arc::new(Http1Pool::default());
                let (_, parts, err) = parts(&pool, addr).await;
                assert!(err.is_none(), "{err:?}");
                let idle = idle(&pool, addr);
                drop(pool);
                server.await.unwrap();
                (parts.concat(), idle)
            });
            proptest::prop_assert_eq!(got, body);
            proptest::prop_assert_eq!(idle, 1);
        }
    }

    #[tokio::test]
    async fn nobody_listening_is_an_io_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(send(&Http1Pool::default(), addr, post("")).await, Err(ClientError::Io(_))));
    }
}
