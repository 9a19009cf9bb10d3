//! A runtime of its own for smemu's long timers: the listener's idle and body deadlines, the
//! invocation deadline and the watchdog tick (the last two are the runtime crate's).
//!
//! Why: while any tokio timer is pending, every idle worker of the runtime that owns it waits in
//! `epoll_wait` with a timeout and reads the clock and the timer wheel each time it wakes. An
//! invocation of a 2-container pipeline parks three times, and a 60 s deadline is pending for all
//! of them. With the timers here, the API's workers wait without a timeout: in interleaved runs
//! on a 2-core VM that cut InvokeEndpoint's CPU at concurrency 1 by a tenth to a fifth. A timer
//! created here can be awaited from any runtime; only its registration and firing happen on this
//! thread.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Handle};

/// Runs `make` (which creates tokio timers) in the context of the timers' runtime, started on
/// first use; in the caller's own runtime if that runtime cannot be started.
pub fn within<T>(make: impl FnOnce() -> T) -> T {
    match handle() {
        Some(handle) => {
            let _context = handle.enter();
            make()
        }
        None => make(),
    }
}

/// A sleep of `duration` on the timers' runtime.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
    within(|| tokio::time::sleep(duration))
}

/// A sleep until `deadline` on the timers' runtime; `Sleep::reset` moves it cheaply (to a later
/// deadline without touching the timer wheel).
pub fn sleep_until(deadline: tokio::time::Instant) -> tokio::time::Sleep {
    within(|| tokio::time::sleep_until(deadline))
}

fn handle() -> Option<&'static Handle> {
    static HANDLE: OnceLock<Option<Handle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let started = Builder::new_current_thread().enable_time().build().and_then(|runtime| {
                let handle = runtime.handle().clone();
                std::thread::Builder::new()
                    .name("smemu-timers".into())
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))
                    .map(|_| handle)
            });
            match started {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot start the timers' runtime; timers stay on the API's");
                    None
                }
            }
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_sleep_on_the_timers_runtime_ends_on_time_in_another_runtime() {
        let started = Instant::now();
        sleep(Duration::from_millis(50)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "woke after {waited:?}");
        assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
    }

    #[tokio::test]
    async fn timers_made_here_are_not_registered_with_the_callers_runtime() {
        // The caller's runtime has no timer to fire this one: pausing its clock does not end it.
        tokio::time::pause();
        let slept = sleep(Duration::from_secs(3600));
        tokio::pin!(slept);
        tokio::time::advance(Duration::from_secs(7200)).await;
        assert!(futures::poll!(slept.as_mut()).is_pending());
    }
}
