-- Endpoints change over their life (status, fleets), so unlike models they are updatable; every change is a
-- compare-and-set on `version` so that two writers (an API call and the controller) never overwrite each other.
CREATE TABLE endpoints (
    account         TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    name            TEXT    NOT NULL COLLATE NOCASE,
    arn             TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    modified_ms     INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    state           TEXT    NOT NULL, -- JSON: config name, resolved deployments, failure reason (see smemu-api)
    PRIMARY KEY (account, region, name)
);

CREATE INDEX endpoints_by_status ON endpoints (status);
