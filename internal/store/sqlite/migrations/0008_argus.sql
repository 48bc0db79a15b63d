-- Argus surface (issue 22): a principal's customer, a key's customer constraint (a JSON list; its function
-- constraint is the existing roles column), enrolled signature keys (DER SubjectPublicKeyInfo, fingerprint unique
-- over every account), and idempotency records of creating requests (the answer sealed under the master key).
-- SQLite keeps the replay state of signed requests in memory (one instance per folder), so it has no table here.
ALTER TABLE principals ADD COLUMN customer TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN customers TEXT NOT NULL DEFAULT 'null';

CREATE TABLE signature_keys (
	id           TEXT PRIMARY KEY,
	account      TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	public_key   BLOB NOT NULL,
	fingerprint  TEXT NOT NULL UNIQUE,
	description  TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);
CREATE INDEX signature_keys_principal ON signature_keys (account, principal_id);

CREATE TABLE idempotency_records (
	account      TEXT NOT NULL,
	scope        TEXT NOT NULL,
	key          TEXT NOT NULL,
	request_hash BLOB NOT NULL,
	answer       BLOB NOT NULL,
	created_at   TEXT NOT NULL,
	expires_ms   INTEGER NOT NULL,
	PRIMARY KEY (account, scope, key)
);
CREATE INDEX idempotency_records_expires ON idempotency_records (expires_ms);
