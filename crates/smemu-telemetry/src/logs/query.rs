//! The queries the CloudWatch Logs API answers, in the store's words: groups, streams, a stream's
//! events either way from a position, and a group's events across streams in time order.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{LogStore, LogStoreError, StreamKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub creation_time: i64,
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub creation_time: i64,
    pub first_event_ts: Option<i64>,
    pub last_event_ts: Option<i64>,
    pub last_ingestion_time: Option<i64>,
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The global insertion order: ties between equal timestamps keep the order lines were written.
    pub seq: i64,
    pub stream: String,
    pub timestamp_ms: i64,
    pub ingestion_ms: i64,
    pub message: String,
}

impl StoredEvent {
    pub fn cursor(&self) -> Cursor {
        Cursor { ts: self.timestamp_ms, seq: self.seq }
    }
}

/// Which groups DescribeLogGroups lists: by name prefix, by a case-insensitive substring, by
/// name, after the last one of an earlier page.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupSelect<'a> {
    pub prefix: Option<&'a str>,
    pub pattern: Option<&'a str>,
    pub names: Option<&'a [String]>,
    pub after: Option<&'a str>,
}

/// A position between events in (timestamp, insertion) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub ts: i64,
    pub seq: i64,
}

impl Cursor {
    /// Before every event.
    pub const START: Cursor = Cursor { ts: i64::MIN, seq: i64::MIN };
    /// After every event.
    pub const END: Cursor = Cursor { ts: i64::MAX, seq: i64::MAX };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    LastEventTime,
}

/// Which streams of a group a filter reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSelect {
    All,
    Names(Vec<String>),
    Prefix(String),
}

/// Event timestamps from `start` (included) to `end` (excluded), as GetLogEvents and
/// FilterLogEvents take them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl TimeRange {
    fn push(&self, query: &mut QueryBuilder<'_, Sqlite>) {
        if let Some(start) = self.start {
            query.push(" AND e.ts >= ").push_bind(start);
        }
        if let Some(end) = self.end {
            query.push(" AND e.ts < ").push_bind(end);
        }
    }
}

const EVENT_COLUMNS: &str = "SELECT e.seq, s.name AS stream, e.ts, e.ingestion_time, e.message \
     FROM log_events e JOIN log_streams s ON s.id = e.stream_id WHERE ";

fn event(row: &SqliteRow) -> StoredEvent {
    StoredEvent {
        seq: row.get("seq"),
        stream: row.get("stream"),
        timestamp_ms: row.get("ts"),
        ingestion_ms: row.get("ingestion_time"),
        message: row.get("message"),
    }
}

fn stream(row: &SqliteRow) -> StreamInfo {
    StreamInfo {
        name: row.get("name"),
        creation_time: row.get("creation_time"),
        first_event_ts: row.get("first_event_ts"),
        last_event_ts: row.get("last_event_ts"),
        last_ingestion_time: row.get("last_ingestion_time"),
        stored_bytes: row.get("stored_bytes"),
    }
}

/// `name` begins with `prefix` (no LIKE: names may hold `%` and `_`).
fn push_prefix(query: &mut QueryBuilder<'_, Sqlite>, column: &str, prefix: &str) {
    let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
    query.push(format!(" AND substr({column}, 1, ")).push_bind(chars).push(") = ").push_bind(prefix.to_owned());
}

