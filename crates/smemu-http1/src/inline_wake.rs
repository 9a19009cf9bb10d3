//! A future adapter that handles wake-ups its inner future gives itself while being polled by
//! polling it again at once, instead of sending them through the runtime.
//!
//! Why: hyper's HTTP/1 server wakes its own connection task each time a handler takes a request
//! body from it (the body channel wakes its sender, the connection, which is polling the handler).
//! tokio treats a task woken during its own poll as a yield: it re-queues it and wakes another
//! worker, which finds nothing to do and parks again. On InvokeEndpoint that was one futex wake,
//! one futex wait and two context switches per request (perf's futex tracepoint in `make bench`).
//! Since the fast path (`fast_path.rs`) this concerns only the connections hyper serves
//! (`hand_off.rs`): for smemu, the control plane, and invocations that are not plain.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// How many times in a row a self-wake is answered by polling again; past that the wake goes to
/// the runtime, so that a future that always wakes itself (one out of cooperative budget, a
/// yield) still yields.
const MAX_INLINE_POLLS: usize = 4;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

pub(crate) struct InlineWake<F> {
    inner: Pin<Box<F>>,
    shared: Arc<Shared>,
    waker: Waker,
}

struct Shared {
    state: AtomicU8,
    /// The waker of the task that polls the adapter, as of its last poll.
    task: Mutex<Option<Waker>>,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // While the inner future is being polled, a wake only asks for one more poll.
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            match state {
                WOKEN_WHILE_POLLING => return,
                POLLING => {
                    match self.state.compare_exchange(state, WOKEN_WHILE_POLLING, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => return,
                        Err(actual) => state = actual,
                    }
                }
                _ => break,
            }
        }
        let task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F: Future> InlineWake<F> {
    pub(crate) fn new(inner: F) -> Self {
        let shared = Arc::new(Shared { state: AtomicU8::new(IDLE), task: Mutex::new(None) });
        let waker = Waker::from(shared.clone());
        InlineWake { inner: Box::pin(inner), shared, waker }
    }

    /// The inner future, to call its own methods (a graceful shutdown, say).
    pub(crate) fn inner(&mut self) -> Pin<&mut F> {
        self.inner.as_mut()
    }
}

impl<F: Future> Future for InlineWake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        {
            let mut task = this.shared.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !task.as_ref().is_some_and(|known| known.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..MAX_INLINE_POLLS {
            this.shared.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(output) = this.inner.as_mut().poll(&mut inner_cx) {
                this.shared.state.store(IDLE, Ordering::Release);
                return Poll::Ready(output);
            }
            // A wake that came during the poll (from this task or another thread) left
            // WOKEN_WHILE_POLLING behind: poll again. Otherwise later wakes go to the task.
            if this.shared.state.compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Poll::Pending;
            }
        }
        this.shared.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A task waker that counts its wakes.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<CountingWaker>, Waker) {
        let count = Arc::new(CountingWaker::default());
        (count.clone(), Waker::from(count))
    }

    /// Wakes itself on each of its first `self_wakes` polls, then completes; counts its polls.
    struct WakesItself {
        self_wakes: usize,
        polls: Arc<AtomicUsize>,
    }

    impl Future for WakesItself {
        type Output = &'static str;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if polls > self.self_wakes {
                return Poll::Ready("done");
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_self_wake_during_the_poll_is_answered_by_polling_again_not_by_waking_the_task() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut future = InlineWake::new(WakesItself { self_wakes: 2, polls: polls.clone() });
        let (count, waker) = task();
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        assert_eq!(poll, Poll::Ready("done"));
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "the task was woken for a wake the adapter handled");
    }

    #[test]
    fn a_future_that_keeps_waking_itself_still_yields_to_the_runtime() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut future = InlineWake::new(WakesItself { self_wakes: usize::MAX, polls: polls.clone() });
        let (count, waker) = task();
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), MAX_INLINE_POLLS);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task must be woken to poll again after its yield");
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task_that_polled_last() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut future = InlineWake::new(rx);
        let (first, first_waker) = task();
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&first_waker)).is_pending());
        // Polled again from another task (as `select!` may): wakes now go there.
        let (second, second_waker) = task();
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&second_waker)).is_pending());
        tx.send(7).unwrap();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&second_waker));
        assert_eq!(poll, Poll::Ready(Ok(7)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_another_thread_are_never_lost() {
        // A channel fed from another thread: each message must be seen, whether its wake came
        // while the adapter was polling or after.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(1);
        let feeder = std::thread::spawn(move || {
            for i in 0..10_000 {
                tx.blocking_send(i).unwrap();
            }
        });
        let received = InlineWake::new(async move {
            let mut n = 0;
            while let Some(i) = rx.recv().await {
                assert_eq!(i, n);
                n += 1;
            }
            n
        });
        assert_eq!(received.await, 10_000);
        feeder.join().unwrap();
    }
}
