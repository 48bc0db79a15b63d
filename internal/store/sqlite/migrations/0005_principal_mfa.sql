-- A principal's second factor (issue 18): its state (none, enrolling, enabled), the TOTP seed sealed under the
-- master key (AES-256-GCM, bound to the principal id), and the HMACs of its unused recovery codes (a JSON list).
ALTER TABLE principals ADD COLUMN mfa TEXT NOT NULL DEFAULT 'none';
ALTER TABLE principals ADD COLUMN mfa_seed BLOB;
ALTER TABLE principals ADD COLUMN mfa_recovery TEXT NOT NULL DEFAULT 'null';
