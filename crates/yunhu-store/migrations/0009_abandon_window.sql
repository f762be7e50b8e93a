-- The rolling window a tenant's abandonment cap is measured over: 1 day or 30 days.
ALTER TABLE tenants ADD COLUMN abandon_window_days BIGINT NOT NULL DEFAULT 1
