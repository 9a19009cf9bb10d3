-- CloudWatch Logs as SageMaker publishes containers' output: groups, streams, events.
-- Groups and streams are unique by name within their account and region (group) or group (stream);
-- events keep a global insertion order (`seq`), which retention drops from the oldest.
CREATE TABLE log_groups (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    creation_time INTEGER NOT NULL,
    UNIQUE (account, region, name)
);

CREATE TABLE log_streams (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES log_groups (id),
    name TEXT NOT NULL,
    creation_time INTEGER NOT NULL,
    first_event_ts INTEGER,
    last_event_ts INTEGER,
    last_ingestion_time INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, name)
);

CREATE TABLE log_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id INTEGER NOT NULL REFERENCES log_streams (id),
    ts INTEGER NOT NULL,
    ingestion_time INTEGER NOT NULL,
    message TEXT NOT NULL,
    -- As CloudWatch counts an event: UTF-8 bytes of the message + 26.
    size INTEGER NOT NULL
);

-- GetLogEvents and FilterLogEvents read a stream (or streams) in (timestamp, insertion) order.
CREATE INDEX log_events_by_stream ON log_events (stream_id, ts, seq);
CREATE INDEX log_events_by_time ON log_events (ts, seq);
