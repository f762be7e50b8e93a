//! The open95 skin (seed 002): OAuth2 tokens, the `{code, message, success, data}` envelope in
//! JSON or XML, and the endpoints.
//!
//! Appendix 1 gives only 0 (成功), -1 (未知错误), 1001/1002 (公共异常) and 10101 (业务异常) without
//! meanings; yunhu uses 1001 for bad parameters (HTTP 400), 1002 for a refused token (HTTP
//! 401/403), 10101 for business errors such as an unknown id (HTTP 200), -1 for internal faults.

mod base;
mod calls;
mod files;
mod oauth;
mod outbound;

use crate::AppState;
use crate::body::{BodyError, Params};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value, json};
use std::future::Future;
use yunhu_cc::auth::{Scope, TokenError};
use yunhu_cc::{CcError, Services, Tenant};

/// Largest page a listing returns, whatever `pageSize` asks.
pub const MAX_PAGE_SIZE: i64 = 100;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/employeeInfo/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, base::employee_page)))
        .route("/agentDesk/token", post(|s: State<AppState>, r: Request| run(s, r, base::agent_desk_token)))
        .route("/employeeInfo/resetQueues", put(|s: State<AppState>, r: Request| run(s, r, base::reset_queues)))
        .route("/skills/loadQueueInfo", get(|s: State<AppState>, r: Request| run(s, r, base::load_queue_info)))
        .route("/openWords/getJsonOption", get(|s: State<AppState>, r: Request| run(s, r, base::open_words)))
        .route("/dataObject/search", get(|s: State<AppState>, r: Request| run(s, r, base::data_objects)))
        .route("/accessTelNum/getJsonOption", get(|s: State<AppState>, r: Request| run(s, r, base::caller_ids)))
        .route("/employeeHistories/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, calls::agent_history)))
        .route(
            "/callHistory/pageSearchCallHistory",
            get(|s: State<AppState>, r: Request| run_typed(s, r, calls::call_history)),
        )
        .route("/callHistory/detailBySid", get(|s: State<AppState>, r: Request| run_typed(s, r, calls::call_detail)))
        .route("/record/pageSearch4Record", get(|s: State<AppState>, r: Request| run(s, r, calls::recordings)))
        .route("/record/recordDownload", get(|s: State<AppState>, r: Request| run_raw(s, r, calls::download)))
        .route("/outProject/insert", post(|s: State<AppState>, r: Request| run(s, r, outbound::project_insert)))
        .route("/outProject/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, outbound::project_page)))
        .route("/outProject/findById", get(|s: State<AppState>, r: Request| run(s, r, outbound::project_find)))
        .route("/outProject/update", put(|s: State<AppState>, r: Request| run(s, r, outbound::project_update)))
        .route("/outProject/delete", delete(|s: State<AppState>, r: Request| run(s, r, outbound::project_delete)))
        .route(
            "/files/upload",
            post(|s: State<AppState>, r: Request| run_upload(s, r, files::upload)).layer(upload_limit()),
        )
        .route("/files/search", get(|s: State<AppState>, r: Request| run(s, r, files::search)))
        .route("/files/download", get(|s: State<AppState>, r: Request| run_raw(s, r, files::download)))
        .route("/files/rename", put(|s: State<AppState>, r: Request| run(s, r, files::rename)))
        .route("/files/delete", delete(|s: State<AppState>, r: Request| run(s, r, files::remove)))
        .route(
            "/artificialOutTask/insert",
            post(|s: State<AppState>, r: Request| run_upload(s, r, outbound::task_insert)).layer(upload_limit()),
        )
        .route("/artificialOutTask/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, outbound::task_page)))
        .route("/artificialOutTask/findById", get(|s: State<AppState>, r: Request| run(s, r, outbound::task_find)))
        .route("/artificialOutTask/update", put(|s: State<AppState>, r: Request| run(s, r, outbound::task_update)))
        .route(
            "/artificialOutTask/append",
            post(|s: State<AppState>, r: Request| run_upload(s, r, outbound::task_append)).layer(upload_limit()),
        )
        .route("/artificialOutTask/startCall", put(|s: State<AppState>, r: Request| run(s, r, outbound::task_start)))
        .route("/artificialOutTask/pauseCall", put(|s: State<AppState>, r: Request| run(s, r, outbound::task_pause)))
        .route("/artificialOutTask/stopCall", put(|s: State<AppState>, r: Request| run(s, r, outbound::task_stop)))
        .route("/artificialOutTask/recall", put(|s: State<AppState>, r: Request| run(s, r, outbound::task_recall)))
        .route(
            "/artificialOutTask/changeState",
            put(|s: State<AppState>, r: Request| run(s, r, outbound::task_terminate)),
        )
        .route("/artificialOutTask/read", get(|s: State<AppState>, r: Request| run(s, r, outbound::task_read)))
        .route("/artificialOutTask/delete", delete(|s: State<AppState>, r: Request| run(s, r, outbound::task_delete)))
        .route(
            "/queueUser/pageSearchCanAddUsers",
            get(|s: State<AppState>, r: Request| run(s, r, outbound::members_addable)),
        )
        .route("/queueUser/insert", post(|s: State<AppState>, r: Request| run(s, r, outbound::members_insert)))
        .route("/queueUser/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, outbound::members_page)))
        .route("/queueUser/delete", delete(|s: State<AppState>, r: Request| run(s, r, outbound::members_delete)))
        .route("/outboundContacts/pageSearch", get(|s: State<AppState>, r: Request| run(s, r, outbound::contacts_page)))
}

/// The body limit of the routes that take a file, over the router's small default.
fn upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(files::MAX_UPLOAD_BODY)
}

/// What an endpoint sees: the services, the token's tenant, the parameters.
pub(crate) struct Ctx {
    pub svc: Services,
    pub tenant: Tenant,
    pub params: Params,
    pub state: AppState,
    pub headers: HeaderMap,
    /// The file parts of a multipart body (endpoints that take files only).
    pub files: Vec<files::Upload>,
}

/// An open95 error answer.
#[derive(Debug)]
pub(crate) struct Open95Error {
    status: StatusCode,
    code: i64,
    message: String,
    challenge: Option<&'static str>,
}

impl Open95Error {
    /// An error with its own HTTP status and code.
    pub fn with_status(status: StatusCode, code: i64, message: String) -> Self {
        Self { status, code, message, challenge: None }
    }

    /// A bad parameter: code 1001, HTTP 400.
    pub fn param(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: 1001, message: message.into(), challenge: None }
    }

    fn token(error: TokenError) -> Self {
        match error {
            TokenError::Invalid => Self {
                status: StatusCode::UNAUTHORIZED,
                code: 1002,
                message: "access_token 无效或已过期 (invalid or expired access_token)".into(),
                challenge: Some("Bearer error=\"invalid_token\""),
            },
            TokenError::InsufficientScope => Self {
                status: StatusCode::FORBIDDEN,
                code: 1002,
                message: "access_token 权限不足 (token lacks the scope this request needs)".into(),
                challenge: Some("Bearer error=\"insufficient_scope\""),
            },
        }
    }
}

impl From<CcError> for Open95Error {
    fn from(e: CcError) -> Self {
        let (status, code, message) = match e {
            CcError::NotFound(m) => (StatusCode::OK, 10101, format!("不存在 (not found): {m}")),
            CcError::Invalid(m) => (StatusCode::OK, 10101, format!("参数不合法 (invalid): {m}")),
            CcError::Conflict(m) => (StatusCode::OK, 10101, format!("冲突 (conflict): {m}")),
            CcError::Refused(m) => (StatusCode::OK, 10101, format!("拒绝 (refused): {m}")),
            CcError::Upstream(m) => (StatusCode::OK, 10101, format!("外部服务失败 (upstream): {m}")),
            CcError::Store(e) => {
                tracing::error!(error = %e, "open95 request failed in the store");
                (StatusCode::INTERNAL_SERVER_ERROR, -1, "未知错误".into())
            }
        };
        Self { status, code, message, challenge: None }
    }
}

impl From<BodyError> for Open95Error {
    fn from(e: BodyError) -> Self {
        Self::param(format!("请求体无法解析 (bad body): {}", e.0))
    }
}

fn wants_xml(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.to_ascii_lowercase().contains("xml"))
}

