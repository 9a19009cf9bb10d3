//! Data capture (`DataCaptureConfig`): sampled invocations written as JSON Lines files under the
//! endpoint's `DestinationS3Uri`, off the invocation path.
//!
//! The invoke path only draws the sample ([`CaptureSink::sample`]) and, once the answer is in, hands
//! a [`Captured`] (its payloads, copied when small: see [`keep`]) to a bounded channel with `try_send`: a
//! full channel drops the record and counts it, so capture never slows or blocks an invocation. One
//! writer task (`writer.rs`) encodes the records (`record.rs`) and writes one file per endpoint,
//! variant and hour each time it flushes, through smemu-objects.
//! <https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html>
//!
//! InvokeEndpointWithResponseStream captures the same way once its stream has ended whole: the
//! parts are kept as the stream task forwards them ([`Sampled::keep_part`], clones of the `Bytes`)
//! and joined by the writer, never on the stream's path. InvokeEndpointAsync's worker captures each
//! request it runs, with its `InferenceId`.

mod record;
mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use smemu_objects::Objects;
use smemu_types::sagemaker::{CaptureMode, DataCaptureConfig};
use tokio::sync::{mpsc, oneshot};

pub use record::{ContentTypes, Encoding, hour_folder, inference_time};

/// Records waiting for the writer; past this, new ones are dropped (and counted).
pub const CHANNEL_RECORDS: usize = 8192;
/// Payload bytes waiting for the writer (a record keeps its request and answer alive); past this,
/// new records are dropped (and counted), so that a slow destination cannot grow memory.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
/// The writer writes what it holds at least this often...
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// ...and a file as soon as it holds this many records or this many bytes.
pub const MAX_BATCH_RECORDS: usize = 1000;
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// The capture queue's and writer's bounds (`--capture-queue-records`, `--capture-queue-bytes`,
/// `--capture-flush-interval`, `--capture-file-records`); the defaults are the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Records waiting for the writer; past this, new ones are dropped (and counted).
    pub queue_records: usize,
    /// Payload bytes waiting for the writer; past this, new records are dropped (and counted).
    pub queue_bytes: usize,
    /// The writer writes what it holds at least this often.
    pub flush_interval: Duration,
    /// A file is written as soon as it holds this many records...
    pub file_records: usize,
    /// ...or this many bytes.
    pub file_bytes: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        CaptureLimits {
            queue_records: CHANNEL_RECORDS,
            queue_bytes: MAX_QUEUED_BYTES,
            flush_interval: FLUSH_INTERVAL,
            file_records: MAX_BATCH_RECORDS,
            file_bytes: MAX_BATCH_BYTES,
        }
    }
}

/// The runtime's capture: one writer for every endpoint, started with the first endpoint that
/// captures (on a thread of its own at the lowest priority, never on a serving lane).
#[derive(Clone)]
pub struct DataCapture {
    inner: Arc<Shared>,
}

struct Shared {
    objects: Option<Objects>,
    limits: CaptureLimits,
    sender: OnceLock<mpsc::Sender<Captured>>,
    /// Asks the writer to write everything it holds now and answer (set with `sender`).
    flushes: OnceLock<mpsc::Sender<oneshot::Sender<()>>>,
    /// Records dropped because the writer was behind.
    dropped: AtomicU64,
    /// Payload bytes of the records in the channel.
    queued_bytes: AtomicUsize,
}

impl DataCapture {
    pub fn new(objects: Option<Objects>, limits: CaptureLimits) -> Self {
        // A zero would make a channel tokio refuses, or a writer that never waits.
        let limits = CaptureLimits {
            queue_records: limits.queue_records.max(1),
            flush_interval: limits.flush_interval.max(Duration::from_millis(1)),
            file_records: limits.file_records.max(1),
            ..limits
        };
        DataCapture {
            inner: Arc::new(Shared {
                objects,
                limits,
                sender: OnceLock::new(),
                flushes: OnceLock::new(),
                dropped: AtomicU64::new(0),
                queued_bytes: AtomicUsize::new(0),
            }),
        }
    }

