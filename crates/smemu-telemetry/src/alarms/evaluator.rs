//! The evaluator task: every tick (a second) it finds the alarms whose period has ended since
//! they were last judged (or whose configuration changed), reads their last `EvaluationPeriods`
//! periods from the metric store and stores the state they lead to.
//!
//! A period is judged `lag` after it ends, so that the flusher has written its last second:
//! a 10-second alarm reacts within about 12 seconds of the period that breached. A state set by
//! SetAlarmState holds until the next period boundary, as the service's does.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::evaluate::{Datapoint, evaluate};
use super::model::{Alarm, AlarmDefinition};
use super::{Alarms, now_ms};
use crate::metrics::MetricStore;
use crate::metrics::model::{Point, SeriesKey, Stats};
use crate::metrics::query::period_start;

#[derive(Debug, Clone, Copy)]
pub struct EvaluatorConfig {
    /// How often due alarms are looked for.
    pub tick: Duration,
    /// How long after a period ends it is judged: longer than the metrics' flush interval.
    pub lag: Duration,
}

/// When an alarm was last judged.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Judged {
    config_updated_ms: i64,
    /// The end of the last period judged.
    boundary_ms: i64,
}

/// Judges alarms until `shutdown` resolves; prunes their history every ten minutes.
pub async fn run(alarms: Alarms, metrics: MetricStore, config: EvaluatorConfig, shutdown: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(config.tick.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lag_ms = i64::try_from(config.lag.as_millis()).unwrap_or(0);
    let mut judged: HashMap<(String, String, String), Judged> = HashMap::new();
    let mut last_prune = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut shutdown => return,
        }
        let now = now_ms();
        let all = alarms.all();
        if judged.len() > all.len() {
            let live: std::collections::HashSet<(&str, &str, &str)> =
                all.iter().map(|a| (a.account.as_str(), a.region.as_str(), a.name.as_str())).collect();
            judged.retain(|(account, region, name), _| {
                live.contains(&(account.as_str(), region.as_str(), name.as_str()))
            });
        }
        for alarm in all {
            let period_ms = i64::from(alarm.definition.period.max(1)) * 1000;
            let boundary_ms = period_start(now - lag_ms, period_ms / 1000);
            let due = Judged { config_updated_ms: alarm.config_updated_ms, boundary_ms };
            let key = (alarm.account.clone(), alarm.region.clone(), alarm.name.clone());
            if judged.get(&key) == Some(&due) {
                continue;
            }
            match judge(&alarms, &metrics, &alarm, boundary_ms, now).await {
                Ok(()) => {
                    judged.insert(key, due);
                }
                Err(err) => tracing::warn!(alarm = %alarm.name, error = %err, "evaluating an alarm"),
            }
        }
        if now - last_prune >= 600_000 {
            last_prune = now;
            if let Err(err) = alarms.prune_history().await {
                tracing::warn!(error = %err, "pruning alarm history");
            }
        }
    }
}

async fn judge(
    alarms: &Alarms,
    metrics: &MetricStore,
    alarm: &Arc<Alarm>,
    boundary_ms: i64,
    now: i64,
) -> Result<(), super::AlarmError> {
    let d = &alarm.definition;
    let key = SeriesKey::new(&alarm.account, &alarm.region, &d.namespace, &d.metric_name, d.dimensions.clone());
    let from_ms = boundary_ms - i64::from(d.period) * 1000 * i64::from(d.evaluation_periods);
    let points = metrics.points(&key, from_ms, boundary_ms).await?;
    let range = window(d, &points, boundary_ms);
    if let Some(outcome) = evaluate(d, alarm.status.state, &range, now) {
        alarms.apply(alarm, outcome).await?;
    }
    Ok(())
}

