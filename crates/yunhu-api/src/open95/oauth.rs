//! `POST /oauth/token` (seed 002 §6.1): client-credentials grants, JSON only.

use crate::AppState;
use crate::body::{Params, RawBody};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use yunhu_cc::auth::OAuthError;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"oauth2/client\""));
    }
    resp
}

pub(super) async fn token(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: RawBody,
) -> Response {
    let params = match Params::read(query.as_deref(), &headers, &body).await {
        Ok(p) => p,
        Err(e) if e.is_too_large() => return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", &e.0),
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e.0),
    };
    let issued = state
        .services
        .issue_token(
            crate::source_ip(&extensions),
            params.get("client_id"),
            params.get("client_secret"),
            params.get("grant_type"),
            params.get("scope"),
        )
        .await;
    match issued {
        Ok(Ok(t)) => {
            let body = json!({
                "access_token": t.access_token,
                "token_type": "bearer",
                "expires_in": t.expires_in,
                "scope": t.scopes.join(" "),
            });
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
        }
        Ok(Err(OAuthError::InvalidClient(d))) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", &d),
        Ok(Err(OAuthError::InvalidScope(d))) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &d),
        Ok(Err(OAuthError::InvalidRequest(d))) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &d),
        // RFC 6749's code for a server that cannot take the request now.
        Ok(Err(OAuthError::TemporarilyUnavailable(d))) => {
            let mut resp = oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", &d);
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "token request failed in the store");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal error")
        }
    }
}
