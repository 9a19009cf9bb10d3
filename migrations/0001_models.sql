-- Models: one row per (account, region, name); names are unique case-insensitively, as in SageMaker.
-- A model never changes once created (SageMaker has no UpdateModel): the trigger refuses every UPDATE,
-- so not even a bug in smemu or a hand-run sqlite3 session can alter a stored model.
CREATE TABLE models (
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    name       TEXT    NOT NULL COLLATE NOCASE,
    arn        TEXT    NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    spec       TEXT    NOT NULL, -- the model as created (JSON), echoed by DescribeModel
    PRIMARY KEY (account, region, name)
);

CREATE TRIGGER models_are_immutable BEFORE UPDATE ON models
BEGIN
    SELECT RAISE(ABORT, 'smemu: models are immutable');
END;
