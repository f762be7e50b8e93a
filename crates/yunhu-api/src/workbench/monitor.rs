//! `ws /agent/monitor?access_token=...[&seq=N]`: the agent's desktop feed.
//!
//! On connect the desktop gets a snapshot (its state and any call in progress) — or, when it
//! says the last `seq` it saw, every frame it missed, in order, once; if it missed more than
//! [`REPLAY_MAX`] events, a snapshot instead. Then frames as their events commit. The server
//! pings; a desktop that answers nothing for the silence limit is closed, and its agent, if
//! idle, goes not ready ("desktop lost") rather than staying a ghost that calls are offered to.
//!
//! A supervisor (role `monitor` or `admin`) may send `{"method":"wallboard","every":N}`: it gets
//! a `wallboard` frame of its tenant's inbound queues at once and then every N seconds (1-60,
//! default 2; 0 stops). Wallboard frames are snapshots made when sent, not events of the log:
//! they carry no `seq` and are not replayed.

use super::frames;
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use yunhu_cc::agents::DeskMessage;
use yunhu_cc::{Services, Tenant};

/// Most missed events a reconnecting desktop gets replayed; beyond, a snapshot.
pub(crate) const REPLAY_MAX: i64 = 1000;

/// Who a socket serves.
struct Desk {
    svc: Services,
    tenant: Tenant,
    user_code: String,
    extno: String,
    /// A supervisor (not an agent): may watch the wallboard.
    supervisor: bool,
    switch: Option<yunhu_cc::switch::Switch>,
}

/// Longest period between wallboard frames a supervisor may ask for (s).
const WALLBOARD_EVERY_MAX: u64 = 60;
/// The period when the supervisor names none (s).
const WALLBOARD_EVERY: u64 = 2;

pub(crate) async fn monitor(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = q.get("access_token").cloned().or_else(|| crate::body::bearer(&headers));
    let desk = match super::agent_of(&state, token.as_deref()).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let seq = match q.get("seq").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => return super::WbError::param("seq is the last frame's sequence number").into_response(),
    };
    let role = match state.services.staff_account_row(desk.tenant.id, &desk.user_code).await {
        Ok(row) => yunhu_core::role::Role::parse(row["role"].text()).unwrap_or(yunhu_core::role::Role::Agent),
        Err(e) => return super::WbError::from(e).into_response(),
    };
    let desk = Desk {
        svc: state.services.clone(),
        tenant: desk.tenant,
        user_code: desk.user_code,
        extno: desk.extno,
        supervisor: role != yunhu_core::role::Role::Agent,
        switch: state.switch.clone(),
    };
    let silence = state.services.desk_silence_limit();
    ws.on_upgrade(move |socket| serve(socket, desk, seq, silence))
}

async fn send(socket: &mut WebSocket, frame: &Value) -> bool {
    socket.send(Message::Text(frame.to_string().into())).await.is_ok()
}

async fn serve(mut socket: WebSocket, desk: Desk, seq: Option<i64>, silence: Duration) {
    let Desk { svc, tenant, user_code, extno, .. } = &desk;
    // Subscribe before reading the log: whatever commits meanwhile is in the subscription, and
    // the overlap is skipped by id.
    let Ok(mut sub) = svc.desk_subscribe(tenant.id, user_code).await else { return };
    let now = svc.clock().now().timestamp_millis();
    let mut last = match seq {
        Some(after) => match svc.desk_feed(tenant.id, user_code, after, REPLAY_MAX + 1).await {
            Ok(missed) if (missed.len() as i64) <= REPLAY_MAX && after <= head_or(svc, &desk).await => {
                let mut last = after;
                for e in &missed {
                    if let Some(frame) = frames::from_event(svc, tenant, user_code, extno, e, now).await
                        && !send(&mut socket, &frame).await
                    {
                        return;
                    }
                    last = e.id;
                }
                last
            }
            _ => match snapshot(&mut socket, &desk).await {
                Some(head) => head,
                None => return,
            },
        },
        None => match snapshot(&mut socket, &desk).await {
            Some(head) => head,
            None => return,
        },
    };
    let ping_every = (silence / 3).max(Duration::from_millis(200));
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = tokio::time::Instant::now();
    // The supervisor's wallboard subscription, when asked for.
    let mut board: Option<tokio::time::Interval> = None;
    loop {
        tokio::select! {
            _ = async { board.as_mut()?.tick().await; Some(()) }, if board.is_some() => {
                if !send(&mut socket, &wallboard_frame(&desk).await).await {
                    return;
                }
            }
            msg = sub.rx.recv() => {
                let events = match msg {
                    Some(DeskMessage::Event(e)) => vec![e],
                    // The bus lost events: read them back from the log.
                    Some(DeskMessage::Resync) => match svc.desk_feed(tenant.id, user_code, last, REPLAY_MAX).await {
                        Ok(events) => events.into_iter().map(std::sync::Arc::new).collect(),
                        Err(_) => break,
                    },
                    None => break,
                };
                let now = svc.clock().now().timestamp_millis();
                for e in events {
                    if e.id <= last {
                        continue;
                    }
                    last = e.id;
                    if let Some(frame) = frames::from_event(svc, tenant, user_code, extno, &e, now).await
                        && !send(&mut socket, &frame).await
                    {
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > silence {
                    tracing::info!(agent = %user_code, "desktop silent: socket closed");
                    let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 4000,
                        reason: "silent".into(),
                    }))).await;
                    break;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(Message::Text(text))) => {
                        heard = tokio::time::Instant::now();
                        svc.desk_heard(tenant.id, user_code);
                        // A desktop's own keepalive, answered so it can tell a dead socket too.
                        if text.contains("\"ping\"") {
                            let _ = socket.send(Message::Text(r#"{"method":"pong"}"#.into())).await;
                        } else if let Some(ask) = wallboard_request(&text) {
                            match (desk.supervisor, ask) {
                                (false, _) => {
                                    let no = serde_json::json!({"method": "wallboard", "code": super::codes::FORBIDDEN,
                                        "msg": "只有班组长和管理员可以看大屏 (supervisors only)"});
                                    if !send(&mut socket, &no).await {
                                        return;
                                    }
                                }
                                (true, 0) => board = None,
                                (true, every) => {
                                    // The first tick is at once: the frame the supervisor asked for.
                                    let mut tick = tokio::time::interval(Duration::from_secs(every));
                                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                                    board = Some(tick);
                                }
                            }
                        }
                    }
                    Some(Ok(_)) => {
                        heard = tokio::time::Instant::now();
                        svc.desk_heard(tenant.id, user_code);
                    }
                }
            }
        }
    }
}

