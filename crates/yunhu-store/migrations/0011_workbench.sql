-- The agent workbench (seed 003): desk passwords, the tenant's wrap-up limit and its own
-- not-ready reasons, CRM custom fields and the customer records the screen pop shows.

-- argon2 hash of the staff member's desk password; empty: no desk login.
ALTER TABLE staff ADD COLUMN desk_hash TEXT NOT NULL DEFAULT '';

-- After-call work: 0 none, -1 until the form or nextCall, n > 0 at most n seconds.
ALTER TABLE tenants ADD COLUMN wrap_up_secs BIGINT NOT NULL DEFAULT 0;
-- The tenant's own not-ready reasons beside the built-in ones, as a JSON object code -> name.
ALTER TABLE tenants ADD COLUMN not_ready_reasons TEXT NOT NULL DEFAULT '{}';

-- CRM custom fields of the customer form, per project ('' = every project of the tenant).
-- kind: text, long_text, select, multi_select, checkbox; options: a JSON array of strings.
CREATE TABLE crm_fields (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    options TEXT NOT NULL,
    required BIGINT NOT NULL DEFAULT 0,
    position BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, project, name)
);

-- A customer record as the desk shows it (seed 003 `info`): one per task and number (task 0:
-- the tenant's own customers), made from the number file or AddCBaseData row when first popped.
-- `fields` holds the submitted CRM field values as a JSON object.
CREATE TABLE customer_forms (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    uuid TEXT NOT NULL UNIQUE,
    task_id BIGINT NOT NULL,
    project TEXT NOT NULL,
    telephone TEXT NOT NULL,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    fields TEXT NOT NULL,
    status BIGINT NOT NULL,
    owner TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    edited_at BIGINT,
    edited_by TEXT NOT NULL DEFAULT '',
    UNIQUE (tenant_id, task_id, telephone)
)
