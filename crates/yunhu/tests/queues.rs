//! Inbound queues on the real engine, with sipp as the carrier's caller and as the agents'
//! phones: a call to an inbound skill group's number waits with music while the ACD offers it;
//! the agent idle longest gets it; an agent who lets it ring out goes not ready (missed) and the
//! call is offered to the next; agents not ready are never offered a call.

mod common;

use common::sip::*;
use common::{TestApp, start};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;
use yunhu_core::agent::{AgentEventKind, Presence};

/// The queue's number, as the carrier dials it.
const QUEUE_NUMBER: &str = "4008001000";

/// A caller from the carrier at `port` to the queue's number, staying `stay_ms` after the answer.
fn queue_caller(sip: SocketAddr, port: u16, stay_ms: u32) -> Sipp {
    let stay = stay_ms.to_string();
    carrier_call("queue-caller", sip, port, "queue_caller.xml", "13600136000", QUEUE_NUMBER, &["-d", &stay])
}

/// Tenant 777777 with inbound queue 9100 (ring limit 2 s) served by 1001 and 1002, both phones
/// registered; returns the app, SIP address and the two phones' ports.
async fn queue_setup() -> (TestApp, SocketAddr, u16, u16) {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let svc = app.running.services.clone();
    svc.put_object("777777", Kind::CallerId, json!({"number": QUEUE_NUMBER})).await.unwrap();
    let queue = json!({"code": "9100", "name": "售后", "direction": "in", "caller_id": QUEUE_NUMBER, "tip_timeout": 2});
    svc.put_object("777777", Kind::Queue, queue).await.unwrap();
    for (code, name, role) in [("1001", "张三", "agent"), ("1002", "李四", "monitor")] {
        let staff = json!({"user_code": code, "name": name, "agent_id": code, "role": role, "queues": ["9100"]});
        svc.put_object("777777", Kind::Staff, staff).await.unwrap();
    }
    let (p1, p2) = (free_port(), free_port());
    assert!(register(sip, "1001", "1001pw", p1, "register.xml").await.success());
    assert!(register(sip, "1002", "1002pw", p2, "register.xml").await.success());
    (app, sip, p1, p2)
}

async fn login(app: &TestApp, code: &str) {
    let event = AgentEventKind::AgentLogin { via: "api".into() };
    app.running.services.set_presence(TENANT, code, event).await.unwrap();
}

/// The record of the one inbound call that went through queue 9100 since `after` records.
async fn queue_record(app: &TestApp, nth: usize) -> yunhu_core::call::CallRecord {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let filter = yunhu_store::calls::CallRecordFilter { ascending: true, ..Default::default() };
        let page = app.running.services.db().list_call_records(TENANT, &filter, 50).await.unwrap();
        let queued: Vec<_> = page.into_iter().filter(|r| r.record.queue == "9100").collect();
        if let Some(r) = queued.get(nth) {
            return r.record.clone();
        }
        assert!(Instant::now() < deadline, "no record of queued call #{nth}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_longest_idle_agent_gets_the_call_and_a_missed_offer_goes_to_the_next_agent() {
    let (app, sip, p1, p2) = queue_setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    // 1002 is ready first: idle the longest.
    login(&app, "1002").await;
    app.clock.advance(chrono::Duration::seconds(60));
    login(&app, "1001").await;

    let agent = phone("agent1002", "answer.xml", p2, 300);
    let caller = queue_caller(sip, carrier_port, 4_000);
    assert!(caller.wait().await.success(), "the caller was answered and hung up");
    assert!(agent.wait().await.success(), "1002's phone rang and answered");
    let r = queue_record(&app, 0).await;
    assert_eq!((r.direction.as_str(), r.staff.as_str(), r.extension.as_str()), ("inbound", "1002", "1002"));
    assert!(r.connected(), "{r:?}");

    // Now 1001 is idle the longest; it lets the offer ring out and goes not ready (missed);
    // the caller, still waiting with music, goes to 1002.
    app.clock.advance(chrono::Duration::seconds(10));
    let lazy = phone("agent1001", "ring_forever.xml", p1, 0);
    let agent = phone("agent1002", "answer.xml", p2, 300);
    let caller = queue_caller(sip, carrier_port, 9_000);
    wait_status(&app, "1001", 8).await;
    // The offer's ring limit passes (the ACD runs on the server's clock).
    app.clock.advance(chrono::Duration::seconds(3));
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.running.services.presence(TENANT, "1001") != Presence::NotReady {
        assert!(Instant::now() < deadline, "1001 was not put not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.running.services.agent_state(TENANT, "1001").reason, "missed");
    assert!(caller.wait().await.success());
    assert!(agent.wait().await.success(), "1002 took the call");
    drop(lazy);
    let r = queue_record(&app, 1).await;
    assert_eq!(r.staff, "1002");
    assert!(r.connected(), "{r:?}");

    // The wallboard agrees with the records: two answered, nobody waiting, 1001 not ready.
    let board = app.admin(reqwest::Method::GET, "/yunhu/v1/tenants/777777/queues/9100/wallboard", None).await;
    assert_eq!(board.status, 200, "{}", board.text);
    let b = board.json();
    assert_eq!(
        (&b["entered"], &b["answered"], &b["abandoned"], &b["waiting"]),
        (&json!(2), &json!(2), &json!(0), &json!(0))
    );
    assert_eq!((&b["agents"]["not_ready"], &b["service_level_secs"]), (&json!(1), &json!(20)));
    assert!(b["asa_secs"].as_f64().unwrap() >= 0.0 && b["service_level"].as_f64().is_some(), "{b}");
    let unknown = app.admin(reqwest::Method::GET, "/yunhu/v1/tenants/777777/queues/0000/wallboard", None).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn agents_not_ready_are_never_offered_a_call_and_a_caller_nobody_takes_may_hang_up() {
    let (app, sip, p1, _p2) = queue_setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    login(&app, "1001").await;
    let svc = app.running.services.clone();
    svc.set_presence(TENANT, "1001", AgentEventKind::AgentNotReady { reason: "2".into() }).await.unwrap();
    // 1002 never logged in.
    let phone1001 = phone("agent1001", "answer.xml", p1, 300);
    let caller = queue_caller(sip, carrier_port, 2_500);
    assert!(caller.wait().await.success(), "answered with music, hung up after 2.5 s");
    let r = queue_record(&app, 0).await;
    assert!(r.staff.is_empty() && !r.connected(), "nobody took it: {r:?}");
    assert_eq!(r.hangup_side, Some(yunhu_core::call::HangupSide::Customer));
    drop(phone1001);
    let events: Vec<String> =
        svc.db().desk_feed(TENANT, "1001", 0, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(!events.iter().any(|k| k == "desk_call_started"), "1001 was never rung: {events:?}");
}
