-- Argus surface (issue 22): a principal's customer, a key's customer constraint (a JSON list; its function
-- constraint is the existing roles column), enrolled signature keys (DER SubjectPublicKeyInfo, fingerprint unique
-- over every account), idempotency records of creating requests (the answer sealed under the master key), and the
-- replay state of signed requests, shared by every instance: nonces used once (until their expiry, epoch ms) and
-- each key's signature session (highest accepted ts and last accepted request, epoch ms).
ALTER TABLE principals ADD COLUMN customer TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN customers TEXT NOT NULL DEFAULT 'null';

CREATE TABLE signature_keys (
	id           TEXT PRIMARY KEY,
	account      TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	public_key   BYTEA NOT NULL,
	fingerprint  TEXT NOT NULL UNIQUE,
	description  TEXT NOT NULL DEFAULT '',
	created_at   TIMESTAMPTZ NOT NULL,
	last_used_at TIMESTAMPTZ,
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);
CREATE INDEX signature_keys_principal ON signature_keys (account, principal_id);

CREATE TABLE idempotency_records (
	account      TEXT NOT NULL,
	scope        TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash BYTEA NOT NULL,
	answer       BYTEA NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_ms   BIGINT NOT NULL,
	PRIMARY KEY (account, scope, key)
);
CREATE INDEX idempotency_records_expires ON idempotency_records (expires_ms);

CREATE TABLE signature_nonces (
	key_id     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_ms BIGINT NOT NULL,
	PRIMARY KEY (key_id, nonce)
);
CREATE INDEX signature_nonces_expires ON signature_nonces (expires_ms);

CREATE TABLE signature_sessions (
	key_id       TEXT PRIMARY KEY,
	account      TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	high_ts      BIGINT NOT NULL,
	last_ms      BIGINT NOT NULL
);
CREATE INDEX signature_sessions_principal ON signature_sessions (account, principal_id);
