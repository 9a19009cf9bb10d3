-- Transform jobs: their status changes over their life, so like endpoints every change is a compare-and-set on
-- `version`. Unlike endpoints they are never deleted (SageMaker has no DeleteTransformJob), so a name, unique per
-- (account, region) case-insensitively, can never be used again: the trigger refuses every DELETE.
CREATE TABLE transform_jobs (
    account         TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    name            TEXT    NOT NULL COLLATE NOCASE,
    arn             TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    modified_ms     INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    state           TEXT    NOT NULL, -- JSON: the request as created, resolved pipeline, times, failure reason, logs
    PRIMARY KEY (account, region, name)
);

CREATE INDEX transform_jobs_by_status ON transform_jobs (status);

CREATE TRIGGER transform_jobs_are_never_deleted BEFORE DELETE ON transform_jobs
BEGIN
    SELECT RAISE(ABORT, 'smemu: transform jobs are never deleted');
END;
