//! The crm dialect (seed 000): call logs under `/api/v1/` (and `/v1/`), signed with
//! `sign` = sha1 hex of `email&secretKey&timestamp`; answers `{code, message, visible, data}`.
//!
//! Errors use the same envelope with HTTP-like codes: 400 bad parameter (a page deeper than
//! 100,000 records too), 401 refused signature (missing, wrong, more than 300 s from now, or used
//! before by a tenant that wants single-use signs), 404 no such call, 500 internal.

use crate::AppState;
use crate::body::{Params, RawBody};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use yunhu_cc::Tenant;
use yunhu_cc::auth::SignError;
use yunhu_cc::calls::{CallRecordFilter, StoredCallRecord};
use yunhu_core::call::{CallRecord, Cause, HangupSide};
use yunhu_core::time::{LocalStamp, Style, local_stamp};

pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for prefix in ["/api/v1", "/v1"] {
        r = r
            .route(&format!("{prefix}/callLogs"), get(call_logs))
            .route(&format!("{prefix}/callLogs/view"), get(view))
            .route(&format!("{prefix}/callLogs/search"), post(search))
            .route(&format!("{prefix}/hangupReasons"), get(hangup_reasons));
    }
    r
}

/// The seed's 18 hangup reasons (外呼挂机原因).
pub const HANGUP_REASONS: [&str; 18] = [
    "关机",
    "空号",
    "停机",
    "占线",
    "用户拒接",
    "无法接通",
    "暂停服务",
    "用户正忙",
    "拨号方式不正确",
    "呼入限制",
    "呼叫转移失败",
    "网络忙",
    "无人接听",
    "欠费",
    "无法接听",
    "改号",
    "线路故障",
    "稍后再拨",
];

/// The reason (1-based id into [`HANGUP_REASONS`]) of an outbound call the customer did not take.
fn hangup_reason(cause: Cause) -> Option<u8> {
    match cause {
        Cause::UnallocatedNumber => Some(2),
        Cause::UserBusy => Some(4),
        Cause::CallRejected => Some(5),
        Cause::RecoveryOnTimerExpire => Some(6),
        Cause::NoAnswer => Some(13),
        Cause::SubscriberAbsent => Some(15),
        Cause::NormalTemporaryFailure | Cause::Crash => Some(17),
        Cause::NormalClearing | Cause::OriginatorCancel => None,
    }
}

/// `{code, message, visible, data}`, in that order.
#[derive(Serialize)]
struct Envelope<'a, D> {
    code: u16,
    message: &'a str,
    visible: bool,
    data: D,
}

fn envelope(status: StatusCode, code: u16, message: &str, data: impl Serialize) -> Response {
    let body = crate::json_body(&Envelope { code, message, visible: false, data });
    (status, [(header::CONTENT_TYPE, "application/json;charset=UTF-8")], body).into_response()
}

fn ok(data: impl Serialize) -> Response {
    envelope(StatusCode::OK, 200, "OK", data)
}

/// A refusal: code (also the HTTP status) and message.
struct CrmError(u16, String);

fn refuse(code: u16, message: impl Into<String>) -> CrmError {
    CrmError(code, message.into())
}

impl IntoResponse for CrmError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0).unwrap_or(StatusCode::BAD_REQUEST);
        envelope(status, self.0, &self.1, Value::Null)
    }
}

/// Parses the request and checks its signature.
async fn signed(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &RawBody,
) -> Result<(Tenant, Params), CrmError> {
    let params =
        Params::read(query, headers, body).await.map_err(|e| refuse(if e.is_too_large() { 413 } else { 400 }, e.0))?;
    let checked =
        state.services.check_crm_sign(params.get("email"), params.get("timestamp"), params.get("sign")).await.map_err(
            |e| {
                tracing::error!(error = %e, "crm sign");
                refuse(500, "internal error")
            },
        )?;
    match checked {
        Ok(t) => Ok((t, params)),
        Err(SignError::Missing) => Err(refuse(401, "email, timestamp and sign are required")),
        Err(SignError::Invalid) => Err(refuse(401, "sign is not valid")),
        Err(SignError::Stale) => Err(refuse(401, "timestamp is more than 300 seconds from now")),
        Err(SignError::Replayed) => Err(refuse(401, "sign was already used")),
    }
}

fn zone(tenant: &Tenant) -> chrono_tz::Tz {
    yunhu_core::time::zone_or_default(&tenant.time_zone)
}

