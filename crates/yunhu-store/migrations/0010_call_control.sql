-- Call control: the agents a call was transferred to (comma-separated accounts, in order) and
-- how many times a party was put on hold.
ALTER TABLE call_records ADD COLUMN transferred_to TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN holds BIGINT NOT NULL DEFAULT 0
