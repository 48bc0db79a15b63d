-- The principal whose authority an authenticator service's allowed list was checked against (issue 17):
-- outside logins through the service are refused for principals it no longer outranks.
ALTER TABLE authenticators ADD COLUMN defined_by TEXT NOT NULL DEFAULT '';
