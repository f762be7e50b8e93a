//! Recording downloads: a recording is found through the tenant's call records and streamed,
//! whole or by one `Range` of bytes. Shared by every dialect that hands recordings out, and
//! served at `/recordings/<name>` for the signed URLs the dialects list.

use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use yunhu_cc::TenantId;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/recordings/{*name}", get(signed_download))
}

/// Why a recording could not be streamed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DownloadError {
    /// No call record of this tenant has it, or its file is gone.
    NotFound,
    /// The `Range` asked for bytes the file does not have; carries the file's length.
    BadRange(u64),
    /// Reading failed.
    Internal,
}

/// The byte range `[start, end]` a `Range` header asks of a file of `len` bytes: `Ok(None)`
/// for the whole file (no header, or one we do not serve such as several ranges).
pub(crate) fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, DownloadError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(DownloadError::BadRange(len))?;
    let bad = || DownloadError::BadRange(len);
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| bad())?;
            if n == 0 || len == 0 {
                return Err(bad());
            }
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().map_err(|_| bad())?, len.saturating_sub(1)),
        (a, b) => (a.parse().map_err(|_| bad())?, b.parse::<u64>().map_err(|_| bad())?.min(len.saturating_sub(1))),
    };
    if start >= len || end < start {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// Streams the tenant's recording `name`, honouring one byte range.
pub(crate) async fn stream(
    state: &AppState,
    tenant: TenantId,
    name: &str,
    headers: &HeaderMap,
) -> Result<Response, DownloadError> {
    let found = state.services.recording_file(tenant, &state.recordings_dir, name).await.map_err(internal)?;
    let file = found.ok_or(DownloadError::NotFound)?;
    // On local disk while in the spool; once uploaded and gone from it, in the object store.
    let (local, stored, len) = match tokio::fs::File::open(&file.path).await {
        Ok(f) => {
            let len = f.metadata().await.map_err(|_| DownloadError::Internal)?.len();
            (Some(f), None, len)
        }
        Err(_) => {
            let stored = state.services.stored_recording(tenant, &file.name).await.map_err(internal)?;
            let stored = stored.ok_or(DownloadError::NotFound)?;
            let len = u64::try_from(stored.bytes).map_err(|_| DownloadError::Internal)?;
            (None, Some(stored.object_key), len)
        }
    };
    let range = byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len)?;
    let (status, start, count) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, len),
    };
    let body = match (local, stored) {
        (Some(mut f), _) => {
            f.seek(std::io::SeekFrom::Start(start)).await.map_err(|_| DownloadError::Internal)?;
            Body::from_stream(tokio_util::io::ReaderStream::new(f.take(count)))
        }
        (None, Some(key)) if count > 0 => {
            let bytes = state.services.stored_recording_bytes(&key, start, start + count).await.map_err(internal)?;
            Body::from_stream(bytes)
        }
        _ => Body::empty(),
    };
    let base = file.name.rsplit('/').next().unwrap_or("recording.wav").to_string();
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{base}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if range.is_some() {
        let v = format!("bytes {start}-{}/{len}", start + count - 1);
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).map_err(|_| DownloadError::Internal)?);
    }
    Ok(resp)
}

fn internal(e: yunhu_cc::CcError) -> DownloadError {
    tracing::error!(error = %e, "recording lookup");
    DownloadError::Internal
}

/// A plain answer for a failed download outside any dialect's envelope.
pub(crate) fn plain_error(e: DownloadError) -> Response {
    match e {
        DownloadError::NotFound => (StatusCode::NOT_FOUND, "no such recording").into_response(),
        DownloadError::BadRange(len) => {
            let mut r = (StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        DownloadError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
}

/// The absolute URL of a signed recording path, on the host the request came to.
pub(crate) fn absolute(headers: &HeaderMap, path: &str) -> String {
    match headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        Some(host) if host.bytes().all(|b| b.is_ascii_graphic()) => format!("http://{host}{path}"),
        _ => path.to_string(),
    }
}

/// `GET /recordings/<name>?tenant=&expires=&sig=`: the URL a dialect listed, checked and streamed.
async fn signed_download(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = crate::body::Params::parse(query.as_deref(), &HeaderMap::new(), &axum::body::Bytes::new())
        .await
        .unwrap_or_default();
    let int = |n: &str| params.get(n).and_then(|v| v.parse::<i64>().ok());
    let (Some(tenant), Some(expires), Some(sig)) = (int("tenant"), int("expires"), params.get("sig")) else {
        return (StatusCode::FORBIDDEN, "a signed recording URL is needed").into_response();
    };
    if !state.services.recording_url_valid(TenantId(tenant), &name, expires, sig) {
        return (StatusCode::FORBIDDEN, "the recording URL is not valid or has expired").into_response();
    }
    stream(&state, TenantId(tenant), &name, &headers).await.unwrap_or_else(plain_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(DownloadError::BadRange(100)));
        assert_eq!(byte_range(Some("bytes=9-3"), 100), Err(DownloadError::BadRange(100)));
        assert_eq!(byte_range(Some("bytes=x-"), 100), Err(DownloadError::BadRange(100)));
    }
}
