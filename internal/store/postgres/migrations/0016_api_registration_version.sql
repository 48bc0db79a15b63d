-- Review 23 (F4/F8): a registration's version, raised by every update (rotation, PSRUN rotation, PATCH). A
-- surface session records the version it was made under: it is stored only while the registration is at that
-- version, and a session whose registration moved on is dead. Rows made before this migration share version 1.
ALTER TABLE api_registrations ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE surface_sessions ADD COLUMN registration_version BIGINT NOT NULL DEFAULT 1;
