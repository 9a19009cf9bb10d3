//! The evaluation rules, pure: the last `EvaluationPeriods` periods of a metric in, the state
//! they put the alarm in (with the service's reason and reason data) out.
//!
//! From the CloudWatch user guide ("Evaluating an alarm", "Configuring how CloudWatch alarms
//! treat missing data"):
//! - `DatapointsToAlarm` (M) of `EvaluationPeriods` (N) breaching datapoints put the alarm in ALARM.
//! - `breaching` / `notBreaching`: a missing datapoint counts as breaching / not breaching, so the
//!   alarm is always OK or ALARM.
//! - `missing`: missing datapoints are left out. With none at all the alarm goes to
//!   INSUFFICIENT_DATA. It also goes to ALARM "when the oldest available breaching data point in
//!   the alarm's evaluation range is at least as old as the value of Datapoints to Alarm, and
//!   all other more recent data points are breaching or missing".
//! - `ignore`: "the current alarm state is maintained" while data is missing: smemu keeps the
//!   state when the newest period has no datapoint, and otherwise judges the datapoints there are.
//!
//! smemu's evaluation range is exactly the last N periods (the service may look a little further
//! back when data is missing).

use serde::Serialize;

use super::model::{AlarmDefinition, AlarmState, AlarmStatistic, MissingData};
use super::text::{datapoints, iso_millis, java_double, reason_date, was};

/// One period of the evaluation range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// Start of the period, epoch milliseconds.
    pub ts_ms: i64,
    /// The alarm's statistic over the period; `None` when the period has no data (or, for a
    /// percentile, no raw values).
    pub value: Option<f64>,
    pub sample_count: f64,
}

/// A state the evaluation arrived at, with the service's texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: AlarmState,
    pub reason: String,
    /// JSON text.
    pub reason_data: String,
}

/// The state `range` (the last N periods, oldest first) puts the alarm in, coming from
/// `current`; `None` when the alarm keeps its state (`ignore` with missing data).
pub fn evaluate(
    definition: &AlarmDefinition,
    current: AlarmState,
    range: &[Datapoint],
    query_ms: i64,
) -> Option<Outcome> {
    let n = range.len();
    let m = usize::try_from(definition.datapoints_to_alarm()).unwrap_or(usize::MAX).min(n.max(1));
    let comparison = definition.comparison;
    let threshold = definition.threshold;
    let breaches = |p: &Datapoint| p.value.map(|v| comparison.breaches(v, threshold));
    let present: Vec<&Datapoint> = range.iter().filter(|p| p.value.is_some()).collect();
    let missing = n - present.len();
    let breaching = present.iter().filter(|p| breaches(p) == Some(true)).count();
    let data = reason_data(definition, range, query_ms);
    let outcome = |state: AlarmState, reason: String| Some(Outcome { state, reason, reason_data: data.clone() });

    let alarm_by_data = |listed_from: &[&Datapoint]| {
        let listed: Vec<&Datapoint> = listed_from.iter().rev().copied().filter(|p| breaches(p) == Some(true)).collect();
        outcome(AlarmState::Alarm, crossed(definition, current, AlarmState::Alarm, &listed, n, m))
    };
    let ok_by_data = |listed_from: &[&Datapoint]| {
        let listed: Vec<&Datapoint> =
            listed_from.iter().rev().copied().filter(|p| breaches(p) == Some(false)).collect();
        // Fewest datapoints within the threshold that leave no room for M breaching ones.
        outcome(AlarmState::Ok, crossed(definition, current, AlarmState::Ok, &listed, n, n - m + 1))
    };
    // The reason when substituted missing datapoints decided the state.
    let treated = |state: AlarmState, as_what: &str| {
        let received = if present.is_empty() {
            format!("no datapoints were received for {n} periods")
        } else {
            format!("{} {} received for {n} periods", datapoints(present.len()), was(present.len()))
        };
        let missing_text = if missing == 1 { "datapoint was" } else { "datapoints were" };
        outcome(
            state,
            format!("Threshold Crossed: {received} and {missing} missing {missing_text} treated as [{as_what}]."),
        )
    };

    match definition.missing_data() {
        MissingData::Breaching if missing > 0 => {
            if breaching >= m {
                alarm_by_data(&present)
            } else if breaching + missing >= m {
                treated(AlarmState::Alarm, "Breaching")
            } else {
                ok_by_data(&present)
            }
        }
        MissingData::NotBreaching if missing > 0 => {
            if breaching >= m {
                alarm_by_data(&present)
            } else if present.len() == breaching {
                treated(AlarmState::Ok, "NonBreaching")
            } else {
                ok_by_data(&present)
            }
        }
        MissingData::Missing if present.is_empty() => {
            outcome(AlarmState::InsufficientData, format!("Insufficient Data: {} {} unknown.", datapoints(n), was(n)))
        }
        MissingData::Ignore if range.last().is_none_or(|p| p.value.is_none()) => None,
        treatment => {
            let oldest_rule = treatment == MissingData::Missing && {
                // The oldest breaching datapoint is at least M periods old and nothing newer
                // than it is a datapoint within the threshold.
                range
                    .iter()
                    .position(|p| breaches(p) == Some(true))
                    .is_some_and(|oldest| n - oldest >= m && range[oldest..].iter().all(|p| breaches(p) != Some(false)))
            };
            if breaching >= m || oldest_rule { alarm_by_data(&present) } else { ok_by_data(&present) }
        }
    }
}

