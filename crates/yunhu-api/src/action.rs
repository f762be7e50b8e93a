//! The action dialect (seed 004): one URL, `GET` or `POST`, `action=` selects the verb,
//! `companyid` + `auth` identify the company; answers `{"errno":"1","message":"成功","data":...}`.
//!
//! URL: `/action` (also `/action.php`, the name such deployments commonly use).

use crate::AppState;
use crate::body::{Params, RawBody};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;
use serde_json::{Value, json};
use yunhu_cc::Tenant;
use yunhu_cc::calls::StoredCallRecord;
use yunhu_cc::switch::{CallCommand, CallRef, Control, ControlError, DialError, PhoneState, SpyMode};
use yunhu_core::agent::Presence;
use yunhu_core::call::{CallMethod, CallRecord};
use yunhu_core::time::{LocalStamp, Style, local_stamp};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/action", any(handle)).route("/action.php", any(handle))
}

/// errno values of seed 004.
mod errno {
    pub const FAILED: &str = "0";
    pub const OK: &str = "1";
    pub const MISSING: &str = "2";
    pub const AUTH: &str = "3";
    pub const NO_ACTION: &str = "4";
    pub const NOT_LOGGED_IN: &str = "5";
    pub const NOT_REGISTERED: &str = "6";
    pub const AGENT_NOT_LOGGED_IN: &str = "7";
    pub const AGENT_NOT_REGISTERED: &str = "8";
    pub const INSERT_FAILED: &str = "9";
    pub const DUPLICATE: &str = "10";
    pub const NO_BATCH: &str = "11";
}

/// `{errno, message, data}`, in that order.
#[derive(Serialize)]
struct Envelope<'a, D> {
    errno: &'a str,
    message: &'a str,
    data: D,
}

fn answer(errno: &str, message: &str, data: impl Serialize) -> Response {
    let body = crate::json_body(&Envelope { errno, message, data });
    ([(header::CONTENT_TYPE, "application/json;charset=utf-8")], body).into_response()
}

/// What a verb answers: a `Value`, or GetCDRList's records spelt straight from their rows.
enum Reply {
    Value(Value),
    Cdr(CdrPage),
}

/// A refusal: errno and message, answered with empty data.
struct Refusal(&'static str, String);

fn fail(errno: &'static str, message: impl Into<String>) -> Refusal {
    Refusal(errno, message.into())
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        answer(self.0, &self.1, json!([]))
    }
}