/// The alarm's statistic over each of its last `EvaluationPeriods` periods ending at
/// `boundary_ms`, oldest first, from the stored points (of the alarm's unit, or of every unit).
pub fn window(definition: &AlarmDefinition, points: &[Point], boundary_ms: i64) -> Vec<Datapoint> {
    let period_ms = i64::from(definition.period.max(1)) * 1000;
    let periods = i64::from(definition.evaluation_periods.max(1));
    let from_ms = boundary_ms - period_ms * periods;
    let mut merged: BTreeMap<i64, Stats> = BTreeMap::new();
    for point in points {
        if point.ts_ms < from_ms || point.ts_ms >= boundary_ms {
            continue;
        }
        if definition.unit.as_ref().is_some_and(|unit| *unit != point.unit) {
            continue;
        }
        let start = period_start(point.ts_ms, period_ms / 1000);
        match merged.get_mut(&start) {
            Some(stats) => stats.merge(&point.stats),
            None => {
                merged.insert(start, point.stats.clone());
            }
        }
    }
    let statistic = definition.statistic.statistic();
    (0..periods)
        .map(|i| {
            let ts_ms = from_ms + i * period_ms;
            let stats = merged.get(&ts_ms);
            Datapoint {
                ts_ms,
                value: stats.and_then(|stats| statistic?.of(stats)),
                sample_count: stats.map_or(0.0, |stats| stats.count),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::model::{AlarmStatistic, Comparison};

    fn definition(statistic: AlarmStatistic, unit: Option<&str>) -> AlarmDefinition {
        AlarmDefinition {
            description: None,
            namespace: "AWS/SageMaker".into(),
            metric_name: "ModelLatency".into(),
            dimensions: vec![],
            statistic,
            unit: unit.map(Into::into),
            period: 10,
            evaluation_periods: 3,
            datapoints_to_alarm: None,
            threshold: 1.0,
            comparison: Comparison::GreaterThanThreshold,
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            tags: vec![],
        }
    }

    fn point(ts_ms: i64, value: f64, unit: &str) -> Point {
        Point { ts_ms, unit: unit.into(), stats: Stats::repeated(value, 1.0) }
    }

    #[test]
    fn periods_gather_their_seconds_and_empty_ones_are_missing() {
        // Seconds 100..130 s; the middle period (110..120 s) has no point.
        let mut points: Vec<Point> = (100..110).map(|s| point(s * 1000, s as f64, "None")).collect();
        points.extend((120..130).map(|s| point(s * 1000, 1.0, "None")));
        points.push(point(130_000, 99.0, "None")); // past the boundary: not evaluated
        let sum = window(&definition(AlarmStatistic::Statistic("Sum".into()), None), &points, 130_000);
        assert_eq!(sum.iter().map(|p| p.ts_ms).collect::<Vec<_>>(), vec![100_000, 110_000, 120_000]);
        assert_eq!(sum.iter().map(|p| p.value).collect::<Vec<_>>(), vec![Some(1045.0), None, Some(10.0)]);
        assert_eq!(sum[0].sample_count, 10.0);
        let other_unit =
            window(&definition(AlarmStatistic::Statistic("Sum".into()), Some("Seconds")), &points, 130_000);
        assert!(other_unit.iter().all(|p| p.value.is_none()));
    }

    #[test]
    fn percentiles_come_from_the_periods_values() {
        let points: Vec<Point> = (0..100).map(|i| point(100_000 + i * 100, (i + 1) as f64, "Microseconds")).collect();
        let p90 = window(&definition(AlarmStatistic::Extended("p90".into()), None), &points, 120_000);
        let value = p90[1].value.unwrap();
        assert!((value - 90.0).abs() <= 90.0 * 0.02, "{value}");
        assert_eq!(p90[2].value, None);
        // A statistic set without raw values has no percentile: the period counts as missing.
        let set = [Point {
            ts_ms: 110_000,
            unit: "None".into(),
            stats: Stats { count: 3.0, sum: 6.0, min: 1.0, max: 3.0, histogram: None },
        }];
        let p50 = window(&definition(AlarmStatistic::Extended("p50".into()), None), &set, 120_000);
        assert_eq!(p50[2].value, None);
        let max = window(&definition(AlarmStatistic::Statistic("Maximum".into()), None), &set, 120_000);
        assert_eq!(max[2].value, Some(3.0));
    }
}