/// "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (06/12/26 23:10:00)] was greater
/// than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
fn crossed(
    definition: &AlarmDefinition,
    from: AlarmState,
    to: AlarmState,
    listed: &[&Datapoint],
    n: usize,
    minimum: usize,
) -> String {
    let values: Vec<String> = listed
        .iter()
        .map(|p| format!("{} ({})", java_double(p.value.unwrap_or_default()), reason_date(p.ts_ms)))
        .collect();
    let not = if to == AlarmState::Ok { "not " } else { "" };
    format!(
        "Threshold Crossed: {} out of the last {n} datapoints [{}] {} {not}{} the threshold ({}) (minimum {} for {} -> {} transition).",
        listed.len(),
        values.join(", "),
        was(listed.len()),
        definition.comparison.words(),
        java_double(definition.threshold),
        datapoints(minimum),
        from.as_str(),
        to.as_str(),
    )
}

/// `StateReasonData` as the service writes it for a metric alarm.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReasonData<'a> {
    version: &'static str,
    query_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    period: u32,
    recent_datapoints: Vec<f64>,
    threshold: f64,
    evaluated_datapoints: Vec<Evaluated>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Evaluated {
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_count: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

fn reason_data(definition: &AlarmDefinition, range: &[Datapoint], query_ms: i64) -> String {
    let (statistic, extended_statistic) = match &definition.statistic {
        AlarmStatistic::Statistic(name) => (Some(name.as_str()), None),
        AlarmStatistic::Extended(name) => (None, Some(name.as_str())),
    };
    let data = ReasonData {
        version: "1.0",
        query_date: iso_millis(query_ms),
        start_date: range.iter().find(|p| p.value.is_some()).map(|p| iso_millis(p.ts_ms)),
        statistic,
        extended_statistic,
        unit: definition.unit.as_deref(),
        period: definition.period,
        recent_datapoints: range.iter().filter_map(|p| p.value).collect(),
        threshold: definition.threshold,
        evaluated_datapoints: range
            .iter()
            .rev()
            .map(|p| Evaluated {
                timestamp: iso_millis(p.ts_ms),
                sample_count: p.value.map(|_| p.sample_count),
                value: p.value,
            })
            .collect(),
    };
    serde_json::to_string(&data).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::model::Comparison;

    /// 2026-12-06T23:10:00Z.
    const T0: i64 = 1_796_598_600_000;

    fn alarm(n: u32, m: u32, missing: Option<MissingData>) -> AlarmDefinition {
        AlarmDefinition {
            description: None,
            namespace: "AWS/SageMaker".into(),
            metric_name: "Invocation5XXErrors".into(),
            dimensions: vec![],
            statistic: AlarmStatistic::Statistic("Sum".into()),
            unit: None,
            period: 10,
            evaluation_periods: n,
            datapoints_to_alarm: Some(m),
            threshold: 1.0,
            comparison: Comparison::GreaterThanThreshold,
            treat_missing_data: missing,
            evaluate_low_sample_count_percentile: None,
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            tags: vec![],
        }
    }

    /// `"0 - X"`: 0 within the threshold, - missing, X breaching; oldest first, 10 s apart.
    fn series(pattern: &str) -> Vec<Datapoint> {
        pattern
            .split_whitespace()
            .enumerate()
            .map(|(i, c)| Datapoint {
                ts_ms: T0 + i as i64 * 10_000,
                value: match c {
                    "X" => Some(5.0),
                    "0" => Some(0.0),
                    _ => None,
                },
                sample_count: 1.0,
            })
            .collect()
    }

    fn state(n: u32, m: u32, missing: MissingData, current: AlarmState, pattern: &str) -> Option<AlarmState> {
        evaluate(&alarm(n, m, Some(missing)), current, &series(pattern), T0 + 60_000).map(|o| o.state)
    }

    use AlarmState::{Alarm, InsufficientData, Ok as Fine};
    use MissingData::{Breaching, Ignore, Missing, NotBreaching};

    #[test]
    fn m_out_of_n_breaching_datapoints_alarm() {
        assert_eq!(state(5, 3, Missing, Fine, "X 0 X 0 X"), Some(Alarm));
        assert_eq!(state(5, 3, Missing, Alarm, "X 0 X 0 0"), Some(Fine));
        assert_eq!(state(3, 3, Missing, Fine, "X X 0"), Some(Fine));
        assert_eq!(state(1, 1, Missing, Fine, "X"), Some(Alarm));
    }

    #[test]
    fn each_missing_data_treatment_reads_an_empty_range_as_documented() {
        assert_eq!(state(3, 3, Missing, Fine, "- - -"), Some(InsufficientData));
        assert_eq!(state(3, 3, Ignore, Alarm, "- - -"), None);
        assert_eq!(state(3, 3, Breaching, Fine, "- - -"), Some(Alarm));
        assert_eq!(state(3, 3, NotBreaching, Alarm, "- - -"), Some(Fine));
    }

    #[test]
    fn missing_datapoints_count_as_the_treatment_says() {
        // The user guide's rows, with an evaluation range of five periods and 3 of 5.
        assert_eq!(state(5, 3, Missing, Fine, "0 - X - X"), Some(Alarm));
        assert_eq!(state(5, 3, Breaching, Fine, "0 - X - X"), Some(Alarm));
        assert_eq!(state(5, 3, NotBreaching, Fine, "0 - X - X"), Some(Fine));
        assert_eq!(state(5, 3, Ignore, Fine, "0 - X - X"), Some(Fine));
        assert_eq!(state(5, 3, Missing, Alarm, "- - - - 0"), Some(Fine));
        assert_eq!(state(5, 3, Ignore, Alarm, "- - - - 0"), Some(Fine));
        assert_eq!(state(5, 3, Missing, Fine, "- - X - -"), Some(Alarm));
        assert_eq!(state(5, 3, Ignore, Fine, "- - X - -"), None);
        assert_eq!(state(5, 3, Breaching, Fine, "- - X - -"), Some(Alarm));
        assert_eq!(state(5, 3, NotBreaching, Alarm, "- - X - -"), Some(Fine));
        // A breaching datapoint younger than M periods does not alarm on its own.
        assert_eq!(state(5, 3, Missing, Fine, "- - - X -"), Some(Fine));
    }

    #[test]
    fn reasons_read_as_the_service_writes_them() {
        let definition = alarm(1, 1, None);
        let out = evaluate(&definition, Fine, &series("X"), T0 + 12_345).unwrap();
        assert_eq!(
            out.reason,
            "Threshold Crossed: 1 out of the last 1 datapoints [5.0 (06/12/26 23:10:00)] was greater than the \
             threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
        );
        assert_eq!(
            out.reason_data,
            r#"{"version":"1.0","queryDate":"2026-12-06T23:10:12.345+0000","startDate":"2026-12-06T23:10:00.000+0000","statistic":"Sum","period":10,"recentDatapoints":[5.0],"threshold":1.0,"evaluatedDatapoints":[{"timestamp":"2026-12-06T23:10:00.000+0000","sampleCount":1.0,"value":5.0}]}"#
        );
        let out = evaluate(&alarm(3, 3, None), Alarm, &series("X - 0"), T0).unwrap();
        assert_eq!(
            out.reason,
            "Threshold Crossed: 1 out of the last 3 datapoints [0.0 (06/12/26 23:10:20)] was not greater than the \
             threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition)."
        );
        let out = evaluate(&alarm(2, 2, None), Fine, &series("- -"), T0).unwrap();
        assert_eq!(out.reason, "Insufficient Data: 2 datapoints were unknown.");
        assert!(out.reason_data.contains(r#""recentDatapoints":[],"#), "{}", out.reason_data);
        let out = evaluate(&alarm(3, 2, Some(Breaching)), Fine, &series("- - -"), T0).unwrap();
        assert_eq!(
            out.reason,
            "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as [Breaching]."
        );
        let out = evaluate(&alarm(3, 2, Some(NotBreaching)), Alarm, &series("X - -"), T0).unwrap();
        assert_eq!(
            out.reason,
            "Threshold Crossed: 1 datapoint was received for 3 periods and 2 missing datapoints were treated as [NonBreaching]."
        );
    }

    #[test]
    fn percentiles_are_evaluated_like_any_statistic() {
        let mut definition = alarm(2, 2, None);
        definition.statistic = AlarmStatistic::Extended("p99".into());
        let out = evaluate(&definition, Fine, &series("X X"), T0).unwrap();
        assert_eq!(out.state, Alarm);
        assert!(out.reason_data.contains(r#""extendedStatistic":"p99""#), "{}", out.reason_data);
        assert!(
            out.reason
                .contains("2 out of the last 2 datapoints [5.0 (06/12/26 23:10:10), 5.0 (06/12/26 23:10:00)] were")
        );
    }
}
