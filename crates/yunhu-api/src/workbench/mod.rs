//! The agent workbench (seed 003): `POST /admin/agent/*` and `/admin/sms_api/send`, the
//! `/agent/monitor` websocket, and the web desk at `/desk` that uses them.
//!
//! Every answer is `{"msg":"success","code":0,"data":...}`; a refusal has a non-zero `code`
//! ([`codes`]) and a `msg` that says what is wrong, in the same envelope (HTTP 200, as the seed's
//! clients read the body; a missing or dead token is also HTTP 401). Requests carry the agent's
//! desk token as `access_token` (query or form) or `Authorization: Bearer`.

mod frames;
mod monitor;

use crate::AppState;
use crate::body::{Params, RawBody};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use yunhu_cc::switch::{CallRef, Control, ControlError, Refusal};
use yunhu_cc::{CcError, Services, Tenant};
use yunhu_core::agent::{AgentEventKind, Presence};

/// The envelope's `code` values.
pub mod codes {
    /// Success.
    pub const OK: i64 = 0;
    /// A parameter is missing or malformed.
    pub const PARAM: i64 = 1001;
    /// No desk token, or an unknown or expired one.
    pub const TOKEN: i64 = 1002;
    /// The token's agent may not act for the one named (`extno` of another agent).
    pub const FORBIDDEN: i64 = 1003;
    /// Nothing of the tenant has that name (`extno`, `info_uuid`).
    pub const NOT_FOUND: i64 = 1004;
    /// Not now: the agent's state does not allow it (no call to hold, not logged in).
    pub const STATE: i64 = 1005;
    /// A rule refuses it: the SMS rate limit, a do-not-call number.
    pub const REFUSED: i64 = 1006;
    /// Telephony does not run on this server.
    pub const NO_TELEPHONY: i64 = 1007;
    /// An outside service (the SMS provider) refused or could not be reached.
    pub const UPSTREAM: i64 = 1008;
    /// Something failed inside yunhu.
    pub const INTERNAL: i64 = 1500;
}

/// A refusal in the seed's envelope.
#[derive(Debug)]
pub(crate) struct WbError(i64, String);

impl WbError {
    pub(crate) fn param(msg: impl Into<String>) -> Self {
        WbError(codes::PARAM, msg.into())
    }
}

impl IntoResponse for WbError {
    fn into_response(self) -> Response {
        let status = if self.0 == codes::TOKEN { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
        envelope(status, self.0, &self.1, Value::Null)
    }
}

impl From<CcError> for WbError {
    fn from(e: CcError) -> Self {
        match e {
            CcError::NotFound(m) => WbError(codes::NOT_FOUND, format!("不存在 (not found): {m}")),
            CcError::Invalid(m) => WbError(codes::PARAM, m),
            CcError::Conflict(m) => WbError(codes::STATE, m),
            CcError::Refused(m) => WbError(codes::REFUSED, m),
            CcError::Upstream(m) => WbError(codes::UPSTREAM, m),
            CcError::Store(e) => {
                tracing::error!(error = %e, "workbench");
                WbError(codes::INTERNAL, "内部错误 (internal error)".into())
            }
        }
    }
}

fn envelope(status: StatusCode, code: i64, msg: &str, data: Value) -> Response {
    let body = json!({ "msg": msg, "code": code, "data": data }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
}

fn ok(data: Value) -> Response {
    envelope(StatusCode::OK, codes::OK, "success", data)
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/monitor", get(monitor::monitor))
        .route("/desk", get(desk_page))
        .route("/wallboard", get(wallboard_page))
        .route("/admin/agent/{action}", post(agent_action))
        .route("/admin/sms_api/send", post(sms_send))
}

/// The web agent desk: one page, no build step.
async fn desk_page() -> Html<&'static str> {
    Html(include_str!("../../desk/index.html"))
}

/// The supervisors' wallboard: one page, no build step, over the same socket as the desk.
async fn wallboard_page() -> Html<&'static str> {
    Html(include_str!("../../desk/wallboard.html"))
}

/// The agent a desk token acts for.
pub(crate) struct DeskAgent {
    pub tenant: Tenant,
    pub user_code: String,
    pub extno: String,
    pub name: String,
}

pub(crate) async fn agent_of(state: &AppState, token: Option<&str>) -> Result<DeskAgent, WbError> {
    let svc = &state.services;
    let token =
        token.filter(|t| !t.is_empty()).ok_or_else(|| WbError(codes::TOKEN, "缺少 access_token (no token)".into()))?;
    let (tenant, user_code) = svc
        .desk_auth(token)
        .await
        .map_err(|_| WbError(codes::TOKEN, "access_token 无效或已过期 (unknown or expired token)".into()))?;
    let tenant = svc.tenant_by_id(tenant).await?;
    let (name, extno) = staff_names(svc, &tenant, &user_code).await?;
    Ok(DeskAgent { tenant, user_code, extno, name })
}

