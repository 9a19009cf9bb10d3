//! The flusher: every interval (a second by default) it turns what the recorders counted since
//! the last flush into one point per series with data, adds the queued instance samples, stores
//! them, and expires points past the retention.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::histogram::{AtomicHistogram, Histogram};
use super::model::{Point, SeriesKey, Stats};
use super::recorder::{Latency, Recorders, VariantKey, VariantMetrics};
use super::store::MetricStore;
use super::{names, units};

/// How often and how long.
#[derive(Debug, Clone, Copy)]
pub struct FlushConfig {
    /// How often points are written: the finest period a query can tell apart.
    pub interval: Duration,
    /// How long points are kept.
    pub retention: Duration,
    /// How long points are kept per second; older ones are merged per minute.
    pub fine_retention: Duration,
}

/// What a latency had counted at the last flush.
#[derive(Debug, Default)]
struct Seen {
    histogram: Vec<u64>,
    sum: u64,
    errors: (u64, u64),
}

/// Turns the recorders' cumulative counts into per-interval points.
#[derive(Debug)]
pub struct Flusher {
    recorders: Arc<Recorders>,
    variants: HashMap<VariantKey, (Seen, Seen)>,
    containers: HashMap<(VariantKey, String), Seen>,
}

impl Flusher {
    pub fn new(recorders: Arc<Recorders>) -> Self {
        Flusher { recorders, variants: HashMap::new(), containers: HashMap::new() }
    }

    /// The points of the interval starting at `ts_ms` (whole seconds) since the last call.
    pub fn collect(&mut self, ts_ms: i64) -> Vec<(SeriesKey, Point)> {
        let (variants, containers) = self.recorders.list();
        let mut out = Vec::new();
        for (key, metrics) in variants {
            let (model_seen, overhead_seen) = self.variants.entry(key.clone()).or_default();
            variant_points(&key, &metrics, model_seen, overhead_seen, ts_ms, &mut out);
        }
        for (key, container, latency) in containers {
            let seen = self.containers.entry((key.clone(), container.clone())).or_default();
            if let Some(stats) = latency_delta(&latency, seen) {
                let mut dimensions = endpoint_dimensions(&key);
                dimensions.push(("ContainerName".to_owned(), container));
                out.push(series(
                    &key,
                    names::SAGEMAKER,
                    names::CONTAINER_LATENCY,
                    dimensions,
                    ts_ms,
                    units::MICROS,
                    stats,
                ));
            }
        }
        out.extend(self.recorders.take_samples());
        out
    }
}

fn endpoint_dimensions(key: &VariantKey) -> Vec<(String, String)> {
    vec![("EndpointName".to_owned(), key.endpoint.clone()), ("VariantName".to_owned(), key.variant.clone())]
}

fn series(
    key: &VariantKey,
    namespace: &str,
    metric: &str,
    dimensions: Vec<(String, String)>,
    ts_ms: i64,
    unit: &str,
    stats: Stats,
) -> (SeriesKey, Point) {
    (
        SeriesKey::new(&key.account, &key.region, namespace, metric, dimensions),
        Point { ts_ms, unit: unit.to_owned(), stats },
    )
}

/// The invocation metrics of one variant, each as the developer guide defines what one request
/// sends (<https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html>).
fn variant_points(
    key: &VariantKey,
    metrics: &VariantMetrics,
    model_seen: &mut Seen,
    overhead_seen: &mut Seen,
    ts_ms: i64,
    out: &mut Vec<(SeriesKey, Point)>,
) {
    let errors = metrics.errors();
    let new_errors = (errors.0.saturating_sub(model_seen.errors.0), errors.1.saturating_sub(model_seen.errors.1));
    model_seen.errors = errors;
    let Some(model) = latency_delta(&metrics.model, model_seen) else { return };
    let n = model.count;
    let mut push = |metric: &str, unit: &str, stats: Stats| {
        out.push(series(key, names::SAGEMAKER, metric, endpoint_dimensions(key), ts_ms, unit, stats));
    };
    // Invocations: 1 per request ("use the Sum statistic" for the number of requests).
    push(names::INVOCATIONS, units::NONE, Stats::repeated(1.0, n));
    // InvocationsPerInstance: "1/numberOfInstances is sent as the value on each request"
    // (API_ScalingPolicyMetric), with the instances serving at the time.
    let instances = metrics.instances().max(1) as f64;
    push(names::INVOCATIONS_PER_INSTANCE, units::NONE, Stats::repeated(1.0 / instances, n));
    // Invocation4XXErrors / 5XX: "For each 4xx response, 1 is sent; otherwise, 0 is sent", so
    // Average is the error rate and SampleCount the requests.
    push(names::ERRORS_4XX, units::NONE, binary(n, new_errors.0 as f64));
    push(names::ERRORS_5XX, units::NONE, binary(n, new_errors.1 as f64));
    // ModelLatency and OverheadLatency: microseconds.
    push(names::MODEL_LATENCY, units::MICROS, model);
    if let Some(overhead) = latency_delta(&metrics.overhead, overhead_seen) {
        push(names::OVERHEAD_LATENCY, units::MICROS, overhead);
    }
}

