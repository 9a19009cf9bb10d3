//! The one writer of the SQLite store: a task that owns the only connection that writes (a sqlx
//! `SqliteConnection`), takes the waiting writes from a bounded queue and commits them together
//! (group commit), and a checkpointer task that copies the WAL into the database file off the
//! request path.
//!
//! Why (issue 16, measured in `scripts/bench-writes.sh`): with every pooled connection writing,
//! concurrent writers met SQLite's lock and waited in its busy handler, which sleeps in steps of up
//! to 100 ms whatever the lock's holder does, and the commit that crossed 1000 WAL pages ran the
//! checkpoint (two fsyncs) inside its request. One writer never meets the lock, one commit serves
//! every write that queued meanwhile, and the checkpoint runs in its own task on its own connection.
//!
//! Durability is unchanged: a write is answered only after the `COMMIT` of its batch returned, and
//! with WAL and `synchronous=NORMAL` a returned commit is in the operating system's hands, so it
//! survives the process being killed; a power cut may lose the last commits, as before.
//!
//! A write that fails (a name taken, a compare-and-set lost) is answered its error while the others
//! of its batch commit. Most writes fail only in their first statement, which SQLite undoes by
//! itself ([`Undo::Statement`]: a create or a delete is one statement, its tags' clean-up a trigger
//! of it); a write that may fail after changing rows runs under a savepoint of its own
//! ([`Undo::Savepoint`]). A write that fails in the database itself (an I/O error, a full disk)
//! rolls back its whole batch, whose writes are all answered that failure.
//!
//! Why not a savepoint for every write: each statement is a hand-off to sqlx's worker thread and
//! back, a thread wake-up each way on the 2 cores this runs on. A create took four (`SAVEPOINT`,
//! `INSERT`, the `DELETE` of old tags, `RELEASE`) and now takes one; CreateModel/DeleteModel at
//! c=16 (`scripts/bench-writes.sh`) went from 8-15k calls/s with p99 5.5-11 ms to 16-19k calls/s
//! with p99 under 3 ms.
//!
//! The tasks only await: every statement runs on the connection's own worker thread (sqlx's), so a
//! writer waiting for a lock another process holds (at most the busy timeout) blocks no runtime
//! worker, and nothing but the writes queued behind it waits.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// Settings of the writer (flags of `smemu serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Writes that may wait for the writer; past it a write is refused with
    /// [`StoreError::Overloaded`] (the API answers `ThrottlingException`). Also the most writes one
    /// transaction commits together.
    pub max_queued_writes: usize,
    /// How often the checkpointer copies committed pages from the WAL into the database file.
    pub checkpoint_interval: Duration,
    /// How long the writer waits for the write lock when another process holds it; past it the
    /// batch waiting is refused with [`StoreError::Locked`], changing nothing, and the writer goes
    /// on with the next.
    pub lock_timeout: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_queued_writes: 1024,
            checkpoint_interval: Duration::from_millis(500),
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// What a write does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Fails at once with [`StoreError::Overloaded`], changing nothing: what a client asked for
    /// (creations, deletions, tags), so that a flood is throttled instead of queued without bound.
    Refuse,
    /// Waits for a place: the controllers' progress (compare-and-set updates, an endpoint's
    /// removal, the async queue's bookkeeping), which must not be lost to a flood of clients'
    /// writes. Those waiters are bounded by the resources being worked on.
    Wait,
}

/// How a write that fails is undone inside its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// The write fails with one of the store's own errors (anything but
    /// [`StoreError::Database`]) only before it has changed a row: in its first statement, which
    /// SQLite undoes by itself when it fails (with the triggers it fired), or after reads alone.
    /// It runs without a savepoint.
    Statement,
    /// The write may fail after changing rows (AddTags past the tag limit): it runs under a
    /// savepoint of its own, rolled back when it fails.
    Savepoint,
}

/// What running one write left in the batch's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It succeeded: its changes stay.
    Done,
    /// It failed with one of the store's own errors, having changed nothing that its [`Undo`]
    /// does not undo.
    Refused,
    /// It failed in the database, or panicked: what it changed is unknown.
    Broken,
}

/// The future of one write: it borrows the writer's connection for as long as it runs.
pub(crate) type WriteFuture<'c, T> = BoxFuture<'c, Result<T, StoreError>>;

/// The async side of the writer: queues writes and waits for their answers.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Message>,
    capacity: usize,
}

/// What the writer task is asked.
enum Message {
    Write(Box<dyn Write>),
    /// Commit what came before, checkpoint, close the connections and answer.
    Close(oneshot::Sender<()>),
}

