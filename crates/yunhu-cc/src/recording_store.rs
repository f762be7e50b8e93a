//! Recordings in S3-compatible object storage. The media engine still writes each recording to
//! the local spool (the recordings directory); when its call's record is written the file is
//! copied to the bucket under `<prefix>/<corp>/<yyyy-mm-dd>/<call id>.wav`, the copy is noted in
//! the store, and the local file is deleted (unless kept). The key depends only on the call, so
//! uploading again — after a crash between the copy and the note, or at start — overwrites the
//! same object. Downloads of a recording no longer on disk stream from the bucket.

use crate::{CcError, Services, TenantId};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use yunhu_store::uploads::RecordingUpload;

/// Where recordings go: the `s3_*` settings.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// The server, for S3-compatible stores (`http://127.0.0.1:9000`); default AWS.
    pub endpoint: Option<String>,
    /// The region; default `us-east-1`.
    pub region: Option<String>,
    /// Access key id; default the `AWS_*` environment or the instance's role.
    pub access_key: Option<String>,
    /// Secret access key.
    pub secret_key: Option<String>,
    /// Keep the local file after it is uploaded.
    pub keep_local: bool,
}

/// The bucket recordings are uploaded to, and what is being uploaded right now.
pub struct RecordingStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    dir: PathBuf,
    keep_local: bool,
    /// Calls whose recording is being uploaded: the end of a call and the sweep at start may
    /// both reach one, and the second must not read a file the first is deleting.
    busy: Mutex<HashSet<(i64, String)>>,
}

impl std::fmt::Debug for RecordingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingStore").field("store", &self.store.to_string()).field("prefix", &self.prefix).finish()
    }
}

