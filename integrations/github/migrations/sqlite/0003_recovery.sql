-- The recovery of missed deliveries remembers the newest delivery it saw.
CREATE TABLE github_recovery_cursor (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    delivered_at  TIMESTAMP NOT NULL
);
