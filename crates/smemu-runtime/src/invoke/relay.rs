//! How smemu calls containers at the addresses the backend reports: `/ping`,
//! `/execution-parameters` and `/invocations`, one at a time or through a pipeline, over one pool
//! of keep-alive connections (the transport's client, [`Http1Pool`]), bodies passed on as `Bytes`
//! without copies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::CUSTOM_ATTRIBUTES;
use smemu_http1::{Answer, BodyReader, Http1Pool, Request, StreamingAnswer};
use smemu_telemetry::metrics::Latency;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the container: {0}")]
    Unreachable(String),
}

#[derive(Debug, Clone, Default)]
pub struct Relay {
    pool: Arc<Http1Pool>,
}

/// One container of a pipeline: how errors name it, and where it listens.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    pub who: &'a str,
    pub addr: SocketAddr,
    /// Where the time of this container's exchange goes (`ContainerLatency`), if anywhere.
    pub latency: Option<&'a Latency>,
}

/// A request to send through a pipeline.
pub struct PipelineRequest<'a> {
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    /// Sent to the last container only: intermediate containers produce for the next one.
    pub accept: Option<&'a HeaderValue>,
    pub custom_attributes: Option<&'a HeaderValue>,
    pub extra_headers: &'a [(&'static str, HeaderValue)],
    /// The most an intermediate container may pass on; `None`: no limit.
    pub max_intermediate: Option<usize>,
    /// How long the whole pipeline may take to answer.
    pub timeout: Duration,
}

/// What the last container of a pipeline answered (always a 2xx), with the headers the relay
/// passes on.
#[derive(Debug)]
pub struct PipelineAnswer {
    /// The last `Content-Type` a container gave, or the caller's.
    pub content_type: Option<HeaderValue>,
    /// [`CUSTOM_ATTRIBUTES`] of the last container's answer.
    pub custom_attributes: Option<HeaderValue>,
    pub body: Bytes,
}

/// Why a pipeline produced no answer; containers are named as in the hops.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("container {who} did not answer within {timeout:?}")]
    Timeout { who: String, timeout: Duration },
    #[error("container {who} could not be reached: {reason}")]
    Unreachable { who: String, reason: String },
    #[error("container {who} answered {status}")]
    Status { who: String, status: u16, body: Bytes },
    #[error("container {from} answered {size} bytes, more than the {max} the request to {to} may carry")]
    TooLarge { from: String, to: String, size: usize, max: usize },
}

impl PipelineError {
    /// The container that failed.
    pub fn who(&self) -> &str {
        match self {
            PipelineError::Timeout { who, .. }
            | PipelineError::Unreachable { who, .. }
            | PipelineError::Status { who, .. } => who,
            PipelineError::TooLarge { from, .. } => from,
        }
    }
}

/// One request to one container.
struct ContainerRequest<'a> {
    pub addr: SocketAddr,
    pub body: Bytes,
    pub content_type: Option<&'a HeaderValue>,
    pub accept: Option<&'a HeaderValue>,
    pub custom_attributes: Option<&'a HeaderValue>,
    pub extra_headers: &'a [(&'static str, HeaderValue)],
}

impl<'a> ContainerRequest<'a> {
    fn headers(&self) -> Vec<(&'a str, &'a HeaderValue)> {
        let mut headers: Vec<(&str, &HeaderValue)> = Vec::with_capacity(3 + self.extra_headers.len());
        headers.extend(self.content_type.map(|value| ("content-type", value)));
        headers.extend(self.accept.map(|value| ("accept", value)));
        headers.extend(self.custom_attributes.map(|value| (CUSTOM_ATTRIBUTES, value)));
        headers.extend(self.extra_headers.iter().map(|(name, value)| (*name, value)));
        headers
    }

    fn request<'h>(self, headers: &'h [(&'h str, &'h HeaderValue)]) -> Request<'h> {
        Request { method: "POST", path: "/invocations", headers, keep: &[CUSTOM_ATTRIBUTES], body: self.body }
    }
}