impl LogStore {
    /// Groups of an account and region in name order, after `after`, at most `limit`.
    pub async fn groups(
        &self,
        account: &str,
        region: &str,
        select: &GroupSelect<'_>,
        limit: i64,
    ) -> Result<Vec<GroupInfo>, LogStoreError> {
        let GroupSelect { prefix, pattern, names, after } = *select;
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT g.name, g.creation_time, \
             (SELECT COALESCE(SUM(s.stored_bytes), 0) FROM log_streams s WHERE s.group_id = g.id) AS stored_bytes \
             FROM log_groups g WHERE g.account = ",
        );
        query.push_bind(account.to_owned()).push(" AND g.region = ").push_bind(region.to_owned());
        if let Some(prefix) = prefix {
            push_prefix(&mut query, "g.name", prefix);
        }
        if let Some(pattern) = pattern {
            // logGroupNamePattern: a case-insensitive substring.
            query.push(" AND instr(lower(g.name), lower(").push_bind(pattern.to_owned()).push(")) > 0");
        }
        if let Some(names) = names {
            query.push(" AND g.name IN (");
            let mut list = query.separated(", ");
            for name in names {
                list.push_bind(name.clone());
            }
            list.push_unseparated(")");
            if names.is_empty() {
                query.push(" AND 0");
            }
        }
        if let Some(after) = after {
            query.push(" AND g.name > ").push_bind(after.to_owned());
        }
        query.push(" ORDER BY g.name LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|row| GroupInfo {
                name: row.get("name"),
                creation_time: row.get("creation_time"),
                stored_bytes: row.get("stored_bytes"),
            })
            .collect())
    }

    /// A group's id, if it exists.
    pub async fn group_id(&self, account: &str, region: &str, name: &str) -> Result<Option<i64>, LogStoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM log_groups WHERE account = ? AND region = ? AND name = ?")
            .bind(account)
            .bind(region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The ids of the groups with this name, in every account and region (`smemu logs` looks a
    /// resource up without knowing its account).
    pub async fn groups_named(&self, name: &str) -> Result<Vec<i64>, LogStoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM log_groups WHERE name = ? ORDER BY id")
            .bind(name)
            .fetch_all(&self.pool)
            .await?)
    }

    /// A stream's id in a group, if it exists.
    pub async fn stream_id(&self, group: i64, name: &str) -> Result<Option<i64>, LogStoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM log_streams WHERE group_id = ? AND name = ?")
            .bind(group)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A group's streams in the order asked, skipping `offset`, at most `limit`.
    pub async fn streams(
        &self,
        group: i64,
        prefix: Option<&str>,
        order: StreamOrder,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<StreamInfo>, LogStoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT * FROM log_streams WHERE group_id = ");
        query.push_bind(group);
        if let Some(prefix) = prefix {
            push_prefix(&mut query, "name", prefix);
        }
        let direction = if descending { "DESC" } else { "ASC" };
        match order {
            StreamOrder::Name => query.push(format!(" ORDER BY name {direction}")),
            StreamOrder::LastEventTime => {
                query.push(format!(" ORDER BY COALESCE(last_event_ts, -1) {direction}, name {direction}"))
            }
        };
        query.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stream).collect())
    }

    /// A stream's events after `after` in time order, at most `limit`.
    pub async fn events_after(
        &self,
        stream: i64,
        after: Cursor,
        range: TimeRange,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, LogStoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(EVENT_COLUMNS);
        query.push("e.stream_id = ").push_bind(stream);
        query.push(" AND (e.ts, e.seq) > (").push_bind(after.ts).push(", ").push_bind(after.seq).push(")");
        range.push(&mut query);
        query.push(" ORDER BY e.ts, e.seq LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(event).collect())
    }

    /// The last `limit` events of a stream before `before`, in time order.
    pub async fn events_before(
        &self,
        stream: i64,
        before: Cursor,
        range: TimeRange,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, LogStoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(EVENT_COLUMNS);
        query.push("e.stream_id = ").push_bind(stream);
        query.push(" AND (e.ts, e.seq) < (").push_bind(before.ts).push(", ").push_bind(before.seq).push(")");
        range.push(&mut query);
        query.push(" ORDER BY e.ts DESC, e.seq DESC LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut events: Vec<StoredEvent> = rows.iter().map(event).collect();
        events.reverse();
        Ok(events)
    }

    /// Up to `limit` events of a group's selected streams after `after`, in time order (the
    /// caller filters their messages).
    pub async fn group_events(
        &self,
        group: i64,
        select: &StreamSelect,
        after: Cursor,
        range: TimeRange,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, LogStoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(EVENT_COLUMNS);
        query.push("s.group_id = ").push_bind(group);
        match select {
            StreamSelect::All => {}
            StreamSelect::Prefix(prefix) => push_prefix(&mut query, "s.name", prefix),
            StreamSelect::Names(names) => {
                query.push(" AND s.name IN (");
                let mut list = query.separated(", ");
                for name in names {
                    list.push_bind(name.clone());
                }
                list.push_unseparated(")");
            }
        }
        query.push(" AND (e.ts, e.seq) > (").push_bind(after.ts).push(", ").push_bind(after.seq).push(")");
        range.push(&mut query);
        query.push(" ORDER BY e.ts, e.seq LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(event).collect())
    }

    /// Up to `limit` events of some groups' streams whose names begin with `prefix`, written after
    /// the event `after_seq`, in the order they were written: what `smemu logs` prints and, with
    /// `--follow`, polls (time order would skip a line stamped earlier but written later).
    pub async fn events_written_after(
        &self,
        groups: &[i64],
        prefix: &str,
        after_seq: i64,
        range: TimeRange,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, LogStoreError> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(EVENT_COLUMNS);
        query.push("s.group_id IN (");
        let mut list = query.separated(", ");
        for group in groups {
            list.push_bind(*group);
        }
        list.push_unseparated(")");
        push_prefix(&mut query, "s.name", prefix);
        query.push(" AND e.seq > ").push_bind(after_seq);
        range.push(&mut query);
        query.push(" ORDER BY e.seq LIMIT ").push_bind(limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(event).collect())
    }

    /// Where capture of a stream resumes: its last event's timestamp (kept by the stream, so that
    /// retention dropping its events does not make capture read them again) and how many of its
    /// stored events carry that timestamp (lines the engine stamps alike are told apart by count).
    pub async fn resume_point(&self, key: &StreamKey) -> Result<Option<(i64, u64)>, LogStoreError> {
        let Some(group) = self.group_id(&key.account, &key.region, &key.group).await? else { return Ok(None) };
        let Some(stream) = self.stream_id(group, &key.stream).await? else { return Ok(None) };
        let last: Option<i64> = sqlx::query_scalar("SELECT last_event_ts FROM log_streams WHERE id = ?")
            .bind(stream)
            .fetch_one(&self.pool)
            .await?;
        let Some(last) = last else { return Ok(None) };
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_events WHERE stream_id = ? AND ts = ?")
            .bind(stream)
            .bind(last)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((last, u64::try_from(count).unwrap_or(0))))
    }
}
