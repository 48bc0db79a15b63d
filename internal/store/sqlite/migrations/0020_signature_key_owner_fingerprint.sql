-- A signature key's fingerprint is unique per owner (account, principal), no longer over every account (review
-- r22b R5): public keys are public, so a global uniqueness let anyone enrol another's public key first (the owner
-- could then not enrol it) and made the refusal an oracle "someone here holds this key". The keyId of a signed
-- request names the enrolled key, so two owners of one public key cannot sign as each other.
-- SQLite cannot drop a column's UNIQUE: the table is rebuilt (nothing references it).
CREATE TABLE signature_keys_0020 (
	id           TEXT PRIMARY KEY,
	account      TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	public_key   BLOB NOT NULL,
	fingerprint  TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	UNIQUE (account, principal_id, fingerprint),
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);
INSERT INTO signature_keys_0020 (id, account, principal_id, algorithm, public_key, fingerprint, description, created_at, last_used_at)
	SELECT id, account, principal_id, algorithm, public_key, fingerprint, description, created_at, last_used_at FROM signature_keys;
DROP TABLE signature_keys;
ALTER TABLE signature_keys_0020 RENAME TO signature_keys;
CREATE INDEX signature_keys_principal ON signature_keys (account, principal_id);