/// The envelope, in the seed's field order: data first, then code, message, success.
fn envelope(data: Option<Value>, code: i64, message: &str) -> Value {
    let mut m = Map::new();
    if let Some(d) = data {
        m.insert("data".into(), d);
    }
    m.insert("code".into(), code.into());
    m.insert("message".into(), message.into());
    m.insert("success".into(), (code == 0).into());
    Value::Object(m)
}

fn answer(xml: bool, status: StatusCode, body: Value) -> Response {
    if xml {
        let text = crate::body::to_xml("Result", &body);
        (status, [(header::CONTENT_TYPE, "application/xml;charset=UTF-8")], text).into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "application/json;charset=UTF-8")], body.to_string()).into_response()
    }
}

/// Reads the parameters and checks the token and its scope.
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    takes_files: bool,
) -> Result<Ctx, Open95Error> {
    let limit = if takes_files { files::MAX_UPLOAD_BODY } else { crate::body::MAX_BODY };
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Open95Error::param(format!("请求体过大，上限 {limit} 字节 (body too large: at most {limit} bytes)"))
    })?;
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let (params, files) = if takes_files && multipart {
        files::read_multipart(parts, &bytes).await?
    } else {
        (Params::parse(parts.uri.query(), &parts.headers, &bytes).await?, Vec::new())
    };
    let token = params.access_token(&parts.headers).unwrap_or_default();
    let need = if parts.method == Method::GET { Scope::Read } else { Scope::Write };
    let svc = state.services.clone();
    let tenant_id = svc.check_token(&token, need).await?.map_err(Open95Error::token)?;
    let tenant = svc.tenant_by_id(tenant_id).await?;
    Ok(Ctx { svc, tenant, params, state: state.clone(), headers: parts.headers.clone(), files })
}

