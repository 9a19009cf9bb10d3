//! CloudWatch's alarm operations: PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric,
//! DeleteAlarms, SetAlarmState, DescribeAlarmHistory, EnableAlarmActions, DisableAlarmActions.
//! Generated inputs in, `smemu_telemetry::alarms` in its words, generated outputs or the
//! service's errors out; every protocol calls these (`wire/cloudwatch.rs`).
//!
//! Rules are the API Reference's (API_PutMetricAlarm and the others) and the user guide's
//! ("Using Amazon CloudWatch alarms"); texts where the service's are known are quoted.

use smemu_telemetry::alarms::{
    Alarm, AlarmDefinition, AlarmError, AlarmState, AlarmStatistic, Alarms, Comparison, HistoryKind, HistoryQuery,
    MissingData,
};
use smemu_telemetry::metrics::Statistic;
use smemu_types::Timestamp;
use smemu_types::cloudwatch::{
    AlarmHistoryItem, AlarmType, ComparisonOperator, DeleteAlarmsInput, DescribeAlarmHistoryInput,
    DescribeAlarmHistoryOutput, DescribeAlarmsForMetricInput, DescribeAlarmsForMetricOutput, DescribeAlarmsInput,
    DescribeAlarmsOutput, Dimension, DisableAlarmActionsInput, EnableAlarmActionsInput, HistoryItemType, MetricAlarm,
    PutMetricAlarmInput, ScanBy, SetAlarmStateInput, StandardUnit, StateValue, Tag,
};

use super::cloudwatch::check;
use crate::{ApiError, AppState, RequestContext};

/// DescribeAlarms' `MaxRecords` when none is given (API_DescribeAlarms).
const DESCRIBE_PAGE: usize = 50;
/// DescribeAlarmHistory's `MaxRecords` when none is given (API_DescribeAlarmHistory).
const HISTORY_PAGE: usize = 100;
/// "An alarm's total current evaluation period can be no longer than seven days, so Period
/// multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period
/// of less than one hour (3,600 seconds), the total evaluation period can't be longer than one
/// day (86,400 seconds)" (API_PutMetricAlarm, Period).
const DAY: i64 = 86_400;
const WEEK: i64 = 604_800;

fn alarms(state: &AppState) -> Result<&Alarms, ApiError> {
    state.alarms.as_ref().ok_or_else(|| ApiError::internal(NoAlarms))
}

#[derive(Debug, thiserror::Error)]
#[error("this smemu keeps no alarms")]
struct NoAlarms;

fn from_alarm_error(err: AlarmError) -> ApiError {
    match err {
        AlarmError::NotFound(name) => ApiError::cw_alarm_not_found(&name),
        AlarmError::LimitExceeded(max) => ApiError::cw_alarm_limit(max),
        AlarmError::Store(err) => ApiError::internal(err),
    }
}

/// PutMetricAlarm has no output shape.
pub(crate) async fn put_metric_alarm(
    state: &AppState,
    ctx: &RequestContext,
    input: PutMetricAlarmInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let name = input.alarm_name.clone().unwrap_or_default();
    let definition = definition(input)?;
    alarms(state)?
        .put(&ctx.scope.account, &ctx.scope.region, &name, definition)
        .await
        .map(drop)
        .map_err(from_alarm_error)
}

