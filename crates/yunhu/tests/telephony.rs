//! The telephony engine with real SIP peers: sipp plays the agent's phone and the carrier, with
//! RTP, against the real server; calls are placed and ended through the action dialect.

mod common;

use common::sip::*;
use common::{TestApp, start};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;

#[tokio::test]
async fn registration_needs_the_right_password_and_reveals_nothing() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.unwrap();
    let status = |v: Value| v["data"]["Status"].as_i64().unwrap();
    assert_eq!(status(action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await), 4, "not registered yet");
    assert!(register(sip, "1001", "wrong-password", 7000, "register_refused.xml").await.success());
    assert!(register(sip, "9999", "whatever", 7000, "register_refused.xml").await.success());
    assert_eq!(status(action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await), 4);
    assert!(register(sip, "1001", "1001pw", 7000, "register.xml").await.success());
    assert_eq!(status(action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await), 0, "registered, idle");
    assert_eq!(status(action(&app, &[("action", "ExtenStatus"), ("staffid", "4242")]).await), -1);
    // TCP works the same.
    assert!(register_over(sip, "1002", "1002pw", 7002, "register.xml", "t1").await.success(), "over TCP");
    assert!(register_over(sip, "1002", "nope", 7002, "register_refused.xml", "t1").await.success());
    assert_eq!(status(action(&app, &[("action", "ExtenStatus"), ("staffid", "1002")]).await), 0);

    // An extension scanner gets the same challenge for a real extension and a made-up one.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut challenges = Vec::new();
    for user in ["1001", "9999"] {
        let req = format!(
            "REGISTER sip:777777.yunhu SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-scan{user};rport\r\n\
             From: <sip:{user}@777777.yunhu>;tag=scan\r\nTo: <sip:{user}@777777.yunhu>\r\nCall-ID: scan{user}@127.0.0.1\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        sock.send_to(req.as_bytes(), sip).await.unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).replace(user, "USER");
        assert!(!text.contains("Content-Length: 0\r\nContent-Length"), "{text}");
        let normal: Vec<String> = text
            .lines()
            .map(|l| {
                let l = regex_lite_replace(l, "nonce=\"", "\"");
                regex_lite_replace(&l, ";tag=", "")
            })
            .collect();
        challenges.push(normal.join("\n"));
    }
    assert!(challenges[0].starts_with("SIP/2.0 401"), "{}", challenges[0]);
    assert!(challenges[0].contains("WWW-Authenticate: Digest realm=\"777777.yunhu\""));
    assert_eq!(challenges[0], challenges[1]);
}

/// Replaces what follows `start` up to `end` (or the line's end) with `*`.
fn regex_lite_replace(line: &str, start: &str, end: &str) -> String {
    match line.find(start) {
        Some(i) => {
            let from = i + start.len();
            let rest = &line[from..];
            let to = if end.is_empty() { rest.len() } else { rest.find(end).unwrap_or(rest.len()) };
            format!("{}*{}", &line[..from], &rest[to..])
        }
        None => line.to_string(),
    }
}

fn wav_channels(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
    let (channels, samples) = yunhu_media::wav::read(path).unwrap();
    assert_eq!(channels, 2);
    (samples.iter().step_by(2).copied().collect(), samples.iter().skip(1).step_by(2).copied().collect())
}

/// Fraction of 100 ms windows whose RMS is clearly above silence.
fn voiced(ch: &[i16]) -> f64 {
    let windows: Vec<&[i16]> = ch.chunks(800).filter(|w| w.len() == 800).collect();
    let loud = windows
        .iter()
        .filter(|w| (w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / 800.0).sqrt() > 300.0)
        .count();
    loud as f64 / windows.len().max(1) as f64
}

#[tokio::test]
async fn click_to_call_rings_the_agent_then_the_customer_and_records_both() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer.xml", agent_port, 500);
    let carrier = phone("carrier", "answer.xml", carrier_port, 1000);
    let t0 = yunhu_core::Clock::now(&*app.clock).timestamp_millis();
    let call_id = dial(&app).await;
    // Talk for a while, then hang up through the API.
    assert_eq!(wait_status(&app, "1001", 1).await["data"]["CallerNum"], 13800138000i64);
    tokio::time::sleep(Duration::from_secs(4)).await; // conversation length under test
    let hang = action(&app, &[("action", "HangUp"), ("staffid", "1001")]).await;
    assert_eq!(hang["errno"], "1", "{hang}");
    assert!(agent.wait().await.success());
    assert!(carrier.wait().await.success());

    let r = record_of(&app, &call_id).await.record;
    let t1 = yunhu_core::Clock::now(&*app.clock).timestamp_millis();
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("NORMAL_CLEARING", "system"));
    assert_eq!((r.staff.as_str(), r.extension.as_str(), r.customer.as_str()), ("1001", "1001", "13800138000"));
    assert_eq!((r.caller_id.as_str(), r.trunk.as_str()), ("53541815", "carrier"));
    assert_eq!((r.codeid_1.as_str(), r.codeid_2.as_str()), ("c1", "c2"));
    let (a, c) = (r.agent, r.customer_leg);
    for t in [a.start, a.ring, a.answer, a.end, c.start, c.ring, c.answer, c.end] {
        assert!(t.is_some_and(|t| t >= t0 && t <= t1), "{r:?}");
    }
    assert!(a.ring <= a.answer && a.answer <= c.start && c.start <= c.ring && c.ring <= c.answer && c.answer <= c.end);
    assert!(a.answer.unwrap() - a.ring.unwrap() >= 400, "the agent phone rang ~500 ms");
    assert!(c.answer.unwrap() - c.ring.unwrap() >= 900, "the customer rang ~1 s");
    assert!((4..=6).contains(&r.talk_secs), "{}", r.talk_secs);
    assert_eq!(r.bill_secs, r.talk_secs + 1);

    // The recording: stereo, customer left and agent right, both speaking for the call's length.
    let path = app.config.recordings_dir().join(&r.recording);
    let (left, right) = wav_channels(&path);
    let secs = left.len() as f64 / 8000.0;
    let talk_ms = (c.end.unwrap() - c.answer.unwrap()) as f64;
    assert!((secs * 1000.0 - talk_ms).abs() < 700.0, "recording {secs}s vs talk {talk_ms}ms");
    assert!(voiced(&left) > 0.7 && voiced(&right) > 0.7, "left {} right {}", voiced(&left), voiced(&right));
    let got = action(&app, &[("action", "GetRecord"), ("uniqueid", &call_id)]).await;
    let url = got["data"][0]["path"].as_str().unwrap();
    assert!(url.starts_with(&app.url(&format!("/recordings/{}?", r.recording))), "{url}");
    let fetched = app.http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.as_ref(), std::fs::read(&path).unwrap().as_slice(), "GetRecord's address serves the WAV");
    let kinds: Vec<String> =
        events_of(&app, &call_id).await.iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    for k in [
        "created",
        "leg_created",
        "ringing",
        "answered",
        "bridged",
        "recording_started",
        "recording_stopped",
        "media_stats",
        "leg_ended",
        "hung_up",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    let stats = events_of(&app, &call_id).await.into_iter().find(|e| e["kind"] == "media_stats").unwrap();
    let (received, forwarded) = (stats["received"].as_u64().unwrap(), stats["forwarded"].as_u64().unwrap());
    assert!(received > 200, "both phones sent RTP for seconds: {stats}");
    // Only what the agent's phone sent while the customer still rang (~1 s, ~34 packets) has
    // nowhere to go; everything after the bridge is relayed.
    assert!(received - forwarded <= 50, "relayed without loss once bridged: {stats}");
}

