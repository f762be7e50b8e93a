//! The frames of seed 003's `/agent/monitor` websocket, made from events of the log: `notice`
//! (the agent's state and how long it has lasted), `message` (an announcement) and `info` (the
//! screen pop). Each carries `seq`, the id of the event it was made from, after the seed's fields.

use serde_json::{Value, json};
use yunhu_cc::bus::FeedEvent;
use yunhu_cc::{Services, Tenant};
use yunhu_core::agent::{AgentEventKind, AgentState, DeskEventKind, hms};
use yunhu_core::time::{Style, local_stamp, zone_or_default};

/// `{"method":"notice","status":..,"time":"HH:MM:SS"}` plus the not-ready reason, and `seq`.
pub(crate) fn notice(status: u8, since: i64, now: i64, reason: &str, seq: i64) -> Value {
    let mut frame = json!({ "method": "notice", "status": status, "time": hms(now - since) });
    if !reason.is_empty() {
        frame["reason"] = reason.into();
    }
    frame["seq"] = seq.into();
    frame
}

/// The frames one event of an agent's feed makes (none for kinds the desk does not show).
pub(crate) async fn from_event(
    svc: &Services,
    tenant: &Tenant,
    user_code: &str,
    extno: &str,
    event: &FeedEvent,
    now: i64,
) -> Option<Value> {
    if event.stream.starts_with("agent/") {
        let kind: AgentEventKind = serde_json::from_str(&event.data).ok()?;
        let status = kind.presence().status();
        return Some(notice(status, event.at, now, kind.reason().unwrap_or_default(), event.id));
    }
    let kind: DeskEventKind = serde_json::from_str(&event.data).ok()?;
    match kind {
        DeskEventKind::DeskCallStarted { .. } => Some(notice(2, event.at, now, "", event.id)),
        DeskEventKind::DeskCallEnded { status, .. } => Some(notice(status, event.at, now, "", event.id)),
        DeskEventKind::Announcement { msg } => Some(json!({ "method": "message", "msg": msg, "seq": event.id })),
        DeskEventKind::DeskCallConnected { call_id, peer } => {
            match info(svc, tenant, user_code, extno, &call_id, &peer, event.id).await {
                Ok(frame) => Some(frame),
                Err(e) => {
                    tracing::error!(error = %e, %call_id, "screen pop");
                    None
                }
            }
        }
    }
}

/// The screen pop of the agent's call with `peer`: the customer record, its CRM field values
/// and where the number is from (号码归属地).
pub(crate) async fn info(
    svc: &Services,
    tenant: &Tenant,
    user_code: &str,
    extno: &str,
    call_id: &str,
    peer: &str,
    seq: i64,
) -> Result<Value, yunhu_cc::CcError> {
    let form = svc.customer_form_for_call(tenant.id, user_code, call_id, peer).await?;
    let zone = zone_or_default(&tenant.time_zone);
    let stamp = |ms: i64| local_stamp(ms, zone, Style::Dashed).as_str().to_string();
    let city = yunhu_core::geo::cn_region(peer).map(|r| format!("{}-{}", r.province, r.city)).unwrap_or_default();
    Ok(json!({
        "method": "info",
        "sessionId": call_id,
        "city": city,
        "extno": extno,
        "info": {
            "admin_id": tenant.id.0,
            "edit_stamp": form.edited_at.map(stamp).unwrap_or_default(),
            "extno": extno,
            "fields": form.fields,
            "group": form.group,
            "import_stamp": stamp(form.imported_at),
            "name": form.name,
            "project_id": form.project,
            "status": form.status,
            "task_id": form.task_id,
            "telephone": form.telephone,
            "uuid": form.uuid,
        },
        "seq": seq,
    }))
}

/// The frames of a snapshot: the agent's state now, and the pop of a call in progress.
pub(crate) async fn snapshot(
    svc: &Services,
    tenant: &Tenant,
    user_code: &str,
    extno: &str,
    state: &AgentState,
    head: i64,
    now: i64,
) -> Vec<Value> {
    let mut frame = notice(state.status(), state.status_since(), now, &state.reason, head);
    frame["snapshot"] = true.into();
    let mut out = vec![frame];
    if let Some(call) = state.call.as_ref().filter(|c| c.connected)
        && let Ok(mut pop) = info(svc, tenant, user_code, extno, &call.call_id, &call.peer, head).await
    {
        pop["snapshot"] = true.into();
        out.push(pop);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's example frames, field by field (`seq` and `reason` are ours, after them).
    #[test]
    fn notice_has_the_seeds_shape() {
        let f = notice(0, 0, 257_000, "", 7);
        assert_eq!(f.to_string(), r#"{"method":"notice","status":0,"time":"00:04:17","seq":7}"#);
        let frame = notice(2, 0, 1, "2", 8);
        let keys: Vec<&String> = frame.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["method", "status", "time", "reason", "seq"]);
    }
}