    /// Writes every record sent so far, whatever the flush interval: smemu calls it on shutdown,
    /// after the API stopped answering and before the embedded S3 stops, so that the records of
    /// the last interval are not lost with the process. Returns at once when nothing captures.
    pub async fn flush(&self) {
        let Some(flushes) = self.inner.flushes.get() else { return };
        let (done, written) = oneshot::channel();
        if flushes.send(done).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Records dropped so far because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The sink an endpoint's live fleet holds, or `None` when `config` captures nothing
    /// (absent, or `EnableCapture` false). The first sink starts the writer (`spawn_writer`).
    pub fn sink(&self, account: &str, endpoint: &str, config: Option<&DataCaptureConfig>) -> Option<Arc<CaptureSink>> {
        let config = config?;
        if config.enable_capture == Some(false) {
            return None;
        }
        let modes = config.capture_options.iter().flatten().filter_map(|o| o.capture_mode.as_ref());
        let (mut input, mut output) = (false, false);
        for mode in modes {
            match mode {
                CaptureMode::Input => input = true,
                CaptureMode::Output => output = true,
                CaptureMode::InputAndOutput => (input, output) = (true, true),
                CaptureMode::Unknown(_) => {}
            }
        }
        let header = config.capture_content_type_header.as_ref();
        let types = ContentTypes::new(
            header.and_then(|h| h.csv_content_types.as_deref()).unwrap_or_default(),
            header.and_then(|h| h.json_content_types.as_deref()).unwrap_or_default(),
        );
        let sender = self
            .inner
            .sender
            .get_or_init(|| {
                let limits = self.inner.limits;
                let (tx, rx) = mpsc::channel(limits.queue_records);
                let (flush_tx, flushes) = mpsc::channel(1);
                let _ = self.inner.flushes.set(flush_tx);
                let limits = writer::Limits {
                    every: limits.flush_interval,
                    records: limits.file_records,
                    bytes: limits.file_bytes,
                    queue_records: limits.queue_records,
                    queue_bytes: limits.queue_bytes,
                };
                spawn_writer(writer::run(self.inner.objects.clone(), rx, flushes, limits));
                tx
            })
            .clone();
        Some(Arc::new(CaptureSink {
            account: account.to_owned(),
            endpoint: endpoint.to_owned(),
            destination: config.destination_s3_uri.clone().unwrap_or_default(),
            percent: u32::try_from(config.initial_sampling_percentage.unwrap_or(0)).unwrap_or(0).min(100),
            input,
            output,
            types,
            sender,
            shared: self.inner.clone(),
        }))
    }
}

/// The niceness of the writer's thread: the lowest priority there is.
const WRITER_NICE: i32 = 19;

/// Runs the writer on a thread of its own, with a runtime of its own, at [`WRITER_NICE`].
///
/// Why: capture is background work. On the main runtime the writer's bursts (a window's records
/// encoded, a file's MD5 and write, in one go) ran at the invocations' priority, on two cores the
/// serving lanes, the containers and Docker's proxies already share; at nice 19 the kernel gives
/// the writer the time the invocations leave (the blocking threads its file writes start inherit
/// the niceness), and a record that lands in an empty queue wakes this one thread rather than the
/// main runtime's workers. CFS still gives a nice-19 thread a small share of a busy machine, so
/// the writer keeps up with any load smemu serves here (`scripts/bench-capture.sh` counts every
/// call's record); one that fell behind would make new records be dropped and counted, never
/// waited for.
fn spawn_writer(writer: impl std::future::Future<Output = ()> + Send + 'static) {
    // Without a runtime of its own (out of file descriptors, say) the writer shares the main one.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!(error = %err, "data capture: no runtime of its own; the writer shares the main one");
            tokio::spawn(writer);
            return;
        }
    };
    let started = std::thread::Builder::new().name("smemu-capture".into()).spawn(move || {
        if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), WRITER_NICE) {
            tracing::debug!(error = %err, "data capture: the writer keeps the default priority");
        }
        runtime.block_on(writer);
    });
    // The closure, and the writer with it, is gone with a thread that could not start.
    if let Err(err) = started {
        tracing::error!(error = %err, "data capture: the writer could not start; captured records will be dropped");
    }
}

/// One endpoint's capture settings, held by its live fleet: sampling needs no lookup.
pub struct CaptureSink {
    account: String,
    endpoint: String,
    destination: String,
    percent: u32,
    input: bool,
    output: bool,
    types: ContentTypes,
    sender: mpsc::Sender<Captured>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CaptureSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSink").field("endpoint", &self.endpoint).field("percent", &self.percent).finish()
    }
}

/// The request side of an invocation the sampler chose, kept until its answer is in.
pub struct Sampled {
    sink: Arc<CaptureSink>,
    at_ms: i64,
    input: Option<(Bytes, Option<HeaderValue>)>,
    inference_id: Option<HeaderValue>,
    /// A streamed answer's parts so far (empty unless the sink captures output), and their length;
    /// `None` once they pass the queue's byte bound (the record will be dropped).
    parts: Option<(Vec<Bytes>, usize)>,
}