#[tokio::test]
async fn a_busy_customer_ends_as_user_busy() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer.xml", agent_port, 200);
    let carrier = sipp(
        "busy carrier",
        &["-sf", "busy.xml", "-i", "127.0.0.1", "-p", &carrier_port.to_string(), "-m", "1"].map(String::from),
    );
    let call_id = dial(&app).await;
    assert!(carrier.wait().await.success());
    assert!(agent.wait().await.success(), "the agent leg is hung up");
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("USER_BUSY", "customer"));
    assert_eq!(r.cause.unwrap().asterisk_disposition(r.customer_leg.answer.is_some()), "BUSY");
    assert_eq!((r.talk_secs, r.recording.as_str()), (0, ""));
}

#[tokio::test]
async fn an_agent_who_does_not_answer_ends_as_no_answer() {
    let (app, _sip, agent_port) = setup().await;
    carrier_at(&app, free_port()).await;
    let agent = phone("agent", "ring_forever.xml", agent_port, 0);
    let started = Instant::now();
    let call_id = dial(&app).await;
    assert!(agent.wait().await.success(), "the agent's phone got CANCEL");
    let r = record_of(&app, &call_id).await.record;
    assert!(started.elapsed() >= Duration::from_secs(4), "ring timeout is 4 s in tests");
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("NO_ANSWER", "agent"));
    assert!(r.customer_leg.start.is_none(), "the customer is never dialled");
    assert_eq!(r.cause.unwrap().asterisk_disposition(false), "NO ANSWER");
}

#[tokio::test]
async fn the_customer_hanging_up_first_is_recorded_as_such() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer_dtmf.xml", agent_port, 100);
    let carrier = phone("carrier", "answer_then_bye.xml", carrier_port, 300);
    let call_id = dial(&app).await;
    assert!(carrier.wait().await.success());
    assert!(agent.wait().await.success());
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("NORMAL_CLEARING", "customer"));
    assert!((2..=4).contains(&r.talk_secs), "{}", r.talk_secs);
    // The agent pressed 1 while talking: it is in the event log.
    let dtmf: Vec<Value> = events_of(&app, &call_id).await.into_iter().filter(|e| e["kind"] == "dtmf").collect();
    assert_eq!(dtmf, [json!({"kind": "dtmf", "side": "agent", "digit": "1"})]);
}

#[tokio::test]
async fn the_action_api_refuses_bad_requests_with_its_codes() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let raw = |q: &'static str| app.send(app.http.get(app.url(&format!("/action?{q}"))));
    assert_eq!(raw("companyid=8&auth=demo-auth-code").await.json()["errno"], "2");
    assert_eq!(raw("action=Teleport&companyid=8&auth=demo-auth-code").await.json()["errno"], "4");
    assert_eq!(raw("action=SendDial&companyid=8&auth=wrong&staffid=1001&phonenum=1").await.json()["errno"], "3");
    assert_eq!(
        raw("action=SendDial&companyid=9&auth=demo-auth-code&staffid=1001&phonenum=1").await.json()["errno"],
        "3"
    );
    assert_eq!(raw("action=SendDial&companyid=8&auth=demo-auth-code&staffid=1001").await.json()["errno"], "2");
    let not_registered =
        raw("action=SendDial&companyid=8&auth=demo-auth-code&staffid=1001&phonenum=13800138000").await.json();
    assert_eq!(not_registered["errno"], "6", "{not_registered}");
    assert_eq!(not_registered.as_object().unwrap().keys().collect::<Vec<_>>(), ["errno", "message", "data"]);
    assert_eq!(raw("action=HangUp&companyid=8&auth=demo-auth-code&staffid=1001").await.json()["errno"], "0");
    assert_eq!(raw("action=GetRecord&companyid=8&auth=demo-auth-code&uniqueid=nope").await.json()["errno"], "0");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(data: &std::path::Path, http: u16, sip: u16, provision: &std::path::Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_yunhu"))
        .arg("--data-dir")
        .arg(data)
        .args(["--http-listen", &format!("127.0.0.1:{http}"), "--sip-listen", &format!("127.0.0.1:{sip}")])
        .args(["--rtp-ports", "32000-32700", "--admin-token", common::ADMIN_TOKEN, "serve", "--provision"])
        .arg(provision)
        .env_remove("YUNHU_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    while client.get(format!("http://127.0.0.1:{http}/yunhu/v1/openapi.json")).send().await.is_err() {
        assert!(Instant::now() < deadline, "yunhu did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Server(child)
}

fn parts(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".part") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_crash_mid_call_loses_neither_the_recording_nor_the_record() {
    let data = common::scratch_dir();
    let (http, sip) = (free_port(), free_port());
    let (agent_port, carrier_port) = (free_port(), free_port());
    let provision = data.join("provision.toml");
    let example = std::fs::read_to_string(common::example_file()).unwrap();
    std::fs::write(&provision, example.replace("127.0.0.1:5090", &format!("127.0.0.1:{carrier_port}"))).unwrap();
    let server = serve(&data, http, sip, &provision).await;
    let sip_addr: SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    assert!(register(sip_addr, "1001", "1001pw", agent_port, "register.xml").await.success());
    assert!(dial_from(sip_addr, "1001", "1001pw", "000", "dial.xml").await.success());
    let _agent = phone("agent", "answer.xml", agent_port, 100);
    let _carrier = phone("carrier", "answer.xml", carrier_port, 100);
    let client = reqwest::Client::new();
    let act =
        |q: &str| client.get(format!("http://127.0.0.1:{http}/action?companyid=8&auth=demo-auth-code&{q}")).send();
    let sent: Value = act("action=SendDial&staffid=1001&phonenum=13900000000").await.unwrap().json().await.unwrap();
    let call_id = sent["data"]["uniqueid"].as_str().expect("dialled").to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v: Value = act("action=ExtenStatus&staffid=1001").await.unwrap().json().await.unwrap();
        if v["data"]["Status"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut server = server;
    // kill -9: no chance to finish anything.
    Command::new("kill").args(["-9", &server.0.id().to_string()]).status().unwrap();
    let _ = server.0.wait();
    let recordings = data.join("recordings");
    let torn = parts(&recordings);
    assert_eq!(torn.len(), 1, "the recording in progress is still a .part");

    let _server = serve(&data, http, sip, &provision).await;
    assert!(parts(&recordings).is_empty(), "repaired at start");
    let db = yunhu_store::Db::open(&format!("sqlite://{}?mode=rwc", data.join("yunhu.db").display())).await.unwrap();
    let r = db.call_record(TENANT, &call_id).await.unwrap().expect("the interrupted call has a record").record;
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("CRASH", "system"));
    assert!(r.talk_secs >= 2, "billed until its recording ended, not through the downtime: {r:?}");
    assert!(r.recording_repaired, "the recording is flagged as repaired");
    let (left, right) = wav_channels(&recordings.join(&r.recording));
    assert!(left.len() >= 8000 * 2, "at least two seconds survived: {}", left.len());
    assert!(voiced(&left) > 0.5 && voiced(&right) > 0.5);
}

#[tokio::test]
async fn phone_take_along_rings_the_staff_mobile_through_the_trunk() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    // One carrier answers both calls: 李四's mobile, then the customer.
    let media = free_port();
    let carrier = sipp(
        "carrier",
        &[
            "-sf",
            "answer.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &carrier_port.to_string(),
            "-mp",
            &media.to_string(),
            "-m",
            "2",
            "-d",
            "200",
        ]
        .map(String::from),
    );
    let v = action(&app, &[("action", "SendDial"), ("staffid", "1002"), ("phonenum", "13700137000")]).await;
    assert_eq!(v["errno"], "1", "1002 is not registered, but its calls follow it to its mobile: {v}");
    let call_id = v["data"]["uniqueid"].as_str().unwrap().to_string();
    wait_status(&app, "1002", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(action(&app, &[("action", "HangUp"), ("staffid", "1002")]).await["errno"], "1");
    assert!(carrier.wait().await.success(), "both calls reached the carrier and were hung up");
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.staff.as_str(), r.customer.as_str()), ("1002", "13700137000"));
    assert!(r.agent.answer.is_some() && r.customer_leg.answer.is_some());
    assert!(r.talk_secs >= 1);
}

