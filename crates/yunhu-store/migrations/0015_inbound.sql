-- The inbound contact center: the IVR menu a caller went through (name, keys, last node, times),
-- the queue they waited in (skill group code, times, how they left it) and the satisfaction
-- survey's key (-1: no survey).
ALTER TABLE call_records ADD COLUMN ivr_name TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN ivr_digits TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN ivr_last_node TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN ivr_start BIGINT;
ALTER TABLE call_records ADD COLUMN ivr_end BIGINT;
ALTER TABLE call_records ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN queue_start BIGINT;
ALTER TABLE call_records ADD COLUMN queue_end BIGINT;
ALTER TABLE call_records ADD COLUMN queue_outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN satisfaction BIGINT NOT NULL DEFAULT -1
