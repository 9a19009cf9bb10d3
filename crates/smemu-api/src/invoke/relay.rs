//! The HTTP client smemu uses to reach containers on their loopback ports: one pooled keep-alive
//! client for all of them, bodies passed on as `Bytes` without copies.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub(crate) const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

/// What a container answered.
#[derive(Debug)]
pub(crate) struct ContainerReply {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub custom_attributes: Option<HeaderValue>,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the container: {0}")]
    Unreachable(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Relay {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Relay {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // SageMaker gives a container 250 ms to accept a connection; a little more on a busy laptop.
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(connector);
        Relay { client }
    }
}

/// One container of a pipeline: how errors name it, and where it listens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hop<'a> {
    pub who: &'a str,
    pub addr: SocketAddr,
}

/// A request to send through a pipeline.
pub(crate) struct PipelineRequest<'a> {
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    /// Sent to the last container only: intermediate containers produce for the next one.
    pub accept: Option<&'a HeaderValue>,
    pub custom_attributes: Option<&'a HeaderValue>,
    pub extra_headers: &'a [(&'static str, HeaderValue)],
    /// The most an intermediate container may pass on; `None`: no limit.
    pub max_intermediate: Option<usize>,
    /// How long each container may take.
    pub timeout: Duration,
}

/// Why a pipeline produced no answer; containers are named as in the hops.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
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
pub(crate) struct ContainerRequest<'a> {
    pub addr: SocketAddr,
    pub body: Bytes,
    pub content_type: Option<&'a HeaderValue>,
    pub accept: Option<&'a HeaderValue>,
    pub custom_attributes: Option<&'a HeaderValue>,
    pub extra_headers: &'a [(&'static str, HeaderValue)],
}

impl Relay {
    pub async fn invocations(
        &self,
        req: ContainerRequest<'_>,
        timeout: Duration,
    ) -> Result<ContainerReply, RelayError> {
        let mut builder = Request::post(format!("http://{}/invocations", req.addr));
        if let Some(value) = req.content_type {
            builder = builder.header(header::CONTENT_TYPE, value);
        }
        if let Some(value) = req.accept {
            builder = builder.header(header::ACCEPT, value);
        }
        if let Some(value) = req.custom_attributes {
            builder = builder.header(CUSTOM_ATTRIBUTES, value);
        }
        for (name, value) in req.extra_headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(Full::new(req.body)).map_err(|e| RelayError::Unreachable(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| RelayError::Unreachable(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| RelayError::Unreachable(e.to_string()))?.to_bytes();
            Ok(ContainerReply {
                status: parts.status,
                content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
                custom_attributes: parts.headers.get(CUSTOM_ATTRIBUTES).cloned(),
                body,
            })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| RelayError::Timeout(timeout))?
    }

    /// Serial mode (SageMaker's inference pipelines): the first hop gets the request, each 2xx
    /// answer becomes the next hop's request with its content type, the last answer comes back.
    /// See <https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-real-time.html>.
    pub async fn through(&self, hops: &[Hop<'_>], req: PipelineRequest<'_>) -> Result<ContainerReply, PipelineError> {
        let mut body = req.body;
        let mut content_type = req.content_type;
        let mut custom_attributes = None;
        let mut status = StatusCode::OK;
        for (position, hop) in hops.iter().enumerate() {
            let next = hops.get(position + 1);
            let reply = self
                .invocations(
                    ContainerRequest {
                        addr: hop.addr,
                        body,
                        content_type: content_type.as_ref(),
                        accept: if next.is_none() { req.accept } else { None },
                        custom_attributes: req.custom_attributes,
                        extra_headers: req.extra_headers,
                    },
                    req.timeout,
                )
                .await
                .map_err(|err| match err {
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
            body = reply.body;
            content_type = reply.content_type.or(content_type);
            custom_attributes = reply.custom_attributes;
            status = reply.status;
        }
        Ok(ContainerReply { status, content_type, custom_attributes, body })
    }

    /// `GET /execution-parameters` (batch transform): the body of a 200 answer; `None` when the
    /// container has none to give (any other status: the endpoint is optional).
    pub async fn execution_parameters(&self, addr: SocketAddr, timeout: Duration) -> Result<Option<Bytes>, RelayError> {
        let request = Request::get(format!("http://{addr}/execution-parameters"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| RelayError::Unreachable(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| RelayError::Unreachable(e.to_string()))?;
            let ok = response.status() == StatusCode::OK;
            let body = response.into_body().collect().await.map_err(|e| RelayError::Unreachable(e.to_string()))?;
            Ok(ok.then(|| body.to_bytes()))
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| RelayError::Timeout(timeout))?
    }

    /// `GET /ping`: whether the container answers 200 within `timeout`.
    pub async fn ping(&self, addr: SocketAddr, timeout: Duration) -> bool {
        let Ok(request) = Request::get(format!("http://{addr}/ping")).body(Full::new(Bytes::new())) else {
            return false;
        };
        matches!(
            tokio::time::timeout(timeout, self.client.request(request)).await,
            Ok(Ok(response)) if response.status() == StatusCode::OK
        )
    }
}