#[tokio::test]
async fn feature_codes_log_in_and_out_and_presence_gates_click_to_call() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.unwrap();
    carrier_at(&app, free_port()).await;
    assert!(register(sip, "1001", "1001pw", free_port(), "register.xml").await.success());
    let send = || action(&app, &[("action", "SendDial"), ("staffid", "1001"), ("phonenum", "13800138000")]);
    assert_eq!(send().await["errno"], "5", "not logged in yet");

    // 000 logs in; the prompt plays, then yunhu hangs up (the scenario waits for its BYE).
    let t = Instant::now();
    assert!(dial_from(sip, "1001", "1001pw", "000", "dial.xml").await.success());
    assert!(t.elapsed() >= Duration::from_millis(1500), "the login prompt (~2 s) was played first");
    // 004 reads the extension back: "您的分机号是" + four digits take longer still.
    let t = Instant::now();
    assert!(dial_from(sip, "1001", "1001pw", "004", "dial.xml").await.success());
    assert!(t.elapsed() >= Duration::from_secs(4), "{:?}", t.elapsed());
    // A wrong password dials nothing.
    assert!(!dial_from(sip, "1001", "nope", "001", "dial.xml").await.success());
    assert!(dial_from(sip, "1001", "1001pw", "001", "dial.xml").await.success());
    assert_eq!(send().await["errno"], "5", "logged out again");

    let events = app.running.services.db().call_events(TENANT, "agent/1001").await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|(_, k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["agent_login", "agent_logout"]);

    // 011 leaves predictive work, 010 joins it again; both are kept in the event log.
    let switch = app.running.switch.clone().unwrap();
    assert!(switch.in_predictive_work(TENANT, "1001"), "agents start in predictive work");
    assert!(dial_from(sip, "1001", "1001pw", "011", "dial.xml").await.success());
    assert!(!switch.in_predictive_work(TENANT, "1001"));
    assert!(dial_from(sip, "1001", "1001pw", "010", "dial.xml").await.success());
    assert!(switch.in_predictive_work(TENANT, "1001"));
    let events = app.running.services.db().call_events(TENANT, "predictive/1001").await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|(_, k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["predictive_leave", "predictive_join"]);
}

#[tokio::test]
async fn an_extension_calls_another_and_the_call_is_recorded() {
    let (app, sip, _agent_port) = setup().await;
    let callee_port = free_port();
    assert!(register(sip, "1002", "1002pw", callee_port, "register.xml").await.success());
    let callee = phone("1002", "answer.xml", callee_port, 300);
    assert!(dial_from(sip, "1001", "1001pw", "1002", "dial_and_hang_up.xml").await.success());
    assert!(callee.wait().await.success());
    let record = first_record(&app, "internal").await;
    assert_eq!((record.extension.as_str(), record.customer.as_str()), ("1001", "1002"));
    assert_eq!((record.cause.unwrap().name(), record.hangup_side.unwrap().as_str()), ("NORMAL_CLEARING", "agent"));
    assert!((3..=5).contains(&record.talk_secs), "{}", record.talk_secs);
    let (left, right) = wav_channels(&app.config.recordings_dir().join(&record.recording));
    assert!(voiced(&left) > 0.5 && voiced(&right) > 0.5);
    // Dialling an extension nobody has is refused.
    assert!(!dial_from(sip, "1001", "1001pw", "1999", "dial.xml").await.success());
}

/// A carrier at `port` calling extension 1001 as customer 13600136000 (no digest).
fn inbound_carrier(name: &'static str, sip: SocketAddr, port: u16, extra: &[&str]) -> Sipp {
    carrier_call(name, sip, port, "inbound.xml", "13600136000", "1001", extra)
}

#[tokio::test]
async fn a_carrier_call_to_an_extension_is_bridged_without_digest_only_from_the_trunk() {
    let (app, sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer.xml", agent_port, 300);
    let carrier = inbound_carrier("carrier", sip, carrier_port, &[]);
    // While the customer talks to 1001, 1001 is in a call, with the customer's number.
    assert_eq!(wait_status(&app, "1001", 1).await["data"]["CallerNum"], 13600136000i64);
    assert!(carrier.wait().await.success());
    assert!(agent.wait().await.success());
    let record = first_record(&app, "inbound").await;
    let idle = action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await;
    assert_eq!(idle["data"]["Status"], 0, "free again once the call is over");
    assert_eq!((record.staff.as_str(), record.extension.as_str()), ("1001", "1001"));
    assert_eq!((record.customer.as_str(), record.trunk.as_str()), ("13600136000", "carrier"));
    assert_eq!((record.cause.unwrap().name(), record.hangup_side.unwrap().as_str()), ("NORMAL_CLEARING", "customer"));
    let (left, right) = wav_channels(&app.config.recordings_dir().join(&record.recording));
    assert!(voiced(&left) > 0.5 && voiced(&right) > 0.5, "customer left, agent right");

    // The same INVITE from anywhere else is challenged, not relayed: no open relay.
    let stranger = inbound_carrier("stranger", sip, free_port(), &[]);

    assert!(!stranger.wait().await.success(), "a stranger's INVITE gets 407, not the extension");
}

#[tokio::test]
async fn yunhu_registers_to_a_carrier_that_asks_for_it() {
    let data = common::scratch_dir();
    let (http, sip, carrier_port) = (free_port(), free_port(), free_port());
    let registrar = sipp(
        "registrar",
        &["-sf", "registrar.xml", "-i", "127.0.0.1", "-p", &carrier_port.to_string(), "-m", "1"].map(String::from),
    );
    let provision = data.join("provision.toml");
    let example = std::fs::read_to_string(common::example_file()).unwrap();
    let with_account = example.replace(
        "  address = \"127.0.0.1:5090\"\n",
        &format!(
            "  address = \"127.0.0.1:{carrier_port}\"\n  register = true\n  username = \"trunkuser\"\n  password = \"trunkpass\"\n"
        ),
    );
    assert_ne!(with_account, example);
    std::fs::write(&provision, with_account).unwrap();
    let _server = serve(&data, http, sip, &provision).await;
    assert!(registrar.wait().await.success(), "the carrier saw a REGISTER with the right digest");
    let dump = std::fs::read(data.join("yunhu.db")).unwrap();
    assert!(!dump.windows(9).any(|w| w == b"trunkpass"), "the trunk password is sealed at rest");
}

#[tokio::test]
async fn hanging_up_while_the_agent_rings_cancels_the_call() {
    let (app, _sip, agent_port) = setup().await;
    carrier_at(&app, free_port()).await;
    let agent = phone("agent", "ring_forever.xml", agent_port, 0);
    let call_id = dial(&app).await;
    wait_status(&app, "1001", 8).await;
    assert_eq!(action(&app, &[("action", "HangUp"), ("staffid", "1001")]).await["errno"], "1");
    assert!(agent.wait().await.success(), "the ringing phone got CANCEL");
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("ORIGINATOR_CANCEL", "system"));
    assert!(r.agent.answer.is_none() && r.customer_leg.start.is_none());
}

