-- What a workspace reported doing, in the order it reported it (seq counts
-- per workspace from 1).
CREATE TABLE workspace_activities (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    parameter     TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL DEFAULT '',
    ephemeral     INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL,
    UNIQUE (workspace_id, seq)
);
