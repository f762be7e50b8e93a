//! The agent workbench (seed 003) from outside: desk tokens, the `/admin/agent/*` endpoints and
//! their refusals in the seed's envelope, and the `/agent/monitor` websocket — frame shapes,
//! snapshots, replay after a reconnect, announcements, the silent-desktop rule, the screen pop
//! of real calls (sipp as phones and carrier) and after-call work ended by submit, nextCall and
//! the tenant's limit.

mod common;

use common::sip::*;
use common::{ADMIN_TOKEN, TestApp, start};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use yunhu_core::agent::{AgentEventKind, Presence};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A desktop: the monitor socket and the last `seq` it saw.
struct Desk {
    ws: Socket,
    last: i64,
}

impl Desk {
    async fn open(app: &TestApp, token: &str, seq: Option<i64>) -> Desk {
        let mut url = format!("{}/agent/monitor?access_token={token}", app.base.replace("http://", "ws://"));
        if let Some(s) = seq {
            url.push_str(&format!("&seq={s}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("the monitor accepts the token");
        Desk { ws, last: seq.unwrap_or(0) }
    }

    /// The next frame (pings are answered by the client library while it reads).
    async fn next(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("a frame within 15 s");
            match msg.expect("the socket is open").expect("a websocket message") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if let Some(seq) = v["seq"].as_i64() {
                        self.last = self.last.max(seq);
                    }
                    return v;
                }
                Message::Close(c) => panic!("the server closed the socket: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame of `method`, skipping others.
    async fn next_of(&mut self, method: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["method"] == method {
                return f;
            }
        }
    }

    /// The next `notice` with `status`.
    async fn status(&mut self, status: u8) -> Value {
        loop {
            let f = self.next_of("notice").await;
            if f["status"] == status {
                return f;
            }
        }
    }

    /// Whether a text frame arrives within `d`.
    async fn quiet_for(&mut self, d: Duration) -> bool {
        let until = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Text(t)))) => panic!("unexpected frame {t}"),
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("socket ended: {other:?}"),
            }
        }
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// `POST /admin/agent/<action>` with the token and form fields; the answer's JSON and status.
async fn wb(app: &TestApp, token: &str, action: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("access_token", token)];
    all.extend_from_slice(form);
    let a = app.send(app.http.post(app.url(&format!("/admin/agent/{action}"))).form(&all)).await;
    (a.status.as_u16(), a.json())
}

/// Asserts success in the seed's envelope; the data.
async fn wb_ok(app: &TestApp, token: &str, action: &str, form: &[(&str, &str)]) -> Value {
    let (status, v) = wb(app, token, action, form).await;
    assert_eq!((status, &v["code"], &v["msg"]), (200, &json!(0), &json!("success")), "{action}: {v}");
    assert_eq!(keys(&v), ["msg", "code", "data"]);
    v["data"].clone()
}

async fn login(app: &TestApp, user: &str, password: &str) -> String {
    let form = [("corp", "777777"), ("extno", user), ("password", password)];
    let a = app.send(app.http.post(app.url("/admin/agent/login")).form(&form)).await;
    let v = a.json();
    assert_eq!(v["code"], 0, "{v}");
    v["data"]["access_token"].as_str().unwrap().to_string()
}

fn presence(app: &TestApp, user: &str) -> Presence {
    app.running.services.presence(TENANT, user)
}