/// One queued write, type-erased so that writes of every result type share the queue.
trait Write: Send {
    /// How the write is undone when it fails.
    fn undo(&self) -> Undo;
    /// Runs the write in the batch's transaction.
    fn apply<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Outcome>;
    /// Answers the caller once its batch is committed: its own result, or the batch's failure.
    fn answer(self: Box<Self>, committed: Result<(), Failure>);
}

/// Why a batch (or the part of it a write was in) did not commit; cloned to every write in it.
#[derive(Debug, Clone)]
enum Failure {
    /// Another process held the write lock past the lock timeout: nothing was run.
    Locked(Duration),
    /// Any other failure of the database, as text (sqlx's error is not `Clone`).
    Database(String),
}

impl Failure {
    fn database(doing: &str, err: &sqlx::Error) -> Failure {
        Failure::Database(format!("{doing}: {err}"))
    }

    fn into_error(self) -> StoreError {
        match self {
            Failure::Locked(waited) => StoreError::Locked { waited },
            Failure::Database(why) => StoreError::Database(why.into()),
        }
    }
}

/// Whether SQLite answered `SQLITE_BUSY` (any extended form): the lock stayed taken past the busy
/// timeout.
fn is_busy(err: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    let sqlx::Error::Database(failure) = err else { return false };
    failure.code().and_then(|code| code.parse::<i64>().ok()).is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

struct Pending<T, F> {
    undo: Undo,
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send,
{
    fn undo(&self) -> Undo {
        self.undo
    }

    fn apply<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Outcome> {
        Box::pin(async move {
            let Some(work) = self.work.take() else { return Outcome::Broken };
            let result = work(conn).await;
            let outcome = match &result {
                Ok(_) => Outcome::Done,
                Err(StoreError::Database(_)) => Outcome::Broken,
                Err(_) => Outcome::Refused,
            };
            self.result = Some(result);
            outcome
        })
    }

    fn answer(self: Box<Self>, committed: Result<(), Failure>) {
        let result = match (self.result, committed) {
            // A write's own failure stands: it was undone either way.
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(failure)) | (None, Err(failure)) => Err(failure.into_error()),
            (None, Ok(())) => Err(StoreError::Database("the write was not run".into())),
        };
        // The caller may have gone (its client hung up); the write stands all the same.
        let _ = self.reply.send(result);
    }
}

impl Writer {
    /// Opens the write connection with `options` (those of the read pool; the file is already
    /// migrated) and starts the writer and the checkpointer tasks.
    pub(crate) async fn start(
        path: &Path,
        options: &SqliteConnectOptions,
        settings: WriterOptions,
    ) -> Result<Writer, StoreError> {
        let capacity = settings.max_queued_writes.max(1);
        // Checkpoints are the checkpointer's: none runs inside a commit.
        let write_options = options.clone().pragma("wal_autocheckpoint", "0").busy_timeout(settings.lock_timeout);
        let conn = write_options.connect().await.map_err(|err| open_error(path, err))?;
        let checkpoints = options.connect().await.map_err(|err| open_error(path, err))?;
        let (queue, receiver) = mpsc::channel(capacity);
        let dirty = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = oneshot::channel();
        let checkpointer =
            Checkpointer { conn: checkpoints, interval: settings.checkpoint_interval, dirty: dirty.clone() };
        let checkpointer = tokio::spawn(checkpointer.run(stopped));
        let lock_timeout = settings.lock_timeout;
        let task = WriterTask { conn, receiver, capacity, lock_timeout, dirty, stop, checkpointer };
        tokio::spawn(task.run());
        Ok(Writer { queue, capacity })
    }

    /// Runs `work` in the writer's next transaction and answers once that is committed. When
    /// `max_queued_writes` writes are already waiting, `admission` says what happens; `undo` says
    /// how the write is undone if it fails.
    pub(crate) async fn write<T, F>(&self, admission: Admission, undo: Undo, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let message = Message::Write(Box::new(Pending { undo, work: Some(work), result: None, reply }));
        match admission {
            Admission::Refuse => self.queue.try_send(message).map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => StoreError::Overloaded { queued: self.capacity },
                mpsc::error::TrySendError::Closed(_) => closed(),
            })?,
            Admission::Wait => self.queue.send(message).await.map_err(|_| closed())?,
        }
        answer.await.map_err(|_| closed())?
    }

    /// Commits every write queued before, checkpoints and closes the writer's connections. Later
    /// writes fail.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn closed() -> StoreError {
    StoreError::Database("the state store's writer is closed".into())
}

fn open_error(path: &Path, err: sqlx::Error) -> StoreError {
    StoreError::Open { location: path.display().to_string(), source: err.into() }
}

struct WriterTask {
    conn: SqliteConnection,
    receiver: mpsc::Receiver<Message>,
    capacity: usize,
    lock_timeout: Duration,
    /// Commits since the checkpointer last looked.
    dirty: Arc<AtomicU64>,
    /// Sent (or dropped) to stop the checkpointer.
    stop: oneshot::Sender<()>,
    checkpointer: tokio::task::JoinHandle<()>,
}