#[tokio::test]
async fn a_tcp_trunk_carries_the_customer_leg_over_tcp() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    let spec = json!({"name": "carrier", "address": format!("127.0.0.1:{carrier_port}"), "transport": "tcp"});
    app.running.services.put_object("777777", Kind::Trunk, spec).await.unwrap();
    let agent = phone("agent", "answer.xml", agent_port, 100);
    let carrier = sipp(
        "tcp carrier",
        &[
            "-sf",
            "answer.xml",
            "-t",
            "t1",
            "-i",
            "127.0.0.1",
            "-p",
            &carrier_port.to_string(),
            "-mp",
            &free_port().to_string(),
            "-m",
            "1",
            "-d",
            "100",
        ]
        .map(String::from),
    );
    let call_id = dial(&app).await;
    wait_status(&app, "1001", 1).await;
    assert_eq!(action(&app, &[("action", "HangUp"), ("staffid", "1001")]).await["errno"], "1");
    assert!(carrier.wait().await.success(), "the TCP carrier answered and got BYE");
    assert!(agent.wait().await.success());
    let r = record_of(&app, &call_id).await.record;
    assert!(r.customer_leg.answer.is_some());
}

/// A customer-first (outbound task) call through the real switch.
async fn customer_first(
    app: &TestApp,
    number: &str,
    agents: &[&str],
) -> (String, yunhu_cc::switch::CustomerFirstOutcome) {
    let switch = app.running.switch.clone().unwrap();
    let tenant = app.running.services.tenant("777777").await.unwrap();
    let dial = yunhu_cc::switch::CustomerFirst {
        tenant,
        number: number.into(),
        task_id: "T1".into(),
        method: yunhu_core::call::CallMethod::Predictive,
        agents: agents.iter().map(|a| a.to_string()).collect(),
        connect_within: Duration::from_secs(2),
    };
    let call = switch.customer_first(dial).await.unwrap();
    (call.call_id, tokio::time::timeout(Duration::from_secs(40), call.done).await.expect("the call ends").unwrap())
}

#[tokio::test]
async fn customer_first_calls_connect_a_free_agent_or_identify_and_abandon() {
    use yunhu_cc::switch::CustomerFirstOutcome as Out;
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;

    // The customer answers after a second; agent 1001 is ready and answers; the customer hangs up.
    let carrier = phone("carrier", "answer_then_bye.xml", carrier_port, 1000);
    let agent = phone("agent", "answer.xml", agent_port, 200);
    let (call_id, outcome) = customer_first(&app, "13800138000", &["1002", "1001"]).await;
    assert!(carrier.wait().await.success() && agent.wait().await.success());
    let Out::Connected { agent: who, ring_ms, talk_ms } = outcome else { panic!("connected: {outcome:?}") };
    assert_eq!(who, "1001", "1002 is not logged in, so 1001 takes it");
    assert!((900..4000).contains(&ring_ms) && (2000..6000).contains(&talk_ms), "ring {ring_ms} talk {talk_ms}");
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.staff.as_str(), r.extension.as_str(), r.task_id.as_str()), ("1001", "1001", "T1"));
    assert_eq!(r.method, yunhu_core::call::CallMethod::Predictive);
    assert_eq!(
        (r.cause, r.hangup_side),
        (Some(yunhu_core::call::Cause::NormalClearing), Some(yunhu_core::call::HangupSide::Customer))
    );
    assert!(r.connected() && !r.recording.is_empty() && r.talk_secs >= 2, "{r:?}");
    assert!(app.config.recordings_dir().join(&r.recording).exists());

    // No agent free: the customer waits the 2 s, hears who called, and the call ends abandoned.
    let switch = app.running.switch.clone().unwrap();
    switch
        .set_presence(TENANT, "1001", yunhu_core::agent::AgentEventKind::AgentNotReady { reason: "3".into() })
        .await
        .unwrap();
    let carrier = phone("carrier", "answer.xml", carrier_port, 500);
    let (call_id, outcome) = customer_first(&app, "13900139000", &["1001"]).await;
    assert!(carrier.wait().await.success(), "yunhu hung up on the customer");
    assert!(matches!(outcome, Out::Abandoned { .. }), "{outcome:?}");
    let r = record_of(&app, &call_id).await.record;
    assert!(r.staff.is_empty() && !r.connected() && r.agent.start.is_none(), "no agent was rung: {r:?}");
    assert_eq!(r.hangup_side, Some(yunhu_core::call::HangupSide::System));
    let heard = r.customer_leg.end.unwrap() - r.customer_leg.answer.unwrap();
    assert!(heard >= 2000 + 4000, "waited 2 s for an agent, then heard the prompt: {heard} ms");
    let kinds: Vec<String> =
        events_of(&app, &call_id).await.iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert!(!kinds.contains(&"assigned".to_string()), "{kinds:?}");

    // Busy customers are not answers.
    let carrier = phone("carrier", "busy.xml", carrier_port, 0);
    let (_, outcome) = customer_first(&app, "13700137000", &["1001"]).await;
    assert!(carrier.wait().await.success());
    assert!(matches!(outcome, Out::NotAnswered { cause: yunhu_core::call::Cause::UserBusy, .. }), "{outcome:?}");
}

