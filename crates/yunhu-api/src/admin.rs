//! The native admin API under `/yunhu/v1`, for operators: tenants and their directory, the same
//! services the provisioning file and the admin CLI use. Described by `/yunhu/v1/openapi.json`.
//! Every call but the description needs `Authorization: Bearer <admin token>`.

use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use yunhu_cc::objects::Kind;
use yunhu_cc::provision::{ProvisionDoc, ProvisionReport, TenantSpec};
use yunhu_cc::sms::{SmsConfigSpec, SmsStatus, SmsTemplateSpec};
use yunhu_cc::switch::{CallRef, Control, ControlError, SpyMode};
use yunhu_cc::{CcError, Change};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/yunhu/v1/provision", post(provision))
        .route("/yunhu/v1/tenants", get(list_tenants))
        .route("/yunhu/v1/tenants/{corp}", get(get_tenant).put(put_tenant).delete(delete_tenant))
        .route("/yunhu/v1/tenants/{corp}/{kind}", get(list_objects))
        .route("/yunhu/v1/tenants/{corp}/{kind}/{key}", axum::routing::put(put_object).delete(delete_object))
        .route("/yunhu/v1/tenants/{corp}/tasks/{id}/pacing", get(task_pacing))
        .route("/yunhu/v1/tenants/{corp}/sms", get(get_sms_config).put(put_sms_config))
        .route("/yunhu/v1/tenants/{corp}/sms/templates", get(list_sms_templates))
        .route(
            "/yunhu/v1/tenants/{corp}/sms/templates/{name}",
            get(get_sms_template).put(put_sms_template).delete(delete_sms_template),
        )
        .route("/yunhu/v1/tenants/{corp}/sms/messages", get(list_sms_messages))
        .route("/yunhu/v1/tenants/{corp}/announcements", post(announce))
        .route("/yunhu/v1/tenants/{corp}/queues/{code}/wallboard", get(wallboard))
        .route("/yunhu/v1/tenants/{corp}/queues/{code}/history", get(queue_history))
        .route("/yunhu/v1/tenants/{corp}/calls/{call_id}/{action}", post(call_control))
        .route("/yunhu/v1/tenants/{corp}/agents/{staff}/call/{action}", post(agent_call_control))
        // The token is checked before anything of the request is read, its body included.
        .route_layer(axum::middleware::from_fn_with_state(state, guard));
    Router::new().route("/yunhu/v1/openapi.json", get(openapi)).merge(guarded)
}

