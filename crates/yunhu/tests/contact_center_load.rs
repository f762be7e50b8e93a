//! The inbound contact center under load, on the real engine: callers arriving over a minute into
//! two queues (sipp as the carrier, each caller patient for 8 s), served by sipp agents with
//! random talk times; some agents serve both queues. Every caller ends answered or abandoned and
//! the record says which; no agent ever has two calls at once; the wallboard's service level and
//! ASA equal what the call records give.
//!
//! `LOAD_CALLERS` (default 200) and `LOAD_AGENTS` (default 20) size the run.

mod common;

use common::sip::*;
use common::start;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;
use yunhu_core::agent::AgentEventKind;
use yunhu_core::call::CallRecord;

const NUMBERS: [&str; 2] = ["4008001000", "4008002000"];
const QUEUES: [&str; 2] = ["9100", "9200"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_into_two_queues_are_all_accounted_for_and_the_wallboard_agrees_with_the_records() {
    let callers = env_or("LOAD_CALLERS", 200);
    let agents = env_or("LOAD_AGENTS", 20);
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let svc = app.running.services.clone();
    for (number, code) in NUMBERS.iter().zip(QUEUES) {
        svc.put_object("777777", Kind::CallerId, json!({"number": number})).await.unwrap();
        let queue = json!({"code": code, "name": code, "direction": "in", "caller_id": number, "tip_timeout": 5,
            "service_level_secs": 5});
        svc.put_object("777777", Kind::Queue, queue).await.unwrap();
    }
    let carrier = free_port();
    let trunk = json!({"name": "carrier", "address": format!("127.0.0.1:{carrier}"), "caller_id": "53541815",
        "allow_ips": ["127.0.0.1"]});
    svc.put_object("777777", Kind::Trunk, trunk).await.unwrap();

    // The first 60 % of agents serve 9100, the last 60 % serve 9200: the middle serve both.
    let mut phones = Vec::new();
    for i in 0..agents {
        let code = format!("{}", 3001 + i);
        let mut queues = Vec::new();
        if i < agents * 6 / 10 {
            queues.push(QUEUES[0]);
        }
        if i >= agents * 4 / 10 {
            queues.push(QUEUES[1]);
        }
        let spec =
            json!({"user_code": code, "name": code, "agent_id": code, "sip_password": "load-pw", "queues": queues});
        svc.put_object("777777", Kind::Staff, spec).await.unwrap();
        let port = free_port();
        assert!(register(sip, &code, "load-pw", port, "register.xml").await.success());
        svc.set_presence(TENANT, &code, AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
        let media = free_port().to_string();
        let args: Vec<String> = ["-sf", "load_agent.xml", "-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media]
            .iter()
            .map(|s| s.to_string())
            .chain(["-m", "100000", "-d", "300", "-l", "4"].map(String::from))
            .collect();
        phones.push(sipp_for("load-agent", &args, Duration::from_secs(300)));
    }

    // Callers: two carrier streams, one per number, spread evenly over a minute.
    let per_stream = callers / 2;
    let mut streams = Vec::new();
    for (k, number) in NUMBERS.iter().enumerate() {
        let list = std::env::temp_dir().join(format!("yunhu-load-callers-{}-{k}.csv", std::process::id()));
        let mut csv = String::from("SEQUENTIAL\n");
        for n in 0..per_stream {
            csv.push_str(&format!("13{k}{n:08};\n"));
        }
        std::fs::write(&list, csv).unwrap();
        let media = free_port().to_string();
        let rate = per_stream.to_string();
        let args: Vec<String> = [
            &sip.to_string() as &str,
            "-sf",
            "load_caller.xml",
            "-inf",
            list.to_str().unwrap(),
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-mp",
            &media,
            "-m",
            &rate,
            "-r",
            &rate,
            "-rp",
            "60000",
            "-l",
            "1000",
            "-key",
            "dialed",
            number,
            "-key",
            "domain",
            "777777.yunhu",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        streams.push(sipp_for("load-callers", &args, Duration::from_secs(150)));
    }
    for s in streams {
        assert!(s.wait().await.success(), "every caller was answered by yunhu and ended cleanly");
    }
    drop(phones);

    // Every caller has one record that says how the call ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    let records: Vec<CallRecord> = loop {
        let filter = yunhu_store::calls::CallRecordFilter { ascending: true, ..Default::default() };
        let page = svc.db().list_call_records(TENANT, &filter, 1000).await.unwrap();
        let inbound: Vec<CallRecord> =
            page.into_iter().map(|r| r.record).filter(|r| r.direction == "inbound").collect();
        if inbound.len() >= per_stream * 2 {
            break inbound;
        }
        assert!(Instant::now() < deadline, "{} of {} callers have a record", inbound.len(), per_stream * 2);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(records.len(), per_stream * 2, "one record per caller");
    let mut customers: Vec<&str> = records.iter().map(|r| r.customer.as_str()).collect();
    customers.sort();
    customers.dedup();
    assert_eq!(customers.len(), per_stream * 2, "no caller has two records");
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *outcomes.entry(r.queue_outcome.as_str()).or_default() += 1;
        assert!(matches!(r.queue_outcome.as_str(), "answered" | "abandoned"), "{r:?}");
        assert_eq!(r.queue_outcome == "answered", r.connected() && !r.staff.is_empty(), "{r:?}");
    }
    eprintln!("outcomes: {outcomes:?}");
    assert!(outcomes.get("answered").copied().unwrap_or(0) > per_stream, "most callers were served: {outcomes:?}");

    // No agent ever had two calls at once.
    let mut by_agent: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.staff.is_empty()) {
        let span = (r.agent.start.unwrap_or_default(), r.agent.end.unwrap_or(i64::MAX));
        by_agent.entry(r.staff.as_str()).or_default().push(span);
    }
    for (agent, mut spans) in by_agent {
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "{agent} had two calls at once: {w:?}");
        }
    }

    // The wallboard agrees with the records, queue by queue.
    for code in QUEUES {
        let of: Vec<&CallRecord> = records.iter().filter(|r| r.queue == code).collect();
        let answered: Vec<i64> = of
            .iter()
            .filter(|r| r.queue_outcome == "answered")
            .map(|r| r.queue_end.unwrap() - r.queue_start.unwrap())
            .collect();
        let abandoned: Vec<i64> = of
            .iter()
            .filter(|r| r.queue_outcome == "abandoned")
            .map(|r| r.queue_end.unwrap() - r.queue_start.unwrap())
            .collect();
        let board =
            app.admin(reqwest::Method::GET, &format!("/yunhu/v1/tenants/777777/queues/{code}/wallboard"), None).await;
        let b = board.json();
        assert_eq!(
            (&b["entered"], &b["answered"], &b["abandoned"], &b["waiting"]),
            (&json!(of.len()), &json!(answered.len()), &json!(abandoned.len()), &json!(0)),
            "{code}: {b}"
        );
        let threshold = b["service_level_secs"].as_i64().unwrap() * 1000;
        let within = |waits: &[i64]| waits.iter().filter(|w| **w <= threshold).count() as f64;
        let sl = within(&answered) / answered.len() as f64;
        let sl_abandons = (within(&answered) + within(&abandoned)) / (answered.len() + abandoned.len()) as f64;
        let asa = answered.iter().sum::<i64>() as f64 / answered.len() as f64 / 1000.0;
        eprintln!("{code}: wallboard {b}; records SL {sl:.4} / {sl_abandons:.4}, ASA {asa:.3} s");
        // The ACD times a wait with the same clock the event log stamps, a few µs apart: the
        // figures agree to a millisecond a call.
        assert!((b["service_level"].as_f64().unwrap() - sl).abs() < 1e-9, "{code}: SL {b} vs {sl}");
        assert!(
            (b["service_level_with_abandons"].as_f64().unwrap() - sl_abandons).abs() < 1e-9,
            "{code}: SL with abandons {b} vs {sl_abandons}"
        );
        assert!((b["asa_secs"].as_f64().unwrap() - asa).abs() < 0.002, "{code}: ASA {b} vs {asa}");
    }
}
