-- A queue's history per interval is read by queue and the time callers entered it.
CREATE INDEX call_records_queue ON call_records (tenant_id, queue, queue_start)