/// Refuses a request without the admin token before its handler reads anything.
async fn guard(State(s): State<AppState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match authorize(&s, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// A request body of at most [`crate::body::MAX_BODY`] bytes; a body it cannot read is the admin
/// API's JSON error (413 when too large), never axum's plain text.
struct Body(axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = AdminError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AdminError> {
        let crate::body::RawBody(read) =
            crate::body::RawBody::from_request(req, state).await.unwrap_or_else(|e| match e {});
        read.map(Body).map_err(|e| {
            let status = if e.is_too_large() { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            AdminError(status, e.0)
        })
    }
}

/// A JSON body, whatever its `Content-Type`; anything else is the admin API's 400.
struct JsonBody(Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = AdminError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AdminError> {
        let Body(bytes) = Body::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("body must be JSON: {e}")))
    }
}

/// A UTF-8 text body; anything else is the admin API's 400.
struct TextBody(String);

impl<S: Send + Sync> axum::extract::FromRequest<S> for TextBody {
    type Rejection = AdminError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AdminError> {
        let Body(bytes) = Body::from_request(req, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(TextBody)
            .map_err(|_| AdminError(StatusCode::BAD_REQUEST, "body must be UTF-8 text".into()))
    }
}

struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = match self.0 {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::BAD_REQUEST => "invalid",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::BAD_GATEWAY => "upstream",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "internal",
        };
        let mut resp = (self.0, Json(json!({ "error": code, "message": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<CcError> for AdminError {
    fn from(e: CcError) -> Self {
        match e {
            CcError::NotFound(m) => AdminError(StatusCode::NOT_FOUND, format!("not found: {m}")),
            CcError::Invalid(m) => AdminError(StatusCode::BAD_REQUEST, m),
            CcError::Conflict(m) => AdminError(StatusCode::CONFLICT, m),
            CcError::Refused(m) => AdminError(StatusCode::FORBIDDEN, m),
            CcError::Upstream(m) => AdminError(StatusCode::BAD_GATEWAY, m),
            CcError::Store(e) => {
                tracing::error!(error = %e, "admin request failed in the store");
                AdminError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

type AdminResult = Result<Response, AdminError>;

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AdminError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !given.is_empty() && bool::from(given.as_bytes().ct_eq(state.admin_token.as_bytes())) {
        Ok(())
    } else {
        Err(AdminError(StatusCode::UNAUTHORIZED, "admin token missing or wrong".into()))
    }
}

fn kind(name: &str) -> Result<Kind, AdminError> {
    Kind::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        AdminError(StatusCode::NOT_FOUND, format!("unknown object kind {name:?}; known: {}", known.join(", ")))
    })
}

fn report(r: ProvisionReport) -> Response {
    Json(json!(r)).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn provision(State(s): State<AppState>, headers: HeaderMap, TextBody(body): TextBody) -> AdminResult {
    authorize(&s, &headers)?;
    let doc = ProvisionDoc::from_toml(&body)?;
    Ok(report(s.services.apply_provisioning(&doc).await?))
}

fn tenant_json(t: &yunhu_cc::Tenant) -> Value {
    json!({
        "corp_id": t.corp_id,
        "tenant_id": t.id.0,
        "name": t.name,
        "time_zone": t.time_zone,
        "sip_domain": t.sip_domain,
    })
}

async fn list_tenants(State(s): State<AppState>, headers: HeaderMap) -> AdminResult {
    authorize(&s, &headers)?;
    let tenants = s.services.db().list_tenants().await.map_err(CcError::from)?;
    Ok(Json(Value::Array(tenants.iter().map(tenant_json).collect())).into_response())
}

async fn get_tenant(State(s): State<AppState>, headers: HeaderMap, Path(corp): Path<String>) -> AdminResult {
    authorize(&s, &headers)?;
    Ok(Json(tenant_json(&s.services.tenant(&corp).await?)).into_response())
}

async fn put_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(corp): Path<String>,
    JsonBody(mut spec): JsonBody,
) -> AdminResult {
    authorize(&s, &headers)?;
    match spec.get("corp_id") {
        None => spec["corp_id"] = Value::from(corp.as_str()),
        Some(v) if v.as_str() == Some(corp.as_str()) => {}
        Some(_) => return Err(AdminError(StatusCode::BAD_REQUEST, "corp_id in the body differs from the path".into())),
    }
    let spec: TenantSpec =
        serde_json::from_value(spec).map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("tenant spec: {e}")))?;
    let doc = ProvisionDoc { tenant: vec![spec] };
    Ok(report(s.services.apply_provisioning(&doc).await?))
}

async fn delete_tenant(State(s): State<AppState>, headers: HeaderMap, Path(corp): Path<String>) -> AdminResult {
    authorize(&s, &headers)?;
    s.services.delete_tenant(&corp).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_objects(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, kind_name)): Path<(String, String)>,
) -> AdminResult {
    authorize(&s, &headers)?;
    let items = s.services.list_objects(&corp, kind(&kind_name)?).await?;
    Ok(Json(Value::Array(items)).into_response())
}

async fn put_object(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, kind_name, key)): Path<(String, String, String)>,
    JsonBody(mut spec): JsonBody,
) -> AdminResult {
    authorize(&s, &headers)?;
    let kind = kind(&kind_name)?;
    let field = kind.spec_key();
    match spec.get(field) {
        None => spec[field] = Value::from(key.as_str()),
        Some(v) if v.as_str() == Some(key.as_str()) => {}
        Some(_) => {
            return Err(AdminError(StatusCode::BAD_REQUEST, format!("{field} in the body differs from the path")));
        }
    }
    Ok(put_result(s.services.put_object(&corp, kind, spec).await?))
}

/// `201 {"result": "created"}`, or `200` with `updated` / `unchanged`.
fn put_result(change: Change) -> Response {
    let status = if change == Change::Created { StatusCode::CREATED } else { StatusCode::OK };
    let word = match change {
        Change::Created => "created",
        Change::Updated => "updated",
        Change::Unchanged => "unchanged",
    };
    (status, Json(json!({ "result": word }))).into_response()
}

async fn delete_object(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, kind_name, key)): Path<(String, String, String)>,
) -> AdminResult {
    authorize(&s, &headers)?;
    s.services.delete_object(&corp, kind(&kind_name)?, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/tasks/{id}/pacing`: why the dialer dials what it does for an
/// outbound task: its latest decision, and the decisions that dialed (newest first, at most 50).
async fn task_pacing(
    State(state): State<AppState>,
    Path((corp, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> AdminResult {
    authorize(&state, &headers)?;
    let tenant = state.services.tenant(&corp).await?;
    state.services.task(tenant.id, id).await?;
    let latest = state.dialer.as_ref().and_then(|d| d.explain(tenant.id, id));
    let events = state.services.db().call_events(tenant.id, &format!("task/{id}")).await.map_err(CcError::from)?;
    let decisions: Vec<Value> = events
        .iter()
        .rev()
        .take(50)
        .map(|(_, _, at, data)| json!({ "at": at, "decision": serde_json::from_str::<Value>(data).unwrap_or(Value::Null) }))
        .collect();
    Ok(Json(json!({ "task": id, "latest": latest, "decisions": decisions })).into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/sms`: the tenant's SMS provider settings, never the secret.
async fn get_sms_config(State(s): State<AppState>, headers: HeaderMap, Path(corp): Path<String>) -> AdminResult {
    authorize(&s, &headers)?;
    Ok(Json(s.services.sms_config(&corp).await?).into_response())
}

/// `PUT /yunhu/v1/tenants/{corp}/sms`: sets the tenant's SMS provider and its settings.
async fn put_sms_config(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(corp): Path<String>,
    JsonBody(spec): JsonBody,
) -> AdminResult {
    authorize(&s, &headers)?;
    let spec: SmsConfigSpec =
        serde_json::from_value(spec).map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("sms spec: {e}")))?;
    Ok(put_result(s.services.put_sms_config(&corp, &spec).await?))
}

