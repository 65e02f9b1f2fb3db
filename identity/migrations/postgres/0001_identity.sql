-- Orgs, users, memberships, API tokens, GitHub links and the audit log.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE, -- normalized: trimmed, lower case
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE, -- SHA-256 of the token; the token itself is shown once
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE github_identities (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    github_id   BIGINT NOT NULL UNIQUE,
    login       TEXT NOT NULL,
    linked_via  TEXT NOT NULL CHECK (linked_via IN ('org_connect', 'oauth', 'admin')),
    linked_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    org_id      TEXT,
    actor_id    TEXT NOT NULL, -- a user id, or "system"
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, created_at);
