//! The capture writer: one task that gathers captured invocations into one file per destination,
//! endpoint, variant and hour, and writes each file when it is full or at the next flush.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::HeaderValue;
use smemu_objects::Objects;
use tokio::sync::{mpsc, oneshot};

use super::record::{self, Event, Payload};
use super::{CaptureSink, Captured, Data};

/// The batches held, by sink (its address: the batch holds the `Arc`, so the address is not reused
/// while the batch lives) and UTC hour, then by variant (a short list: an endpoint has few). Why not
/// a key of the account and the hour's folder, as files are named: that key was a `String` formatted
/// and two `String`s cloned per record, the writer's largest cost after the encoding itself.
type Batches = HashMap<(usize, i64), Vec<Batch>>;

const HOUR_MS: i64 = 3_600_000;

struct Batch {
    sink: Arc<CaptureSink>,
    variant: String,
    /// `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh`, formatted once per batch.
    prefix: String,
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
    /// The queue's bounds (`--capture-queue-records`, `--capture-queue-bytes`): the writer gathers
    /// only while a gather's worth of records stays well within them.
    pub queue_records: usize,
    pub queue_bytes: usize,
}

/// How long the writer lets records gather in the channel after taking what it held. A record sent
/// while the writer waits in `recv` wakes it, and that wake-up is paid on the invocation path: the
/// serving lane's `try_send` unparks the writer's thread (a futex call; when the writer ran on the
/// main runtime it woke both its workers: at c=1 with capture at 100 % each was switched in once
/// more per invocation, ~20 us more CPU per call). A record sent while the writer sleeps only joins
/// the queue, so one wake-up serves a whole window's records rather than each its own. Files are
/// still cut at `Limits::records` exactly; they are written at most this much later (and never
/// later than `Limits::every` allows: see `run`).
///
/// 100 ms rather than 20: each wake-up of the writer costs an unpark and a park again (futex calls
/// and two switches, tens of microseconds in a VM); at 20 ms those fifty a second were the larger
/// part of what capture cost smemu per call at c=1. At 100 ms the default queue (8192 records)
/// still takes 80,000 records a second; when a gather filled a quarter of either queue bound the
/// writer takes again at once instead (see `run`), so a small queue is not made to drop by the wait.
const GATHER: Duration = Duration::from_millis(100);
/// The most records taken from the channel at once; with more waiting the writer takes again at
/// once instead of gathering.
const TAKE: usize = 256;

pub(super) async fn run(
    objects: Option<Objects>,
    mut rx: mpsc::Receiver<Captured>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    limits: Limits,
) {
    let mut batches = Batches::new();
    let mut tick = tokio::time::interval(limits.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gather = limits.every.min(GATHER);
    let mut taken = Vec::with_capacity(TAKE);
    loop {
        tokio::select! {
            count = rx.recv_many(&mut taken, TAKE) => {
                // Zero: every sender is gone and the channel is empty.
                if count == 0 { break }
                let size = release_queued(&taken);
                for captured in taken.drain(..) {
                    take(objects.as_ref(), &mut batches, &captured, &limits).await;
                }
                let room = count < TAKE && count < limits.queue_records / 4 && size < limits.queue_bytes / 4;
                if room {
                    tokio::time::sleep(gather).await;
                }
            }
            _ = tick.tick() => {
                write_all(objects.as_ref(), &mut batches).await;
            }
            Some(done) = flushes.recv() => {
                // Everything sent before the flush was asked for is in the channel already.
                while let Ok(captured) = rx.try_recv() {
                    release_queued(std::slice::from_ref(&captured));
                    take(objects.as_ref(), &mut batches, &captured, &limits).await;
                }
                write_all(objects.as_ref(), &mut batches).await;
                let _ = done.send(());
            }
        }
    }
    write_all(objects.as_ref(), &mut batches).await;
}

/// Takes the records' payload bytes off the queue's count, in one step for all of them: the
/// invocation path adds to the same counter, and each step here moved its cache line away from
/// the serving lane's core. Every sink of one writer shares one count (see `DataCapture::sink`).
/// Returns the bytes released.
fn release_queued(taken: &[Captured]) -> usize {
    let size = taken.iter().map(Captured::size).fold(0, usize::saturating_add);
    if let Some(first) = taken.first() {
        first.sink.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
    }
    size
}

/// Adds a record taken from the channel to its batch, and writes the batch once it is full.
async fn take(objects: Option<&Objects>, batches: &mut Batches, captured: &Captured, limits: &Limits) {
    if let Some(full) = add(batches, captured, limits) {
        write(objects, full).await;
    }
}

/// Writes every batch held, whatever its size.
async fn write_all(objects: Option<&Objects>, batches: &mut Batches) {
    for batch in std::mem::take(batches).into_values().flatten() {
        write(objects, batch).await;
    }
}

/// Appends the record to its batch; returns the batch, taken out, once it is full.
fn add(batches: &mut Batches, captured: &Captured, limits: &Limits) -> Option<Batch> {
    let sink = &captured.sink;
    let key = (Arc::as_ptr(sink).addr(), captured.at_ms.div_euclid(HOUR_MS));
    let held = batches.entry(key).or_default();
    let at = match held.iter().position(|batch| batch.variant == captured.variant) {
        Some(at) => at,
        None => {
            held.push(Batch {
                sink: sink.clone(),
                variant: captured.variant.clone(),
                prefix: record::hour_prefix(&sink.destination, &sink.endpoint, &captured.variant, captured.at_ms),
                first_ms: captured.at_ms,
                records: 0,
                bytes: Vec::new(),
            });
            held.len() - 1
        }
    };
    let batch = &mut held[at];
    // On the stack: a `String` per record otherwise.
    let mut event_id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let event_id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut event_id);
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
        event_id,
        inference_id: captured.inference_id.as_ref().and_then(|v| v.to_str().ok()),
        at_ms: captured.at_ms,
    };
    if let Err(err) = record::write_line(&mut batch.bytes, &sink.types, &event) {
        tracing::warn!(endpoint = %sink.endpoint, error = %err, "encoding a captured record");
        return None;
    }
    batch.records += 1;
    if batch.records < limits.records && batch.bytes.len() < limits.bytes {
        return None;
    }
    let full = held.swap_remove(at);
    if held.is_empty() {
        batches.remove(&key);
    }
    Some(full)
}

fn payload<'a>(data: &'a [u8], content_type: &'a Option<HeaderValue>) -> Payload<'a> {
    Payload { content_type: content_type.as_ref().and_then(|v| v.to_str().ok()), data }
}

async fn write(objects: Option<&Objects>, batch: Batch) {
    let mut unique = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let unique = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut unique);
    let uri = format!("{}/{}", batch.prefix, record::file_name(batch.first_ms, unique));
    let Some(objects) = objects else {
        tracing::warn!(%uri, records = batch.records, "no object store; captured records dropped");
        return;
    };
    if let Err(err) = objects.as_account(&batch.sink.account).put_bytes(&uri, batch.bytes).await {
        tracing::warn!(%uri, records = batch.records, error = %err, "writing captured records");
    }
}
