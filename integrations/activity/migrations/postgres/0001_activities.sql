-- What a workspace reported doing, in the order it reported it (seq counts
-- per workspace from 1).
CREATE TABLE workspace_activities (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    parameter     TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL DEFAULT '',
    ephemeral     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, seq)
);
