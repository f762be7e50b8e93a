//! Wrong secrets cannot starve the server: password checks run on a bounded pool of their own and
//! a full queue is refused at once, in the dialect's own envelope; a client and source that keep
//! failing back off; SIP keeps answering during a burst.

mod common;

use chrono::TimeZone;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start(threads: usize, queue: usize) -> common::TestApp {
    let clock = Arc::new(yunhu_core::ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()));
    let mut config = common::config_for(&yunhu_store::testing::scratch_sqlite_url());
    config.password_threads = threads;
    config.password_queue = queue;
    let running = yunhu::start_with_clock(&config, clock.clone()).await.expect("server starts");
    common::TestApp {
        base: format!("http://{}", running.http_addr),
        clock,
        running,
        http: reqwest::Client::new(),
        config,
    }
}

/// Threads of this process whose name starts with `prefix` (the server runs in-process).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

async fn token_request(app: &common::TestApp, client: &str, secret: &str) -> (StatusCode, Value, Option<String>) {
    let form = [("client_id", client), ("client_secret", secret), ("grant_type", "client_credentials")];
    let r = app.http.post(app.url("/oauth/token")).form(&form).send().await.unwrap();
    let status = r.status();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

/// Sends an OPTIONS from a raw socket and waits for any answer (yunhu challenges strangers).
async fn options_answered(sip: std::net::SocketAddr, n: u32) -> String {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:777777.yunhu SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-opt{n}\r\n\
         From: <sip:probe@777777.yunhu>;tag=p{n}\r\nTo: <sip:777777.yunhu>\r\nCall-ID: opt{n}@probe\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), sip).await.unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) =
        tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf)).await.expect("SIP answers").unwrap();
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

// One test, two servers in turn: the password threads are counted by name in this process, so
// no other server may be running beside the burst.
#[tokio::test]
async fn wrong_secrets_are_bounded_refused_in_envelopes_and_back_off() {
    a_burst_of_wrong_secrets_is_bounded_and_refused_in_the_envelope().await;
    a_client_that_keeps_failing_backs_off_in_each_dialect().await;
}

async fn a_burst_of_wrong_secrets_is_bounded_and_refused_in_the_envelope() {
    let app = start(1, 2).await;
    let sip = app.running.sip_addr.unwrap();
    assert_eq!(app.running.services.password_limits(), (1, 2));
    // Forty clients at once, each with its own id so no backoff is involved: only the pool's bound.
    let burst: Vec<_> = (0..40)
        .map(|i| {
            let (http, url) = (app.http.clone(), app.url("/oauth/token"));
            tokio::spawn(async move {
                let client = format!("burst{i}");
                let form =
                    [("client_id", client.as_str()), ("client_secret", "wrong"), ("grant_type", "client_credentials")];
                let r = http.post(url).form(&form).send().await.unwrap();
                let status = r.status();
                let retry = r.headers().get("retry-after").is_some();
                (status, r.json::<Value>().await.unwrap(), retry)
            })
        })
        .collect();
    // SIP is served while the burst runs.
    let answer = options_answered(sip, 1).await;
    assert!(answer.starts_with("SIP/2.0 407"), "{answer}");
    assert_eq!(threads_named("yunhu-password"), 1, "password checks run on exactly the configured threads");
    let (mut refused, mut busy) = (0, 0);
    for task in burst {
        let (status, body, retry) = task.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => {
                assert_eq!(body["error"], "invalid_client", "{body}");
                refused += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                // RFC 6749's error envelope, as every other oauth error.
                assert_eq!(body["error"], "temporarily_unavailable", "{body}");
                assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
                assert!(retry, "a busy answer says when to come back");
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy > 0, "a full queue refuses at once ({refused} checked, {busy} busy)");
    assert!(refused >= 1, "checks still run ({refused} checked, {busy} busy)");
    // The right secret still works once the burst is over.
    let (status, body, _) = token_request(&app, "demo", "demo-secret").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.running.stop().await;
}

async fn a_client_that_keeps_failing_backs_off_in_each_dialect() {
    let app = start(1, 16).await;
    for i in 0..5 {
        let (status, body, _) = token_request(&app, "demo", &format!("guess{i}")).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{i}");
    }
    // Past the free failures the client waits: even the right secret is not checked yet.
    let (status, body, retry) = token_request(&app, "demo", "guess5").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the sixth failure is still checked: {body}");
    let (status, body, _) = token_request(&app, "demo", "demo-secret").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")));
    assert!(retry.is_none());
    // The action dialect answers the source's backoff in its own envelope.
    let action = app
        .http
        .post(app.url("/action"))
        .form(&[("action", "ExtenStatus"), ("companyid", "777777"), ("auth", "whatever"), ("staffid", "1001")])
        .send()
        .await
        .unwrap();
    let v: Value = action.json().await.unwrap();
    assert_eq!(v["errno"], "3", "{v}");
    assert!(v["message"].as_str().unwrap().contains("稍后"), "{v}");
    // After the wait the right secret is checked and accepted.
    app.clock.advance(chrono::Duration::seconds(2));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, _) = token_request(&app, "demo", "demo-secret").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never let back in: {body}");
        app.clock.advance(chrono::Duration::seconds(2));
    }
    app.running.stop().await;
}
