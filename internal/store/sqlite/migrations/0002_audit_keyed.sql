-- The audit chain is keyed: each record's hash is an HMAC-SHA256 under a key
-- derived from the master key. keyed is 1 for such records and 0 for the
-- records written before (plain SHA-256), which verify as before until
-- `keyward audit rekey` chains them again under the key.
ALTER TABLE audit_events ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