#[tokio::test]
async fn the_dialer_hangs_up_a_ringing_customer_first_call_but_never_an_answered_one() {
    use yunhu_cc::switch::CustomerFirstOutcome as Out;
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let switch = app.running.switch.clone().unwrap();
    let tenant = app.running.services.tenant("777777").await.unwrap();
    let dial = |number: &str| yunhu_cc::switch::CustomerFirst {
        tenant: tenant.clone(),
        number: number.into(),
        task_id: "T1".into(),
        method: yunhu_core::call::CallMethod::Predictive,
        agents: vec!["1001".into()],
        connect_within: Duration::from_secs(2),
    };
    let ends = |call: yunhu_cc::switch::CustomerFirstCall| async move {
        tokio::time::timeout(Duration::from_secs(40), call.done).await.expect("the call ends").unwrap()
    };

    // Still ringing: the carrier gets CANCEL, and the call ends dropped, not as a no-answer.
    let carrier = phone("carrier", "ring_forever.xml", carrier_port, 0);
    let call = switch.customer_first(dial("13600136000")).await.unwrap();
    let call_id = call.call_id.clone();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !events_of(&app, &call_id).await.iter().any(|e| e["kind"] == "ringing") {
        assert!(Instant::now() < deadline, "the carrier never rang");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    call.hang_up_if_ringing();
    let outcome = ends(call).await;
    assert!(carrier.wait().await.success(), "the ringing carrier got CANCEL");
    assert!(matches!(outcome, Out::Dropped { ring_ms } if ring_ms < 4_000), "before the ring timeout: {outcome:?}");
    let r = record_of(&app, &call_id).await.record;
    assert_eq!((r.cause.unwrap().name(), r.hangup_side.unwrap().as_str()), ("ORIGINATOR_CANCEL", "system"));
    assert!(r.customer_leg.answer.is_none() && r.agent.start.is_none());
    // After a restart the pacer relearns it as dropped (a lower bound on ringing), not as a failure.
    let past = app.running.services.db().past_attempts(TENANT, "T1", 0, 10).await.unwrap();
    assert_eq!(past.iter().map(|p| (p.live, p.dropped)).collect::<Vec<_>>(), [(false, true)]);

    // Answered: the same request comes too late and the conversation goes on.
    let carrier = phone("carrier", "answer_then_bye.xml", carrier_port, 300);
    let agent = phone("agent", "answer.xml", agent_port, 200);
    let call = switch.customer_first(dial("13600136001")).await.unwrap();
    let mut progress = call.progress.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        progress.wait_for(|(p, _)| *p == yunhu_cc::switch::Progress::Talking),
    )
    .await
    .expect("customer and agent talk")
    .unwrap();
    call.hang_up_if_ringing();
    let outcome = ends(call).await;
    assert!(carrier.wait().await.success() && agent.wait().await.success());
    let Out::Connected { talk_ms, .. } = outcome else { panic!("connected: {outcome:?}") };
    assert!(talk_ms >= 2_000, "the customer hung up after talking, not the dialer: {talk_ms} ms");
}

/// open95 calls for the dialer test: multipart POST or JSON.
async fn open95(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let req = app.http.request(method, app.url(path)).bearer_auth(token);
    let req = match body {
        Value::Array(fields) => {
            let boundary = "----yunhuDialerTest";
            let mut text = String::new();
            for f in fields {
                let (k, v) = (f[0].as_str().unwrap(), f[1].as_str().unwrap());
                text.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
            }
            text.push_str(&format!("--{boundary}--\r\n"));
            req.header("Content-Type", format!("multipart/form-data; boundary={boundary}")).body(text)
        }
        Value::Null => req,
        other => req.json(&other),
    };
    let v = app.send(req).await.json();
    assert_eq!(v["code"], 0, "{path}: {v}");
    v
}

/// Creates a predictive task over open95 with agent 1001 as its member; returns (id, code).
async fn predictive_task(
    app: &TestApp,
    token: &str,
    code: &str,
    numbers: &str,
    window: (&str, &str),
) -> (String, String) {
    outbound_task(app, token, code, numbers, window, "0").await
}

/// Creates and starts an outbound task of `call_type` (0 predictive, 1 preview) with agent 1001.
async fn outbound_task(
    app: &TestApp,
    token: &str,
    code: &str,
    numbers: &str,
    window: (&str, &str),
    call_type: &str,
) -> (String, String) {
    outbound_task_of(app, token, code, numbers, window, call_type, &["100011001"]).await
}

/// Creates and starts an outbound task of `call_type` with the agents `members` (staff ids).
async fn outbound_task_of(
    app: &TestApp,
    token: &str,
    code: &str,
    numbers: &str,
    window: (&str, &str),
    call_type: &str,
    members: &[&str],
) -> (String, String) {
    let fields = json!([
        ["outProjectId", "PRO_777777_JH001"],
        ["taskId", code],
        ["name", code],
        ["callerId", "53541815"],
        ["createType", "input"],
        ["mobileAndDes", numbers],
        ["timeFrom", window.0],
        ["timeTo", window.1],
        ["dataObjId", ""],
        ["callType", call_type],
        ["ratio", "3"],
        ["idleTime", "8000"],
        ["wordsKey", ""],
        ["remark", ""]
    ]);
    let made = open95(app, token, reqwest::Method::POST, "/artificialOutTask/insert", fields).await["data"].clone();
    let id = made["outboundInstanceId"].as_str().unwrap().to_string();
    let member = json!({"queueCode": made["groupDn"], "groupId": made["groupId"], "selectedIds": members});
    open95(app, token, reqwest::Method::POST, "/queueUser/insert", member).await;
    open95(app, token, reqwest::Method::PUT, "/artificialOutTask/startCall", json!({"id": id})).await;
    (id, code.to_string())
}

