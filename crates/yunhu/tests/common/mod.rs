//! Starts the real server in-process on a scratch database, over real HTTP, with a clock the
//! test can move.
#![allow(dead_code)]

pub mod browser;
pub mod open95;
pub mod sip;

use chrono::TimeZone;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use yunhu::config::Config;
use yunhu_core::ManualClock;
use yunhu_core::call::{CallEventKind, Cause, HangupSide, Side};
use yunhu_store::TenantId;

/// The provisioning example README documents; the tests run on it.
pub fn example_file() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/provision.toml"))
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub running: yunhu::Running,
    pub http: reqwest::Client,
    pub config: Config,
}

pub fn scratch_dir() -> PathBuf {
    let url = yunhu_store::testing::scratch_sqlite_url();
    let name = url.rsplit('/').next().unwrap().trim_end_matches("?mode=rwc").trim_end_matches(".db").to_string();
    let dir = std::env::temp_dir().join("yunhu-tests").join(format!("{name}-data"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn config_for(database_url: &str) -> Config {
    Config {
        data_dir: scratch_dir(),
        database_url: Some(database_url.to_string()),
        http_listen: "127.0.0.1:0".into(),
        admin_token: Some(ADMIN_TOKEN.into()),
        master_key: None,
        log_format: "text".into(),
        provision: Some(example_file()),
        sip_listen: "127.0.0.1:0".into(),
        rtp_ports: "30000-31999".into(),
        ring_timeout_secs: 4,
        rtp_timeout_secs: 60,
        desk_silence_secs: 60,
        worker_threads: yunhu::config::default_worker_threads(),
        ..Default::default()
    }
}

pub async fn start(database_url: &str) -> TestApp {
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()));
    let config = config_for(database_url);
    let running =
        yunhu::start_with_clock(&config, clock.clone()).await.unwrap_or_else(|e| panic!("server starts: {e:#}"));
    TestApp { base: format!("http://{}", running.http_addr), clock, running, http: reqwest::Client::new(), config }
}

/// Both backends: a fresh SQLite file and a fresh PostgreSQL database.
pub async fn backends() -> Vec<String> {
    yunhu_store::testing::scratch_urls().await.expect("scratch databases (is PostgreSQL up?)")
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl TestApp {
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        Answer { status: resp.status(), headers: resp.headers().clone(), text: resp.text().await.unwrap() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A token for `client`, asserting the grant succeeds.
    pub async fn token(&self, client: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![("client_id", client), ("client_secret", secret), ("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let a = self.send(self.http.post(self.url("/oauth/token")).form(&form)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.json()["access_token"].as_str().unwrap().to_string()
    }

    /// GET `path` with a bearer token; the open95 envelope as JSON.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }
}

/// A call to replay into the event log.
pub struct Call {
    pub tenant: TenantId,
    pub direction: &'static str,
    pub staff: &'static str,
    pub customer: &'static str,
    pub codeid_1: &'static str,
    pub answered: bool,
    pub cause: Cause,
    /// Custom data of the request that placed it.
    pub call_data: &'static [(&'static str, &'static str)],
    /// Keys the customer presses while talking.
    pub digits: &'static str,
    /// Who hangs up.
    pub hangup: HangupSide,
}

impl Call {
    /// An answered outbound call of tenant 777777's staff 1001, the customer hanging up.
    pub fn new(tenant: TenantId, customer: &'static str) -> Call {
        Call {
            tenant,
            direction: "outbound",
            staff: "1001",
            customer,
            codeid_1: "",
            answered: true,
            cause: Cause::NormalClearing,
            call_data: &[],
            digits: "",
            hangup: HangupSide::Customer,
        }
    }
}

/// Replays one call's events: rings 2 s, talks 10 s if answered; returns its id.
pub async fn replay(app: &TestApp, c: &Call) -> String {
    let svc = &app.running.services;
    let id = yunhu_cc::secrets::new_stream_id();
    let ev = |kind: CallEventKind| svc.log_call_event(c.tenant, &id, kind);
    let tick = |secs: i64| app.clock.advance(chrono::Duration::seconds(secs));
    ev(CallEventKind::Created {
        direction: c.direction.into(),
        staff: c.staff.into(),
        extension: c.staff.into(),
        customer: c.customer.into(),
        caller_id: "53541815".into(),
        trunk: "carrier".into(),
        codeid_1: c.codeid_1.into(),
        codeid_2: String::new(),
        method: None,
        task_id: String::new(),
        call_data: c.call_data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    })
    .await
    .unwrap();
    for side in [Side::Agent, Side::Customer] {
        ev(CallEventKind::LegCreated { side }).await.unwrap();
        ev(CallEventKind::Ringing { side }).await.unwrap();
        tick(1);
        if c.answered || side == Side::Agent {
            ev(CallEventKind::Answered { side }).await.unwrap();
        }
    }
    if c.answered {
        let corp = svc.tenant_by_id(c.tenant).await.unwrap().corp_id;
        ev(CallEventKind::RecordingStarted { path: format!("{corp}/{id}.wav") }).await.unwrap();
        for digit in c.digits.chars() {
            ev(CallEventKind::Dtmf { side: Side::Customer, digit: digit.to_string() }).await.unwrap();
        }
        tick(10);
    }
    ev(CallEventKind::HungUp { cause: c.cause, side: c.hangup }).await.unwrap();
    svc.project_call(c.tenant, &id).await.unwrap();
    tick(60);
    id
}

/// The texts an SMS gateway got, as `telephone|msg`.
pub type Texts = Arc<std::sync::Mutex<Vec<String>>>;

/// An SMS gateway (the generic webhook provider) on a local port that takes every message;
/// its address and what it got.
pub async fn sms_gateway() -> (String, Texts) {
    let got: Texts = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                let text =
                    format!("{}|{}", body["telephone"].as_str().unwrap_or(""), body["msg"].as_str().unwrap_or(""));
                seen.lock().unwrap().push(text);
                axum::Json(serde_json::json!({"id": "gw-1"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}
