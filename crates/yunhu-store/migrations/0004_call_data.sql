-- What the five dialects list calls by: when a call started (the listing's keyset order), how it
-- was placed, its custom data and keys pressed; which records each sipcdr client has fetched;
-- the sipcdr family's login tokens.

ALTER TABLE call_records ADD COLUMN started_at BIGINT NOT NULL DEFAULT 0;
UPDATE call_records SET started_at = COALESCE(agent_start, customer_start, 0);
ALTER TABLE call_records ADD COLUMN method TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN call_data TEXT NOT NULL DEFAULT '{}';
ALTER TABLE call_records ADD COLUMN task_id TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN digits TEXT NOT NULL DEFAULT '';
-- Every listing pages by (started_at, id) inside a tenant: an index range scan, never OFFSET over the table.
CREATE INDEX call_records_started ON call_records (tenant_id, started_at, id);
CREATE INDEX call_records_recording ON call_records (tenant_id, recording);

-- syncflag of sipcdr GetBill: which client has fetched which record.
CREATE TABLE record_fetches (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    client TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client, record_id)
);

-- Tokens of the sipcdr family (App.Sip_Auth.Login); only their hashes are kept.
CREATE TABLE dialect_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    principal TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dialect_tokens_expiry ON dialect_tokens (expires_at);
