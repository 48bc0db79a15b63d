-- Timestamps are timestamptz; lists and maps are JSON text.

CREATE TABLE accounts (
	name       TEXT PRIMARY KEY,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE principals (
	id            TEXT PRIMARY KEY,
	account       TEXT NOT NULL REFERENCES accounts (name),
	login         TEXT NOT NULL,
	kind          TEXT NOT NULL,
	email         TEXT NOT NULL DEFAULT '',
	display_name  TEXT NOT NULL DEFAULT '',
	full_name     TEXT NOT NULL DEFAULT '',
	attributes    TEXT NOT NULL DEFAULT 'null',
	tags          TEXT NOT NULL DEFAULT 'null',
	source        TEXT NOT NULL DEFAULT '',
	settings      TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL DEFAULT '',
	restricted_to TEXT NOT NULL DEFAULT 'null',
	annotations   TEXT NOT NULL DEFAULT 'null',
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	UNIQUE (account, kind, login),
	UNIQUE (account, id)
);

CREATE TABLE roles (
	id          TEXT PRIMARY KEY,
	account     TEXT NOT NULL REFERENCES accounts (name),
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	permissions TEXT NOT NULL DEFAULT 'null',
	context     TEXT NOT NULL DEFAULT 'null',
	built_in    BOOLEAN NOT NULL DEFAULT false,
	created_at  TIMESTAMPTZ NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL,
	UNIQUE (account, name),
	UNIQUE (account, id)
);

CREATE TABLE grants (
	account         TEXT NOT NULL,
	principal_id    TEXT NOT NULL,
	role_id         TEXT NOT NULL,
	source          TEXT NOT NULL,
	type            TEXT NOT NULL,
	periods         TEXT NOT NULL DEFAULT 'null',
	floating_length INTEGER NOT NULL DEFAULT 0,
	activated_at    TIMESTAMPTZ,
	created_at      TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (principal_id, role_id, source),
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE,
	FOREIGN KEY (account, role_id) REFERENCES roles (account, id) ON DELETE CASCADE
);
CREATE INDEX grants_role ON grants (role_id);

CREATE TABLE api_keys (
	id             TEXT PRIMARY KEY,
	account        TEXT NOT NULL,
	principal_id   TEXT NOT NULL,
	description    TEXT NOT NULL DEFAULT '',
	conjur         BOOLEAN NOT NULL DEFAULT false,
	hash           BYTEA,
	sealed         BYTEA,
	prev_hash      BYTEA,
	prev_until     TIMESTAMPTZ,
	expires_at     TIMESTAMPTZ,
	valid_sources  TEXT NOT NULL DEFAULT 'null',
	roles          TEXT NOT NULL DEFAULT 'null',
	created_at     TIMESTAMPTZ NOT NULL,
	rotated_at     TIMESTAMPTZ,
	revoked_at     TIMESTAMPTZ,
	last_used_at   TIMESTAMPTZ,
	last_used_addr TEXT NOT NULL DEFAULT '',
	FOREIGN KEY (account, principal_id) REFERENCES principals (account, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_principal ON api_keys (account, principal_id);
-- A principal has at most one Conjur key.
CREATE UNIQUE INDEX api_keys_conjur ON api_keys (principal_id) WHERE conjur;

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	alg        TEXT NOT NULL,
	private    BYTEA,
	public     BYTEA,
	created_at TIMESTAMPTZ NOT NULL,
	retired_at TIMESTAMPTZ,
	expires_at TIMESTAMPTZ
);

CREATE TABLE authenticators (
	account    TEXT NOT NULL REFERENCES accounts (name),
	type       TEXT NOT NULL,
	service_id TEXT NOT NULL,
	enabled    BOOLEAN NOT NULL DEFAULT false,
	config     TEXT NOT NULL DEFAULT 'null',
	secrets    TEXT NOT NULL DEFAULT 'null',
	allowed    TEXT NOT NULL DEFAULT 'null',
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (account, type, service_id)
);

CREATE TABLE nonces (
	key     TEXT PRIMARY KEY,
	expires TIMESTAMPTZ NOT NULL
);
CREATE INDEX nonces_expires ON nonces (expires);

-- The audit chain: plain text and integer columns, readable with psql.
-- time is RFC 3339 (UTC) for people, time_us the unix microseconds the hash covers.
CREATE TABLE audit_events (
	seq           BIGINT PRIMARY KEY,
	time          TEXT NOT NULL,
	time_us       BIGINT NOT NULL,
	account       TEXT NOT NULL,
	event         TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	reason        TEXT NOT NULL,
	actor         TEXT NOT NULL,
	subject       TEXT NOT NULL,
	key_id        TEXT NOT NULL,
	client_ip     TEXT NOT NULL,
	peer_ip       TEXT NOT NULL,
	request_id    TEXT NOT NULL,
	authenticator TEXT NOT NULL,
	detail        TEXT NOT NULL,
	prev_hash     TEXT NOT NULL,
	hash          TEXT NOT NULL
);
CREATE INDEX audit_events_account ON audit_events (account, seq);

-- The chain head, moved in the same transaction as every append, so a
-- removed tail is noticed.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
