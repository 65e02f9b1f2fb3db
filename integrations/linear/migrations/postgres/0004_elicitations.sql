-- A session whose repository could not be determined waits here for the
-- user's answer: the workspace request it will launch once a repository is
-- chosen (JSON, without the repository).
CREATE TABLE linear_elicitations (
    session_id  TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    request     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
