-- Inbound routing: IVR menus as data, the tenant's numbers routed to a menu, a queue or an
-- extension by business hours, each queue's ACD settings and each staff member's skills (JSON).
CREATE TABLE ivrs (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    start_node TEXT NOT NULL,
    nodes TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE inbound_routes (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    number TEXT NOT NULL,
    target TEXT NOT NULL,
    after_hours TEXT NOT NULL,
    hours TEXT NOT NULL,
    holidays TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, number)
);
ALTER TABLE queues ADD COLUMN acd TEXT NOT NULL DEFAULT '{}';
ALTER TABLE staff ADD COLUMN skills TEXT NOT NULL DEFAULT '{}'
