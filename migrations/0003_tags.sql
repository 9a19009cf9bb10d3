-- Tags, keyed by resource ARN. A key appears once per resource (AddTags upserts); `id` keeps insertion
-- order for ListTags. Rows go with their resource (the store deletes them in the same transaction).
CREATE TABLE tags (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (arn, key)
);
