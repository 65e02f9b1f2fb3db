-- Org connect: the installer of each
-- installation (for binding without a code), pending connects and the last
-- auto-link report per org.
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
