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
	not_before     TIMESTAMPTZ,
	not_after      TIMESTAMPTZ,
	expires_in     BIGINT NOT NULL DEFAULT 0,
	source_address TEXT NOT NULL DEFAULT 'null',
	created_at     TIMESTAMPTZ NOT NULL,
	updated_at     TIMESTAMPTZ NOT NULL,
	author         TEXT NOT NULL DEFAULT '',
	updated_by     TEXT NOT NULL DEFAULT '',
	UNIQUE (account, principal_id, fingerprint),
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);

-- A principal's search text (PrivX's user search): login, email, full name, first and last name, lower-cased,
-- one per line, kept by the store on every write. (No index here: a B-tree entry may not hold a long text.)
ALTER TABLE principals ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE principals SET search_text = lower(login || chr(10) || email || chr(10) || full_name || chr(10) ||
	coalesce(attributes::jsonb ->> 'first_name', '') || chr(10) || coalesce(attributes::jsonb ->> 'last_name', ''));

-- Who created and last changed each API key (principal ids; '' for keys from before).
ALTER TABLE api_keys ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
