//! The listener's accept loop (the transport's first entry point, [`serve`]): one task per
//! connection, each on one of the lanes, served by the fast path for plain requests, and by
//! hyper's HTTP/1.1 server on the main runtime from its first other request; and a graceful stop
//! that lets in-flight requests finish for at most the shutdown timeout, then closes every
//! connection.
//!
//! Why not `axum::serve`: InvokeEndpoint is in the path of every inference call, and serving the
//! connections here lets smemu (measured with `make bench`) put them on the lanes, serve plain
//! requests without hyper, and drive hyper's server for the rest as `hand_off` explains.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::fast_path::{self, Server};
use crate::hand_off::Service;
use crate::lanes::Lanes;
use crate::limits::WireConfig;
use crate::plain::PlainHandler;
use crate::timers;

/// How long to wait before accepting again after an error such as too many open files.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `listener` until `shutdown` resolves, then lets in-flight requests finish for at most
/// [`WireConfig::shutdown_timeout`]: plain requests (by `plain`'s rule) on the lanes by the fast
/// path and `plain`'s handler, the rest of a connection from its first other request by `service`
/// through hyper.
pub async fn serve<H: PlainHandler, S: Service>(
    listener: TcpListener,
    config: WireConfig,
    plain: H,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let server = Arc::new(Server { config, plain, service });
    let (stop, stopping) = watch::channel(false);
    let lanes = Lanes::start();
    let main = Handle::current();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(err) if is_per_connection(&err) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot accept an API connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A long answer goes out in several writes; with Nagle's algorithm the last one would
        // wait for the client's delayed ACK.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot set TCP_NODELAY on an API connection");
        }
        // Finished connections are reaped here, so that the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let (server, stopping) = (server.clone(), stopping.clone());
        match lanes.next() {
            // Registered anew with the lane's runtime, where it is served.
            Some(lane) => match tcp.into_std() {
                Ok(tcp) => {
                    let main = main.clone();
                    connections.spawn_on(fast_path::on_lane(tcp, server, stopping, main), lane);
                }
                Err(err) => tracing::warn!(error = %err, "cannot move an API connection to a lane"),
            },
            None => {
                connections.spawn(fast_path::connection(tcp, server, stopping, None));
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = server.config.shutdown_timeout;
    let finished =
        timers::within(|| tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }))
            .await;
    if finished.is_err() {
        // A client holding a request open must not hold smemu's stop: what is left is closed.
        tracing::warn!(connections = connections.len(), timeout = ?grace, "closing API connections still open after the shutdown timeout");
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    lanes.stop().await;
    Ok(())
}

/// Errors that concern one connection only (the client gave up before it was accepted).
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
