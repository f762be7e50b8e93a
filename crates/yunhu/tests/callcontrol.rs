//! Call control with real SIP peers, checked by ear: sipp answers as the agent's phone, the
//! carrier and colleagues' phones, while the test owns each phone's RTP socket, sends each its
//! own tone and listens to what each receives (Goertzel filters), so "who hears whom" is measured
//! on the audio yunhu sends, not taken from yunhu's word.

mod common;

use common::sip::*;
use common::{TestApp, start};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use yunhu_media::g711::Codec;
use yunhu_media::rtp::RtpPacket;

const AGENT_TONE: f64 = 440.0;
const CUSTOMER_TONE: f64 = 1000.0;
const THIRD_TONE: f64 = 1700.0;
/// Notes of the built-in music on hold.
const HOLD_NOTES: [f64; 3] = [523.25, 659.25, 783.99];

/// Audio a phone received: arrival time and samples.
type Heard = Arc<Mutex<Vec<(Instant, Vec<i16>)>>>;

/// A phone answering on a SIP port (sipp) whose RTP is this test's socket: it sends a tone and
/// keeps what it hears.
struct TonePhone {
    _sipp: Sipp,
    heard: Heard,
    /// Stops the phone's RTP (a phone that vanishes without a BYE).
    mute: Arc<std::sync::atomic::AtomicBool>,
    /// RFC 4733 key presses to send.
    keys: tokio::sync::mpsc::UnboundedSender<char>,
    /// Its sending and receiving tasks, stopped with the phone.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TonePhone {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn tone_samples(freq: f64, start: usize, n: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// A tone phone answering calls on SIP port `port`, ringing half a second first.
async fn tone_phone(name: &'static str, port: u16, freq: f64) -> TonePhone {
    tone_phone_with(name, port, freq, "tone_phone.xml", &[]).await
}

/// [`tone_phone`] with another scenario of the same kind and its `-key`s.
async fn tone_phone_with(name: &'static str, port: u16, freq: f64, scenario: &str, keys: &[(&str, &str)]) -> TonePhone {
    let rtp_port = free_port();
    let socket = Arc::new(UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap());
    let log = std::env::temp_dir().join(format!("yunhu-tone-{name}-{}-{rtp_port}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut args: Vec<String> = [
        "-sf",
        scenario,
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        "1",
        "-d",
        "500",
        "-key",
        "rtpport",
        &rtp_port.to_string(),
        "-trace_logs",
        "-log_file",
        log.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in keys {
        args.extend(["-key".to_string(), k.to_string(), v.to_string()]);
    }
    let sipp = sipp(name, &args);
    let heard: Heard = Arc::default();
    let mute = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (keys, mut key_rx) = tokio::sync::mpsc::unbounded_channel::<char>();
    // Sends the tone to where yunhu's offer said, once sipp has logged it.
    let (tx_socket, tx_mute) = (socket.clone(), mute.clone());
    let sender = tokio::spawn(async move {
        let dest: SocketAddr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(port) = text.lines().find_map(|l| l.trim().strip_prefix("RTPPORT ")?.split_whitespace().next())
            {
                break format!("127.0.0.1:{port}").parse().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let (mut seq, mut pos) = (0u16, 0usize);
        let mut out = Vec::new();
        loop {
            tick.tick().await;
            if tx_mute.load(std::sync::atomic::Ordering::Relaxed) {
                continue;
            }
            if let Ok(key) = key_rx.try_recv() {
                // A key press: three telephone-event packets, the last one ending it.
                let digit = key.to_digit(10).unwrap_or(0) as u8;
                for (i, end) in [(0u16, false), (1, false), (2, true)] {
                    let payload = [digit, if end { 0x80 | 10 } else { 10 }, 0, (160 * (i + 1)) as u8];
                    RtpPacket {
                        payload_type: 101,
                        marker: i == 0,
                        sequence: seq,
                        timestamp: pos as u32,
                        ssrc: 7,
                        payload: &payload,
                    }
                    .write(&mut out);
                    let _ = tx_socket.send_to(&out, dest).await;
                    seq = seq.wrapping_add(1);
                }
                continue;
            }
            let payload: Vec<u8> = tone_samples(freq, pos, 160).into_iter().map(|s| Codec::Pcmu.encode(s)).collect();
            RtpPacket {
                payload_type: 0,
                marker: seq == 0,
                sequence: seq,
                timestamp: pos as u32,
                ssrc: 7,
                payload: &payload,
            }
            .write(&mut out);
            let _ = tx_socket.send_to(&out, dest).await;
            seq = seq.wrapping_add(1);
            pos += 160;
        }
    });
    let rx_heard = heard.clone();
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = socket.recv_from(&mut buf).await {
            let Some(p) = RtpPacket::parse(&buf[..n]) else { continue };
            let Some(codec) = Codec::from_payload_type(p.payload_type) else { continue };
            let samples = p.payload.iter().map(|b| codec.decode(*b)).collect();
            rx_heard.lock().unwrap().push((Instant::now(), samples));
        }
    });
    TonePhone { _sipp: sipp, heard, mute, keys, tasks: vec![sender, receiver] }
}

/// The amplitude of `freq` in what the phone heard between `from` and `to` (Goertzel over the
/// window's samples; a full-scale-ish 8000 tone reads about 8000, silence near 0).
fn level(phone: &TonePhone, freq: f64, from: Instant, to: Instant) -> f64 {
    let heard = phone.heard.lock().unwrap();
    let samples: Vec<i16> =
        heard.iter().filter(|(at, _)| *at >= from && *at <= to).flat_map(|(_, s)| s.iter().copied()).collect();
    goertzel(&samples, freq)
}

fn goertzel(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// A tone is heard above this amplitude and absent below [`QUIET`].
const HEARD: f64 = 1500.0;
const QUIET: f64 = 400.0;

/// Lets `secs` of audio pass and returns the window (its first 300 ms left out: mixing and
/// relaying settle after a change).
async fn window(secs: f64) -> (Instant, Instant) {
    let start = Instant::now() + Duration::from_millis(300);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    (start, Instant::now())
}

/// Asserts which tones `phone` heard in the window.
fn assert_hears(name: &str, phone: &TonePhone, (from, to): (Instant, Instant), heard: &[f64], not: &[f64]) {
    for f in heard {
        let l = level(phone, *f, from, to);
        assert!(l > HEARD, "{name} should hear {f} Hz: level {l:.0}");
    }
    for f in not {
        let l = level(phone, *f, from, to);
        assert!(l < QUIET, "{name} should not hear {f} Hz: level {l:.0}");
    }
}

fn hold_music_level(phone: &TonePhone, w: (Instant, Instant)) -> f64 {
    HOLD_NOTES.iter().map(|f| level(phone, *f, w.0, w.1)).fold(0.0, f64::max)
}

async fn wait_event(app: &TestApp, call_id: &str, kind: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.running.services.flush_events().await.unwrap();
        let events = events_of(app, call_id).await;
        if events.iter().filter(|e| e["kind"] == kind).count() >= count {
            return events;
        }
        assert!(Instant::now() < deadline, "no {kind} event in {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn control(app: &TestApp, path: &str, body: Option<Value>) -> common::Answer {
    app.admin(reqwest::Method::POST, &format!("/yunhu/v1/tenants/777777/{path}"), body).await
}

/// 1002 (a monitor) answers on their desk phone in these tests: the example has their calls
/// follow them to their mobile.
async fn desk_phone_for_1002(app: &TestApp) {
    let spec = json!({"user_code": "1002", "name": "李四", "agent_id": "1002", "sip_password": "1002pw",
        "role": "monitor", "team": "0100", "queues": ["8000"], "phone_take_along": false});
    app.running.services.put_object("777777", yunhu_cc::objects::Kind::Staff, spec).await.unwrap();
}

/// Registers extension `ext` (and logs it in with 000) with its phone on a fresh port.
async fn extension(sip: SocketAddr, ext: &str) -> u16 {
    let port = free_port();
    assert!(register(sip, ext, &format!("{ext}pw"), port, "register.xml").await.success(), "{ext} registers");
    assert!(dial_from(sip, ext, &format!("{ext}pw"), "000", "dial.xml").await.success(), "{ext} logs in with 000");
    port
}

/// 1002, registered and logged in, answering on a tone phone with the third tone.
async fn colleague(sip: SocketAddr, name: &'static str) -> TonePhone {
    let port = extension(sip, "1002").await;
    tone_phone(name, port, THIRD_TONE).await
}

/// Ends a call through the API.
async fn hang_up(app: &TestApp, call_id: &str) {
    let a = control(app, &format!("calls/{call_id}/hangup"), None).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// A click-to-call from 1001 to a customer, connected: (call id, agent's phone, customer's phone).
async fn connected_call(app: &TestApp, sip: SocketAddr) -> (String, TonePhone, TonePhone) {
    connected_call_with(app, sip, "tone_phone.xml", &[]).await
}

/// [`connected_call`] with the agent's phone playing `scenario`.
async fn connected_call_with(
    app: &TestApp,
    sip: SocketAddr,
    scenario: &str,
    keys: &[(&str, &str)],
) -> (String, TonePhone, TonePhone) {
    let agent_port = extension(sip, "1001").await;
    let agent = tone_phone_with("agent", agent_port, AGENT_TONE, scenario, keys).await;
    let carrier = free_port();
    carrier_at(app, carrier).await;
    let customer = tone_phone("customer", carrier, CUSTOMER_TONE).await;
    let call_id = dial(app).await;
    wait_event(app, &call_id, "bridged", 1).await;
    (call_id, agent, customer)
}

async fn telephony() -> (TestApp, SocketAddr) {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    desk_phone_for_1002(&app).await;
    (app, sip)
}

fn wav(app: &TestApp, rel: &str) -> (Vec<i16>, Vec<i16>) {
    let path: PathBuf = app.config.recordings_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap();
    let (channels, samples) = yunhu_media::wav::parse(&bytes).unwrap();
    assert_eq!(channels, 2);
    (samples.iter().step_by(2).copied().collect(), samples.iter().skip(1).step_by(2).copied().collect())
}

fn rms(s: &[i16]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
}

#[tokio::test]
async fn hold_plays_music_to_the_customer_silences_the_recording_and_resumes() {
    let (app, sip) = telephony().await;
    let (call_id, agent, customer) = connected_call(&app, sip).await;
    let talk = window(1.2).await;
    assert_hears("agent", &agent, talk, &[CUSTOMER_TONE], &[AGENT_TONE]);
    assert_hears("customer", &customer, talk, &[AGENT_TONE], &[CUSTOMER_TONE]);

    let held = control(&app, &format!("calls/{call_id}/hold"), None).await;
    assert_eq!(held.status, 200, "{}", held.text);
    let again = control(&app, "agents/1001/call/hold", None).await;
    assert_eq!(again.status, 409, "holding twice is refused: {}", again.text);
    let hold = window(1.5).await;
    assert!(hold_music_level(&customer, hold) > HEARD, "the held customer hears the hold music");
    assert_hears("held customer", &customer, hold, &[], &[AGENT_TONE]);
    assert_hears("agent during hold", &agent, hold, &[], &[CUSTOMER_TONE]);

    let resumed = control(&app, &format!("calls/{call_id}/unhold"), None).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    let after = window(1.2).await;
    assert_hears("agent after resume", &agent, after, &[CUSTOMER_TONE], &[]);
    assert_hears("customer after resume", &customer, after, &[AGENT_TONE], &[]);
    assert!(hold_music_level(&customer, after) < QUIET, "the music stops");

    hang_up(&app, &call_id).await;
    let r = record_of(&app, &call_id).await;
    assert_eq!(r.record.holds, 1, "the record counts the hold");
    let events = events_of(&app, &call_id).await;
    let at = |kind: &str| events.iter().position(|e| e["kind"] == kind).unwrap_or_else(|| panic!("{kind}: {events:?}"));
    assert!(at("held") < at("resumed"), "the events say so");
    // The recording: both channels carry voice while talking, and are silent on hold.
    let stamps = app.running.services.db().call_events(TENANT, &call_id).await.unwrap();
    let when = |kind: &str| stamps.iter().find(|(_, k, _, _)| k == kind).map(|(_, _, at, _)| *at).unwrap();
    let rec0 = when("recording_started");
    let (h0, h1) = ((when("held") - rec0) as usize * 8, (when("resumed") - rec0) as usize * 8);
    let (left, right) = wav(&app, &r.record.recording);
    let mid =
        |ch: &[i16], a: usize, b: usize| ch[(a + 2400).min(ch.len())..(b.saturating_sub(2400)).min(ch.len())].to_vec();
    assert!(rms(&mid(&left, 0, h0)) > 2000.0 && rms(&mid(&right, 0, h0)) > 2000.0, "voices before the hold");
    assert!(rms(&mid(&left, h0, h1)) < 300.0, "customer channel silent on hold: {}", rms(&mid(&left, h0, h1)));
    assert!(rms(&mid(&right, h0, h1)) < 300.0, "agent channel silent on hold: {}", rms(&mid(&right, h0, h1)));
}

#[tokio::test]
async fn a_meeting_lets_each_of_three_hear_the_other_two_and_not_itself() {
    let (app, sip) = telephony().await;
    let (call_id, agent, customer) = connected_call(&app, sip).await;
    let guest = colleague(sip, "guest").await;
    let joined = control(&app, "agents/1001/call/meeting", Some(json!({"to": "1002"}))).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    wait_event(&app, &call_id, "party_joined", 1).await;
    let w = window(1.5).await;
    assert_hears("agent", &agent, w, &[CUSTOMER_TONE, THIRD_TONE], &[AGENT_TONE]);
    assert_hears("customer", &customer, w, &[AGENT_TONE, THIRD_TONE], &[CUSTOMER_TONE]);
    assert_hears("guest", &guest, w, &[AGENT_TONE, CUSTOMER_TONE], &[THIRD_TONE]);
    hang_up(&app, &call_id).await;
    let r = record_of(&app, &call_id).await;
    assert!(r.record.connected());
}

#[tokio::test]
async fn a_supervisor_listens_whispers_and_barges_switching_by_api_and_by_key() {
    let (app, sip) = telephony().await;
    let (call_id, agent, customer) = connected_call(&app, sip).await;
    let sup = colleague(sip, "supervisor").await;
    let spy = |kind: &'static str| {
        let app = &app;
        async move {
            action(app, &[("action", "ExtenSpy"), ("staffid", "1002"), ("spystaffid", "1001"), ("spytype", kind)]).await
        }
    };
    let v = spy("1").await;
    assert_eq!(v["errno"], "1", "{v}");
    assert_eq!(v["data"]["uniqueid"], call_id.as_str());
    wait_event(&app, &call_id, "party_joined", 1).await;
    let w = window(1.5).await;
    assert_hears("supervisor (listen)", &sup, w, &[AGENT_TONE, CUSTOMER_TONE], &[THIRD_TONE]);
    assert_hears("agent (listen)", &agent, w, &[CUSTOMER_TONE], &[THIRD_TONE]);
    assert_hears("customer (listen)", &customer, w, &[AGENT_TONE], &[THIRD_TONE]);

    assert_eq!(spy("2").await["errno"], "1", "switching to whisper");
    let w = window(1.5).await;
    assert_hears("agent (whisper)", &agent, w, &[CUSTOMER_TONE, THIRD_TONE], &[]);
    assert_hears("customer (whisper)", &customer, w, &[AGENT_TONE], &[THIRD_TONE]);

    // Barge, from the supervisor's phone: key 6.
    sup.keys.send('6').unwrap();
    wait_event(&app, &call_id, "spy", 3).await;
    let w = window(1.5).await;
    assert_hears("agent (barge)", &agent, w, &[CUSTOMER_TONE, THIRD_TONE], &[]);
    assert_hears("customer (barge)", &customer, w, &[AGENT_TONE, THIRD_TONE], &[]);
    assert_hears("supervisor (barge)", &sup, w, &[AGENT_TONE, CUSTOMER_TONE], &[THIRD_TONE]);

    let modes: Vec<String> = events_of(&app, &call_id)
        .await
        .iter()
        .filter(|e| e["kind"] == "spy")
        .map(|e| e["mode"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(modes, ["listen", "whisper", "barge"]);
    hang_up(&app, &call_id).await;
}

#[tokio::test]
async fn bad_call_control_is_refused_with_clear_errors_and_changes_nothing() {
    let (app, sip) = telephony().await;
    // Before any call: unknown call, and an agent with no call.
    let unknown = control(&app, "calls/no-such-call/hold", None).await;
    assert_eq!((unknown.status.as_u16(), unknown.json()["error"].as_str()), (404, Some("not_found")));
    assert_eq!(control(&app, "agents/1001/call/hold", None).await.status, 404);
    let v =
        action(&app, &[("action", "ExtenSpy"), ("staffid", "1002"), ("spystaffid", "1001"), ("spytype", "1")]).await;
    assert_eq!(v["errno"], "5", "the supervisor has not logged in: {v}");

    let (call_id, _agent, _customer) = connected_call(&app, sip).await;
    // Another tenant's admin path does not reach this tenant's call.
    let other = app.admin(reqwest::Method::POST, &format!("/yunhu/v1/tenants/888888/calls/{call_id}/hold"), None).await;
    assert_eq!(other.status, 404, "{}", other.text);
    let bad = control(&app, &format!("calls/{call_id}/spy"), Some(json!({"supervisor": "1002", "mode": "peek"}))).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("peek"), "{}", bad.text);
    assert_eq!(control(&app, &format!("calls/{call_id}/unhold"), None).await.status, 409, "not on hold");
    assert_eq!(control(&app, &format!("calls/{call_id}/transfer-complete"), None).await.status, 409);
    // An agent may not spy.
    let forbidden =
        control(&app, &format!("calls/{call_id}/spy"), Some(json!({"supervisor": "1001", "mode": "listen"}))).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
    let v =
        action(&app, &[("action", "ExtenSpy"), ("staffid", "1001"), ("spystaffid", "1001"), ("spytype", "1")]).await;
    assert_eq!(v["errno"], "0", "{v}");
    let v =
        action(&app, &[("action", "ExtenSpy"), ("staffid", "1002"), ("spystaffid", "1001"), ("spytype", "9")]).await;
    assert_eq!(v["errno"], "0", "{v}");
    let v = action(&app, &[("action", "ExtenSpy"), ("staffid", "1002"), ("spystaffid", "1001")]).await;
    assert_eq!(v["errno"], "2", "spytype is required: {v}");
    // None of it touched the call.
    app.running.services.flush_events().await.unwrap();
    let kinds: Vec<String> =
        events_of(&app, &call_id).await.iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    for k in ["held", "spy", "party_joined", "transferred", "hung_up"] {
        assert!(!kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    hang_up(&app, &call_id).await;
}

#[tokio::test]
async fn a_blind_transfer_hands_the_customer_to_a_colleague_and_the_record_names_both() {
    let (app, sip) = telephony().await;
    let (call_id, _agent, customer) = connected_call(&app, sip).await;
    let colleague = colleague(sip, "colleague").await;
    let moved = control(&app, "agents/1001/call/transfer", Some(json!({"to": "1002"}))).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    wait_event(&app, &call_id, "answered", 3).await;
    let w = window(1.5).await;
    assert_hears("customer with the colleague", &customer, w, &[THIRD_TONE], &[AGENT_TONE]);
    assert_hears("colleague", &colleague, w, &[CUSTOMER_TONE], &[]);
    let status = wait_status(&app, "1001", 0).await;
    assert_eq!(status["data"]["Status"], 0, "the first agent is free again");
    assert_eq!(control(&app, "agents/1002/call/hangup", None).await.status, 200);
    let r = record_of(&app, &call_id).await;
    assert_eq!((r.record.staff.as_str(), r.record.transferred_to.clone()), ("1001", vec!["1002".to_string()]));
    let events = events_of(&app, &call_id).await;
    let customer_ends = events.iter().filter(|e| e["kind"] == "leg_ended" && e["side"] == "customer").count();
    assert_eq!(customer_ends, 1, "the customer's leg ended once, at the end: {events:?}");
}

#[tokio::test]
async fn an_attended_transfer_is_completed_or_cancelled() {
    let (app, sip) = telephony().await;
    let (call_id, agent, customer) = connected_call(&app, sip).await;
    let colleague_port = extension(sip, "1002").await;
    let colleague = tone_phone("colleague", colleague_port, THIRD_TONE).await;
    let consult =
        control(&app, &format!("calls/{call_id}/transfer"), Some(json!({"to": "1002", "attended": true}))).await;
    assert_eq!(consult.status, 200, "{}", consult.text);
    wait_event(&app, &call_id, "party_joined", 1).await;
    let w = window(1.5).await;
    assert_hears("agent consulting", &agent, w, &[THIRD_TONE], &[CUSTOMER_TONE]);
    assert!(hold_music_level(&customer, w) > HEARD, "the customer hears music while the agent consults");
    // Cancelled: back with the customer.
    assert_eq!(control(&app, &format!("calls/{call_id}/transfer-cancel"), None).await.status, 200);
    wait_event(&app, &call_id, "party_left", 1).await;
    let w = window(1.2).await;
    assert_hears("customer back with the agent", &customer, w, &[AGENT_TONE], &[THIRD_TONE]);
    drop(colleague);

    // Consult again and complete.
    let colleague = tone_phone("colleague2", colleague_port, THIRD_TONE).await;
    let consult =
        control(&app, &format!("calls/{call_id}/transfer"), Some(json!({"to": "1002", "attended": true}))).await;
    assert_eq!(consult.status, 200, "{}", consult.text);
    wait_event(&app, &call_id, "party_joined", 2).await;
    assert_eq!(control(&app, &format!("calls/{call_id}/transfer-complete"), None).await.status, 200);
    let w = window(1.5).await;
    assert_hears("customer with the colleague", &customer, w, &[THIRD_TONE], &[AGENT_TONE]);
    assert_hears("colleague with the customer", &colleague, w, &[CUSTOMER_TONE], &[]);
    hang_up(&app, &call_id).await;
    let r = record_of(&app, &call_id).await;
    assert_eq!(r.record.transferred_to, vec!["1002".to_string()]);
}

#[tokio::test]
async fn a_peer_that_vanishes_without_a_bye_ends_the_call_and_frees_the_agent() {
    let mut config = common::config_for(&yunhu_store::testing::scratch_sqlite_url());
    config.rtp_timeout_secs = 2;
    let clock = Arc::new(yunhu_core::ManualClock::new(chrono::Utc::now()));
    let running = yunhu::start_with_clock(&config, clock.clone()).await.unwrap();
    let app =
        TestApp { base: format!("http://{}", running.http_addr), clock, running, http: reqwest::Client::new(), config };
    let sip = app.running.sip_addr.unwrap();
    let (call_id, _agent, customer) = connected_call(&app, sip).await;
    assert_eq!(wait_status(&app, "1001", 1).await["data"]["Status"], 1, "the agent is in the call");
    // The customer's phone goes dark: no RTP, no BYE.
    customer.mute.store(true, std::sync::atomic::Ordering::Relaxed);
    let gone = Instant::now();
    let r = record_of(&app, &call_id).await;
    assert!(gone.elapsed() < Duration::from_secs(10), "ended within the limit: {:?}", gone.elapsed());
    assert_eq!(r.record.cause, Some(yunhu_core::call::Cause::RecoveryOnTimerExpire));
    wait_status(&app, "1001", 0).await;
    assert!(events_of(&app, &call_id).await.iter().any(|e| e["kind"] == "media_timeout"));
}

#[tokio::test]
async fn hold_and_resume_pressed_on_the_agents_phone() {
    let (app, sip) = telephony().await;
    // The agent's phone presses hold 2.5 s after answering and resume 2 s later; sipp checks
    // that yunhu answers the hold a=recvonly.
    let (call_id, agent, customer) = connected_call_with(&app, sip, "tone_phone_holds.xml", &[]).await;
    let events = wait_event(&app, &call_id, "held", 1).await;
    let held = events.iter().find(|e| e["kind"] == "held").unwrap();
    assert_eq!((held["side"].as_str(), held["by_phone"].as_bool()), (Some("customer"), Some(true)));
    let w = window(1.2).await;
    assert!(hold_music_level(&customer, w) > HEARD, "the customer hears the music while the agent holds");
    assert_hears("customer on hold", &customer, w, &[], &[AGENT_TONE]);
    assert_hears("agent holding", &agent, w, &[], &[CUSTOMER_TONE]);
    wait_event(&app, &call_id, "resumed", 1).await;
    let w = window(1.2).await;
    assert_hears("customer resumed", &customer, w, &[AGENT_TONE], &[]);
    assert!(hold_music_level(&customer, w) < QUIET);
    hang_up(&app, &call_id).await;
    assert_eq!(record_of(&app, &call_id).await.record.holds, 1);
}

#[tokio::test]
async fn the_phones_transfer_button_hands_the_call_over() {
    let (app, sip) = telephony().await;
    let colleague = colleague(sip, "colleague").await;
    // The agent's phone sends REFER to 1002 2.5 s after answering.
    let (call_id, _agent, customer) =
        connected_call_with(&app, sip, "tone_phone_refers.xml", &[("referto", "1002")]).await;
    wait_event(&app, &call_id, "transferred", 1).await;
    wait_event(&app, &call_id, "answered", 3).await;
    let w = window(1.5).await;
    assert_hears("customer with the colleague", &customer, w, &[THIRD_TONE], &[AGENT_TONE]);
    assert_hears("colleague", &colleague, w, &[CUSTOMER_TONE], &[]);
    assert_eq!(control(&app, "agents/1002/call/hangup", None).await.status, 200);
    let r = record_of(&app, &call_id).await;
    assert_eq!(r.record.transferred_to, vec!["1002".to_string()]);
}

#[tokio::test]
async fn a_supervisor_dials_the_spy_code_and_barges_with_a_key() {
    let (app, sip) = telephony().await;
    let (call_id, agent, customer) = connected_call(&app, sip).await;
    let _supervisor = extension(sip, "1002").await;
    let supervisor = tokio::spawn(dial_from(sip, "1002", "1002pw", "*21001", "spy_dial.xml"));
    let events = wait_event(&app, &call_id, "spy", 1).await;
    let spy = events.iter().find(|e| e["kind"] == "spy").unwrap();
    assert_eq!((spy["staff"].as_str(), spy["mode"].as_str()), (Some("1002"), Some("listen")));
    // The supervisor's INFO key 6 switches to barge.
    let events = wait_event(&app, &call_id, "spy", 2).await;
    let modes: Vec<&str> = events.iter().filter(|e| e["kind"] == "spy").filter_map(|e| e["mode"].as_str()).collect();
    assert_eq!(modes, ["listen", "barge"]);
    assert!(supervisor.await.unwrap().success(), "the supervisor's phone saw its call through");
    wait_event(&app, &call_id, "party_left", 1).await;
    // The call goes on without the supervisor.
    let w = window(1.0).await;
    assert_hears("agent", &agent, w, &[CUSTOMER_TONE], &[]);
    assert_hears("customer", &customer, w, &[AGENT_TONE], &[]);
    hang_up(&app, &call_id).await;
}

#[tokio::test]
async fn a_call_still_ringing_cannot_be_held_joined_or_spied_on() {
    let (app, sip) = telephony().await;
    let agent_port = extension(sip, "1001").await;
    let _agent = phone("agent", "ring_forever.xml", agent_port, 0);
    // Every party named below can be reached: only the call's state refuses.
    extension(sip, "1002").await;
    carrier_at(&app, free_port()).await;
    let call_id = dial(&app).await;
    wait_event(&app, &call_id, "ringing", 1).await;
    for (action, body) in [
        ("hold", None),
        ("meeting", Some(json!({"to": "13900139000"}))),
        ("spy", Some(json!({"supervisor": "1002", "mode": "listen"}))),
        ("transfer", Some(json!({"to": "1002"}))),
    ] {
        let a = control(&app, &format!("calls/{call_id}/{action}"), body).await;
        assert_eq!(a.status, 409, "{action} on a ringing call: {}", a.text);
        assert_eq!(a.json()["error"], "conflict");
    }
    hang_up(&app, &call_id).await;
    let r = record_of(&app, &call_id).await;
    assert_eq!((r.record.cause, r.record.holds), (Some(yunhu_core::call::Cause::OriginatorCancel), 0));
}
