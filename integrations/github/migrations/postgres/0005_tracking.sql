-- One tracking comment and one check run per GitHub-triggered workspace.
-- version counts the changes to show; synced is the version GitHub shows;
-- scheduled says a sync job is pending, so changes in between coalesce.
CREATE TABLE github_tracking (
    workspace_id     TEXT PRIMARY KEY,
    installation_id  BIGINT NOT NULL,
    repository       TEXT NOT NULL,
    pull_request     INTEGER NOT NULL,
    comment_id       BIGINT NOT NULL DEFAULT 0,
    check_run_id     BIGINT NOT NULL DEFAULT 0,
    head_sha         TEXT NOT NULL DEFAULT '',
    check_state      TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 0,
    synced           BIGINT NOT NULL DEFAULT 0,
    scheduled        BOOLEAN NOT NULL DEFAULT FALSE,
    synced_at        TIMESTAMPTZ
);
