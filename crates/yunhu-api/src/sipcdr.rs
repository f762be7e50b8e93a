//! The sipcdr dialect (seed 001 and the App.Sip_* family its clients use): one URL taking
//! `POST` form data (urlencoded or multipart), `service=` choosing the call; answers in the
//! PhalApi envelope `{"ret":200,"data":{"status":0,"desc":...,"result":...,"reqtime","rsptime"},"msg":""}`.
//!
//! URL: `POST /` (the seed's client posts to the server's root), also `/index.php` and `/sipcdr`.
//!
//! `ret`: 200 handled (then `data.status` 0 success, 1 failure with the family's code and reason
//! in `data.errors` `{code, codemsg}` and both in `desc`), 400 illegal request (unknown service,
//! missing or malformed parameter; `msg` says which), 500 server error, 600 token missing,
//! invalid or expired, 601 appid / accesskey refused.
//!
//! Services: `App.Sip_Auth.Login` (appid, accesskey → token, valid 12 h), `App.Sip_Cdr.GetBill`,
//! `App.Sip_Cdr.GetRecodeFile` (filename → a signed download address, valid 24 h),
//! `App.Sip_Call.MakeCall` (extnumber, destnumber, and the custom data GetBill filters by),
//! `App.Sip_Status.GetSipCallStatus` (extnumber, a comma list → each extension's state),
//! `App.Sip_Sipnum.GetSipnumberInfo` (status 1 enabled / 2 disabled / 3 all, optional extnumber
//! list → the extensions).
//!
//! Extension codes: 1011 not this company's, 1012 no such extension, 1013 disabled, 1014 not
//! registered, 1016 enabled, 1017 registered. Call states: 1201 idle, 1202 ringing, 1204 in a
//! call.
//!
//! GetBill codes. `direction`: `callin` (a customer called in), `callout` (everything else).
//! `callmethod`: 1 extension to extension, 3 API call, 5 predictive, 0 inbound (a filter of 0
//! means any method). `hangupdirection`: 10040 the caller hung up, 10041 the callee hung up,
//! 10007 yunhu ended the call. `hangupcause`:
//!
//! | cause | code |
//! |---|---|
//! | NORMAL_CLEARING | 10001 normal |
//! | ORIGINATOR_CANCEL | 10002 cancelled |
//! | CALL_REJECTED | 10003 refused |
//! | NORMAL_TEMPORARY_FAILURE, CRASH | 10004 trunk failure |
//! | USER_BUSY | 10006 busy |
//! | SUBSCRIBER_ABSENT | 10008 extension not registered |
//! | UNALLOCATED_NUMBER | 10014 not found |
//! | RECOVERY_ON_TIMER_EXPIRE | 10015 request timeout |
//! | NO_ANSWER | 10016 no answer |
//! | (unknown) | 10031 unknown |
//!
//! `syncflag` 1 returns only records this appid has not fetched, oldest first, and marks the
//! ones returned as fetched (so a client asks page 1 until it comes back empty); 2 only fetched
//! ones; 3 all.

use crate::AppState;
use crate::body::{Params, RawBody};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use yunhu_cc::Tenant;
use yunhu_cc::calls::{CallRecordFilter, StoredCallRecord};
use yunhu_cc::lines::{Line, LineLookup};
use yunhu_cc::switch::{LineState, Reach};
use yunhu_core::call::{CallMethod, CallRecord, Cause, HangupSide};
use yunhu_core::time::{LocalStamp, Style, local_stamp};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", post(handle)).route("/index.php", post(handle)).route("/sipcdr", post(handle))
}

/// The custom data keys a call can carry and GetBill filters by.
pub const CUSTOM_KEYS: [&str; 4] = ["userid", "memberid", "chengshudu", "customuuid"];

/// A refusal: `ret` and `msg`.
struct Refusal(u16, String);

fn illegal(msg: impl Into<String>) -> Refusal {
    Refusal(400, format!("非法请求: {}", msg.into()))
}

fn internal(e: yunhu_cc::CcError) -> Refusal {
    tracing::error!(error = %e, "sipcdr");
    Refusal(500, "服务器内部错误".into())
}