/// `s3://bucket/some/prefix` as `(bucket, "some/prefix")`.
fn parse_url(url: &str) -> Result<(String, String), CcError> {
    let rest =
        url.strip_prefix("s3://").ok_or_else(|| CcError::Invalid(format!("s3_url must start s3://, not {url:?}")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(CcError::Invalid("s3_url names no bucket".into()));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// The object key of `call_id`'s recording `recording` (`<corp>/<date>/<file>` as the engine
/// names it): `<prefix>/<corp>/<date>/<call id>.wav`.
pub(crate) fn object_key(prefix: &str, recording: &str, call_id: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')).collect()
    };
    let mut parts = recording.split('/');
    let (corp, date) = match (parts.next(), parts.next(), parts.next()) {
        (Some(corp), Some(date), Some(_)) => (safe(corp), safe(date)),
        _ => ("x".to_string(), "undated".to_string()),
    };
    let call = safe(call_id).trim_start_matches('.').to_string();
    let key = format!("{corp}/{date}/{call}.wav");
    if prefix.is_empty() { key } else { format!("{prefix}/{key}") }
}

impl RecordingStore {
    /// The bucket `settings` name, for recordings spooled in `recordings_dir`. Nothing is
    /// contacted yet.
    pub fn new(settings: &S3Settings, recordings_dir: PathBuf) -> Result<RecordingStore, CcError> {
        let (bucket, prefix) = parse_url(&settings.url)?;
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(settings.region.clone().unwrap_or_else(|| "us-east-1".into()));
        if let Some(endpoint) = &settings.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &settings.access_key {
            b = b.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_key {
            b = b.with_secret_access_key(secret);
        }
        let store = b.build().map_err(|e| CcError::Invalid(format!("s3 settings: {e}")))?;
        Ok(RecordingStore {
            store: Arc::new(store),
            prefix,
            dir: recordings_dir,
            keep_local: settings.keep_local,
            busy: Mutex::default(),
        })
    }

    /// Copies the file at `path` to `key`, streaming (large recordings go up in parts); its length.
    async fn put_file(&self, path: &std::path::Path, key: &str) -> Result<u64, CcError> {
        let mut file =
            tokio::fs::File::open(path).await.map_err(|e| CcError::NotFound(format!("{}: {e}", path.display())))?;
        let location = ObjectPath::from(key);
        let mut out = object_store::buffered::BufWriter::new(self.store.clone(), location.clone());
        let copied = tokio::io::copy(&mut file, &mut out).await;
        if let Err(e) = copied {
            let _ = out.abort().await;
            return Err(CcError::Upstream(format!("uploading {key}: {e}")));
        }
        out.shutdown().await.map_err(|e| CcError::Upstream(format!("uploading {key}: {e}")))?;
        // What the bucket holds, not what was sent, is what the record will promise.
        let meta = self.store.head(&location).await.map_err(|e| CcError::Upstream(format!("checking {key}: {e}")))?;
        Ok(meta.size)
    }
}

/// Drops a call from the busy set when its upload ends, however it ends.
struct Busy<'a>(&'a RecordingStore, (i64, String));

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

impl Services {
    /// Sends recordings to `store` from now on (set once, at start).
    pub fn set_recording_store(&self, store: RecordingStore) {
        let _ = self.recording_store.set(Arc::new(store));
    }

    /// Copies the recording of a call whose record was just written to the object store, in the
    /// background; a failure leaves it in the spool for the next start.
    pub(crate) fn upload_recording_later(&self, tenant: TenantId, call_id: &str, recording: &str) {
        if self.recording_store.get().is_none() || recording.is_empty() {
            return;
        }
        let (services, call_id, recording) = (self.clone(), call_id.to_string(), recording.to_string());
        tokio::spawn(async move {
            if let Err(e) = services.upload_recording(tenant, &call_id, &recording).await {
                tracing::warn!(%call_id, error = %e, "recording not uploaded; it stays in the spool until the next start");
            }
        });
    }

    /// Copies a call's recording to the object store, notes it, and deletes the local file unless
    /// it is kept. `Ok(false)` when there is nothing to do: no store, already uploaded, or another
    /// upload of it under way.
    pub async fn upload_recording(&self, tenant: TenantId, call_id: &str, recording: &str) -> Result<bool, CcError> {
        let Some(store) = self.recording_store.get() else { return Ok(false) };
        if !crate::recordings::stays_inside(recording) {
            return Err(CcError::Invalid(format!("recording name {recording:?}")));
        }
        let id = (tenant.0, call_id.to_string());
        if !store.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone()) {
            return Ok(false);
        }
        let _busy = Busy(store, id);
        let path = store.dir.join(recording);
        if self.db.recording_upload(tenant, recording).await?.is_some() {
            return Ok(false);
        }
        let key = object_key(&store.prefix, recording, call_id);
        let bytes = store.put_file(&path, &key).await?;
        let upload = RecordingUpload {
            call_id: call_id.to_string(),
            recording: recording.to_string(),
            object_key: key.clone(),
            bytes: bytes as i64,
            uploaded_at: self.now_ms(),
        };
        self.db.put_recording_upload(tenant, &upload).await?;
        if !store.keep_local
            && let Err(e) = tokio::fs::remove_file(&path).await
        {
            tracing::warn!(path = %path.display(), error = %e, "uploaded recording could not be removed from the spool");
        }
        tracing::info!(%call_id, %key, bytes, "recording uploaded");
        Ok(true)
    }

    /// At start: uploads every recording a record names that is not in the object store yet and
    /// is still in the spool (left by a crash, a failed upload, or a run without the store).
    /// Returns how many went up.
    pub async fn upload_spooled_recordings(&self) -> Result<usize, CcError> {
        let Some(store) = self.recording_store.get() else { return Ok(0) };
        let mut sent = 0;
        for (tenant, call_id, recording) in self.db.recordings_not_uploaded().await? {
            if !crate::recordings::stays_inside(&recording) || !store.dir.join(&recording).is_file() {
                continue;
            }
            match self.upload_recording(tenant, &call_id, &recording).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%call_id, error = %e, "spooled recording not uploaded"),
            }
        }
        Ok(sent)
    }

    /// The object-store copy of a tenant's recording, when there is a store and a copy.
    pub async fn stored_recording(
        &self,
        tenant: TenantId,
        recording: &str,
    ) -> Result<Option<RecordingUpload>, CcError> {
        if self.recording_store.get().is_none() {
            return Ok(None);
        }
        Ok(self.db.recording_upload(tenant, recording).await?)
    }

    /// Bytes `start..end` of the object `key`, as they arrive from the store.
    pub async fn stored_recording_bytes(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> Result<BoxStream<'static, std::io::Result<bytes::Bytes>>, CcError> {
        let store = self.recording_store.get().ok_or_else(|| CcError::NotFound("object store".into()))?;
        let options = object_store::GetOptions { range: Some((start..end).into()), ..Default::default() };
        let got = store
            .store
            .get_opts(&ObjectPath::from(key), options)
            .await
            .map_err(|e| CcError::Upstream(format!("reading {key}: {e}")))?;
        Ok(got.into_stream().map(|r| r.map_err(std::io::Error::other)).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_the_call_alone() {
        let rec = "777777/2026-11-21/20261121100000_1001_138_abcd1234.wav";
        assert_eq!(object_key("", rec, "abcd1234ef"), "777777/2026-11-21/abcd1234ef.wav");
        assert_eq!(object_key("calls/yunhu", rec, "abcd1234ef"), "calls/yunhu/777777/2026-11-21/abcd1234ef.wav");
        assert_eq!(object_key("", "odd.wav", "../x"), "x/undated/x.wav");
        assert_eq!(parse_url("s3://b/p/q/").unwrap(), ("b".to_string(), "p/q".to_string()));
        assert_eq!(parse_url("s3://b").unwrap(), ("b".to_string(), String::new()));
        assert!(parse_url("http://b").is_err() && parse_url("s3:///p").is_err());
    }
}