fn error_answer(xml: bool, e: Open95Error) -> Response {
    let mut resp = answer(xml, e.status, envelope(None, e.code, &e.message));
    if let Some(c) = e.challenge {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
    }
    resp
}

/// Authenticates the request, runs the endpoint and answers its result, or the error in the
/// envelope (XML when the client asks for it). `takes_files` lets the body hold a number file.
async fn serve<F, Fut, T>(
    state: AppState,
    req: Request,
    takes_files: bool,
    endpoint: F,
    ok: fn(bool, T) -> Response,
) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<T, Open95Error>>,
{
    let (parts, body) = req.into_parts();
    let xml = wants_xml(&parts.headers);
    match async { endpoint(authenticate(&state, &parts, body, takes_files).await?).await }.await {
        Ok(done) => ok(xml, done),
        Err(e) => error_answer(xml, e),
    }
}

/// The envelope's `message` of every success.
const SUCCESS_MESSAGE: &str = "成功";

fn success(xml: bool, data: Option<Value>) -> Response {
    answer(xml, StatusCode::OK, envelope(data, 0, SUCCESS_MESSAGE))
}

/// Runs an endpoint: reads the parameters, checks the token and its scope, wraps the answer.
async fn run<F, Fut>(State(state): State<AppState>, req: Request, endpoint: F) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Option<Value>, Open95Error>>,
{
    serve(state, req, false, endpoint, success).await
}

/// Data that writes its own JSON: listings whose rows are spelt straight into the answer.
pub(crate) trait JsonData {
    /// Appends the data's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A success whose data writes its own JSON, in the envelope `{data, code, message, success}`;
/// XML goes by way of a `Value` read back from that JSON, as [`crate::body::to_xml`] reads one.
fn success_typed<D: JsonData>(xml: bool, data: D) -> Response {
    let mut body = Vec::with_capacity(32 * 1024);
    if xml {
        data.write_json(&mut body);
        let value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            tracing::error!(error = %e, "open95 answer");
            Value::Null
        });
        return success(true, Some(value));
    }
    body.extend_from_slice(b"{\"data\":");
    data.write_json(&mut body);
    body.extend_from_slice(b",\"code\":0,\"message\":\"");
    body.extend_from_slice(SUCCESS_MESSAGE.as_bytes());
    body.extend_from_slice(b"\",\"success\":true}");
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json;charset=UTF-8")], body).into_response()
}

