//! Call-data endpoints (seed 002 §6.4): agent history (580-583), call history and one call,
//! recordings and their download.
//!
//! Codes used: `callType` 1 internal, 2 inbound, 3 manual/API outbound, 8 predictive, 9 preview;
//! `hangupType` 0 agent hung up first, 1 customer; `callResult` 0 not connected, 2 connected
//! (listed as 未接通 / 已接通, as the seed's example does); `state` 0 logged out, 1 ready,
//! 2 not ready; `reasonCode` of a 582 is the reason the agent gave (3 示忙 when none), 0 整理
//! for after-call work, whose row also names the call (`callId`, `callType`).
//!
//! The inbound contact center's fields: `queue` is the skill group as open95 lists skill groups
//! (tenant id + code), `queueName` its name; `exitStatus` 0 left the queue otherwise, 1 the
//! caller gave up waiting; `queueTimes` -1 never queued, else 0 (yunhu puts no caller back into
//! a queue it left); `queueSec` / `ivrSec` the seconds spent there. `ivrDigits` and
//! `ivrLastDigit` are the IVR's keys when the caller went through one, else every key the
//! customer pressed (the table's 客户的按键). `satisfaction` -1 no survey (未评价), 0 a survey
//! nobody answered (the seed's example shows 0 beside the table's -1), else the key pressed.

use super::{Ctx, Open95Error, page_data};
use crate::jsonw::Obj;
use crate::recordings::DownloadError;
use axum::http::StatusCode;
use axum::response::Response;
use chrono_tz::Tz;
use serde::Serialize;
use serde::ser::Serializer;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use yunhu_cc::calls::{AgentEventFilter, CallRecordFilter, RosterEntry, StoredCallRecord};
use yunhu_core::agent::{AgentEventKind, hms};
use yunhu_core::call::{CallMethod, CallRecord, HangupSide};
use yunhu_core::time::{Style, local_stamp};

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

/// open95 `satisfaction`: -1 no survey, else the survey's key (0: nobody pressed one).
fn satisfaction(r: &CallRecord) -> i64 {
    r.satisfaction.map_or(-1, i64::from)
}

/// open95 `exitStatus` (离开状态: 0 进入队列, 1 客户放弃): null when the call never queued.
fn exit_status(r: &CallRecord) -> Option<u8> {
    (!r.queue.is_empty()).then_some(if r.queue_outcome == "abandoned" { 1 } else { 0 })
}

/// The keys open95 shows as `ivrDigits`: the IVR's when the caller went through one (even none),
/// else every key the customer pressed in the call.
fn keys(r: &CallRecord) -> &str {
    if r.ivr_name.is_empty() { &r.digits } else { &r.ivr_digits }
}

/// Seconds the caller spent in the IVR; `None` when there was none.
fn ivr_secs(r: &CallRecord) -> Option<i64> {
    match (r.ivr_start, r.ivr_end) {
        (Some(a), Some(b)) => Some((b - a).max(0) / 1000),
        _ => None,
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
    let filter = CallRecordFilter { offset: (page - 1) * size, ..filter };
    Ok(ctx.svc.list_call_records_counted(ctx.tenant.id, &filter, size).await?)
}

fn roster_by_account(roster: Vec<RosterEntry>) -> HashMap<String, RosterEntry> {
    roster.into_iter().map(|m| (m.user_code.clone(), m)).collect()
}

/// A page of callHistory (`{pageData, total}`), spelt straight from its records.
pub(crate) struct HistoryPage {
    rows: Vec<StoredCallRecord>,
    total: i64,
    staff: HashMap<String, RosterEntry>,
    /// Skill group names by code.
    queues: BTreeMap<String, String>,
    zone: Tz,
    tenant_id: i64,
}

impl HistoryPage {
    async fn new(ctx: &Ctx, rows: Vec<StoredCallRecord>, total: i64) -> Result<Self, Open95Error> {
        let zone = yunhu_core::time::zone_or_default(&ctx.tenant.time_zone);
        let roster = ctx.svc.roster(ctx.tenant.id, false).await?;
        let queues = ctx.svc.queue_names(ctx.tenant.id).await?;
        Ok(Self { rows, total, staff: roster_by_account(roster), queues, zone, tenant_id: ctx.tenant.id.0 })
    }
}

impl super::JsonData for HistoryPage {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"pageData\":[");
        // callData's JSON, spelt here and then written as a string, for every row in turn.
        let mut scratch = Vec::new();
        for (i, record) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_row(out, record, &mut scratch);
        }
        out.extend_from_slice(b"],\"total\":");
        crate::jsonw::spell(out, &self.total);
        out.push(b'}');
    }
}

