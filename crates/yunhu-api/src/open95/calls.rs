//! Call-data endpoints (seed 002 §6.4): agent history (580-583), call history and one call,
//! recordings and their download.
//!
//! Codes used: `callType` 1 internal, 2 inbound, 3 manual/API outbound, 8 predictive, 9 preview;
//! `hangupType` 0 agent hung up first, 1 customer; `callResult` 0 not connected, 2 connected
//! (listed as 未接通 / 已接通, as the seed's example does); `state` 0 logged out, 1 ready,
//! 2 not ready; `reasonCode` of a 582 is the reason the agent gave (3 示忙 when none).

use super::{Ctx, Open95Error, page_data};
use crate::recordings::DownloadError;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use yunhu_cc::calls::{AgentEventFilter, CallRecordFilter, RosterEntry, StoredCallRecord};
use yunhu_core::agent::AgentEventKind;
use yunhu_core::call::{CallMethod, HangupSide};

/// open95 `callType` of a call method.
fn call_type(m: CallMethod) -> i64 {
    match m {
        CallMethod::Internal => 1,
        CallMethod::Inbound => 2,
        CallMethod::Api => 3,
        CallMethod::Predictive => 8,
        CallMethod::Preview => 9,
    }
}

/// The methods of an open95 `callType`; empty for a type yunhu never places (transfer, conference, ...).
fn method_of(code: &str) -> Result<Vec<CallMethod>, Open95Error> {
    let wanted: i64 = code.parse().map_err(|_| Open95Error::param(format!("callType 必须是整数 (got {code:?})")))?;
    if !(1..=10).contains(&wanted) {
        return Err(Open95Error::param(format!("callType 应为 1-10 (callType must be 1-10, got {wanted})")));
    }
    Ok(yunhu_core::call::ALL_METHODS.into_iter().filter(|m| call_type(*m) == wanted).collect())
}

impl Ctx {
    /// A time parameter, `yyyyMMddHHmmss` (or `yyyy-MM-dd HH:mm:ss`), in the tenant's zone.
    fn time(&self, name: &str) -> Result<Option<i64>, Open95Error> {
        let zone = yunhu_core::time::zone_or_default(&self.tenant.time_zone);
        self.optional(name)
            .map(|v| {
                yunhu_core::time::parse_local_any(v, zone).ok_or_else(|| {
                    Open95Error::param(format!("{name} 格式应为 yyyyMMddHHmmss ({name} must be yyyyMMddHHmmss)"))
                })
            })
            .transpose()
    }

    fn dashed_time(&self, ms: Option<i64>) -> Value {
        let zone = yunhu_core::time::zone_or_default(&self.tenant.time_zone);
        ms.map(|t| Value::from(yunhu_core::time::format_in_zone(t, zone, "%Y-%m-%d %H:%M:%S"))).unwrap_or(Value::Null)
    }

