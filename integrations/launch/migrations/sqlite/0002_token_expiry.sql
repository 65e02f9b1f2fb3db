-- Workspace tokens expire; each use pushes the expiry forward. Workspaces
-- that exist before this migration get the default lifetime from now (in the
-- fixed-width UTC text the gateway writes times as). A NULL expiry never
-- authenticates.
ALTER TABLE workspaces ADD COLUMN token_expires_at TIMESTAMP;
UPDATE workspaces SET token_expires_at = strftime('%Y-%m-%d %H:%M:%S', 'now', '+7 days') || '.000000000+00:00';