/// What a service answers: success with a result, or a handled failure (`status` 1).
enum Outcome {
    Done(&'static str, Value),
    /// GetBill's page, written straight from its rows.
    Bills(BillPage),
    /// A handled failure: the family's code and the reason.
    Failed(u16, String),
}

/// A failure's `errors`, as the family's clients read it.
#[derive(Serialize)]
struct Errors<'a> {
    code: u16,
    codemsg: &'a str,
}

/// `{ret, data, msg}`, in that order.
#[derive(Serialize)]
struct Envelope<'a, D> {
    ret: u16,
    data: D,
    msg: &'a str,
}

/// The `data` of a handled request.
#[derive(Serialize)]
struct Handled<'a, R> {
    status: u8,
    desc: &'a str,
    /// Why a failure failed; absent on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Errors<'a>>,
    result: R,
    reqtime: i64,
    rsptime: i64,
}

fn envelope(ret: u16, data: impl Serialize, msg: &str) -> Response {
    let body = crate::json_body(&Envelope { ret, data, msg });
    ([(header::CONTENT_TYPE, "application/json;charset=utf-8")], body).into_response()
}

async fn handle(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: RawBody,
) -> Response {
    let reqtime = state.services.clock().now().timestamp();
    let result = async {
        let params = Params::read(q.as_deref(), &headers, &body).await.map_err(|e| illegal(e.0))?;
        let service = params.get("service").ok_or_else(|| illegal("缺少参数 service"))?.to_string();
        // PhalApi matches service names without regard to case.
        match service.to_ascii_lowercase().as_str() {
            "app.sip_auth.login" => login(&state, &params, crate::source_ip(&extensions)).await,
            "app.sip_cdr.getbill" => get_bill(&state, &params, &headers).await,
            "app.sip_cdr.getrecodefile" => record_file(&state, &params, &headers).await,
            "app.sip_call.makecall" => make_call(&state, &params).await,
            "app.sip_status.getsipcallstatus" => call_status_of(&state, &params).await,
            "app.sip_sipnum.getsipnumberinfo" => number_info(&state, &params).await,
            _ => Err(illegal(format!("服务 {service} 不存在"))),
        }
    }
    .await;
    let rsptime = state.services.clock().now().timestamp();
    match result {
        Ok(Outcome::Done(desc, result)) => {
            envelope(200, Handled { status: 0, desc, errors: None, result, reqtime, rsptime }, "")
        }
        Ok(Outcome::Bills(page)) => {
            let bills = page.rows.iter().map(|r| bill(page.zone, r, &page.host)).collect::<Vec<_>>();
            let result = Bills { totalitems: page.total, currentpage: page.page, itemsperpage: page.size, bills };
            envelope(200, Handled { status: 0, desc: "获取成功", errors: None, result, reqtime, rsptime }, "")
        }
        Ok(Outcome::Failed(code, codemsg)) => {
            let desc = format!("{code} {codemsg}");
            let errors = Some(Errors { code, codemsg: &codemsg });
            envelope(200, Handled { status: 1, desc: &desc, errors, result: (), reqtime, rsptime }, "")
        }
        Err(Refusal(ret, msg)) => envelope(ret, json!({}), &msg),
    }
}

async fn login(state: &AppState, params: &Params, source: Option<std::net::IpAddr>) -> Result<Outcome, Refusal> {
    let (Some(appid), Some(key)) = (params.get("appid"), params.get("accesskey")) else {
        return Err(illegal("缺少参数 appid 或 accesskey"));
    };
    let issued = match state.services.issue_dialect_token(source, "sipcdr", appid, key).await {
        Err(yunhu_cc::CcError::Refused(why)) => return Err(Refusal(503, format!("服务繁忙, 请稍后再试 ({why})"))),
        other => other.map_err(internal)?,
    };
    match issued {
        Some((_, token)) => Ok(Outcome::Done("登录成功", json!({ "token": token }))),
        None => Err(Refusal(601, "appid 未授权或 accesskey 错误".into())),
    }
}

/// The tenant and appid behind the request's token.
async fn authorised(state: &AppState, params: &Params) -> Result<(Tenant, String), Refusal> {
    let token = params.get("token").ok_or_else(|| Refusal(600, "缺少 token".into()))?;
    state
        .services
        .check_dialect_token("sipcdr", token)
        .await
        .map_err(internal)?
        .ok_or_else(|| Refusal(600, "token 无效或已过期, 请重新登录".into()))
}