    fn long_extension(&self, ext: &str) -> Value {
        if ext.is_empty() { Value::Null } else { Value::from(format!("{}{ext}", self.tenant_prefix())) }
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, Open95Error> {
        self.optional(name)
            .map(|v| {
                v.parse().map_err(|_| Open95Error::param(format!("{name} 必须是整数 ({name} must be an integer)")))
            })
            .transpose()
    }
}

/// The filters callHistory and the recording list share; `None` when no call can match.
async fn record_filter(ctx: &Ctx) -> Result<Option<CallRecordFilter>, Open95Error> {
    let mut f = CallRecordFilter {
        customer: ctx.optional("customer").map(str::to_string),
        from_ms: ctx.time("cStartTimeFrom")?,
        to_ms: ctx.time("cStartTimeEnd")?,
        ..Default::default()
    };
    if let Some(agent) = ctx.optional("agent") {
        f.extensions = vec![ctx.extension(agent).await?];
    }
    if let Some(t) = ctx.optional("callType") {
        f.methods = method_of(t)?;
        if f.methods.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(f))
}

async fn listing(ctx: &Ctx, filter: Option<CallRecordFilter>) -> Result<(Vec<StoredCallRecord>, i64), Open95Error> {
    let (page, size) = ctx.page()?;
    let Some(filter) = filter else { return Ok((Vec::new(), 0)) };
    let total = ctx.svc.count_call_records(ctx.tenant.id, &filter).await?;
    let filter = CallRecordFilter { offset: (page - 1) * size, ..filter };
    Ok((ctx.svc.list_call_records(ctx.tenant.id, &filter, size).await?, total))
}

fn roster_by_account(roster: Vec<RosterEntry>) -> HashMap<String, RosterEntry> {
    roster.into_iter().map(|m| (m.user_code.clone(), m)).collect()
}

/// A call as callHistory spells it.
fn history_json(ctx: &Ctx, s: &StoredCallRecord, staff: &HashMap<String, RosterEntry>) -> Value {
    let r = &s.record;
    let member = staff.get(&r.staff);
    let has_agent = !r.extension.is_empty();
    let mut data = r.call_data.clone();
    for (k, v) in [("codeid_1", &r.codeid_1), ("codeid_2", &r.codeid_2)] {
        if !v.is_empty() {
            data.insert(k.into(), v.clone());
        }
    }
    let or_null = |v: &str| if v.is_empty() { Value::Null } else { Value::from(v) };
    let end = r.customer_leg.end.or(r.agent.end);
    json!({
        "id": s.id,
        "customer": r.customer,
        "talksec": r.talk_secs,
        "callResult": if r.connected() { "已接通" } else { "未接通" },
        "callId": s.call_id,
        "callSid": s.call_id,
        "cStartTime": ctx.dashed_time(Some(r.started_at())),
        "cAnswerTime": ctx.dashed_time(r.customer_leg.answer),
        "cEndTime": ctx.dashed_time(end),
        "cHangupCause": r.cause.map(|c| c.name()),
        "agent": ctx.long_extension(&r.extension),
        "agentName": member.map(|m| m.name.as_str()),
        "agentType": if !has_agent { Value::Null } else if member.is_some_and(|m| m.phone_take_along) { json!("pta") } else { json!("") },
        "auuid": if has_agent { Value::from(s.call_id.as_str()) } else { Value::Null },
        "aStartTime": ctx.dashed_time(r.agent.start),
        "aAnswerTime": ctx.dashed_time(r.agent.answer),
        "aEndTime": ctx.dashed_time(r.agent.end),
        "callType": call_type(r.method),
        "campaignId": or_null(&r.task_id),
        "queue": null,
        "exitStatus": null,
        "queueName": null,
        "queueTimes": -1,
        "queueStartTime": null,
        "queueEndTime": null,
        "ivrId": -1,
        "ivrDigits": or_null(&r.digits),
        "ivrStartTime": null,
        "ivrEndTime": null,
        "ivrLastNode": -1,
        "ivrName": null,
        "ivrLastDigit": r.digits.chars().last().map(String::from),
        "billsec": r.bill_secs,
        "ringsec": r.ring_secs,
        "dnis": or_null(&r.caller_id),
        "recordId": null,
        "filename": or_null(&r.recording),
        "recordsec": if r.recording.is_empty() { 0 } else { r.talk_secs },
        "satisfaction": -1,
        "arrangesec": 0,
        "lastCallbackAgent": null,
        "lastCallbackAgentName": null,
        "alreadyCallback": 0,
        "orderTime": 0,
        "maxTimes": 0,
        "autoTimes": 0,
        "manualTimes": 0,
        "autoAnswerTimes": 0,
        "manualAnswerTimes": 0,
        "lastCallbackTime": null,
        "tenantId": ctx.tenant.id.0,
        "cost": "0.000",
        "ivrSec": null,
        "queueSec": null,
        "startAt": ctx.dashed_time(Some(r.started_at())),
        "answerAt": ctx.dashed_time(r.customer_leg.answer),
        "releaseAt": ctx.dashed_time(end),
        "cityCode": null,
        "taskId": or_null(&r.task_id),
        "callData": if data.is_empty() { Value::Null } else { Value::from(serde_json::to_string(&data).unwrap_or_default()) },
        "isRobotGuide": null,
        "robotGuideStartTime": null,
        "robotGuideEndTime": null,
        "robotGuideTimeLength": null,
        "abridgeTime": ctx.dashed_time(r.agent.answer.filter(|_| r.connected())),
        "cbridgeTime": ctx.dashed_time(r.customer_leg.answer.filter(|_| r.connected())),
        "qcSv": null,
    })
}

/// `GET /callHistory/pageSearchCallHistory`.
pub(crate) async fn call_history(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let hangup_side = match ctx.optional("hangupType") {
        None => None,
        Some("0") => Some(HangupSide::Agent),
        Some("1") => Some(HangupSide::Customer),
        Some(v) => return Err(Open95Error::param(format!("hangupType 只能是 0 或 1 (got {v:?})"))),
    };
    let connected = match ctx.optional("callResult") {
        None => None,
        Some("0") => Some(false),
        Some("2") => Some(true),
        Some(v) => return Err(Open95Error::param(format!("callResult 只能是 0 或 2 (got {v:?})"))),
    };
    let (talk_min, talk_max) = (ctx.opt_int("talksecStart")?, ctx.opt_int("talksecEnd")?);
    let filter =
        record_filter(&ctx).await?.map(|f| CallRecordFilter { hangup_side, connected, talk_min, talk_max, ..f });
    let (rows, total) = listing(&ctx, filter).await?;
    let staff = roster_by_account(ctx.svc.roster(ctx.tenant.id, false).await?);
    Ok(Some(page_data(rows.iter().map(|r| history_json(&ctx, r, &staff)).collect(), total)))
}

/// `GET /callHistory/detailBySid`.
pub(crate) async fn call_detail(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let sid = ctx.required("sid")?;
    let found = ctx.svc.call_record(ctx.tenant.id, sid).await?;
    let record = found.ok_or_else(|| yunhu_cc::CcError::NotFound(format!("话单 {sid}")))?;
    let staff = roster_by_account(ctx.svc.roster(ctx.tenant.id, false).await?);
    // The seed's example answers with a one-row page.
    Ok(Some(page_data(vec![history_json(&ctx, &record, &staff)], 1)))
}

/// `GET /record/pageSearch4Record`.
pub(crate) async fn recordings(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let filter = record_filter(&ctx).await?.map(|f| CallRecordFilter { with_recording: true, ..f });
    let (rows, total) = listing(&ctx, filter).await?;
    let staff = roster_by_account(ctx.svc.roster(ctx.tenant.id, false).await?);
    let items = rows
        .iter()
        .map(|s| {
            let r = &s.record;
            json!({
                "id": s.id,
                "tenantId": ctx.tenant.id.0,
                "filename": r.recording,
                "customer": r.customer,
                "cStartTime": ctx.dashed_time(Some(r.started_at())),
                "answerTime": ctx.dashed_time(r.customer_leg.answer),
                "endTime": ctx.dashed_time(r.customer_leg.end.or(r.agent.end)),
                "agent": ctx.long_extension(&r.extension),
                "agentName": staff.get(&r.staff).map(|m| m.name.as_str()),
                "talksec": r.talk_secs,
                "satisfaction": -1,
                "ivrName": null,
                "ivrLastDigit": r.digits.chars().last().map(String::from),
                "callType": call_type(r.method),
            })
        })
        .collect();
    Ok(Some(page_data(items, total)))
}

/// `GET /record/recordDownload?path=<filename>`: the WAV, whole or one byte range.
pub(crate) async fn download(ctx: Ctx) -> Result<Response, Open95Error> {
    let path = ctx.required("path")?.trim();
    match crate::recordings::stream(&ctx.state, ctx.tenant.id, path, &ctx.headers).await {
        Ok(resp) => Ok(resp),
        Err(DownloadError::NotFound) => Err(Open95Error::with_status(
            StatusCode::NOT_FOUND,
            10101,
            format!("录音不存在 (no such recording): {path}"),
        )),
        Err(e @ DownloadError::BadRange(_)) => Ok(crate::recordings::plain_error(e)),
        Err(DownloadError::Internal) => {
            Err(Open95Error::with_status(StatusCode::INTERNAL_SERVER_ERROR, -1, "未知错误".into()))
        }
    }
}

fn state_kinds(state: &str) -> Result<Vec<&'static str>, Open95Error> {
    match state {
        "0" => Ok(vec!["agent_logout"]),
        "1" => Ok(vec!["agent_login", "agent_ready"]),
        "2" => Ok(vec!["agent_not_ready"]),
        v => Err(Open95Error::param(format!("state 只能是 0、1 或 2 (got {v:?})"))),
    }
}

