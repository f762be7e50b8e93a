-- Recordings copied to the object store: a row is written only after the object was stored, so a
-- call with a recording and no row still has its recording in the local spool.
CREATE TABLE recording_uploads (
    tenant_id BIGINT NOT NULL,
    call_id TEXT NOT NULL,
    recording TEXT NOT NULL,
    object_key TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, call_id)
);
-- Downloads find the object by the recording name the signed address carries.
CREATE INDEX recording_uploads_recording ON recording_uploads (tenant_id, recording)
