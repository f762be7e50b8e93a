//! The inbound contact center on the real engine, with sipp as the carrier's callers (pressing
//! keys with RFC 4733 events) and as the agents' phones: a route through an IVR menu into a queue
//! with the path in the record; the survey's key on the call; a call back that keeps the caller's
//! place; overflow at the queue's longest wait; skills; business hours; feature code 002.

mod common;

use common::sip::*;
use common::{TestApp, start};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;
use yunhu_core::agent::AgentEventKind;
use yunhu_core::call::{CallRecord, HangupSide};

/// The tenant's number callers dial.
const NUMBER: &str = "4008001000";

/// Tenant 777777: queues 9100 and 9200 (ring limit 3 s, settings `extra` on 9100), staff 1001
/// (9100) and 1002 (9100 and 9200) with registered phones, a trunk whose carrier calls from any
/// loopback port and answers call backs on `carrier`. Returns the app, SIP address and ports.
async fn center(extra_9100: Value) -> (TestApp, SocketAddr, u16, u16, u16) {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let svc = app.running.services.clone();
    svc.put_object("777777", Kind::CallerId, json!({"number": NUMBER})).await.unwrap();
    let mut q1 = json!({"code": "9100", "name": "售后", "direction": "in", "caller_id": NUMBER, "tip_timeout": 3});
    q1.as_object_mut().unwrap().extend(extra_9100.as_object().unwrap().clone());
    svc.put_object("777777", Kind::Queue, json!({"code": "9200", "name": "二线", "direction": "in", "tip_timeout": 3}))
        .await
        .unwrap();
    svc.put_object("777777", Kind::Queue, q1).await.unwrap();
    let staff = [("1001", json!(["9100"]), json!({})), ("1002", json!(["9100", "9200"]), json!({"english": 1}))];
    for (code, queues, skills) in staff {
        let spec = json!({"user_code": code, "name": code, "agent_id": code, "queues": queues, "skills": skills});
        svc.put_object("777777", Kind::Staff, spec).await.unwrap();
    }
    let (p1, p2, carrier) = (free_port(), free_port(), free_port());
    let trunk = json!({"name": "carrier", "address": format!("127.0.0.1:{carrier}"), "caller_id": "53541815",
        "allow_ips": ["127.0.0.1"]});
    svc.put_object("777777", Kind::Trunk, trunk).await.unwrap();
    assert!(register(sip, "1001", "1001pw", p1, "register.xml").await.success());
    assert!(register(sip, "1002", "1002pw", p2, "register.xml").await.success());
    (app, sip, p1, p2, carrier)
}

async fn login(app: &TestApp, code: &str) {
    let event = AgentEventKind::AgentLogin { via: "api".into() };
    app.running.services.set_presence(TENANT, code, event).await.unwrap();
}

async fn not_ready(app: &TestApp, code: &str) {
    let event = AgentEventKind::AgentNotReady { reason: "2".into() };
    app.running.services.set_presence(TENANT, code, event).await.unwrap();
}

/// A carrier's caller `customer` dialling the tenant's number with `scenario`, staying `stay_ms`.
fn caller(sip: SocketAddr, scenario: &str, customer: &str, stay_ms: u32) -> Sipp {
    let stay = stay_ms.to_string();
    carrier_call("caller", sip, free_port(), scenario, customer, NUMBER, &["-d", &stay])
}

