//! The hand-off: the rest of a connection the fast path does not serve goes to hyper's HTTP/1.1
//! server, with the bytes the fast path read first, and every request to the caller's hyper
//! [`Service`] with its body held to the listener's minimum rate ([`MinRate`]).
//!
//! Why hyper's server is driven here rather than through `axum::serve`: each connection is
//! wrapped in [`InlineWake`], each answer goes out with one `send` rather than a `writev`, hyper's
//! timers live on the timers' runtime, and hyper-util's HTTP/1-or-2 detection is skipped (AWS
//! clients speak HTTP/1.1 to a plain-HTTP endpoint).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::inline_wake::InlineWake;
use crate::limits::{MinRate, WireConfig};
use crate::timers;

/// The caller's hyper service, which answers every request the fast path does not serve; its
/// requests' bodies keep up the listener's minimum rate. Implemented for every hyper service
/// that answers `Request<MinRate<Incoming>>` without failing.
pub trait Service: Clone + Send + Sync + 'static {
    type Body: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static;
    type Future: Future<Output = Result<Response<Self::Body>, Infallible>> + Send + 'static;

    fn call(&self, request: Request<MinRate<Incoming>>) -> Self::Future;
}

impl<S, B> Service for S
where
    S: hyper::service::Service<Request<MinRate<Incoming>>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static,
{
    type Body = B;
    type Future = S::Future;

    fn call(&self, request: Request<MinRate<Incoming>>) -> S::Future {
        hyper::service::Service::call(self, request)
    }
}

/// The caller's service as hyper calls it: each body wrapped in [`MinRate`] first.
struct WithMinRate<S> {
    inner: S,
    config: WireConfig,
}

impl<S: Service> hyper::service::Service<Request<Incoming>> for WithMinRate<S> {
    type Response = Response<S::Body>;
    type Error = Infallible;
    type Future = S::Future;

    fn call(&self, request: Request<Incoming>) -> S::Future {
        let config = self.config.clone();
        self.inner.call(request.map(|body| MinRate::new(body, config)))
    }
}

/// Serves the rest of a connection that the fast path handed over.
pub(crate) async fn serve_with_hyper<I, S>(io: I, service: S, config: WireConfig, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    // One `send` per answer (head and body copied together) rather than a `writev`, which costs
    // more in the kernel; smemu's answers are small (InvokeEndpoint's at most 6 MB).
    // Hyper's header timeout runs from the end of one answer (or the opening) until the next
    // head is complete: the fast path's idle-and-head deadline. Bodies keep the minimum rate
    // through `MinRate`.
    let idle = config.idle_timeout;
    let conn = hyper::server::conn::http1::Builder::new()
        .writev(false)
        .timer(OnTimers)
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(io), WithMinRate { inner: service, config });
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

/// A connection handed to hyper: the bytes the fast path read but did not serve come first.
pub(crate) struct Prefixed {
    pub prefix: Bytes,
    pub inner: TcpStream,
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

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
