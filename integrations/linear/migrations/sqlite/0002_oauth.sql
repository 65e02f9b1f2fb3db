-- OAuth connections keep a (sealed) refresh token and the access token's expiry.
ALTER TABLE linear_connections ADD COLUMN refresh_sealed BLOB;
ALTER TABLE linear_connections ADD COLUMN expires_at TIMESTAMP;
