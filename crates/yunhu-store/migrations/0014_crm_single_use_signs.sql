-- A crm tenant may ask for single-use signs (each sign serves one request); by default a valid
-- sign serves every request of its 300 s window, as the public crm SDK expects.
ALTER TABLE tenant_credentials ADD COLUMN single_use BIGINT NOT NULL DEFAULT 0
