//! The listener's limits: how long a connection may sit idle or take to send a head, how slowly
//! a body may come, how long a graceful stop may wait, and how many body bytes all connections
//! together may hold (counted by the caller's handlers, which decide when to read a body).
//!
//! Why: without them an idle or half-sent connection is never closed (2,000 idle sockets stay,
//! and with a low file-descriptor limit new clients time out), a stop waits forever for a client
//! that never finishes its request, and 300 clients sending 6 MB bodies hold 1.9 GB.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::timers;

/// The listener's limits; [`WireConfig::default`] has the flags' defaults.
#[derive(Debug, Clone)]
pub struct WireConfig {
    /// A connection with no request in progress is closed after this long; a request's head must
    /// also be complete this long after the previous answer (or the connection's opening).
    pub idle_timeout: Duration,
    /// After the stop signal, connections get this long to finish their request; then they close.
    pub shutdown_timeout: Duration,
    /// Body bytes all connections may hold at once: the cap of the [`Buffered`] the caller's
    /// handlers share (smemu answers past it with `ThrottlingException`).
    pub max_buffered_bytes: u64,
    /// Bytes per second a body must keep up, after a grace period of [`WireConfig::idle_timeout`].
    pub min_body_rate: u64,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            max_buffered_bytes: 512 << 20,
            min_body_rate: 1024,
        }
    }
}

impl WireConfig {
    /// When a body begun at `start` must have delivered `received + 1` bytes: the grace period
    /// plus the time the minimum rate allows for what has come so far.
    pub(crate) fn body_deadline(&self, start: Instant, received: u64) -> Instant {
        let rate = self.min_body_rate.max(1);
        let earned =
            Duration::from_secs(received / rate) + Duration::from_nanos((received % rate) * 1_000_000_000 / rate);
        start + self.idle_timeout + earned
    }
}

/// The body bytes held across all connections, against [`WireConfig::max_buffered_bytes`].
#[derive(Debug)]
pub struct Buffered {
    max: u64,
    held: AtomicU64,
}

impl Buffered {
    pub fn new(max: u64) -> Self {
        Buffered { max, held: AtomicU64::new(0) }
    }

    /// Room for `bytes` more, held until the reservation is dropped; `None` past the cap.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        let bytes = bytes as u64;
        let before = self.held.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.max && bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(Reservation { of: self, bytes })
    }

    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// Bytes counted in [`Buffered`] while this lives.
pub struct Reservation<'a> {
    of: &'a Buffered,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.of.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A request body (on the connections handed to hyper) that fails once it falls below the
/// minimum rate: what the caller's service gets as every request's body.
pub struct MinRate<B> {
    inner: B,
    config: WireConfig,
    start: Instant,
    received: u64,
    /// Made the first time the body has to be waited for: most bodies arrive with their head.
    timer: Option<Pin<Box<Sleep>>>,
}

/// A body that came more slowly than [`WireConfig::min_body_rate`].
#[derive(Debug, thiserror::Error)]
#[error("the request body came more slowly than {rate} bytes per second")]
struct TooSlow {
    rate: u64,
}

impl<B> MinRate<B> {
    pub(crate) fn new(inner: B, config: WireConfig) -> Self {
        MinRate { inner, config, start: Instant::now(), received: 0, timer: None }
    }
}

impl<B> Body for MinRate<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if let Some(timer) = &mut this.timer {
                        timer.as_mut().reset(this.config.body_deadline(this.start, this.received));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|result| result.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.config.body_deadline(this.start, this.received);
                let timer = this.timer.get_or_insert_with(|| Box::pin(timers::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Box::new(TooSlow { rate: this.config.min_body_rate }))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_cap_refuses_what_does_not_fit_and_frees_what_was_held() {
        let buffered = Buffered::new(10);
        let six = buffered.reserve(6).unwrap();
        assert!(buffered.reserve(5).is_none());
        assert_eq!(buffered.held(), 6);
        let four = buffered.reserve(4).unwrap();
        drop(six);
        drop(four);
        assert_eq!(buffered.held(), 0);
        assert!(buffered.reserve(10).is_some());
    }

    #[test]
    fn a_body_earns_time_at_the_minimum_rate_after_the_grace_period() {
        let config = WireConfig { idle_timeout: Duration::from_secs(2), min_body_rate: 100, ..WireConfig::default() };
        let start = Instant::now();
        assert_eq!(config.body_deadline(start, 0), start + Duration::from_secs(2));
        assert_eq!(config.body_deadline(start, 150), start + Duration::from_millis(3500));
    }
}
