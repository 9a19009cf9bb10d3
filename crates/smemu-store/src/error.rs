//! Errors of the state store, in its own words; the API crate maps them to the wire once.

/// Why a store operation failed.
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
    /// A stored JSON document could not be read back.
    #[error("corrupt stored record {name}: {source}")]
    Corrupt { name: String, source: serde_json::Error },
    #[error("opening the state store at {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

impl StoreError {
    /// Classifies a sqlx error. SQLite gives no constraint names through sqlx, so uniqueness is
    /// recognised by error kind and immutability by the trigger's message.
    pub(crate) fn from_sqlx(err: sqlx::Error, kind: &'static str, name: &str) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::AlreadyExists { kind, name: name.to_owned() };
            }
            if db.message().contains("are immutable") {
                return StoreError::Immutable(db.message().to_owned());
            }
        }
        StoreError::Database(err)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}