/// The definition PutMetricAlarm asks for, checked as the service checks it.
fn definition(input: PutMetricAlarmInput) -> Result<AlarmDefinition, ApiError> {
    let name = input.alarm_name.as_deref().unwrap_or_default();
    if name.chars().any(char::is_control) {
        return Err(ApiError::cw_validation("AlarmName must not contain ASCII Control characters"));
    }
    // Alarms on metric math, Metrics Insights or PromQL, and anomaly-detection bands, need
    // evaluators smemu does not have: refused rather than stored and never judged.
    if input.metrics.as_ref().is_some_and(|m| !m.is_empty())
        || input.evaluation_criteria.is_some()
        || input.evaluation_interval.is_some()
    {
        return Err(ApiError::cw_validation(
            "smemu evaluates alarms on one metric (MetricName, Namespace, Statistic, Period); alarms on metric math, \
             Metrics Insights or PromQL queries (Metrics, EvaluationCriteria) are not supported.",
        ));
    }
    let comparison = match &input.comparison_operator {
        None => return Err(null_member("comparisonOperator")),
        Some(op) => match Comparison::parse(op.as_str()) {
            Some(comparison) if input.threshold_metric_id.is_none() => comparison,
            // LessThanLowerOrGreaterThanUpperThreshold and the other band comparisons.
            _ => {
                return Err(ApiError::cw_validation(
                    "smemu does not evaluate anomaly detection alarms: ComparisonOperator must be one of \
                     GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold, \
                     without ThresholdMetricId.",
                ));
            }
        },
    };
    let evaluation_periods = input.evaluation_periods.ok_or_else(|| null_member("evaluationPeriods"))?;
    let namespace = input.namespace.clone().ok_or_else(|| ApiError::cw_missing("Namespace"))?;
    let metric_name = input.metric_name.clone().ok_or_else(|| ApiError::cw_missing("MetricName"))?;
    let threshold = input.threshold.ok_or_else(|| ApiError::cw_missing("Threshold"))?;
    if !threshold.is_finite() {
        return Err(ApiError::cw_invalid_value("Threshold", &threshold.to_string()));
    }
    let statistic = match (&input.statistic, &input.extended_statistic) {
        (Some(_), Some(_)) => return Err(ApiError::cw_mutually_exclusive("Statistic", "ExtendedStatistic")),
        (None, None) => return Err(ApiError::cw_at_least_one("Statistic", "ExtendedStatistic")),
        (Some(statistic), None) => AlarmStatistic::Statistic(statistic.as_str().to_owned()),
        (None, Some(extended)) => {
            if Statistic::percentile(extended).is_none() {
                return Err(ApiError::cw_invalid_value("ExtendedStatistic", extended));
            }
            AlarmStatistic::Extended(extended.clone())
        }
    };
    let period = input.period.ok_or_else(|| ApiError::cw_missing("Period"))?;
    check_alarm_period(i64::from(period), i64::from(evaluation_periods))?;
    if let Some(m) = input.datapoints_to_alarm
        && m > evaluation_periods
    {
        return Err(ApiError::cw_validation("DatapointsToAlarm must be less than or equal to EvaluationPeriods"));
    }
    let treat_missing_data = match input.treat_missing_data.as_deref() {
        None => None,
        Some(text) => Some(MissingData::parse(text).ok_or_else(|| {
            ApiError::cw_validation(
                "Supported values for TreatMissingData are breaching, notBreaching, ignore, and missing.",
            )
        })?),
    };
    if let Some(option) = input.evaluate_low_sample_count_percentile.as_deref() {
        if option != "evaluate" && option != "ignore" {
            return Err(ApiError::cw_validation(
                "Supported options for EvaluateLowSampleCountPercentile are evaluate and ignore.",
            ));
        }
        if let AlarmStatistic::Statistic(name) = &statistic {
            return Err(ApiError::cw_validation(format!(
                "Option evaluateLowSampleCountPercentile can not be applied with statistic {name}. This option is \
                 enabled only for percentile statistics."
            )));
        }
    }
    let pairs = |dimensions: Option<Vec<Dimension>>| -> Vec<(String, String)> {
        dimensions
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.name.unwrap_or_default(), d.value.unwrap_or_default()))
            .collect()
    };
    Ok(AlarmDefinition {
        description: input.alarm_description,
        namespace,
        metric_name,
        dimensions: pairs(input.dimensions),
        statistic,
        unit: input.unit.as_ref().map(|unit| unit.as_str().to_owned()),
        period: u32::try_from(period).unwrap_or(0),
        evaluation_periods: u32::try_from(evaluation_periods).unwrap_or(0),
        datapoints_to_alarm: input.datapoints_to_alarm.and_then(|m| u32::try_from(m).ok()),
        threshold,
        comparison,
        treat_missing_data,
        evaluate_low_sample_count_percentile: input.evaluate_low_sample_count_percentile,
        actions_enabled: input.actions_enabled.unwrap_or(true),
        alarm_actions: input.alarm_actions.unwrap_or_default(),
        ok_actions: input.ok_actions.unwrap_or_default(),
        insufficient_data_actions: input.insufficient_data_actions.unwrap_or_default(),
        tags: input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|Tag { key, value }| (key.unwrap_or_default(), value.unwrap_or_default()))
            .collect(),
    })
}

