-- Browser sessions. The cookie holds a random token; only its SHA-256 is
-- stored. A session without a user is a signed-out browser that has started
-- a sign-in (its OAuth states are bound to it). org_id is the org the
-- browser is looking at; csrf_token is checked on every form post.
CREATE TABLE browser_sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE,
    user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    org_id       TEXT,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);
