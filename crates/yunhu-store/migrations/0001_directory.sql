-- Tenants (企业) and their directory: teams, skill groups, staff, caller ids, scripts,
-- work-order objects, outbound projects, API clients and per-dialect credentials.
-- Times are milliseconds since the Unix epoch, UTC. Rows are never hard-deleted by
-- provisioning: `deleted` = 1 hides them while call data that points at them stays whole.

CREATE TABLE tenants (
    id {serial_pk},
    corp_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    sip_domain TEXT NOT NULL UNIQUE,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per tenant and dialect: crm (email + sealed secret key), sipcdr (appid + hashed
-- access key), action (company id + hashed auth code). `principal` finds the tenant at login.
CREATE TABLE tenant_credentials (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    principal TEXT NOT NULL,
    secret TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
CREATE UNIQUE INDEX tenant_credentials_principal ON tenant_credentials (kind, principal);

-- open95 OAuth2 clients. Only hashes of the secret and of the current token are kept; the
-- token columns hold the one live token (a new one replaces, and so voids, the previous one).
CREATE TABLE api_clients (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    token_scopes TEXT,
    token_expires_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX api_clients_tenant ON api_clients (tenant_id);

CREATE TABLE teams (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);

CREATE TABLE data_objects (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);

CREATE TABLE scripts (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    content TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE caller_ids (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    number TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, number)
);

CREATE TABLE projects (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);

-- Skill groups (技能组). Inbound ones route calls; outbound ones carry a dialing task.
CREATE TABLE queues (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    direction TEXT NOT NULL,
    data_object TEXT NOT NULL,
    script TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    tip_timeout BIGINT NOT NULL,
    project TEXT NOT NULL,
    call_type BIGINT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, code)
);

-- Staff (员工). `sip_ha1` is MD5(extension:realm:password), what SIP digest needs, never the password.
CREATE TABLE staff (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_code TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    name TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    sip_ha1 TEXT NOT NULL,
    role TEXT NOT NULL,
    team TEXT NOT NULL,
    default_queue TEXT NOT NULL,
    work_phone TEXT NOT NULL,
    email TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    phone_take_along BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    remark TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_code)
);
CREATE UNIQUE INDEX staff_extension ON staff (tenant_id, agent_id) WHERE deleted = 0 AND agent_id <> '';

CREATE TABLE staff_queues (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    user_code TEXT NOT NULL,
    queue_code TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_code, queue_code)
)
