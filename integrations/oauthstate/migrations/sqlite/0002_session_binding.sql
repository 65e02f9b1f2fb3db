-- Every browser flow's state is bound to the browser session that started
-- it: a callback opened in another session does not match and changes
-- nothing. data holds what a flow keeps between two of its steps (the GitHub
-- account a relink waits to confirm, an invitation a sign-in completes).
ALTER TABLE oauth_states ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ADD COLUMN data TEXT NOT NULL DEFAULT '';