/// Coral's text for a member the operation needs (the service's own check of a static alarm).
fn null_member(member: &str) -> ApiError {
    ApiError::cw_validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

/// An alarm's period: 10, 20, 30 or a multiple of 60 seconds, and at most a day of periods
/// (a week for periods of an hour or more). Texts as the service answers them.
fn check_alarm_period(period: i64, evaluation_periods: i64) -> Result<(), ApiError> {
    if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
        return Err(ApiError::cw_validation("Period must be 10, 20, 30 or a multiple of 60"));
    }
    let total = period.saturating_mul(evaluation_periods);
    if period < 3600 && total > DAY {
        return Err(ApiError::cw_validation(format!(
            "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= {DAY})"
        )));
    }
    if total > WEEK {
        return Err(ApiError::cw_validation(format!(
            "Metrics cannot be checked across more than a week (EvaluationPeriods * Period must be <= {WEEK}) for \
             alarms using period >= 3600"
        )));
    }
    Ok(())
}

/// An alarm as DescribeAlarms answers it.
fn metric_alarm(alarm: &Alarm) -> MetricAlarm {
    let d = &alarm.definition;
    let (statistic, extended_statistic) = match &d.statistic {
        AlarmStatistic::Statistic(name) => (Some(smemu_types::cloudwatch::Statistic::from(name.as_str())), None),
        AlarmStatistic::Extended(name) => (None, Some(name.clone())),
    };
    MetricAlarm {
        alarm_name: Some(alarm.name.clone()),
        alarm_arn: Some(alarm.arn()),
        alarm_description: d.description.clone(),
        alarm_configuration_updated_timestamp: Some(Timestamp::from_millis(alarm.config_updated_ms)),
        actions_enabled: Some(d.actions_enabled),
        ok_actions: Some(d.ok_actions.clone()),
        alarm_actions: Some(d.alarm_actions.clone()),
        insufficient_data_actions: Some(d.insufficient_data_actions.clone()),
        state_value: Some(StateValue::from(alarm.status.state.as_str())),
        state_reason: Some(alarm.status.reason.clone()),
        state_reason_data: alarm.status.reason_data.clone(),
        state_updated_timestamp: Some(Timestamp::from_millis(alarm.status.updated_ms)),
        state_transitioned_timestamp: Some(Timestamp::from_millis(alarm.status.transitioned_ms)),
        metric_name: Some(d.metric_name.clone()),
        namespace: Some(d.namespace.clone()),
        statistic,
        extended_statistic,
        dimensions: Some(
            d.dimensions
                .iter()
                .map(|(name, value)| Dimension { name: Some(name.clone()), value: Some(value.clone()) })
                .collect(),
        ),
        period: i32::try_from(d.period).ok(),
        unit: d.unit.as_deref().map(StandardUnit::from),
        evaluation_periods: i32::try_from(d.evaluation_periods).ok(),
        datapoints_to_alarm: d.datapoints_to_alarm.and_then(|m| i32::try_from(m).ok()),
        threshold: Some(d.threshold),
        comparison_operator: Some(ComparisonOperator::from(d.comparison.as_str())),
        treat_missing_data: d.treat_missing_data.map(|t| t.as_str().to_owned()),
        evaluate_low_sample_count_percentile: d.evaluate_low_sample_count_percentile.clone(),
        ..Default::default()
    }
}

/// A page key: the last name answered, hex-encoded so that it reads as the opaque token it is.
fn name_token(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn parse_name_token(token: &str) -> Result<String, ApiError> {
    let bytes: Option<Vec<u8>> = (token.len().is_multiple_of(2) && token.is_ascii())
        .then(|| (0..token.len()).step_by(2).map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok()).collect())
        .flatten();
    bytes.and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(ApiError::cw_invalid_next_token)
}

