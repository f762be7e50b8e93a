-- What the dialer checks before every attempt: the tenant's do-not-call list, and whether the
-- number was abandoned lately (found by customer number among the call records).

CREATE TABLE do_not_call (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    number TEXT NOT NULL,
    reason TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, number)
);

CREATE INDEX call_records_customer ON call_records (tenant_id, customer, started_at);

-- The tenant's limit on calls at once (0: none).
ALTER TABLE tenants ADD COLUMN max_calls BIGINT NOT NULL DEFAULT 0