/// `GET /yunhu/v1/tenants/{corp}/sms/templates`: the tenant's SMS templates.
async fn list_sms_templates(State(s): State<AppState>, headers: HeaderMap, Path(corp): Path<String>) -> AdminResult {
    authorize(&s, &headers)?;
    Ok(Json(s.services.sms_templates(&corp).await?).into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/sms/templates/{name}`: one SMS template.
async fn get_sms_template(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, name)): Path<(String, String)>,
) -> AdminResult {
    authorize(&s, &headers)?;
    Ok(Json(s.services.sms_template(&corp, &name).await?).into_response())
}

/// `PUT /yunhu/v1/tenants/{corp}/sms/templates/{name}`: creates or updates an SMS template.
async fn put_sms_template(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, name)): Path<(String, String)>,
    JsonBody(mut spec): JsonBody,
) -> AdminResult {
    authorize(&s, &headers)?;
    match spec.get("name") {
        None => spec["name"] = Value::from(name.as_str()),
        Some(v) if v.as_str() == Some(name.as_str()) => {}
        Some(_) => return Err(AdminError(StatusCode::BAD_REQUEST, "name in the body differs from the path".into())),
    }
    let spec: SmsTemplateSpec = serde_json::from_value(spec)
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("sms template spec: {e}")))?;
    Ok(put_result(s.services.put_sms_template(&corp, &spec).await?))
}

/// `DELETE /yunhu/v1/tenants/{corp}/sms/templates/{name}`.
async fn delete_sms_template(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, name)): Path<(String, String)>,
) -> AdminResult {
    authorize(&s, &headers)?;
    s.services.delete_sms_template(&corp, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/sms/messages?staff=&status=&page=&page_size=`: the tenant's
/// messages, newest first, numbers masked.
async fn list_sms_messages(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(corp): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> AdminResult {
    authorize(&s, &headers)?;
    let bad = |m: String| AdminError(StatusCode::BAD_REQUEST, m);
    let number = |key: &str, default: i64| match q.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => {
            v.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| bad(format!("{key} must be a number from 1")))
        }
    };
    let (page, page_size) = (number("page", 1)?, number("page_size", 20)?);
    let status = match q.get("status").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            SmsStatus::parse(v)
                .ok_or_else(|| bad(format!("status {v:?} is not one of sending, sent, failed, refused")))?,
        ),
    };
    let staff = q.get("staff").map(|v| v.trim()).filter(|v| !v.is_empty());
    let tenant = s.services.tenant(&corp).await?;
    Ok(Json(s.services.sms_messages(tenant.id, staff, status, page, page_size).await?).into_response())
}

