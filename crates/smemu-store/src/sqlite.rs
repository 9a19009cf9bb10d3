//! The SQLite implementation of [`Store`]: one WAL-mode database file, migrations applied at open.
//! Reads go through a pool of sqlx connections; every write goes through the one writer
//! (`writer.rs`), which commits the writes waiting together, so that writers never wait for each
//! other in SQLite's busy handler.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use smemu_types::sagemaker::{EndpointStatus, TransformJobStatus};
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::writer::{Admission, Undo, Writer, WriterOptions};

use crate::{
    AsyncRequestRecord, EndpointRecord, EndpointSummary, ImmutableKind, ListQuery, MAX_TAGS_PER_RESOURCE, Page, Record,
    Scope, SortKey, SortOrder, StatefulRecord, Status, Store, StoreError, Summary, Tag, TransformJobRecord,
};

/// The migrations in the repository's top-level `migrations/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A [`Store`] backed by one SQLite file. It reads through to the file on every call: wrap it in
/// a [`CachedStore`](crate::CachedStore) to keep the immutable records in memory.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads only (and the migrations, before the writer starts).
    pool: SqlitePool,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations, with the
    /// writer's default settings.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, WriterOptions::default()).await
    }

    /// Opens (creating if needed) the database at `path`, applies pending migrations and starts
    /// the writer with `options`.
    pub async fn open_with(path: &Path, writer: WriterOptions) -> Result<Self, StoreError> {
        let open_err =
            |source: sqlx::Error| StoreError::Open { location: path.display().to_string(), source: source.into() };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Only another process (a hand-run sqlite3) can hold the lock a connection waits for:
            // smemu's own writes all go through the one writer.
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options.clone()).await.map_err(open_err)?;
        MIGRATOR.run(&pool).await.map_err(|err| StoreError::Migrate(err.into()))?;
        let writer = Writer::start(path, &options, writer).await?;
        Ok(SqliteStore { pool, writer })
    }

    /// The read pool (tests look at the file through it). Writes through it would wait for the
    /// writer's lock: smemu's own writes all go through the [`Store`] methods.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Commits the writes already queued, checkpoints, and closes every connection (at shutdown).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    fn decode_record(kind: ImmutableKind, row: &SqliteRow) -> Result<Record, StoreError> {
        let name: String = row.try_get("name").map_err(database)?;
        let spec: String = row.try_get("spec").map_err(database)?;
        let spec = serde_json::from_str(&spec)
            .map_err(|source| StoreError::Corrupt { name: format!("{} {name}", kind.noun()), source })?;
        Ok(Record {
            scope: Scope {
                account: row.try_get("account").map_err(database)?,
                region: row.try_get("region").map_err(database)?,
            },
            name,
            arn: row.try_get("arn").map_err(database)?,
            created_ms: row.try_get("created_ms").map_err(database)?,
            spec,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, kind: ImmutableKind, record: &Record, tags: &[Tag]) -> Result<(), StoreError> {
        let sql = match kind {
            ImmutableKind::Model => {
                "INSERT INTO models (account, region, name, arn, created_ms, spec) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            }
            ImmutableKind::EndpointConfig => {
                "INSERT INTO endpoint_configs (account, region, name, arn, created_ms, spec) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            }
        };
        let Record { scope, name, arn, created_ms, spec } = record;
        let (scope, name, arn, created_ms, spec) =
            (scope.clone(), name.clone(), arn.clone(), *created_ms, spec.to_string());
        let tags = tags.to_vec();
        self.writer
            .write(Admission::Refuse, Undo::Statement, move |conn| {
                Box::pin(async move {
                    sqlx::query(sql)
                        .bind(&scope.account)
                        .bind(&scope.region)
                        .bind(&name)
                        .bind(&arn)
                        .bind(created_ms)
                        .bind(&spec)
                        .execute(&mut *conn)
                        .await
                        .map_err(|err| classify_write(err, kind.noun(), &name))?;
                    // Tags left behind by a deleted resource of the same ARN went with the INSERT
                    // (a trigger, `migrations/0007_tags_follow_resources.sql`).
                    upsert_tags(conn, &arn, &tags).await
                })
            })
            .await
    }

    async fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, StoreError> {
        let sql = format!(
            "SELECT account, region, name, arn, created_ms, spec FROM {} WHERE account = ? AND region = ? AND name = ?",
            kind.table()
        );
        let row = sqlx::query(&sql)
            .bind(&scope.account)
            .bind(&scope.region)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        match row {
            Some(row) => Self::decode_record(kind, &row),
            None => Err(StoreError::NotFound { kind: kind.noun(), name: name.to_owned() }),
        }
    }

    async fn delete(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<(), StoreError> {
        let sql = match kind {
            ImmutableKind::Model => "DELETE FROM models WHERE account = ?1 AND region = ?2 AND name = ?3",
            ImmutableKind::EndpointConfig => {
                "DELETE FROM endpoint_configs WHERE account = ?1 AND region = ?2 AND name = ?3"
            }
        };
        let (scope, name) = (scope.clone(), name.to_owned());
        self.writer
            .write(Admission::Refuse, Undo::Statement, move |conn| {
                Box::pin(async move {
                    let deleted = sqlx::query(sql)
                        .bind(&scope.account)
                        .bind(&scope.region)
                        .bind(&name)
                        .execute(&mut *conn)
                        .await
                        .map_err(database)?;
                    // Its tags went with the row (a trigger).
                    match deleted.rows_affected() {
                        0 => Err(StoreError::NotFound { kind: kind.noun(), name }),
                        _ => Ok(()),
                    }
                })
            })
            .await
    }

    async fn list(&self, kind: ImmutableKind, scope: &Scope, query: &ListQuery) -> Result<Page<Summary>, StoreError> {
        let mut sql = list_sql("name, arn, created_ms", kind.table(), scope, query);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(database)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(Summary {
                    name: row.try_get("name").map_err(database)?,
                    arn: row.try_get("arn").map_err(database)?,
                    created_ms: row.try_get("created_ms").map_err(database)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, query.limit))
    }

    async fn create_endpoint(&self, record: &EndpointRecord, tags: &[Tag]) -> Result<(), StoreError> {
        self.insert_stateful(&ENDPOINTS, record, tags).await
    }

    async fn get_endpoint(&self, scope: &Scope, name: &str) -> Result<EndpointRecord, StoreError> {
        self.get_stateful(&ENDPOINTS, scope, name).await
    }

    async fn update_endpoint(&self, record: &EndpointRecord) -> Result<EndpointRecord, StoreError> {
        self.update_stateful(&ENDPOINTS, record).await
    }

    async fn delete_endpoint(&self, scope: &Scope, name: &str, version: i64) -> Result<(), StoreError> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.writer
            .write(Admission::Wait, Undo::Statement, move |conn| {
                Box::pin(async move {
                    let deleted = sqlx::query(
                        "DELETE FROM endpoints WHERE account = ?1 AND region = ?2 AND name = ?3 AND version = ?4",
                    )
                    .bind(&scope.account)
                    .bind(&scope.region)
                    .bind(&name)
                    .bind(version)
                    .execute(&mut *conn)
                    .await
                    .map_err(database)?;
                    // Its tags went with the row (a trigger).
                    match deleted.rows_affected() {
                        0 => Err(StoreError::Conflict { kind: ENDPOINTS.noun, name }),
                        _ => Ok(()),
                    }
                })
            })
            .await
    }

    async fn list_endpoints(&self, scope: &Scope, query: &ListQuery) -> Result<Page<EndpointSummary>, StoreError> {
        let mut sql = list_sql("name, arn, status, created_ms, modified_ms", "endpoints", scope, query);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(database)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(EndpointSummary {
                    name: row.try_get("name").map_err(database)?,
                    arn: row.try_get("arn").map_err(database)?,
                    status: EndpointStatus::from(row.try_get::<&str, _>("status").map_err(database)?),
                    created_ms: row.try_get("created_ms").map_err(database)?,
                    modified_ms: row.try_get("modified_ms").map_err(database)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, query.limit))
    }

    async fn all_endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        let sql = format!("SELECT {STATEFUL_COLUMNS} FROM {} ORDER BY created_ms", ENDPOINTS.name);
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(database)?;
        rows.iter().map(|row| decode_stateful(&ENDPOINTS, row)).collect()
    }

    async fn create_transform_job(&self, record: &TransformJobRecord, tags: &[Tag]) -> Result<(), StoreError> {
        self.insert_stateful(&TRANSFORM_JOBS, record, tags).await
    }

    async fn get_transform_job(&self, scope: &Scope, name: &str) -> Result<TransformJobRecord, StoreError> {
        self.get_stateful(&TRANSFORM_JOBS, scope, name).await
    }

    async fn update_transform_job(&self, record: &TransformJobRecord) -> Result<TransformJobRecord, StoreError> {
        self.update_stateful(&TRANSFORM_JOBS, record).await
    }

    async fn list_transform_jobs(
        &self,
        scope: &Scope,
        query: &ListQuery,
    ) -> Result<Page<TransformJobRecord>, StoreError> {
        let mut sql = list_sql(STATEFUL_COLUMNS, TRANSFORM_JOBS.name, scope, query);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(database)?;
        let items = rows.iter().map(|row| decode_stateful(&TRANSFORM_JOBS, row)).collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, query.limit))
    }

    async fn transform_jobs_with_status(
        &self,
        statuses: &[TransformJobStatus],
    ) -> Result<Vec<TransformJobRecord>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {STATEFUL_COLUMNS} FROM {} WHERE status IN (", TRANSFORM_JOBS.name));
        let mut list = sql.separated(", ");
        for status in statuses {
            list.push_bind(status.as_str());
        }
        // `IN ()` is not SQL: an empty list matches nothing.
        if statuses.is_empty() {
            list.push("NULL");
        }
        sql.push(") ORDER BY created_ms");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(database)?;
        rows.iter().map(|row| decode_stateful(&TRANSFORM_JOBS, row)).collect()
    }

    async fn enqueue_async_request(
        &self,
        record: &AsyncRequestRecord,
        max_queued: u64,
    ) -> Result<Option<i64>, StoreError> {
        // The count and the insert share one transaction of the one writer, so two concurrent
        // requests cannot both take the last place.
        let AsyncRequestRecord { scope, endpoint, inference_id, accepted_ms, request, .. } = record;
        let (scope, endpoint, inference_id, accepted_ms, request) =
            (scope.clone(), endpoint.clone(), inference_id.clone(), *accepted_ms, request.to_string());
        self.writer
            .write(Admission::Refuse, Undo::Statement, move |conn| {
                Box::pin(async move {
                    let queued: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM async_requests WHERE account = ?1 AND region = ?2 AND endpoint = ?3",
                    )
                    .bind(&scope.account)
                    .bind(&scope.region)
                    .bind(&endpoint)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(database)?;
                    if u64::try_from(queued).unwrap_or(0) >= max_queued {
                        return Ok(None);
                    }
                    let seq: i64 = sqlx::query_scalar(
                        "INSERT INTO async_requests (account, region, endpoint, inference_id, accepted_ms, request) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
                    )
                    .bind(&scope.account)
                    .bind(&scope.region)
                    .bind(&endpoint)
                    .bind(&inference_id)
                    .bind(accepted_ms)
                    .bind(&request)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(database)?;
                    Ok(Some(seq))
                })
            })
            .await
    }

    async fn endpoints_with_async_requests(&self) -> Result<Vec<(Scope, String)>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT account, region, endpoint FROM async_requests")
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        rows.iter()
            .map(|row| {
                let scope = Scope {
                    account: row.try_get("account").map_err(database)?,
                    region: row.try_get("region").map_err(database)?,
                };
                Ok((scope, row.try_get("endpoint").map_err(database)?))
            })
            .collect()
    }

    async fn queued_async_requests(
        &self,
        scope: &Scope,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<AsyncRequestRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, account, region, endpoint, inference_id, accepted_ms, request FROM async_requests \
             WHERE account = ? AND region = ? AND endpoint = ? ORDER BY seq LIMIT ?",
        )
        .bind(&scope.account)
        .bind(&scope.region)
        .bind(endpoint)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|row| {
                let inference_id: String = row.try_get("inference_id").map_err(database)?;
                let request: String = row.try_get("request").map_err(database)?;
                let request = serde_json::from_str(&request).map_err(|source| StoreError::Corrupt {
                    name: format!("async inference request {inference_id}"),
                    source,
                })?;
                Ok(AsyncRequestRecord {
                    seq: row.try_get("seq").map_err(database)?,
                    scope: Scope {
                        account: row.try_get("account").map_err(database)?,
                        region: row.try_get("region").map_err(database)?,
                    },
                    endpoint: row.try_get("endpoint").map_err(database)?,
                    inference_id,
                    accepted_ms: row.try_get("accepted_ms").map_err(database)?,
                    request,
                })
            })
            .collect()
    }

    async fn finish_async_request(&self, seq: i64) -> Result<(), StoreError> {
        self.writer
            .write(Admission::Wait, Undo::Statement, move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM async_requests WHERE seq = ?1")
                        .bind(seq)
                        .execute(&mut *conn)
                        .await
                        .map_err(database)?;
                    Ok(())
                })
            })
            .await
    }

    async fn drop_async_requests(&self, scope: &Scope, endpoint: &str) -> Result<u64, StoreError> {
        let (scope, endpoint) = (scope.clone(), endpoint.to_owned());
        self.writer
            .write(Admission::Wait, Undo::Statement, move |conn| {
                Box::pin(async move {
                    let dropped =
                        sqlx::query("DELETE FROM async_requests WHERE account = ?1 AND region = ?2 AND endpoint = ?3")
                            .bind(&scope.account)
                            .bind(&scope.region)
                            .bind(&endpoint)
                            .execute(&mut *conn)
                            .await
                            .map_err(database)?;
                    Ok(dropped.rows_affected())
                })
            })
            .await
    }

    async fn arn_exists(&self, arn: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM models WHERE arn = ?1 UNION ALL SELECT 1 FROM endpoint_configs WHERE arn = ?1 \
             UNION ALL SELECT 1 FROM endpoints WHERE arn = ?1 UNION ALL SELECT 1 FROM transform_jobs WHERE arn = ?1 \
             LIMIT 1",
        )
        .bind(arn)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        Ok(found.is_some())
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<Vec<Tag>, StoreError> {
        let (arn, tags) = (arn.to_owned(), tags.to_vec());
        self.writer
            .write(Admission::Refuse, Undo::Savepoint, move |conn| {
                Box::pin(async move {
                    upsert_tags(conn, &arn, &tags).await?;
                    let all: Vec<Tag> =
                        sqlx::query_as::<_, (String, String)>("SELECT key, value FROM tags WHERE arn = ?1 ORDER BY id")
                            .bind(&arn)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(database)?
                            .into_iter()
                            .map(|(key, value)| Tag { key, value })
                            .collect();
                    if all.len() > MAX_TAGS_PER_RESOURCE {
                        // The writer rolls this write back to its savepoint: nothing changes.
                        return Err(StoreError::TooManyTags { arn, count: all.len(), max: MAX_TAGS_PER_RESOURCE });
                    }
                    Ok(all)
                })
            })
            .await
    }

    async fn list_tags(&self, arn: &str, offset: u64, limit: u32) -> Result<Page<Tag>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(database)?;
        let items = select_tags(&mut conn, arn, offset, limit.saturating_add(1)).await?;
        Ok(page(items, limit))
    }

    async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), StoreError> {
        let (arn, keys) = (arn.to_owned(), keys.to_vec());
        self.writer
            .write(Admission::Refuse, Undo::Statement, move |conn| {
                Box::pin(async move {
                    for key in &keys {
                        sqlx::query("DELETE FROM tags WHERE arn = ?1 AND key = ?2")
                            .bind(&arn)
                            .bind(key)
                            .execute(&mut *conn)
                            .await
                            .map_err(database)?;
                    }
                    Ok(())
                })
            })
            .await
    }
}

