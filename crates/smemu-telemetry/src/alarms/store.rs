//! The alarms' rows in `<data-dir>/metrics.sqlite` (`migrations/metrics/0002_alarms.sql`): the
//! alarms themselves and their history. Only [`super::Alarms`] calls these, one write at a time.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use super::history::NewItem;
use super::model::{Alarm, AlarmDefinition, AlarmState, AlarmStatus, HistoryItem, HistoryKind};
use crate::metrics::MetricsError;

/// Which history items DescribeAlarmHistory wants.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub account: String,
    pub region: String,
    pub name: Option<String>,
    pub kind: Option<HistoryKind>,
    /// Epoch milliseconds, inclusive.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Oldest first (`TimestampAscending`) rather than newest first.
    pub ascending: bool,
    /// Items past this id in the scan's order (the page key).
    pub after: Option<i64>,
    pub limit: usize,
}

pub(super) async fn load(pool: &SqlitePool) -> Result<Vec<Alarm>, MetricsError> {
    let rows = sqlx::query(
        "SELECT account, region, name, definition, state, reason, reason_data, state_updated_ms, \
         state_transitioned_ms, config_updated_ms FROM alarms",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get("name")?;
        let definition: String = row.try_get("definition")?;
        // A row this smemu cannot read (written by a newer one) is left alone, not fatal.
        let Ok(definition) = serde_json::from_str::<AlarmDefinition>(&definition) else {
            tracing::warn!(alarm = %name, "skipping an alarm whose stored definition cannot be read");
            continue;
        };
        let state = AlarmState::parse(&row.try_get::<String, _>("state")?).unwrap_or(AlarmState::InsufficientData);
        let transitioned_ms: i64 = row.try_get("state_transitioned_ms")?;
        out.push(Alarm {
            account: row.try_get("account")?,
            region: row.try_get("region")?,
            name,
            definition,
            status: AlarmStatus {
                state,
                reason: row.try_get("reason")?,
                reason_data: row.try_get("reason_data")?,
                updated_ms: row.try_get("state_updated_ms")?,
                transitioned_ms,
                alarm_entered_ms: (state == AlarmState::Alarm).then_some(transitioned_ms),
            },
            config_updated_ms: row.try_get("config_updated_ms")?,
        });
    }
    Ok(out)
}

/// Writes `alarms` (insert or replace) and `history` in one transaction.
pub(super) async fn save(
    pool: &SqlitePool,
    alarms: &[&Alarm],
    deleted: &[&Alarm],
    history: &[NewItem],
) -> Result<(), MetricsError> {
    let mut tx = pool.begin().await?;
    for alarm in alarms {
        let definition = serde_json::to_string(&alarm.definition).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT OR REPLACE INTO alarms (account, region, name, definition, state, reason, reason_data, \
             state_updated_ms, state_transitioned_ms, config_updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&alarm.account)
        .bind(&alarm.region)
        .bind(&alarm.name)
        .bind(definition)
        .bind(alarm.status.state.as_str())
        .bind(&alarm.status.reason)
        .bind(&alarm.status.reason_data)
        .bind(alarm.status.updated_ms)
        .bind(alarm.status.transitioned_ms)
        .bind(alarm.config_updated_ms)
        .execute(&mut *tx)
        .await?;
    }
    for alarm in deleted {
        sqlx::query("DELETE FROM alarms WHERE account = ? AND region = ? AND name = ?")
            .bind(&alarm.account)
            .bind(&alarm.region)
            .bind(&alarm.name)
            .execute(&mut *tx)
            .await?;
    }
    let scope = alarms.first().or(deleted.first());
    if let Some(scope) = scope {
        for item in history {
            sqlx::query(
                "INSERT INTO alarm_history (account, region, name, ts_ms, kind, summary, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&scope.account)
            .bind(&scope.region)
            .bind(&item.name)
            .bind(item.ts_ms)
            .bind(item.kind.as_str())
            .bind(&item.summary)
            .bind(&item.data)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn history(pool: &SqlitePool, query: &HistoryQuery) -> Result<Vec<HistoryItem>, MetricsError> {
    let (order, cursor) = if query.ascending { ("ASC", "id > ?") } else { ("DESC", "id < ?") };
    let sql = format!(
        "SELECT id, name, ts_ms, kind, summary, data FROM alarm_history \
         WHERE account = ? AND region = ? AND (? IS NULL OR name = ?) AND (? IS NULL OR kind = ?) \
         AND ts_ms >= ? AND ts_ms <= ? AND {cursor} ORDER BY id {order} LIMIT ?"
    );
    let kind = query.kind.map(HistoryKind::as_str);
    let after = query.after.unwrap_or(if query.ascending { i64::MIN } else { i64::MAX });
    let rows = sqlx::query(&sql)
        .bind(&query.account)
        .bind(&query.region)
        .bind(&query.name)
        .bind(&query.name)
        .bind(kind)
        .bind(kind)
        .bind(query.from_ms.unwrap_or(i64::MIN))
        .bind(query.to_ms.unwrap_or(i64::MAX))
        .bind(after)
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            Ok(HistoryItem {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                ts_ms: row.try_get("ts_ms")?,
                kind: HistoryKind::parse(&kind).unwrap_or(HistoryKind::ConfigurationUpdate),
                summary: row.try_get("summary")?,
                data: row.try_get("data")?,
            })
        })
        .collect()
}

/// Deletes history items older than `before_ms`.
pub(super) async fn prune(pool: &SqlitePool, before_ms: i64) -> Result<u64, MetricsError> {
    let done = sqlx::query("DELETE FROM alarm_history WHERE ts_ms < ?").bind(before_ms).execute(pool).await?;
    Ok(done.rows_affected())
}
