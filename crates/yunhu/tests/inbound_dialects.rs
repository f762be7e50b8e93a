//! One real inbound call read through every dialect: a carrier's caller (sipp) dials an inbound
//! skill group's number, waits in the queue while its only agent is not ready, is taken by that
//! agent's phone (sipp) once the agent is ready, talks and hangs up. open95 (JSON and XML, the
//! listing, the one-call detail, agent history), crm, sipcdr, action and the workbench must agree
//! on the direction, the agent, the caller's number, the start, the talk time and, where they
//! have fields for it, the queue and the wait. The IVR's and the survey's fields are covered by
//! yunhu-api's unit tests until a real call can go through an IVR and a survey.

mod common;

use common::sip::*;
use common::{TestApp, start};
use serde_json::{Value, json};
use sha1::Digest;
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;
use yunhu_core::Clock;
use yunhu_core::agent::AgentEventKind;

/// The skill group's number, as the carrier dials it.
const QUEUE_NUMBER: &str = "4008002000";
/// The caller.
const CALLER: &str = "13600136000";
/// Seconds the caller waits in the queue, on the server's clock.
const WAIT_SECS: i64 = 25;
/// Seconds the agent and the caller talk, on the server's clock.
const TALK_SECS: i64 = 40;

/// Polls `check` until it gives a value, for at most 20 s.
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A crm signature for a timestamp `back` seconds before now (each request signs anew).
fn crm_query(app: &TestApp, back: i64) -> String {
    let ts = app.clock.now().timestamp() - back;
    let sign = hex::encode(sha1::Sha1::digest(format!("ops@demo.cn&k3y&{ts}").as_bytes()));
    format!("email=ops@demo.cn&timestamp={ts}&sign={sign}")
}

async fn sipcdr(app: &TestApp, form: &[(&str, &str)]) -> Value {
    let v = app.send(app.http.post(app.url("/")).form(form)).await.json();
    assert_eq!((v["ret"].as_i64(), v["data"]["status"].as_i64()), (Some(200), Some(0)), "{v}");
    v["data"]["result"].clone()
}

