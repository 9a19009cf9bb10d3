//! The history items the service writes: their summaries ("Alarm updated from OK to ALARM",
//! `Alarm "name" created`) and their `HistoryData` JSON, field for field as CloudWatch's.

use serde::Serialize;

use super::model::{Alarm, AlarmStatistic, AlarmStatus, HistoryKind};
use super::text::iso_millis;

/// A history item about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub name: String,
    pub ts_ms: i64,
    pub kind: HistoryKind,
    pub summary: String,
    pub data: String,
}

/// A state change: `{"version":"1.0","oldState":{...},"newState":{...}}`.
pub fn state_update(name: &str, old: &AlarmStatus, new: &AlarmStatus) -> NewItem {
    NewItem {
        name: name.to_owned(),
        ts_ms: new.updated_ms,
        kind: HistoryKind::StateUpdate,
        summary: format!("Alarm updated from {} to {}", old.state.as_str(), new.state.as_str()),
        data: format!(r#"{{"version":"1.0","oldState":{},"newState":{}}}"#, state_json(old), state_json(new)),
    }
}

/// `{"stateValue":..,"stateReason":..,"stateReasonData":{..}}`; the reason data is JSON already
/// (smemu's own, or SetAlarmState's, checked to be JSON), so it goes in as it is.
fn state_json(status: &AlarmStatus) -> String {
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into());
    let data = status.reason_data.as_deref().map(|d| format!(r#","stateReasonData":{d}"#)).unwrap_or_default();
    format!(r#"{{"stateValue":{},"stateReason":{}{data}}}"#, quote(status.state.as_str()), quote(&status.reason))
}

/// `Alarm "name" created`, with the alarm as `createdAlarm`.
pub fn created(alarm: &Alarm) -> NewItem {
    configuration(
        alarm,
        "created",
        format!(r#"{{"version":"1.0","type":"Create","createdAlarm":{}}}"#, alarm_json(alarm)),
    )
}

/// `Alarm "name" updated`, with the alarm as `updatedAlarm` and the old values of the fields that
/// changed as `originalUpdatedFields`.
pub fn updated(before: &Alarm, after: &Alarm) -> NewItem {
    let old = serde_json::to_value(AlarmJson::of(before)).unwrap_or_default();
    let new = serde_json::to_value(AlarmJson::of(after)).unwrap_or_default();
    let mut original = serde_json::Map::new();
    if let (Some(old), Some(new)) = (old.as_object(), new.as_object()) {
        for (field, value) in old {
            if field != "alarmConfigurationUpdatedTimestamp" && new.get(field) != Some(value) {
                original.insert(field.clone(), value.clone());
            }
        }
    }
    let original = serde_json::Value::Object(original);
    configuration(
        after,
        "updated",
        format!(
            r#"{{"version":"1.0","type":"Update","updatedAlarm":{},"originalUpdatedFields":{original}}}"#,
            alarm_json(after)
        ),
    )
}

/// `Alarm "name" deleted`, with the alarm as `deletedAlarm`.
pub fn deleted(alarm: &Alarm, ts_ms: i64) -> NewItem {
    let mut item = configuration(
        alarm,
        "deleted",
        format!(r#"{{"version":"1.0","type":"Delete","deletedAlarm":{}}}"#, alarm_json(alarm)),
    );
    item.ts_ms = ts_ms;
    item
}

fn configuration(alarm: &Alarm, verb: &str, data: String) -> NewItem {
    NewItem {
        name: alarm.name.clone(),
        ts_ms: alarm.config_updated_ms,
        kind: HistoryKind::ConfigurationUpdate,
        summary: format!("Alarm \"{}\" {verb}", alarm.name),
        data,
    }
}

fn alarm_json(alarm: &Alarm) -> String {
    serde_json::to_string(&AlarmJson::of(alarm)).unwrap_or_default()
}

/// The alarm in history data, in the service's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlarmJson<'a> {
    alarm_name: &'a str,
    alarm_description: &'a str,
    alarm_arn: String,
    alarm_configuration_updated_timestamp: String,
    namespace: &'a str,
    metric_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_statistic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    period: u32,
    dimensions: Vec<Dimension<'a>>,
    threshold: f64,
    comparison_operator: &'a str,
    evaluation_periods: u32,
    datapoints_to_alarm: u32,
    treat_missing_data: &'a str,
    state_value: &'a str,
    state_updated_timestamp: String,
    actions_enabled: bool,
    alarm_actions: &'a [String],
    insufficient_data_actions: &'a [String],
    /// Spelled so by the service.
    okactions: &'a [String],
}

#[derive(Serialize)]
struct Dimension<'a> {
    name: &'a str,
    value: &'a str,
}

impl<'a> AlarmJson<'a> {
    fn of(alarm: &'a Alarm) -> Self {
        let d = &alarm.definition;
        let (statistic, extended_statistic) = match &d.statistic {
            AlarmStatistic::Statistic(name) => (Some(name.as_str()), None),
            AlarmStatistic::Extended(name) => (None, Some(name.as_str())),
        };
        AlarmJson {
            alarm_name: &alarm.name,
            alarm_description: d.description.as_deref().unwrap_or(""),
            alarm_arn: alarm.arn(),
            alarm_configuration_updated_timestamp: iso_millis(alarm.config_updated_ms),
            namespace: &d.namespace,
            metric_name: &d.metric_name,
            statistic,
            extended_statistic,
            unit: d.unit.as_deref(),
            period: d.period,
            dimensions: d.dimensions.iter().map(|(name, value)| Dimension { name, value }).collect(),
            threshold: d.threshold,
            comparison_operator: d.comparison.as_str(),
            evaluation_periods: d.evaluation_periods,
            datapoints_to_alarm: d.datapoints_to_alarm(),
            treat_missing_data: d.missing_data().as_str(),
            state_value: alarm.status.state.as_str(),
            state_updated_timestamp: iso_millis(alarm.status.updated_ms),
            actions_enabled: d.actions_enabled,
            alarm_actions: &d.alarm_actions,
            insufficient_data_actions: &d.insufficient_data_actions,
            okactions: &d.ok_actions,
        }
    }
}
