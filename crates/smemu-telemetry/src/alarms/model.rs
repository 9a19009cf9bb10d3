//! An alarm in CloudWatch's words: its definition (what PutMetricAlarm sets), its state, and the
//! items of its history.

use serde::{Deserialize, Serialize};

use crate::metrics::Statistic;

/// The three states of a metric alarm (API_MetricAlarm, `StateValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(text: &str) -> Option<AlarmState> {
        Some(match text {
            "OK" => AlarmState::Ok,
            "ALARM" => AlarmState::Alarm,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            _ => return None,
        })
    }
}

/// The comparisons of a static-threshold alarm (API_PutMetricAlarm, `ComparisonOperator`); the
/// anomaly-detection ones need a band smemu does not model and are refused by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    pub fn parse(text: &str) -> Option<Comparison> {
        Some(match text {
            "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqualToThreshold,
            "GreaterThanThreshold" => Comparison::GreaterThanThreshold,
            "LessThanThreshold" => Comparison::LessThanThreshold,
            "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqualToThreshold,
            _ => return None,
        })
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words of the state reason ("was greater than the threshold").
    pub fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// `TreatMissingData` (CloudWatch user guide, "Configuring how CloudWatch alarms treat missing
/// data"); `missing` when the alarm sets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MissingData {
    #[default]
    #[serde(rename = "missing")]
    Missing,
    #[serde(rename = "notBreaching")]
    NotBreaching,
    #[serde(rename = "breaching")]
    Breaching,
    #[serde(rename = "ignore")]
    Ignore,
}

impl MissingData {
    pub fn as_str(self) -> &'static str {
        match self {
            MissingData::Missing => "missing",
            MissingData::NotBreaching => "notBreaching",
            MissingData::Breaching => "breaching",
            MissingData::Ignore => "ignore",
        }
    }

    pub fn parse(text: &str) -> Option<MissingData> {
        Some(match text {
            "missing" => MissingData::Missing,
            "notBreaching" => MissingData::NotBreaching,
            "breaching" => MissingData::Breaching,
            "ignore" => MissingData::Ignore,
            _ => return None,
        })
    }
}

/// Which statistic an alarm evaluates: one of the five named ones or a percentile, kept as the
/// caller spelled it (`Statistic` or `ExtendedStatistic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlarmStatistic {
    /// `SampleCount`, `Average`, `Sum`, `Minimum` or `Maximum`.
    Statistic(String),
    /// `pNN.NN`.
    Extended(String),
}

impl AlarmStatistic {
    pub fn name(&self) -> &str {
        match self {
            AlarmStatistic::Statistic(name) | AlarmStatistic::Extended(name) => name,
        }
    }

    /// The statistic the metric store computes; `None` only for a name the API would refuse.
    pub fn statistic(&self) -> Option<Statistic> {
        match self {
            AlarmStatistic::Statistic(name) => {
                Statistic::parse(name).filter(|s| !matches!(s, Statistic::Percentile(_)))
            }
            AlarmStatistic::Extended(name) => Statistic::percentile(name),
        }
    }
}

/// What PutMetricAlarm sets: the whole configuration, replaced on each put.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmDefinition {
    pub description: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    /// As given (DescribeAlarms answers them in this order).
    pub dimensions: Vec<(String, String)>,
    pub statistic: AlarmStatistic,
    /// Only points of this unit are evaluated; every unit when `None`.
    pub unit: Option<String>,
    /// Seconds: 10, 20, 30 or a multiple of 60.
    pub period: u32,
    pub evaluation_periods: u32,
    /// `M` of "M out of N"; `None` means `evaluation_periods`.
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    pub comparison: Comparison,
    /// `None` when the caller set none (DescribeAlarms then omits it); evaluated as `missing`.
    pub treat_missing_data: Option<MissingData>,
    /// `evaluate` or `ignore`, stored and reported.
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    /// Set at creation; a later put keeps the first ones (API_PutMetricAlarm, `Tags`).
    pub tags: Vec<(String, String)>,
}

impl AlarmDefinition {
    /// `M`: the breaching datapoints that put the alarm in ALARM.
    pub fn datapoints_to_alarm(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods).clamp(1, self.evaluation_periods.max(1))
    }

    pub fn missing_data(&self) -> MissingData {
        self.treat_missing_data.unwrap_or_default()
    }
}

/// An alarm's current state and why.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmStatus {
    pub state: AlarmState,
    pub reason: String,
    /// JSON text, `None` when the state has none (creation, or SetAlarmState without it).
    pub reason_data: Option<String>,
    /// Epoch milliseconds of the last state write.
    pub updated_ms: i64,
    /// Epoch milliseconds of the last change of `state`.
    pub transitioned_ms: i64,
    /// Epoch milliseconds at which the alarm last went into ALARM, if it did since it was loaded
    /// (an alarm loaded in ALARM: its last transition). Not stored: it lets a deployment's
    /// guardrails see an ALARM that lasted less than their one-second poll (SetAlarmState holds
    /// only until the next evaluation, which may come a moment later).
    pub alarm_entered_ms: Option<i64>,
}

/// One alarm as stored and described.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub account: String,
    pub region: String,
    pub name: String,
    pub definition: AlarmDefinition,
    pub status: AlarmStatus,
    /// Epoch milliseconds of the last PutMetricAlarm (or Enable/DisableAlarmActions).
    pub config_updated_ms: i64,
}

impl Alarm {
    /// `arn:aws:cloudwatch:<region>:<account>:alarm:<name>`.
    pub fn arn(&self) -> String {
        arn(&self.account, &self.region, &self.name)
    }
}

pub fn arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
}

/// `HistoryItemType` of the items smemu writes (no `Action`: smemu runs no alarm action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    ConfigurationUpdate,
    StateUpdate,
    Action,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::ConfigurationUpdate => "ConfigurationUpdate",
            HistoryKind::StateUpdate => "StateUpdate",
            HistoryKind::Action => "Action",
        }
    }

    pub fn parse(text: &str) -> Option<HistoryKind> {
        Some(match text {
            "ConfigurationUpdate" => HistoryKind::ConfigurationUpdate,
            "StateUpdate" => HistoryKind::StateUpdate,
            "Action" => HistoryKind::Action,
            _ => return None,
        })
    }
}

/// One item of DescribeAlarmHistory.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    /// The page key.
    pub id: i64,
    pub name: String,
    pub ts_ms: i64,
    pub kind: HistoryKind,
    pub summary: String,
    /// JSON text.
    pub data: String,
}
