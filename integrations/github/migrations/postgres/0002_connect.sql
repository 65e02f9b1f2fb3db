-- Org connect and relinking: single-use OAuth states, installer of each
-- installation (for binding without a code), pending connects and the last
-- auto-link report per org.
CREATE TABLE github_states (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('install', 'relink')),
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    verifier    TEXT NOT NULL, -- PKCE verifier (relink)
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);

ALTER TABLE github_installations ADD COLUMN installer_id BIGINT NOT NULL DEFAULT 0;

CREATE TABLE github_pending_connects (
    installation_id  BIGINT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    admin_id         TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE github_autolink_reports (
    org_id      TEXT PRIMARY KEY,
    report      TEXT NOT NULL, -- JSON: linked, unmatched, conflicts by login
    created_at  TIMESTAMPTZ NOT NULL
);