fn action_kind(action: &str) -> Result<&'static str, Open95Error> {
    match action {
        "580" => Ok("agent_login"),
        "581" => Ok("agent_logout"),
        "582" => Ok("agent_not_ready"),
        "583" => Ok("agent_ready"),
        v => Err(Open95Error::param(format!("action 只能是 580-583 (got {v:?})"))),
    }
}

fn hms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `GET /employeeHistories/pageSearch`: agents' presence changes, newest first.
pub(crate) async fn agent_history(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let (page, size) = ctx.page()?;
    let roster = ctx.svc.roster(ctx.tenant.id, ctx.optional("queueCode").is_some()).await?;
    let mut filter = AgentEventFilter {
        from_ms: ctx.time("startTimeFrom")?,
        to_ms: ctx.time("startTimeEnd")?,
        ..Default::default()
    };
    let mut members: Option<Vec<&RosterEntry>> = None;
    if let Some(agent) = ctx.optional("agentId") {
        let ext = ctx.extension(agent).await?;
        members = Some(roster.iter().filter(|m| m.agent_id == ext).collect());
    }
    if let Some(queue) = ctx.optional("queueCode") {
        let known: Vec<String> = ctx.svc.queue_codes(ctx.tenant.id).await?;
        let code = ctx.resolve(&ctx.tenant_prefix(), queue, |c| known.iter().any(|k| k == c));
        let base = members.unwrap_or_else(|| roster.iter().collect());
        members = Some(base.into_iter().filter(|m| m.queues.contains(&code)).collect());
    }
    filter.user_codes = members.map(|ms| ms.iter().map(|m| m.user_code.clone()).collect());
    let by_state = ctx.optional("state").map(state_kinds).transpose()?;
    let by_action = ctx.optional("action").map(action_kind).transpose()?;
    filter.kinds = match (by_state, by_action) {
        (None, None) => vec![],
        (Some(s), None) => s.into_iter().map(String::from).collect(),
        (None, Some(a)) => vec![a.into()],
        (Some(s), Some(a)) if s.contains(&a) => vec![a.into()],
        // Contradictory filters match nothing.
        (Some(_), Some(_)) => vec!["none".into()],
    };
    let (entries, total) = ctx.svc.agent_history(ctx.tenant.id, &filter, (page - 1) * size, size).await?;
    let now = ctx.svc.clock().now().timestamp_millis();
    let items = entries
        .iter()
        .map(|e| {
            let member = roster.iter().find(|m| m.user_code == e.user_code);
            let state = match e.event.presence() {
                yunhu_core::agent::Presence::LoggedOut => 0,
                yunhu_core::agent::Presence::Ready => 1,
                yunhu_core::agent::Presence::NotReady => 2,
            };
            let reason = match &e.event {
                AgentEventKind::AgentNotReady { reason } => Value::from(reason.parse::<i64>().unwrap_or(3)),
                _ => Value::Null,
            };
            json!({
                "id": e.id,
                "tenantId": ctx.tenant.id.0,
                "createTime": ctx.compact_time(e.start),
                "startTime": ctx.compact_time(e.start),
                "endTime": e.end.map(|t| ctx.compact_time(t)),
                "agentId": ctx.long_extension(member.map(|m| m.agent_id.as_str()).unwrap_or("")),
                "action": e.event.code(),
                "reasonCode": reason,
                "state": state,
                "callType": null,
                "callId": null,
                "duration": hms(e.end.unwrap_or(now) - e.start),
                "agentName": member.map(|m| m.name.as_str()),
            })
        })
        .collect();
    Ok(Some(page_data(items, total)))
}