fn tenant_time(tenant: &Tenant, name: &str, value: &str) -> Result<i64, CrmError> {
    yunhu_core::time::parse_local(value, zone(tenant))
        .ok_or_else(|| refuse(400, format!("{name} must be yyyy-MM-dd HH:mm:ss, not {value:?}")))
}

/// A call record spelt the seed's way, fields in the seed's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallLog<'a> {
    id: i64,
    create_time: LocalStamp,
    customer_number: &'a str,
    province: Option<&'static str>,
    city: Option<&'static str>,
    agent_name: Option<&'a str>,
    duration: i64,
    result: u8,
    ringing_duration: i64,
    sp_number: &'a str,
    call_type: u8,
    seat_type: u8,
    drop_side: Option<u8>,
    hangup_cause_id: Option<u8>,
    call_id: &'a str,
    customer_name: (),
    business_id: (),
    business_log_type: (),
    conversation_id: &'a str,
    /// The one-call view adds the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_user_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_log_record_found_response_list: Option<Vec<RecordUrl>>,
    /// An agent's latest calls (`/callLogs/search`) add the seconds the caller spent in the IVR
    /// (`ivrDuration`, null without one); the seed's other listings have no such field.
    #[serde(skip_serializing_if = "Option::is_none")]
    ivr_duration: Option<Option<i64>>,
}

/// Seconds the caller spent in the IVR; `None` when there was none.
fn ivr_secs(r: &CallRecord) -> Option<i64> {
    match (r.ivr_start, r.ivr_end) {
        (Some(a), Some(b)) => Some((b - a).max(0) / 1000),
        _ => None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordUrl {
    record_url: String,
}

/// A call record spelt the seed's way.
/// The seed's `result` of a call (1 customer answered, 2 customer did not, 3 agent did not
/// answer, 4 agent refused, 5 agent answered an inbound call) and its `hangupCauseId`, given only
/// when an answering agent's customer did not answer.
fn result_and_reason(r: &CallRecord) -> (u8, Option<u8>) {
    let inbound = r.direction == "inbound";
    let agent_answered = r.agent.answer.is_some();
    let customer_answered = r.customer_leg.answer.is_some();
    let refused_by_agent = matches!(r.cause, Some(Cause::UserBusy | Cause::CallRejected)) && !agent_answered;
    let result = match (inbound, agent_answered, customer_answered) {
        (_, false, _) if refused_by_agent => 4,
        (_, false, _) => 3,
        (true, true, _) => 5,
        (false, true, true) => 1,
        (false, true, false) => 2,
    };
    let reason = if !inbound && agent_answered && !customer_answered { r.cause.and_then(hangup_reason) } else { None };
    (result, reason)
}

fn call_log<'a>(
    zone: Tz,
    s: &'a StoredCallRecord,
    names: &'a HashMap<String, String>,
    recording_url: Option<String>,
) -> CallLog<'a> {
    let r = &s.record;
    let inbound = r.direction == "inbound";
    let (result, reason) = result_and_reason(r);
    let region = yunhu_core::geo::cn_region(&r.customer);
    // A customer who called in began the call, before any agent rang.
    let start = r.started_at();
    let recording =
        recording_url.map(|url| if r.recording.is_empty() { Vec::new() } else { vec![RecordUrl { record_url: url }] });
    CallLog {
        id: s.id,
        create_time: local_stamp(start, zone, Style::Dashed),
        customer_number: &r.customer,
        province: region.map(|g| g.province),
        city: region.map(|g| g.city),
        agent_name: names.get(&r.staff).map(String::as_str),
        duration: r.talk_secs,
        result,
        ringing_duration: r.ring_secs,
        sp_number: &r.caller_id,
        call_type: if inbound { 1 } else { 2 },
        seat_type: 1,
        drop_side: match r.hangup_side {
            Some(HangupSide::Customer) => Some(1),
            Some(HangupSide::Agent) => Some(2),
            _ => None,
        },
        hangup_cause_id: reason,
        call_id: &s.call_id,
        customer_name: (),
        business_id: (),
        business_log_type: (),
        conversation_id: &s.call_id,
        channel_user_type: recording.as_ref().map(|_| 2),
        call_log_record_found_response_list: recording,
        ivr_duration: None,
    }
}

/// A page of call logs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogPage<'a> {
    list: Vec<CallLog<'a>>,
    page_num: i64,
    page_size: i64,
    total: i64,
    paging: (),
}