pub(crate) async fn describe_alarms(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeAlarmsInput,
) -> Result<DescribeAlarmsOutput, ApiError> {
    check(&input)?;
    let names = input.alarm_names.unwrap_or_default();
    if !names.is_empty() && input.alarm_name_prefix.is_some() {
        return Err(ApiError::cw_mutually_exclusive("AlarmNames", "AlarmNamePrefix"));
    }
    let types = input.alarm_types.unwrap_or_default();
    // Without AlarmTypes only metric alarms are described (API_DescribeAlarms, AlarmTypes).
    let metric = types.is_empty() || types.contains(&AlarmType::MetricAlarm);
    let composite = types.contains(&AlarmType::CompositeAlarm);
    // Composite alarms' children and parents: smemu has no composite alarms.
    let family = input.children_of_alarm_name.is_some() || input.parents_of_alarm_name.is_some();
    let limit = input.max_records.map_or(DESCRIBE_PAGE, |m| usize::try_from(m).unwrap_or(DESCRIBE_PAGE));
    let after = input.next_token.as_deref().map(parse_name_token).transpose()?;
    let wanted_state = input.state_value.as_ref().map(|s| s.as_str().to_owned());
    let prefix = input.alarm_name_prefix;
    let action_prefix = input.action_prefix;
    let mut page = if metric && !family {
        alarms(state)?.scan(&ctx.scope.account, &ctx.scope.region, after.as_deref(), limit + 1, |alarm| {
            (names.is_empty() || names.contains(&alarm.name))
                && prefix.as_ref().is_none_or(|p| alarm.name.starts_with(p.as_str()))
                && wanted_state.as_ref().is_none_or(|s| s == alarm.status.state.as_str())
                && action_prefix.as_ref().is_none_or(|p| {
                    let d = &alarm.definition;
                    d.alarm_actions
                        .iter()
                        .chain(&d.ok_actions)
                        .chain(&d.insufficient_data_actions)
                        .any(|a| a.starts_with(p.as_str()))
                })
        })
    } else {
        Vec::new()
    };
    let next_token = (page.len() > limit).then(|| page.get(limit - 1).map(|a| name_token(&a.name))).flatten();
    page.truncate(limit);
    Ok(DescribeAlarmsOutput {
        metric_alarms: Some(page.iter().map(|a| metric_alarm(a)).collect()),
        composite_alarms: composite.then(Vec::new),
        next_token,
        ..Default::default()
    })
}

pub(crate) async fn describe_alarms_for_metric(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeAlarmsForMetricInput,
) -> Result<DescribeAlarmsForMetricOutput, ApiError> {
    check(&input)?;
    let mut dimensions: Vec<(String, String)> = input
        .dimensions
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.name.unwrap_or_default(), d.value.unwrap_or_default()))
        .collect();
    dimensions.sort();
    let namespace = input.namespace.unwrap_or_default();
    let metric_name = input.metric_name.unwrap_or_default();
    let found = alarms(state)?.scan(&ctx.scope.account, &ctx.scope.region, None, usize::MAX, |alarm| {
        let d = &alarm.definition;
        let mut theirs = d.dimensions.clone();
        theirs.sort();
        d.namespace == namespace
            && d.metric_name == metric_name
            && theirs == dimensions
            && input.period.is_none_or(|p| i64::from(p) == i64::from(d.period))
            && input.statistic.as_ref().is_none_or(|s| d.statistic == AlarmStatistic::Statistic(s.as_str().to_owned()))
            && input.extended_statistic.as_ref().is_none_or(|s| d.statistic == AlarmStatistic::Extended(s.clone()))
            && input.unit.as_ref().is_none_or(|u| d.unit.as_deref() == Some(u.as_str()))
    });
    Ok(DescribeAlarmsForMetricOutput { metric_alarms: Some(found.iter().map(|a| metric_alarm(a)).collect()) })
}

/// DeleteAlarms has no output shape.
pub(crate) async fn delete_alarms(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteAlarmsInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let names = input.alarm_names.unwrap_or_default();
    alarms(state)?.delete(&ctx.scope.account, &ctx.scope.region, &names).await.map_err(from_alarm_error)
}

