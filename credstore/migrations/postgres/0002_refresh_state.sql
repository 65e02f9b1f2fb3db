-- refresh_state records what is known about the last send of an OAuth
-- credential's refresh token: '' (nothing pending), 'unknown' (sent, no answer
-- known: it may have rotated) or 'resent' (sent once more after an unknown
-- outcome, still no answer). It is written before the token is sent, so a
-- crash in the middle also counts as an unknown outcome.
ALTER TABLE credentials ADD COLUMN refresh_state TEXT NOT NULL DEFAULT '' CHECK (refresh_state IN ('', 'unknown', 'resent'));
