//! HTTP: the only part of smemu-api that knows axum, hyper and http.
//!
//! One listener serves both protocols: `POST /` with `X-Amz-Target` is the control plane
//! (awsJson1.1, through axum's router), `POST /endpoints/{name}/invocations` is the runtime
//! (restJson1, straight to its handler: it is the path of every inference call). Plain
//! invocations are served on the lanes by the fast path; hyper serves everything else.

mod connections;
#[cfg(test)]
mod decode_properties;
mod dispatch;
mod fast_path;
mod identity;
mod inline_wake;
mod invoke;
mod json_rpc;
mod lanes;
mod limits;
mod render;
mod sigv4;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use axum::routing::post;
use http::{Method, Request};
use hyper::body::Incoming;

use crate::AppState;
pub use limits::WireConfig;
use limits::{Limits, MinRate};

/// The control plane's router; any other path or method gets an AWS-shaped error too.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(json_rpc::handle))
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
    let api = Api { control: router(state.clone()), state, limits: Arc::new(Limits::new(config)) };
    connections::serve(listener, api, shutdown).await
}

/// Every request on an API connection: InvokeEndpoint to its handler, the rest to the router.
#[derive(Clone)]
struct Api {
    state: AppState,
    control: Router,
    limits: Arc<Limits>,
}

impl hyper::service::Service<Request<Incoming>> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // Every body on hyper's connections must keep up the minimum rate (the fast path checks
        // its own).
        let config = self.limits.config.clone();
        let request = request.map(|body| MinRate::new(body, config));
        if request.method() == Method::POST
            && let Some(endpoint) = invoke::endpoint_of(request.uri().path())
        {
            let (state, limits) = (self.state.clone(), self.limits.clone());
            return Box::pin(async move { Ok(invoke::handle(&state, &limits, endpoint, request).await) });
        }
        let mut control = self.control.clone();
        Box::pin(async move { tower::Service::call(&mut control, request).await })
    }
}