/// SetAlarmState has no output shape.
pub(crate) async fn set_alarm_state(
    state: &AppState,
    ctx: &RequestContext,
    input: SetAlarmStateInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let name = input.alarm_name.unwrap_or_default();
    let value = input.state_value.as_ref().and_then(|s| AlarmState::parse(s.as_str())).unwrap_or(AlarmState::Ok);
    if let Some(data) = &input.state_reason_data
        && serde_json::from_str::<serde_json::Value>(data).is_err()
    {
        return Err(ApiError::cw_invalid_format("The StateReasonData parameter is not valid JSON."));
    }
    alarms(state)?
        .set_state(
            &ctx.scope.account,
            &ctx.scope.region,
            &name,
            value,
            input.state_reason.unwrap_or_default(),
            input.state_reason_data,
        )
        .await
        .map_err(from_alarm_error)
}

/// Enable/DisableAlarmActions have no output shape.
pub(crate) async fn enable_alarm_actions(
    state: &AppState,
    ctx: &RequestContext,
    input: EnableAlarmActionsInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let names = input.alarm_names.unwrap_or_default();
    alarms(state)?
        .set_actions_enabled(&ctx.scope.account, &ctx.scope.region, &names, true)
        .await
        .map_err(from_alarm_error)
}

pub(crate) async fn disable_alarm_actions(
    state: &AppState,
    ctx: &RequestContext,
    input: DisableAlarmActionsInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let names = input.alarm_names.unwrap_or_default();
    alarms(state)?
        .set_actions_enabled(&ctx.scope.account, &ctx.scope.region, &names, false)
        .await
        .map_err(from_alarm_error)
}

