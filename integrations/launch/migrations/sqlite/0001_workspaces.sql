-- Workspaces: the record, its lifecycle and its token (hashed for
-- authentication, sealed until the launcher has received it).
CREATE TABLE workspaces (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    agent         TEXT NOT NULL,
    status        TEXT NOT NULL,
    source        TEXT NOT NULL, -- JSON
    task          TEXT NOT NULL, -- JSON
    repository    TEXT NOT NULL, -- JSON
    chain         TEXT NOT NULL, -- JSON: credential ids, scopes and methods only
    dry_run       INTEGER NOT NULL DEFAULT 0,
    launch_file   TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    summary       TEXT NOT NULL DEFAULT '',
    result_url    TEXT NOT NULL DEFAULT '',
    trigger_key   TEXT UNIQUE,
    delivery_id   TEXT NOT NULL DEFAULT '',
    token_hash    BLOB NOT NULL UNIQUE,
    token_key_id  TEXT NOT NULL DEFAULT '',
    token_sealed  BLOB,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX workspaces_org ON workspaces (org_id, created_at);
