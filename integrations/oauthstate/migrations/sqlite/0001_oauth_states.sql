-- Single-use, expiring states of the OAuth flows (GitHub connect and relink,
-- Linear connect).
CREATE TABLE oauth_states (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    verifier    TEXT NOT NULL, -- PKCE verifier, when the flow uses one
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