/// What a call-control request asks for: the action from the path, details from the body.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlBody {
    /// Transfer and meeting: an extension, staff account or outside number.
    #[serde(default)]
    to: Option<String>,
    /// Transfer: consult first (`true`) or hand over at once.
    #[serde(default)]
    attended: bool,
    /// Spy: the supervisor's account or extension.
    #[serde(default)]
    supervisor: Option<String>,
    /// Spy: `listen`, `whisper` or `barge`.
    #[serde(default)]
    mode: Option<String>,
}

fn control_of(action: &str, body: ControlBody) -> Result<Control, AdminError> {
    let bad = |m: &str| AdminError(StatusCode::BAD_REQUEST, m.to_string());
    let mode = |m: Option<String>| {
        let m = m.ok_or_else(|| bad("mode is required: listen, whisper or barge"))?;
        SpyMode::parse(&m).ok_or_else(|| bad(&format!("mode {m:?} is not one of listen, whisper, barge")))
    };
    Ok(match action {
        "hold" => Control::Hold,
        "unhold" => Control::Unhold,
        "hangup" => Control::Hangup,
        "transfer" => {
            let to = body.to.ok_or_else(|| bad("to is required: an extension, account or number"))?;
            if body.attended { Control::Consult { to } } else { Control::Transfer { to } }
        }
        "transfer-complete" => Control::CompleteTransfer,
        "transfer-cancel" => Control::CancelTransfer,
        "meeting" => Control::Meeting { to: body.to.ok_or_else(|| bad("to is required: who joins the meeting"))? },
        "spy" => Control::Spy {
            supervisor: body.supervisor.ok_or_else(|| bad("supervisor is required"))?,
            mode: mode(body.mode)?,
        },
        "spy-mode" => Control::SpyMode(mode(body.mode)?),
        other => {
            return Err(AdminError(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown call action {other:?}; known: hold, unhold, transfer, transfer-complete, \
                     transfer-cancel, meeting, spy, spy-mode, hangup"
                ),
            ));
        }
    })
}

async fn run_control(s: &AppState, corp: &str, call: CallRef, action: &str, body: &[u8]) -> AdminResult {
    let body: ControlBody = if body.iter().all(u8::is_ascii_whitespace) {
        ControlBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("body: {e}")))?
    };
    let control = control_of(action, body)?;
    let tenant = s.services.tenant(corp).await?;
    let switch = s
        .switch
        .as_ref()
        .ok_or_else(|| AdminError(StatusCode::CONFLICT, "telephony is not running (sip_listen is off)".into()))?;
    match switch.control(&tenant, &call, control).await {
        Ok(call_id) => Ok(Json(json!({ "call_id": call_id, "action": action })).into_response()),
        Err(ControlError::NoCall) => Err(AdminError(StatusCode::NOT_FOUND, "no such live call in this tenant".into())),
        Err(ControlError::Refused(r)) => Err(AdminError(StatusCode::CONFLICT, r.to_string())),
        Err(ControlError::Dial(e)) => Err(AdminError(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e @ ControlError::NotAllowed(_)) => Err(AdminError(StatusCode::FORBIDDEN, e.to_string())),
    }
}

