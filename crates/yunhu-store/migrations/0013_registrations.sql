-- Registrations of record: the contacts each extension registered, kept so that after a restart
-- every phone is still reachable until its registration expires (a later issue shares them
-- between nodes). One row per (domain, user, contact); `source` is where the REGISTER came from
-- (NAT), `transport` udp or tcp, `path` the Path header if the phone came through a proxy that
-- sent one (empty otherwise), `expires_at` ms UTC.
CREATE TABLE registrations (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    domain TEXT NOT NULL,
    username TEXT NOT NULL,
    contact TEXT NOT NULL,
    source TEXT NOT NULL,
    transport TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (domain, username, contact)
);
CREATE INDEX registrations_expiry ON registrations (expires_at)
