-- The repositories each installation may access (full names lower-cased:
-- GitHub compares them case-insensitively).
CREATE TABLE github_installation_repositories (
    installation_id  BIGINT NOT NULL,
    repository_id    BIGINT NOT NULL,
    full_name        TEXT NOT NULL,
    PRIMARY KEY (installation_id, repository_id)
);
CREATE INDEX github_installation_repositories_name ON github_installation_repositories (full_name);
