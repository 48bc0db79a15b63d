-- Smaller audit records (issue 20). What each record's MAC covers is
-- unchanged; only how it is kept changes:
-- - names that repeat from record to record (account, event, outcome,
--   reason, actor, subject, authenticator) are kept once, in audit_names,
--   and referenced by id; NULL is the empty name;
-- - the time is kept once, as time_us (the unix microseconds the MAC covers);
-- - the hash is 32 bytes of binary, and the previous record's hash is not
--   kept again: it is the hash of record seq-1 (or the checkpoint's);
-- - peer_ip is NULL when it is the client_ip, detail NULL when there is none.
-- The view audit_log shows the records as text, for people with sqlite3.
-- Names are never deleted: an id, once committed, names the same text for good.
CREATE TABLE audit_names (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
INSERT OR IGNORE INTO audit_names (name)
	SELECT account FROM audit_events WHERE account <> ''
	UNION SELECT event FROM audit_events WHERE event <> ''
	UNION SELECT outcome FROM audit_events WHERE outcome <> ''
	UNION SELECT reason FROM audit_events WHERE reason <> ''
	UNION SELECT actor FROM audit_events WHERE actor <> ''
	UNION SELECT subject FROM audit_events WHERE subject <> ''
	UNION SELECT authenticator FROM audit_events WHERE authenticator <> '';
CREATE TABLE audit_records (
	seq           INTEGER PRIMARY KEY,
	time_us       INTEGER NOT NULL,
	account       INTEGER,
	event         INTEGER,
	outcome       INTEGER,
	reason        INTEGER,
	actor         INTEGER,
	subject       INTEGER,
	authenticator INTEGER,
	key_id        TEXT NOT NULL,
	client_ip     TEXT NOT NULL,
	peer_ip       TEXT,
	request_id    TEXT NOT NULL,
	detail        TEXT,
	hash          BLOB NOT NULL,
	keyed         INTEGER NOT NULL
);
INSERT INTO audit_records (seq, time_us, account, event, outcome, reason, actor, subject, authenticator,
		key_id, client_ip, peer_ip, request_id, detail, hash, keyed)
	SELECT e.seq, e.time_us,
		(SELECT id FROM audit_names WHERE name = e.account),
		(SELECT id FROM audit_names WHERE name = e.event),
		(SELECT id FROM audit_names WHERE name = e.outcome),
		(SELECT id FROM audit_names WHERE name = e.reason),
		(SELECT id FROM audit_names WHERE name = e.actor),
		(SELECT id FROM audit_names WHERE name = e.subject),
		(SELECT id FROM audit_names WHERE name = e.authenticator),
		e.key_id, e.client_ip, CASE WHEN e.peer_ip = e.client_ip THEN NULL ELSE e.peer_ip END,
		e.request_id, NULLIF(e.detail, ''), unhex(e.hash), e.keyed
	FROM audit_events e ORDER BY e.seq;
DROP TABLE audit_events;
ALTER TABLE audit_records RENAME TO audit_events;
CREATE INDEX audit_events_account ON audit_events (account, seq);
-- The checkpoint left by pruning: the sequence number and hash of the last
-- removed record (0 and the genesis hash when none was), whether it was
-- keyed, and a MAC of the three under the audit key, so that nobody without
-- the master key can remove more records and move the checkpoint after them.
CREATE TABLE audit_checkpoint (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	seq   INTEGER NOT NULL,
	hash  TEXT NOT NULL,
	keyed INTEGER NOT NULL,
	mac   TEXT NOT NULL
);
INSERT INTO audit_checkpoint (id, seq, hash, keyed, mac) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, '');
CREATE VIEW audit_log AS
	SELECT e.seq,
		strftime('%Y-%m-%dT%H:%M:%fZ', e.time_us / 1000000.0, 'unixepoch') AS time, e.time_us,
		COALESCE(na.name, '') AS account, COALESCE(ne.name, '') AS event, COALESCE(nt.name, '') AS outcome,
		COALESCE(nr.name, '') AS reason, COALESCE(nc.name, '') AS actor, COALESCE(ns.name, '') AS subject,
		e.key_id, e.client_ip, COALESCE(e.peer_ip, e.client_ip) AS peer_ip, e.request_id,
		COALESCE(nu.name, '') AS authenticator, COALESCE(e.detail, '') AS detail,
		lower(hex(e.hash)) AS hash, e.keyed
	FROM audit_events e
	LEFT JOIN audit_names na ON na.id = e.account
	LEFT JOIN audit_names ne ON ne.id = e.event
	LEFT JOIN audit_names nt ON nt.id = e.outcome
	LEFT JOIN audit_names nr ON nr.id = e.reason
	LEFT JOIN audit_names nc ON nc.id = e.actor
	LEFT JOIN audit_names ns ON ns.id = e.subject
	LEFT JOIN audit_names nu ON nu.id = e.authenticator;