/// The most of a streaming container's error answer kept for `ModelError` (the rest is dropped).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What the last container of a streaming pipeline began to answer (a 2xx): the headers the
/// relay passes on and its body, still to be read.
#[derive(Debug)]
pub struct PipelineStream {
    /// The last `Content-Type` a container gave, or the caller's.
    pub content_type: Option<HeaderValue>,
    /// [`CUSTOM_ATTRIBUTES`] of the last container's answer.
    pub custom_attributes: Option<HeaderValue>,
    pub body: BodyReader,
    /// When the request to the last container was sent (its `ContainerLatency` runs from here).
    pub last_started: Instant,
}

/// Whole microseconds, saturating.
pub fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl Relay {
    /// One exchange with the container at `addr`, within `timeout` from connecting to the last
    /// byte of the answer.
    async fn exchange(&self, addr: SocketAddr, request: Request<'_>, timeout: Duration) -> Result<Answer, RelayError> {
        let exchange = self.pool.send(addr, request);
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer.map_err(|err| RelayError::Unreachable(err.to_string())),
            Err(_) => Err(RelayError::Timeout(timeout)),
        }
    }

    /// `POST /invocations` to one container, without a time limit of its own: the pipeline's
    /// deadline covers it.
    async fn invocations(&self, req: ContainerRequest<'_>) -> Result<Answer, RelayError> {
        let (addr, headers) = (req.addr, req.headers());
        let request = req.request(&headers);
        self.pool.send(addr, request).await.map_err(|err| RelayError::Unreachable(err.to_string()))
    }

    /// `POST /invocations` to one container, its answer's body left to read as it arrives.
    async fn invocations_streaming(&self, req: ContainerRequest<'_>) -> Result<StreamingAnswer, RelayError> {
        let (addr, headers) = (req.addr, req.headers());
        let request = req.request(&headers);
        self.pool.send_streaming(addr, request).await.map_err(|err| RelayError::Unreachable(err.to_string()))
    }

    /// Serial mode as [`Relay::through`], except that the last container's answer is not read:
    /// its head comes back with a reader of its body, which the caller forwards as it arrives
    /// (InvokeEndpointWithResponseStream). Earlier containers are called as by `through`, their
    /// whole answers passed on. `req.timeout` bounds everything up to the last container's head;
    /// the caller bounds the rest.
    pub async fn through_streaming(
        &self,
        hops: &[Hop<'_>],
        req: PipelineRequest<'_>,
    ) -> Result<PipelineStream, PipelineError> {
        let started = Instant::now();
        let Some((last, earlier)) = hops.split_last() else {
            return Err(PipelineError::Unreachable { who: "primary".into(), reason: "no container to call".into() });
        };
        let (mut body, mut content_type) = (req.body, req.content_type);
        if let Some(before) = earlier.last() {
            let passed = self
                .through(
                    earlier,
                    PipelineRequest {
                        body,
                        content_type,
                        accept: None,
                        custom_attributes: req.custom_attributes,
                        extra_headers: req.extra_headers,
                        max_intermediate: req.max_intermediate,
                        timeout: req.timeout,
                    },
                )
                .await?;
            if let Some(max) = req.max_intermediate
                && passed.body.len() > max
            {
                return Err(PipelineError::TooLarge {
                    from: before.who.to_owned(),
                    to: last.who.to_owned(),
                    size: passed.body.len(),
                    max,
                });
            }
            (body, content_type) = (passed.body, passed.content_type);
        }
        let remaining = req.timeout.saturating_sub(started.elapsed());
        let last_started = Instant::now();
        let exchange = self.invocations_streaming(ContainerRequest {
            addr: last.addr,
            body,
            content_type: content_type.as_ref(),
            accept: req.accept,
            custom_attributes: req.custom_attributes,
            extra_headers: req.extra_headers,
        });
        // The rest of the call's one deadline, as in `through`.
        let deadline = smemu_http1::timers::sleep(remaining);
        tokio::pin!(deadline);
        let answer = tokio::select! {
            biased;
            answer = exchange => answer,
            () = &mut deadline => Err(RelayError::Timeout(req.timeout)),
        };
        let mut answer = match answer {
            Ok(answer) => answer,
            Err(RelayError::Unreachable(reason)) => {
                return Err(PipelineError::Unreachable { who: last.who.to_owned(), reason });
            }
            Err(RelayError::Timeout(timeout)) => {
                return Err(PipelineError::Timeout { who: last.who.to_owned(), timeout });
            }
        };
        if !answer.status.is_success() {
            // An error answer is read whole (within the deadline and a bound) for ModelError.
            let mut error = Vec::new();
            let read = async {
                while let Ok(Some(part)) = answer.body.next().await {
                    error.extend_from_slice(&part[..part.len().min(MAX_ERROR_BODY - error.len())]);
                    if error.len() >= MAX_ERROR_BODY {
                        break;
                    }
                }
            };
            tokio::select! {
                biased;
                () = read => {}
                () = &mut deadline => {}
            }
            return Err(PipelineError::Status {
                who: last.who.to_owned(),
                status: answer.status.as_u16(),
                body: Bytes::from(error),
            });
        }
        let custom_attributes = answer.take(CUSTOM_ATTRIBUTES);
        Ok(PipelineStream {
            content_type: answer.content_type.or(content_type),
            custom_attributes,
            body: answer.body,
            last_started,
        })
    }

    /// Serial mode (SageMaker's inference pipelines): the first hop gets the request, each 2xx
    /// answer becomes the next hop's request with its content type, the last answer comes back.
    /// See <https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-real-time.html>.
    pub async fn through(&self, hops: &[Hop<'_>], req: PipelineRequest<'_>) -> Result<PipelineAnswer, PipelineError> {
        let mut body = req.body;
        let mut content_type = req.content_type;
        let mut custom_attributes = None;
        // One deadline for the whole call, as the real runtime answers within 60 s whatever the
        // pipeline's length; the error names the container it was waiting for.
        let deadline = smemu_http1::timers::sleep(req.timeout);
        tokio::pin!(deadline);
        for (position, hop) in hops.iter().enumerate() {
            let next = hops.get(position + 1);
            let exchange = self.invocations(ContainerRequest {
                addr: hop.addr,
                body,
                content_type: content_type.as_ref(),
                accept: if next.is_none() { req.accept } else { None },
                custom_attributes: req.custom_attributes,
                extra_headers: req.extra_headers,
            });
            let started = hop.latency.map(|_| Instant::now());
            let reply = tokio::select! {
                biased;
                reply = exchange => reply,
                () = &mut deadline => Err(RelayError::Timeout(req.timeout)),
            };
            // ContainerLatency: "the time elapsed for sending a request and fetching the response
            // from the model container", per container of a pipeline
            // (https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-logs-metrics.html).
            if let (Some(latency), Some(started), Ok(_)) = (hop.latency, started, &reply) {
                latency.record(micros(started.elapsed()));
            }
            let mut reply = reply.map_err(|err| match err {
                RelayError::Timeout(timeout) => PipelineError::Timeout { who: hop.who.to_owned(), timeout },
                RelayError::Unreachable(reason) => PipelineError::Unreachable { who: hop.who.to_owned(), reason },
            })?;
            if !reply.status.is_success() {
                return Err(PipelineError::Status {
                    who: hop.who.to_owned(),
                    status: reply.status.as_u16(),
                    body: reply.body,
                });
            }
            if let (Some(next), Some(max)) = (next, req.max_intermediate)
                && reply.body.len() > max
            {
                return Err(PipelineError::TooLarge {
                    from: hop.who.to_owned(),
                    to: next.who.to_owned(),
                    size: reply.body.len(),
                    max,
                });
            }
            custom_attributes = reply.take(CUSTOM_ATTRIBUTES);
            body = reply.body;
            content_type = reply.content_type.or(content_type);
        }
        Ok(PipelineAnswer { content_type, custom_attributes, body })
    }

    /// `GET /execution-parameters` (batch transform): the body of a 200 answer; `None` when the
    /// container has none to give (any other status: the endpoint is optional).
    pub async fn execution_parameters(&self, addr: SocketAddr, timeout: Duration) -> Result<Option<Bytes>, RelayError> {
        let request =
            Request { method: "GET", path: "/execution-parameters", headers: &[], keep: &[], body: Bytes::new() };
        let answer = self.exchange(addr, request, timeout).await?;
        Ok((answer.status == StatusCode::OK).then_some(answer.body))
    }

    /// `GET /ping`: whether the container answers 200 within `timeout`.
    pub async fn ping(&self, addr: SocketAddr, timeout: Duration) -> bool {
        let request = Request { method: "GET", path: "/ping", headers: &[], keep: &[], body: Bytes::new() };
        matches!(self.exchange(addr, request, timeout).await, Ok(answer) if answer.status == StatusCode::OK)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A container that answers each request on its connections with `200` and its name, after
    /// `delay`.
    async fn container(name: &'static str, delay: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        // The client sends head and body in one write; the body here is short.
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&chunk[..n]);
                        if request.windows(4).any(|w| w == b"\r\n\r\n") {
                            request.clear();
                            tokio::time::sleep(delay).await;
                            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}", name.len());
                            socket.write_all(answer.as_bytes()).await.unwrap();
                        }
                    }
                });
            }
        });
        addr
    }

    /// A container that answers each request with `status` and a chunked body: `got:`, then the
    /// request's body, each its own chunk.
    async fn streamer(status: u16) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 1024];
                    // The client sends head and body in one write; the body here is short.
                    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
                        request.extend_from_slice(&chunk[..n]);
                        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let body = String::from_utf8_lossy(&request[end + 4..]).into_owned();
                        request.clear();
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: text/x\r\ntransfer-encoding: chunked\r\n\r\n4\r\ngot:\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                            body.len()
                        );
                        socket.write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_streaming_pipeline_passes_earlier_answers_whole_and_the_last_one_chunk_by_chunk() {
        let (a, last) = (container("a", Duration::ZERO).await, streamer(200).await);
        let hops = [Hop { who: "first", addr: a, latency: None }, Hop { who: "last", addr: last, latency: None }];
        let mut stream = Relay::default().through_streaming(&hops, request(Duration::from_secs(5))).await.unwrap();
        assert_eq!(stream.content_type.as_ref().unwrap(), "text/x");
        let mut parts = Vec::new();
        while let Some(part) = stream.body.next().await.unwrap() {
            parts.push(part);
        }
        assert_eq!(parts, [&b"got:"[..], b"a"], "the first container's answer went to the last");

        let failing = [
            Hop { who: "first", addr: a, latency: None },
            Hop { who: "last", addr: streamer(503).await, latency: None },
        ];
        match Relay::default().through_streaming(&failing, request(Duration::from_secs(5))).await {
            Err(PipelineError::Status { who, status, body }) => {
                assert_eq!((who.as_str(), status, &body[..]), ("last", 503, &b"got:a"[..]));
            }
            other => panic!("expected the last container's error, got {other:?}"),
        }
    }

    fn request(timeout: Duration) -> PipelineRequest<'static> {
        PipelineRequest {
            body: Bytes::from_static(b"x"),
            content_type: None,
            accept: None,
            custom_attributes: None,
            extra_headers: &[],
            max_intermediate: None,
            timeout,
        }
    }

    #[tokio::test]
    async fn the_timeout_bounds_the_whole_pipeline_and_names_the_container_it_waited_for() {
        let (a, b) =
            (container("a", Duration::from_millis(300)).await, container("b", Duration::from_millis(300)).await);
        let hops = [Hop { who: "first", addr: a, latency: None }, Hop { who: "second", addr: b, latency: None }];
        let relay = Relay::default();
        // Each container alone is within the limit; the two together are not.
        let answer = relay.through(&hops[..1], request(Duration::from_millis(500))).await.unwrap();
        assert_eq!(&answer.body[..], b"a");
        match relay.through(&hops, request(Duration::from_millis(500))).await {
            Err(PipelineError::Timeout { who, .. }) => assert_eq!(who, "second"),
            other => panic!("expected a timeout at the second container, got {other:?}"),
        }
        let answer = relay.through(&hops, request(Duration::from_millis(700))).await.unwrap();
        assert_eq!(&answer.body[..], b"b");
    }
}
