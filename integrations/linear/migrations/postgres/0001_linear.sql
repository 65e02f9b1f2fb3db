-- Connected Linear workspaces (one per org; the token sealed), the team to
-- repository mapping, and the explanations already posted.
CREATE TABLE linear_connections (
    org_id           TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL UNIQUE, -- Linear's organization id
    app_user_id      TEXT NOT NULL,        -- the Replicas app user in that Linear workspace
    token_kind       TEXT NOT NULL CHECK (token_kind IN ('oauth', 'api_key')),
    key_id           TEXT NOT NULL,
    token_sealed     BYTEA NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE linear_team_repositories (
    org_id      TEXT NOT NULL,
    team_key    TEXT NOT NULL, -- the team's key (ENG) or id
    repository  TEXT NOT NULL,
    PRIMARY KEY (org_id, team_key)
);

CREATE TABLE linear_explanations (
    explanation_key  TEXT PRIMARY KEY, -- Linear user id and issue id
    created_at       TIMESTAMPTZ NOT NULL
);