/// `n` values of which `ones` are 1 and the rest 0.
fn binary(n: f64, ones: f64) -> Stats {
    let ones = ones.min(n);
    let mut histogram = Histogram::default();
    histogram.add(0.0, n - ones);
    histogram.add(1.0, ones);
    Stats {
        count: n,
        sum: ones,
        min: if ones >= n { 1.0 } else { 0.0 },
        max: if ones > 0.0 { 1.0 } else { 0.0 },
        histogram: Some(histogram),
    }
}

/// What `latency` counted since `seen`, in microseconds; `None` when nothing.
fn latency_delta(latency: &Latency, seen: &mut Seen) -> Option<Stats> {
    let now = latency.histogram.load();
    seen.histogram.resize(now.len(), 0);
    let mut histogram = Histogram::default();
    let mut count = 0u64;
    let mut lowest = None;
    let mut highest = None;
    for (slot, (now, before)) in now.iter().zip(seen.histogram.iter()).enumerate() {
        let delta = now.saturating_sub(*before);
        if delta > 0 {
            count += delta;
            histogram.add_key(AtomicHistogram::key_of_slot(slot), delta as f64);
            lowest.get_or_insert(slot);
            highest = Some(slot);
        }
    }
    seen.histogram = now;
    let sum = latency.sum();
    let delta_sum = sum.saturating_sub(seen.sum);
    seen.sum = sum;
    // The interval's extremes are taken (and reset) together; a record racing this flush may
    // leave them to the next interval, so the histogram's own bounds stand in when they are unset.
    let min = latency.min.swap(u64::MAX, std::sync::atomic::Ordering::Relaxed);
    let max = latency.max.swap(0, std::sync::atomic::Ordering::Relaxed);
    if count == 0 {
        return None;
    }
    let bound = |slot: Option<usize>| slot.map_or(0.0, AtomicHistogram::upper_bound_of_slot);
    let min = if min == u64::MAX { bound(lowest) } else { min as f64 };
    let max = if max == 0 { bound(highest) } else { max as f64 };
    Some(Stats { count: count as f64, sum: delta_sum as f64, min, max, histogram: Some(histogram) })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Flushes every `config.interval` until `shutdown` resolves, then once more; once a minute,
/// expires old points and merges those past `fine_retention` per minute.
pub async fn run(
    recorders: Arc<Recorders>,
    store: MetricStore,
    config: FlushConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut flusher = Flusher::new(recorders);
    let mut tick = tokio::time::interval(config.interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_ms = i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX);
    let fine_ms = i64::try_from(config.fine_retention.as_millis()).unwrap_or(i64::MAX);
    let mut last_expiry = 0;
    tokio::pin!(shutdown);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = &mut shutdown => true,
        };
        let now = now_ms();
        let points = flusher.collect(now - now.rem_euclid(1000));
        if let Err(err) = store.put(&points).await {
            tracing::warn!(error = %err, points = points.len(), "storing metrics");
        }
        if now - last_expiry >= 60_000 {
            last_expiry = now;
            if let Err(err) = store.expire(now.saturating_sub(retention_ms)).await {
                tracing::warn!(error = %err, "expiring metrics");
            }
            if let Err(err) = store.compact(now.saturating_sub(fine_ms)).await {
                tracing::warn!(error = %err, "merging metrics per minute");
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::Outcome;

    #[test]
    fn an_interval_holds_what_was_recorded_since_the_last_flush() {
        let recorders = Arc::new(Recorders::default());
        let key = VariantKey {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            endpoint: "e".into(),
            variant: "v".into(),
        };
        let variant = recorders.variant(&key);
        variant.set_instances(2);
        let container = recorders.container(&key, "second");
        let mut flusher = Flusher::new(recorders.clone());
        for (model, outcome) in
            [(100, Outcome::Ok), (300, Outcome::Error4xx), (200, Outcome::Error5xx), (400, Outcome::Ok)]
        {
            variant.record(model, 10, outcome);
            container.record(model / 2);
        }
        let points = flusher.collect(1000);
        let get =
            |name: &str| points.iter().find(|(k, _)| k.metric_name == name).map(|(_, p)| p.stats.clone()).unwrap();
        assert_eq!(get("Invocations").sum, 4.0);
        assert_eq!(get("InvocationsPerInstance").sum, 2.0);
        assert_eq!((get("Invocation4XXErrors").sum, get("Invocation4XXErrors").count), (1.0, 4.0));
        assert_eq!(get("Invocation5XXErrors").sum, 1.0);
        let model = get("ModelLatency");
        assert_eq!((model.count, model.sum, model.min, model.max), (4.0, 1000.0, 100.0, 400.0));
        assert_eq!(get("ContainerLatency").sum, 500.0);
        let (container_key, _) = points.iter().find(|(k, _)| k.metric_name == "ContainerLatency").unwrap();
        assert!(container_key.dimensions.contains(&("ContainerName".to_owned(), "second".to_owned())));
        // Nothing new: no points.
        assert!(flusher.collect(2000).is_empty());
        variant.record(50, 5, Outcome::Ok);
        let points = flusher.collect(3000);
        let model = points.iter().find(|(k, _)| k.metric_name == "ModelLatency").unwrap();
        assert_eq!((model.1.stats.count, model.1.stats.min, model.1.stats.max), (1.0, 50.0, 50.0));
    }
}
