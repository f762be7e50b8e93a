//! A graceful stop under load, on the real binary (it is about signals): with a click-to-call up
//! (sipp as the agent's phone and as the carrier, with RTP), SIGTERM makes yunhu refuse new calls
//! — a new INVITE and an OPTIONS get 503 with Retry-After, click-to-call is refused — while the
//! live call talks on until the phone hangs up; its record and recording are written and the
//! process exits 0 soon after.

mod common;

use common::sip::{dial_from, free_port, phone, register};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "drain-test-admin-token";

/// A fresh data directory.
fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join("yunhu-tests").join(format!("drain-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `yunhu serve` on the example provisioning, its log in `dir/yunhu.log`.
fn serve(dir: &Path, http: u16, sip: u16) -> Child {
    let log = std::fs::File::create(dir.join("yunhu.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_yunhu"))
        .current_dir(dir)
        .arg("--data-dir")
        .arg(dir)
        .args(["--http-listen", &format!("127.0.0.1:{http}"), "--sip-listen", &format!("127.0.0.1:{sip}")])
        .args(["--rtp-ports", "35000-35999", "--admin-token", ADMIN])
        // A leg silent this long ends the call: the call below lasting proves media kept flowing.
        .args(["--rtp-timeout-secs", "3", "--drain-secs", "60"])
        .arg("serve")
        .arg("--provision")
        .arg(common::example_file())
        .env_remove("YUNHU_CONFIG")
        .env_remove("YUNHU_DATABASE_URL")
        .env_remove("YUNHU_PROVISION")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the yunhu binary runs")
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("yunhu.log")).unwrap_or_default()
}

/// Sends one SIP request from a fresh socket and returns the first answer, if any in 3 s.
fn ask(sip: SocketAddr, method: &str) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let (body, ctype) = if method == "INVITE" {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
            port + 2
        );
        (sdp, "Content-Type: application/sdp\r\n")
    } else {
        (String::new(), "")
    };
    let msg = format!(
        "{method} sip:1002@777777.yunhu SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{nanos};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@777777.yunhu>;tag={nanos}\r\n\
         To: <sip:1002@777777.yunhu>\r\n\
         Call-ID: drain-{nanos}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:1001@127.0.0.1:{port}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    sock.send_to(msg.as_bytes(), sip).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            // 100 Trying is not the answer.
            if !text.starts_with("SIP/2.0 100") {
                return Some(text);
            }
        }
    }
    None
}

async fn action(http: &reqwest::Client, base: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec![("companyid", "8"), ("auth", "demo-auth-code")];
    all.extend_from_slice(params);
    let resp = http.post(format!("{base}/action")).form(&all).send().await.expect("HTTP answers");
    resp.json().await.expect("JSON")
}

