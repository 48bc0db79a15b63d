-- BeyondInsight-style API registrations (issue 23): the key or client secret kept as an HMAC (the lookup index)
-- and sealed, the PSRUN secret sealed; their server-side sessions (cookies, pending MFA sign-ins, OAuth tokens)
-- named by the HMAC of their value; and a stable integer per principal (PS-Auth's UserId).
CREATE TABLE api_registrations (
	id                   TEXT PRIMARY KEY,
	account              TEXT NOT NULL REFERENCES accounts (name),
	name                 TEXT NOT NULL,
	type                 TEXT NOT NULL,
	enforce_mfa          BOOLEAN NOT NULL DEFAULT true,
	client_cert_required BOOLEAN NOT NULL DEFAULT false,
	password_required    BOOLEAN NOT NULL DEFAULT false,
	verify_psrun         BOOLEAN NOT NULL DEFAULT false,
	allowed              TEXT NOT NULL DEFAULT 'null',
	rules                TEXT NOT NULL DEFAULT 'null',
	run_as               TEXT NOT NULL DEFAULT '',
	defined_by           TEXT NOT NULL DEFAULT '',
	access_token_minutes INTEGER NOT NULL DEFAULT 0,
	client_id            TEXT,
	key_hash             BYTEA NOT NULL,
	key_sealed           BYTEA,
	key_last4            TEXT NOT NULL DEFAULT '',
	psrun_sealed         BYTEA,
	created_at           TIMESTAMPTZ NOT NULL,
	updated_at           TIMESTAMPTZ NOT NULL,
	key_rotated_at       TIMESTAMPTZ,
	last_used_at         TIMESTAMPTZ,
	UNIQUE (account, name)
);
CREATE UNIQUE INDEX api_registrations_key_hash ON api_registrations (key_hash);
CREATE UNIQUE INDEX api_registrations_client_id ON api_registrations (client_id);

CREATE TABLE surface_sessions (
	hash            BYTEA PRIMARY KEY,
	account         TEXT NOT NULL,
	kind            TEXT NOT NULL,
	registration_id TEXT NOT NULL REFERENCES api_registrations (id) ON DELETE CASCADE,
	principal_id    TEXT NOT NULL,
	level           INTEGER NOT NULL,
	created_at      TIMESTAMPTZ NOT NULL,
	last_used_at    TIMESTAMPTZ NOT NULL,
	expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX surface_sessions_registration ON surface_sessions (registration_id);
CREATE INDEX surface_sessions_principal ON surface_sessions (principal_id);

CREATE TABLE principal_numbers (
	number       BIGSERIAL PRIMARY KEY,
	account      TEXT NOT NULL,
	principal_id TEXT NOT NULL UNIQUE
);
