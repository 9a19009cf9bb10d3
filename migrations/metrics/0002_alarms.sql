-- CloudWatch metric alarms (PutMetricAlarm), per account and region, beside the metrics they
-- watch. A name is unique within its account and region, case-sensitively as CloudWatch's are.
-- The definition is the alarm's configuration as JSON (smemu-telemetry's `AlarmDefinition`);
-- the state columns are what the evaluator or SetAlarmState last wrote.

CREATE TABLE alarms (
    account               TEXT    NOT NULL,
    region                TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    definition            TEXT    NOT NULL,
    -- OK, ALARM or INSUFFICIENT_DATA.
    state                 TEXT    NOT NULL,
    reason                TEXT    NOT NULL,
    -- JSON as the service writes it (`{"version":"1.0","queryDate":...}`), NULL when none.
    reason_data           TEXT,
    state_updated_ms      INTEGER NOT NULL,
    state_transitioned_ms INTEGER NOT NULL,
    config_updated_ms     INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
) WITHOUT ROWID;

-- DescribeAlarmHistory: configuration and state updates, kept after their alarm is deleted (as
-- CloudWatch keeps them) until the history retention passes. The id orders items by time.
CREATE TABLE alarm_history (
    id      INTEGER PRIMARY KEY,
    account TEXT    NOT NULL,
    region  TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    ts_ms   INTEGER NOT NULL,
    -- ConfigurationUpdate, StateUpdate or Action.
    kind    TEXT    NOT NULL,
    summary TEXT    NOT NULL,
    data    TEXT    NOT NULL
);

CREATE INDEX alarm_history_by_scope ON alarm_history (account, region, id);
CREATE INDEX alarm_history_by_time ON alarm_history (ts_ms);