async fn staff_names(svc: &Services, tenant: &Tenant, user_code: &str) -> Result<(String, String), WbError> {
    let row = svc.staff_account_row(tenant.id, user_code).await?;
    Ok((row["name"].text().to_string(), row["agent_id"].text().to_string()))
}

/// `POST /admin/agent/{action}`.
async fn agent_action(
    State(state): State<AppState>,
    axum::extract::Path(action): axum::extract::Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: RawBody,
) -> Response {
    let params = match Params::read(query.as_deref(), &headers, &body).await {
        Ok(p) => p,
        Err(e) => return WbError::param(e.0).into_response(),
    };
    if action == "login" {
        let source = crate::source_ip(&extensions);
        return login(&state, &params, source).await.unwrap_or_else(IntoResponse::into_response);
    }
    let agent = match agent_of(&state, params.access_token(&headers).as_deref()).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let answer = match action.as_str() {
        "logon" => logon(&state, &agent, &params, true).await,
        "logout" => logon(&state, &agent, &params, false).await,
        "nextCall" => next_call(&state, &agent).await,
        "notReady" => not_ready(&state, &agent, &params).await,
        "hold" => hold(&state, &agent).await,
        "meeting" => meeting(&state, &agent, &params).await,
        "addBlack" => add_black(&state, &agent, &params).await,
        "getMsg" => get_msg(&state, &agent).await,
        "submit" => submit(&state, &agent, &params).await,
        "dial" => dial(&state, &agent, &params).await,
        "hangup" => hangup(&state, &agent).await,
        "state" => agent_state(&state, &agent).await,
        "calls" => recent_calls(&state, &agent).await,
        "form" => form(&state, &agent, &params).await,
        other => Err(WbError(codes::NOT_FOUND, format!("没有这个接口 (no such action): {other}"))),
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, WbError> {
    params
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WbError::param(format!("缺少参数 (missing) {name}")))
}

/// `login` (ours): corp id, account and desk password for a desk token.
async fn login(state: &AppState, params: &Params, source: Option<std::net::IpAddr>) -> Result<Response, WbError> {
    let corp = required(params, "corp")?;
    let user = required(params, "extno")?;
    let password = required(params, "password")?;
    let svc = &state.services;
    let (token, expires_in) = svc.desk_login(source, corp, user, password).await.map_err(|e| match e {
        CcError::Refused(why) => WbError(codes::REFUSED, format!("登录繁忙, 请稍后再试 ({why})")),
        _ => WbError(codes::TOKEN, "企业号、工号或密码错误 (wrong corp, account or password)".into()),
    })?;
    Ok(ok(json!({ "access_token": token, "expires_in": expires_in })))
}

/// `extno` must name the token's own agent, by account or extension.
async fn check_extno(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<(), WbError> {
    let extno = required(params, "extno")?;
    if extno == agent.user_code || (!agent.extno.is_empty() && extno == agent.extno) {
        return Ok(());
    }
    if state.services.staff_account(agent.tenant.id, extno).await.is_err() {
        return Err(WbError(codes::NOT_FOUND, format!("坐席工号不存在 (no such agent): {extno}")));
    }
    Err(WbError(codes::FORBIDDEN, format!("坐席工号 {extno} 不是当前坐席 (not this token's agent)")))
}

async fn logon(state: &AppState, agent: &DeskAgent, params: &Params, on: bool) -> Result<Response, WbError> {
    check_extno(state, agent, params).await?;
    let svc = &state.services;
    svc.agents_ready().await?;
    let now = svc.presence(agent.tenant.id, &agent.user_code);
    let event = match (on, now) {
        // Logging in twice changes nothing.
        (true, Presence::LoggedOut) => AgentEventKind::AgentLogin { via: "desk".into() },
        (true, _) => return Ok(ok(json!(1))),
        (false, Presence::LoggedOut) => return Ok(ok(json!(1))),
        (false, _) => AgentEventKind::AgentLogout { via: "desk".into() },
    };
    svc.set_presence(agent.tenant.id, &agent.user_code, event).await?;
    Ok(ok(json!(1)))
}

/// nextCall: after-call work ends, or a not-ready agent is ready again.
async fn next_call(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let svc = &state.services;
    svc.agents_ready().await?;
    match svc.presence(agent.tenant.id, &agent.user_code) {
        Presence::LoggedOut => Err(WbError(codes::STATE, "坐席未签入 (not logged in)".into())),
        Presence::AfterCallWork => {
            svc.end_wrap_up(agent.tenant.id, &agent.user_code).await?;
            Ok(ok(json!(1)))
        }
        Presence::NotReady => {
            svc.set_presence(agent.tenant.id, &agent.user_code, AgentEventKind::AgentReady).await?;
            Ok(ok(json!(1)))
        }
        Presence::Ready => Ok(ok(json!(1))),
    }
}

/// notReady (ours): a not-ready reason of the tenant's list.
async fn not_ready(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let reason = required(params, "reason")?;
    let svc = &state.services;
    let known = svc.not_ready_reasons(agent.tenant.id).await?;
    if !known.iter().any(|(code, _)| code == reason) {
        return Err(WbError::param(format!("没有这个示忙原因 (no such reason): {reason}")));
    }
    svc.agents_ready().await?;
    if svc.presence(agent.tenant.id, &agent.user_code) == Presence::LoggedOut {
        return Err(WbError(codes::STATE, "坐席未签入 (not logged in)".into()));
    }
    svc.set_presence(agent.tenant.id, &agent.user_code, AgentEventKind::AgentNotReady { reason: reason.into() })
        .await?;
    Ok(ok(json!(1)))
}

fn switch_of(state: &AppState) -> Result<&yunhu_cc::switch::Switch, WbError> {
    state.switch.as_ref().ok_or_else(|| WbError(codes::NO_TELEPHONY, "本服务器未运行话务 (telephony is off)".into()))
}

fn control_error(e: ControlError) -> WbError {
    match e {
        ControlError::NoCall => WbError(codes::STATE, "当前没有通话 (no call in progress)".into()),
        ControlError::Refused(r) => WbError(codes::STATE, format!("通话状态不允许 (refused): {r}")),
        ControlError::Dial(d) => WbError(codes::PARAM, format!("无法呼叫 (cannot dial): {d}")),
        ControlError::NotAllowed(m) => WbError(codes::FORBIDDEN, m),
    }
}

/// hold: toggles hold of the agent's call; `data` 1 held, 0 resumed.
async fn hold(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let switch = switch_of(state)?;
    let call = CallRef::Staff(agent.user_code.clone());
    match switch.control(&agent.tenant, &call, Control::Hold).await {
        Ok(_) => Ok(ok(json!(1))),
        Err(ControlError::Refused(Refusal::AlreadyHeld)) => {
            switch.control(&agent.tenant, &call, Control::Unhold).await.map_err(control_error)?;
            Ok(ok(json!(0)))
        }
        Err(e) => Err(control_error(e)),
    }
}

async fn meeting(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let tel = required(params, "tel")?;
    let switch = switch_of(state)?;
    let call = CallRef::Staff(agent.user_code.clone());
    switch.control(&agent.tenant, &call, Control::Meeting { to: tel.into() }).await.map_err(control_error)?;
    Ok(ok(json!(1)))
}

/// addBlack: the customer's number onto the tenant's do-not-call list.
async fn add_black(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let uuid = required(params, "info_uuid")?;
    let svc = &state.services;
    let form = svc.customer_form(agent.tenant.id, uuid).await?;
    let spec = yunhu_cc::objects::DoNotCallSpec {
        number: form.telephone.clone(),
        reason: format!("agent {} from the desk", agent.user_code),
    };
    svc.put_do_not_call(&agent.tenant, &spec).await?;
    Ok(ok(json!(1)))
}

/// getMsg: the tenant's default SMS template filled in for the agent's current customer.
async fn get_msg(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let svc = &state.services;
    let (peer, name) = match svc.agent_state(agent.tenant.id, &agent.user_code).call {
        Some(call) => {
            let form = svc.customer_form_for_call(agent.tenant.id, &agent.user_code, &call.call_id, &call.peer).await?;
            (call.peer, form.name)
        }
        None => (String::new(), String::new()),
    };
    let text = svc.sms_text_for(agent.tenant.id, &agent.user_code, &peer, &name).await?.unwrap_or_default();
    Ok(ok(json!(text)))
}

/// `POST /admin/sms_api/send`: `telephone`, `msg`.
async fn sms_send(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let run = async {
        let params = Params::read(query.as_deref(), &headers, &body).await.map_err(|e| WbError::param(e.0))?;
        let agent = agent_of(&state, params.access_token(&headers).as_deref()).await?;
        let telephone = required(&params, "telephone")?;
        let msg = required(&params, "msg")?;
        state.services.send_sms(agent.tenant.id, &agent.user_code, telephone, msg).await?;
        Ok::<Response, WbError>(ok(json!(1)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// submit (ours): the customer form's values; ends after-call work.
async fn submit(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let uuid = required(params, "uuid")?;
    let fields = params.get("fields").unwrap_or("{}");
    state.services.submit_customer_form(agent.tenant.id, &agent.user_code, uuid, fields).await?;
    Ok(ok(json!(1)))
}

/// dial (ours): click-to-call from the desk; the agent's phone rings first.
async fn dial(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let tel = required(params, "tel")?;
    let switch = switch_of(state)?;
    let call_id = switch
        .click_to_call(&agent.tenant, &agent.user_code, tel, Default::default())
        .await
        .map_err(|e| WbError(codes::STATE, format!("无法呼叫 (cannot dial): {e}")))?;
    Ok(ok(json!({ "sessionId": call_id })))
}

async fn hangup(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let switch = switch_of(state)?;
    let call = CallRef::Staff(agent.user_code.clone());
    switch.control(&agent.tenant, &call, Control::AgentHangup).await.map_err(control_error)?;
    Ok(ok(json!(1)))
}

/// state (ours): what the desk shows on load.
async fn agent_state(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let svc = &state.services;
    svc.agents_ready().await?;
    let s = svc.agent_state(agent.tenant.id, &agent.user_code);
    let now = svc.clock().now().timestamp_millis();
    let phone = match &state.switch {
        Some(sw) => match sw.phone_state(&agent.tenant, &agent.user_code).await {
            Ok((_, p)) => json!(match p {
                yunhu_cc::switch::PhoneState::Unregistered => "unregistered",
                yunhu_cc::switch::PhoneState::Idle => "idle",
                yunhu_cc::switch::PhoneState::Ringing { .. } => "ringing",
                yunhu_cc::switch::PhoneState::InCall { .. } => "in_call",
            }),
            Err(_) => Value::Null,
        },
        None => Value::Null,
    };
    let reasons: Vec<Value> = svc
        .not_ready_reasons(agent.tenant.id)
        .await?
        .into_iter()
        .map(|(c, n)| json!({ "code": c, "name": n }))
        .collect();
    Ok(ok(json!({
        "extno": agent.extno,
        "user_code": agent.user_code,
        "name": agent.name,
        "corp": agent.tenant.corp_id,
        "status": s.status(),
        "time": yunhu_core::agent::hms(now - s.status_since()),
        "reason": s.reason,
        "call": s.call.as_ref().map(|c| json!({ "sessionId": c.call_id, "telephone": c.peer, "connected": c.connected })),
        "phone": phone,
        "reasons": reasons,
    })))
}

/// calls (ours): the agent's own recent calls, newest first.
async fn recent_calls(state: &AppState, agent: &DeskAgent) -> Result<Response, WbError> {
    let svc = &state.services;
    let filter = yunhu_cc::calls::CallRecordFilter { staff: Some(agent.user_code.clone()), ..Default::default() };
    let zone = yunhu_core::time::zone_or_default(&agent.tenant.time_zone);
    let rows = svc.list_call_records(agent.tenant.id, &filter, 20).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let rec = &r.record;
            // A customer who called in began the call, before the agent's phone rang.
            let start = rec.started_at();
            let queued = !rec.queue.is_empty();
            json!({
                "sessionId": r.call_id,
                "direction": rec.direction,
                "telephone": yunhu_core::mask_phone(&rec.customer),
                "start": yunhu_core::time::local_stamp(start, zone, yunhu_core::time::Style::Dashed).as_str(),
                "talk_secs": rec.talk_secs,
                "answered": rec.talk_secs > 0 || rec.customer_leg.answer.is_some(),
                // The inbound skill group the caller waited in, and how long.
                "queue": queued.then_some(rec.queue.as_str()),
                "wait_secs": queued.then(|| rec.queue_secs()),
            })
        })
        .collect();
    Ok(ok(json!(list)))
}

/// form (ours): a customer record's field definitions and values.
async fn form(state: &AppState, agent: &DeskAgent, params: &Params) -> Result<Response, WbError> {
    let uuid = required(params, "uuid")?;
    let svc = &state.services;
    let form = svc.customer_form(agent.tenant.id, uuid).await?;
    let defs = svc.crm_fields(agent.tenant.id, &form.project).await?;
    let values: Value = serde_json::from_str(&form.fields).unwrap_or_else(|_| json!({}));
    Ok(ok(
        json!({ "uuid": form.uuid, "telephone": form.telephone, "name": form.name, "fields": defs, "values": values }),
    ))
}
