-- SMS from the agent desk: each tenant's provider settings, its templates, and every message an
-- agent sent or tried to send.

-- One row per tenant. `secret_sealed` is the provider secret sealed with the master key (the
-- signing needs it back); `endpoint` is empty for the provider's real host.
CREATE TABLE sms_settings (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    provider TEXT NOT NULL,
    access_key_id TEXT NOT NULL DEFAULT '',
    secret_sealed TEXT NOT NULL DEFAULT '',
    sign_name TEXT NOT NULL DEFAULT '',
    template_code TEXT NOT NULL DEFAULT '',
    template_param TEXT NOT NULL DEFAULT '',
    app_id TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    rate_per_minute BIGINT NOT NULL DEFAULT 10,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Texts agents start from, with placeholders ({name}, {telephone}, {staff}); at most one per
-- tenant has is_default = 1.
CREATE TABLE sms_templates (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Every message: `status` is sending (the provider has not answered yet), sent, failed or
-- refused; `error` says why it was not sent. `telephone` is kept whole, listings mask it.
CREATE TABLE sms_messages (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    staff TEXT NOT NULL,
    telephone TEXT NOT NULL,
    body TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_message_id TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The rate limit counts an agent's recent messages; listings go newest first.
CREATE INDEX sms_messages_staff ON sms_messages (tenant_id, staff, created_at);
CREATE INDEX sms_messages_tenant ON sms_messages (tenant_id, id)
