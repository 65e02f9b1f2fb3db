-- Agent credentials (sealed) and agent preferences.
CREATE TABLE credentials (
    id             TEXT PRIMARY KEY,
    scope          TEXT NOT NULL CHECK (scope IN ('org', 'user')),
    owner_id       TEXT NOT NULL, -- the org id (scope org) or the user id (scope user)
    agent          TEXT NOT NULL,
    method         TEXT NOT NULL,
    key_id         TEXT NOT NULL, -- which encryption key sealed the secret
    sealed         BYTEA NOT NULL,
    hint           TEXT NOT NULL, -- last 4 characters, for display
    status         TEXT NOT NULL CHECK (status IN ('active', 'unusable')),
    status_reason  TEXT NOT NULL,
    version        BIGINT NOT NULL, -- bumped on every change and rotation
    expires_at     TIMESTAMPTZ,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (scope, owner_id, agent, method)
);

CREATE TABLE agent_preferences (
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('org', 'user')),
    owner_id    TEXT NOT NULL,
    agent       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
