-- Review r23b (A, G). key_holders: the principal ids that have seen a registration's current key, client secret or
-- PSRUN secret since its last rotation (creator, rotator, every audited read); each must still outrank whoever the
-- registration signs in as. session_epoch: raised whenever a principal stops being active; a surface session is
-- stored only while the principal is active at the epoch its sign-in's checks read, so a sign-in racing a disable
-- (and re-enable) stores nothing.
ALTER TABLE api_registrations ADD COLUMN key_holders TEXT NOT NULL DEFAULT '[]';
-- Registrations made before: their author is the one holder known.
UPDATE api_registrations SET key_holders = '["' || defined_by || '"]' WHERE defined_by <> '';
ALTER TABLE principals ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
