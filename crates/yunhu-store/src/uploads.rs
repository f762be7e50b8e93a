//! Which call recordings have been copied to the object store, and under which key.

use crate::{Db, Result, TenantId};
use sqlx::Row as _;

/// One recording in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingUpload {
    /// The call it belongs to.
    pub call_id: String,
    /// Its name as the call record keeps it (relative to the recordings directory).
    pub recording: String,
    /// The object's key in the bucket.
    pub object_key: String,
    /// Its length in bytes.
    pub bytes: i64,
    /// When it was stored (ms UTC).
    pub uploaded_at: i64,
}

impl Db {
    /// Notes that a call's recording is stored under `u.object_key` (again, if it already was).
    pub async fn put_recording_upload(&self, tenant: TenantId, u: &RecordingUpload) -> Result<()> {
        sqlx::query(
            "INSERT INTO recording_uploads (tenant_id, call_id, recording, object_key, bytes, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, call_id) DO UPDATE SET \
             recording = excluded.recording, object_key = excluded.object_key, bytes = excluded.bytes, \
             uploaded_at = excluded.uploaded_at",
        )
        .bind(tenant.0)
        .bind(&u.call_id)
        .bind(&u.recording)
        .bind(&u.object_key)
        .bind(u.bytes)
        .bind(u.uploaded_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stored copy of a tenant's recording named `recording`, if there is one.
    pub async fn recording_upload(&self, tenant: TenantId, recording: &str) -> Result<Option<RecordingUpload>> {
        let row = sqlx::query(
            "SELECT call_id, recording, object_key, bytes, uploaded_at FROM recording_uploads \
             WHERE tenant_id = $1 AND recording = $2",
        )
        .bind(tenant.0)
        .bind(recording)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RecordingUpload {
                call_id: r.try_get(0)?,
                recording: r.try_get(1)?,
                object_key: r.try_get(2)?,
                bytes: r.try_get(3)?,
                uploaded_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// Calls whose record names a recording not yet in the object store: `(tenant, call, recording)`.
    pub async fn recordings_not_uploaded(&self) -> Result<Vec<(TenantId, String, String)>> {
        let rows = sqlx::query(
            "SELECT c.tenant_id, c.call_id, c.recording FROM call_records c WHERE c.recording <> '' AND NOT EXISTS \
             (SELECT 1 FROM recording_uploads u WHERE u.tenant_id = c.tenant_id AND u.call_id = c.call_id) \
             ORDER BY c.tenant_id, c.call_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((TenantId(r.try_get(0)?), r.try_get(1)?, r.try_get(2)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunhu_core::call::CallRecord;

    async fn notes_uploads(url: &str) {
        let db = Db::open(url).await.unwrap();
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let recorded = |name: &str| CallRecord { recording: name.into(), ..Default::default() };
        let records = vec![
            (t, "a".to_string(), recorded("c/2026-11-21/a.wav")),
            (t, "b".to_string(), recorded("c/2026-11-21/b.wav")),
            (t, "c".to_string(), recorded("")),
        ];
        db.write_batch(Vec::new(), records, true).await.unwrap();
        let pending = |ids: &[&str]| -> Vec<(TenantId, String, String)> {
            ids.iter().map(|id| (t, id.to_string(), format!("c/2026-11-21/{id}.wav"))).collect()
        };
        assert_eq!(db.recordings_not_uploaded().await.unwrap(), pending(&["a", "b"]));
        let mut u = RecordingUpload {
            call_id: "a".into(),
            recording: "c/2026-11-21/a.wav".into(),
            object_key: "p/c/2026-11-21/a.wav".into(),
            bytes: 10,
            uploaded_at: 1,
        };
        db.put_recording_upload(t, &u).await.unwrap();
        // Uploading again (after a crash between the copy and the note) rewrites the one row.
        u.bytes = 12;
        db.put_recording_upload(t, &u).await.unwrap();
        assert_eq!(db.recording_upload(t, "c/2026-11-21/a.wav").await.unwrap(), Some(u));
        assert_eq!(db.recording_upload(TenantId(t.0 + 1), "c/2026-11-21/a.wav").await.unwrap(), None, "per tenant");
        assert_eq!(db.recordings_not_uploaded().await.unwrap(), pending(&["b"]));
        db.close().await;
    }

    #[tokio::test]
    async fn notes_uploads_on_both_backends() {
        for url in crate::testing::scratch_urls().await.unwrap() {
            notes_uploads(&url).await;
        }
    }
}