/// A table of [`StatefulRecord`]s, the noun its errors use, and its writes (whole strings, so that
/// the writer's statement cache keeps them prepared).
struct StatefulTable {
    name: &'static str,
    noun: &'static str,
    insert: &'static str,
    /// Compare-and-set on `version`.
    update: &'static str,
}

static ENDPOINTS: StatefulTable = StatefulTable {
    name: "endpoints",
    noun: "endpoint",
    insert: "INSERT INTO endpoints (account, region, name, arn, status, created_ms, modified_ms, version, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    update: "UPDATE endpoints SET status = ?1, modified_ms = ?2, state = ?3, version = version + 1 \
             WHERE account = ?4 AND region = ?5 AND name = ?6 AND version = ?7",
};
static TRANSFORM_JOBS: StatefulTable = StatefulTable {
    name: "transform_jobs",
    noun: "transform job",
    insert: "INSERT INTO transform_jobs (account, region, name, arn, status, created_ms, modified_ms, version, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    update: "UPDATE transform_jobs SET status = ?1, modified_ms = ?2, state = ?3, version = version + 1 \
             WHERE account = ?4 AND region = ?5 AND name = ?6 AND version = ?7",
};
const STATEFUL_COLUMNS: &str = "account, region, name, arn, status, created_ms, modified_ms, version, state";

