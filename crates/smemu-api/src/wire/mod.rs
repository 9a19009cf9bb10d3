//! HTTP: the only part of smemu-api that knows axum, hyper and http.
//!
//! One listener serves both protocols, through the transport (`smemu_http1::serve`): `POST /`
//! with `X-Amz-Target` is the control plane (awsJson1.1, through axum's router), `POST
//! /endpoints/{name}/invocations` is the runtime (restJson1, straight to its handler: it is the
//! path of every inference call). Plain invocations are served on the lanes by the transport's
//! fast path, which calls `plain::Invocations`; hyper serves everything else through [`Api`].
//! Both end in `invoke::reply`. `POST /endpoints/{name}/invocations-response-stream` goes to
//! `stream.rs` (hyper only: its answer is an event stream). CloudWatch answers on the same listener in its three protocols:
//! AWS JSON 1.0 (`cloudwatch_json.rs`, by `X-Amz-Target`), the query protocol (`aws_query.rs`, a form
//! `POST /` without a target or a `GET /?Action=`, claimed before the router) and Smithy RPC v2 CBOR (`rpc_v2_cbor.rs`).

mod auth_error;
mod aws_query;
mod cbor;
mod cloudwatch;
mod cloudwatch_json;
#[cfg(test)]
mod codec_properties;
mod compressed;
mod decode;
#[cfg(test)]
mod decode_properties;
mod dispatch;
mod identity;
mod invoke;
mod invoke_async;
mod json_rpc;
mod plain;
mod query;
mod render;
mod rpc_v2_cbor;
mod sigv4;
mod stream;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use http::{Method, Request};
use hyper::body::Incoming;
use smemu_http1::{Buffered, MinRate};

use crate::AppState;
pub use smemu_http1::WireConfig;

/// The control plane's router; any other path or method gets an AWS-shaped error too.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(json_rpc::handle))
        .route("/metrics", get(cloudwatch_json::prometheus))
        .route("/service/{service}/operation/{operation}", post(rpc_v2_cbor::handle))
        .fallback(json_rpc::unknown_path)
        .method_not_allowed_fallback(json_rpc::method_not_allowed)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for at most [`WireConfig::shutdown_timeout`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: WireConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Invocation bodies held by either path count against one cap.
    let buffered = Arc::new(Buffered::new(config.max_buffered_bytes));
    let plain = plain::Invocations::new(state.clone(), buffered.clone());
    let api = Api { control: router(state.clone()), state, buffered };
    smemu_http1::serve(listener, config, plain, api, shutdown).await
}

/// Every request hyper serves: InvokeEndpoint to its handler, the rest to the router. Bodies
/// come held to the listener's minimum rate.
#[derive(Clone)]
struct Api {
    state: AppState,
    control: Router,
    buffered: Arc<Buffered>,
}

impl hyper::service::Service<Request<MinRate<Incoming>>> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<MinRate<Incoming>>) -> Self::Future {
        if request.method() == Method::POST
            && let Some(endpoint) = invoke::endpoint_of(request.uri().path())
        {
            let (state, buffered) = (self.state.clone(), self.buffered.clone());
            return Box::pin(async move { Ok(invoke::handle(&state, &buffered, endpoint, request).await) });
        }
        if request.method() == Method::POST
            && let Some(endpoint) = stream::endpoint_of(request.uri().path())
        {
            let (state, buffered) = (self.state.clone(), self.buffered.clone());
            return Box::pin(async move { Ok(stream::handle(&state, &buffered, endpoint, request).await) });
        }
        if request.method() == Method::POST
            && let Some(endpoint) = invoke_async::endpoint_of(request.uri().path())
        {
            let state = self.state.clone();
            return Box::pin(async move { Ok(invoke_async::handle(&state, endpoint, request).await) });
        }
        if aws_query::claims(&request) {
            let state = self.state.clone();
            return Box::pin(async move { Ok(aws_query::handle(&state, request).await) });
        }
        let mut control = self.control.clone();
        Box::pin(async move { tower::Service::call(&mut control, request).await })
    }
}