async fn handle(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: RawBody,
) -> Response {
    let params = match Params::read(q.as_deref(), &headers, &body).await {
        Ok(p) => p,
        Err(e) => return fail(errno::MISSING, format!("请求无法解析: {}", e.0)).into_response(),
    };
    let Some(action) = params.get("action").map(str::to_string) else {
        return fail(errno::MISSING, "缺少必要参数 action").into_response();
    };
    const KNOWN: [&str; 9] = [
        "SendDial",
        "HangUp",
        "ExtenStatus",
        "GetRecord",
        "GetCDRList",
        "AddTaskData",
        "AddCBaseData",
        "ExtenSpy",
        "GetUserInfo",
    ];
    if !KNOWN.contains(&action.as_str()) {
        return fail(errno::NO_ACTION, format!("接口不存在: {action}")).into_response();
    }
    for name in ["companyid", "auth"] {
        if params.get(name).is_none() {
            return fail(errno::MISSING, format!("缺少必要参数 {name}")).into_response();
        }
    }
    let company = params.get("companyid").unwrap_or_default();
    let auth = params.get("auth").unwrap_or_default();
    let tenant = match state.services.check_credential(crate::source_ip(&extensions), "action", company, auth).await {
        Ok(Some(t)) => t,
        Ok(None) => return fail(errno::AUTH, "认证失败").into_response(),
        Err(yunhu_cc::CcError::Refused(why)) => {
            return fail(errno::AUTH, format!("认证繁忙, 请稍后再试 ({why})")).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "action auth");
            return fail(errno::FAILED, "内部错误").into_response();
        }
    };
    let need = |name: &str| params.get(name).ok_or_else(|| fail(errno::MISSING, format!("缺少必要参数 {name}")));
    let result = match action.as_str() {
        "SendDial" => match (need("staffid"), need("phonenum")) {
            (Ok(staff), Ok(number)) => {
                send_dial(&state, &tenant, staff, number, params.get("codeid_1"), params.get("codeid_2"))
                    .await
                    .map(Reply::Value)
            }
            (Err(r), _) | (_, Err(r)) => Err(r),
        },
        "HangUp" => match need("staffid") {
            Ok(staff) => hang_up(&state, &tenant, staff).await.map(Reply::Value),
            Err(r) => Err(r),
        },
        "ExtenStatus" => match need("staffid") {
            Ok(staff) => exten_status(&state, &tenant, staff).await.map(Reply::Value),
            Err(r) => Err(r),
        },
        "ExtenSpy" => match (need("staffid"), need("spystaffid"), need("spytype")) {
            (Ok(staff), Ok(agent), Ok(kind)) => exten_spy(&state, &tenant, staff, agent, kind).await.map(Reply::Value),
            (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => Err(r),
        },
        "GetCDRList" => cdr_list(&state, &tenant, &params).await.map(Reply::Cdr),
        "AddTaskData" => match (need("batchid"), need("phonenum")) {
            (Ok(batch), Ok(phone)) => add_task_data(&state, &tenant, batch, phone, &params).await.map(Reply::Value),
            (Err(r), _) | (_, Err(r)) => Err(r),
        },
        "AddCBaseData" => match (need("staffid"), need("phonenum")) {
            (Ok(staff), Ok(phone)) => add_customer(&state, &tenant, staff, phone, &params).await.map(Reply::Value),
            (Err(r), _) | (_, Err(r)) => Err(r),
        },
        "GetUserInfo" => user_info_list(&state, &tenant, params.get("staffid")).await.map(Reply::Value),
        _ => match need("uniqueid") {
            Ok(id) => get_record(&state, &tenant, id, &headers).await.map(Reply::Value),
            Err(r) => Err(r),
        },
    };
    match result {
        Ok(Reply::Value(data)) => answer(errno::OK, "成功", data),
        Ok(Reply::Cdr(page)) => {
            let rows = page.records.iter().map(|s| cdr(page.zone, company, s)).collect::<Vec<_>>();
            answer(errno::OK, "成功", rows)
        }
        Err(r) => r.into_response(),
    }
}

fn switch_of(state: &AppState) -> Result<&yunhu_cc::switch::Switch, Refusal> {
    state.switch.as_ref().ok_or_else(|| fail(errno::FAILED, "电话功能未启用 (telephony is not running)"))
}

fn dial_error(e: DialError) -> Refusal {
    match e {
        DialError::NotRegistered(ext) => fail(errno::NOT_REGISTERED, format!("分机未注册: {ext}")),
        DialError::NotLoggedIn(s) => fail(errno::NOT_LOGGED_IN, format!("工号未登录 (拨打000登录): {s}")),
        DialError::NoStaff(s) => fail(errno::FAILED, format!("员工不存在或没有分机: {s}")),
        DialError::NoTrunk => fail(errno::FAILED, "没有可用的中继 (no trunk configured)"),
        DialError::Busy(s) => fail(errno::FAILED, format!("员工正在通话中: {s}")),
        DialError::BadNumber(n) => fail(errno::FAILED, format!("号码不合法: {n}")),
        DialError::Draining => fail(errno::FAILED, "服务正在停止, 请稍后重试 (yunhu is shutting down)"),
        DialError::Internal(e) => {
            tracing::error!(error = %e, "SendDial");
            fail(errno::FAILED, "内部错误")
        }
    }
}

async fn send_dial(
    state: &AppState,
    tenant: &Tenant,
    staff: &str,
    number: &str,
    codeid_1: Option<&str>,
    codeid_2: Option<&str>,
) -> Result<Value, Refusal> {
    let switch = switch_of(state)?;
    let call_id = switch
        .click_to_call(
            tenant,
            staff,
            number,
            yunhu_cc::switch::CallContext {
                codeid_1: codeid_1.unwrap_or("").into(),
                codeid_2: codeid_2.unwrap_or("").into(),
                ..Default::default()
            },
        )
        .await
        .map_err(dial_error)?;
    Ok(json!({ "uniqueid": call_id }))
}