fn int_or(params: &Params, name: &str, default: i64) -> Result<i64, CrmError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| refuse(400, format!("{name} must be an integer, not {v:?}"))),
    }
}

/// A page of call logs, answered.
async fn page(
    state: &AppState,
    tenant: &Tenant,
    filter: CallRecordFilter,
    page_num: i64,
    size: i64,
    with_ivr: bool,
) -> Result<Response, CrmError> {
    let internal = |e: yunhu_cc::CcError| {
        tracing::error!(error = %e, "crm call logs");
        refuse(500, "internal error")
    };
    let offset = (page_num - 1).saturating_mul(size);
    if offset > yunhu_cc::calls::MAX_PAGED_OFFSET {
        let deepest = yunhu_cc::calls::MAX_PAGED_OFFSET / size + 1;
        return Err(refuse(
            400,
            format!(
                "pageNum may be at most {deepest} with pageSize {size}; narrow startTime/endTime to see older calls"
            ),
        ));
    }
    let filter = CallRecordFilter { offset, ..filter };
    let (rows, total) = state.services.list_call_records_counted(tenant.id, &filter, size).await.map_err(internal)?;
    let names = state.services.staff_names(tenant.id).await.map_err(internal)?;
    let zone = zone(tenant);
    let list = rows
        .iter()
        .map(|r| CallLog { ivr_duration: with_ivr.then(|| ivr_secs(&r.record)), ..call_log(zone, r, &names, None) })
        .collect();
    Ok(ok(LogPage { list, page_num, page_size: size, total, paging: () }))
}