/// `POST /yunhu/v1/tenants/{corp}/announcements` `{"msg": "..."}`: an announcement (公告) to
/// every agent of the tenant, pushed to their desktops as a `message` frame.
async fn announce(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(corp): Path<String>,
    Body(body): Body,
) -> AdminResult {
    authorize(&s, &headers)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, format!("body must be JSON {{\"msg\": ...}}: {e}")))?;
    let msg =
        body["msg"].as_str().ok_or_else(|| AdminError(StatusCode::BAD_REQUEST, "msg (text) is required".into()))?;
    let tenant = s.services.tenant(&corp).await?;
    let id = s.services.announce(tenant.id, msg).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/queues/{code}/wallboard`: a queue at a glance.
async fn wallboard(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, code)): Path<(String, String)>,
) -> AdminResult {
    authorize(&s, &headers)?;
    let tenant = s.services.tenant(&corp).await?;
    let switch = s.switch.as_ref().ok_or_else(|| AdminError(StatusCode::CONFLICT, "telephony is off".into()))?;
    let board = switch.wallboard(&tenant, &code).await?;
    Ok(Json(board).into_response())
}

/// `GET /yunhu/v1/tenants/{corp}/queues/{code}/history?from=&to=&interval=900&sl=`: a queue's
/// callers per interval from the call records. `from` and `to` are RFC 3339 or Unix seconds
/// (default the last 24 hours), `interval` seconds (at least 60), `sl` the service-level
/// threshold T in seconds (default the queue's, 20).
async fn queue_history(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, code)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> AdminResult {
    authorize(&s, &headers)?;
    let tenant = s.services.tenant(&corp).await?;
    let bad = |name: &str| AdminError(StatusCode::BAD_REQUEST, format!("{name}: RFC 3339 or Unix seconds"));
    let time = |name: &str| -> Result<Option<i64>, AdminError> {
        let Some(v) = q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else { return Ok(None) };
        if let Ok(secs) = v.parse::<i64>() {
            return secs.checked_mul(1000).map(Some).ok_or_else(|| bad(name));
        }
        chrono::DateTime::parse_from_rfc3339(v).map(|t| Some(t.timestamp_millis())).map_err(|_| bad(name))
    };
    let number = |name: &str| -> Result<Option<i64>, AdminError> {
        match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| AdminError(StatusCode::BAD_REQUEST, format!("{name}: seconds"))),
        }
    };
    let to = time("to")?.unwrap_or_else(|| s.services.clock().now().timestamp_millis());
    let from = time("from")?.unwrap_or(to - 24 * 3600 * 1000);
    let interval = number("interval")?.unwrap_or(900);
    let sl = number("sl")?;
    let history = s.services.queue_history(&tenant, &code, (from, to), interval, sl).await?;
    Ok(Json(history).into_response())
}

/// `POST /yunhu/v1/tenants/{corp}/calls/{call_id}/{action}`: call control by call id.
async fn call_control(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, call_id, action)): Path<(String, String, String)>,
    Body(body): Body,
) -> AdminResult {
    authorize(&s, &headers)?;
    run_control(&s, &corp, CallRef::Call(call_id), &action, &body).await
}

/// `POST /yunhu/v1/tenants/{corp}/agents/{staff}/call/{action}`: call control of the call a
/// staff member (account or extension) is on.
async fn agent_call_control(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((corp, staff, action)): Path<(String, String, String)>,
    Body(body): Body,
) -> AdminResult {
    authorize(&s, &headers)?;
    run_control(&s, &corp, CallRef::Staff(staff), &action, &body).await
}