async fn hang_up(state: &AppState, tenant: &Tenant, staff: &str) -> Result<Value, Refusal> {
    let switch = switch_of(state)?;
    let code =
        switch.staff_code(tenant, staff).await.ok_or_else(|| fail(errno::FAILED, format!("员工不存在: {staff}")))?;
    match switch.command(tenant, &code, CallCommand::Hangup) {
        Some(call_id) => Ok(json!({ "uniqueid": call_id })),
        None => Err(fail(errno::FAILED, "当前没有通话 (no call in progress)")),
    }
}

/// ExtenSpy: supervisor `staff` joins the call of agent `agent` in mode `kind` (1 质检 listen,
/// 2 密语 whisper, 3 三方通话 barge); asked again while spying, it switches the mode.
async fn exten_spy(state: &AppState, tenant: &Tenant, staff: &str, agent: &str, kind: &str) -> Result<Value, Refusal> {
    let switch = switch_of(state)?;
    let mode = match kind {
        "1" => SpyMode::Listen,
        "2" => SpyMode::Whisper,
        "3" => SpyMode::Barge,
        _ => return Err(fail(errno::FAILED, format!("spytype 只能是 1 质检、2 密语、3 三方通话: {kind}"))),
    };
    let who = |s: &str| {
        let s = s.to_string();
        async move {
            switch.staff_code(tenant, &s).await.ok_or_else(|| fail(errno::FAILED, format!("员工不存在: {s}")))
        }
    };
    let (supervisor, spied) = (who(staff).await?, who(agent).await?);
    let registered = |s: &str| {
        let s = s.to_string();
        async move { !matches!(switch.phone_state(tenant, &s).await, Ok((_, PhoneState::Unregistered)) | Err(_)) }
    };
    if switch.presence(tenant.id, &supervisor) == Presence::LoggedOut {
        return Err(fail(errno::NOT_LOGGED_IN, format!("工号未登录 (拨打000登录): {staff}")));
    }
    if !registered(&supervisor).await {
        return Err(fail(errno::NOT_REGISTERED, format!("分机未注册: {staff}")));
    }
    if switch.presence(tenant.id, &spied) == Presence::LoggedOut {
        return Err(fail(errno::AGENT_NOT_LOGGED_IN, format!("坐席分机未登录: {agent}")));
    }
    if !registered(&spied).await {
        return Err(fail(errno::AGENT_NOT_REGISTERED, format!("坐席分机未注册: {agent}")));
    }
    let on_call = CallRef::Staff(spied);
    let mut result = switch.control(tenant, &on_call, Control::Spy { supervisor: supervisor.clone(), mode }).await;
    if let Err(ControlError::Refused(yunhu_cc::switch::Refusal::AlreadySpied)) = result {
        // Asked again during the spy: the supervisor switches mode.
        result = switch.control(tenant, &on_call, Control::SpyMode(mode)).await;
    }
    match result {
        Ok(call_id) => Ok(json!({ "uniqueid": call_id })),
        Err(ControlError::NoCall) => Err(fail(errno::FAILED, format!("被监听的坐席当前没有通话: {agent}"))),
        Err(ControlError::NotAllowed(_)) => {
            Err(fail(errno::FAILED, format!("无监听权限 (需要班组长或管理员): {staff}")))
        }
        Err(ControlError::Dial(e)) => Err(dial_error(e)),
        Err(ControlError::Refused(r)) => Err(fail(errno::FAILED, format!("无法监听: {r}"))),
    }
}

fn number_or_text(s: &str) -> Value {
    s.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(s))
}

