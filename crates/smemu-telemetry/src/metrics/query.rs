//! Statistics over periods: the stored per-second points grouped into the periods a request asks
//! for (aligned to the epoch, so a 60-second period starts on the minute), and each statistic of
//! a group.

use std::collections::BTreeMap;

use super::model::{Point, Stats};

/// One statistic CloudWatch computes (API_GetMetricStatistics `Statistics`, and the `pNN.NN`
/// percentiles of `ExtendedStatistics`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN` / `pNN.NN`, 0 ≤ NN ≤ 100.
    Percentile(f64),
}

impl Statistic {
    /// A name as `Statistics` and `MetricStat.Stat` spell it; `None` for anything else.
    pub fn parse(name: &str) -> Option<Statistic> {
        Some(match name {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            other => return Self::percentile(other),
        })
    }

    /// `pNN.NN` only: the percentile form smemu evaluates.
    pub fn percentile(name: &str) -> Option<Statistic> {
        let number = name.strip_prefix('p')?;
        if number.is_empty() || number.len() > 6 || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        let p: f64 = number.parse().ok()?;
        (0.0..=100.0).contains(&p).then_some(Statistic::Percentile(p))
    }

    /// The statistic's value over `stats`; `None` when it cannot be told (a percentile without
    /// raw values).
    pub fn of(self, stats: &Stats) -> Option<f64> {
        Some(match self {
            Statistic::SampleCount => stats.count,
            Statistic::Average => stats.average(),
            Statistic::Sum => stats.sum,
            Statistic::Minimum => stats.min,
            Statistic::Maximum => stats.max,
            Statistic::Percentile(p) => return stats.percentile(p),
        })
    }
}

/// One period's statistics of one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Start of the period, epoch milliseconds.
    pub ts_ms: i64,
    pub unit: String,
    pub stats: Stats,
}

/// The start of the period holding `ts_ms`.
pub fn period_start(ts_ms: i64, period_s: i64) -> i64 {
    let period_ms = period_s.max(1) * 1000;
    ts_ms.div_euclid(period_ms) * period_ms
}

/// Groups `points` into periods of `period_s` seconds (and by unit), keeping those of `unit`
/// when given; oldest first.
pub fn aggregate(points: &[Point], period_s: i64, unit: Option<&str>) -> Vec<Aggregate> {
    let mut groups: BTreeMap<(i64, &str), Stats> = BTreeMap::new();
    for point in points {
        if unit.is_some_and(|unit| unit != point.unit) {
            continue;
        }
        let key = (period_start(point.ts_ms, period_s), point.unit.as_str());
        match groups.get_mut(&key) {
            Some(stats) => stats.merge(&point.stats),
            None => {
                groups.insert(key, point.stats.clone());
            }
        }
    }
    groups.into_iter().map(|((ts_ms, unit), stats)| Aggregate { ts_ms, unit: unit.to_owned(), stats }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,12}") {
            if let Some(Statistic::Percentile(p)) = Statistic::parse(&text) {
                prop_assert!((0.0..=100.0).contains(&p));
            }
        }

        #[test]
        fn every_percentile_with_two_decimals_parses(hundredths in 0u32..=10_000) {
            let text = format!("p{}.{:02}", hundredths / 100, hundredths % 100);
            prop_assert_eq!(Statistic::parse(&text), Some(Statistic::Percentile(f64::from(hundredths) / 100.0)));
        }
    }

    fn point(ts_ms: i64, value: f64) -> Point {
        Point { ts_ms, unit: "Count".into(), stats: Stats::repeated(value, 1.0) }
    }

    #[test]
    fn points_group_into_epoch_aligned_periods() {
        let points: Vec<Point> = (0..30).map(|s| point(60_000 + s * 1000, s as f64)).collect();
        let ten = aggregate(&points, 10, None);
        assert_eq!(ten.iter().map(|a| a.ts_ms).collect::<Vec<_>>(), vec![60_000, 70_000, 80_000]);
        assert_eq!(ten.iter().map(|a| a.stats.count).collect::<Vec<_>>(), vec![10.0; 3]);
        assert_eq!(ten[1].stats.sum, (10..20).sum::<i64>() as f64);
        assert_eq!((ten[2].stats.min, ten[2].stats.max), (20.0, 29.0));
        let minute = aggregate(&points, 60, None);
        assert_eq!(minute.len(), 1);
        assert_eq!(minute[0].stats.count, 30.0);
        assert_eq!(Statistic::Average.of(&minute[0].stats), Some(14.5));
        assert!(aggregate(&points, 60, Some("Seconds")).is_empty());
    }

    #[test]
    fn statistics_parse_as_cloudwatch_names_them() {
        assert_eq!(Statistic::parse("Sum"), Some(Statistic::Sum));
        assert_eq!(Statistic::parse("p99.9"), Some(Statistic::Percentile(99.9)));
        assert_eq!(Statistic::parse("p101"), None);
        assert_eq!(Statistic::parse("sum"), None);
        assert_eq!(Statistic::parse("p"), None);
    }

    #[test]
    fn percentiles_merge_across_points_and_vanish_with_statistic_sets() {
        let mut points: Vec<Point> = (1..=100).map(|v| point(v * 10, v as f64)).collect();
        let merged = aggregate(&points, 60, None);
        let p90 = Statistic::Percentile(90.0).of(&merged[0].stats).unwrap();
        assert!((p90 - 90.0).abs() <= 90.0 * 0.02, "{p90}");
        points.push(Point {
            ts_ms: 5,
            unit: "Count".into(),
            stats: Stats { count: 3.0, sum: 6.0, min: 1.0, max: 3.0, histogram: None },
        });
        let merged = aggregate(&points, 60, None);
        assert_eq!(Statistic::Percentile(90.0).of(&merged[0].stats), None);
        assert_eq!(Statistic::SampleCount.of(&merged[0].stats), Some(103.0));
    }
}
