-- The GitHub App installation that holds a workspace's repository (0: none,
-- a workspace without a repository).
ALTER TABLE workspaces ADD COLUMN installation_id INTEGER NOT NULL DEFAULT 0;
