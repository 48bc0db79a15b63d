-- Audit records acknowledged but not yet linked into the chain (issue 25). Each row is one batch as an
-- appender wrote it (its records in order, one array element each), inserted without a shared lock by
-- every instance; one instance at a time (an advisory lock) moves batches into audit_events in id order,
-- sealing each record after the head, at least every 25 ms. Readers of the audit link what is pending first.
CREATE TABLE audit_pending (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time_us       BIGINT[] NOT NULL,
	account       TEXT[] NOT NULL,
	event         TEXT[] NOT NULL,
	outcome       TEXT[] NOT NULL,
	reason        TEXT[] NOT NULL,
	actor         TEXT[] NOT NULL,
	subject       TEXT[] NOT NULL,
	key_id        TEXT[] NOT NULL,
	client_ip     TEXT[] NOT NULL,
	peer_ip       TEXT[] NOT NULL,
	request_id    TEXT[] NOT NULL,
	authenticator TEXT[] NOT NULL,
	detail        TEXT[] NOT NULL
);
