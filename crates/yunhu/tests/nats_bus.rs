//! Two nodes on one PostgreSQL database and the NATS server (JetStream) at 127.0.0.1:4222: a
//! desktop connected to node A sees the presence change an agent makes through node B, and an
//! event published twice (a republish after a crash) reaches the nodes once. Each test run has
//! a stream of its own (its own `nats_prefix`), deleted at the end, pass or fail.

mod common;

use common::sip::TENANT;
use common::{TestApp, config_for};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use yunhu_cc::bus::{EventBus, FeedEvent, NatsBus};
use yunhu_core::ManualClock;
use yunhu_core::agent::AgentEventKind;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const NATS: &str = "nats://127.0.0.1:4222";

/// Fails at once, and says why, when no NATS server listens (CI starts one in `scripts/setup`).
async fn nats_is_up() {
    if tokio::net::TcpStream::connect("127.0.0.1:4222").await.is_err() {
        panic!("no NATS server on 127.0.0.1:4222: start one with JetStream (`nats-server -js`, or scripts/setup)");
    }
}

/// A prefix, hence a stream, of this run only.
fn run_prefix() -> String {
    format!("yunhutest{}x{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

/// Deletes the run's stream when dropped, also when the test fails.
struct DropStream(String);

impl Drop for DropStream {
    fn drop(&mut self) {
        let name = format!("{}_EVENTS", self.0.to_ascii_uppercase());
        // Its own thread and runtime: a drop cannot wait on the test's.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(client) = async_nats::connect(NATS).await {
                    let _ = async_nats::jetstream::new(client).delete_stream(name).await;
                }
            });
        })
        .join();
    }
}

async fn node(url: &str, prefix: &str, rtp: &str, clock: Arc<ManualClock>) -> TestApp {
    let mut config = config_for(url);
    config.nats_url = Some(NATS.into());
    config.nats_prefix = prefix.into();
    config.rtp_ports = rtp.into();
    // The nodes share the database, so they share the key its secrets are sealed with.
    config.master_key = Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into());
    let running =
        yunhu::start_with_clock(&config, clock.clone()).await.unwrap_or_else(|e| panic!("node starts: {e:#}"));
    TestApp { base: format!("http://{}", running.http_addr), clock, running, http: reqwest::Client::new(), config }
}

/// The next text frame within `until`, or `None`.
async fn frame(ws: &mut Socket, until: tokio::time::Instant) -> Option<Value> {
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Close(c)))) => panic!("the server closed the socket: {c:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_on_node_a_sees_a_presence_change_made_on_node_b_within_500_ms() {
    nats_is_up().await;
    let url = yunhu_store::testing::scratch_postgres_url().await.expect("scratch PostgreSQL database (is it up?)");
    let prefix = run_prefix();
    let _cleanup = DropStream(prefix.clone());
    let clock = Arc::new(ManualClock::new(chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap()));
    let a = node(&url, &prefix, "30000-31999", clock.clone()).await;
    let b = node(&url, &prefix, "32000-33999", clock.clone()).await;

    // The desk token is made on node A and kept in the shared store.
    let form = [("corp", "777777"), ("extno", "1001"), ("password", "desk-1001")];
    let login = a.send(a.http.post(a.url("/admin/agent/login")).form(&form)).await.json();
    let token = login["data"]["access_token"].as_str().expect("a desk token").to_string();
    let ws_url = format!("{}/agent/monitor?access_token={token}", a.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("node A's monitor accepts the token");
    // The snapshot first: frames until the socket is quiet.
    while frame(&mut ws, tokio::time::Instant::now() + Duration::from_millis(300)).await.is_some() {}

    // The agent logs in and goes not ready (reason 3) through node B's services.
    let svc_b = &b.running.services;
    svc_b.set_presence(TENANT, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    let started = tokio::time::Instant::now();
    svc_b.set_presence(TENANT, "1001", AgentEventKind::AgentNotReady { reason: "3".into() }).await.unwrap();
    let head = svc_b.desk_feed_head(TENANT, "1001").await.unwrap();
    let deadline = started + Duration::from_millis(500);
    let seen = loop {
        let f = frame(&mut ws, deadline).await.unwrap_or_else(|| {
            panic!("node A's desktop got no frame of node B's not-ready event (id {head}) within 500 ms")
        });
        if f["method"] == "notice" && f["seq"] == head {
            break f;
        }
    };
    let took = started.elapsed();
    assert_eq!((&seen["status"], &seen["reason"]), (&serde_json::json!(2), &serde_json::json!("3")), "{seen}");
    eprintln!("node B's event reached node A's desktop in {took:?}");

    a.running.stop().await;
    b.running.stop().await;
}

#[tokio::test]
async fn an_event_published_twice_reaches_each_node_once() {
    nats_is_up().await;
    let prefix = run_prefix();
    let _cleanup = DropStream(prefix.clone());
    let writer = NatsBus::connect(NATS, &prefix).await.expect("the bus connects");
    let reader = NatsBus::connect(NATS, &prefix).await.expect("the bus connects");
    let mut rx = reader.subscribe();
    let event = |id: i64| {
        Arc::new(FeedEvent {
            id,
            tenant: TENANT,
            stream: "agent/1001".into(),
            kind: "agent_ready".into(),
            at: 1_795_000_000_000,
            data: "{}".into(),
        })
    };
    // The same event again, as a node that crashed between publishing and its acknowledgement
    // publishes it once more; then another, which marks the end.
    writer.publish(vec![event(41)]);
    writer.publish(vec![event(41)]);
    writer.publish(vec![event(42)]);
    let mut ids = Vec::new();
    while ids.last() != Some(&42) {
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("the events reach the other bus within 5 s; so far {ids:?}"))
            .expect("a bus event");
        ids.push(e.id);
    }
    assert_eq!(ids, [41, 42], "the republished event is delivered once");
}
