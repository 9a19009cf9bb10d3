//! What the invoke path records, in atomics it reaches without a lookup or a lock: one
//! [`VariantMetrics`] per production variant and one [`Latency`] per pipeline container, held by
//! the routing table's live variant. [`Recorders`] hands them out (once per fleet install, not
//! per request) and lists them for the flusher and `/metrics`; they live as long as smemu, so
//! that counters are cumulative across an endpoint's updates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::histogram::AtomicHistogram;
use super::model::{Point, SeriesKey};

/// A variant of an endpoint, by account, region and names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VariantKey {
    pub account: String,
    pub region: String,
    pub endpoint: String,
    pub variant: String,
}

/// One latency series in microseconds: a sum and a histogram since start (whose total is the
/// count), and the interval's min and max, which the flusher resets.
#[derive(Debug)]
pub struct Latency {
    pub(super) sum: AtomicU64,
    pub(super) min: AtomicU64,
    pub(super) max: AtomicU64,
    pub(super) histogram: AtomicHistogram,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            histogram: AtomicHistogram::default(),
        }
    }
}

impl Latency {
    /// Two atomic adds; min and max are only written when the value passes them.
    pub fn record(&self, micros: u64) {
        self.sum.fetch_add(micros, Ordering::Relaxed);
        self.histogram.record(micros);
        if micros < self.min.load(Ordering::Relaxed) {
            self.min.fetch_min(micros, Ordering::Relaxed);
        }
        if micros > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(micros, Ordering::Relaxed);
        }
    }

    /// The count since start.
    pub fn count(&self) -> u64 {
        self.histogram.total()
    }

    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }
}

/// How an invocation that reached the model ended, as SageMaker counts it
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html>: "the model
/// returned a 4xx/5xx HTTP response code").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error4xx,
    Error5xx,
}

/// A production variant's invocation metrics. `ModelLatency` counts every invocation routed to
/// the variant, so its count is `Invocations`.
#[derive(Debug, Default)]
pub struct VariantMetrics {
    pub model: Latency,
    pub overhead: Latency,
    pub(super) errors_4xx: AtomicU64,
    pub(super) errors_5xx: AtomicU64,
    /// Instances serving now: `InvocationsPerInstance` sends 1/this per request.
    pub(super) instances: AtomicU64,
}

impl VariantMetrics {
    /// One invocation: its model latency, its overhead and how it ended.
    pub fn record(&self, model_micros: u64, overhead_micros: u64, outcome: Outcome) {
        self.model.record(model_micros);
        self.overhead.record(overhead_micros);
        match outcome {
            Outcome::Ok => {}
            Outcome::Error4xx => {
                self.errors_4xx.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error5xx => {
                self.errors_5xx.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn invocations(&self) -> u64 {
        self.model.count()
    }

    pub fn errors(&self) -> (u64, u64) {
        (self.errors_4xx.load(Ordering::Relaxed), self.errors_5xx.load(Ordering::Relaxed))
    }

    pub fn instances(&self) -> u64 {
        self.instances.load(Ordering::Relaxed)
    }

    pub fn set_instances(&self, n: usize) {
        self.instances.store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Every variant's recorder, then every container's (with its name).
pub type Listed = (Vec<(VariantKey, Arc<VariantMetrics>)>, Vec<(VariantKey, String, Arc<Latency>)>);

#[derive(Debug, Default)]
struct Registered {
    variants: BTreeMap<VariantKey, Arc<VariantMetrics>>,
    containers: BTreeMap<(VariantKey, String), Arc<Latency>>,
}

/// The most samples waiting for the next flush: past it the newest are dropped (a flusher that
/// cannot write must not grow memory without bound).
const MAX_PENDING: usize = 100_000;

/// Every variant's and container's recorder since start.
#[derive(Debug, Default)]
pub struct Recorders {
    registered: Mutex<Registered>,
    /// Samples taken off the invoke path (instance utilization) for the next flush to store.
    pending: Mutex<Vec<(SeriesKey, Point)>>,
}

impl Recorders {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.registered.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The variant's recorder (created at its first fleet).
    pub fn variant(&self, key: &VariantKey) -> Arc<VariantMetrics> {
        self.lock().variants.entry(key.clone()).or_default().clone()
    }

    /// A pipeline container's `ContainerLatency` recorder.
    pub fn container(&self, key: &VariantKey, container: &str) -> Arc<Latency> {
        self.lock().containers.entry((key.clone(), container.to_owned())).or_default().clone()
    }

    /// Every recorder, for the flusher and `/metrics`.
    pub fn list(&self) -> Listed {
        let registered = self.lock();
        (
            registered.variants.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            registered.containers.iter().map(|((k, c), v)| (k.clone(), c.clone(), v.clone())).collect(),
        )
    }

    /// Queues a sample for the next flush.
    pub fn push_sample(&self, key: SeriesKey, point: Point) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pending.len() < MAX_PENDING {
            pending.push((key, point));
        }
    }

    /// The samples queued since the last call.
    pub fn take_samples(&self) -> Vec<(SeriesKey, Point)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}
