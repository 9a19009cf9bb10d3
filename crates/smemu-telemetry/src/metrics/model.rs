//! The metric store's words: a series (metric and dimension set, per account and region) and its
//! points (count, sum, min, max and histogram over an interval), and how statistics merge.

use super::histogram::Histogram;

/// One metric with one dimension set, as CloudWatch tells metrics apart ("each unique
/// combination of dimensions is a separate metric", API_GetMetricStatistics).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub account: String,
    pub region: String,
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name (see [`SeriesKey::new`]).
    pub dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new(
        account: &str,
        region: &str,
        namespace: &str,
        metric_name: &str,
        mut dimensions: Vec<(String, String)>,
    ) -> Self {
        dimensions.sort();
        SeriesKey {
            account: account.to_owned(),
            region: region.to_owned(),
            namespace: namespace.to_owned(),
            metric_name: metric_name.to_owned(),
            dimensions,
        }
    }
}

/// What every statistic of a set of values is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// `None`: some values went in as a statistic set, so no percentile can be told.
    pub histogram: Option<Histogram>,
}

impl Stats {
    /// `count` values all equal to `value`.
    pub fn repeated(value: f64, count: f64) -> Stats {
        let mut histogram = Histogram::default();
        histogram.add(value, count);
        Stats { count, sum: value * count, min: value, max: value, histogram: Some(histogram) }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        match (&mut self.histogram, &other.histogram) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine, _) => *mine = None,
        }
    }

    pub fn average(&self) -> f64 {
        if self.count > 0.0 { self.sum / self.count } else { 0.0 }
    }

    /// The `p`th percentile; `None` without raw values (or for negative ones, which CloudWatch
    /// gives no percentiles for: API_GetMetricStatistics).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.min < 0.0 {
            return None;
        }
        self.histogram.as_ref()?.percentile(p, self.min, self.max)
    }
}

/// One interval of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Start of the interval, epoch milliseconds.
    pub ts_ms: i64,
    /// The unit as CloudWatch names it (`Microseconds`, `None`, `Percent`...).
    pub unit: String,
    pub stats: Stats,
}