pub(crate) async fn describe_alarm_history(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeAlarmHistoryInput,
) -> Result<DescribeAlarmHistoryOutput, ApiError> {
    check(&input)?;
    let types = input.alarm_types.unwrap_or_default();
    let limit = input.max_records.map_or(HISTORY_PAGE, |m| usize::try_from(m).unwrap_or(HISTORY_PAGE));
    let after = match input.next_token.as_deref() {
        None => None,
        Some(token) => {
            Some(token.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(ApiError::cw_invalid_next_token)?)
        }
    };
    if !types.is_empty() && !types.contains(&AlarmType::MetricAlarm) {
        return Ok(DescribeAlarmHistoryOutput { alarm_history_items: Some(Vec::new()), next_token: None });
    }
    let kind = match &input.history_item_type {
        None => None,
        Some(kind) => match HistoryKind::parse(kind.as_str()) {
            Some(kind) => Some(kind),
            // The contributor items of multi-time-series alarms, which smemu has none of (the
            // model's validation has refused any value it does not list).
            None => return Ok(DescribeAlarmHistoryOutput { alarm_history_items: Some(Vec::new()), next_token: None }),
        },
    };
    let query = HistoryQuery {
        account: ctx.scope.account.clone(),
        region: ctx.scope.region.clone(),
        name: input.alarm_name,
        kind,
        from_ms: input.start_date.as_ref().map(Timestamp::as_millis),
        to_ms: input.end_date.as_ref().map(Timestamp::as_millis),
        ascending: matches!(input.scan_by, Some(ScanBy::TimestampAscending)),
        after,
        limit: limit + 1,
    };
    let mut items = alarms(state)?.history(&query).await.map_err(from_alarm_error)?;
    let next_token = (items.len() > limit).then(|| items.get(limit - 1).map(|i| i.id.to_string())).flatten();
    items.truncate(limit);
    Ok(DescribeAlarmHistoryOutput {
        alarm_history_items: Some(
            items
                .into_iter()
                .map(|item| AlarmHistoryItem {
                    alarm_name: Some(item.name),
                    alarm_type: Some(AlarmType::MetricAlarm),
                    timestamp: Some(Timestamp::from_millis(item.ts_ms)),
                    history_item_type: Some(HistoryItemType::from(item.kind.as_str())),
                    history_summary: Some(item.summary),
                    history_data: Some(item.data),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn alarm_periods_follow_the_service_rule() {
        for (period, n) in [(10, 1), (20, 5), (30, 2880), (60, 1440), (3600, 168), (86_400, 7)] {
            assert!(check_alarm_period(period, n).is_ok(), "{period} x {n}");
        }
        for (period, n) in [(1, 1), (5, 1), (45, 1), (90, 1), (10, 8641), (60, 1441), (3600, 169), (86_400, 8)] {
            assert!(check_alarm_period(period, n).is_err(), "{period} x {n}");
        }
    }

    #[test]
    fn page_tokens_read_back_or_are_refused() {
        assert_eq!(parse_name_token(&name_token("my alarm/é")).unwrap(), "my alarm/é");
        assert!(parse_name_token("zz").is_err());
        assert!(parse_name_token("ff").is_err());
    }

    #[test]
    fn a_put_is_checked_as_the_service_checks_it() {
        let base = || PutMetricAlarmInput {
            alarm_name: Some("a".into()),
            namespace: Some("AWS/SageMaker".into()),
            metric_name: Some("Invocation5XXErrors".into()),
            statistic: Some(smemu_types::cloudwatch::Statistic::Sum),
            period: Some(10),
            evaluation_periods: Some(1),
            threshold: Some(1.0),
            comparison_operator: Some(ComparisonOperator::GreaterThanThreshold),
            ..Default::default()
        };
        let ok = definition(base()).unwrap();
        assert_eq!((ok.period, ok.evaluation_periods, ok.datapoints_to_alarm()), (10, 1, 1));
        assert!(ok.actions_enabled);
        let err = |input: PutMetricAlarmInput| match definition(input) {
            Err(ApiError::Client { code, message }) => (code.as_str(), message),
            other => panic!("{other:?}"),
        };
        let (code, message) = err(PutMetricAlarmInput { datapoints_to_alarm: Some(2), ..base() });
        assert_eq!(
            (code, message.as_str()),
            ("ValidationError", "DatapointsToAlarm must be less than or equal to EvaluationPeriods")
        );
        let (code, _) = err(PutMetricAlarmInput { extended_statistic: Some("p99".into()), ..base() });
        assert_eq!(code, "InvalidParameterCombination");
        let (_, message) = err(PutMetricAlarmInput { period: Some(45), ..base() });
        assert_eq!(message, "Period must be 10, 20, 30 or a multiple of 60");
        let (_, message) = err(PutMetricAlarmInput { treat_missing_data: Some("sometimes".into()), ..base() });
        assert!(message.starts_with("Supported values for TreatMissingData"), "{message}");
        let (_, message) = err(PutMetricAlarmInput {
            comparison_operator: Some(ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold),
            ..base()
        });
        assert!(message.contains("anomaly detection"), "{message}");
        let (_, message) = err(PutMetricAlarmInput { comparison_operator: None, ..base() });
        assert!(message.contains("'comparisonOperator'"), "{message}");
        let p99 = definition(PutMetricAlarmInput { statistic: None, extended_statistic: Some("p99".into()), ..base() })
            .unwrap();
        assert_eq!(p99.statistic, AlarmStatistic::Extended("p99".into()));
    }

    #[test]
    fn an_alarm_is_described_with_every_member_it_has() {
        let definition = definition(PutMetricAlarmInput {
            alarm_name: Some("a".into()),
            namespace: Some("AWS/SageMaker".into()),
            metric_name: Some("Invocation5XXErrors".into()),
            statistic: Some(smemu_types::cloudwatch::Statistic::Sum),
            period: Some(10),
            evaluation_periods: Some(3),
            datapoints_to_alarm: Some(2),
            threshold: Some(1.0),
            comparison_operator: Some(ComparisonOperator::GreaterThanThreshold),
            treat_missing_data: Some("notBreaching".into()),
            dimensions: Some(vec![Dimension { name: Some("EndpointName".into()), value: Some("e".into()) }]),
            ..Default::default()
        })
        .unwrap();
        let alarm = Alarm {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: "a".into(),
            definition,
            status: smemu_telemetry::alarms::AlarmStatus {
                state: AlarmState::InsufficientData,
                reason: smemu_telemetry::alarms::INITIAL_REASON.into(),
                reason_data: None,
                updated_ms: 1000,
                transitioned_ms: 1000,
                alarm_entered_ms: None,
            },
            config_updated_ms: 1000,
        };
        let described = metric_alarm(&Arc::new(alarm));
        assert_eq!(described.alarm_arn.as_deref(), Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"));
        assert_eq!(described.state_value, Some(StateValue::InsufficientData));
        assert_eq!(described.treat_missing_data.as_deref(), Some("notBreaching"));
        assert_eq!(described.datapoints_to_alarm, Some(2));
        assert_eq!(described.comparison_operator, Some(ComparisonOperator::GreaterThanThreshold));
    }
}