#[tokio::test]
async fn sigterm_refuses_new_calls_lets_the_live_call_finish_then_exits_0() {
    let dir = scratch_dir();
    let (http_port, sip_port) = (free_port(), free_port());
    let sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let mut child = serve(&dir, http_port, sip_port);
    let pid = child.id();
    let http = reqwest::Client::new();

    // Up: the admin API answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = http.get(format!("{base}/yunhu/v1/tenants")).bearer_auth(ADMIN).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "yunhu exited at start:\n{}", log_of(&dir));
        assert!(Instant::now() < deadline, "yunhu did not come up:\n{}", log_of(&dir));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The carrier on a port of our own, the agent's phone registered and logged in.
    let carrier_port = free_port();
    let trunk =
        serde_json::json!({"name": "carrier", "address": format!("127.0.0.1:{carrier_port}"), "caller_id": "53541815"});
    let put = http
        .put(format!("{base}/yunhu/v1/tenants/777777/trunks/carrier"))
        .bearer_auth(ADMIN)
        .json(&trunk)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let carrier = phone("carrier", "answer.xml", carrier_port, 0);
    let agent_port = free_port();
    assert!(register(sip, "1001", "1001pw", agent_port, "register.xml").await.success(), "1001 registers");
    assert!(dial_from(sip, "1001", "1001pw", "000", "dial.xml").await.success(), "1001 logs in with 000");
    let agent_phone = phone("agent", "talk_then_bye.xml", agent_port, 0);

    // Before the stop, an INVITE nobody authenticated is challenged.
    let before = ask(sip, "INVITE").expect("an answer to INVITE");
    assert!(before.starts_with("SIP/2.0 407"), "{before}");

    let dial = action(&http, &base, &[("action", "SendDial"), ("staffid", "1001"), ("phonenum", "13800138000")]).await;
    assert_eq!(dial["errno"], "1", "{dial}");
    let call_id = dial["data"]["uniqueid"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = action(&http, &base, &[("action", "ExtenStatus"), ("staffid", "1001")]).await;
        if v["data"]["Status"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the call never connected: {v}\n{}", log_of(&dir));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment of talk, then the stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let term_at = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());

    // New calls and probes are refused, with Retry-After, whoever sends them.
    let deadline = Instant::now() + Duration::from_secs(5);
    let invite = loop {
        let a = ask(sip, "INVITE").unwrap_or_default();
        if a.starts_with("SIP/2.0 503") || Instant::now() > deadline {
            break a;
        }
    };
    assert!(invite.starts_with("SIP/2.0 503"), "a new INVITE while draining: {invite}\n{}", log_of(&dir));
    assert!(invite.to_ascii_lowercase().contains("\r\nretry-after: 60"), "{invite}");
    let options = ask(sip, "OPTIONS").expect("an answer to OPTIONS");
    assert!(options.starts_with("SIP/2.0 503"), "{options}");
    assert!(options.to_ascii_lowercase().contains("\r\nretry-after:"), "{options}");
    // HTTP still serves, but places no new call.
    let refused =
        action(&http, &base, &[("action", "SendDial"), ("staffid", "1001"), ("phonenum", "13900139000")]).await;
    assert_ne!(refused["errno"], "1", "{refused}");
    assert!(refused["message"].as_str().unwrap_or("").contains("shutting down"), "{refused}");
    assert!(child.try_wait().unwrap().is_none(), "yunhu must wait for its live call:\n{}", log_of(&dir));

    // The phone hangs up 6 s after answering; then yunhu writes the record and exits 0.
    assert!(agent_phone.wait().await.success(), "the agent's phone talked and hung up itself");
    let hung_up_at = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(hung_up_at.elapsed() < Duration::from_secs(10), "yunhu did not exit:\n{}", log_of(&dir));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit {status}:\n{}", log_of(&dir));
    assert!(hung_up_at.duration_since(term_at) > Duration::from_secs(2), "the call outlived the SIGTERM");
    drop(carrier);

    let db = yunhu_store::Db::open(&format!("sqlite://{}?mode=rwc", dir.join("yunhu.db").display())).await.unwrap();
    let tenant = db.tenant_by_corp("777777").await.unwrap().unwrap();
    let filter = yunhu_store::calls::CallRecordFilter::default();
    let records = db.list_call_records(tenant.id, &filter, 100).await.unwrap();
    assert_eq!(records.len(), 1, "one call, one record (the refused ones placed none): {records:?}");
    let rec = &records[0];
    assert_eq!(rec.call_id, call_id);
    let r = &rec.record;
    assert_eq!(
        (r.cause, r.hangup_side),
        (Some(yunhu_core::call::Cause::NormalClearing), Some(yunhu_core::call::HangupSide::Agent)),
        "ended by the phone's BYE, not by the stop or an RTP timeout: {r:?}"
    );
    assert!(r.talk_secs >= 4, "{r:?}");
    assert!(!r.recording_repaired, "{r:?}");
    let (channels, samples) = yunhu_media::wav::read(&dir.join("recordings").join(&r.recording)).unwrap();
    assert_eq!(channels, 2);
    let secs = samples.len() as f64 / 2.0 / 8000.0;
    assert!(secs >= 4.0, "the recording covers the talk: {secs:.1} s");
    // Its last two seconds, well after the SIGTERM, still carry voice.
    let tail = &samples[samples.len() - 2 * 2 * 8000..];
    let loud = tail.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(loud > 200, "voice after the SIGTERM: {loud} loud samples in the last 2 s");
    let log = log_of(&dir);
    assert!(log.contains("draining") && log.contains("drained"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
