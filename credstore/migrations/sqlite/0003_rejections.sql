-- A workspace's report that the provider refused a shared (org) API key or
-- Bedrock credential. One report takes the credential out of that
-- workspace's chain only; reports from workspaces of two different people
-- about the same version take it out of every chain. A personal credential
-- is its owner's: their own report ends it at once, and needs no row here.
CREATE TABLE credential_rejections (
    credential_id  TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    workspace_id   TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (credential_id, version, workspace_id)
);
CREATE INDEX credential_rejections_workspace ON credential_rejections (workspace_id);
