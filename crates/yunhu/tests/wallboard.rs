//! The inbound contact center's figures, with sipp as the carrier's caller and the agent's phone:
//! `/metrics` in the Prometheus text format (parsed strictly) moves with a real queued call —
//! the queue's counters and service level, calls up, SIP requests, the event log, RTP packets;
//! a queue's history per interval counts the call from its record; a supervisor's monitor
//! socket gets wallboard frames and an agent's is refused them; and the wallboard page in
//! headless Chromium (`tests/browser/wallboard.mjs`) shows the caller waiting, then answered.

mod common;

use common::browser::{self, CHROMIUM, Script};
use common::sip::*;
use common::{TestApp, start};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use yunhu_cc::objects::Kind;
use yunhu_core::Clock;
use yunhu_core::agent::AgentEventKind;

/// The queue's number, as the carrier dials it.
const QUEUE_NUMBER: &str = "4008001000";

/// Tenant 777777 with inbound queue 9100 served by agent 1001 (phone registered); the app, the
/// SIP address, 1001's phone port and the carrier's port.
async fn queue_setup() -> (TestApp, SocketAddr, u16, u16) {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let svc = app.running.services.clone();
    svc.put_object("777777", Kind::CallerId, json!({"number": QUEUE_NUMBER})).await.unwrap();
    let queue = json!({"code": "9100", "name": "售后", "direction": "in", "caller_id": QUEUE_NUMBER, "tip_timeout": 5});
    svc.put_object("777777", Kind::Queue, queue).await.unwrap();
    let staff = json!({"user_code": "1001", "name": "张三", "agent_id": "1001", "role": "agent", "queues": ["9100"]});
    svc.put_object("777777", Kind::Staff, staff).await.unwrap();
    let port = free_port();
    assert!(register(sip, "1001", "1001pw", port, "register.xml").await.success());
    let carrier = free_port();
    carrier_at(&app, carrier).await;
    (app, sip, port, carrier)
}

/// A caller from the carrier to the queue's number, staying `stay_ms` after yunhu answers.
fn queue_caller(sip: SocketAddr, port: u16, stay_ms: u32) -> Sipp {
    let stay = stay_ms.to_string();
    carrier_call("queue-caller", sip, port, "queue_caller.xml", "13600136000", QUEUE_NUMBER, &["-d", &stay])
}

async fn set(app: &TestApp, code: &str, event: AgentEventKind) {
    app.running.services.set_presence(TENANT, code, event).await.unwrap();
}

/// One scrape, parsed strictly: every line is a HELP, a TYPE or a sample of the family they
/// announce, each family once with its samples together, no series twice; series → value.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    fn name_ok(n: &str) -> bool {
        let mut c = n.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    }
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    let mut series = BTreeMap::new();
    let mut families: HashSet<String> = HashSet::new();
    let (mut help, mut kind): (Option<String>, Option<(String, String)>) = (None, None);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap_or_else(|| panic!("HELP without text: {line}"));
            assert!(name_ok(name) && !doc.is_empty(), "bad HELP: {line}");
            assert!(families.insert(name.to_string()), "family {name} twice");
            help = Some(name.to_string());
            kind = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or_else(|| panic!("TYPE without type: {line}"));
            assert_eq!(help.as_deref(), Some(name), "TYPE {name} right after its HELP");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "bad TYPE: {line}");
            if t == "counter" {
                assert!(name.ends_with("_total"), "a counter's name ends in _total: {name}");
            }
            kind = Some((name.to_string(), t.to_string()));
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "not a sample: {line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("a sample without a value: {line}"),
        };
        let (family, _) = kind.as_ref().unwrap_or_else(|| panic!("a sample before its TYPE: {line}"));
        assert_eq!(name, family, "a sample of {name} among {family}'s");
        let (labels, value) = if let Some(body) = rest.strip_prefix('{') {
            // Label values: any text with \\, \" and \n escaped.
            let mut labels = Vec::new();
            let mut chars = body.char_indices().peekable();
            let end = loop {
                let start = chars.peek().map(|(i, _)| *i).expect("labels end");
                let eq =
                    body[start..].find('=').map(|i| i + start).unwrap_or_else(|| panic!("label without =: {line}"));
                let key = &body[start..eq];
                assert!(name_ok(key) && !key.contains(':'), "bad label name {key:?}: {line}");
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "label value quoted: {line}");
                let mut value = String::new();
                loop {
                    match chars.next().unwrap_or_else(|| panic!("label value ends: {line}")).1 {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?}: {line}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw line feed in a label value"),
                        c => value.push(c),
                    }
                }
                labels.push(format!("{key}={value:?}"));
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => break i,
                    other => panic!("after a label {other:?}: {line}"),
                }
            };
            (labels.join(","), &body[end + 1..])
        } else {
            (String::new(), rest)
        };
        let value = value.strip_prefix(' ').unwrap_or_else(|| panic!("one space before the value: {line}"));
        let v: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
        };
        let key = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
        assert!(series.insert(key.clone(), v).is_none(), "series {key} twice");
    }
    series
}

