//! The one writer of the SQLite store: a thread that owns the only connection that writes, takes
//! the waiting writes from a bounded queue and commits them together (group commit), and a
//! checkpointer thread that copies the WAL into the database file off the request path.
//!
//! Why (issue 16, measured in `scripts/bench-writes.sh`): with every pooled connection writing,
//! concurrent writers met SQLite's lock and waited in its busy handler, which sleeps in steps of up
//! to 100 ms whatever the lock's holder does, and the commit that crossed 1000 WAL pages ran the
//! checkpoint (two fsyncs) inside its request. One writer never meets the lock, one commit serves
//! every write that queued meanwhile, and the checkpoint runs in its own thread.
//!
//! Durability is unchanged: a write is answered only after the `COMMIT` of its batch returned, and
//! with WAL and `synchronous=NORMAL` a returned commit is in the operating system's hands, so it
//! survives the process being killed; a power cut may lose the last commits, as before.
//!
//! Each write runs under a savepoint of its own: a write that fails (a name taken, a
//! compare-and-set lost) is rolled back alone and answered its error, while the others commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
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
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { max_queued_writes: 1024, checkpoint_interval: Duration::from_millis(500) }
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

/// The async side of the writer: queues writes and waits for their answers.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Message>,
    capacity: usize,
}

/// What the writer thread is asked.
enum Message {
    Write(Box<dyn Write>),
    /// Commit what came before, checkpoint, close the connections and answer.
    Close(oneshot::Sender<()>),
}

/// One queued write, type-erased so that writes of every result type share the queue.
trait Write: Send {
    /// Runs the write in the batch's transaction; whether it succeeded (its changes are kept).
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once its batch is committed: its own result, or the commit's failure.
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let result = match (self.result, committed) {
            // A write's own failure stands: it was rolled back to its savepoint either way.
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(why)) | (None, Err(why)) => Err(StoreError::Database(why.into())),
            (None, Ok(())) => Err(StoreError::Database("the write was not run".into())),
        };
        // The caller may have gone (its client hung up); the write stands all the same.
        let _ = self.reply.send(result);
    }
}