fn int(params: &Params, name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, Refusal> {
    let v = match params.get(name) {
        None => default,
        Some(v) => v.parse().map_err(|_| illegal(format!("{name} 必须是整数: {v}")))?,
    };
    if !range.contains(&v) {
        return Err(illegal(format!("{name} 应在 {}-{}: {v}", range.start(), range.end())));
    }
    Ok(v)
}

fn zone(tenant: &Tenant) -> chrono_tz::Tz {
    yunhu_core::time::zone_or_default(&tenant.time_zone)
}

fn hangup_cause(cause: Option<Cause>) -> i64 {
    match cause {
        Some(Cause::NormalClearing) => 10001,
        Some(Cause::OriginatorCancel) => 10002,
        Some(Cause::CallRejected) => 10003,
        Some(Cause::NormalTemporaryFailure | Cause::Crash) => 10004,
        Some(Cause::UserBusy) => 10006,
        Some(Cause::SubscriberAbsent) => 10008,
        Some(Cause::UnallocatedNumber) => 10014,
        Some(Cause::RecoveryOnTimerExpire) => 10015,
        Some(Cause::NoAnswer) => 10016,
        None => 10031,
    }
}

fn call_method(m: CallMethod) -> i64 {
    match m {
        CallMethod::Internal => 1,
        CallMethod::Api | CallMethod::Preview => 3,
        CallMethod::Predictive => 5,
        CallMethod::Inbound => 0,
    }
}

fn methods_of(code: i64) -> Vec<CallMethod> {
    yunhu_core::call::ALL_METHODS.into_iter().filter(|m| call_method(*m) == code).collect()
}

/// A GetBill page before it is spelt: its rows and what the spelling needs.
struct BillPage {
    rows: Vec<StoredCallRecord>,
    total: i64,
    page: i64,
    size: i64,
    zone: chrono_tz::Tz,
    /// `downloadip`: the host recordings are fetched from.
    host: String,
}

/// GetBill's `result`.
#[derive(Serialize)]
struct Bills<'a> {
    totalitems: i64,
    currentpage: i64,
    itemsperpage: i64,
    bills: Vec<Bill<'a>>,
}

/// A call record as GetBill spells it, fields in the seed's order.
#[derive(Serialize)]
struct Bill<'a> {
    id: i64,
    extnumber: &'a str,
    destnumber: &'a str,
    displaynumber: &'a str,
    starttime: Option<LocalStamp>,
    answertime: Option<LocalStamp>,
    endtime: Option<LocalStamp>,
    duration: i64,
    billsec: i64,
    direction: &'static str,
    callmethod: i64,
    userid: &'a str,
    memberid: &'a str,
    chengshudu: &'a str,
    customuuid: &'a str,
    recordfilename: &'a str,
    downloadip: &'a str,
    hangupdirection: i64,
    hangupcause: i64,
    userkey: &'a str,
}

/// The family's `hangupdirection`: 10040 the caller hung up, 10041 the callee, 10007 the system.
/// In a callout the agent's side placed the call; in a callin the customer did.
fn hangup_direction(r: &CallRecord) -> i64 {
    let inbound = r.method == CallMethod::Inbound;
    match (r.hangup_side, inbound) {
        (Some(HangupSide::System) | None, _) => 10007,
        (Some(HangupSide::Agent), false) | (Some(HangupSide::Customer), true) => 10040,
        (Some(HangupSide::Agent), true) | (Some(HangupSide::Customer), false) => 10041,
    }
}