#[tokio::test]
async fn desk_tokens_and_every_endpoints_bad_input_answer_in_the_seeds_envelope_and_change_nothing() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;

    // Wrong password, unknown account, unknown tenant: one answer, HTTP 401, code 1002.
    for (corp, user, pw) in [("777777", "1001", "wrong-pw"), ("777777", "9999", "desk-1001"), ("000000", "1001", "x")] {
        let form = [("corp", corp), ("extno", user), ("password", pw)];
        let a = app.send(app.http.post(app.url("/admin/agent/login")).form(&form)).await;
        assert_eq!((a.status.as_u16(), &a.json()["code"]), (401, &json!(1002)), "{}", a.text);
        assert!(a.json()["msg"].as_str().unwrap().contains("密码错误"), "{}", a.text);
    }
    // A staff member without a desk password has no desk login.
    let form = [("corp", "777777"), ("extno", "admin"), ("password", "")];
    assert_eq!(app.send(app.http.post(app.url("/admin/agent/login")).form(&form)).await.json()["code"], 1001);

    let token = login(&app, "1001", "desk-1001").await;
    // No token, a made-up one.
    for t in ["", "0123456789abcdef"] {
        let (status, v) = wb(&app, t, "logon", &[("extno", "1001")]).await;
        assert_eq!((status, &v["code"]), (401, &json!(1002)), "{v}");
    }

    // extno: unknown, another agent's, missing.
    let (_, v) = wb(&app, &token, "logon", &[("extno", "9999")]).await;
    assert_eq!(v["code"], 1004, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("9999"), "{v}");
    let (_, v) = wb(&app, &token, "logon", &[("extno", "1002")]).await;
    assert_eq!(v["code"], 1003, "{v}");
    let (_, v) = wb(&app, &token, "logon", &[]).await;
    assert_eq!(v["code"], 1001, "{v}");
    assert_eq!((presence(&app, "1001"), presence(&app, "1002")), (Presence::LoggedOut, Presence::LoggedOut));

    // Not logged in: no next call, no not-ready.
    let (_, v) = wb(&app, &token, "nextCall", &[]).await;
    assert_eq!(v["code"], 1005, "{v}");
    let (_, v) = wb(&app, &token, "notReady", &[("reason", "2")]).await;
    assert_eq!(v["code"], 1005, "{v}");

    // Logging in by account or by extension; twice changes nothing.
    assert_eq!(wb_ok(&app, &token, "logon", &[("extno", "1001")]).await, json!(1));
    assert_eq!(wb_ok(&app, &token, "logon", &[("extno", "1001")]).await, json!(1));
    assert_eq!(presence(&app, "1001"), Presence::Ready);
    let history = app.running.services.db().desk_feed(TENANT, "1001", 0, 100).await.unwrap();
    assert_eq!(history.iter().filter(|e| e.kind == "agent_login").count(), 1, "one login logged");

    // A reason the tenant does not have; a reason of its own (provisioned 5 午餐) is fine.
    let (_, v) = wb(&app, &token, "notReady", &[("reason", "77")]).await;
    assert_eq!(v["code"], 1001, "{v}");
    assert_eq!(presence(&app, "1001"), Presence::Ready);
    wb_ok(&app, &token, "notReady", &[("reason", "5")]).await;
    assert_eq!(app.running.services.agent_state(TENANT, "1001").reason, "5");
    wb_ok(&app, &token, "nextCall", &[]).await;
    assert_eq!(presence(&app, "1001"), Presence::Ready);

    // No call: nothing to hold, hang up or bring a party into.
    for (action, form) in [("hold", vec![]), ("hangup", vec![]), ("meeting", vec![("tel", "1002")])] {
        let (_, v) = wb(&app, &token, action, &form).await;
        assert_eq!(v["code"], 1005, "{action}: {v}");
        assert!(v["msg"].as_str().unwrap().contains("没有通话"), "{v}");
    }
    let (_, v) = wb(&app, &token, "meeting", &[]).await;
    assert_eq!(v["code"], 1001, "{v}");

    // Another tenant's customer record is not there for this agent.
    let other = app.running.services.tenant("888888").await.unwrap();
    let foreign =
        app.running.services.customer_form_for_call(other.id, "1001", "no-call", "13700000000").await.unwrap();
    let (_, v) = wb(&app, &token, "addBlack", &[("info_uuid", &foreign.uuid)]).await;
    assert_eq!(v["code"], 1004, "{v}");
    assert!(!app.running.services.do_not_call(other.id, "13700000000").await.unwrap());
    assert!(!app.running.services.do_not_call(TENANT, "13700000000").await.unwrap());
    let (_, v) = wb(&app, &token, "submit", &[("uuid", &foreign.uuid), ("fields", r#"{"年龄":"30"}"#)]).await;
    assert_eq!(v["code"], 1004, "{v}");
    assert_eq!(app.running.services.customer_form(other.id, &foreign.uuid).await.unwrap().fields, "{}");

    // Its own: a bad form is refused naming the field; addBlack puts the number on the list.
    let own = app.running.services.customer_form_for_call(TENANT, "1001", "no-call", "13700000001").await.unwrap();
    let (_, v) = wb(&app, &token, "submit", &[("uuid", &own.uuid), ("fields", r#"{"意向":"不知道"}"#)]).await;
    assert_eq!(v["code"], 1001, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("年龄 is required"), "{v}");
    wb_ok(&app, &token, "addBlack", &[("info_uuid", &own.uuid)]).await;
    assert!(app.running.services.do_not_call(TENANT, "13700000001").await.unwrap());

    // An unknown action.
    let (_, v) = wb(&app, &token, "selfDestruct", &[]).await;
    assert_eq!(v["code"], 1004, "{v}");

    // A CRM's server gets an agent token through its open95 client; it works like a desk login.
    let client = app.token("demo", "demo-secret", None).await;
    let a =
        app.send(app.http.post(app.url("/agentDesk/token")).bearer_auth(&client).form(&[("userCode", "1002")])).await;
    let v = a.json();
    assert_eq!(v["code"], 0, "{v}");
    let crm_token = v["data"]["accessToken"].as_str().unwrap().to_string();
    assert_eq!(wb_ok(&app, &crm_token, "state", &[]).await["user_code"], "1002");
    let a =
        app.send(app.http.post(app.url("/agentDesk/token")).bearer_auth(&client).form(&[("userCode", "4242")])).await;
    assert_ne!(a.json()["code"], 0, "{}", a.text);

    // Tokens expire: 12 hours on.
    app.clock.advance(chrono::Duration::hours(13));
    let (status, v) = wb(&app, &token, "nextCall", &[]).await;
    assert_eq!((status, &v["code"]), (401, &json!(1002)), "{v}");
    assert!(v["msg"].as_str().unwrap().contains("过期"), "{v}");
}

#[tokio::test]
async fn the_monitor_sends_a_snapshot_then_frames_and_a_reconnect_gets_every_missed_frame_once_in_order() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let svc = app.running.services.clone();
    let token = login(&app, "1001", "desk-1001").await;
    wb_ok(&app, &token, "logon", &[("extno", "1001")]).await;

    // A bad token is refused before the upgrade.
    let url = format!("{}/agent/monitor?access_token=nope", app.base.replace("http://", "ws://"));
    assert!(tokio_tungstenite::connect_async(url).await.is_err(), "no socket for a bad token");

    // The snapshot: the agent's state now.
    let mut desk = Desk::open(&app, &token, None).await;
    let snap = desk.next().await;
    assert_eq!(keys(&snap), ["method", "status", "time", "seq", "snapshot"]);
    assert_eq!((&snap["method"], &snap["status"], &snap["time"]), (&json!("notice"), &json!(1), &json!("00:00:00")));

    // An announcement: the seed's `message` frame.
    let a = app
        .admin(reqwest::Method::POST, "/yunhu/v1/tenants/777777/announcements", Some(json!({"msg": "下午三点开会"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let m = desk.next().await;
    assert_eq!(keys(&m), ["method", "msg", "seq"]);
    assert_eq!(m["msg"], "下午三点开会");
    assert!(m["seq"].as_i64().unwrap() > snap["seq"].as_i64().unwrap());

    // Not ready with a reason: a notice with status 2 and the reason.
    wb_ok(&app, &token, "notReady", &[("reason", "2")]).await;
    let n = desk.next().await;
    assert_eq!(keys(&n), ["method", "status", "time", "reason", "seq"]);
    assert_eq!((&n["status"], &n["reason"]), (&json!(2), &json!("2")));
    let seen = desk.last;

    // The socket is cut while events keep coming.
    drop(desk);
    wb_ok(&app, &token, "nextCall", &[]).await;
    for i in 0..5 {
        svc.announce(TENANT, &format!("公告 {i}")).await.unwrap();
    }
    wb_ok(&app, &token, "notReady", &[("reason", "1")]).await;
    // Announcements to another tenant are not this desk's.
    let other = svc.tenant("888888").await.unwrap();
    svc.announce(other.id, "not for 777777").await.unwrap();

    // Back with the last seq seen: exactly what was missed, in order, once.
    let mut desk = Desk::open(&app, &token, Some(seen)).await;
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(desk.next().await);
    }
    let seqs: Vec<i64> = got.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > seen, "in order, after {seen}: {seqs:?}");
    let spelled: Vec<String> =
        got.iter().map(|f| format!("{}:{}", f["method"].as_str().unwrap(), f["msg"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        spelled,
        [
            "notice:",
            "message:公告 0",
            "message:公告 1",
            "message:公告 2",
            "message:公告 3",
            "message:公告 4",
            "notice:"
        ]
    );
    assert_eq!((&got[0]["status"], &got[6]["status"], &got[6]["reason"]), (&json!(1), &json!(2), &json!("1")));
    assert!(desk.quiet_for(Duration::from_millis(500)).await, "nothing twice, nothing of another tenant");

    // And live again.
    wb_ok(&app, &token, "nextCall", &[]).await;
    assert_eq!(desk.next().await["status"], 1);

    // A desktop that missed more than the replay holds gets a snapshot first, then goes on live.
    let stale = desk.last;
    drop(desk);
    for i in 0..1001 {
        svc.announce(TENANT, &format!("n{i}")).await.unwrap();
    }
    let mut desk = Desk::open(&app, &token, Some(stale)).await;
    let first = desk.next().await;
    assert_eq!((&first["method"], &first["snapshot"], &first["status"]), (&json!("notice"), &json!(true), &json!(1)));
    svc.announce(TENANT, "after the snapshot").await.unwrap();
    assert_eq!(desk.next().await["msg"], "after the snapshot");
}

#[tokio::test]
async fn a_silent_desktop_puts_its_idle_agent_not_ready_but_a_connected_one_or_a_phone_agent_stays_ready() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let svc = app.running.services.clone();
    svc.set_desk_silence_limit(Duration::from_secs(60));
    let token = login(&app, "1001", "desk-1001").await;
    wb_ok(&app, &token, "logon", &[("extno", "1001")]).await;
    // 1002 works by phone only (logged in through the API, no desktop ever).
    svc.set_presence(TENANT, "1002", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();

    // Connected and answering pings: the minutes pass and 1001 stays ready.
    let mut desk = Desk::open(&app, &token, None).await;
    desk.next().await;
    app.clock.advance(chrono::Duration::seconds(120));
    assert!(desk.quiet_for(Duration::from_millis(1500)).await, "no change while the desk is there");
    assert_eq!(presence(&app, "1001"), Presence::Ready);

    // The desktop goes away. Within the limit nothing happens...
    drop(desk);
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.clock.advance(chrono::Duration::seconds(30));
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert_eq!(presence(&app, "1001"), Presence::Ready, "30 s of silence is within the limit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...past it, the idle agent goes not ready with the reason "desktop lost".
    app.clock.advance(chrono::Duration::seconds(31));
    let deadline = Instant::now() + Duration::from_secs(5);
    while presence(&app, "1001") != Presence::NotReady {
        assert!(Instant::now() < deadline, "1001 never went not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(svc.agent_state(TENANT, "1001").reason, "desktop_lost");
    assert_eq!(presence(&app, "1002"), Presence::Ready, "a phone agent has no desktop to lose");

    // The desk back: a snapshot says not ready, desktop lost.
    let mut desk = Desk::open(&app, &token, None).await;
    let snap = desk.next().await;
    assert_eq!((&snap["status"], &snap["reason"]), (&json!(2), &json!("desktop_lost")));
    // Only once: the rule does not fire again for an agent who is not ready.
    drop(desk);
    app.clock.advance(chrono::Duration::seconds(600));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let lost = svc.db().desk_feed(TENANT, "1001", 0, 100).await.unwrap();
    assert_eq!(lost.iter().filter(|e| e.data.contains("desktop_lost")).count(), 1);
}

/// A phone that answers one call and takes re-INVITEs (hold, resume) until the BYE.
fn holdable_phone(name: &'static str, port: u16) -> Sipp {
    let rtp = free_port().to_string();
    let args = ["-sf", "tone_phone.xml", "-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1", "-d", "300"];
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["-key".to_string(), "rtpport".to_string(), rtp]);
    sipp(name, &all)
}

/// Agent 1001's call to 13800138000 through the carrier (click-to-call), answered by both.
async fn talk(app: &TestApp, token: &str, agent_port: u16, carrier_port: u16) -> (Sipp, Sipp, String) {
    let agent = holdable_phone("agent", agent_port);
    let carrier = holdable_phone("carrier", carrier_port);
    let call = wb_ok(app, token, "dial", &[("tel", "13800138000")]).await["sessionId"].as_str().unwrap().to_string();
    (agent, carrier, call)
}

#[tokio::test]
async fn calls_pop_the_customer_and_after_call_work_ends_by_submit_next_call_or_the_limit() {
    let (app, _sip, agent_port) = setup().await;
    let svc = app.running.services.clone();
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let settings = yunhu_cc::agents::DeskSettings { wrap_up_secs: 30, reasons: Default::default() };
    svc.set_desk_settings(TENANT, &settings).await.unwrap();
    let token = login(&app, "1001", "desk-1001").await;
    let mut desk = Desk::open(&app, &token, None).await;
    assert_eq!(desk.next().await["status"], 1, "1001 logged in with 000");

    // Click-to-call: busy while the phones ring, then the pop when the customer is connected.
    let (agent, carrier, call_id) = talk(&app, &token, agent_port, carrier_port).await;
    assert_eq!(desk.next_of("notice").await["status"], 2);
    let pop = desk.next_of("info").await;
    assert_eq!(keys(&pop), ["method", "sessionId", "city", "extno", "info", "seq"]);
    assert_eq!(
        keys(&pop["info"]),
        [
            "admin_id",
            "edit_stamp",
            "extno",
            "fields",
            "group",
            "import_stamp",
            "name",
            "project_id",
            "status",
            "task_id",
            "telephone",
            "uuid"
        ]
    );
    let region = yunhu_core::geo::cn_region("13800138000").unwrap();
    assert_eq!(pop["city"], format!("{}-{}", region.province, region.city));
    assert_eq!((&pop["sessionId"], &pop["extno"]), (&json!(call_id), &json!("1001")));
    assert_eq!(
        (&pop["info"]["telephone"], &pop["info"]["fields"], &pop["info"]["edit_stamp"]),
        (&json!("13800138000"), &json!("{}"), &json!(""))
    );
    let uuid = pop["info"]["uuid"].as_str().unwrap().to_string();

    // The desk's hold toggles.
    assert_eq!(wb_ok(&app, &token, "hold", &[]).await, json!(1));
    assert_eq!(wb_ok(&app, &token, "hold", &[]).await, json!(0));

    // The agent hangs up: after-call work (事务), and no call is offered meanwhile.
    wb_ok(&app, &token, "hangup", &[]).await;
    assert!(agent.wait().await.success() && carrier.wait().await.success());
    assert_eq!(desk.status(3).await["time"], "00:00:00");
    assert!(!svc.agent_state(TENANT, "1001").routable());
    let kinds: Vec<String> =
        svc.db().desk_feed(TENANT, "1001", 0, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.ends_with(&["desk_call_started".into(), "desk_call_connected".into(), "agent_wrap_up".into()]),
        "{kinds:?}"
    );

    // The form, submitted: stored, and the agent is idle again.
    let form = wb_ok(&app, &token, "form", &[("uuid", &uuid)]).await;
    let names: Vec<&str> = form["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["年龄", "意向", "备注", "关注产品"]);
    let values = r#"{"年龄":"39","意向":"高","关注产品":["宽带","电视"]}"#;
    wb_ok(&app, &token, "submit", &[("uuid", &uuid), ("fields", values)]).await;
    assert_eq!(desk.status(1).await["status"], 1);
    let stored = svc.customer_form(TENANT, &uuid).await.unwrap();
    assert_eq!(stored.fields, r#"{"年龄":"39","意向":"高","关注产品":["宽带","电视"]}"#);
    assert!(stored.edited_at.is_some());

    // The next call of the same customer pops the same record, with its values.
    let (agent, carrier, _) = talk(&app, &token, agent_port, carrier_port).await;
    let pop = desk.next_of("info").await;
    assert_eq!((&pop["info"]["uuid"], &pop["info"]["fields"]), (&json!(uuid), &json!(stored.fields)));
    assert_ne!(pop["info"]["edit_stamp"], "");
    // The customer hangs up this time; nextCall ends the after-call work.
    wb_ok(&app, &token, "hangup", &[]).await;
    assert!(agent.wait().await.success() && carrier.wait().await.success());
    desk.status(3).await;
    wb_ok(&app, &token, "nextCall", &[]).await;
    desk.status(1).await;

    // Third call: nobody ends it, the tenant's 30 s limit does (the clock moves; the server acts).
    let (agent, carrier, _) = talk(&app, &token, agent_port, carrier_port).await;
    desk.next_of("info").await;
    wb_ok(&app, &token, "hangup", &[]).await;
    assert!(agent.wait().await.success() && carrier.wait().await.success());
    desk.status(3).await;
    app.clock.advance(chrono::Duration::seconds(29));
    assert!(desk.quiet_for(Duration::from_millis(800)).await, "29 s is within the limit");
    app.clock.advance(chrono::Duration::seconds(2));
    desk.status(1).await;
    assert_eq!(presence(&app, "1001"), Presence::Ready);

    // The agent's own recent calls, numbers masked.
    let calls = wb_ok(&app, &token, "calls", &[]).await;
    assert_eq!(calls.as_array().unwrap().len(), 3, "{calls}");
    assert_eq!(calls[0]["telephone"], "138****8000");
}

#[tokio::test]
async fn a_predictive_connect_pops_the_tasks_customer_record() {
    let (app, _sip, agent_port) = setup().await;
    let svc = app.running.services.clone();
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let token = login(&app, "1001", "desk-1001").await;
    // A task holding the number (not started: the test places the call itself).
    let client = app.token("demo", "demo-secret", None).await;
    let boundary = "----yunhuDesk";
    let mut body = String::new();
    for (k, v) in [
        ("outProjectId", "PRO_777777_JH001"),
        ("taskId", "DESK1"),
        ("name", "DESK1"),
        ("callerId", "53541815"),
        ("createType", "input"),
        ("mobileAndDes", "13900139000"),
        ("timeFrom", "00:00"),
        ("timeTo", "23:59"),
        ("dataObjId", ""),
        ("callType", "0"),
        ("ratio", "3"),
        ("idleTime", "8000"),
        ("wordsKey", ""),
        ("remark", ""),
    ] {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let made = app
        .send(
            app.http
                .post(app.url("/artificialOutTask/insert"))
                .bearer_auth(&client)
                .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
                .body(body),
        )
        .await;
    assert_eq!(made.json()["code"], 0, "{}", made.text);
    let task_id = made.json()["data"]["outboundInstanceId"].as_str().unwrap().parse::<i64>().unwrap();

    let mut desk = Desk::open(&app, &token, None).await;
    desk.next().await;
    let carrier = phone("carrier", "answer_then_bye.xml", carrier_port, 500);
    let agent = phone("agent", "answer.xml", agent_port, 200);
    let switch = app.running.switch.clone().unwrap();
    let dial = yunhu_cc::switch::CustomerFirst {
        tenant: svc.tenant("777777").await.unwrap(),
        number: "13900139000".into(),
        task_id: "DESK1".into(),
        method: yunhu_core::call::CallMethod::Predictive,
        agents: vec!["1001".into()],
        connect_within: Duration::from_secs(3),
    };
    let call = switch.customer_first(dial).await.unwrap();
    let pop = desk.next_of("info").await;
    assert_eq!(pop["sessionId"], call.call_id);
    assert_eq!((&pop["info"]["telephone"], &pop["info"]["task_id"]), (&json!("13900139000"), &json!(task_id)));
    assert_eq!(pop["info"]["project_id"], "JH001");
    assert_ne!(pop["info"]["import_stamp"], "");
    assert!(carrier.wait().await.success() && agent.wait().await.success());
    // No wrap-up kept by the example tenant: idle again.
    desk.status(1).await;
    let _ = ADMIN_TOKEN;
}

#[tokio::test]
async fn agent_state_survives_a_restart_and_a_wrap_up_limit_still_runs_out() {
    let url = yunhu_store::testing::scratch_sqlite_url();
    let app = start(&url).await;
    let svc = app.running.services.clone();
    let now = app.running.services.clock().now().timestamp_millis();
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentWrapUp { call_id: "c1".into(), until: now + 20_000 })
        .await
        .unwrap();
    svc.set_presence(TENANT, "1002", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    svc.set_presence(TENANT, "1002", AgentEventKind::AgentNotReady { reason: "3".into() }).await.unwrap();
    app.running.stop().await;

    let app = start(&url).await;
    let svc = app.running.services.clone();
    assert_eq!(presence(&app, "1001"), Presence::AfterCallWork);
    let s = svc.agent_state(TENANT, "1002");
    assert_eq!((s.presence, s.reason.as_str(), s.status()), (Presence::NotReady, "3", 2));
    // The limit set before the restart is kept: past it, the server ends the after-call work.
    app.clock.advance(chrono::Duration::seconds(25));
    let deadline = Instant::now() + Duration::from_secs(5);
    while presence(&app, "1001") != Presence::Ready {
        assert!(Instant::now() < deadline, "the wrap-up limit never ended it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_desk_sends_sms_from_the_tenants_template_within_the_rules() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let (url, got) = common::sms_gateway().await;
    let config = json!({"provider": "webhook", "secret": "gateway-secret-1", "endpoint": url, "rate_per_minute": 2});
    assert!(app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777/sms", Some(config)).await.status.is_success());
    let template = json!({"text": "您好，我是{staff}，稍后回电{telephone}", "is_default": true});
    let put = app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777/sms/templates/greet", Some(template)).await;
    assert!(put.status.is_success(), "{}", put.text);
    let dnc = json!({"number": "13700000009", "reason": "complained"});
    app.running.services.put_object("777777", yunhu_cc::objects::Kind::DoNotCall, dnc).await.unwrap();
    let token = login(&app, "1001", "desk-1001").await;

    assert_eq!(wb_ok(&app, &token, "getMsg", &[]).await, json!("您好，我是1001，稍后回电"));
    let send = |form: Vec<(&'static str, &'static str)>| {
        let mut all = vec![("access_token", token.clone())];
        all.extend(form.into_iter().map(|(k, v)| (k, v.to_string())));
        let req = app.http.post(app.url("/admin/sms_api/send")).form(&all);
        async { app.send(req).await.json() }
    };
    let v = send(vec![("telephone", "13800000001"), ("msg", "明天见")]).await;
    assert_eq!((&v["code"], &v["data"]), (&json!(0), &json!(1)), "{v}");
    assert_eq!(got.lock().unwrap().clone(), ["13800000001|明天见"]);

    // Refused without reaching the gateway: no text, a do-not-call number, past the rate limit.
    let v = send(vec![("telephone", "13800000001")]).await;
    assert_eq!(v["code"], 1001, "{v}");
    let v = send(vec![("telephone", "13700000009"), ("msg", "hi")]).await;
    assert_eq!(v["code"], 1006, "{v}");
    let v = send(vec![("telephone", "13800000002"), ("msg", "二")]).await;
    assert_eq!(v["code"], 0, "{v}");
    let v = send(vec![("telephone", "13800000003"), ("msg", "三")]).await;
    assert_eq!(v["code"], 1006, "the third in a minute: {v}");
    assert_eq!(got.lock().unwrap().len(), 2);
    let v = app.send(app.http.post(app.url("/admin/sms_api/send")).form(&[("telephone", "1"), ("msg", "x")])).await;
    assert_eq!((v.status.as_u16(), &v.json()["code"]), (401, &json!(1002)));
}