fn int(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[tokio::test]
async fn every_dialect_tells_the_same_inbound_queue_call() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let svc = app.running.services.clone();
    svc.put_object("777777", Kind::CallerId, json!({"number": QUEUE_NUMBER})).await.unwrap();
    let queue =
        json!({"code": "8100", "name": "售后热线", "direction": "in", "caller_id": QUEUE_NUMBER, "tip_timeout": 5});
    svc.put_object("777777", Kind::Queue, queue).await.unwrap();
    // 1001 answers on its SIP phone (1002 takes calls on its mobile: 手机随行).
    svc.reset_queues(TENANT, "1001", &["8100".to_string()], "8100").await.unwrap();
    // After-call work names the call in the agent's history.
    let desk = yunhu_cc::agents::DeskSettings { wrap_up_secs: 300, reasons: Default::default() };
    svc.set_desk_settings(TENANT, &desk).await.unwrap();
    let phone_port = free_port();
    assert!(register(sip, "1001", "1001pw", phone_port, "register.xml").await.success());
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentNotReady { reason: "1".into() }).await.unwrap();
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;

    let agent_phone = phone("agent1001", "answer.xml", phone_port, 300);
    let caller =
        carrier_call("queue-caller", sip, carrier_port, "queue_caller.xml", CALLER, QUEUE_NUMBER, &["-d", "8000"]);
    let started = app.clock.now();
    // The caller waits with music: nobody is ready.
    until("the caller to wait in 8100", || async {
        let b = app.admin(reqwest::Method::GET, "/yunhu/v1/tenants/777777/queues/8100/wallboard", None).await;
        (b.json()["waiting"] == 1).then_some(())
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(WAIT_SECS));
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentReady).await.unwrap();
    until("1001 to talk with the caller", || async {
        svc.agent_state(TENANT, "1001").call.filter(|c| c.connected).map(|_| ())
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(TALK_SECS));
    assert!(caller.wait().await.success(), "the caller was answered, waited, talked and hung up");
    assert!(agent_phone.wait().await.success(), "1001's phone answered and was hung up on");

    let stored = until("the call's record", || async {
        let filter = yunhu_store::calls::CallRecordFilter::default();
        let page = svc.db().list_call_records(TENANT, &filter, 10).await.unwrap();
        page.into_iter().find(|r| r.record.queue == "8100" && r.record.cause.is_some())
    })
    .await;
    let r = &stored.record;
    let call_id = stored.call_id.clone();
    assert_eq!((r.direction.as_str(), r.staff.as_str(), r.customer.as_str()), ("inbound", "1001", CALLER), "{r:?}");
    // The server's clock runs on between the steps: the record is the measure, within bounds.
    let (wait, talk) = (r.queue_secs(), r.talk_secs);
    assert_eq!(r.queue_outcome, "answered", "{r:?}");
    assert!((WAIT_SECS..WAIT_SECS + 5).contains(&wait), "waited {wait} s: {r:?}");
    assert!((r.started_at() - started.timestamp_millis()).abs() < 5_000, "{r:?}");
    assert!(talk >= TALK_SECS, "talked {talk} s: {r:?}");
    let shanghai =
        |t: chrono::DateTime<chrono::Utc>| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string();
    let stamp = |ms: Option<i64>| shanghai(chrono::DateTime::from_timestamp_millis(ms.unwrap()).unwrap());
    let start = stamp(Some(r.started_at()));
    let (queue_start, queue_end) = (stamp(r.queue_start), stamp(r.queue_end));

    // open95, JSON: the listing (callType 2) and the detail agree.
    let token = app.token("demo", "demo-secret", None).await;
    let listing = app.get("/callHistory/pageSearchCallHistory?callType=2", &token).await.json();
    assert_eq!(listing["data"]["total"], 1, "{listing}");
    let detail = app.get(&format!("/callHistory/detailBySid?sid={call_id}"), &token).await.json();
    let h = &listing["data"]["pageData"][0];
    assert_eq!(h, &detail["data"]["pageData"][0]);
    let want = json!({
        "callId": call_id, "callType": 2, "customer": CALLER, "agent": "100011001", "agentName": "张三",
        "callResult": "已接通", "cStartTime": start, "talksec": talk,
        "queue": "100018100", "queueName": "售后热线", "exitStatus": 0, "queueTimes": 0,
        "queueStartTime": queue_start, "queueEndTime": queue_end, "queueSec": wait,
        "ivrName": null, "ivrLastNode": -1, "satisfaction": -1,
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&h[k], v, "open95 {k} in {h}");
    }
    // open95, XML: the same row.
    let xml = app
        .send(
            app.http
                .get(app.url(&format!("/callHistory/detailBySid?sid={call_id}")))
                .bearer_auth(&token)
                .header("Accept", "application/xml"),
        )
        .await
        .text;
    for part in [
        "<callType>2</callType>".to_string(),
        format!("<customer>{CALLER}</customer>"),
        "<agent>100011001</agent>".into(),
        "<queue>100018100</queue>".into(),
        "<queueName>售后热线</queueName>".into(),
        format!("<queueSec>{wait}</queueSec>"),
        format!("<queueStartTime>{queue_start}</queueStartTime>"),
        format!("<talksec>{talk}</talksec>"),
    ] {
        assert!(xml.contains(&part), "{part} in {xml}");
    }
    // open95's skill group listing spells the queue the same way.
    let skills = app.get("/skills/loadQueueInfo?agentId=1001", &token).await.json();
    assert_eq!(skills["data"]["inTastList"][0]["queueCode"], h["queue"], "{skills}");
    // open95 agent history: 1001's after-call work names the call and its type.
    let history = until("1001's after-call work", || async {
        let v = app.get("/employeeHistories/pageSearch?agentId=1001&action=582", &token).await.json();
        let rows = v["data"]["pageData"].as_array().cloned().unwrap_or_default();
        rows.into_iter().find(|e| e["callId"] == call_id.as_str())
    })
    .await;
    assert_eq!((&history["callType"], &history["reasonCode"], &history["state"]), (&json!(2), &json!(0), &json!(2)));

    // crm: an inbound call (1) an agent answered (5).
    let logs = app.send(app.http.get(app.url(&format!("/api/v1/callLogs?{}", crm_query(&app, 0))))).await.json();
    assert_eq!(logs["data"]["total"], 1, "{logs}");
    let c = &logs["data"]["list"][0];
    assert_eq!(
        (&c["callType"], &c["result"], &c["customerNumber"], &c["agentName"], &c["createTime"], &c["duration"]),
        (&json!(1), &json!(5), &json!(CALLER), &json!("张三"), &json!(start), &json!(talk)),
        "{c}"
    );

    // crm, an agent's latest calls: the same call, with its IVR time (none here).
    let search = app
        .send(
            app.http
                .post(app.url(&format!("/api/v1/callLogs/search?{}", crm_query(&app, 1))))
                .json(&json!({"masterUserId": 1001})),
        )
        .await
        .json();
    let c = &search["data"]["list"][0];
    assert_eq!(
        (&c["callId"], &c["callType"], &c["ivrDuration"]),
        (&json!(call_id), &json!(1), &Value::Null),
        "{search}"
    );

    // sipcdr: callin, inbound filter (direction 1) finds it.
    let sip_login =
        sipcdr(&app, &[("service", "App.Sip_Auth.Login"), ("appid", "demo"), ("accesskey", "demo-pass")]).await;
    let sip_token = sip_login["token"].as_str().unwrap();
    let bills = sipcdr(
        &app,
        &[
            ("service", "App.Sip_Cdr.GetBill"),
            ("token", sip_token),
            ("syncflag", "3"),
            ("direction", "1"),
            ("starttime", "2026-11-21 00:00:00"),
            ("endtime", "2026-11-21 23:59:59"),
        ],
    )
    .await;
    assert_eq!(bills["totalitems"], 1, "{bills}");
    let b = &bills["bills"][0];
    assert_eq!(
        (&b["direction"], &b["extnumber"], &b["destnumber"], &b["starttime"], int(&b["billsec"])),
        (&json!("callin"), &json!("1001"), &json!(CALLER), &json!(start), talk),
        "{b}"
    );

    // action: calltype 1, the caller as src, the agent's extension.
    let cdr = action(&app, &[("action", "GetCDRList")]).await;
    let rows = cdr["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{cdr}");
    let a = &rows[0];
    assert_eq!(
        (&a["calltype"], &a["src"], &a["exten"], &a["staffid"], &a["calldate"], int(&a["billsec_int"])),
        (&json!("1"), &json!(CALLER), &json!("1001"), &json!("1001"), &json!(start), talk),
        "{a}"
    );
    assert_eq!(a["disposition"], "ANSWERED");

    // The workbench: the agent's own recent calls, with the queue and the wait.
    let form = [("corp", "777777"), ("extno", "1001"), ("password", "desk-1001")];
    let login = app.send(app.http.post(app.url("/admin/agent/login")).form(&form)).await.json();
    let desk_token = login["data"]["access_token"].as_str().unwrap();
    let form = [("access_token", desk_token)];
    let calls = app.send(app.http.post(app.url("/admin/agent/calls")).form(&form)).await.json();
    let w = &calls["data"][0];
    assert_eq!(
        (&w["sessionId"], &w["direction"], &w["telephone"], &w["start"], &w["talk_secs"]),
        (&json!(call_id), &json!("inbound"), &json!("136****6000"), &json!(start), &json!(talk)),
        "{calls}"
    );
    assert_eq!((&w["queue"], &w["wait_secs"]), (&json!("8100"), &json!(wait)), "{calls}");
}
