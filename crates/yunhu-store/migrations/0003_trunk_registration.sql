-- Trunks that yunhu registers to: the account at the carrier, its password sealed with the
-- master key (registration needs it back), and whether to register.
ALTER TABLE trunks ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE trunks ADD COLUMN password_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE trunks ADD COLUMN register BIGINT NOT NULL DEFAULT 0
