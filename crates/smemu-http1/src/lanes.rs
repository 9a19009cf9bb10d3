//! The lanes: one thread per core, each with a current-thread runtime, that serve the listener's
//! connections while they carry plain requests (`fast_path`; for smemu, InvokeEndpoint). A
//! connection stays on one lane for its life, with the pool of container connections of that lane
//! (`client`); what the fast path hands over to hyper goes back to the main runtime with the rest
//! of smemu.
//!
//! Why not the main (work-stealing) runtime: in `make bench` on a 2-core machine (interleaved
//! rounds), the same build served about 12 % more invocations per second at concurrency 1 on a
//! runtime with one worker than on one with two, and spent 7-9 % less CPU per call: the time
//! went in waking and moving between workers. One worker alone was 9 % slower at concurrency 16;
//! a lane per core keeps both cores busy with many connections, without the moves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::client::serve_from_lane_pool;

pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    next: AtomicUsize,
}

struct Lane {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Lanes {
    /// One lane per core the process may use; none (the caller then serves on its own runtime)
    /// if not even one can start.
    pub fn start() -> Lanes {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        let lanes: Vec<Lane> = (0..count).map_while(|index| start_lane(index).ok()).collect();
        if lanes.len() < count {
            tracing::warn!(started = lanes.len(), wanted = count, "cannot start every lane");
        }
        Lanes { lanes, next: AtomicUsize::new(0) }
    }

    /// The lane for a new connection, in turn.
    pub fn next(&self) -> Option<&Handle> {
        if self.lanes.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        Some(&self.lanes[index].handle)
    }

    /// Ends every lane's runtime (once its connections are done) and waits for its thread.
    pub async fn stop(self) {
        for lane in self.lanes {
            let _ = lane.stop.send(());
            let _ = tokio::task::spawn_blocking(move || lane.thread.join()).await;
        }
    }
}

fn start_lane(index: usize) -> std::io::Result<Lane> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name(format!("smemu-lane-{index}")).spawn(move || {
        serve_from_lane_pool();
        // The runtime runs the connections spawned onto it until told to stop.
        runtime.block_on(async {
            let _ = stopped.await;
        });
    })?;
    Ok(Lane { handle, stop, thread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_go_to_the_lanes_in_turn_and_run_on_the_lanes_threads() {
        let lanes = Lanes::start();
        let count = lanes.lanes.len();
        assert!(count >= 1);
        let mut threads = Vec::new();
        for _ in 0..2 * count {
            let lane = lanes.next().unwrap();
            let name = lane.spawn(async { std::thread::current().name().map(str::to_owned) }).await.unwrap();
            threads.push(name.unwrap());
        }
        let expected: Vec<String> = (0..2 * count).map(|i| format!("smemu-lane-{}", i % count)).collect();
        assert_eq!(threads, expected);
        lanes.stop().await;
    }
}
