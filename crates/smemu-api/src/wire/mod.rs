//! HTTP: the only part of smemu-api that knows axum and http.
//!
//! One listener serves both protocols: `POST /` with `X-Amz-Target` is the control plane
//! (awsJson1.1), `/endpoints/{name}/invocations` is the runtime (restJson1).

mod dispatch;
mod identity;
mod invoke;
mod json_rpc;
mod render;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use crate::AppState;

/// The router for both protocols; tests and the binary build it the same way.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(json_rpc::handle))
        // The runtime reads its body itself, to answer an oversized one with the real error.
        .route("/endpoints/{endpoint}/invocations", post(invoke::handle).layer(DefaultBodyLimit::disable()))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // A long answer goes out in several writes; with Nagle's algorithm the last one would wait
    // for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot set TCP_NODELAY on an API connection");
        }
    });
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