/// `GET /api/v1/callLogs`.
async fn call_logs(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    let run = async {
        let (tenant, p) = signed(&state, q.as_deref(), &headers, &body).await?;
        // The public SDK's getCallLogs sends no window: each missing bound is today's, in the
        // tenant's zone.
        let (today_start, today_end) =
            yunhu_core::time::local_day(state.services.clock().now().timestamp_millis(), zone(&tenant));
        let from = p.get("startTime").map_or(Ok(today_start), |v| tenant_time(&tenant, "startTime", v))?;
        let to = p.get("endTime").map_or(Ok(today_end), |v| tenant_time(&tenant, "endTime", v))?;
        let page_num = int_or(&p, "pageNum", 1)?;
        let size = int_or(&p, "pageSize", 20)?;
        if page_num < 1 || !(1..=100).contains(&size) {
            return Err(refuse(400, "pageNum must be at least 1 and pageSize 1-100"));
        }
        let filter = CallRecordFilter { from_ms: Some(from), to_ms: Some(to), ..Default::default() };
        page(&state, &tenant, filter, page_num, size, false).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v1/callLogs/view`.
async fn view(State(state): State<AppState>, RawQuery(q): RawQuery, headers: HeaderMap, body: RawBody) -> Response {
    let run = async {
        let (tenant, p) = signed(&state, q.as_deref(), &headers, &body).await?;
        let call_id = p.get("callId").ok_or_else(|| refuse(400, "callId is required"))?;
        let found = state.services.call_record(tenant.id, call_id).await.map_err(|_| refuse(500, "internal error"))?;
        let record = found.ok_or_else(|| refuse(404, format!("no call {call_id}")))?;
        let names = state.services.staff_names(tenant.id).await.map_err(|_| refuse(500, "internal error"))?;
        let url =
            crate::recordings::absolute(&headers, &state.services.recording_url(tenant.id, &record.record.recording));
        Ok::<Response, CrmError>(ok([call_log(zone(&tenant), &record, &names, Some(url))]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /api/v1/callLogs/search`: an agent's latest calls.
async fn search(State(state): State<AppState>, RawQuery(q): RawQuery, headers: HeaderMap, body: RawBody) -> Response {
    let run = async {
        let (tenant, p) = signed(&state, q.as_deref(), &headers, &body).await?;
        let agent = p.get("masterUserId").ok_or_else(|| refuse(400, "masterUserId is required"))?;
        let filter = CallRecordFilter { staff: Some(agent.to_string()), ..Default::default() };
        page(&state, &tenant, filter, 1, 20, true).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v1/hangupReasons`.
async fn hangup_reasons(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: RawBody,
) -> Response {
    if let Err(r) = signed(&state, q.as_deref(), &headers, &body).await {
        return r.into_response();
    }
    let data: Vec<Value> =
        HANGUP_REASONS.iter().enumerate().map(|(i, name)| json!({ "id": i + 1, "name": name })).collect();
    let body = json!({
        "code": 200,
        "message": "OK",
        "visible": false,
        "exception": null,
        "paging": { "pageNum": 1, "pageSize": data.len(), "total": data.len() },
        "data": data,
        "extra": null,
    });
    ([(header::CONTENT_TYPE, "application/json;charset=UTF-8")], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// The spelling before call logs were typed: a `Value` built field by field.
    fn value_call_log(
        zone: Tz,
        s: &StoredCallRecord,
        names: &HashMap<String, String>,
        recording_url: Option<String>,
    ) -> Value {
        let r = &s.record;
        let inbound = r.direction == "inbound";
        let (result, reason) = result_and_reason(r);
        let region = yunhu_core::geo::cn_region(&r.customer);
        let start = r.started_at();
        let create_time = yunhu_core::time::from_millis(start).with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
        let mut v = json!({
            "id": s.id,
            "createTime": create_time.to_string(),
            "customerNumber": r.customer,
            "province": region.map(|g| g.province),
            "city": region.map(|g| g.city),
            "agentName": names.get(&r.staff),
            "duration": r.talk_secs,
            "result": result,
            "ringingDuration": r.ring_secs,
            "spNumber": r.caller_id,
            "callType": if inbound { 1 } else { 2 },
            "seatType": 1,
            "dropSide": match r.hangup_side { Some(HangupSide::Customer) => json!(1), Some(HangupSide::Agent) => json!(2), _ => Value::Null },
            "hangupCauseId": reason,
            "callId": s.call_id,
            "customerName": null,
            "businessId": null,
            "businessLogType": null,
            "conversationId": s.call_id,
        });
        if let Some(url) = recording_url {
            let urls: Vec<Value> = if r.recording.is_empty() { Vec::new() } else { vec![json!({ "recordUrl": url })] };
            v["channelUserType"] = json!(2);
            v["callLogRecordFoundResponseList"] = Value::Array(urls);
        }
        v
    }

    #[test]
    fn inbound_calls_are_type_1_answered_by_the_agent_5_or_missed_3_and_dated_from_the_caller() {
        let mut s = samples::records(1).remove(0);
        s.record = samples::inbound().record;
        let names = samples::names();
        let log = serde_json::to_value(call_log(chrono_tz::Asia::Shanghai, &s, &names, None)).unwrap();
        // The caller's leg began the call, 14 s before the agent's phone rang.
        assert_eq!((&log["callType"], &log["result"]), (&json!(1), &json!(5)), "{log}");
        assert_eq!((&log["createTime"], &log["hangupCauseId"]), (&json!("2026-01-01 00:00:00"), &Value::Null));
        assert!(log.get("ivrDuration").is_none(), "only the agent's latest calls have it: {log}");
        let with_ivr =
            CallLog { ivr_duration: Some(ivr_secs(&s.record)), ..call_log(chrono_tz::UTC, &s, &names, None) };
        assert_eq!(serde_json::to_value(with_ivr).unwrap()["ivrDuration"], 2);
        // Nobody took the call: the agent did not answer (3).
        s.record.agent = Default::default();
        s.record.staff.clear();
        assert_eq!(result_and_reason(&s.record), (3, None));
    }

    async fn body_of(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn typed_call_logs_spell_the_bytes_the_value_spelling_gave() {
        let names = samples::names();
        let records = samples::records(3000);
        for zone in [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York] {
            for s in &records {
                for url in [None, Some("http://h/r?a=\"1\"".to_string())] {
                    let typed = serde_json::to_string(&call_log(zone, s, &names, url.clone())).unwrap();
                    assert_eq!(typed, value_call_log(zone, s, &names, url).to_string());
                }
            }
        }
        let zone = chrono_tz::Asia::Shanghai;
        let page = &records[..20];
        let list = page.iter().map(|r| call_log(zone, r, &names, None)).collect();
        let typed = body_of(ok(LogPage { list, page_num: 3, page_size: 20, total: 1234, paging: () })).await;
        let list: Vec<Value> = page.iter().map(|r| value_call_log(zone, r, &names, None)).collect();
        let data = json!({ "list": list, "pageNum": 3, "pageSize": 20, "total": 1234, "paging": null });
        let value = json!({ "code": 200, "message": "OK", "visible": false, "data": data });
        assert_eq!(typed, value.to_string());
        let refused = body_of(refuse(401, "sign was already used").into_response()).await;
        assert_eq!(refused, r#"{"code":401,"message":"sign was already used","visible":false,"data":null}"#);
    }
}
