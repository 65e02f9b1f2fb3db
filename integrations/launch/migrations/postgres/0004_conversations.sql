-- Conversations. A workspace belongs to a thread (a pull request, a Linear
-- agent session or issue); each person has at most one current workspace per
-- thread, and the row of that person and thread is what concurrent triggers
-- lock, so two mentions at once make one workspace and two messages.
ALTER TABLE workspaces ADD COLUMN thread TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN previous_workspace_id TEXT NOT NULL DEFAULT '';
CREATE INDEX workspaces_thread ON workspaces (org_id, thread);

CREATE TABLE workspace_threads (
    org_id       TEXT NOT NULL,
    thread       TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    workspace_id TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, thread, user_id)
);

-- The messages of a workspace, numbered 1..n; the first is its task. A
-- trigger's key makes a redelivered comment or prompt one message.
CREATE TABLE workspace_messages (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    author       TEXT NOT NULL, -- JSON
    source       TEXT NOT NULL, -- JSON
    trigger_key  TEXT UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