/// [`run`] for listings whose data writes its own JSON rather than being a `Value`.
async fn run_typed<F, Fut, D>(State(state): State<AppState>, req: Request, endpoint: F) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<D, Open95Error>>,
    D: JsonData,
{
    serve(state, req, false, endpoint, success_typed::<D>).await
}

/// [`run`] for the endpoints that take a number file: the body may hold one of up to
/// [`files::MAX_UPLOAD_BODY`] bytes.
async fn run_upload<F, Fut>(State(state): State<AppState>, req: Request, endpoint: F) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Option<Value>, Open95Error>>,
{
    serve(state, req, true, endpoint, success).await
}

/// Runs an endpoint that answers with its own body (a download) when it succeeds.
async fn run_raw<F, Fut>(State(state): State<AppState>, req: Request, endpoint: F) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Response, Open95Error>>,
{
    serve(state, req, false, endpoint, |_, resp| resp).await
}

impl Ctx {
    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, Open95Error> {
        self.params
            .get(name)
            .ok_or_else(|| Open95Error::param(format!("缺少必填参数 {name} (missing required parameter {name})")))
    }

    /// An optional parameter.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// An optional integer parameter with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, Open95Error> {
        match self.params.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                Open95Error::param(format!("参数 {name} 必须是整数 ({name} must be an integer, got {v:?})"))
            }),
        }
    }

    /// `currentPage` (default 1) and `pageSize` (default 10, at most [`MAX_PAGE_SIZE`]).
    pub fn page(&self) -> Result<(i64, i64), Open95Error> {
        let page = self.int_or("currentPage", 1)?;
        let size = self.int_or("pageSize", 10)?;
        if page < 1 {
            return Err(Open95Error::param("currentPage 必须 ≥ 1 (currentPage must be at least 1)"));
        }
        if size < 1 {
            return Err(Open95Error::param("pageSize 必须 ≥ 1 (pageSize must be at least 1)"));
        }
        let size = size.min(MAX_PAGE_SIZE);
        if (page - 1).checked_mul(size).is_none() {
            return Err(Open95Error::param("currentPage 过大 (currentPage is out of range)"));
        }
        Ok((page, size))
    }

    /// The tenant id as open95 prints it in long codes (`queueCode` = tenant id + short code).
    pub fn tenant_prefix(&self) -> String {
        self.tenant.id.0.to_string()
    }

    /// A short code from a value that may carry `prefix` (the long form open95 lists show).
    pub fn short<'a>(&self, prefix: &str, value: &'a str) -> &'a str {
        match value.strip_prefix(prefix) {
            Some(rest) if !rest.is_empty() => rest,
            _ => value,
        }
    }

    /// The short form of an id given long or short: the value itself when it is a known short
    /// code, else the value without the prefix.
    pub fn resolve(&self, prefix: &str, value: &str, known: impl Fn(&str) -> bool) -> String {
        if known(value) { value.to_string() } else { self.short(prefix, value).to_string() }
    }

    /// An extension given in long (tenant id + extension) or short form.
    pub async fn extension(&self, value: &str) -> Result<String, Open95Error> {
        let exact = self.svc.extension_exists(self.tenant.id, value).await?;
        Ok(self.resolve(&self.tenant_prefix(), value, |_| exact))
    }

    /// Formats a stored time in the tenant's zone as `yyyyMMddHHmmss`.
    pub fn compact_time(&self, ms: i64) -> String {
        let zone = yunhu_core::time::zone_or_default(&self.tenant.time_zone);
        yunhu_core::time::format_in_zone(ms, zone, "%Y%m%d%H%M%S")
    }
}

/// `{pageData, total}`.
pub(crate) fn page_data(items: Vec<Value>, total: i64) -> Value {
    json!({ "pageData": items, "total": total })
}
