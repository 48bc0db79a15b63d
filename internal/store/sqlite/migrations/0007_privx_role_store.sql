-- The PrivX role-store (issue 21): who created and last changed principals and roles (principal ids; '' for
-- init's admin and records from before), a role's AWS role ARN and its source rules (role mappings, JSON), and
-- users' authorized SSH keys (one per public key and user, found by its SHA256 fingerprint).
ALTER TABLE principals ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
ALTER TABLE roles ADD COLUMN arn TEXT NOT NULL DEFAULT '';
ALTER TABLE roles ADD COLUMN source_rules TEXT NOT NULL DEFAULT 'null';
ALTER TABLE roles ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE roles ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';

CREATE TABLE authorized_keys (
	id             TEXT PRIMARY KEY,
	account        TEXT NOT NULL,
	principal_id   TEXT NOT NULL,
	name           TEXT NOT NULL,
	comment        TEXT NOT NULL DEFAULT '',
	public_key     TEXT NOT NULL,
	fingerprint    TEXT NOT NULL,
	not_before     TEXT,
	not_after      TEXT,
	expires_in     INTEGER NOT NULL DEFAULT 0,
	source_address TEXT NOT NULL DEFAULT 'null',
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL,
	author         TEXT NOT NULL DEFAULT '',
	updated_by     TEXT NOT NULL DEFAULT '',
	UNIQUE (account, principal_id, fingerprint),
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);

-- A principal's search text (PrivX's user search): login, email, full name, first and last name, lower-cased,
-- one per line, kept by the store on every write; the index makes the search a scan of narrow entries.
ALTER TABLE principals ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE principals SET search_text = lower(login || char(10) || email || char(10) || full_name || char(10) ||
	coalesce(json_extract(attributes, '$.first_name'), '') || char(10) || coalesce(json_extract(attributes, '$.last_name'), ''));
CREATE INDEX principals_search ON principals (account, kind, search_text, id);

-- Who created and last changed each API key (principal ids; '' for keys from before).
ALTER TABLE api_keys ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