/// A captured payload: one body, or a streamed answer's parts, joined by the writer.
pub(crate) enum Data {
    Whole(Bytes),
    Parts(Vec<Bytes>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Whole(bytes) => bytes.len(),
            Data::Parts(parts) => parts.iter().map(Bytes::len).sum(),
        }
    }
}

/// A captured invocation on its way to the writer.
pub struct Captured {
    sink: Arc<CaptureSink>,
    variant: String,
    at_ms: i64,
    input: Option<(Bytes, Option<HeaderValue>)>,
    output: Option<(Data, Option<HeaderValue>)>,
    inference_id: Option<HeaderValue>,
}

/// Payloads up to this size are copied into a record of their own rather than shared.
const COPY_UP_TO: usize = 64 * 1024;

/// What a record keeps of a payload. A request body, a relay answer and a stream's part are
/// slices of a connection's read buffer (8 KiB, `split_to(..).freeze()`): holding such a slice
/// until the writer has run (up to `--capture-flush-interval`) pins the whole buffer and stops
/// the connection from reusing it, so each following read allocates a new one, and the queue's
/// byte bound undercounts what it holds. A small payload is copied instead (one exact-size
/// allocation, the cost of capturing it); a large one has its buffer mostly to itself and is
/// shared.
fn keep(bytes: &Bytes) -> Bytes {
    if bytes.len() <= COPY_UP_TO { Bytes::copy_from_slice(bytes) } else { bytes.clone() }
}

/// Whether a draw in `0..100` falls within `percent`.
fn chosen(percent: u32, draw: u32) -> bool {
    draw < percent
}

impl CaptureSink {
    /// Draws whether this invocation is captured (`InitialSamplingPercentage` of them); if so,
    /// keeps (clones of) its request.
    pub fn sample(
        self: &Arc<Self>,
        body: &Bytes,
        content_type: Option<&HeaderValue>,
        inference_id: Option<&HeaderValue>,
    ) -> Option<Sampled> {
        let take = match self.percent {
            0 => false,
            100.. => true,
            percent => chosen(percent, rand::random::<u32>() % 100),
        };
        take.then(|| Sampled {
            sink: self.clone(),
            at_ms: crate::clock::now_ms(),
            input: self.input.then(|| (keep(body), content_type.cloned())),
            inference_id: inference_id.cloned(),
            parts: Some((Vec::new(), 0)),
        })
    }
}

impl Captured {
    /// The payload bytes this record keeps alive.
    fn size(&self) -> usize {
        let input = self.input.as_ref().map_or(0, |(data, _)| data.len());
        input.saturating_add(self.output.as_ref().map_or(0, |(data, _)| data.len()))
    }
}

impl Shared {
    fn count_dropped(&self, endpoint: &str) {
        let before = self.dropped.fetch_add(1, Ordering::Relaxed);
        // Logged at the 1st, 2nd, 4th, 8th... drop, not at each.
        if before == 0 || (before + 1).is_power_of_two() {
            tracing::warn!(%endpoint, dropped = before + 1, "data capture is behind; records dropped");
        }
    }
}

impl Sampled {
    /// Hands the invocation, with its answer, to the writer; never waits: a full channel drops it.
    pub fn finish(self, variant: &str, body: &Bytes, content_type: Option<&HeaderValue>) {
        let output = self.sink.output.then(|| Data::Whole(keep(body)));
        self.send(variant, output, content_type);
    }

    /// Keeps (a clone of) one part of a streamed answer, when the sink captures output. Past the
    /// queue's byte bound the parts are let go: such a record could never be queued.
    pub fn keep_part(&mut self, part: &Bytes) {
        if !self.sink.output {
            return;
        }
        if let Some((parts, len)) = &mut self.parts {
            *len = len.saturating_add(part.len());
            if *len > self.sink.shared.limits.queue_bytes {
                self.parts = None;
            } else {
                parts.push(keep(part));
            }
        }
    }

    /// Hands a streamed invocation whose stream ended whole to the writer, with the parts kept.
    pub fn finish_stream(mut self, variant: &str, content_type: Option<&HeaderValue>) {
        let output = match (self.sink.output, self.parts.take()) {
            (false, _) => None,
            (true, Some((parts, _))) => Some(Data::Parts(parts)),
            (true, None) => {
                self.sink.shared.count_dropped(&self.sink.endpoint);
                return;
            }
        };
        self.send(variant, output, content_type);
    }