async fn exten_status(state: &AppState, tenant: &Tenant, staff: &str) -> Result<Value, Refusal> {
    let switch = switch_of(state)?;
    let (ext, phone) = match switch.phone_state(tenant, staff).await {
        Ok(v) => v,
        Err(_) => {
            return Ok(json!({ "Status": -1, "Extension": number_or_text(staff), "CallerNum": "" }));
        }
    };
    let on_break = match switch.staff_code(tenant, staff).await {
        Some(code) => switch.presence(tenant.id, &code) == Presence::NotReady,
        None => false,
    };
    // Seed 004 codes: -1 not found, 0 idle, 1 in a call, 4 unavailable, 8 ringing, 18 on a break.
    let (status, peer) = match phone {
        PhoneState::Unregistered => (4, String::new()),
        PhoneState::Idle if on_break => (18, String::new()),
        PhoneState::Idle => (0, String::new()),
        PhoneState::Ringing { peer } => (8, peer),
        PhoneState::InCall { peer } => (1, peer),
    };
    Ok(json!({ "Status": status, "Extension": number_or_text(&ext), "CallerNum": number_or_text(&peer) }))
}

async fn get_record(state: &AppState, tenant: &Tenant, uniqueid: &str, headers: &HeaderMap) -> Result<Value, Refusal> {
    let record = state.services.db().call_record(tenant.id, uniqueid).await.map_err(|e| {
        tracing::error!(error = %e, "GetRecord");
        fail(errno::FAILED, "内部错误")
    })?;
    match record {
        Some(r) if !r.record.recording.is_empty() => {
            let url = state.services.recording_url(tenant.id, &r.record.recording);
            Ok(json!([{ "path": crate::recordings::absolute(headers, &url) }]))
        }
        _ => Err(fail(errno::FAILED, format!("录音不存在: {uniqueid}"))),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in the tenant's zone → ms UTC.
fn tenant_time(tenant: &Tenant, name: &str, value: &str) -> Result<i64, Refusal> {
    yunhu_core::time::parse_local(value, yunhu_core::time::zone_or_default(&tenant.time_zone))
        .ok_or_else(|| fail(errno::FAILED, format!("{name} 格式应为 yyyy-MM-dd HH:mm:ss: {value}")))
}

fn int_param(params: &Params, name: &str) -> Result<Option<i64>, Refusal> {
    params
        .get(name)
        .map(|v| v.parse::<i64>().map_err(|_| fail(errno::FAILED, format!("{name} 必须是整数: {v}"))))
        .transpose()
}

/// GetCDRList's records before they are spelt.
struct CdrPage {
    records: Vec<StoredCallRecord>,
    zone: chrono_tz::Tz,
}

/// A call record as GetCDRList spells it (every value text), fields in the seed's order.
#[derive(Serialize)]
struct Cdr<'a> {
    id: Text,
    src: &'a str,
    dst: &'a str,
    calldate: LocalStamp,
    duration_int: Text,
    billsec_int: Text,
    disposition: &'static str,
    customerid: &'static str,
    companyid: &'a str,
    #[serde(rename = "ClassifId")]
    classif_id: &'static str,
    #[serde(rename = "ProjectId")]
    project_id: &'static str,
    staffid: &'a str,
    exten: &'a str,
    codeid_1: &'a str,
    codeid_2: &'a str,
    uniqueid: &'a str,
    calltype: &'static str,
}

/// An integer the seed spells as text, written without an interim string.
struct Text(i64);

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// What a GetCDRList row says of a call beyond its stored fields.
struct CdrFacts<'a> {
    /// Who called: the customer on an inbound call, our caller ID otherwise.
    src: &'a str,
    /// Who was called: the extension on an inbound call, the customer otherwise.
    dst: &'a str,
    start: i64,
    end: i64,
    /// Both legs answered (the disposition's ANSWERED).
    answered: bool,
}

impl<'a> CdrFacts<'a> {
    fn of(r: &'a CallRecord) -> Self {
        let inbound = r.direction == "inbound";
        let (src, dst) = if inbound { (&r.customer, &r.extension) } else { (&r.caller_id, &r.customer) };
        // A customer who called in began the call, before any agent rang.
        let start = r.started_at();
        let end = r.agent.end.or(r.customer_leg.end).unwrap_or(start);
        let answered = r.customer_leg.answer.is_some() && r.agent.answer.is_some();
        CdrFacts { src, dst, start, end, answered }
    }
}

