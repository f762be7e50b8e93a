//! The HTTP surface of yunhu: one module per dialect skin, and the native admin API.
//! Skins only parse, authenticate and spell answers; the rules live in `yunhu-cc`.
#![recursion_limit = "256"]

pub mod action;
pub mod admin;
pub mod body;
pub mod crm;
mod jsonw;
mod metrics;
pub mod open95;
mod recordings;
#[cfg(test)]
mod samples;
pub mod sipcdr;
pub mod workbench;

/// The parsers of request parts that are not public otherwise, for the fuzz targets in `fuzz/`;
/// not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// The byte range a `Range` header asks of a recording of `len` bytes: `Some(None)` for the
    /// whole file, `None` for a 416.
    pub fn byte_range(header: Option<&str>, len: u64) -> Option<Option<(u64, u64)>> {
        crate::recordings::byte_range(header, len).ok()
    }
}

use axum::Router;
use yunhu_cc::Services;

/// Shared state of every route.
#[derive(Clone)]
pub struct AppState {
    /// The contact-center services.
    pub services: Services,
    /// Bearer token of the native admin API.
    pub admin_token: std::sync::Arc<str>,
    /// The switch, when telephony runs.
    pub switch: Option<yunhu_cc::switch::Switch>,
    /// The outbound dialer, when telephony runs.
    pub dialer: Option<yunhu_cc::dialer::Dialer>,
    /// Where recordings are kept.
    pub recordings_dir: std::path::PathBuf,
    /// Where uploaded number files are kept (open95 §6.3.2).
    pub files_dir: std::path::PathBuf,
    /// Bearer token of `/metrics`; `None`: loopback clients only.
    pub metrics_token: Option<std::sync::Arc<str>>,
}

/// A JSON answer's bytes, written straight from typed values: listings skip building a
/// `serde_json::Value` tree per row (a map and a string per field).
pub(crate) fn json_body(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 1024);
    // Serializing typed values into memory fails only on non-string map keys, which these lack.
    serde_json::to_writer(&mut out, value).unwrap_or_else(|e| tracing::error!(error = %e, "JSON answer"));
    out
}

/// The whole HTTP router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(open95::routes())
        .merge(admin::routes(state.clone()))
        .merge(action::routes())
        .merge(crm::routes())
        .merge(recordings::routes())
        .merge(sipcdr::routes())
        .merge(workbench::routes())
        .merge(metrics::routes())
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
        .with_state(state)
}

/// The address a request came from, when the server was started with connection info (the
/// binary does; a router driven without it has none). Logins count their failures by it.
pub(crate) fn source_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}