impl WriterTask {
    async fn run(mut self) {
        let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(self.capacity);
        let mut closing = None;
        while closing.is_none() {
            // Waits for the first write, then takes every write queued behind it.
            let Some(first) = self.receiver.recv().await else { break };
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Write(write) => batch.push(write),
                    Message::Close(done) => {
                        closing = Some(done);
                        break;
                    }
                }
                if batch.len() < self.capacity {
                    next = self.receiver.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch).await;
            }
        }
        self.receiver.close();
        let _ = self.stop.send(());
        let _ = self.checkpointer.await;
        // What the WAL holds goes into the database file before the process ends.
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut self.conn).await {
            tracing::warn!(error = %err, "final checkpoint of the state store");
        }
        if let Err(err) = self.conn.close().await {
            tracing::warn!(error = %err, "closing the state store's writer");
        }
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Applies `batch` in one transaction, commits, then answers every write.
    async fn commit(&mut self, batch: &mut Vec<Box<dyn Write>>) {
        let mut applied: Vec<Box<dyn Write>> = Vec::with_capacity(batch.len());
        if let Err(failure) = self.begin().await {
            // Another process held the lock past the lock timeout (or the file is unusable): this
            // batch fails, answered at once, changing nothing; the writer goes on with the next.
            for write in batch.drain(..) {
                write.answer(Err(failure.clone()));
            }
            return;
        }
        let mut pending = batch.drain(..);
        while let Some(mut write) = pending.next() {
            if let Err(failure) = self.apply(write.as_mut()).await {
                // The transaction is no longer what the applied writes left (a write broke off
                // half-way, or SQLite rolled it back whole: an I/O error, a full disk). Roll back
                // whatever remains so that no write is answered success unless committed; the
                // rest go on in a new transaction.
                let _ = self.exec("ROLLBACK").await;
                for earlier in applied.drain(..) {
                    earlier.answer(Err(failure.clone()));
                }
                write.answer(Err(failure));
                if let Err(failure) = self.begin().await {
                    for rest in pending.by_ref() {
                        rest.answer(Err(failure.clone()));
                    }
                    return;
                }
                continue;
            }
            applied.push(write);
        }
        drop(pending);
        let committed = self.finish().await;
        for write in applied {
            write.answer(committed.clone());
        }
    }

    /// Runs one write of the batch, undoing it if it fails as its [`Undo`] says. An error means
    /// the batch's transaction must be rolled back whole.
    async fn apply(&mut self, write: &mut dyn Write) -> Result<(), Failure> {
        let undo = write.undo();
        if undo == Undo::Savepoint {
            self.exec("SAVEPOINT w").await.map_err(|err| Failure::database("opening a savepoint", &err))?;
        }
        // A panic in one write must not take the writer (and every later write) down with it: it
        // counts as that write's failure in the database.
        let outcome = AssertUnwindSafe(write.apply(&mut self.conn)).catch_unwind().await.unwrap_or(Outcome::Broken);
        let ended = match (undo, outcome) {
            (Undo::Statement, Outcome::Done | Outcome::Refused) => Ok(()),
            (Undo::Statement, Outcome::Broken) => {
                return Err(Failure::Database(
                    "a write of the batch failed in the database, which rolled the batch back".into(),
                ));
            }
            (Undo::Savepoint, Outcome::Done) => self.exec("RELEASE w").await,
            (Undo::Savepoint, Outcome::Refused | Outcome::Broken) => match self.exec("ROLLBACK TO w").await {
                Ok(()) => self.exec("RELEASE w").await,
                Err(err) => Err(err),
            },
        };
        ended.map_err(|err| Failure::database("the transaction was rolled back", &err))
    }

    /// Commits the batch's transaction; on success the checkpointer has work.
    async fn finish(&mut self) -> Result<(), Failure> {
        let committed = self.exec("COMMIT").await.map_err(|err| Failure::database("committing", &err));
        if committed.is_err() {
            // Ends the transaction if the failed COMMIT left it open; an error means it had ended.
            let _ = self.exec("ROLLBACK").await;
        } else {
            self.dirty.fetch_add(1, Ordering::Relaxed);
        }
        committed
    }

    /// Takes the write lock for a batch, waiting at most the lock timeout (the busy handler's).
    async fn begin(&mut self) -> Result<(), Failure> {
        self.exec("BEGIN IMMEDIATE").await.map_err(|err| {
            if is_busy(&err) {
                tracing::warn!(waited = ?self.lock_timeout, "the state store's write lock is held by another process");
                Failure::Locked(self.lock_timeout)
            } else {
                Failure::database("beginning a transaction", &err)
            }
        })
    }

    /// One statement of the writer's own (kept prepared by the connection's statement cache).
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut self.conn).await.map(|_| ())
    }
}

