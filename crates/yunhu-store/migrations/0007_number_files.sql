-- Number files of open95 §6.3.2 (号码文件): one row per uploaded file. The bytes live on disk
-- under `<data_dir>/numberfiles/<corp>/<id>`, found through this table only, so a client's file
-- name never becomes a path. `name` is what the API calls the file (renamable); `original_name`
-- is the name it was uploaded under. A deleted file keeps its row (deleted = 1) and frees its name.
CREATE TABLE number_files (
    id {serial_pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);

-- A live name is unique in its tenant; both backends take partial indexes.
CREATE UNIQUE INDEX number_files_live_name ON number_files (tenant_id, name) WHERE deleted = 0