impl SqliteStore {
    async fn insert_stateful<S: Status>(
        &self,
        table: &'static StatefulTable,
        record: &StatefulRecord<S>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let StatefulRecord { scope, name, arn, status, created_ms, modified_ms, version, state } = record;
        let (scope, name, arn, status) = (scope.clone(), name.clone(), arn.clone(), status.as_str().to_owned());
        let (created_ms, modified_ms, version, state) = (*created_ms, *modified_ms, *version, state.to_string());
        let tags = tags.to_vec();
        self.writer
            .write(Admission::Refuse, Undo::Statement, move |conn| {
                Box::pin(async move {
                    sqlx::query(table.insert)
                        .bind(&scope.account)
                        .bind(&scope.region)
                        .bind(&name)
                        .bind(&arn)
                        .bind(&status)
                        .bind(created_ms)
                        .bind(modified_ms)
                        .bind(version)
                        .bind(&state)
                        .execute(&mut *conn)
                        .await
                        .map_err(|err| classify_write(err, table.noun, &name))?;
                    // Tags left behind by a deleted resource of the same ARN went with the INSERT.
                    upsert_tags(conn, &arn, &tags).await
                })
            })
            .await
    }

    async fn get_stateful<S: Status>(
        &self,
        table: &StatefulTable,
        scope: &Scope,
        name: &str,
    ) -> Result<StatefulRecord<S>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STATEFUL_COLUMNS} FROM {} WHERE account = ? AND region = ? AND name = ?",
            table.name
        ))
        .bind(&scope.account)
        .bind(&scope.region)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?;
        match row {
            Some(row) => decode_stateful(table, &row),
            None => Err(StoreError::NotFound { kind: table.noun, name: name.to_owned() }),
        }
    }

    async fn update_stateful<S: Status>(
        &self,
        table: &'static StatefulTable,
        record: &StatefulRecord<S>,
    ) -> Result<StatefulRecord<S>, StoreError> {
        let StatefulRecord { scope, name, status, modified_ms, version, state, .. } = record;
        let (account, region, name, status) =
            (scope.account.clone(), scope.region.clone(), name.clone(), status.as_str().to_owned());
        let (modified_ms, version, state) = (*modified_ms, *version, state.to_string());
        let changed = self
            .writer
            .write(Admission::Wait, Undo::Statement, move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(table.update)
                        .bind(&status)
                        .bind(modified_ms)
                        .bind(&state)
                        .bind(&account)
                        .bind(&region)
                        .bind(&name)
                        .bind(version)
                        .execute(&mut *conn)
                        .await
                        .map_err(database)?;
                    Ok(done.rows_affected())
                })
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict { kind: table.noun, name: record.name.clone() });
        }
        Ok(StatefulRecord { version: record.version + 1, ..record.clone() })
    }
}

