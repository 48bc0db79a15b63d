-- Review 25 F2: each pending batch carries a MAC under the audit chain key (audit.Key.PendingMAC), written with
-- it, so a database writer without the master key can neither add a pending record nor alter one before the
-- linker chains it. A batch whose MAC does not verify (or that has none: written before this migration, or by
-- an older keyward during an upgrade) is never chained: the linker moves it here as found, and appends an
-- audit.pending_rejected record in its place; `keyward audit verify` reports how many there are.
ALTER TABLE audit_pending ADD COLUMN mac BYTEA;
CREATE TABLE audit_quarantine (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pending_id     BIGINT NOT NULL,
	quarantined_us BIGINT NOT NULL,
	why            TEXT NOT NULL,
	time_us        BIGINT[],
	account        TEXT[],
	event          TEXT[],
	outcome        TEXT[],
	reason         TEXT[],
	actor          TEXT[],
	subject        TEXT[],
	key_id         TEXT[],
	client_ip      TEXT[],
	peer_ip        TEXT[],
	request_id     TEXT[],
	authenticator  TEXT[],
	detail         TEXT[],
	mac            BYTEA
);
