//! The store's one writer: takes events off the channel in batches, writes each batch in one
//! transaction (groups and streams appear with their first event, as CloudWatch shows them), then
//! drops the oldest events while the store holds more than `--log-retention-bytes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{Message, NewEvent, StreamKey, event_size, now_ms};

/// How long the writer waits for more events after the first of a batch.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// Most events written in one transaction.
const MAX_BATCH: usize = 1000;
/// Rows per `INSERT` (5 parameters each, far under SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 200;
/// Most events looked at per step when dropping the oldest.
const RETENTION_STEP: i64 = 1000;

/// Bytes the store holds now, as CloudWatch counts them.
pub(super) async fn stored_total(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM log_events").fetch_one(pool).await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

pub(super) async fn run(pool: SqlitePool, mut receiver: mpsc::Receiver<Message>, retention: u64, mut total: u64) {
    // Streams are never deleted (retention drops events), so their ids can be kept for the process's life.
    let mut streams: HashMap<StreamKey, i64> = HashMap::new();
    while let Some(first) = receiver.recv().await {
        let (events, flushes) = gather(first, &mut receiver).await;
        if !events.is_empty() {
            match write_batch(&pool, &mut streams, &events).await {
                Ok(bytes) => total = total.saturating_add(bytes),
                Err(err) => {
                    // A failed transaction may have rolled back streams it created.
                    streams.clear();
                    tracing::warn!(error = %err, events = events.len(), "writing log events; they are lost");
                }
            }
            if total > retention {
                match enforce(&pool, total, retention).await {
                    Ok(left) => total = left,
                    Err(err) => tracing::warn!(error = %err, "dropping the oldest log events"),
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// One batch: what is queued with `first`, and what arrives within [`BATCH_WINDOW`] after it, up to
/// [`MAX_BATCH`] events; a flush ends the batch at once. A container serving thousands of requests a
/// second writes as many lines: one transaction per line or two would cost more than serving them.
async fn gather(first: Message, receiver: &mut mpsc::Receiver<Message>) -> (Vec<NewEvent>, Vec<oneshot::Sender<()>>) {
    let mut events = Vec::new();
    let mut flushes = Vec::new();
    let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
    let mut next = Some(first);
    while let Some(message) = next.take() {
        match message {
            Message::Events(batch) => events.extend(batch),
            Message::Flush(done) => flushes.push(done),
        }
        if events.len() >= MAX_BATCH {
            break;
        }
        next = match receiver.try_recv() {
            Ok(message) => Some(message),
            Err(_) if !flushes.is_empty() => None,
            Err(_) => tokio::time::timeout_at(deadline, receiver.recv()).await.ok().flatten(),
        };
    }
    (events, flushes)
}

/// Writes one batch; returns the bytes it added.
async fn write_batch(
    pool: &SqlitePool,
    ids: &mut HashMap<StreamKey, i64>,
    events: &[NewEvent],
) -> Result<u64, sqlx::Error> {
    let ingestion = now_ms();
    let mut tx = pool.begin().await?;
    // Per stream: (min ts, max ts, bytes).
    let mut touched: BTreeMap<i64, (i64, i64, u64)> = BTreeMap::new();
    let mut added = 0u64;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let stream_id = match ids.get(&event.stream) {
            Some(id) => *id,
            None => {
                let id = stream_id(&mut tx, &event.stream, ingestion).await?;
                ids.insert(event.stream.clone(), id);
                id
            }
        };
        let size = event_size(&event.message);
        rows.push((stream_id, event, size));
        let entry = touched.entry(stream_id).or_insert((event.timestamp_ms, event.timestamp_ms, 0));
        entry.0 = entry.0.min(event.timestamp_ms);
        entry.1 = entry.1.max(event.timestamp_ms);
        entry.2 += size;
        added += size;
    }
    // Many rows per statement: each statement is a round trip to sqlx's SQLite thread, and a
    // chatty container writes thousands of lines a second while it serves.
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO log_events (stream_id, ts, ingestion_time, message, size) ");
        insert.push_values(chunk, |mut row, (stream_id, event, size)| {
            row.push_bind(*stream_id)
                .push_bind(event.timestamp_ms)
                .push_bind(ingestion)
                .push_bind(&event.message)
                .push_bind(i64::try_from(*size).unwrap_or(i64::MAX));
        });
        insert.build().execute(&mut *tx).await?;
    }
    for (stream_id, (first, last, bytes)) in touched {
        sqlx::query(
            "UPDATE log_streams SET first_event_ts = MIN(COALESCE(first_event_ts, ?1), ?1), \
             last_event_ts = MAX(COALESCE(last_event_ts, ?2), ?2), last_ingestion_time = ?3, \
             stored_bytes = stored_bytes + ?4 WHERE id = ?5",
        )
        .bind(first)
        .bind(last)
        .bind(ingestion)
        .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// The stream's id, creating it (and its group) now if it is new.
async fn stream_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    key: &StreamKey,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO log_groups (account, region, name, creation_time) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(&key.account)
    .bind(&key.region)
    .bind(&key.group)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let group: i64 = sqlx::query_scalar("SELECT id FROM log_groups WHERE account = ? AND region = ? AND name = ?")
        .bind(&key.account)
        .bind(&key.region)
        .bind(&key.group)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO log_streams (group_id, name, creation_time) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(group)
        .bind(&key.stream)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar("SELECT id FROM log_streams WHERE group_id = ? AND name = ?")
        .bind(group)
        .bind(&key.stream)
        .fetch_one(&mut **tx)
        .await
}

/// Drops the oldest events (by insertion) until at most `retention` bytes are left; returns what is.
pub(super) async fn enforce(pool: &SqlitePool, mut total: u64, retention: u64) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut affected = BTreeSet::new();
    while total > retention {
        let rows = sqlx::query("SELECT seq, stream_id, size FROM log_events ORDER BY seq LIMIT ?")
            .bind(RETENTION_STEP)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            total = 0;
            break;
        }
        let mut cutoff = 0i64;
        for row in &rows {
            cutoff = row.get("seq");
            affected.insert(row.get::<i64, _>("stream_id"));
            total = total.saturating_sub(u64::try_from(row.get::<i64, _>("size")).unwrap_or(0));
            if total <= retention {
                break;
            }
        }
        sqlx::query("DELETE FROM log_events WHERE seq <= ?").bind(cutoff).execute(&mut *tx).await?;
    }
    for stream_id in affected {
        sqlx::query(
            "UPDATE log_streams SET \
             stored_bytes = (SELECT COALESCE(SUM(size), 0) FROM log_events WHERE stream_id = ?1), \
             first_event_ts = COALESCE((SELECT MIN(ts) FROM log_events WHERE stream_id = ?1), first_event_ts) \
             WHERE id = ?1",
        )
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(total)
}