async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let a = app.send(app.http.get(app.url("/metrics"))).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    parse_exposition(&a.text)
}

fn figure(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| panic!("no {key} in {:#?}", m.keys().collect::<Vec<_>>()))
}

fn queue_key(name: &str) -> String {
    format!("{name}{{tenant=\"777777\",queue=\"9100\"}}")
}

#[tokio::test]
async fn metrics_and_history_move_with_a_queued_call_and_supervisors_get_wallboard_frames() {
    let (app, sip, port, carrier) = queue_setup().await;
    set(&app, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await;

    let before = scrape(&app).await;
    assert_eq!(figure(&before, &queue_key("yunhu_queue_entered_total")), 0.0);
    assert_eq!(figure(&before, &queue_key("yunhu_queue_service_level_threshold_seconds")), 20.0);
    assert!(!before.contains_key(&queue_key("yunhu_queue_asa_seconds")), "no ASA before an answer");
    assert_eq!(figure(&before, "yunhu_queue_agents{tenant=\"777777\",queue=\"9100\",state=\"ready\"}"), 1.0);
    assert_eq!(figure(&before, "yunhu_calls_up"), 0.0);
    assert!(figure(&before, "yunhu_sip_registered_contacts") >= 1.0);

    // A supervisor's socket asks for the wallboard; an agent's is refused.
    let ws_url = |token: &str| format!("{}/agent/monitor?access_token={token}", app.base.replace("http://", "ws://"));
    let token_of = |user: &'static str, password: &'static str| {
        let form = [("corp", "777777"), ("extno", user), ("password", password)];
        app.send(app.http.post(app.url("/admin/agent/login")).form(&form))
    };
    let supervisor = token_of("1002", "desk-1002").await.json()["data"]["access_token"].as_str().unwrap().to_string();
    let (mut board_ws, _) = tokio_tungstenite::connect_async(ws_url(&supervisor)).await.unwrap();
    board_ws.send(Message::text(r#"{"method":"wallboard","every":1}"#)).await.unwrap();
    let agent = token_of("1001", "desk-1001").await.json()["data"]["access_token"].as_str().unwrap().to_string();
    let (mut agent_ws, _) = tokio_tungstenite::connect_async(ws_url(&agent)).await.unwrap();
    agent_ws.send(Message::text(r#"{"method":"wallboard"}"#)).await.unwrap();
    let refused = next_wallboard(&mut agent_ws).await;
    assert_eq!(refused["code"], 1003, "{refused}");
    assert!(refused.get("queues").is_none());
    let first = next_wallboard(&mut board_ws).await;
    assert_eq!(first["code"], 0, "{first}");
    let q = first["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "9100").cloned().expect("9100");
    assert_eq!((&q["name"], &q["waiting"], &q["agents"]["ready"]), (&json!("售后"), &json!(0), &json!(1)));

    // The call: the carrier's caller waits, 1001's phone answers, the caller hangs up after 4 s.
    let phone1001 = phone("agent1001", "answer.xml", port, 300);
    let caller = queue_caller(sip, carrier, 4_000);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = scrape(&app).await;
        if figure(&now, "yunhu_calls_up") >= 1.0 && figure(&now, &queue_key("yunhu_queue_answered_total")) == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no call up and answered in /metrics");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The supervisor's frames follow: the caller is answered and 1001 is on the call.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = next_wallboard(&mut board_ws).await;
        let q = f["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "9100").cloned().unwrap();
        if q["answered"] == 1 && q["agents"]["on_call"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the wallboard frames never showed the call: {q}");
    }
    board_ws.send(Message::text(r#"{"method":"wallboard","every":0}"#)).await.unwrap();
    assert!(caller.wait().await.success(), "the caller was answered and hung up");
    assert!(phone1001.wait().await.success(), "1001's phone answered");

    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let now = scrape(&app).await;
        if figure(&now, "yunhu_calls_up") == 0.0 && figure(&now, "yunhu_event_log_pending") == 0.0 {
            break now;
        }
        assert!(Instant::now() < deadline, "the call never ended in /metrics");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(figure(&after, &queue_key("yunhu_queue_entered_total")), 1.0);
    assert_eq!(figure(&after, &queue_key("yunhu_queue_answered_total")), 1.0);
    assert_eq!(figure(&after, &queue_key("yunhu_queue_abandoned_total")), 0.0);
    assert_eq!(figure(&after, &queue_key("yunhu_queue_waiting")), 0.0);
    let sl = "yunhu_queue_service_level_ratio{tenant=\"777777\",queue=\"9100\",formula=\"answered\"}";
    assert_eq!(figure(&after, sl), 1.0, "answered within 20 s (the ACD runs on the test's clock)");
    assert!(figure(&after, &queue_key("yunhu_queue_asa_seconds")) >= 0.0);
    let grew = |key: &str| figure(&after, key) > figure(&before, key);
    for key in [
        "yunhu_sip_requests_received_total{method=\"INVITE\"}",
        "yunhu_sip_requests_received_total{method=\"BYE\"}",
        "yunhu_sip_invites_sent_total",
        "yunhu_event_log_events_committed_total",
        "yunhu_media_packets_received_total",
        "yunhu_media_packets_sent_total",
    ] {
        assert!(grew(key), "{key} did not grow: {} → {}", figure(&before, key), figure(&after, key));
    }
    assert!(figure(&after, "yunhu_event_log_lag_seconds") < 5.0);
    assert!(figure(&after, "yunhu_media_packets_dropped_total") >= 0.0);

    // The history counts the call in the quarter hour its caller entered the queue, from its record.
    let now = app.clock.now();
    let from = (now - chrono::Duration::hours(1)).to_rfc3339();
    let to = (now.timestamp() + 3600).to_string();
    let path = |q: &str| format!("/yunhu/v1/tenants/777777/queues/9100/history?{q}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let h = loop {
        let q = format!("from={}&to={to}&interval=900", from.replace('+', "%2B"));
        let a = app.admin(reqwest::Method::GET, &path(&q), None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let h = a.json();
        if h["intervals"].as_array().unwrap().iter().any(|i| i["offered"] == 1) {
            break h;
        }
        assert!(Instant::now() < deadline, "the record never reached the history: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let intervals = h["intervals"].as_array().unwrap();
    assert_eq!((intervals.len(), &h["interval_secs"], &h["service_level_secs"]), (8, &json!(900), &json!(20)));
    let busy: Vec<&Value> = intervals.iter().filter(|i| i["offered"] != 0).collect();
    assert_eq!(busy.len(), 1, "{h}");
    let i = busy[0];
    assert_eq!(
        (&i["offered"], &i["answered"], &i["abandoned"], &i["overflowed"], &i["callbacks"]),
        (&json!(1), &json!(1), &json!(0), &json!(0), &json!(0))
    );
    assert_eq!((&i["service_level"], &i["service_level_with_abandons"]), (&json!(1.0), &json!(1.0)));
    assert!(i["asa_secs"].as_f64().is_some(), "{i}");
    let empty = intervals.iter().find(|i| i["offered"] == 0).unwrap();
    assert_eq!((&empty["service_level"], &empty["asa_secs"]), (&Value::Null, &Value::Null));
    // A range after the call counts nothing.
    let later = app
        .admin(reqwest::Method::GET, &path(&format!("from={to}&to={}&interval=900", now.timestamp() + 7200)), None)
        .await;
    assert_eq!(later.json()["intervals"].as_array().unwrap().iter().filter(|i| i["offered"] != 0).count(), 0);
    for bad in ["interval=30", "from=yesterday", "interval=60&from=0", "from=2000&to=1000"] {
        let a = app.admin(reqwest::Method::GET, &path(bad), None).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
    }
    let unknown = app.admin(reqwest::Method::GET, "/yunhu/v1/tenants/777777/queues/0000/history", None).await;
    assert_eq!(unknown.status, 404);
}

/// The next `wallboard` frame on a socket (pings answered while reading).
async fn next_wallboard<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.expect("a wallboard frame within 15 s");
        if let Message::Text(t) = msg.expect("the socket is open").expect("a message") {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["method"] == "wallboard" {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let mut config = common::config_for(&yunhu_store::testing::scratch_sqlite_url());
    config.sip_listen = "off".into();
    config.metrics_token = Some("scrape-token-0123".into());
    let running = yunhu::start(&config).await.expect("server starts");
    let url = format!("http://{}/metrics", running.http_addr);
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403, "no token");
    assert_eq!(http.get(&url).bearer_auth("scrape-token-0124").send().await.unwrap().status(), 403);
    let a = http.get(&url).bearer_auth("scrape-token-0123").send().await.unwrap();
    assert_eq!(a.status(), 200);
    let m = parse_exposition(&a.text().await.unwrap());
    // Telephony off: the event log's figures, none of the switch's.
    assert!(m.contains_key("yunhu_event_log_lag_seconds") && !m.contains_key("yunhu_calls_up"), "{m:?}");
}

#[tokio::test]
async fn the_wallboard_page_in_chromium_shows_a_caller_waiting_then_answered() {
    let began = Instant::now();
    let dir = browser::dir();
    assert!(
        Path::new(CHROMIUM).exists() && dir.join("node_modules/playwright-core/package.json").exists(),
        "the browser test needs {CHROMIUM} and playwright-core in tests/browser: run scripts/setup"
    );
    let (app, sip, port, carrier) = queue_setup().await;
    // 1001 is logged in but not ready: the caller waits until the test makes 1001 ready.
    set(&app, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await;
    set(&app, "1001", AgentEventKind::AgentNotReady { reason: "2".into() }).await;

    let screenshot = match std::env::var("YUNHU_BOARD_SCREENSHOT") {
        Ok(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Ok(p) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(p),
        Err(_) => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wallboard.png"),
    };
    let _ = std::fs::remove_file(&screenshot);
    let mut script = Script::spawn(
        &dir,
        "wallboard.mjs",
        &[("YUNHU_BOARD_URL", app.base.clone()), ("YUNHU_BOARD_SCREENSHOT", screenshot.display().to_string())],
    );
    script.expect("board", Duration::from_secs(40)).await;
    let phone1001 = phone("agent1001", "answer.xml", port, 300);
    let caller = queue_caller(sip, carrier, 12_000);
    script.expect("waiting", Duration::from_secs(45)).await;
    set(&app, "1001", AgentEventKind::AgentReady).await;
    script.expect("answered", Duration::from_secs(45)).await;
    script.expect("done", Duration::from_secs(5)).await;
    assert!(script.exit_ok().await, "{}", script.talk());
    assert!(screenshot.exists(), "a screenshot at {}", screenshot.display());
    assert!(caller.wait().await.success(), "the caller was answered and hung up");
    assert!(phone1001.wait().await.success(), "1001's phone answered");
    eprintln!("wallboard browser test: {:.1} s", began.elapsed().as_secs_f64());
}
