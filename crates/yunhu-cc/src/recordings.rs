//! Recordings as the dialects hand them out: found through the call records (never by joining a
//! requested path onto the disk), and reachable by signed, expiring download URLs.

use crate::{CcError, Services, TenantId};
use std::path::{Component, Path, PathBuf};

/// How long a signed recording URL stays valid, seconds.
pub const URL_TTL_SECS: i64 = 24 * 3600;

/// Where a recording is on disk and what to call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    /// The file.
    pub path: PathBuf,
    /// Its name as the call record keeps it (relative).
    pub name: String,
}

/// Whether a recording name, joined onto the recordings directory, stays below it: only plain
/// components, no root, no `..`.
pub(crate) fn stays_inside(name: &str) -> bool {
    Path::new(name).components().all(|c| matches!(c, Component::Normal(_)))
}

impl Services {
    /// The recording a tenant's call record names `name`, below `recordings_dir`; `None` when no
    /// record of this tenant has it. The path on disk comes from the record, not from the request.
    pub async fn recording_file(
        &self,
        tenant: TenantId,
        recordings_dir: &Path,
        name: &str,
    ) -> Result<Option<RecordingFile>, CcError> {
        if name.is_empty() || name.len() > 512 {
            return Ok(None);
        }
        let Some(record) = self.db.call_record_by_recording(tenant, name).await? else { return Ok(None) };
        let stored = record.record.recording;
        // The stored name is ours (sanitised when the call was recorded); refuse anything else anyway.
        if !stays_inside(&stored) {
            tracing::warn!(recording = %stored, "refusing a stored recording name outside the recordings directory");
            return Ok(None);
        }
        Ok(Some(RecordingFile { path: recordings_dir.join(&stored), name: stored }))
    }

    /// A signed download path for a tenant's recording: `/recordings/<name>?tenant=&expires=&sig=`.
    pub fn recording_url(&self, tenant: TenantId, name: &str) -> String {
        let expires = self.now_ms() / 1000 + URL_TTL_SECS;
        let sig = self.sealer.mac(format!("{}\n{name}\n{expires}", tenant.0).as_bytes());
        format!("/recordings/{name}?tenant={}&expires={expires}&sig={sig}", tenant.0)
    }

    /// Whether a recording URL's signature is ours and has not expired.
    pub fn recording_url_valid(&self, tenant: TenantId, name: &str, expires: i64, sig: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.sealer.mac(format!("{}\n{name}\n{expires}", tenant.0).as_bytes());
        expires >= self.now_ms() / 1000 && bool::from(expected.as_bytes().ct_eq(sig.to_ascii_lowercase().as_bytes()))
    }
}
