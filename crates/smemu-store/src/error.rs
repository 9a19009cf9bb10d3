//! Errors of the state store, in its own words; the API crate maps them to the wire once.

/// The error of the database behind an implementation, kept as the source of a [`StoreError`] so
/// that the `Store` trait names no database type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// Callers match on the first seven variants; the last three only carry an implementation's own
/// failure (built inside that implementation, such as `sqlite.rs`) up to a log line.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// A compare-and-set found another version than the one read.
    #[error("{kind} {name} was changed concurrently")]
    Conflict { kind: &'static str, name: String },
    /// The database refused to change an immutable row (the schema's triggers).
    #[error("{0}")]
    Immutable(String),
    #[error("resource {arn} would have {count} tags, more than {max}")]
    TooManyTags { arn: String, count: usize, max: usize },
    /// The write was refused at once, changing nothing: `queued` writes are already waiting for
    /// the store's writer (`--max-queued-writes`). The API answers `ThrottlingException`.
    #[error("{queued} writes are already waiting for the state store")]
    Overloaded { queued: usize },
    /// The write was not run, changing nothing: another process held the database's write lock
    /// for longer than the store waits for it (a hand-run `sqlite3`, say). The API answers
    /// `ThrottlingException`, which clients retry.
    #[error("the state store was locked by another process for longer than {waited:?}")]
    Locked { waited: std::time::Duration },
    /// A stored JSON document could not be read back.
    #[error("corrupt stored record {name}: {source}")]
    Corrupt { name: String, source: serde_json::Error },
    /// The store could not be opened at `location` (a file path, a URL).
    #[error("opening the state store at {location}: {source}")]
    Open { location: String, source: BoxError },
    /// The store's schema could not be brought up to date.
    #[error("applying migrations: {0}")]
    Migrate(#[source] BoxError),
    /// Any other failure of the database.
    #[error("database: {0}")]
    Database(#[source] BoxError),
}
