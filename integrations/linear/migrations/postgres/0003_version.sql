-- A connection's version counts token changes; refresh_state records a
-- refresh that was started ('in_flight' until it succeeds) or refused
-- ('rejected'), so a spent refresh token is never sent twice.
ALTER TABLE linear_connections ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE linear_connections ADD COLUMN refresh_state TEXT NOT NULL DEFAULT '';
