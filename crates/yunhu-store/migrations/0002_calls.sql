-- Trunks, the call event log and the call records projected from it.

CREATE TABLE trunks (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    transport TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    allow_ips TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The one event log: append-only, ids increase monotonically.
CREATE TABLE events (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    call_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_call ON events (tenant_id, call_id, id);

-- One row per call, projected from the events of that call when it ends.
CREATE TABLE call_records (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    staff TEXT NOT NULL,
    extension TEXT NOT NULL,
    customer TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    trunk TEXT NOT NULL,
    agent_start BIGINT,
    agent_ring BIGINT,
    agent_answer BIGINT,
    agent_end BIGINT,
    customer_start BIGINT,
    customer_ring BIGINT,
    customer_answer BIGINT,
    customer_end BIGINT,
    ring_secs BIGINT NOT NULL,
    talk_secs BIGINT NOT NULL,
    bill_secs BIGINT NOT NULL,
    cause TEXT NOT NULL,
    hangup_side TEXT NOT NULL,
    recording TEXT NOT NULL,
    recording_repaired BIGINT NOT NULL,
    codeid_1 TEXT NOT NULL,
    codeid_2 TEXT NOT NULL,
    UNIQUE (tenant_id, call_id)
);
CREATE INDEX call_records_time ON call_records (tenant_id, id)
