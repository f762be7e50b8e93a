-- Customer records assigned to staff (action AddCBaseData, seed 004): one per staff member and
-- phone number.
CREATE TABLE customers (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    staff TEXT NOT NULL,
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    email TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, staff, phone)
)