    fn send(self, variant: &str, output: Option<Data>, content_type: Option<&HeaderValue>) {
        let sink = self.sink;
        let output = output.map(|data| (data, content_type.cloned()));
        let captured = Captured {
            variant: variant.to_owned(),
            at_ms: self.at_ms,
            input: self.input,
            output,
            inference_id: self.inference_id,
            sink: sink.clone(),
        };
        let size = captured.size();
        let queued = sink.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        // Over the byte bound, or the channel full: dropped (the `||` sends only within the bound).
        if queued.saturating_add(size) > sink.shared.limits.queue_bytes || sink.sender.try_send(captured).is_err() {
            sink.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            sink.shared.count_dropped(&sink.endpoint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::sagemaker::CaptureOption;

    fn config(percent: i32, modes: &[CaptureMode]) -> DataCaptureConfig {
        DataCaptureConfig {
            initial_sampling_percentage: Some(percent),
            destination_s3_uri: Some("s3://b/p".into()),
            capture_options: Some(modes.iter().map(|m| CaptureOption { capture_mode: Some(m.clone()) }).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn the_sampler_takes_its_percentage() {
        assert!(!chosen(0, 0));
        assert!(chosen(1, 0));
        assert!(!chosen(1, 1));
        assert!(chosen(100, 99));
        let taken = (0..100).filter(|draw| chosen(30, *draw)).count();
        assert_eq!(taken, 30);
    }

    #[tokio::test]
    async fn sinks_sample_as_configured_and_a_full_channel_drops_without_waiting() {
        let capture = DataCapture::new(None, CaptureLimits::default());
        assert!(capture.sink("1", "ep", None).is_none());
        let off = DataCaptureConfig { enable_capture: Some(false), ..config(100, &[CaptureMode::Input]) };
        assert!(capture.sink("1", "ep", Some(&off)).is_none());

        let body = Bytes::from_static(b"1,2");
        let never = capture.sink("1", "ep", Some(&config(0, &[CaptureMode::InputAndOutput]))).unwrap();
        assert!((0..1000).all(|_| never.sample(&body, None, None).is_none()));

        let input_only = capture.sink("1", "ep", Some(&config(100, &[CaptureMode::Input]))).unwrap();
        let sampled = input_only.sample(&body, None, None).unwrap();
        assert!(sampled.input.is_some());
        let output_only = capture.sink("1", "ep", Some(&config(100, &[CaptureMode::Output]))).unwrap();
        assert!(output_only.sample(&body, None, None).unwrap().input.is_none());

        let half = capture.sink("1", "ep", Some(&config(50, &[CaptureMode::Input]))).unwrap();
        let taken = (0..10_000).filter(|_| half.sample(&body, None, None).is_some()).count();
        assert!((4000..6000).contains(&taken), "{taken} of 10000 at 50 %");
        drop(sampled);
    }

    #[tokio::test]
    async fn a_full_channel_drops_and_counts() {
        let capture = DataCapture::new(None, CaptureLimits::default());
        let sink = capture.sink("1", "ep", Some(&config(100, &[CaptureMode::Input]))).unwrap();
        // A sink whose channel holds one record and is never read.
        let (tx, _rx) = mpsc::channel(1);
        let sink = Arc::new(CaptureSink {
            sender: tx,
            account: sink.account.clone(),
            endpoint: sink.endpoint.clone(),
            destination: sink.destination.clone(),
            percent: 100,
            input: true,
            output: true,
            types: ContentTypes::default(),
            shared: sink.shared.clone(),
        });
        let body = Bytes::from_static(b"x");
        for _ in 0..3 {
            sink.sample(&body, None, None).unwrap().finish("v", &body, None);
        }
        assert_eq!(capture.dropped(), 2);
        assert_eq!(sink.shared.queued_bytes.load(Ordering::Relaxed), 2, "the one queued record's bytes");

        // Past the byte bound, a record is dropped even with room in the channel.
        let (tx, _rx) = mpsc::channel(10);
        let big = Arc::new(CaptureSink { sender: tx, ..clone_sink(&sink) });
        let huge = Bytes::from(vec![0u8; MAX_QUEUED_BYTES]);
        big.sample(&huge, None, None).unwrap().finish("v", &huge, None);
        assert_eq!(capture.dropped(), 3);
    }

    #[test]
    fn a_small_payload_is_copied_off_its_connection_buffer() {
        let mut buf = bytes::BytesMut::with_capacity(8192);
        buf.extend_from_slice(b"hello world");
        let body = buf.split_to(5).freeze();
        assert!(!body.is_unique(), "a slice of the connection's buffer");
        let kept = keep(&body);
        assert!(kept.is_unique(), "a record holds its own copy");
        assert_eq!(kept, body);
    }

    #[tokio::test]
    async fn the_queue_bytes_limit_drops_and_counts_what_passes_it() {
        let limits = CaptureLimits { queue_bytes: 10, ..CaptureLimits::default() };
        let capture = DataCapture::new(None, limits);
        let sink = capture.sink("1", "ep", Some(&config(100, &[CaptureMode::InputAndOutput]))).unwrap();
        let small = Bytes::from_static(b"12345");
        sink.sample(&small, None, None).unwrap().finish("v", &small, None);
        assert_eq!(capture.dropped(), 0, "5 + 5 bytes fit in 10");
        let big = Bytes::from_static(b"123456");
        sink.sample(&big, None, None).unwrap().finish("v", &big, None);
        assert_eq!(capture.dropped(), 1, "6 + 6 bytes do not");

        // A streamed answer past the bound is let go as it comes, then counted as dropped.
        let mut streamed = sink.sample(&small, None, None).unwrap();
        for _ in 0..3 {
            streamed.keep_part(&small);
        }
        assert!(streamed.parts.is_none(), "15 bytes of parts are more than 10");
        streamed.finish_stream("v", None);
        assert_eq!(capture.dropped(), 2);
    }

    #[tokio::test]
    async fn a_streamed_answer_is_captured_as_its_parts_joined() {
        let capture = DataCapture::new(None, CaptureLimits::default());
        let sink = capture.sink("1", "ep", Some(&config(100, &[CaptureMode::InputAndOutput]))).unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let sink = Arc::new(CaptureSink { sender: tx, ..clone_sink(&sink) });
        let mut sampled = sink.sample(&Bytes::from_static(b"in"), None, None).unwrap();
        for part in ["to", "ken", "s"] {
            sampled.keep_part(&Bytes::from_static(part.as_bytes()));
        }
        sampled.finish_stream("v", None);
        let captured = rx.recv().await.unwrap();
        let Some((Data::Parts(parts), _)) = &captured.output else { panic!("the parts are the output") };
        assert_eq!(parts.concat(), b"tokens");
        assert_eq!(captured.size(), 2 + 6);
    }

    /// The writer is background work: a thread of its own, at the lowest CPU priority.
    #[tokio::test]
    async fn the_writer_runs_on_its_own_thread_at_nice_19() {
        let capture = DataCapture::new(None, CaptureLimits::default());
        capture.sink("1", "ep", Some(&config(100, &[CaptureMode::Input]))).unwrap();
        // (nice, name) of this process's threads named like the writer's; other tests start theirs.
        let writers = || {
            let tasks = std::fs::read_dir("/proc/self/task").unwrap();
            let stats = tasks.flatten().filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok());
            // `pid (comm) state ...`: nice is the 19th field, the 17th after the comm.
            let parse = |stat: String| {
                let (head, rest) = stat.rsplit_once(") ")?;
                let name = head.split_once(" (")?.1.to_owned();
                let nice: i32 = rest.split(' ').nth(16)?.parse().ok()?;
                Some((nice, name))
            };
            stats.filter_map(parse).filter(|(_, name)| name == "smemu-capture").collect::<Vec<_>>()
        };
        let started = std::time::Instant::now();
        let mut found = writers();
        while found.is_empty() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            found = writers();
        }
        assert!(!found.is_empty(), "no smemu-capture thread");
        assert!(found.iter().all(|(nice, _)| *nice == WRITER_NICE), "{found:?}");
    }

    /// `--capture-flush-interval`: a record is written within the interval, not the default 2 s.
    #[tokio::test]
    async fn a_shorter_flush_interval_writes_sooner() {
        let dir = tempfile::tempdir().unwrap();
        let objects = file_objects(dir.path()).await;
        let limits = CaptureLimits { flush_interval: Duration::from_millis(100), ..CaptureLimits::default() };
        let capture = DataCapture::new(Some(objects), limits);
        let destination = format!("file://{}/capture", dir.path().display());
        let config = DataCaptureConfig { destination_s3_uri: Some(destination), ..config(100, &[CaptureMode::Input]) };
        let sink = capture.sink("1", "ep", Some(&config)).unwrap();
        let started = std::time::Instant::now();
        let body = Bytes::from_static(b"x");
        sink.sample(&body, None, None).unwrap().finish("AllTraffic", &body, None);
        let root = dir.path().join("capture/ep/AllTraffic");
        loop {
            let written = walk(&root).into_iter().any(|p| p.extension().is_some_and(|e| e == "jsonl"));
            if written {
                break;
            }
            assert!(started.elapsed() < Duration::from_millis(1500), "nothing written within 1.5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The writer takes what gathered in the channel at once (so that it is not woken per record),
    /// yet still cuts a file at `--capture-file-records` exactly and loses none.
    #[tokio::test]
    async fn records_taken_together_are_still_cut_into_files_of_file_records() {
        let dir = tempfile::tempdir().unwrap();
        let objects = file_objects(dir.path()).await;
        let limits =
            CaptureLimits { flush_interval: Duration::from_millis(200), file_records: 3, ..CaptureLimits::default() };
        let capture = DataCapture::new(Some(objects), limits);
        let destination = format!("file://{}/capture", dir.path().display());
        let config = DataCaptureConfig { destination_s3_uri: Some(destination), ..config(100, &[CaptureMode::Input]) };
        let sink = capture.sink("1", "ep", Some(&config)).unwrap();
        // Seven records sent at once: the writer takes them together.
        for i in 0..7 {
            let body = Bytes::from(format!("r{i}"));
            sink.sample(&body, None, None).unwrap().finish("AllTraffic", &body, None);
        }
        let root = dir.path().join("capture/ep/AllTraffic");
        let started = std::time::Instant::now();
        let mut sizes = loop {
            let files: Vec<_> =
                walk(&root).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
            let sizes: Vec<usize> = files.iter().map(|p| std::fs::read_to_string(p).unwrap().lines().count()).collect();
            if sizes.iter().sum::<usize>() == 7 {
                break sizes;
            }
            assert!(started.elapsed() < Duration::from_secs(3), "not every record written within 3 s: {sizes:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        sizes.sort_unstable();
        assert_eq!(sizes, [1, 3, 3], "two full files and the rest at the flush");
        assert_eq!(capture.dropped(), 0);
    }

    /// Shutdown: `flush` writes what the writer holds and what is still in the channel at once,
    /// long before the flush interval.
    #[tokio::test]
    async fn flush_writes_every_record_sent_before_it_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let objects = file_objects(dir.path()).await;
        let limits = CaptureLimits { flush_interval: Duration::from_secs(3600), ..CaptureLimits::default() };
        let capture = DataCapture::new(Some(objects), limits);
        // Nothing captures yet: nothing to wait for.
        capture.flush().await;
        let destination = format!("file://{}/capture", dir.path().display());
        let config = DataCaptureConfig { destination_s3_uri: Some(destination), ..config(100, &[CaptureMode::Input]) };
        let sink = capture.sink("1", "ep", Some(&config)).unwrap();
        for i in 0..5 {
            let body = Bytes::from(format!("r{i}"));
            sink.sample(&body, None, None).unwrap().finish("AllTraffic", &body, None);
        }
        tokio::time::timeout(Duration::from_secs(5), capture.flush()).await.expect("flush answered");
        let files: Vec<_> = walk(&dir.path().join("capture/ep/AllTraffic"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        let lines: usize = files.iter().map(|p| std::fs::read_to_string(p).unwrap().lines().count()).sum();
        assert_eq!(lines, 5, "every record written by the flush, not an hour later: {files:?}");
    }

    /// An object layer that writes `file://` destinations under `root` (no S3 is reached).
    async fn file_objects(root: &std::path::Path) -> Objects {
        Objects::new(smemu_objects::ObjectsConfig {
            embedded_endpoint: Some("http://127.0.0.1:9".into()),
            default_account: "1".into(),
            region: "us-east-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .with_file_roots(smemu_objects::FileRoots::new(&[root.to_path_buf()]))
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
    }

    fn clone_sink(sink: &CaptureSink) -> CaptureSink {
        CaptureSink {
            sender: sink.sender.clone(),
            account: sink.account.clone(),
            endpoint: sink.endpoint.clone(),
            destination: sink.destination.clone(),
            percent: sink.percent,
            input: sink.input,
            output: sink.output,
            types: sink.types.clone(),
            shared: sink.shared.clone(),
        }
    }
}