impl Writer {
    /// Opens the write connection on `path` (already migrated) and starts the writer and the
    /// checkpointer threads.
    pub(crate) fn start(path: &Path, options: WriterOptions) -> Result<Writer, StoreError> {
        let capacity = options.max_queued_writes.max(1);
        let conn = open(path).map_err(|err| open_error(path, err))?;
        // Checkpoints are the checkpointer's: none runs inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|err| open_error(path, err))?;
        let (queue, receiver) = mpsc::channel(capacity);
        let dirty = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = sync_channel(1);
        let checkpointer = Checkpointer {
            path: path.to_path_buf(),
            interval: options.checkpoint_interval,
            dirty: dirty.clone(),
            stopped,
        };
        let checkpoints = std::thread::Builder::new()
            .name("smemu-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(|err| open_error(path, err))?;
        let thread = WriterThread { conn, receiver, capacity, dirty, stop: Some(stop), checkpoints: Some(checkpoints) };
        std::thread::Builder::new()
            .name("smemu-writer".into())
            .spawn(move || thread.run())
            .map_err(|err| open_error(path, err))?;
        Ok(Writer { queue, capacity })
    }

    /// Runs `work` in the writer's next transaction and answers once that is committed. When
    /// `max_queued_writes` writes are already waiting, `admission` says what happens.
    pub(crate) async fn write<T, F>(&self, admission: Admission, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let message = Message::Write(Box::new(Pending { work: Some(work), result: None, reply }));
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

fn open_error(path: &Path, err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Open { location: path.display().to_string(), source: err.into() }
}

/// A connection with the settings every smemu connection has (`sqlite.rs` gives sqlx's the same).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // `journal_mode` answers with the mode it set: read as a row.
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Only another process (a hand-run sqlite3) can hold the lock this connection waits for.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

struct WriterThread {
    conn: Connection,
    receiver: mpsc::Receiver<Message>,
    capacity: usize,
    /// Commits since the checkpointer last looked.
    dirty: Arc<AtomicU64>,
    /// Dropped to stop the checkpointer.
    stop: Option<SyncSender<()>>,
    checkpoints: Option<std::thread::JoinHandle<()>>,
}

impl WriterThread {
    fn run(mut self) {
        let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(self.capacity);
        let mut closing = None;
        while closing.is_none() {
            // Waits for the first write, then takes every write queued behind it.
            let Some(first) = self.receiver.blocking_recv() else { break };
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
                self.commit(&mut batch);
            }
        }
        self.receiver.close();
        drop(self.stop.take());
        if let Some(checkpoints) = self.checkpoints.take() {
            let _ = checkpoints.join();
        }
        // What the WAL holds goes into the database file before the process ends.
        if let Err(err) = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "final checkpoint of the state store");
        }
        drop(self.conn);
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Applies `batch` in one transaction, each write under its own savepoint, commits, then
    /// answers every write.
    fn commit(&mut self, batch: &mut Vec<Box<dyn Write>>) {
        let mut applied: Vec<Box<dyn Write>> = Vec::with_capacity(batch.len());
        if let Err(err) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let why = format!("beginning a transaction: {err}");
            for write in batch.drain(..) {
                write.answer(Err(why.clone()));
            }
            return;
        }
        let mut pending = batch.drain(..);
        while let Some(mut write) = pending.next() {
            if let Err(err) = self.savepoint("SAVEPOINT w") {
                write.answer(Err(format!("opening a savepoint: {err}")));
                continue;
            }
            // A panic in one write must not take the writer (and every later write) down with it:
            // it counts as that write's failure, rolled back to its savepoint.
            let ok =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write.apply(&self.conn))).unwrap_or(false);
            let end = if ok { self.savepoint("RELEASE w") } else { self.savepoint("ROLLBACK TO w") };
            let ended = end.and_then(|()| if ok { Ok(()) } else { self.savepoint("RELEASE w") });
            if let Err(err) = ended {
                if self.conn.is_autocommit() {
                    // SQLite rolled the whole transaction back (an I/O error, a full disk): what
                    // was applied in it is gone. Those writes fail; the rest go on in a new one.
                    let why = format!("the transaction was rolled back: {err}");
                    for earlier in applied.drain(..) {
                        earlier.answer(Err(why.clone()));
                    }
                    write.answer(Err(why));
                    if let Err(err) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                        let why = format!("beginning a transaction: {err}");
                        for rest in pending.by_ref() {
                            rest.answer(Err(why.clone()));
                        }
                        return;
                    }
                    continue;
                }
                tracing::warn!(error = %err, "ending a savepoint of the state store");
            }
            applied.push(write);
        }
        drop(pending);
        let committed = self.conn.execute_batch("COMMIT").map_err(|err| format!("committing: {err}"));
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if committed.is_ok() {
            self.dirty.fetch_add(1, Ordering::Relaxed);
        }
        for write in applied {
            write.answer(committed.clone());
        }
    }

    fn savepoint(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

/// Copies committed pages from the WAL into the database file every `interval` after a commit,
/// without waiting for readers or the writer (`PASSIVE`), so that the WAL stays small and no
/// request pays for the copy or its fsyncs.
struct Checkpointer {
    path: PathBuf,
    interval: Duration,
    dirty: Arc<AtomicU64>,
    /// Disconnected when the writer stops.
    stopped: std::sync::mpsc::Receiver<()>,
}

impl Checkpointer {
    fn run(self) {
        let conn = match open(&self.path) {
            Ok(conn) => conn,
            Err(err) => {
                tracing::error!(error = %err, "opening the state store's checkpointer; the WAL is checkpointed at close only");
                return;
            }
        };
        // Wakes every interval, and at once when the writer stops.
        let interval = self.interval.max(Duration::from_millis(1));
        while let Err(RecvTimeoutError::Timeout) = self.stopped.recv_timeout(interval) {
            if self.dirty.swap(0, Ordering::Relaxed) == 0 {
                continue;
            }
            if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %err, "checkpointing the state store");
            }
        }
    }
}
