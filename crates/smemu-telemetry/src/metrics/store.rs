//! `<data-dir>/metrics.sqlite`: series and their per-second points, written by the flusher and
//! PutMetricData, read by the CloudWatch operations, expired past the retention.

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use super::histogram::Histogram;
use super::model::{Point, SeriesKey, Stats};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/metrics");

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("opening the metric store at {location}: {source}")]
    Open { location: String, source: sqlx::Error },
    #[error("migrating the metric store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("metric store: {0}")]
    Database(#[from] sqlx::Error),
}

/// A series as listed: its row id (the ListMetrics page key) and key.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedSeries {
    pub id: i64,
    pub key: SeriesKey,
}

/// Which series ListMetrics wants.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    pub account: String,
    pub region: String,
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    /// Each must be one of the series' dimensions (with any value when `None`).
    pub dimensions: Vec<(String, Option<String>)>,
    /// Only series with a point at or after this time.
    pub active_since_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MetricStore {
    pool: SqlitePool,
    /// One writer at a time: each write merges with what an interval already holds.
    write: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl MetricStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, MetricsError> {
        let open_err = |source| MetricsError::Open { location: path.display().to_string(), source };
        let pool = crate::sqlite::open(path).await.map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        Ok(MetricStore { pool, write: Default::default() })
    }

    /// The pool, for the alarms kept in the same file (`crate::alarms`).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Adds the points, merging each with what its series already holds for that interval and unit.
    pub async fn put(&self, points: &[(SeriesKey, Point)]) -> Result<(), MetricsError> {
        if points.is_empty() {
            return Ok(());
        }
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for (key, point) in points {
            let dimensions = encode_dimensions(&key.dimensions);
            let id: i64 = sqlx::query(
                "INSERT INTO series (account, region, namespace, metric_name, dimensions, last_ms) \
                 VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (account, region, namespace, metric_name, dimensions) \
                 DO UPDATE SET last_ms = max(last_ms, excluded.last_ms) RETURNING id",
            )
            .bind(&key.account)
            .bind(&key.region)
            .bind(&key.namespace)
            .bind(&key.metric_name)
            .bind(&dimensions)
            .bind(point.ts_ms)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            merge_into(&mut tx, id, point.ts_ms, &point.unit, point.stats.clone()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The points of exactly this series in `[from_ms, to_ms)`, oldest first.
    pub async fn points(&self, key: &SeriesKey, from_ms: i64, to_ms: i64) -> Result<Vec<Point>, MetricsError> {
        let rows = sqlx::query(
            "SELECT p.ts_ms, p.unit, p.count, p.sum, p.min, p.max, p.histogram FROM points p \
             JOIN series s ON s.id = p.series_id \
             WHERE s.account = ? AND s.region = ? AND s.namespace = ? AND s.metric_name = ? AND s.dimensions = ? \
             AND p.ts_ms >= ? AND p.ts_ms < ? ORDER BY p.ts_ms",
        )
        .bind(&key.account)
        .bind(&key.region)
        .bind(&key.namespace)
        .bind(&key.metric_name)
        .bind(encode_dimensions(&key.dimensions))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Point { ts_ms: row.try_get("ts_ms")?, unit: row.try_get("unit")?, stats: decode_stats(row)? })
            })
            .collect()
    }

    /// Up to `limit` series matching `filter` whose id is past `after`, by id.
    pub async fn list(
        &self,
        filter: &SeriesFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ListedSeries>, MetricsError> {
        const CHUNK: i64 = 1000;
        let mut out = Vec::new();
        let mut cursor = after;
        // Dimension filters are checked here, a chunk of rows at a time, so that nothing holds
        // more than a chunk and a page.
        loop {
            let rows = sqlx::query(
                "SELECT id, namespace, metric_name, dimensions FROM series \
                 WHERE account = ? AND region = ? AND id > ? \
                 AND (? IS NULL OR namespace = ?) AND (? IS NULL OR metric_name = ?) \
                 AND last_ms >= ? ORDER BY id LIMIT ?",
            )
            .bind(&filter.account)
            .bind(&filter.region)
            .bind(cursor)
            .bind(&filter.namespace)
            .bind(&filter.namespace)
            .bind(&filter.metric_name)
            .bind(&filter.metric_name)
            .bind(filter.active_since_ms.unwrap_or(i64::MIN))
            .bind(CHUNK)
            .fetch_all(&self.pool)
            .await?;
            let done = (rows.len() as i64) < CHUNK;
            for row in &rows {
                cursor = row.try_get("id")?;
                let dimensions = decode_dimensions(&row.try_get::<String, _>("dimensions")?);
                let wanted = filter.dimensions.iter().all(|(name, value)| {
                    dimensions.iter().any(|(n, v)| n == name && value.as_ref().is_none_or(|value| value == v))
                });
                if wanted {
                    out.push(ListedSeries {
                        id: cursor,
                        key: SeriesKey {
                            account: filter.account.clone(),
                            region: filter.region.clone(),
                            namespace: row.try_get("namespace")?,
                            metric_name: row.try_get("metric_name")?,
                            dimensions,
                        },
                    });
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// Merges the per-second points older than `before_ms` into one point per minute (and unit),
    /// as CloudWatch keeps high-resolution data ("Data points with a period of less than 60
    /// seconds are available for 3 hours", API_GetMetricStatistics): a minute's statistics stay
    /// exact, finer periods over that time see the minute at its start. A chunk at a time.
    pub async fn compact(&self, before_ms: i64) -> Result<u64, MetricsError> {
        const CHUNK: i64 = 5000;
        let _writer = self.write.lock().await;
        let mut merged = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let rows = sqlx::query(
                "SELECT series_id, ts_ms, unit, count, sum, min, max, histogram FROM points \
                 WHERE ts_ms < ? AND ts_ms % 60000 != 0 LIMIT ?",
            )
            .bind(before_ms)
            .bind(CHUNK)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(merged);
            }
            let mut minutes: std::collections::BTreeMap<(i64, i64, String), Stats> = std::collections::BTreeMap::new();
            for row in &rows {
                let series: i64 = row.try_get("series_id")?;
                let ts: i64 = row.try_get("ts_ms")?;
                let unit: String = row.try_get("unit")?;
                let stats = decode_stats(row)?;
                sqlx::query("DELETE FROM points WHERE series_id = ? AND ts_ms = ? AND unit = ?")
                    .bind(series)
                    .bind(ts)
                    .bind(&unit)
                    .execute(&mut *tx)
                    .await?;
                match minutes.entry((series, ts - ts.rem_euclid(60_000), unit)) {
                    std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&stats),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(stats);
                    }
                }
            }
            for ((series, minute, unit), stats) in minutes {
                merge_into(&mut tx, series, minute, &unit, stats).await?;
            }
            tx.commit().await?;
            merged += rows.len() as u64;
        }
    }

    /// Deletes points older than `before_ms`, and series left without any.
    pub async fn expire(&self, before_ms: i64) -> Result<u64, MetricsError> {
        let _writer = self.write.lock().await;
        let deleted = sqlx::query("DELETE FROM points WHERE ts_ms < ?").bind(before_ms).execute(&self.pool).await?;
        sqlx::query(
            "DELETE FROM series WHERE last_ms < ? AND NOT EXISTS (SELECT 1 FROM points WHERE series_id = series.id)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}

/// Adds `stats` to the point of `series` at `ts_ms` in `unit`, creating it if needed.
async fn merge_into(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    series: i64,
    ts_ms: i64,
    unit: &str,
    mut stats: Stats,
) -> Result<(), MetricsError> {
    let existing = sqlx::query(
        "SELECT count, sum, min, max, histogram FROM points WHERE series_id = ? AND ts_ms = ? AND unit = ?",
    )
    .bind(series)
    .bind(ts_ms)
    .bind(unit)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = existing {
        let mut stored = decode_stats(&row)?;
        stored.merge(&stats);
        stats = stored;
    }
    sqlx::query(
        "INSERT OR REPLACE INTO points (series_id, ts_ms, unit, count, sum, min, max, histogram) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(series)
    .bind(ts_ms)
    .bind(unit)
    .bind(stats.count)
    .bind(stats.sum)
    .bind(stats.min)
    .bind(stats.max)
    .bind(stats.histogram.as_ref().map(Histogram::encode))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn decode_stats(row: &sqlx::sqlite::SqliteRow) -> Result<Stats, MetricsError> {
    let histogram: Option<Vec<u8>> = row.try_get("histogram")?;
    Ok(Stats {
        count: row.try_get("count")?,
        sum: row.try_get("sum")?,
        min: row.try_get("min")?,
        max: row.try_get("max")?,
        histogram: histogram.as_deref().and_then(Histogram::decode),
    })
}

fn encode_dimensions(dimensions: &[(String, String)]) -> String {
    serde_json::to_string(dimensions).unwrap_or_default()
}

fn decode_dimensions(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dims: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(
            "000000000000",
            "us-east-1",
            "AWS/SageMaker",
            "ModelLatency",
            dims.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        )
    }

    #[tokio::test]
    async fn points_merge_per_interval_survive_reopening_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.sqlite");
        let store = MetricStore::open(&path).await.unwrap();
        let a = key(&[("VariantName", "v"), ("EndpointName", "e")]);
        let b = key(&[("EndpointName", "e")]);
        let point = |ts_ms, v| Point { ts_ms, unit: "Microseconds".into(), stats: Stats::repeated(v, 1.0) };
        store
            .put(&[(a.clone(), point(1000, 10.0)), (a.clone(), point(1000, 30.0)), (b.clone(), point(2000, 5.0))])
            .await
            .unwrap();
        store.close().await;

        let store = MetricStore::open(&path).await.unwrap();
        let points = store.points(&a, 0, 10_000).await.unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].stats.count, points[0].stats.sum), (2.0, 40.0));
        assert_eq!((points[0].stats.min, points[0].stats.max), (10.0, 30.0));

        let filter = SeriesFilter {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            dimensions: vec![("VariantName".into(), None)],
            ..Default::default()
        };
        let listed = store.list(&filter, 0, 10).await.unwrap();
        assert_eq!(listed.iter().map(|s| &s.key).collect::<Vec<_>>(), vec![&a]);

        assert_eq!(store.expire(1500).await.unwrap(), 1);
        assert!(store.points(&a, 0, 10_000).await.unwrap().is_empty());
        assert_eq!(store.points(&b, 0, 10_000).await.unwrap().len(), 1);

        // Compaction: seconds of one minute become one point at its start, statistics intact.
        let c = key(&[("EndpointName", "c")]);
        let late = |ts_ms, v| (c.clone(), Point { ts_ms, unit: "None".into(), stats: Stats::repeated(v, 1.0) });
        store.put(&[late(120_000, 1.0), late(121_000, 2.0), late(179_000, 3.0), late(180_000, 4.0)]).await.unwrap();
        // b's second is merged to its minute too.
        assert_eq!(store.compact(180_000).await.unwrap(), 3);
        let points = store.points(&c, 0, 1_000_000).await.unwrap();
        assert_eq!(points.iter().map(|p| p.ts_ms).collect::<Vec<_>>(), vec![120_000, 180_000]);
        assert_eq!((points[0].stats.count, points[0].stats.sum, points[0].stats.max), (3.0, 6.0, 3.0));
        assert_eq!(points[0].stats.histogram.as_ref().map(|h| h.total()), Some(3.0));
        assert_eq!(store.compact(180_000).await.unwrap(), 0);
    }
}
