-- Token signing keys belong to an account (issue 17, finding 7). Keys made
-- before keep account '': they signed every account's tokens, so the core
-- retires them at start-up, lets them verify what they signed until it
-- expires, then deletes them.
ALTER TABLE signing_keys ADD COLUMN account TEXT NOT NULL DEFAULT '';
CREATE INDEX signing_keys_account ON signing_keys (account, created_at);