fn decode_stateful<S: Status>(table: &StatefulTable, row: &SqliteRow) -> Result<StatefulRecord<S>, StoreError> {
    let name: String = row.try_get("name").map_err(database)?;
    let state: String = row.try_get("state").map_err(database)?;
    let state = serde_json::from_str(&state)
        .map_err(|source| StoreError::Corrupt { name: format!("{} {name}", table.noun), source })?;
    Ok(StatefulRecord {
        scope: Scope {
            account: row.try_get("account").map_err(database)?,
            region: row.try_get("region").map_err(database)?,
        },
        name,
        arn: row.try_get("arn").map_err(database)?,
        status: S::parse(row.try_get("status").map_err(database)?),
        created_ms: row.try_get("created_ms").map_err(database)?,
        modified_ms: row.try_get("modified_ms").map_err(database)?,
        version: row.try_get("version").map_err(database)?,
        state,
    })
}

/// The SELECT of a List* call: scope, filters, a total order, and one row more than the page so
/// that [`page`] can tell whether another page follows.
fn list_sql<'q>(columns: &str, table: &str, scope: &'q Scope, query: &'q ListQuery) -> QueryBuilder<'q, Sqlite> {
    let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(format!("SELECT {columns} FROM {table}"));
    sql.push(" WHERE account = ").push_bind(&scope.account);
    sql.push(" AND region = ").push_bind(&scope.region);
    if let Some(part) = &query.name_contains {
        sql.push(" AND instr(lower(name), lower(").push_bind(part).push(")) > 0");
    }
    if let Some(before) = query.created_before_ms {
        sql.push(" AND created_ms < ").push_bind(before);
    }
    if let Some(after) = query.created_after_ms {
        sql.push(" AND created_ms >= ").push_bind(after);
    }
    if let Some(status) = &query.status_equals {
        sql.push(" AND status = ").push_bind(status);
    }
    if let Some(before) = query.modified_before_ms {
        sql.push(" AND modified_ms < ").push_bind(before);
    }
    if let Some(after) = query.modified_after_ms {
        sql.push(" AND modified_ms >= ").push_bind(after);
    }
    let order = match query.sort_order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    // The name breaks ties so that pages never overlap or skip rows.
    match query.sort_by {
        SortKey::Name => sql.push(format!(" ORDER BY name {order}")),
        SortKey::CreationTime => sql.push(format!(" ORDER BY created_ms {order}, name {order}")),
        SortKey::Status => sql.push(format!(" ORDER BY status {order}, name {order}")),
    };
    sql.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
    sql.push(" OFFSET ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
    sql
}

fn page<T>(mut items: Vec<T>, limit: u32) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page { items, more }
}

