-- A signature key's fingerprint is unique per owner (account, principal), no longer over every account (review
-- r22b R5): public keys are public, so a global uniqueness let anyone enrol another's public key first (the owner
-- could then not enrol it) and made the refusal an oracle "someone here holds this key". The keyId of a signed
-- request names the enrolled key, so two owners of one public key cannot sign as each other.
ALTER TABLE signature_keys DROP CONSTRAINT signature_keys_fingerprint_key;
ALTER TABLE signature_keys ADD CONSTRAINT signature_keys_owner_fingerprint UNIQUE (account, principal_id, fingerprint);
