//! The capture writer: one task that gathers captured invocations into one file per destination,
//! endpoint, variant and hour, and writes each file when it is full or at the next flush.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::HeaderValue;
use smemu_objects::Objects;
use tokio::sync::{mpsc, oneshot};

use super::record::{self, Event, Payload};
use super::{Captured, Data};

/// Where a batch goes: the account whose objects it writes, and the hour's folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    account: String,
    prefix: String,
}

struct Batch {
    first_ms: i64,
    records: usize,
    bytes: Vec<u8>,
}

/// When the writer writes: at least `every`, and a file as soon as it holds `records` records or
/// `bytes` bytes.
pub(super) struct Limits {
    pub every: Duration,
    pub records: usize,
    pub bytes: usize,
}

/// How long the writer lets records gather in the channel after taking what it held. A record sent
/// while the writer waits in `recv` wakes it, and that wake-up is paid on the invocation path: the
/// writer runs on the main runtime, so the serving lane's `try_send` unparks one of its workers (a
/// futex call), which wakes the other to look for work too: at c=1 with capture at 100 % each of the
/// two workers was switched in once more per invocation, ~20 us more CPU per call. A record sent
/// while the writer sleeps only joins the queue, so one wake-up serves a whole window's records
/// rather than each its own. Files are still cut at `Limits::records` exactly; they are written
/// at most this much later (and never later than `Limits::every` allows: see `run`).
const GATHER: Duration = Duration::from_millis(20);
/// The most records taken from the channel at once; with more waiting the writer takes again at
/// once instead of gathering.
const TAKE: usize = 256;

pub(super) async fn run(
    objects: Option<Objects>,
    mut rx: mpsc::Receiver<Captured>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    limits: Limits,
) {
    let mut batches: HashMap<FileKey, Batch> = HashMap::new();
    let mut tick = tokio::time::interval(limits.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gather = limits.every.min(GATHER);
    let mut taken = Vec::with_capacity(TAKE);
    loop {
        tokio::select! {
            count = rx.recv_many(&mut taken, TAKE) => {
                // Zero: every sender is gone and the channel is empty.
                if count == 0 { break }
                for captured in taken.drain(..) {
                    take(objects.as_ref(), &mut batches, &captured, &limits).await;
                }
                if count < TAKE {
                    tokio::time::sleep(gather).await;
                }
            }
            _ = tick.tick() => {
                write_all(objects.as_ref(), &mut batches).await;
            }
            Some(done) = flushes.recv() => {
                // Everything sent before the flush was asked for is in the channel already.
                while let Ok(captured) = rx.try_recv() {
                    take(objects.as_ref(), &mut batches, &captured, &limits).await;
                }
                write_all(objects.as_ref(), &mut batches).await;
                let _ = done.send(());
            }
        }
    }
    write_all(objects.as_ref(), &mut batches).await;
}

/// Adds a record taken from the channel to its batch, and writes the batch once it is full.
async fn take(objects: Option<&Objects>, batches: &mut HashMap<FileKey, Batch>, captured: &Captured, limits: &Limits) {
    captured.sink.shared.queued_bytes.fetch_sub(captured.size(), Ordering::Relaxed);
    let Some((key, full)) = add(batches, captured, limits) else { return };
    if full && let Some(batch) = batches.remove(&key) {
        write(objects, &key, batch).await;
    }
}

/// Writes every batch held, whatever its size.
async fn write_all(objects: Option<&Objects>, batches: &mut HashMap<FileKey, Batch>) {
    for (key, batch) in std::mem::take(batches) {
        write(objects, &key, batch).await;
    }
}

/// Appends the record to its batch; returns the batch's key and whether it is full.
fn add(batches: &mut HashMap<FileKey, Batch>, captured: &Captured, limits: &Limits) -> Option<(FileKey, bool)> {
    let sink = &captured.sink;
    let key = FileKey {
        account: sink.account.clone(),
        prefix: record::hour_prefix(&sink.destination, &sink.endpoint, &captured.variant, captured.at_ms),
    };
    let event_id = uuid::Uuid::new_v4().to_string();
    // A streamed answer's parts are joined here, on the writer, never on the stream's path.
    let output = captured.output.as_ref().map(|(data, content_type)| {
        let joined = match data {
            Data::Whole(bytes) => Cow::Borrowed(bytes.as_ref()),
            Data::Parts(parts) => Cow::Owned(parts.concat()),
        };
        (joined, content_type)
    });
    let event = Event {
        input: captured.input.as_ref().map(|(data, content_type)| payload(data, content_type)),
        output: output.as_ref().map(|(data, content_type)| payload(data, content_type)),
        event_id: &event_id,
        inference_id: captured.inference_id.as_ref().and_then(|v| v.to_str().ok()),
        at_ms: captured.at_ms,
    };
    let batch =
        batches.entry(key.clone()).or_insert_with(|| Batch { first_ms: captured.at_ms, records: 0, bytes: Vec::new() });
    if let Err(err) = record::write_line(&mut batch.bytes, &sink.types, &event) {
        tracing::warn!(endpoint = %sink.endpoint, error = %err, "encoding a captured record");
        return None;
    }
    batch.records += 1;
    Some((key, batch.records >= limits.records || batch.bytes.len() >= limits.bytes))
}

fn payload<'a>(data: &'a [u8], content_type: &'a Option<HeaderValue>) -> Payload<'a> {
    Payload { content_type: content_type.as_ref().and_then(|v| v.to_str().ok()), data }
}

async fn write(objects: Option<&Objects>, key: &FileKey, batch: Batch) {
    let name = record::file_name(batch.first_ms, &uuid::Uuid::new_v4().to_string());
    let uri = format!("{}/{name}", key.prefix);
    let Some(objects) = objects else {
        tracing::warn!(%uri, records = batch.records, "no object store; captured records dropped");
        return;
    };
    if let Err(err) = objects.as_account(&key.account).put_bytes(&uri, batch.bytes).await {
        tracing::warn!(%uri, records = batch.records, error = %err, "writing captured records");
    }
}