/// Copies committed pages from the WAL into the database file every `interval` after a commit,
/// without waiting for readers or the writer (`PASSIVE`), so that the WAL stays small and no
/// request pays for the copy or its fsyncs.
struct Checkpointer {
    conn: SqliteConnection,
    interval: Duration,
    dirty: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Runs until `stopped` (the writer is closing, or gone).
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut ticks = tokio::time::interval(self.interval.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticks.tick() => {}
            }
            if self.dirty.swap(0, Ordering::Relaxed) == 0 {
                continue;
            }
            if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut self.conn).await {
                tracing::warn!(error = %err, "checkpointing the state store");
            }
        }
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

    use std::str::FromStr;

    use super::*;

    async fn writer(dir: &Path) -> Writer {
        let options =
            SqliteConnectOptions::from_str("sqlite://").unwrap().filename(dir.join("w.db")).create_if_missing(true);
        let writer = Writer::start(dir, &options, WriterOptions::default()).await.unwrap();
        writer
            .write(Admission::Wait, Undo::Statement, |conn| {
                Box::pin(async move {
                    sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)").execute(&mut *conn).await.map_err(db)?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        writer
    }

    fn db(err: sqlx::Error) -> StoreError {
        StoreError::Database(err.into())
    }

    /// Inserts `x`; a taken `x` is refused as the store refuses a taken name.
    async fn insert(writer: &Writer, x: i64) -> Result<(), StoreError> {
        writer
            .write(Admission::Wait, Undo::Statement, move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (?1)").bind(x).execute(&mut *conn).await.map_err(|err| {
                        match &err {
                            sqlx::Error::Database(failure) if failure.is_unique_violation() => {
                                StoreError::AlreadyExists { kind: "row", name: x.to_string() }
                            }
                            _ => db(err),
                        }
                    })?;
                    Ok(())
                })
            })
            .await
    }

    /// Inserts `x`, then panics: a bug in a write, after it changed a row.
    async fn insert_then_panic(writer: &Writer, undo: Undo, x: i64) -> Result<(), StoreError> {
        writer
            .write::<(), _>(Admission::Wait, undo, move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (?1)").bind(x).execute(&mut *conn).await.map_err(db)?;
                    panic!("a bug in one write");
                })
            })
            .await
    }

    async fn rows(writer: &Writer) -> Vec<i64> {
        writer
            .write(Admission::Wait, Undo::Statement, |conn| {
                Box::pin(async move {
                    sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(&mut *conn).await.map_err(db)
                })
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_write_under_a_savepoint_that_panics_fails_alone_rolled_back_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path()).await;
        // Queued together (the writer runs only once this task waits): one batch.
        let (panicked, two, three) =
            tokio::join!(insert_then_panic(&writer, Undo::Savepoint, 1), insert(&writer, 2), insert(&writer, 3));
        assert!(matches!(panicked, Err(StoreError::Database(_))), "{panicked:?}");
        two.unwrap();
        three.unwrap();
        insert(&writer, 4).await.unwrap();
        assert_eq!(rows(&writer).await, vec![2, 3, 4], "the panicking write's insert was rolled back");
        writer.close().await;
    }

    #[tokio::test]
    async fn a_write_without_a_savepoint_that_breaks_rolls_back_its_batch_answering_every_write_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path()).await;
        let (two, panicked, three) =
            tokio::join!(insert(&writer, 2), insert_then_panic(&writer, Undo::Statement, 1), insert(&writer, 3));
        assert!(matches!(panicked, Err(StoreError::Database(_))), "{panicked:?}");
        // The write before it in the batch was rolled back with it: answered a failure, not a
        // success. The one after it ran in a new transaction.
        assert!(matches!(two, Err(StoreError::Database(_))), "{two:?}");
        three.unwrap();
        insert(&writer, 4).await.unwrap();
        assert_eq!(rows(&writer).await, vec![3, 4], "nothing of the rolled-back part of the batch is stored");
        writer.close().await;
    }

    #[tokio::test]
    async fn a_write_refused_in_its_first_statement_fails_alone_without_a_savepoint() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path()).await;
        insert(&writer, 1).await.unwrap();
        let (two, taken, three) = tokio::join!(insert(&writer, 2), insert(&writer, 1), insert(&writer, 3));
        assert!(matches!(taken, Err(StoreError::AlreadyExists { .. })), "{taken:?}");
        two.unwrap();
        three.unwrap();
        assert_eq!(rows(&writer).await, vec![1, 2, 3]);
        writer.close().await;
    }
}