fn bill<'a>(zone: chrono_tz::Tz, s: &'a StoredCallRecord, download_host: &'a str) -> Bill<'a> {
    let r = &s.record;
    let time = |ms: Option<i64>| ms.map(|t| local_stamp(t, zone, Style::Dashed));
    let start = r.started_at();
    let end = r.customer_leg.end.or(r.agent.end);
    let inbound = r.method == CallMethod::Inbound;
    let hangup_direction = hangup_direction(r);
    let custom = |k: &str| r.call_data.get(k).map(String::as_str).unwrap_or_default();
    Bill {
        id: s.id,
        extnumber: &r.extension,
        destnumber: &r.customer,
        displaynumber: &r.caller_id,
        starttime: time(Some(start)),
        answertime: time(r.customer_leg.answer.filter(|_| r.connected())),
        endtime: time(end),
        duration: end.map(|e| (e - start).max(0) / 1000).unwrap_or(0),
        // 通话时长: the seconds both sides talked (as action's billsec_int, crm's duration).
        billsec: r.talk_secs,
        direction: if inbound { "callin" } else { "callout" },
        callmethod: call_method(r.method),
        userid: custom("userid"),
        memberid: custom("memberid"),
        chengshudu: custom("chengshudu"),
        customuuid: custom("customuuid"),
        recordfilename: &r.recording,
        downloadip: if r.recording.is_empty() { "" } else { download_host },
        hangupdirection: hangup_direction,
        hangupcause: hangup_cause(r.cause),
        userkey: &r.digits,
    }
}

async fn get_bill(state: &AppState, params: &Params, headers: &HeaderMap) -> Result<Outcome, Refusal> {
    let (tenant, appid) = authorised(state, params).await?;
    let time = |name: &str| -> Result<i64, Refusal> {
        let v = params.get(name).ok_or_else(|| illegal(format!("缺少参数 {name}")))?;
        yunhu_core::time::parse_local(v, zone(&tenant))
            .ok_or_else(|| illegal(format!("{name} 格式应为 yyyy-mm-dd hh:mm:ss: {v}")))
    };
    let (from, to) = (time("starttime")?, time("endtime")?);
    let syncflag = int(params, "syncflag", 1, 1..=3)?;
    let direction = int(params, "direction", 3, 1..=3)?;
    let callmethod = int(params, "callmethod", 0, 0..=6)?;
    let page = int(params, "currentpage", 1, 1..=i64::MAX)?;
    let size = int(params, "itemsperpage", 10, 1..=1000)?;
    let mut filter = CallRecordFilter {
        from_ms: Some(from),
        to_ms: Some(to),
        customer: params.get("destnumber").map(str::to_string),
        extensions: params
            .get("extnumber")
            .map(|v| v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
        call_data: CUSTOM_KEYS.iter().filter_map(|k| params.get(k).map(|v| (k.to_string(), v.to_string()))).collect(),
        fetched_by: match syncflag {
            1 => Some((appid.clone(), false)),
            2 => Some((appid.clone(), true)),
            _ => None,
        },
        ascending: syncflag == 1,
        offset: (page - 1).saturating_mul(size),
        ..Default::default()
    };
    let mut nothing = false;
    match direction {
        1 => filter.methods = vec![CallMethod::Inbound],
        2 => filter.methods = yunhu_core::call::ALL_METHODS.into_iter().filter(|m| *m != CallMethod::Inbound).collect(),
        _ => {}
    }
    if callmethod != 0 {
        let by_method = methods_of(callmethod);
        filter.methods = if filter.methods.is_empty() {
            by_method
        } else {
            filter.methods.into_iter().filter(|m| by_method.contains(m)).collect()
        };
        nothing = filter.methods.is_empty();
    }
    let svc = &state.services;
    let (rows, total) = if nothing {
        (Vec::new(), 0)
    } else {
        svc.list_call_records_counted(tenant.id, &filter, size).await.map_err(|e| match e {
            yunhu_cc::CcError::Invalid(m) => illegal(m),
            e => internal(e),
        })?
    };
    if syncflag == 1 {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        svc.mark_fetched(tenant.id, &appid, &ids).await.map_err(internal)?;
    }
    // `downloadip`: the host recordings are fetched from (GetRecodeFile gives the full address).
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Ok(Outcome::Bills(BillPage { rows, total, page, size, zone: zone(&tenant), host }))
}

async fn record_file(state: &AppState, params: &Params, headers: &HeaderMap) -> Result<Outcome, Refusal> {
    let (tenant, _) = authorised(state, params).await?;
    let name = params.get("filename").ok_or_else(|| illegal("缺少参数 filename"))?;
    let found = state.services.recording_file(tenant.id, &state.recordings_dir, name).await.map_err(internal)?;
    match found {
        Some(file) => {
            let url = crate::recordings::absolute(headers, &state.services.recording_url(tenant.id, &file.name));
            Ok(Outcome::Done("获取成功", json!({ "filename": file.name, "url": url })))
        }
        None => Ok(Outcome::Failed(1029, format!("录音文件不存在: {name}"))),
    }
}

async fn make_call(state: &AppState, params: &Params) -> Result<Outcome, Refusal> {
    let (tenant, _) = authorised(state, params).await?;
    let (Some(ext), Some(dest)) = (params.get("extnumber"), params.get("destnumber")) else {
        return Err(illegal("缺少参数 extnumber 或 destnumber"));
    };
    let Some(switch) = &state.switch else { return Ok(Outcome::Failed(1001, "呼叫服务未启动".into())) };
    let call_data: BTreeMap<String, String> =
        CUSTOM_KEYS.iter().filter_map(|k| params.get(k).map(|v| (k.to_string(), v.to_string()))).collect();
    let context = yunhu_cc::switch::CallContext { call_data, ..Default::default() };
    match switch.click_to_call(&tenant, ext, dest, context).await {
        Ok(call_id) => Ok(Outcome::Done("呼叫成功", json!({ "callid": call_id }))),
        Err(e) => {
            let (code, why) = dial_failure(&e);
            Ok(Outcome::Failed(code, why))
        }
    }
}

fn dial_failure(e: &yunhu_cc::switch::DialError) -> (u16, String) {
    use yunhu_cc::switch::DialError as D;
    match e {
        D::NoStaff(x) => (1012, format!("分机不存在: {x}")),
        D::NotRegistered(x) => (1014, format!("分机未注册: {x}")),
        D::NotLoggedIn(x) => (1003, format!("坐席未登录: {x}")),
        D::Busy(x) => (1003, format!("分机正在通话: {x}")),
        D::BadNumber(x) => (1002, format!("号码不正确: {x}")),
        other => (1003, format!("呼叫失败: {other}")),
    }
}

/// A result as a `Value`.
fn value(v: impl Serialize) -> Result<Value, Refusal> {
    serde_json::to_value(v).map_err(|e| internal(yunhu_cc::CcError::Invalid(e.to_string())))
}

/// The extensions a comma list names, in its order, each once; at most `MAX_EXTENSIONS`.
fn extension_list(v: &str) -> Result<Vec<&str>, Refusal> {
    let mut out: Vec<&str> = Vec::new();
    for ext in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if !out.contains(&ext) {
            out.push(ext);
        }
    }
    if out.len() > MAX_EXTENSIONS {
        return Err(illegal(format!("extnumber 最多 {MAX_EXTENSIONS} 个分机")));
    }
    Ok(out)
}

