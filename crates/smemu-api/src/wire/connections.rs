//! The API listener's accept loop: one task per connection, each on one of the lanes, served by
//! the fast path for plain InvokeEndpoint requests, and by hyper's HTTP/1.1 server on the main
//! runtime from its first other request; and a graceful stop that lets in-flight requests finish
//! for at most the shutdown timeout, then closes every connection.
//!
//! Why not `axum::serve`: InvokeEndpoint is in the path of every inference call, and serving the
//! connections here lets smemu (measured with `make bench`) put them on the lanes, and, for those
//! hyper serves, wrap each one in [`InlineWake`], send each answer with one `send` rather than a
//! `writev`, and skip the HTTP/1-or-2 detection of hyper-util's connection (AWS clients speak
//! HTTP/1.1 to a plain-HTTP endpoint).

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::inline_wake::InlineWake;
use super::lanes::Lanes;
use super::{Api, fast_path};
use smemu_runtime::timers;

/// How long to wait before accepting again after an error such as too many open files.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(super) async fn serve(
    listener: TcpListener,
    api: Api,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
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
        let (api, stopping) = (api.clone(), stopping.clone());
        match lanes.next() {
            // Registered anew with the lane's runtime, where it is served.
            Some(lane) => match tcp.into_std() {
                Ok(tcp) => {
                    let main = main.clone();
                    connections.spawn_on(fast_path::on_lane(tcp, api, stopping, main), lane);
                }
                Err(err) => tracing::warn!(error = %err, "cannot move an API connection to a lane"),
            },
            None => {
                connections.spawn(fast_path::connection(tcp, api, stopping, None));
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = api.limits.config.shutdown_timeout;
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

/// Serves the rest of a connection that the fast path handed over.
pub(super) async fn serve_with_hyper<I>(io: I, api: Api, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // One `send` per answer (head and body copied together) rather than a `writev`, which costs
    // more in the kernel; InvokeEndpoint answers are small, and at most 6 MB.
    // Hyper's header timeout runs from the end of one answer (or the opening) until the next
    // head is complete: the fast path's idle-and-head deadline. Bodies keep the minimum rate
    // through `MinRate`.
    let idle = api.limits.config.idle_timeout;
    let conn = hyper::server::conn::http1::Builder::new()
        .writev(false)
        .timer(OnTimers)
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(io), api);
    let mut conn = InlineWake::new(conn);
    let stop = async {
        // The guard `wait_for` returns is not `Send`; it must not live across `conn.await`.
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        biased;
        result = &mut conn => result,
        () = stop => {
            // Finishes the request in flight, if any, then closes.
            conn.inner().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "an API connection ended with an error");
    }
}

/// Hyper's timers, made on the timers' runtime (see `timers`) so that the runtime serving the
/// connection waits without a timeout.
#[derive(Clone, Copy)]
struct OnTimers;

impl hyper::rt::Timer for OnTimers {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        timers::within(|| TokioTimer::new().sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        timers::within(|| TokioTimer::new().sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        TokioTimer::new().reset(sleep, new_deadline);
    }
}

/// Errors that concern one connection only (the client gave up before it was accepted).
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
