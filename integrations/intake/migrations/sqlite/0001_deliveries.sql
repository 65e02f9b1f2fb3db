-- Webhook deliveries, kept with their raw body. UNIQUE(source, delivery_id)
-- is the idempotency key; rows are kept well past the senders' retry
-- schedules (Linear retries up to ~6 h later).
CREATE TABLE deliveries (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    delivery_id   TEXT NOT NULL,
    event         TEXT NOT NULL,
    body          BLOB NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    org_id        TEXT,
    outcome       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    workspace_id  TEXT NOT NULL DEFAULT '',
    job_id        INTEGER,
    processed_at  TIMESTAMP,
    UNIQUE (source, delivery_id)
);
CREATE INDEX deliveries_org ON deliveries (org_id, received_at);
