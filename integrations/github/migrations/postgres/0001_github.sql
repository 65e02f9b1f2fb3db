-- GitHub App installations (bound to a Replicas org once proven) and the
-- explanations already posted (at most one per user, PR and hour).
CREATE TABLE github_installations (
    installation_id       BIGINT PRIMARY KEY,
    org_id                TEXT,
    account_login         TEXT NOT NULL,
    account_id            BIGINT NOT NULL,
    account_type          TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
    repository_selection  TEXT NOT NULL DEFAULT '',
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE github_explanations (
    explanation_key  TEXT PRIMARY KEY, -- github id, repository and PR
    created_at       TIMESTAMPTZ NOT NULL
);
