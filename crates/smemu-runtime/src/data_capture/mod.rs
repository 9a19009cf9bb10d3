//! Data capture (`DataCaptureConfig`): sampled invocations written as JSON Lines files under the
//! endpoint's `DestinationS3Uri`, off the invocation path.
//!
//! The invoke path only draws the sample ([`CaptureSink::sample`]) and, once the answer is in, hands
//! a [`Captured`] (clones of the `Bytes` it already holds) to a bounded channel with `try_send`: a
//! full channel drops the record and counts it, so capture never slows or blocks an invocation. One
//! writer task (`writer.rs`) encodes the records (`record.rs`) and writes one file per endpoint,
//! variant and hour each time it flushes, through smemu-objects.
//! <https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html>
//!
//! Other invocation paths (response streaming, async) capture through [`CaptureSink::sample`] and
//! [`Sampled::finish`] the same way.

mod record;
mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use smemu_objects::Objects;
use smemu_types::sagemaker::{CaptureMode, DataCaptureConfig};
use tokio::sync::mpsc;

pub use record::{ContentTypes, Encoding};

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

/// The runtime's capture: one writer for every endpoint, started with the first endpoint that
/// captures (on the controller's runtime, never on a serving lane).
#[derive(Clone)]
pub struct DataCapture {
    inner: Arc<Shared>,
}

struct Shared {
    objects: Option<Objects>,
    sender: OnceLock<mpsc::Sender<Captured>>,
    /// Records dropped because the writer was behind.
    dropped: AtomicU64,
    /// Payload bytes of the records in the channel.
    queued_bytes: AtomicUsize,
}

impl DataCapture {
    pub fn new(objects: Option<Objects>) -> Self {
        DataCapture {
            inner: Arc::new(Shared {
                objects,
                sender: OnceLock::new(),
                dropped: AtomicU64::new(0),
                queued_bytes: AtomicUsize::new(0),
            }),
        }
    }

    /// Records dropped so far because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The sink an endpoint's live fleet holds, or `None` when `config` captures nothing
    /// (absent, or `EnableCapture` false). Must run inside the main tokio runtime.
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
                let (tx, rx) = mpsc::channel(CHANNEL_RECORDS);
                let limits =
                    writer::Limits { every: FLUSH_INTERVAL, records: MAX_BATCH_RECORDS, bytes: MAX_BATCH_BYTES };
                tokio::spawn(writer::run(self.inner.objects.clone(), rx, limits));
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
}

/// A captured invocation on its way to the writer.
pub struct Captured {
    sink: Arc<CaptureSink>,
    variant: String,
    at_ms: i64,
    input: Option<(Bytes, Option<HeaderValue>)>,
    output: Option<(Bytes, Option<HeaderValue>)>,
    inference_id: Option<HeaderValue>,
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
            input: self.input.then(|| (body.clone(), content_type.cloned())),
            inference_id: inference_id.cloned(),
        })
    }
}

impl Captured {
    /// The payload bytes this record keeps alive.
    fn size(&self) -> usize {
        let len = |side: &Option<(Bytes, Option<HeaderValue>)>| side.as_ref().map_or(0, |(data, _)| data.len());
        len(&self.input).saturating_add(len(&self.output))
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
        let sink = self.sink;
        let output = sink.output.then(|| (body.clone(), content_type.cloned()));
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
        if queued.saturating_add(size) > MAX_QUEUED_BYTES || sink.sender.try_send(captured).is_err() {
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
        let capture = DataCapture::new(None);
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
        let capture = DataCapture::new(None);
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
