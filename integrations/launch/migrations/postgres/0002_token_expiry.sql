-- Workspace tokens expire; each use pushes the expiry forward. Workspaces
-- that exist before this migration get the default lifetime from now. A NULL
-- expiry never authenticates.
ALTER TABLE workspaces ADD COLUMN token_expires_at TIMESTAMPTZ;
UPDATE workspaces SET token_expires_at = now() + INTERVAL '7 days';