/// Seed 004's `calltype`: 0 outbound, 1 inbound, 3 predictive.
fn calltype(r: &CallRecord) -> &'static str {
    if r.direction == "inbound" {
        "1"
    } else if r.method == CallMethod::Predictive {
        "3"
    } else {
        "0"
    }
}

fn cdr<'a>(zone: chrono_tz::Tz, company: &'a str, s: &'a StoredCallRecord) -> Cdr<'a> {
    let r = &s.record;
    let CdrFacts { src, dst, start, end, answered } = CdrFacts::of(r);
    Cdr {
        id: Text(s.id),
        src,
        dst,
        calldate: local_stamp(start, zone, Style::Dashed),
        duration_int: Text((end - start).max(0) / 1000),
        billsec_int: Text(r.talk_secs),
        disposition: r.cause.map(|c| c.asterisk_disposition(answered)).unwrap_or("UNKNOWN"),
        customerid: "",
        companyid: company,
        classif_id: "",
        project_id: "",
        staffid: &r.staff,
        exten: &r.extension,
        codeid_1: &r.codeid_1,
        codeid_2: &r.codeid_2,
        uniqueid: if r.recording.is_empty() { "" } else { &s.call_id },
        calltype: calltype(r),
    }
}

async fn cdr_list(state: &AppState, tenant: &Tenant, params: &Params) -> Result<CdrPage, Refusal> {
    let text = |n: &str| params.get(n).map(str::to_string);
    let ascending = match params.get("Sort").map(str::to_ascii_uppercase).as_deref() {
        None | Some("DESC") => false,
        Some("ASC") => true,
        Some(other) => return Err(fail(errno::FAILED, format!("Sort 只能是 DESC 或 ASC: {other}"))),
    };
    let limit = int_param(params, "Limit")?.unwrap_or(20);
    if !(1..=yunhu_cc::calls::MAX_PAGE).contains(&limit) {
        return Err(fail(errno::FAILED, format!("Limit 应在 1-{}", yunhu_cc::calls::MAX_PAGE)));
    }
    let filter = yunhu_cc::calls::CallRecordFilter {
        staff: text("staffid"),
        extensions: text("exten").into_iter().collect(),
        customer: text("phonenum"),
        codeid_1: text("codeid_1"),
        codeid_2: text("codeid_2"),
        from_ms: params.get("begintime").map(|v| tenant_time(tenant, "begintime", v)).transpose()?,
        to_ms: params.get("endtime").map(|v| tenant_time(tenant, "endtime", v)).transpose()?,
        after_id: int_param(params, "PId")?,
        ascending,
        ..Default::default()
    };
    let records = state.services.list_call_records(tenant.id, &filter, limit).await.map_err(|e| {
        tracing::error!(error = %e, "GetCDRList");
        fail(errno::FAILED, "内部错误")
    })?;
    Ok(CdrPage { records, zone: yunhu_core::time::zone_or_default(&tenant.time_zone) })
}

/// A staff member as GetUserInfo spells them, fields in the seed's order, every value text.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserInfo<'a> {
    /// 用户名: yunhu's login name for a staff member is their account.
    user_name: &'a str,
    true_name: &'a str,
    role_name: &'static str,
    /// 所属身份: yunhu gives a staff member one role, so their identity is that role (the seed's
    /// example shows the same title in both).
    identity: &'static str,
    /// 归属部门: the staff member's team (班组); "" when they have none.
    department_name: &'a str,
    phone: &'a str,
    /// 工号: the account, which every verb's `staffid` takes (as it takes the extension).
    staff_id: &'a str,
    update_time: LocalStamp,
    create_time: LocalStamp,
}