/// In the writer: adds or replaces tags by key.
async fn upsert_tags(conn: &mut SqliteConnection, arn: &str, tags: &[Tag]) -> Result<(), StoreError> {
    for tag in tags {
        sqlx::query(
            "INSERT INTO tags (arn, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
        )
        .bind(arn)
        .bind(&tag.key)
        .bind(&tag.value)
        .execute(&mut *conn)
        .await
        .map_err(database)?;
    }
    Ok(())
}

async fn select_tags(
    conn: &mut sqlx::SqliteConnection,
    arn: &str,
    offset: u64,
    limit: u32,
) -> Result<Vec<Tag>, StoreError> {
    let rows = sqlx::query("SELECT key, value FROM tags WHERE arn = ? ORDER BY id LIMIT ? OFFSET ?")
        .bind(arn)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(database)?;
    rows.iter()
        .map(|row| {
            Ok(Tag { key: row.try_get("key").map_err(database)?, value: row.try_get("value").map_err(database)? })
        })
        .collect()
}

/// Any failure of sqlx that no caller tells apart, kept whole as the error's source.
fn database(err: sqlx::Error) -> StoreError {
    StoreError::Database(err.into())
}

/// Classifies a failed write. SQLite names no constraint in its error, so uniqueness is recognised
/// by the extended result code (a primary key or a UNIQUE column) and immutability by the
/// trigger's message (`migrations/`).
fn classify_write(err: sqlx::Error, kind: &'static str, name: &str) -> StoreError {
    if let sqlx::Error::Database(failure) = &err {
        // sqlx reads the extended code: SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE.
        if failure.kind() == sqlx::error::ErrorKind::UniqueViolation {
            return StoreError::AlreadyExists { kind, name: name.to_owned() };
        }
        if failure.message().contains("are immutable") {
            return StoreError::Immutable(failure.message().to_owned());
        }
    }
    database(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_migrations_are_the_files_of_the_top_level_migrations_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .map(|path| {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        // sqlx names a migration `<version>_<description>.sql`, with `_` read as a space.
        let embedded: Vec<(String, String)> = MIGRATOR
            .iter()
            .map(|m| (format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_")), m.sql.to_string()))
            .collect();
        assert!(!embedded.is_empty());
        assert_eq!(embedded, files);
    }
}
