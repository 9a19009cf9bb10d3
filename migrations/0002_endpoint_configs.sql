-- Endpoint configurations: unique per (account, region, name) case-insensitively, and immutable like models
-- (an endpoint changes only by UpdateEndpoint to another config).
CREATE TABLE endpoint_configs (
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    name       TEXT    NOT NULL COLLATE NOCASE,
    arn        TEXT    NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    spec       TEXT    NOT NULL, -- the config as created (JSON), echoed by DescribeEndpointConfig
    PRIMARY KEY (account, region, name)
);

CREATE TRIGGER endpoint_configs_are_immutable BEFORE UPDATE ON endpoint_configs
BEGIN
    SELECT RAISE(ABORT, 'smemu: endpoint configurations are immutable');
END;