fn user_info(zone: chrono_tz::Tz, s: &yunhu_cc::directory::StaffEntry) -> UserInfo<'_> {
    UserInfo {
        user_name: &s.user_code,
        true_name: &s.name,
        role_name: s.role.title(),
        identity: s.role.title(),
        department_name: s.team.as_ref().map(|(_, name)| name.as_str()).unwrap_or(""),
        phone: &s.work_phone,
        staff_id: &s.user_code,
        update_time: local_stamp(s.updated_at, zone, Style::Dashed),
        create_time: local_stamp(s.created_at, zone, Style::Dashed),
    }
}

/// `GetUserInfo`: the staff member `staffid` names (account or extension), or with no `staffid`
/// the whole company's staff, disabled members included; always a list. An unknown `staffid`
/// is errno 0: seed 004's table has no code of its own for it.
async fn user_info_list(state: &AppState, tenant: &Tenant, staff: Option<&str>) -> Result<Value, Refusal> {
    let entries = match state.services.staff_entries(tenant.id, staff).await {
        Ok(entries) => entries,
        Err(yunhu_cc::CcError::NotFound(_)) => {
            return Err(fail(errno::FAILED, format!("工号不存在: {}", staff.unwrap_or_default())));
        }
        Err(e) => {
            tracing::error!(error = %e, "GetUserInfo");
            return Err(fail(errno::FAILED, "内部错误"));
        }
    };
    let zone = yunhu_core::time::zone_or_default(&tenant.time_zone);
    let rows: Vec<UserInfo> = entries.iter().map(|s| user_info(zone, s)).collect();
    serde_json::to_value(rows).map_err(|e| {
        tracing::error!(error = %e, "GetUserInfo");
        fail(errno::FAILED, "内部错误")
    })
}

/// The customer number a data verb carries, as number files take numbers.
fn check_phone(phone: &str) -> Result<String, Refusal> {
    yunhu_cc::numberfile::normalize(phone).map_err(|why| fail(errno::FAILED, format!("号码不合法 ({why}): {phone}")))
}

/// The customer details a data verb carries, as one description.
fn customer_details(params: &Params) -> String {
    ["name", "address", "email", "comment"].iter().filter_map(|k| params.get(k)).collect::<Vec<_>>().join(" ")
}

/// `AddTaskData`: adds a customer's number to the outbound task (batch) `batchid`.
async fn add_task_data(
    state: &AppState,
    tenant: &Tenant,
    batch: &str,
    phone: &str,
    params: &Params,
) -> Result<Value, Refusal> {
    let phone = &check_phone(phone)?;
    let svc = &state.services;
    let filter = yunhu_cc::outbound::TaskFilter { code: Some(batch.to_string()), ..Default::default() };
    let found = svc.search_tasks(tenant.id, &filter, 1, 1).await.map_err(|e| {
        tracing::error!(error = %e, "AddTaskData");
        fail(errno::FAILED, "内部错误")
    })?;
    let Some(view) = found.0.into_iter().next() else {
        return Err(fail(errno::NO_BATCH, format!("任务批次不存在: {batch}")));
    };
    let numbers = [(phone.to_string(), customer_details(params))];
    match svc.append_numbers(tenant.id, view.task.id, "input", &numbers).await {
        Ok(0) => Err(fail(errno::DUPLICATE, format!("数据重复: {phone} 已在任务批次 {batch} 中"))),
        Ok(_) => Ok(json!([])),
        Err(yunhu_cc::CcError::Store(e)) => {
            tracing::error!(error = %e, "AddTaskData");
            Err(fail(errno::INSERT_FAILED, "数据插入失败"))
        }
        Err(e) => Err(fail(errno::INSERT_FAILED, format!("数据插入失败: {e}"))),
    }
}

