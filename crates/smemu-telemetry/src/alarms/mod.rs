//! CloudWatch metric alarms on the metric store: definitions and states kept in memory (read
//! without waiting: [`Alarms::state`]) and in `<data-dir>/metrics.sqlite` (so that they survive
//! restarts), their history, and the evaluator task that judges each alarm at each of its
//! period boundaries (`evaluator`, rules in `evaluate`).
//!
//! Writes (PutMetricAlarm, DeleteAlarms, SetAlarmState, the evaluator's transitions) go one at a
//! time: the row first, then the in-memory copy, which each write replaces whole (an `Arc`), so
//! a reader never sees half an alarm and the evaluator can tell that an alarm changed while it
//! was reading the metrics (it then drops its result).

pub mod evaluate;
pub mod evaluator;
pub mod history;
pub mod model;
pub mod store;
pub mod text;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::SqlitePool;

pub use evaluate::{Datapoint, Outcome};
pub use model::{
    Alarm, AlarmDefinition, AlarmState, AlarmStatistic, AlarmStatus, Comparison, HistoryItem, HistoryKind, MissingData,
};
pub use store::HistoryQuery;

use crate::metrics::{MetricStore, MetricsError};
use history::NewItem;

/// The state reason of a new alarm.
pub const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

/// Limits.
#[derive(Debug, Clone, Copy)]
pub struct AlarmsConfig {
    /// Most alarms one account may have in one region (`--max-alarms`).
    pub max_alarms: usize,
    /// History items older than this are deleted.
    pub history_retention: Duration,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig { max_alarms: 5000, history_retention: Duration::from_secs(30 * 24 * 3600) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    /// SetAlarmState or DeleteAlarms named an alarm that does not exist.
    #[error("alarm {0} not found")]
    NotFound(String),
    /// PutMetricAlarm would create one alarm more than `--max-alarms`.
    #[error("the account has {0} alarms, the most it may have")]
    LimitExceeded(usize),
    #[error(transparent)]
    Store(#[from] MetricsError),
}

impl From<sqlx::Error> for AlarmError {
    fn from(err: sqlx::Error) -> Self {
        AlarmError::Store(err.into())
    }
}

/// account → region → name → alarm.
type Map = BTreeMap<String, BTreeMap<String, BTreeMap<String, Arc<Alarm>>>>;

/// The alarms of every account and region: a cheap, cloneable handle.
#[derive(Debug, Clone)]
pub struct Alarms {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlitePool,
    config: AlarmsConfig,
    map: RwLock<Map>,
    /// One write at a time, so that the row and the in-memory copy change together.
    write: tokio::sync::Mutex<()>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Alarms {
    /// The alarms stored beside `metrics` (its migrations create their tables), loaded into memory.
    pub async fn open(metrics: &MetricStore, config: AlarmsConfig) -> Result<Alarms, MetricsError> {
        let pool = metrics.pool().clone();
        let mut map = Map::new();
        for alarm in store::load(&pool).await? {
            map.entry(alarm.account.clone())
                .or_default()
                .entry(alarm.region.clone())
                .or_default()
                .insert(alarm.name.clone(), Arc::new(alarm));
        }
        Ok(Alarms { inner: Arc::new(Inner { pool, config, map: RwLock::new(map), write: Default::default() }) })
    }

    pub fn config(&self) -> AlarmsConfig {
        self.inner.config
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        self.inner.map.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn modify(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.inner.map.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state of an alarm, from memory: no waiting, no SQL. What the deployment
    /// guardrails read (`AutoRollbackConfiguration`).
    pub fn state(&self, account: &str, region: &str, name: &str) -> Option<AlarmState> {
        Some(self.read().get(account)?.get(region)?.get(name)?.status.state)
    }

    /// Whether the alarm is in ALARM, or went into ALARM at or after `since_ms` (and has left it
    /// since): what a deployment's guardrails ask, so that an ALARM shorter than their poll counts.
    pub fn alarmed_since(&self, account: &str, region: &str, name: &str, since_ms: i64) -> bool {
        self.get(account, region, name).is_some_and(|alarm| {
            alarm.status.state == AlarmState::Alarm || alarm.status.alarm_entered_ms.is_some_and(|at| at >= since_ms)
        })
    }

    /// One alarm as it is now.
    pub fn get(&self, account: &str, region: &str, name: &str) -> Option<Arc<Alarm>> {
        self.read().get(account)?.get(region)?.get(name).cloned()
    }

    /// Up to `limit` alarms of an account and region whose name comes after `after`, by name,
    /// that `wanted` keeps.
    pub fn scan(
        &self,
        account: &str,
        region: &str,
        after: Option<&str>,
        limit: usize,
        mut wanted: impl FnMut(&Alarm) -> bool,
    ) -> Vec<Arc<Alarm>> {
        let map = self.read();
        let Some(alarms) = map.get(account).and_then(|regions| regions.get(region)) else { return Vec::new() };
        let range = match after {
            Some(after) => alarms.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => alarms.range::<str, _>(..),
        };
        range.map(|(_, alarm)| alarm).filter(|alarm| wanted(alarm)).take(limit).cloned().collect()
    }

    /// Every alarm (the evaluator's round).
    pub(crate) fn all(&self) -> Vec<Arc<Alarm>> {
        self.read().values().flat_map(|regions| regions.values()).flat_map(|names| names.values()).cloned().collect()
    }

    fn insert(&self, alarm: Arc<Alarm>) {
        self.modify()
            .entry(alarm.account.clone())
            .or_default()
            .entry(alarm.region.clone())
            .or_default()
            .insert(alarm.name.clone(), alarm);
    }

    fn remove(&self, alarm: &Alarm) {
        if let Some(names) = self.modify().get_mut(&alarm.account).and_then(|regions| regions.get_mut(&alarm.region)) {
            names.remove(&alarm.name);
        }
    }

    /// PutMetricAlarm: creates the alarm (INSUFFICIENT_DATA, "Unchecked: Initial alarm
    /// creation") or replaces the configuration of the existing one, whose state and tags stay.
    pub async fn put(
        &self,
        account: &str,
        region: &str,
        name: &str,
        mut definition: AlarmDefinition,
    ) -> Result<Arc<Alarm>, AlarmError> {
        let _writer = self.inner.write.lock().await;
        let now = now_ms();
        let existing = self.get(account, region, name);
        let (alarm, item) = match &existing {
            Some(before) => {
                // "If you are using this operation to update an existing alarm, any tags you
                // specify in this parameter are ignored" (API_PutMetricAlarm).
                definition.tags = before.definition.tags.clone();
                let after = Alarm { definition, config_updated_ms: now, ..(**before).clone() };
                let item = history::updated(before, &after);
                (after, item)
            }
            None => {
                let count = self.read().get(account).and_then(|r| r.get(region)).map_or(0, BTreeMap::len);
                if count >= self.inner.config.max_alarms {
                    return Err(AlarmError::LimitExceeded(self.inner.config.max_alarms));
                }
                let alarm = Alarm {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    name: name.to_owned(),
                    definition,
                    status: AlarmStatus {
                        state: AlarmState::InsufficientData,
                        reason: INITIAL_REASON.to_owned(),
                        reason_data: None,
                        updated_ms: now,
                        transitioned_ms: now,
                        alarm_entered_ms: None,
                    },
                    config_updated_ms: now,
                };
                let item = history::created(&alarm);
                (alarm, item)
            }
        };
        store::save(&self.inner.pool, &[&alarm], &[], &[item]).await?;
        let alarm = Arc::new(alarm);
        self.insert(alarm.clone());
        Ok(alarm)
    }

    /// DeleteAlarms: all of them, or (when one does not exist) none.
    pub async fn delete(&self, account: &str, region: &str, names: &[String]) -> Result<(), AlarmError> {
        let _writer = self.inner.write.lock().await;
        let mut doomed = Vec::with_capacity(names.len());
        for name in names {
            match self.get(account, region, name) {
                Some(alarm) => doomed.push(alarm),
                None => return Err(AlarmError::NotFound(name.clone())),
            }
        }
        let now = now_ms();
        let items: Vec<NewItem> = doomed.iter().map(|alarm| history::deleted(alarm, now)).collect();
        let refs: Vec<&Alarm> = doomed.iter().map(|a| &**a).collect();
        store::save(&self.inner.pool, &[], &refs, &items).await?;
        for alarm in &doomed {
            self.remove(alarm);
        }
        Ok(())
    }

    /// SetAlarmState: the state holds until the next evaluation finds otherwise.
    pub async fn set_state(
        &self,
        account: &str,
        region: &str,
        name: &str,
        state: AlarmState,
        reason: String,
        reason_data: Option<String>,
    ) -> Result<(), AlarmError> {
        let _writer = self.inner.write.lock().await;
        let before = self.get(account, region, name).ok_or_else(|| AlarmError::NotFound(name.to_owned()))?;
        self.write_state(&before, state, reason, reason_data).await
    }

    /// Enable/DisableAlarmActions: alarms that do not exist are passed over.
    pub async fn set_actions_enabled(
        &self,
        account: &str,
        region: &str,
        names: &[String],
        enabled: bool,
    ) -> Result<(), AlarmError> {
        let _writer = self.inner.write.lock().await;
        let now = now_ms();
        let mut changed = Vec::new();
        let mut items = Vec::new();
        for name in names {
            let Some(before) = self.get(account, region, name) else { continue };
            if before.definition.actions_enabled == enabled {
                continue;
            }
            let mut after = (*before).clone();
            after.definition.actions_enabled = enabled;
            after.config_updated_ms = now;
            items.push(history::updated(&before, &after));
            changed.push(after);
        }
        let refs: Vec<&Alarm> = changed.iter().collect();
        store::save(&self.inner.pool, &refs, &[], &items).await?;
        for alarm in changed {
            self.insert(Arc::new(alarm));
        }
        Ok(())
    }

    /// Stores a new state of `before` (the caller holds the writer), with a StateUpdate item
    /// when the state value changes.
    async fn write_state(
        &self,
        before: &Arc<Alarm>,
        state: AlarmState,
        reason: String,
        reason_data: Option<String>,
    ) -> Result<(), AlarmError> {
        let now = now_ms();
        let status = AlarmStatus {
            state,
            reason,
            reason_data,
            updated_ms: now,
            transitioned_ms: if state == before.status.state { before.status.transitioned_ms } else { now },
            alarm_entered_ms: if state == AlarmState::Alarm && before.status.state != AlarmState::Alarm {
                Some(now)
            } else {
                before.status.alarm_entered_ms
            },
        };
        let item = history::state_update(&before.name, &before.status, &status);
        let after = Alarm { status, ..(**before).clone() };
        store::save(&self.inner.pool, &[&after], &[], &[item]).await?;
        self.insert(Arc::new(after));
        Ok(())
    }

    /// The evaluator's result for `seen`: stored when it changes the state, unless the alarm
    /// changed (was put, set or deleted) since `seen` was read. Whether it was stored.
    pub(crate) async fn apply(&self, seen: &Arc<Alarm>, outcome: Outcome) -> Result<bool, AlarmError> {
        if outcome.state == seen.status.state {
            return Ok(false);
        }
        let _writer = self.inner.write.lock().await;
        let current = self.get(&seen.account, &seen.region, &seen.name);
        if !current.is_some_and(|current| Arc::ptr_eq(&current, seen)) {
            return Ok(false);
        }
        self.write_state(seen, outcome.state, outcome.reason, Some(outcome.reason_data)).await?;
        Ok(true)
    }

    /// DescribeAlarmHistory.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<HistoryItem>, AlarmError> {
        Ok(store::history(&self.inner.pool, query).await?)
    }

    /// Deletes history past the retention.
    pub(crate) async fn prune_history(&self) -> Result<u64, AlarmError> {
        let retention = i64::try_from(self.inner.config.history_retention.as_millis()).unwrap_or(i64::MAX);
        Ok(store::prune(&self.inner.pool, now_ms().saturating_sub(retention)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::evaluate::Outcome;

    fn definition() -> AlarmDefinition {
        AlarmDefinition {
            description: Some("errors".into()),
            namespace: "AWS/SageMaker".into(),
            metric_name: "Invocation5XXErrors".into(),
            dimensions: vec![("EndpointName".into(), "e".into())],
            statistic: AlarmStatistic::Statistic("Sum".into()),
            unit: None,
            period: 10,
            evaluation_periods: 1,
            datapoints_to_alarm: None,
            threshold: 0.0,
            comparison: Comparison::GreaterThanThreshold,
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            tags: vec![("team".into(), "ml".into())],
        }
    }

    fn outcome(state: AlarmState) -> Outcome {
        Outcome { state, reason: "judged".into(), reason_data: "{}".into() }
    }

    #[tokio::test]
    async fn an_alarm_that_went_into_alarm_and_out_again_counts_as_alarmed_since_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = MetricStore::open(&dir.path().join("metrics.sqlite")).await.unwrap();
        let alarms = Alarms::open(&metrics, AlarmsConfig::default()).await.unwrap();
        let (a, r) = ("123456789012", "us-east-1");
        alarms.put(a, r, "brief", definition()).await.unwrap();
        let before = now_ms();
        assert!(!alarms.alarmed_since(a, r, "brief", before), "never in ALARM");
        alarms.set_state(a, r, "brief", AlarmState::Alarm, "by hand".into(), None).await.unwrap();
        assert!(alarms.alarmed_since(a, r, "brief", i64::MAX), "in ALARM now, whatever the time asked");
        // The next evaluation finds otherwise at once: the ALARM lasted less than a poll.
        let seen = alarms.get(a, r, "brief").unwrap();
        assert!(alarms.apply(&seen, outcome(AlarmState::Ok)).await.unwrap());
        assert_eq!(alarms.state(a, r, "brief"), Some(AlarmState::Ok));
        assert!(alarms.alarmed_since(a, r, "brief", before), "went into ALARM after `before`");
        assert!(!alarms.alarmed_since(a, r, "brief", now_ms() + 1), "not since a later time");
        assert!(!alarms.alarmed_since(a, r, "absent", before));
        metrics.close().await;
    }

    #[tokio::test]
    async fn alarms_survive_reopening_with_their_state_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.sqlite");
        let metrics = MetricStore::open(&path).await.unwrap();
        let config = AlarmsConfig { max_alarms: 2, ..Default::default() };
        let alarms = Alarms::open(&metrics, config).await.unwrap();
        let (a, r) = ("123456789012", "us-east-1");
        let created = alarms.put(a, r, "one", definition()).await.unwrap();
        assert_eq!(alarms.state(a, r, "one"), Some(AlarmState::InsufficientData));
        assert_eq!(alarms.state(a, "eu-west-1", "one"), None, "another region sees nothing");
        assert_eq!(created.status.reason, INITIAL_REASON);

        // An evaluation of what was read stores; one of a stale read does not.
        assert!(alarms.apply(&created, outcome(AlarmState::Alarm)).await.unwrap());
        assert!(!alarms.apply(&created, outcome(AlarmState::Ok)).await.unwrap(), "stale");
        assert_eq!(alarms.state(a, r, "one"), Some(AlarmState::Alarm));

        // An update keeps the state and the first tags.
        let mut changed = definition();
        changed.threshold = 5.0;
        changed.tags = vec![];
        let updated = alarms.put(a, r, "one", changed).await.unwrap();
        assert_eq!((updated.status.state, updated.definition.threshold), (AlarmState::Alarm, 5.0));
        assert_eq!(updated.definition.tags, definition().tags);
        alarms.set_state(a, r, "one", AlarmState::Ok, "by hand".into(), None).await.unwrap();
        alarms.put(a, r, "two", definition()).await.unwrap();
        assert!(matches!(alarms.put(a, r, "three", definition()).await, Err(AlarmError::LimitExceeded(2))));
        metrics.close().await;

        let metrics = MetricStore::open(&path).await.unwrap();
        let alarms = Alarms::open(&metrics, config).await.unwrap();
        let one = alarms.get(a, r, "one").unwrap();
        assert_eq!((one.status.state, one.status.reason.as_str()), (AlarmState::Ok, "by hand"));
        assert_eq!(one.definition.threshold, 5.0);
        let query = |name: &str| HistoryQuery {
            account: a.into(),
            region: r.into(),
            name: Some(name.into()),
            limit: 10,
            ..Default::default()
        };
        let summaries: Vec<String> =
            alarms.history(&query("one")).await.unwrap().into_iter().map(|i| i.summary).collect();
        assert_eq!(
            summaries,
            [
                "Alarm updated from ALARM to OK",
                "Alarm \"one\" updated",
                "Alarm updated from INSUFFICIENT_DATA to ALARM",
                "Alarm \"one\" created"
            ]
        );
        let names: Vec<String> = alarms.scan(a, r, None, 10, |_| true).iter().map(|x| x.name.clone()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(alarms.scan(a, r, Some("one"), 10, |_| true).len(), 1);

        // Deleting names one that does not exist: nothing is deleted.
        assert!(matches!(
            alarms.delete(a, r, &["one".into(), "nope".into()]).await,
            Err(AlarmError::NotFound(name)) if name == "nope"
        ));
        assert!(alarms.get(a, r, "one").is_some());
        alarms.delete(a, r, &["one".into()]).await.unwrap();
        assert_eq!(alarms.state(a, r, "one"), None);
        let history = alarms.history(&query("one")).await.unwrap();
        assert_eq!(history[0].summary, "Alarm \"one\" deleted");
        assert!(history[0].data.contains(r#""type":"Delete""#));
    }
}