/// The most extensions one status request may name.
const MAX_EXTENSIONS: usize = 500;

/// One extension's row of GetSipCallStatus, fields as the family's clients read them.
#[derive(Serialize, Default)]
struct CallStatus<'a> {
    extnumber: &'a str,
    /// 1201 idle, 1202 ringing, 1204 in a call; 1011 another company's extension, 1012 no
    /// such extension, 1013 disabled, 1014 not registered.
    status: u16,
    caller: &'a str,
    callee: &'a str,
    /// The caller ID the customer sees, on the extension's calls to customers; "" otherwise.
    disnumber: &'a str,
    /// `callout` (the extension's side placed the call), `callin` (it was called); "" when idle.
    direction: &'a str,
    /// The live call's id (yunhu's channel); "" when idle.
    channel: &'a str,
    /// Seconds since the staff member's last call ended; 0 when none ended since yunhu started,
    /// or when they are not idle.
    idleduration: i64,
    /// Seconds of talk in the live call; 0 while ringing or idle.
    callduration: i64,
}

/// The family's call-state code of a line.
fn line_code(line: &Line) -> u16 {
    match &line.state {
        _ if !line.enabled => 1013,
        LineState::Unregistered => 1014,
        LineState::Idle { .. } => 1201,
        LineState::Ringing(_) => 1202,
        LineState::InCall(_) => 1204,
    }
}

