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
