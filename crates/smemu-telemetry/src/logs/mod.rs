//! Containers' log events as CloudWatch Logs keeps them: groups, streams and events in their own
//! SQLite file (`<data-dir>/logs.sqlite`), written by one task from a bounded channel
//! (`writer.rs`, which also enforces `--log-retention-bytes`), read by the queries of the Logs API
//! (`query.rs`), and the filter-pattern syntax `FilterLogEvents` takes (`pattern.rs`).

mod pattern;
mod query;
mod writer;

use std::path::Path;

use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

pub use pattern::{FilterPattern, PatternError};
pub use query::{Cursor, GroupInfo, GroupSelect, StoredEvent, StreamInfo, StreamOrder, StreamSelect, TimeRange};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/logs");

/// The database file inside the data directory.
pub const LOGS_FILE: &str = "logs.sqlite";

/// What CloudWatch Logs adds to a message's UTF-8 bytes when it counts an event's size
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>:
/// "the sum of all event messages in UTF-8, plus 26 bytes for each log event").
pub const EVENT_OVERHEAD: u64 = 26;

/// Events the capture tasks may have queued before they wait for the writer.
const CHANNEL_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    #[error("opening the log store: {0}")]
    Open(#[source] sqlx::Error),
    #[error("migrating the log store: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("reading the log store: {0}")]
    Query(#[from] sqlx::Error),
}

/// How the store is bounded.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// `--log-retention-bytes`: past this many bytes (counted as [`EVENT_OVERHEAD`] says), the
    /// oldest events go first.
    pub retention_bytes: u64,
}

/// Where an event goes: a stream of a group of an account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub account: String,
    pub region: String,
    pub group: String,
    pub stream: String,
}

/// One line a container wrote, stamped by the engine.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub stream: StreamKey,
    pub timestamp_ms: i64,
    pub message: String,
}

enum Message {
    /// Events in the order they were written.
    Events(Vec<NewEvent>),
    /// Answered once everything sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// The store: queries here, writes through [`LogSink`]s; cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    pool: SqlitePool,
    sender: mpsc::Sender<Message>,
}

/// Sends events to the store's writer; cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    sender: mpsc::Sender<Message>,
}

impl LogSink {
    /// Queues one event; waits while the writer's channel is full. `false` once the store is gone.
    pub async fn send(&self, event: NewEvent) -> bool {
        self.send_all(vec![event]).await
    }

    /// Queues events in order, as one message (one wake-up of the writer); waits while the channel is full.
    pub async fn send_all(&self, events: Vec<NewEvent>) -> bool {
        events.is_empty() || self.sender.send(Message::Events(events)).await.is_ok()
    }
}

impl LogStore {
    /// Opens (creating, migrating) the file at `path` and starts its writer on the current runtime.
    pub async fn open(path: &Path, config: LogConfig) -> Result<Self, LogStoreError> {
        let pool = crate::sqlite::open(path).await.map_err(LogStoreError::Open)?;
        MIGRATOR.run(&pool).await.map_err(LogStoreError::Migrate)?;
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let total = writer::stored_total(&pool).await?;
        tokio::spawn(writer::run(pool.clone(), receiver, config.retention_bytes, total));
        Ok(LogStore { pool, sender })
    }

    pub fn sink(&self) -> LogSink {
        LogSink { sender: self.sender.clone() }
    }

    /// Waits until every event sent before this call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// Epoch milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An event's size as CloudWatch counts it.
pub fn event_size(message: &str) -> u64 {
    message.len() as u64 + EVENT_OVERHEAD
}

#[cfg(test)]
mod tests;