/// A call's custom data with its `codeid_1` / `codeid_2` (when set) merged in, keys sorted.
struct MergedData<'a>(&'a BTreeMap<String, String>, [(&'static str, &'a str); 2]);

impl Serialize for MergedData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let extra = self.1.iter().filter(|(_, v)| !v.is_empty());
        let own = self.0.iter().filter(|(k, _)| !extra.clone().any(|(e, _)| e == k));
        let mut all: Vec<(&str, &str)> = own.map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend(extra.copied());
        all.sort_unstable_by_key(|(k, _)| *k);
        s.collect_map(all)
    }
}

/// Empty text as null.
fn or_null(v: &str) -> Option<&str> {
    if v.is_empty() { None } else { Some(v) }
}

impl HistoryPage {
    /// A call as callHistory spells it: 70 members, most of them constant.
    fn write_row(&self, out: &mut Vec<u8>, s: &StoredCallRecord, scratch: &mut Vec<u8>) {
        let r = &s.record;
        let member = self.staff.get(&r.staff);
        let has_agent = !r.extension.is_empty();
        let time = |ms: Option<i64>| ms.map(|t| local_stamp(t, self.zone, Style::Dashed));
        // Each instant is spelt once, however many fields show it.
        let connected = r.connected();
        let start = time(Some(r.started_at()));
        let (c_answer, end) = (time(r.customer_leg.answer), time(r.customer_leg.end.or(r.agent.end)));
        let (a_start, a_answer, a_end) = (time(r.agent.start), time(r.agent.answer), time(r.agent.end));
        let agent_type = if !has_agent {
            None
        } else if member.is_some_and(|m| m.phone_take_along) {
            Some("pta")
        } else {
            Some("")
        };
        let mut m = Obj::begin(out);
        m.field("id", &s.id);
        m.field("customer", &r.customer);
        m.field("talksec", &r.talk_secs);
        m.field("callResult", if connected { "已接通" } else { "未接通" });
        m.field("callId", &s.call_id);
        m.field("callSid", &s.call_id);
        m.stamp("cStartTime", &start);
        m.stamp("cAnswerTime", &c_answer);
        m.stamp("cEndTime", &end);
        m.field("cHangupCause", &r.cause.map(|c| c.name()));
        if has_agent {
            m.prefixed("agent", self.tenant_id, &r.extension);
        } else {
            m.constants("\"agent\":null");
        }
        m.field("agentName", &member.map(|m| m.name.as_str()));
        m.field("agentType", &agent_type);
        m.field("auuid", &has_agent.then_some(s.call_id.as_str()));
        m.stamp("aStartTime", &a_start);
        m.stamp("aAnswerTime", &a_answer);
        m.stamp("aEndTime", &a_end);
        m.field("callType", &call_type(r.method));
        m.field("campaignId", &or_null(&r.task_id));
        if r.queue.is_empty() {
            m.constants(
                "\"queue\":null,\"exitStatus\":null,\"queueName\":null,\"queueTimes\":-1,\"queueStartTime\":null,\
                 \"queueEndTime\":null",
            );
        } else {
            m.prefixed("queue", self.tenant_id, &r.queue);
            m.field("exitStatus", &exit_status(r));
            m.field("queueName", &self.queues.get(&r.queue));
            m.constants("\"queueTimes\":0");
            m.stamp("queueStartTime", &time(r.queue_start));
            m.stamp("queueEndTime", &time(r.queue_end));
        }
        m.constants("\"ivrId\":-1");
        let keys = keys(r);
        m.field("ivrDigits", &or_null(keys));
        m.stamp("ivrStartTime", &time(r.ivr_start));
        m.stamp("ivrEndTime", &time(r.ivr_end));
        if r.ivr_last_node.is_empty() {
            m.constants("\"ivrLastNode\":-1");
        } else {
            m.field("ivrLastNode", &r.ivr_last_node);
        }
        m.field("ivrName", &or_null(&r.ivr_name));
        m.field("ivrLastDigit", &keys.chars().last());
        m.field("billsec", &r.bill_secs);
        m.field("ringsec", &r.ring_secs);
        m.field("dnis", &or_null(&r.caller_id));
        m.constants("\"recordId\":null");
        m.field("filename", &or_null(&r.recording));
        m.field("recordsec", &if r.recording.is_empty() { 0 } else { r.talk_secs });
        m.field("satisfaction", &satisfaction(r));
        m.constants(
            "\"arrangesec\":0,\"lastCallbackAgent\":null,\"lastCallbackAgentName\":null,\
             \"alreadyCallback\":0,\"orderTime\":0,\"maxTimes\":0,\"autoTimes\":0,\"manualTimes\":0,\
             \"autoAnswerTimes\":0,\"manualAnswerTimes\":0,\"lastCallbackTime\":null",
        );
        m.field("tenantId", &self.tenant_id);
        m.constants("\"cost\":\"0.000\"");
        m.field("ivrSec", &ivr_secs(r));
        m.field("queueSec", &(!r.queue.is_empty()).then(|| r.queue_secs()));
        m.stamp("startAt", &start);
        m.stamp("answerAt", &c_answer);
        m.stamp("releaseAt", &end);
        m.constants("\"cityCode\":null");
        m.field("taskId", &or_null(&r.task_id));
        if r.call_data.is_empty() && r.codeid_1.is_empty() && r.codeid_2.is_empty() {
            m.constants("\"callData\":null");
        } else {
            scratch.clear();
            let data = MergedData(&r.call_data, [("codeid_1", &r.codeid_1), ("codeid_2", &r.codeid_2)]);
            crate::jsonw::spell(scratch, &data);
            // serde_json writes valid UTF-8.
            m.field("callData", &std::str::from_utf8(scratch).unwrap_or_default());
        }
        m.constants(
            "\"isRobotGuide\":null,\"robotGuideStartTime\":null,\"robotGuideEndTime\":null,\
             \"robotGuideTimeLength\":null",
        );
        m.stamp("abridgeTime", &a_answer.filter(|_| connected));
        m.stamp("cbridgeTime", &c_answer.filter(|_| connected));
        m.constants("\"qcSv\":null");
        m.end();
    }
}