/// Waits (a minute at most) until task `id` has ended by itself (status 5); its detail.
async fn task_ended(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = task_detail(app, token, id).await;
        if d["status"] == 5 {
            return d;
        }
        assert!(Instant::now() < deadline, "task {id} never ended: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn task_detail(app: &TestApp, token: &str, id: &str) -> Value {
    let path = format!("/artificialOutTask/findById?id={id}");
    open95(app, token, reqwest::Method::GET, &path, Value::Null).await["data"].clone()
}

#[tokio::test]
async fn a_predictive_task_dials_connects_abandons_retries_and_keeps_its_window() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let token = app.token("demo", "demo-secret", None).await;
    // Every customer answers after a second and hangs up three seconds later; the agent answers.
    let carrier = phones("carrier", "answer_then_bye.xml", carrier_port, 1000, 3);
    let _agent = phones("agent", "answer.xml", agent_port, 100, 3);
    let (closed_id, _) = predictive_task(&app, &token, "CLOSED1", "13700000001", ("00:00", "00:01")).await;
    let dnc = json!({"number": "13800000004", "reason": "投诉"});
    app.running.services.put_object("777777", Kind::DoNotCall, dnc).await.unwrap();
    let numbers = "13800000001;13800000002;13800000003;13800000004";
    let (id, code) = predictive_task(&app, &token, "PRED1", numbers, ("00:00", "23:59")).await;

    // The task ends by itself once every number has an outcome.
    let detail = task_ended(&app, &token, &id).await;
    assert!(carrier.wait().await.success(), "the carrier took three calls");

    // The numbers' execution details, the call records and the counters agree.
    let path = format!("/outboundContacts/pageSearch?outboundId={id}&pageSize=10");
    let contacts = open95(&app, &token, reqwest::Method::GET, &path, Value::Null).await;
    let rows = contacts["data"]["pageData"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 4);
    let barred = rows.iter().find(|c| c["mobile"] == "13800000004").unwrap();
    assert_eq!(barred["callState"].as_i64(), Some(0), "on the do-not-call list, never dialed: {barred}");
    let filter = yunhu_store::calls::CallRecordFilter::default();
    let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
    let of_task: Vec<_> = records.iter().filter(|r| r.record.task_id == code).collect();
    assert_eq!(of_task.len(), 3, "one call per number, none repeated");
    let (mut connected, mut abandoned) = (0, 0);
    for r in &of_task {
        let rec = &r.record;
        assert_eq!(rec.method, yunhu_core::call::CallMethod::Predictive);
        assert!(rec.customer_leg.answer.is_some(), "every customer answered: {rec:?}");
        let row = rows.iter().find(|c| c["mobile"] == rec.customer.as_str()).expect("a contact row per call");
        if rec.connected() {
            connected += 1;
            assert_eq!((rec.staff.as_str(), row["callState"].as_i64()), ("1001", Some(1)), "{row}");
            assert!(!rec.recording.is_empty());
        } else {
            abandoned += 1;
            assert!(rec.staff.is_empty() && rec.agent.start.is_none(), "{rec:?}");
            assert_eq!(row["callState"].as_i64(), Some(8), "answered, no agent free: {row}");
            let waited = rec.customer_leg.end.unwrap() - rec.customer_leg.answer.unwrap();
            assert!(waited >= 2000, "an abandoned customer waited the 2 s first: {waited}");
        }
    }
    assert!(connected >= 1, "the free agent got a call");
    assert_eq!(connected + abandoned, 3);
    assert_eq!((detail["callNum"].as_i64(), detail["contactNum"].as_i64()), (Some(3), Some(4)), "{detail}");
    assert!(of_task.iter().all(|r| r.record.customer != "13800000004"));

    // Every call was asked for by a pacing decision, and each decision says why.
    let events = app.running.services.db().call_events(TENANT, &format!("task/{id}")).await.unwrap();
    let decisions: Vec<Value> = events.iter().map(|(_, _, _, data)| serde_json::from_str(data).unwrap()).collect();
    let dialed: i64 = decisions.iter().map(|d| d["dial"].as_i64().unwrap()).sum();
    assert_eq!(dialed, 3, "{decisions:?}");
    let shown = app.admin(reqwest::Method::GET, &format!("/yunhu/v1/tenants/777777/tasks/{id}/pacing"), None).await;
    let shown: Vec<Value> = shown.json()["decisions"].as_array().unwrap().clone();
    assert_eq!(shown.len(), decisions.len(), "the admin API lists the same decisions");
    assert_eq!(shown.iter().map(|d| d["decision"]["dial"].as_i64().unwrap()).sum::<i64>(), 3);
    assert!(decisions.iter().all(|d| d["mode"].is_string() && d["live_probability"].as_f64().unwrap() > 0.0));

    // A task outside its calling window dialed nothing while the other ran.
    assert!(app.running.services.db().call_events(TENANT, &format!("task/{closed_id}")).await.unwrap().is_empty());
    let closed = task_detail(&app, &token, &closed_id).await;
    assert_eq!((closed["status"].as_i64(), closed["callNum"].as_i64()), (Some(3), Some(0)), "{closed}");

    // A busy number is tried again after idleTime (8 s, on the test's clock), then left busy.
    let busy = sipp(
        "busy-carrier",
        &["-sf", "busy.xml", "-i", "127.0.0.1", "-p", &carrier_port.to_string(), "-m", "2"].map(String::from),
    );
    let (busy_id, busy_code) = predictive_task(&app, &token, "BUSY1", "13900000009", ("00:00", "23:59")).await;
    let tries = |app: &TestApp| {
        let (db, filter, code) = (app.running.services.db().clone(), filter.clone(), busy_code.clone());
        async move {
            let records = db.list_call_records(TENANT, &filter, 100).await.unwrap();
            let mut at: Vec<i64> =
                records.iter().filter(|r| r.record.task_id == code).map(|r| r.record.started_at()).collect();
            at.sort();
            at
        }
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while tries(&app).await.is_empty() {
        assert!(Instant::now() < deadline, "the busy number was never dialed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(tries(&app).await.len(), 1, "not retried before idleTime");
    app.clock.advance(chrono::Duration::seconds(9));
    task_ended(&app, &token, &busy_id).await;
    assert!(busy.wait().await.success(), "two attempts reached the carrier");
    let at = tries(&app).await;
    assert_eq!(at.len(), 2);
    assert!(at[1] - at[0] >= 8000, "retried after idleTime: {at:?}");

    // A customer abandoned a moment ago is not dialed again for 72 hours, by any task.
    let carrier = phone("carrier", "answer.xml", carrier_port, 300);
    let (abandoned_call, outcome) = customer_first(&app, "13600000006", &[]).await;
    assert!(carrier.wait().await.success());
    assert!(matches!(outcome, yunhu_cc::switch::CustomerFirstOutcome::Abandoned { .. }), "{outcome:?}");
    let abandoned_at = record_of(&app, &abandoned_call).await.record.customer_leg.answer.unwrap();
    let (rest_id, rest_code) = predictive_task(&app, &token, "REST1", "13600000006", ("00:00", "23:59")).await;
    let rest: i64 = rest_id.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let due = loop {
        let (_, numbers, _) = app.running.services.task_numbers(TENANT, rest, 1, 10).await.unwrap();
        let n = numbers[0].number.clone();
        if n.next_attempt_at > abandoned_at + 3_600_000 {
            break n;
        }
        assert!(Instant::now() < deadline, "the dialer never looked at the number: {n:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(due.next_attempt_at, abandoned_at + 72 * 3_600_000, "{due:?}");
    assert_eq!(due.state, yunhu_cc::outbound::NumberState::Pending);
    let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
    assert!(records.iter().all(|r| r.record.task_id != rest_code), "not dialed");
    open95(&app, &token, reqwest::Method::PUT, "/artificialOutTask/pauseCall", json!({"id": rest_id})).await;

    // The only agent turns every call down: the answered customer waits 2 s, hears who called,
    // and the number ends abandoned.
    let carrier = phones("carrier", "answer.xml", carrier_port, 500, 1);
    let refusing = phones("agent-busy", "busy.xml", agent_port, 0, 1000);
    let (ab_id, ab_code) = predictive_task(&app, &token, "ABAND1", "13400000001", ("00:00", "23:59")).await;
    let detail = task_ended(&app, &token, &ab_id).await;
    assert!(carrier.wait().await.success(), "yunhu hung up on the customer");
    drop(refusing);
    let path = format!("/outboundContacts/pageSearch?outboundId={ab_id}");
    let row = open95(&app, &token, reqwest::Method::GET, &path, Value::Null).await["data"]["pageData"][0].clone();
    assert_eq!(row["callState"].as_i64(), Some(8), "answered, no agent free: {row}");
    let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
    let r = records.iter().find(|r| r.record.task_id == ab_code).expect("its call record").record.clone();
    assert!(r.customer_leg.answer.is_some() && !r.connected(), "{r:?}");
    assert!(r.customer_leg.end.unwrap() - r.customer_leg.answer.unwrap() >= 2000 + 4000, "waited, then the prompt");
    // Dialed once; not reached (touchNum counts customers put through to an agent).
    assert_eq!((detail["callNum"].as_i64(), detail["touchNum"].as_i64()), (Some(1), Some(0)), "{detail}");
    let events = app.running.services.db().call_events(TENANT, &format!("task/{ab_id}")).await.unwrap();
    let why: Value = serde_json::from_str(&events.last().expect("a pacing decision").3).unwrap();
    assert!(why["idle_agents"].as_i64().unwrap() >= 1 && why["dial"].as_i64() == Some(1), "{why}");

    // At the tenant's limit of one call at once, the task's calls go one after the other.
    app.running.services.db().set_tenant_max_calls(TENANT, 1).await.unwrap();
    let carrier = phones("carrier", "answer_then_bye.xml", carrier_port, 500, 2);
    let (lim_id, lim_code) =
        predictive_task(&app, &token, "LIMIT1", "13500000001;13500000002", ("00:00", "23:59")).await;
    task_ended(&app, &token, &lim_id).await;
    assert!(carrier.wait().await.success());
    let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
    let mut calls: Vec<(i64, i64)> = records
        .iter()
        .filter(|r| r.record.task_id == lim_code)
        .map(|r| (r.record.started_at(), r.record.customer_leg.end.unwrap()))
        .collect();
    calls.sort();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].0 >= calls[0].1, "never two at once: {calls:?}");
}

#[tokio::test]
async fn a_preview_task_hands_each_free_agent_its_next_number_agent_first() {
    let (app, _sip, agent_port) = setup().await;
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let token = app.token("demo", "demo-secret", None).await;
    let carrier = phones("carrier", "answer_then_bye.xml", carrier_port, 500, 2);
    let agent = phones("agent", "answer.xml", agent_port, 300, 2);
    let (id, code) = outbound_task(&app, &token, "PREV1", "13800000011;13800000012", ("00:00", "23:59"), "1").await;
    let detail = task_ended(&app, &token, &id).await;
    assert!(carrier.wait().await.success() && agent.wait().await.success());
    assert_eq!((detail["callNum"].as_i64(), detail["touchNum"].as_i64()), (Some(2), Some(2)), "{detail}");
    let filter = yunhu_store::calls::CallRecordFilter::default();
    let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
    let mut calls: Vec<_> = records.iter().filter(|r| r.record.task_id == code).map(|r| r.record.clone()).collect();
    calls.sort_by_key(|r| r.started_at());
    assert_eq!(calls.len(), 2);
    for r in &calls {
        assert_eq!((r.method, r.staff.as_str()), (yunhu_core::call::CallMethod::Preview, "1001"));
        assert!(r.connected() && r.agent.answer.unwrap() <= r.customer_leg.start.unwrap(), "agent first: {r:?}");
    }
    assert!(calls[1].started_at() >= calls[0].customer_leg.end.unwrap(), "one agent, one call at a time");
}

#[tokio::test]
async fn a_restarted_dialer_remembers_the_abandonment_of_its_window() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let svc = &app.running.services;
    // Four earlier predictive calls of task HIST1: three talked, one abandoned.
    for (i, abandoned) in [false, false, true, false].into_iter().enumerate() {
        let id = format!("hist-{i}");
        let ev = |kind: yunhu_core::call::CallEventKind| svc.log_call_event(TENANT, &id, kind);
        use yunhu_core::call::{CallEventKind as K, Side};
        ev(K::Created {
            direction: "outbound".into(),
            staff: String::new(),
            extension: String::new(),
            customer: format!("1380000010{i}"),
            caller_id: "53541815".into(),
            trunk: "carrier".into(),
            codeid_1: String::new(),
            codeid_2: String::new(),
            method: Some(yunhu_core::call::CallMethod::Predictive),
            task_id: "HIST1".into(),
            call_data: Default::default(),
        })
        .await
        .unwrap();
        ev(K::LegCreated { side: Side::Customer }).await.unwrap();
        app.clock.advance(chrono::Duration::seconds(8));
        ev(K::Answered { side: Side::Customer }).await.unwrap();
        if !abandoned {
            ev(K::Assigned { staff: "1001".into(), extension: "1001".into() }).await.unwrap();
            ev(K::LegCreated { side: Side::Agent }).await.unwrap();
            ev(K::Answered { side: Side::Agent }).await.unwrap();
        }
        app.clock.advance(chrono::Duration::seconds(30));
        let (cause, side) = (yunhu_core::call::Cause::NormalClearing, yunhu_core::call::HangupSide::Customer);
        ev(K::HungUp { cause, side }).await.unwrap();
        svc.project_call(TENANT, &id).await.unwrap();
    }
    // The task runs with no agent logged in: the dialer paces it (and dials nothing).
    let token = app.token("demo", "demo-secret", None).await;
    let (id, _) = predictive_task(&app, &token, "HIST1", "13800000201", ("00:00", "23:59")).await;
    let dialer = app.running.dialer.clone().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let why = loop {
        if let Some(why) = dialer.explain(TENANT, id.parse().unwrap()) {
            break why;
        }
        assert!(Instant::now() < deadline, "the dialer never paced the task");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((why.live_answers, why.abandoned, why.dial), (4, 1, 0), "{why:?}");
    assert_eq!(why.mode, yunhu_dialer::pacing::Mode::NoAgents);
    // The admin API shows the same decision.
    let path = format!("/yunhu/v1/tenants/777777/tasks/{id}/pacing");
    let shown = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(shown.status, reqwest::StatusCode::OK, "{}", shown.text);
    let shown = shown.json();
    assert_eq!(
        (shown["latest"]["live_answers"].as_i64(), shown["latest"]["mode"].as_str()),
        (Some(4), Some("no_agents"))
    );
    assert_eq!(shown["decisions"], json!([]), "nothing dialed, so no dialing decision is logged");
    let missing = app.admin(reqwest::Method::GET, "/yunhu/v1/tenants/777777/tasks/999999/pacing", None).await;
    assert_eq!(missing.status, reqwest::StatusCode::NOT_FOUND);
}

/// The events of an answered click-to-call of staff 1001 up to the customer's answer, at the
/// clock's time; the call is never hung up.
async fn answered_call_without_hangup(app: &TestApp, id: &str) {
    use yunhu_core::call::{CallEventKind as K, Side};
    let svc = &app.running.services;
    svc.log_call_event(
        TENANT,
        id,
        K::Created {
            direction: "outbound".into(),
            staff: "1001".into(),
            extension: "1001".into(),
            customer: "13900000000".into(),
            caller_id: "53541815".into(),
            trunk: "carrier".into(),
            codeid_1: String::new(),
            codeid_2: String::new(),
            method: None,
            task_id: String::new(),
            call_data: Default::default(),
        },
    )
    .await
    .unwrap();
    for side in [Side::Agent, Side::Customer] {
        svc.log_call_event(TENANT, id, K::LegCreated { side }).await.unwrap();
        svc.log_call_event(TENANT, id, K::Answered { side }).await.unwrap();
    }
}

#[tokio::test]
async fn a_call_cut_by_a_crash_is_billed_until_it_was_last_alive_not_through_the_downtime() {
    use yunhu_core::call::{CallEventKind as K, Side};
    let url = yunhu_store::testing::scratch_sqlite_url();
    let app = start(&url).await;
    let svc = app.running.services.clone();
    // Call A talks 1 s (the customer presses a key then), call B is recorded for 3 s.
    answered_call_without_hangup(&app, "cut-a").await;
    answered_call_without_hangup(&app, "cut-b").await;
    let rel = "777777/cut-b.wav";
    svc.log_call_event(TENANT, "cut-b", K::RecordingStarted { path: rel.into() }).await.unwrap();
    let recordings = app.config.recordings_dir();
    let mut w = yunhu_media::wav::WavWriter::create(&recordings.join(rel), 2).unwrap();
    w.write_interleaved(&vec![500; 3 * 8000 * 2]).unwrap();
    w.flush().unwrap();
    std::mem::forget(w); // the crash: the file stays a `.part`
    app.clock.advance(chrono::Duration::seconds(1));
    svc.log_call_event(TENANT, "cut-a", K::Dtmf { side: Side::Customer, digit: "1".into() }).await.unwrap();
    let (config, clock) = (app.config.clone(), app.clock.clone());
    app.running.stop().await;
    // 20 s of downtime, then a new server on the same database.
    clock.advance(chrono::Duration::seconds(20));
    let again = yunhu::start_with_clock(&config, clock.clone()).await.unwrap();
    let a = again.services.db().call_record(TENANT, "cut-a").await.unwrap().expect("a record").record;
    // The test clock also moves a few ms per event: talk is 1 s and some ms, billed as 2.
    assert!(a.talk_secs == 1 && a.bill_secs <= 2, "{a:?}");
    assert_eq!(
        (a.cause.unwrap().name(), a.hangup_side.unwrap().as_str()),
        ("CRASH", "system"),
        "the record says it was cut"
    );
    let b = again.services.db().call_record(TENANT, "cut-b").await.unwrap().expect("b record").record;
    assert!(b.talk_secs == 3 && b.bill_secs <= 4, "{b:?}");
    assert!(b.recording_repaired && b.cause.unwrap().name() == "CRASH");
    again.stop().await;
}

#[tokio::test]
async fn a_phone_registered_before_a_restart_is_rung_after_it_without_registering_again() {
    let (app, _sip, agent_port) = setup().await;
    let (config, clock) = (app.config.clone(), app.clock.clone());
    app.running.stop().await;
    // A new server on the same database (its SIP port is another one: the old stack still holds
    // its port in this process). No REGISTER reaches it.
    let running = yunhu::start_with_clock(&config, clock.clone()).await.unwrap();
    let base = format!("http://{}", running.http_addr);
    let app = TestApp { base, clock, running, http: reqwest::Client::new(), config };
    let status = action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await;
    assert_eq!(status["data"]["Status"], 0, "the binding came back from the store: {status}");
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer.xml", agent_port, 100);
    let carrier = phone("carrier", "answer.xml", carrier_port, 100);
    let call_id = dial(&app).await;
    wait_status(&app, "1001", 1).await;
    let hang = action(&app, &[("action", "HangUp"), ("staffid", "1001")]).await;
    assert_eq!(hang["errno"], "1", "{hang}");
    assert!(agent.wait().await.success(), "the phone was rung at its stored contact");
    assert!(carrier.wait().await.success());
    assert!(record_of(&app, &call_id).await.record.connected());
}

#[tokio::test]
async fn stopping_a_predictive_task_ends_its_ringing_dials_each_with_one_record() {
    let (app, sip, _agent_port) = setup().await;
    assert!(register(sip, "1002", "1002pw", free_port(), "register.xml").await.success(), "1002 registers");
    assert!(dial_from(sip, "1002", "1002pw", "000", "dial.xml").await.success(), "1002 logs in with 000");
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    // Customers' phones ring until the caller gives up.
    let _carrier = phones("carrier", "ring_forever.xml", carrier_port, 0, 10);
    let token = app.token("demo", "demo-secret", None).await;
    let numbers = "13800000021;13800000022;13800000023;13800000024;13800000025";
    let members = ["100011001", "100011002"];
    let (id, code) = outbound_task_of(&app, &token, "STOP1", numbers, ("00:00", "23:59"), "0", &members).await;
    let task: i64 = id.parse().unwrap();
    let dialing = |app: &TestApp| {
        let svc = app.running.services.clone();
        async move {
            let counts = svc.db().number_state_counts(TENANT, task).await.unwrap();
            counts.iter().filter(|(s, _)| *s == yunhu_cc::outbound::NumberState::Dialing).map(|(_, n)| n).sum::<i64>()
        }
    };
    // A fresh campaign has no abandons to spend: one dial per idle agent, both ringing.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dialing(&app).await < 2 {
        assert!(Instant::now() < deadline, "the task never dialed for its two agents");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopped well inside the 4 s ring limit: the dialer, not the ring timeout, ends them.
    open95(&app, &token, reqwest::Method::PUT, "/artificialOutTask/stopCall", json!({"id": id})).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while dialing(&app).await > 0 {
        assert!(Instant::now() < deadline, "dials of the stopped task never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let detail = task_detail(&app, &token, &id).await;
    assert_eq!((detail["status"].as_i64(), detail["callNum"].as_i64()), (Some(5), Some(2)), "{detail}");
    let filter = yunhu_store::calls::CallRecordFilter::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    let of_task = loop {
        let records = app.running.services.db().list_call_records(TENANT, &filter, 100).await.unwrap();
        let of_task: Vec<_> = records.into_iter().filter(|r| r.record.task_id == code).collect();
        if of_task.len() >= 2 || Instant::now() >= deadline {
            break of_task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Every attempt has exactly one record, ended by yunhu as a cancel of an unanswered call.
    assert_eq!(of_task.len(), 2, "one record per attempt");
    let customers: std::collections::HashSet<&str> = of_task.iter().map(|r| r.record.customer.as_str()).collect();
    assert_eq!(customers.len(), 2, "no number has two records");
    for r in &of_task {
        let rec = &r.record;
        assert!(rec.customer_leg.answer.is_none(), "{rec:?}");
        assert_eq!(rec.cause, Some(yunhu_core::call::Cause::OriginatorCancel), "{rec:?}");
        assert_eq!(rec.hangup_side, Some(yunhu_core::call::HangupSide::System), "{rec:?}");
        let events = events_of(&app, &r.call_id).await;
        let ends: Vec<&Value> = events.iter().filter(|e| e["kind"] == "hung_up").collect();
        assert_eq!(ends.len(), 1, "{events:?}");
        assert_eq!((ends[0]["cause"].as_str(), ends[0]["side"].as_str()), (Some("ORIGINATOR_CANCEL"), Some("system")));
    }
    // Nothing more is dialed for the stopped task.
    let numbers = app.running.services.task_numbers(TENANT, task, 1, 10).await.unwrap().1;
    assert!(numbers.iter().all(|n| n.number.state != yunhu_cc::outbound::NumberState::Dialing));
}