/// `AddCBaseData`: gives a staff member a customer record.
async fn add_customer(
    state: &AppState,
    tenant: &Tenant,
    staff: &str,
    phone: &str,
    params: &Params,
) -> Result<Value, Refusal> {
    let phone = &check_phone(phone)?;
    let Ok(account) = state.services.staff_account(tenant.id, staff).await else {
        return Err(fail(errno::FAILED, format!("工号不存在: {staff}")));
    };
    let text = |k: &str| params.get(k).unwrap_or_default().to_string();
    let customer = yunhu_cc::calls::Customer {
        staff: account,
        phone: phone.to_string(),
        name: text("name"),
        address: text("address"),
        email: text("email"),
        comment: text("comment"),
    };
    match state.services.add_customer(tenant.id, &customer).await {
        Ok(true) => Ok(json!([])),
        Ok(false) => Err(fail(errno::DUPLICATE, format!("数据重复: {staff} 已有客户 {phone}"))),
        Err(e) => {
            tracing::error!(error = %e, "AddCBaseData");
            Err(fail(errno::INSERT_FAILED, "数据插入失败"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// The spelling before GetCDRList rows were typed: a `Value` built field by field.
    fn value_cdr(zone: chrono_tz::Tz, company: &str, s: &StoredCallRecord) -> Value {
        let r = &s.record;
        let inbound = r.direction == "inbound";
        let predictive = r.method == CallMethod::Predictive;
        let CdrFacts { src, dst, start, end, answered } = CdrFacts::of(r);
        let disposition = r.cause.map(|c| c.asterisk_disposition(answered)).unwrap_or("UNKNOWN");
        let calldate = yunhu_core::time::from_millis(start).with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
        json!({
            "id": s.id.to_string(),
            "src": src,
            "dst": dst,
            "calldate": calldate.to_string(),
            "duration_int": ((end - start).max(0) / 1000).to_string(),
            "billsec_int": r.talk_secs.to_string(),
            "disposition": disposition,
            "customerid": "",
            "companyid": company,
            "ClassifId": "",
            "ProjectId": "",
            "staffid": r.staff,
            "exten": r.extension,
            "codeid_1": r.codeid_1,
            "codeid_2": r.codeid_2,
            "uniqueid": if r.recording.is_empty() { String::new() } else { s.call_id.clone() },
            "calltype": if inbound { "1" } else if predictive { "3" } else { "0" },
        })
    }

    #[test]
    fn calltype_is_1_inbound_3_predictive_0_otherwise_and_an_inbound_call_dates_from_the_caller() {
        let mut s = samples::inbound();
        let row = serde_json::to_value(cdr(chrono_tz::Asia::Shanghai, "8", &s)).unwrap();
        assert_eq!((&row["calltype"], &row["src"], &row["dst"]), (&json!("1"), &json!("13600136000"), &json!("1002")));
        // The caller's leg began 14 s before the agent's phone rang.
        assert_eq!((&row["calldate"], &row["duration_int"]), (&json!("2026-01-01 00:00:00"), &json!("60")));
        s.record.direction = "outbound".into();
        for (method, want) in [(CallMethod::Predictive, "3"), (CallMethod::Api, "0"), (CallMethod::Preview, "0")] {
            s.record.method = method;
            assert_eq!(calltype(&s.record), want, "{method:?}");
        }
    }

    #[tokio::test]
    async fn typed_cdr_rows_spell_the_bytes_the_value_spelling_gave() {
        let records = samples::records(3000);
        for zone in [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York] {
            for s in &records {
                for company in ["8", "公司\"x"] {
                    let typed = serde_json::to_string(&cdr(zone, company, s)).unwrap();
                    assert_eq!(typed, value_cdr(zone, company, s).to_string());
                }
            }
        }
        let zone = chrono_tz::Asia::Shanghai;
        let rows = records[..20].iter().map(|s| cdr(zone, "8", s)).collect::<Vec<_>>();
        let bytes = axum::body::to_bytes(answer(errno::OK, "成功", rows).into_body(), usize::MAX).await.unwrap();
        let rows: Vec<Value> = records[..20].iter().map(|s| value_cdr(zone, "8", s)).collect();
        let value = json!({ "errno": "1", "message": "成功", "data": rows });
        assert_eq!(String::from_utf8(bytes.to_vec()).unwrap(), value.to_string());
        let refused = fail(errno::AUTH, "认证失败").into_response();
        let bytes = axum::body::to_bytes(refused.into_body(), usize::MAX).await.unwrap();
        assert_eq!(bytes, r#"{"errno":"3","message":"认证失败","data":[]}"#.as_bytes());
    }
}