fn call_status<'a>(line: &'a Line, shown: &'a str, now_ms: i64) -> CallStatus<'a> {
    let secs = |since: i64| ((now_ms - since) / 1000).max(0);
    let mut row = CallStatus { extnumber: &line.extension, status: line_code(line), ..Default::default() };
    match &line.state {
        LineState::Ringing(leg) | LineState::InCall(leg) => {
            let (ext, out) = (line.extension.as_str(), leg.reach.outgoing());
            (row.caller, row.callee) = if out { (ext, leg.peer.as_str()) } else { (leg.peer.as_str(), ext) };
            row.direction = if out { "callout" } else { "callin" };
            row.disnumber = if leg.reach == Reach::ToCustomer { shown } else { "" };
            row.channel = &leg.call_id;
            if matches!(line.state, LineState::InCall(_)) {
                row.callduration = secs(leg.since_ms);
            }
        }
        LineState::Idle { since_ms: Some(since) } => row.idleduration = secs(*since),
        _ => {}
    }
    row
}

/// What a status request found for each extension it named.
enum Found<'a> {
    Line(Line),
    Code(&'a str, u16),
}

/// `App.Sip_Status.GetSipCallStatus`: each extension of `extnumber` (a comma list) with its call
/// state; an extension the company lacks is a row with its code (1011 another company's, 1012
/// none), as the family's clients read every row's `status`. The live state comes from the
/// switch; without telephony nothing is registered and every line is 1014 (or 1013).
async fn call_status_of(state: &AppState, params: &Params) -> Result<Outcome, Refusal> {
    let (tenant, _) = authorised(state, params).await?;
    let list = params.get("extnumber").ok_or_else(|| illegal("缺少参数 extnumber"))?;
    let exts = extension_list(list)?;
    if exts.is_empty() {
        return Err(illegal("缺少参数 extnumber"));
    }
    let svc = &state.services;
    let mut found = Vec::with_capacity(exts.len());
    for ext in &exts {
        found.push(match svc.line(state.switch.as_ref(), &tenant, ext).await.map_err(internal)? {
            LineLookup::Found(line) => Found::Line(line),
            LineLookup::Elsewhere => Found::Code(ext, 1011),
            LineLookup::Unknown => Found::Code(ext, 1012),
        });
    }
    let shown = svc.shown_caller_id(tenant.id).await.map_err(internal)?;
    let now_ms = svc.clock().now().timestamp_millis();
    let rows: Vec<CallStatus> = found
        .iter()
        .map(|f| match f {
            Found::Line(line) => call_status(line, &shown, now_ms),
            Found::Code(ext, code) => CallStatus { extnumber: ext, status: *code, ..Default::default() },
        })
        .collect();
    Ok(Outcome::Done("获取成功", value(rows)?))
}

/// One extension of GetSipnumberInfo, fields as the family's clients read them, then its state.
#[derive(Serialize)]
struct NumberInfo<'a> {
    extnumber: &'a str,
    /// The SIP password: always "", yunhu keeps only its digest (HA1), never the password.
    password: &'static str,
    /// 1016 enabled, 1013 disabled.
    status: u16,
    /// The caller ID the extension's calls to customers show.
    disnumber: &'a str,
    /// 1017 registered (or on a call, which a phone taking calls on the staff member's mobile
    /// can be without registering), 1014 not (yunhu's addition).
    regstatus: u16,
    /// As GetSipCallStatus's `status` (yunhu's addition).
    callstatus: u16,
}

