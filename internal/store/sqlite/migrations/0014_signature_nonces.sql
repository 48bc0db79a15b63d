-- Signed requests' nonces (issue 22, review F1). The replay cache answers from memory, but every nonce it
-- takes is also written here before the request is accepted, and the cache is filled from this table when
-- the store opens: a restart does not reopen a replay of a request signed in the last 300 s. Expired rows
-- are pruned as nonces are written. Same shape as PostgreSQL's table (0008).
CREATE TABLE signature_nonces (
	key_id     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_ms INTEGER NOT NULL,
	PRIMARY KEY (key_id, nonce)
) WITHOUT ROWID;
CREATE INDEX signature_nonces_expires ON signature_nonces (expires_ms);
