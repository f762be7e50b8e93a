//! sipp as phones and carriers against the real server: the harness of the telephony and call
//! control tests.

use super::{TestApp, start};
use serde_json::{Value, json};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;
use yunhu_store::TenantId;
use yunhu_store::calls::StoredCallRecord;

/// The example tenant 777777.
pub const TENANT: TenantId = TenantId(10001);

pub fn scenarios() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sipp"))
}

/// A free port with the three above it free too (sipp binds RTP, RTCP and more), from a range
/// below the kernel's ephemeral ports and apart from yunhu's RTP range in tests.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(20000);
    loop {
        let p = NEXT.fetch_add(4, Ordering::Relaxed);
        assert!(p < 29990, "test port range exhausted");
        let free = (p..p + 4).all(|q| UdpSocket::bind(("127.0.0.1", q)).is_ok())
            && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free {
            return p;
        }
    }
}

pub struct Sipp {
    child: Child,
    name: &'static str,
    log: PathBuf,
    limit: Duration,
}

pub fn sipp(name: &'static str, args: &[String]) -> Sipp {
    sipp_for(name, args, Duration::from_secs(40))
}

/// sipp that may run for `limit` (a load run), then fails.
pub fn sipp_for(name: &'static str, args: &[String], limit: Duration) -> Sipp {
    let log = std::env::temp_dir().join(format!("yunhu-sipp-{name}-{}-{}.log", std::process::id(), free_port()));
    let child = Command::new("sipp")
        .current_dir(scenarios())
        .args(args)
        .args(["-nostdin", "-timeout", &format!("{}s", limit.as_secs()), "-timeout_error", "-trace_err", "-error_file"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (Debian package sip-tester)");
    Sipp { child, name, log, limit }
}

impl Sipp {
    pub async fn wait(mut self) -> ExitStatus {
        let deadline = Instant::now() + self.limit + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    eprintln!("sipp {} failed: {}", self.name, std::fs::read_to_string(&self.log).unwrap_or_default());
                }
                return status;
            }
            assert!(Instant::now() < deadline, "sipp {} did not finish", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A phone answering on `port` with media, ringing `ring_ms` first, for one call.
pub fn phone(name: &'static str, scenario: &str, port: u16, ring_ms: u32) -> Sipp {
    phones(name, scenario, port, ring_ms, 1)
}

/// A phone (or carrier) answering `calls` calls on `port` with media, ringing `ring_ms` first.
pub fn phones(name: &'static str, scenario: &str, port: u16, ring_ms: u32, calls: u32) -> Sipp {
    let media = free_port();
    let args = [scenario, "-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media.to_string()];
    let mut all: Vec<String> = std::iter::once("-sf").chain(args).map(String::from).collect();
    all.extend(["-m".to_string(), calls.to_string(), "-d".to_string(), ring_ms.to_string()]);
    sipp(name, &all)
}

pub async fn register(sip: SocketAddr, user: &str, password: &str, contact_port: u16, scenario: &str) -> ExitStatus {
    register_over(sip, user, password, contact_port, scenario, "u1").await
}

pub async fn register_over(
    sip: SocketAddr,
    user: &str,
    password: &str,
    contact_port: u16,
    scenario: &str,
    transport: &str,
) -> ExitStatus {
    let contact = contact_port.to_string();
    let args = extension_args(sip, user, password, scenario, &["-t", transport, "-key", "contact_port", &contact]);
    sipp("register", &args).wait().await
}

/// sipp arguments for one call of `user` (an extension or a customer's number) of tenant 777777
/// to yunhu with `scenario`, from local SIP port `port`, then `extra`.
fn peer_args(sip: SocketAddr, scenario: &str, port: u16, user: &str, extra: &[&str]) -> Vec<String> {
    let (sip, port) = (sip.to_string(), port.to_string());
    let fixed = [&sip as &str, "-sf", scenario, "-m", "1", "-i", "127.0.0.1", "-p", &port];
    let keys = ["-key", "user", user, "-key", "domain", "777777.yunhu"];
    fixed.iter().chain(&keys).chain(extra).map(|a| a.to_string()).collect()
}

/// sipp arguments for extension `user` of tenant 777777 talking to yunhu with `scenario`, once.
pub fn extension_args(sip: SocketAddr, user: &str, password: &str, scenario: &str, extra: &[&str]) -> Vec<String> {
    let auth = [&["-au", user, "-ap", password] as &[&str], extra].concat();
    peer_args(sip, scenario, free_port(), user, &auth)
}

/// A carrier at `port` sending customer `customer`'s call to `dialed` of tenant 777777 from the
/// trunk's address (no digest) with `scenario`, once, with `extra` sipp arguments.
pub fn carrier_call(
    name: &'static str,
    sip: SocketAddr,
    port: u16,
    scenario: &str,
    customer: &str,
    dialed: &str,
    extra: &[&str],
) -> Sipp {
    let media = free_port().to_string();
    let call = [&["-mp", &media, "-key", "dialed", dialed] as &[&str], extra].concat();
    sipp(name, &peer_args(sip, scenario, port, customer, &call))
}

pub async fn action(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("companyid", "8"), ("auth", "demo-auth-code")];
    all.extend_from_slice(params);
    app.send(app.http.post(app.url("/action")).form(&all)).await.json()
}

/// Points the tenant's trunk at a carrier on `port`.
pub async fn carrier_at(app: &TestApp, port: u16) {
    let spec = json!({"name": "carrier", "address": format!("127.0.0.1:{port}"), "caller_id": "53541815"});
    app.running.services.put_object("777777", Kind::Trunk, spec).await.unwrap();
}

pub async fn record_of(app: &TestApp, call_id: &str) -> StoredCallRecord {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = app.running.services.db().call_record(TENANT, call_id).await.unwrap() {
            return r;
        }
        assert!(Instant::now() < deadline, "no call record for {call_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first call record of `direction`, once the call has ended.
pub async fn first_record(app: &TestApp, direction: &str) -> yunhu_core::call::CallRecord {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let filter = yunhu_store::calls::CallRecordFilter::default();
        let page = app.running.services.db().list_call_records(TENANT, &filter, 10).await.unwrap();
        if let Some(r) = page.into_iter().find(|r| r.record.direction == direction) {
            return r.record;
        }
        assert!(Instant::now() < deadline, "no record of an {direction} call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn events_of(app: &TestApp, call_id: &str) -> Vec<Value> {
    let events = app.running.services.db().call_events(TENANT, call_id).await.unwrap();
    events.into_iter().map(|(_, _, _, data)| serde_json::from_str(&data).unwrap()).collect()
}

/// Extension `user` dials `dialed` with `scenario` (proxy digest auth).
pub async fn dial_from(sip: SocketAddr, user: &str, password: &str, dialed: &str, scenario: &str) -> ExitStatus {
    let media = free_port().to_string();
    let args = extension_args(sip, user, password, scenario, &["-mp", &media, "-key", "dialed", dialed]);
    sipp("caller", &args).wait().await
}

/// Waits until `staff`'s ExtenStatus is `status`.
pub async fn wait_status(app: &TestApp, staff: &str, status: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = action(app, &[("action", "ExtenStatus"), ("staffid", staff)]).await;
        if v["data"]["Status"] == status {
            return v;
        }
        assert!(Instant::now() < deadline, "{staff} never reached status {status}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn setup() -> (TestApp, SocketAddr, u16) {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let sip = app.running.sip_addr.expect("telephony runs");
    let agent_port = free_port();
    assert!(register(sip, "1001", "1001pw", agent_port, "register.xml").await.success(), "1001 registers");
    assert!(dial_from(sip, "1001", "1001pw", "000", "dial.xml").await.success(), "1001 logs in with 000");
    (app, sip, agent_port)
}

pub async fn dial(app: &TestApp) -> String {
    let v = action(
        app,
        &[
            ("action", "SendDial"),
            ("staffid", "1001"),
            ("phonenum", "13800138000"),
            ("codeid_1", "c1"),
            ("codeid_2", "c2"),
        ],
    )
    .await;
    assert_eq!(v["errno"], "1", "{v}");
    v["data"]["uniqueid"].as_str().unwrap().to_string()
}
