//! Capture of what containers write: one task per container follows its stdout and stderr through
//! the `Backend`, with the engine's timestamps, into the log store's stream for it (named as
//! SageMaker names them: `names.rs`). Nothing here is on the invoke path: a capture task that
//! finds the store's channel full waits, and only it does. A capture takes what the engine sent in
//! passes, `PACE` apart, and hands each pass to the store as one message: with one wake-up per
//! line, capturing a chatty container cost as much CPU as serving it (measured with `make bench`).
//!
//! The endpoint watchdog asks again for every running instance each tick, so a capture whose
//! engine stream broke starts over. After a restart (or such a break) a stream resumes where it stopped: following starts at the second of its last
//! stored event, lines before that event are skipped, and lines stamped with the same millisecond
//! as it are skipped as many times as the store holds them, so nothing is stored twice or lost.

pub mod names;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{FutureExt, StreamExt};
use smemu_backend::{Backend, LogLine, OwnerKind};
use smemu_telemetry::logs::{LogStore, NewEvent, StreamKey};

use crate::clock::now_ms;

/// How long a capture waits between passes over what the engine sent.
const PACE: std::time::Duration = std::time::Duration::from_millis(100);
/// Most lines taken in one pass.
const MAX_PASS: usize = 1000;

/// The capture tasks of one smemu; cheap to clone.
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Inner>,
}

struct Inner {
    store: LogStore,
    /// Containers followed now: a container is followed once, however often it is adopted.
    followed: Mutex<HashSet<String>>,
}

/// One container to follow, and where its instance belongs.
pub(crate) struct Followed<'a> {
    pub kind: OwnerKind,
    /// `<account>/<region>/<name>`, the `smemu.resource` label.
    pub resource: &'a str,
    pub variant: &'a str,
    pub instance_id: &'a str,
    /// When the instance started (transform jobs' stream names carry it).
    pub epoch_s: i64,
}

impl Capture {
    pub fn new(store: LogStore) -> Self {
        Capture { inner: Arc::new(Inner { store, followed: Mutex::new(HashSet::new()) }) }
    }

    fn followed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.followed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Follows every container of an instance (`(container id, hostname)` in pipeline order).
    pub(crate) fn follow_instance(
        &self,
        backend: &Arc<dyn Backend>,
        at: &Followed<'_>,
        containers: &[(String, String)],
    ) {
        let pipeline = containers.len() > 1;
        for (container_id, hostname) in containers {
            let container = pipeline.then_some(hostname.as_str());
            if let Some(stream) = stream_key(at, container) {
                self.follow(backend.clone(), container_id.clone(), stream);
            }
        }
    }

    fn follow(&self, backend: Arc<dyn Backend>, container_id: String, stream: StreamKey) {
        if !self.followed().insert(container_id.clone()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.copy(backend.as_ref(), &container_id, stream).await;
            this.followed().remove(&container_id);
        });
    }

    async fn copy(&self, backend: &dyn Backend, container_id: &str, stream: StreamKey) {
        // What an earlier capture of this container queued is written first, so that the resume
        // point below counts it.
        self.inner.store.flush().await;
        let resume = match self.inner.store.resume_point(&stream).await {
            Ok(resume) => resume,
            Err(err) => {
                tracing::warn!(container = %container_id, error = %err, "not capturing a container's logs");
                return;
            }
        };
        let (since, mut skip_at_last) = resume.unwrap_or((0, 0));
        let sink = self.inner.store.sink();
        let mut lines = backend.follow_logs(container_id, since);
        let mut skip = |line: &LogLine| {
            if resume.is_none() || line.timestamp_ms > since {
                return false;
            }
            if line.timestamp_ms < since {
                return true;
            }
            // Same millisecond as the last stored event: as many as the store holds were stored.
            let stored = skip_at_last > 0;
            skip_at_last = skip_at_last.saturating_sub(1);
            stored
        };
        // Each pass takes every line the engine has sent so far, then waits [`PACE`]: a container
        // answering thousands of requests a second writes as many lines, and one wake-up per line
        // (of this task and of the writer) would take CPU from serving them.
        while let Some(first) = lines.next().await {
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(line) = next.take() {
                let line = match line {
                    Ok(line) => line,
                    Err(err) => {
                        tracing::warn!(container = %container_id, error = %err, "following a container's logs");
                        sink.send_all(batch).await;
                        return;
                    }
                };
                if !skip(&line) {
                    batch.push(NewEvent {
                        stream: stream.clone(),
                        timestamp_ms: line.timestamp_ms,
                        message: line.message,
                    });
                }
                if batch.len() < MAX_PASS {
                    next = lines.next().now_or_never().flatten();
                }
            }
            if !sink.send_all(batch).await {
                return;
            }
            tokio::time::sleep(PACE).await;
        }
    }

    /// A line of the service's own for a transform job's instance, in its `data-log` stream.
    pub(crate) fn data_log(&self, at: &Followed<'_>, message: String) {
        let Some(stream) = stream_key(at, Some(names::DATA_LOG)) else { return };
        let sink = self.inner.store.sink();
        let event = NewEvent { stream, timestamp_ms: now_ms(), message };
        tokio::spawn(async move { sink.send(event).await });
    }
}

fn stream_key(at: &Followed<'_>, container: Option<&str>) -> Option<StreamKey> {
    let mut parts = at.resource.splitn(3, '/');
    let (account, region, name) = (parts.next()?, parts.next()?, parts.next()?);
    let (group, stream) = names::stream_of(at.kind, name, at.variant, at.instance_id, at.epoch_s, container);
    Some(StreamKey { account: account.to_owned(), region: region.to_owned(), group, stream })
}
