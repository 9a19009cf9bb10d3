//! The SQLite implementation of [`Store`]: one WAL-mode database file, migrations applied at open.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{
    ImmutableKind, ListQuery, MAX_TAGS_PER_RESOURCE, Page, Record, Scope, SortKey, SortOrder, Store, StoreError,
    Summary, Tag,
};

/// The migrations in the repository's top-level `migrations/`, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A [`Store`] backed by one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue behind each other instead of failing with SQLITE_BUSY.
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for the parts of smemu that keep other state in the same file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn decode_record(kind: ImmutableKind, row: &sqlx::sqlite::SqliteRow) -> Result<Record, StoreError> {
        let name: String = row.try_get("name")?;
        let spec: String = row.try_get("spec")?;
        let spec = serde_json::from_str(&spec)
            .map_err(|source| StoreError::Corrupt { name: format!("{} {name}", kind.noun()), source })?;
        Ok(Record {
            scope: Scope { account: row.try_get("account")?, region: row.try_get("region")? },
            name,
            arn: row.try_get("arn")?,
            created_ms: row.try_get("created_ms")?,
            spec,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, kind: ImmutableKind, record: &Record, tags: &[Tag]) -> Result<(), StoreError> {
        let classify = |err| StoreError::from_sqlx(err, kind.noun(), &record.name);
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO {} (account, region, name, arn, created_ms, spec) VALUES (?, ?, ?, ?, ?, ?)",
            kind.table()
        );
        sqlx::query(&sql)
            .bind(&record.scope.account)
            .bind(&record.scope.region)
            .bind(&record.name)
            .bind(&record.arn)
            .bind(record.created_ms)
            .bind(record.spec.to_string())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        // Tags left behind by a deleted resource of the same ARN must not reappear.
        sqlx::query("DELETE FROM tags WHERE arn = ?").bind(&record.arn).execute(&mut *tx).await?;
        upsert_tags(&mut tx, &record.arn, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, StoreError> {
        let sql = format!(
            "SELECT account, region, name, arn, created_ms, spec FROM {} WHERE account = ? AND region = ? AND name = ?",
            kind.table()
        );
        let row =
            sqlx::query(&sql).bind(&scope.account).bind(&scope.region).bind(name).fetch_optional(&self.pool).await?;
        match row {
            Some(row) => Self::decode_record(kind, &row),
            None => Err(StoreError::NotFound { kind: kind.noun(), name: name.to_owned() }),
        }
    }

    async fn delete(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("DELETE FROM {} WHERE account = ? AND region = ? AND name = ? RETURNING arn", kind.table());
        let arn: Option<String> = sqlx::query_scalar(&sql)
            .bind(&scope.account)
            .bind(&scope.region)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(arn) = arn else {
            return Err(StoreError::NotFound { kind: kind.noun(), name: name.to_owned() });
        };
        sqlx::query("DELETE FROM tags WHERE arn = ?").bind(&arn).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list(&self, kind: ImmutableKind, scope: &Scope, query: &ListQuery) -> Result<Page<Summary>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT name, arn, created_ms FROM ");
        sql.push(kind.table());
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
        let order = match query.sort_order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        // The name breaks ties so that pages never overlap or skip rows.
        match query.sort_by {
            SortKey::Name => sql.push(format!(" ORDER BY name {order}")),
            SortKey::CreationTime => sql.push(format!(" ORDER BY created_ms {order}, name {order}")),
        };
        // One row more than asked tells whether another page follows.
        sql.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
        sql.push(" OFFSET ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(Summary {
                    name: row.try_get("name")?,
                    arn: row.try_get("arn")?,
                    created_ms: row.try_get("created_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        Ok(Page { items, more })
    }

    async fn arn_exists(&self, arn: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM models WHERE arn = ?1 UNION ALL SELECT 1 FROM endpoint_configs WHERE arn = ?1 LIMIT 1",
        )
        .bind(arn)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<Vec<Tag>, StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert_tags(&mut tx, arn, tags).await?;
        let all = select_tags(&mut tx, arn, 0, u32::MAX).await?;
        if all.len() > MAX_TAGS_PER_RESOURCE {
            // Dropping the transaction rolls the upsert back: nothing changes.
            return Err(StoreError::TooManyTags { arn: arn.to_owned(), count: all.len(), max: MAX_TAGS_PER_RESOURCE });
        }
        tx.commit().await?;
        Ok(all)
    }

    async fn list_tags(&self, arn: &str, offset: u64, limit: u32) -> Result<Page<Tag>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut items = select_tags(&mut conn, arn, offset, limit.saturating_add(1)).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok(Page { items, more })
    }

    async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM tags WHERE arn = ? AND key = ?").bind(arn).bind(key).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn upsert_tags(conn: &mut sqlx::SqliteConnection, arn: &str, tags: &[Tag]) -> Result<(), StoreError> {
    for tag in tags {
        sqlx::query("INSERT INTO tags (arn, key, value) VALUES (?, ?, ?) ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value")
            .bind(arn)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *conn)
            .await?;
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
        .await?;
    rows.iter()
        .map(|row| Ok(Tag { key: row.try_get("key")?, value: row.try_get("value")? }))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StoreError::from)
}
