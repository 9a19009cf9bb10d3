-- InvokeEndpointAsync's durable queue: a request is stored here before its 202 is sent and removed
-- once its output (or failure) object is written, so that a restart runs every accepted request that
-- had not finished (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html).
-- `seq` orders the queue (first accepted, first run); `request` is the runtime's JSON document
-- (input location or inline body, headers, output and failure locations, deadlines).
CREATE TABLE async_requests (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    account         TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    endpoint        TEXT    NOT NULL COLLATE NOCASE,
    inference_id    TEXT    NOT NULL,
    accepted_ms     INTEGER NOT NULL,
    request         TEXT    NOT NULL
);

CREATE INDEX async_requests_by_endpoint ON async_requests (account, region, endpoint);