/// The inbound records so far, oldest first, once `n` of them are written.
async fn inbound_records(app: &TestApp, n: usize) -> Vec<CallRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let filter = yunhu_store::calls::CallRecordFilter { ascending: true, ..Default::default() };
        let page = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
        let all: Vec<CallRecord> = page.into_iter().map(|r| r.record).collect();
        if all.iter().filter(|r| r.direction == "inbound").count() >= n {
            return all;
        }
        assert!(Instant::now() < deadline, "{n} inbound records were not written: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wallboard(app: &TestApp, queue: &str) -> Value {
    let path = format!("/yunhu/v1/tenants/777777/queues/{queue}/wallboard");
    let answer = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// Waits until queue 9100's wallboard field `field` reads `value`.
async fn board_reads(app: &TestApp, field: &str, value: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let b = wallboard(app, "9100").await;
        if b[field] == value {
            return;
        }
        assert!(Instant::now() < deadline, "{field} never read {value}: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_ivr_callers_keys_lead_through_the_menu_into_the_queue_and_the_record_keeps_the_path() {
    let (app, sip, _p1, p2, _carrier) = center(json!({})).await;
    let menu = json!({"name": "main", "start": "welcome", "nodes": [
        {"name": "welcome", "prompt": "digit_1", "max_digits": 1, "timeout_secs": 8,
         "keys": {"1": "queue:9200", "2": "node:service"}},
        {"name": "service", "prompt": "digit_2", "max_digits": 1, "timeout_secs": 8, "keys": {"1": "queue:9100"}},
    ]});
    let put = app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777/ivrs/main", Some(menu)).await;
    assert!(put.status.is_success(), "{}", put.text);
    let route = json!({"number": NUMBER, "to": "ivr:main"});
    let put = app.admin(reqwest::Method::PUT, &format!("/yunhu/v1/tenants/777777/routes/{NUMBER}"), Some(route)).await;
    assert!(put.status.is_success(), "{}", put.text);
    // A menu leading nowhere is refused, saying where.
    let bad = json!({"name": "bad", "start": "a", "nodes": [{"name": "a", "prompt": "digit_1", "max_digits": 1,
        "keys": {"1": "node:nowhere"}}]});
    let refused = app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777/ivrs/bad", Some(bad)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("nowhere"), "{}", refused.text);

    login(&app, "1002").await;
    let agent = phone("agent1002", "answer.xml", p2, 300);
    let call = caller(sip, "ivr_caller.xml", "13600136000", 4_000);
    assert!(call.wait().await.success(), "the caller went through the menu, talked and hung up");
    assert!(agent.wait().await.success(), "1002's phone rang and answered");
    let records = inbound_records(&app, 1).await;
    let r = &records[0];
    assert_eq!((r.ivr_name.as_str(), r.ivr_digits.as_str(), r.ivr_last_node.as_str()), ("main", "21", "service"));
    assert!(r.ivr_start.is_some() && r.ivr_end >= r.ivr_start, "{r:?}");
    assert_eq!((r.queue.as_str(), r.queue_outcome.as_str(), r.staff.as_str()), ("9100", "answered", "1002"));
    assert!(r.connected() && r.queue_start >= r.ivr_end, "{r:?}");
}

#[tokio::test]
async fn when_the_agent_hangs_up_first_the_callers_survey_key_is_kept_on_the_call() {
    let (app, sip, _p1, p2, _carrier) = center(json!({"survey": true})).await;
    login(&app, "1002").await;
    // The agent's phone answers and hangs up three seconds later; the caller presses 4 then.
    let agent = phone("agent1002", "answer_then_bye.xml", p2, 300);
    let call = caller(sip, "survey_caller.xml", "13600136000", 6_500);
    assert!(agent.wait().await.success());
    assert!(call.wait().await.success(), "yunhu thanked the caller and hung up");
    let r = inbound_records(&app, 1).await.remove(0);
    assert_eq!(r.satisfaction, Some(4), "{r:?}");
    assert_eq!(r.hangup_side, Some(HangupSide::Agent), "the agent hung up first");
}

#[tokio::test]
async fn a_caller_who_asks_for_a_call_back_keeps_their_place_among_three() {
    let (app, sip, p1, _p2, carrier) = center(json!({"callback_key": "1"})).await;
    // 1001 alone serves the queue, not ready while three callers arrive.
    login(&app, "1001").await;
    not_ready(&app, "1001").await;
    let first = caller(sip, "queue_caller.xml", "13600000001", 40_000);
    board_reads(&app, "waiting", 1).await;
    let second = caller(sip, "callback_caller.xml", "13600000002", 2_500);
    board_reads(&app, "waiting", 2).await;
    let third = caller(sip, "queue_caller.xml", "13600000003", 40_000);
    board_reads(&app, "waiting", 3).await;
    assert!(second.wait().await.success(), "the second caller pressed 1 and hung up");
    board_reads(&app, "callbacks_pending", 1).await;

    // The agent takes three calls, hanging up each after three seconds; the carrier answers the
    // call back to the second caller.
    let agent = phones("agent1001", "answer_then_bye.xml", p1, 300, 3);
    let callee = phone("carrier", "answer.xml", carrier, 300);
    login(&app, "1001").await;
    assert!(agent.wait().await.success(), "1001 took three calls");
    assert!(callee.wait().await.success(), "the second caller was called back");
    drop((first, third));
    let records = inbound_records(&app, 3).await;
    // In the order the agent answered them (a record is listed by when its call began, and a
    // queued caller's call began on arrival).
    let mut taken: Vec<&CallRecord> = records.iter().filter(|r| r.connected() && r.staff == "1001").collect();
    taken.sort_by_key(|r| r.agent.answer);
    let served: Vec<(&str, &str)> = taken.iter().map(|r| (r.customer.as_str(), r.direction.as_str())).collect();
    assert_eq!(
        served,
        [("13600000001", "inbound"), ("13600000002", "outbound"), ("13600000003", "inbound")],
        "served in the order they came, the call back second"
    );
    let left = records.iter().find(|r| r.customer == "13600000002" && r.direction == "inbound").unwrap();
    assert_eq!(left.queue_outcome, "callback");
    let back = records.iter().find(|r| r.direction == "outbound").unwrap();
    assert_eq!(back.call_data.get("queue").map(String::as_str), Some("9100"));
    assert_eq!(back.caller_id, NUMBER, "the call back shows the queue's number");
}

#[tokio::test]
async fn a_caller_waiting_past_the_longest_wait_overflows_to_the_next_queue() {
    let (app, sip, _p1, p2, _carrier) =
        center(json!({"max_wait_secs": 2, "overflow": "queue:9200", "announce_secs": 1})).await;
    // 9100's own agent is not ready; 9200's agent (also in 9100, but not ready for now) is not.
    login(&app, "1001").await;
    not_ready(&app, "1001").await;
    login(&app, "1002").await;
    not_ready(&app, "1002").await;
    let agent = phone("agent1002", "answer.xml", p2, 300);
    let call = caller(sip, "queue_caller.xml", "13600136000", 9_000);
    board_reads(&app, "waiting", 1).await;
    app.clock.advance(chrono::Duration::seconds(3));
    let deadline = Instant::now() + Duration::from_secs(10);
    while wallboard(&app, "9100").await["overflowed"] != 1 {
        assert!(Instant::now() < deadline, "no overflow");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    login(&app, "1002").await;
    assert!(call.wait().await.success());
    assert!(agent.wait().await.success(), "9200's agent took the overflowed call");
    let r = inbound_records(&app, 1).await.remove(0);
    assert_eq!((r.queue.as_str(), r.queue_outcome.as_str(), r.staff.as_str()), ("9200", "answered", "1002"));
}

#[tokio::test]
async fn a_queue_that_needs_a_skill_offers_its_callers_only_to_agents_who_have_it() {
    let (app, sip, p1, p2, _carrier) = center(json!({"skill": "english"})).await;
    // 1001 is idle longest but lacks the skill.
    login(&app, "1001").await;
    app.clock.advance(chrono::Duration::seconds(60));
    login(&app, "1002").await;
    let unskilled = phone("agent1001", "answer.xml", p1, 300);
    let skilled = phone("agent1002", "answer.xml", p2, 300);
    let call = caller(sip, "queue_caller.xml", "13600136000", 4_000);
    assert!(call.wait().await.success());
    assert!(skilled.wait().await.success(), "1002 has the skill");
    let r = inbound_records(&app, 1).await.remove(0);
    assert_eq!(r.staff, "1002");
    drop(unskilled);
}

#[tokio::test]
async fn out_of_business_hours_the_route_takes_its_after_hours_destination() {
    let (app, sip, _p1, _p2, _carrier) = center(json!({})).await;
    let svc = app.running.services.clone();
    let closed = json!({"name": "closed", "start": "notice", "nodes": [
        {"name": "notice", "prompt": "digit_0", "next": "hangup"}]});
    svc.put_object("777777", Kind::Ivr, closed).await.unwrap();
    // Today is a holiday in the tenant's zone.
    let zone = yunhu_core::time::zone_or_default("Asia/Shanghai");
    use yunhu_core::clock::Clock;
    let now = yunhu_core::time::to_millis(app.clock.now());
    let today = yunhu_core::time::format_in_zone(now, zone, "%Y-%m-%d");
    let route = json!({"number": NUMBER, "to": "queue:9100", "after_hours": "ivr:closed", "holidays": [today]});
    svc.put_object("777777", Kind::Route, route).await.unwrap();
    let call = caller(sip, "inbound_until_bye.xml", "13600136000", 0);
    assert!(call.wait().await.success(), "yunhu played the notice and hung up");
    let r = inbound_records(&app, 1).await.remove(0);
    assert_eq!((r.ivr_name.as_str(), r.ivr_last_node.as_str(), r.queue.as_str()), ("closed", "notice", ""));
    assert_eq!(r.hangup_side, Some(HangupSide::System));
    // A route to something the tenant does not have is refused.
    let bad = json!({"number": "4008009999", "to": "queue:0000"});
    let err = svc.put_object("777777", Kind::Route, bad).await.unwrap_err();
    assert!(err.to_string().contains("0000"), "{err}");
}

#[tokio::test]
async fn feature_code_002_reads_the_number_customers_call_back_on() {
    let (app, sip, _p1, _p2, carrier) = center(json!({})).await;
    // Phones dial from loopback too: the carrier's allow-list would take their calls for its own.
    let trunk = json!({"name": "carrier", "address": format!("127.0.0.1:{carrier}"), "caller_id": "53541815"});
    app.running.services.put_object("777777", Kind::Trunk, trunk).await.unwrap();
    // 1001's group 9100 shows 4008001000: "预测外呼的回呼号码是" (4 s) and ten digits follow.
    let t = Instant::now();
    assert!(dial_from(sip, "1001", "1001pw", "002", "dial.xml").await.success());
    let with_number = t.elapsed();
    assert!(with_number >= Duration::from_secs(10), "the number was read out: {with_number:?}");
    // A staff member whose groups show no number hears "not found", which is shorter.
    let svc = app.running.services.clone();
    let spec = json!({"user_code": "1003", "name": "1003", "agent_id": "1003", "sip_password": "1003pw",
        "queues": ["9200"]});
    svc.put_object("777777", Kind::Staff, spec).await.unwrap();
    assert!(register(sip, "1003", "1003pw", free_port(), "register.xml").await.success());
    let t = Instant::now();
    assert!(dial_from(sip, "1003", "1003pw", "002", "dial.xml").await.success());
    assert!(t.elapsed() < with_number, "{:?} vs {with_number:?}", t.elapsed());
}