/// `App.Sip_Sipnum.GetSipnumberInfo`: the company's extensions, `status` 1 enabled, 2 disabled,
/// 3 all (the default), only those of `extnumber` (a comma list) if given, in extension order.
/// One flat list, no pages: the family's clients send no page parameters and read `result` as
/// the whole list.
async fn number_info(state: &AppState, params: &Params) -> Result<Outcome, Refusal> {
    let (tenant, _) = authorised(state, params).await?;
    let enabled = match int(params, "status", 3, 1..=3)? {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    };
    let only = params.get("extnumber").map(extension_list).transpose()?;
    let svc = &state.services;
    let mut lines = svc.lines(state.switch.as_ref(), &tenant, enabled).await.map_err(internal)?;
    if let Some(only) = only {
        lines.retain(|l| only.contains(&l.extension.as_str()));
    }
    let shown = svc.shown_caller_id(tenant.id).await.map_err(internal)?;
    let rows: Vec<NumberInfo> = lines
        .iter()
        .map(|l| NumberInfo {
            extnumber: &l.extension,
            password: "",
            status: if l.enabled { 1016 } else { 1013 },
            disnumber: &shown,
            regstatus: if l.state == LineState::Unregistered { 1014 } else { 1017 },
            callstatus: line_code(l),
        })
        .collect();
    Ok(Outcome::Done("获取成功", value(rows)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// The spelling before bills were typed: a `Value` built field by field.
    fn value_bill(zone: chrono_tz::Tz, s: &StoredCallRecord, download_host: &str) -> Value {
        let r = &s.record;
        let time = |ms: Option<i64>| {
            ms.map(|t| yunhu_core::time::from_millis(t).with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string())
        };
        let start = r.started_at();
        let end = r.customer_leg.end.or(r.agent.end);
        let inbound = r.method == CallMethod::Inbound;
        let hangup_direction = hangup_direction(r);
        let custom = |k: &str| r.call_data.get(k).cloned().unwrap_or_default();
        json!({
            "id": s.id,
            "extnumber": r.extension,
            "destnumber": r.customer,
            "displaynumber": r.caller_id,
            "starttime": time(Some(start)),
            "answertime": time(r.customer_leg.answer.filter(|_| r.connected())),
            "endtime": time(end),
            "duration": end.map(|e| (e - start).max(0) / 1000).unwrap_or(0),
            "billsec": r.talk_secs,
            "direction": if inbound { "callin" } else { "callout" },
            "callmethod": call_method(r.method),
            "userid": custom("userid"),
            "memberid": custom("memberid"),
            "chengshudu": custom("chengshudu"),
            "customuuid": custom("customuuid"),
            "recordfilename": r.recording,
            "downloadip": if r.recording.is_empty() { "" } else { download_host },
            "hangupdirection": hangup_direction,
            "hangupcause": hangup_cause(r.cause),
            "userkey": r.digits,
        })
    }

    #[test]
    fn typed_bills_spell_the_bytes_the_value_spelling_gave() {
        let records = samples::records(3000);
        for zone in [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York] {
            for s in &records {
                for host in ["", "yunhu.example:8080"] {
                    let typed = serde_json::to_string(&bill(zone, s, host)).unwrap();
                    assert_eq!(typed, value_bill(zone, s, host).to_string());
                }
            }
        }
        // The envelope around a page, as `handle` writes it.
        let zone = chrono_tz::Asia::Shanghai;
        let bills = records[..20].iter().map(|r| bill(zone, r, "h")).collect::<Vec<_>>();
        let result = Bills { totalitems: 99, currentpage: 2, itemsperpage: 20, bills };
        let data = Handled { status: 0, desc: "获取成功", errors: None, result, reqtime: 17, rsptime: 18 };
        let typed = String::from_utf8(crate::json_body(&Envelope { ret: 200, data, msg: "" })).unwrap();
        let bills: Vec<Value> = records[..20].iter().map(|r| value_bill(zone, r, "h")).collect();
        let result = json!({ "totalitems": 99, "currentpage": 2, "itemsperpage": 20, "bills": bills });
        let data = json!({ "status": 0, "desc": "获取成功", "result": result, "reqtime": 17, "rsptime": 18 });
        assert_eq!(typed, json!({ "ret": 200, "data": data, "msg": "" }).to_string());
        let errors = Some(Errors { code: 1029, codemsg: "录音文件不存在: x" });
        let failed =
            Handled { status: 1, desc: "1029 录音文件不存在: x", errors, result: (), reqtime: 1, rsptime: 2 };
        let typed = String::from_utf8(crate::json_body(&Envelope { ret: 200, data: failed, msg: "" })).unwrap();
        let errors = json!({ "code": 1029, "codemsg": "录音文件不存在: x" });
        let data = json!({
            "status": 1, "desc": "1029 录音文件不存在: x", "errors": errors, "result": null, "reqtime": 1, "rsptime": 2
        });
        assert_eq!(typed, json!({ "ret": 200, "data": data, "msg": "" }).to_string());
    }
}