/// The period a `{"method":"wallboard"}` message asks for (s; 0 stops), if it is one.
fn wallboard_request(text: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(text).ok()?;
    (v["method"] == "wallboard").then(|| v["every"].as_u64().unwrap_or(WALLBOARD_EVERY).min(WALLBOARD_EVERY_MAX))
}

/// `{"method":"wallboard","at":"<tenant's local time>","queues":[...]}`: every inbound queue of
/// the tenant as the admin API's wallboard shows it; with telephony off, `code` 1007.
async fn wallboard_frame(desk: &Desk) -> Value {
    let Some(switch) = &desk.switch else {
        return serde_json::json!({"method": "wallboard", "code": super::codes::NO_TELEPHONY,
            "msg": "本服务器未开启电话 (telephony is off)"});
    };
    let zone = yunhu_core::time::zone_or_default(&desk.tenant.time_zone);
    let now = desk.svc.clock().now().timestamp_millis();
    let at = yunhu_core::time::local_stamp(now, zone, yunhu_core::time::Style::Dashed).as_str().to_string();
    match switch.wallboards(&desk.tenant).await {
        Ok(queues) => serde_json::json!({"method": "wallboard", "code": 0, "at": at, "queues": queues}),
        Err(e) => {
            tracing::error!(error = %e, "wallboard frame");
            serde_json::json!({"method": "wallboard", "code": super::codes::INTERNAL, "msg": "内部错误 (internal error)"})
        }
    }
}

async fn head_or(svc: &Services, desk: &Desk) -> i64 {
    svc.desk_feed_head(desk.tenant.id, &desk.user_code).await.unwrap_or(i64::MAX)
}

/// Sends the snapshot frames; the feed's head they stand for.
async fn snapshot(socket: &mut WebSocket, desk: &Desk) -> Option<i64> {
    let Desk { svc, tenant, user_code, extno, .. } = desk;
    let head = svc.desk_feed_head(tenant.id, user_code).await.ok()?;
    let state = svc.agent_state(tenant.id, user_code);
    let now = svc.clock().now().timestamp_millis();
    for frame in frames::snapshot(svc, tenant, user_code, extno, &state, head, now).await {
        if !send(socket, &frame).await {
            return None;
        }
    }
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallboard_request_names_its_period_within_bounds() {
        assert_eq!(wallboard_request(r#"{"method":"wallboard"}"#), Some(WALLBOARD_EVERY));
        assert_eq!(wallboard_request(r#"{"method":"wallboard","every":5}"#), Some(5));
        assert_eq!(wallboard_request(r#"{"method":"wallboard","every":0}"#), Some(0));
        assert_eq!(wallboard_request(r#"{"method":"wallboard","every":3600}"#), Some(WALLBOARD_EVERY_MAX));
        assert_eq!(wallboard_request(r#"{"method":"ping"}"#), None);
        assert_eq!(wallboard_request("wallboard"), None);
    }
}
