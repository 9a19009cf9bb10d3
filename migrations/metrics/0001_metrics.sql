-- Metrics as CloudWatch keeps them: a series is a metric (namespace, name) with one dimension set,
-- per account and region; its points are stored per second (the flush interval; merged per minute
-- past --metrics-fine-retention), one row per
-- interval with data and unit, holding what every statistic is computed from.

CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    metric_name TEXT    NOT NULL,
    -- Canonical JSON: [[name, value], ...] sorted by name, so that one dimension set is one row.
    dimensions  TEXT    NOT NULL,
    -- The newest point's time (ListMetrics' RecentlyActive).
    last_ms     INTEGER NOT NULL,
    UNIQUE (account, region, namespace, metric_name, dimensions)
);

CREATE TABLE points (
    series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    -- Start of the interval (a whole second), epoch milliseconds.
    ts_ms     INTEGER NOT NULL,
    unit      TEXT    NOT NULL,
    count     REAL    NOT NULL,
    sum       REAL    NOT NULL,
    min       REAL    NOT NULL,
    max       REAL    NOT NULL,
    -- The log-linear histogram of the values (percentiles); NULL when a statistic set without
    -- raw values went in, for which CloudWatch gives no percentiles either.
    histogram BLOB,
    PRIMARY KEY (series_id, ts_ms, unit)
) WITHOUT ROWID;

-- Retention deletes by time across series.
CREATE INDEX points_by_time ON points (ts_ms);