/// `GET /callHistory/pageSearchCallHistory`.
pub(crate) async fn call_history(ctx: Ctx) -> Result<HistoryPage, Open95Error> {
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
    HistoryPage::new(&ctx, rows, total).await
}

/// `GET /callHistory/detailBySid`.
pub(crate) async fn call_detail(ctx: Ctx) -> Result<HistoryPage, Open95Error> {
    let sid = ctx.required("sid")?;
    let found = ctx.svc.call_record(ctx.tenant.id, sid).await?;
    let record = found.ok_or_else(|| yunhu_cc::CcError::NotFound(format!("话单 {sid}")))?;
    // The seed's example answers with a one-row page.
    HistoryPage::new(&ctx, vec![record], 1).await
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
                "satisfaction": satisfaction(r),
                "ivrName": or_null(&r.ivr_name),
                "ivrLastDigit": keys(r).chars().last().map(String::from),
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
        "2" => Ok(vec!["agent_not_ready", "agent_wrap_up"]),
        v => Err(Open95Error::param(format!("state 只能是 0、1 或 2 (got {v:?})"))),
    }
}

fn action_kinds(action: &str) -> Result<Vec<&'static str>, Open95Error> {
    match action {
        "580" => Ok(vec!["agent_login"]),
        "581" => Ok(vec!["agent_logout"]),
        // After-call work is a not-ready time of its own reason.
        "582" => Ok(vec!["agent_not_ready", "agent_wrap_up"]),
        "583" => Ok(vec!["agent_ready"]),
        v => Err(Open95Error::param(format!("action 只能是 580-583 (got {v:?})"))),
    }
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
    let by_action = ctx.optional("action").map(action_kinds).transpose()?;
    filter.kinds = match (by_state, by_action) {
        (None, None) => vec![],
        (Some(s), None) | (None, Some(s)) => s.into_iter().map(String::from).collect(),
        (Some(s), Some(a)) => {
            let both: Vec<String> = a.into_iter().filter(|k| s.contains(k)).map(String::from).collect();
            // Contradictory filters match nothing.
            if both.is_empty() { vec!["none".into()] } else { both }
        }
    };
    let (entries, total) = ctx.svc.agent_history(ctx.tenant.id, &filter, (page - 1) * size, size).await?;
    let now = ctx.svc.clock().now().timestamp_millis();
    // After-call work names the call the agent took: its type comes from the call's record.
    let mut call_types: HashMap<&str, i64> = HashMap::new();
    for e in &entries {
        if let AgentEventKind::AgentWrapUp { call_id, .. } = &e.event
            && !call_types.contains_key(call_id.as_str())
            && let Some(s) = ctx.svc.call_record(ctx.tenant.id, call_id).await?
        {
            call_types.insert(call_id, call_type(s.record.method));
        }
    }
    let items = entries
        .iter()
        .map(|e| {
            let member = roster.iter().find(|m| m.user_code == e.user_code);
            let state = match e.event.presence() {
                yunhu_core::agent::Presence::LoggedOut => 0,
                yunhu_core::agent::Presence::Ready => 1,
                // After-call work is not ready for calls: 2, with its own reason.
                yunhu_core::agent::Presence::NotReady | yunhu_core::agent::Presence::AfterCallWork => 2,
            };
            let reason = match &e.event {
                AgentEventKind::AgentNotReady { reason } => Value::from(reason.parse::<i64>().unwrap_or(3)),
                // The seed's reason codes: 0 整理 (after-call work).
                AgentEventKind::AgentWrapUp { .. } => Value::from(0),
                _ => Value::Null,
            };
            let call_id = match &e.event {
                AgentEventKind::AgentWrapUp { call_id, .. } => Some(call_id.as_str()),
                _ => None,
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
                "callType": call_id.and_then(|c| call_types.get(c)),
                "callId": call_id,
                "duration": hms(e.end.unwrap_or(now) - e.start),
                "agentName": member.map(|m| m.name.as_str()),
            })
        })
        .collect();
    Ok(Some(page_data(items, total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// The spelling before callHistory rows were typed: a `Value` built field by field.
    fn value_history(
        zone: Tz,
        tenant: i64,
        s: &StoredCallRecord,
        staff: &HashMap<String, RosterEntry>,
        queues: &BTreeMap<String, String>,
    ) -> Value {
        let dashed_time = |ms: Option<i64>| {
            let spell = |t| yunhu_core::time::from_millis(t).with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
            ms.map(|t| Value::from(spell(t).to_string())).unwrap_or(Value::Null)
        };
        let long_extension =
            |ext: &str| if ext.is_empty() { Value::Null } else { Value::from(format!("{tenant}{ext}")) };
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
        let queued = !r.queue.is_empty();
        let keys = if r.ivr_name.is_empty() { &r.digits } else { &r.ivr_digits };
        json!({
            "id": s.id,
            "customer": r.customer,
            "talksec": r.talk_secs,
            "callResult": if r.connected() { "已接通" } else { "未接通" },
            "callId": s.call_id,
            "callSid": s.call_id,
            "cStartTime": dashed_time(Some(r.started_at())),
            "cAnswerTime": dashed_time(r.customer_leg.answer),
            "cEndTime": dashed_time(end),
            "cHangupCause": r.cause.map(|c| c.name()),
            "agent": long_extension(&r.extension),
            "agentName": member.map(|m| m.name.as_str()),
            "agentType": if !has_agent { Value::Null } else if member.is_some_and(|m| m.phone_take_along) { json!("pta") } else { json!("") },
            "auuid": if has_agent { Value::from(s.call_id.as_str()) } else { Value::Null },
            "aStartTime": dashed_time(r.agent.start),
            "aAnswerTime": dashed_time(r.agent.answer),
            "aEndTime": dashed_time(r.agent.end),
            "callType": call_type(r.method),
            "campaignId": or_null(&r.task_id),
            "queue": if queued { Value::from(format!("{tenant}{}", r.queue)) } else { Value::Null },
            "exitStatus": if queued { json!(i32::from(r.queue_outcome == "abandoned")) } else { Value::Null },
            "queueName": queues.get(&r.queue),
            "queueTimes": if queued { 0 } else { -1 },
            "queueStartTime": if queued { dashed_time(r.queue_start) } else { Value::Null },
            "queueEndTime": if queued { dashed_time(r.queue_end) } else { Value::Null },
            "ivrId": -1,
            "ivrDigits": or_null(keys),
            "ivrStartTime": dashed_time(r.ivr_start),
            "ivrEndTime": dashed_time(r.ivr_end),
            "ivrLastNode": if r.ivr_last_node.is_empty() { json!(-1) } else { json!(r.ivr_last_node) },
            "ivrName": or_null(&r.ivr_name),
            "ivrLastDigit": keys.chars().last().map(String::from),
            "billsec": r.bill_secs,
            "ringsec": r.ring_secs,
            "dnis": or_null(&r.caller_id),
            "recordId": null,
            "filename": or_null(&r.recording),
            "recordsec": if r.recording.is_empty() { 0 } else { r.talk_secs },
            "satisfaction": r.satisfaction.map_or(-1, i64::from),
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
            "tenantId": tenant,
            "cost": "0.000",
            "ivrSec": match (r.ivr_start, r.ivr_end) { (Some(a), Some(b)) => json!((b - a).max(0) / 1000), _ => Value::Null },
            "queueSec": if queued { json!(r.queue_secs()) } else { Value::Null },
            "startAt": dashed_time(Some(r.started_at())),
            "answerAt": dashed_time(r.customer_leg.answer),
            "releaseAt": dashed_time(end),
            "cityCode": null,
            "taskId": or_null(&r.task_id),
            "callData": if data.is_empty() { Value::Null } else { Value::from(serde_json::to_string(&data).unwrap_or_default()) },
            "isRobotGuide": null,
            "robotGuideStartTime": null,
            "robotGuideEndTime": null,
            "robotGuideTimeLength": null,
            "abridgeTime": dashed_time(r.agent.answer.filter(|_| r.connected())),
            "cbridgeTime": dashed_time(r.customer_leg.answer.filter(|_| r.connected())),
            "qcSv": null,
        })
    }

    fn history_row(s: StoredCallRecord, queues: BTreeMap<String, String>) -> Value {
        let page = HistoryPage {
            rows: vec![s],
            total: 1,
            staff: roster_by_account(samples::roster()),
            queues,
            zone: chrono_tz::Asia::Shanghai,
            tenant_id: 10001,
        };
        let mut out = Vec::new();
        super::super::JsonData::write_json(&page, &mut out);
        let page: Value = serde_json::from_slice(&out).unwrap();
        page["pageData"][0].clone()
    }

    #[tokio::test]
    async fn an_inbound_call_shows_its_ivr_queue_and_survey() {
        let queues = samples::queue_names();
        let h = history_row(samples::inbound(), queues.clone());
        let want = json!({
            "callType": 2, "customer": "13600136000", "agent": "100011002", "agentName": "李\"四",
            // The skill group as open95 lists it: tenant id + code.
            "queue": "100018000", "queueName": "售后", "exitStatus": 0, "queueTimes": 0,
            "queueStartTime": "2026-01-01 00:00:03", "queueEndTime": "2026-01-01 00:00:16", "queueSec": 12,
            "ivrName": "main", "ivrDigits": "12", "ivrLastDigit": "2", "ivrLastNode": "sales",
            "ivrStartTime": "2026-01-01 00:00:00", "ivrEndTime": "2026-01-01 00:00:03", "ivrSec": 2,
            "ivrId": -1, "satisfaction": 4, "talksec": 59,
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&h[k], v, "{k} in {h}");
        }

        // The caller gave up waiting, with no IVR and no survey; the skill group has gone from
        // the directory since.
        let mut s = samples::inbound();
        let r = &mut s.record;
        (r.queue_outcome, r.satisfaction, r.ivr_name, r.ivr_digits, r.ivr_last_node) =
            ("abandoned".into(), None, String::new(), String::new(), String::new());
        (r.ivr_start, r.ivr_end, r.queue) = (None, None, "9100".into());
        let h = history_row(s.clone(), queues.clone());
        let want = json!({
            "queue": "100019100", "queueName": null, "exitStatus": 1, "satisfaction": -1,
            // Without an IVR the keys are all the customer pressed.
            "ivrName": null, "ivrDigits": "912", "ivrLastDigit": "2", "ivrLastNode": -1,
            "ivrStartTime": null, "ivrSec": null,
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&h[k], v, "{k} in {h}");
        }
        // A survey nobody answered is 0, not -1 (no survey).
        s.record.satisfaction = Some(0);
        assert_eq!(history_row(s.clone(), queues.clone())["satisfaction"], 0);

        // An outbound call never queued: the seed example's constants.
        s.record.queue.clear();
        let h = history_row(s, queues.clone());
        for (k, v) in
            [("queue", json!(null)), ("exitStatus", json!(null)), ("queueTimes", json!(-1)), ("queueSec", json!(null))]
        {
            assert_eq!(h[k], v, "{k} in {h}");
        }

        // The XML answer says the same.
        let page = HistoryPage {
            rows: vec![samples::inbound()],
            total: 1,
            staff: roster_by_account(samples::roster()),
            queues,
            zone: chrono_tz::Asia::Shanghai,
            tenant_id: 10001,
        };
        let xml = body_of(super::super::success_typed(true, page)).await;
        for part in [
            "<queue>100018000</queue>",
            "<queueName>售后</queueName>",
            "<exitStatus>0</exitStatus>",
            "<queueSec>12</queueSec>",
            "<ivrLastNode>sales</ivrLastNode>",
            "<satisfaction>4</satisfaction>",
            "<callType>2</callType>",
        ] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
    }

    async fn body_of(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn typed_history_spells_the_bytes_the_value_spelling_gave() {
        let records = samples::records(3000);
        let staff = roster_by_account(samples::roster());
        let queues = samples::queue_names();
        for (zone, tenant) in [(chrono_tz::Asia::Shanghai, 10001), (chrono_tz::America::New_York, 7)] {
            for chunk in records.chunks(20) {
                let page = HistoryPage {
                    rows: chunk.to_vec(),
                    total: 4321,
                    staff: staff.clone(),
                    queues: queues.clone(),
                    zone,
                    tenant_id: tenant,
                };
                let items: Vec<Value> = chunk.iter().map(|s| value_history(zone, tenant, s, &staff, &queues)).collect();
                let value = page_data(items, 4321);
                let mut typed = Vec::new();
                super::super::JsonData::write_json(&page, &mut typed);
                assert_eq!(String::from_utf8(typed).unwrap(), value.to_string());
            }
        }
        // The whole answer, JSON and XML, as the endpoint's runner writes it.
        let zone = chrono_tz::Asia::Shanghai;
        let page = |rows: &[StoredCallRecord]| HistoryPage {
            rows: rows.to_vec(),
            total: 3,
            staff: staff.clone(),
            queues: queues.clone(),
            zone,
            tenant_id: 10001,
        };
        let value = |rows: &[StoredCallRecord]| {
            Some(page_data(rows.iter().map(|s| value_history(zone, 10001, s, &staff, &queues)).collect(), 3))
        };
        for rows in [&records[..0], &records[..3]] {
            for xml in [false, true] {
                let typed = body_of(super::super::success_typed(xml, page(rows))).await;
                assert_eq!(typed, body_of(super::super::success(xml, value(rows))).await);
            }
        }
    }
}
