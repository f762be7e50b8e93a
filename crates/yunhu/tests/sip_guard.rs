//! SIP password guessing against the real server, from raw UDP sockets: a guesser is banned after
//! its failures, the ban answers exactly like a wrong password, other sources go on, and an
//! extension guessed from many addresses is closed to new sources but not to its own phone.

mod common;

use chrono::TimeZone;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use yunhu_sip::digest::{DigestParams, expected_response};

const REALM: &str = "777777.yunhu";

/// A phone (or a guesser) on one UDP socket, speaking REGISTER by hand.
struct Peer {
    sock: UdpSocket,
    sip: SocketAddr,
    cseq: u32,
}

impl Peer {
    async fn on(ip: &str, sip: SocketAddr) -> Peer {
        Peer { sock: UdpSocket::bind((ip, 0)).await.expect("loopback address"), sip, cseq: 0 }
    }

    /// Sends a REGISTER for `user` (with `auth` as its Authorization header) and returns the answer.
    async fn register(&mut self, user: &str, auth: Option<String>) -> String {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let req = format!(
            "REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-g{}-{};rport\r\n\
             From: <sip:{user}@{REALM}>;tag=guess\r\nTo: <sip:{user}@{REALM}>\r\nCall-ID: guess-{}@{}\r\n\
             CSeq: {} REGISTER\r\nContact: <sip:{user}@{local}>\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n",
            local.port(),
            self.cseq,
            local.port(),
            local.ip(),
            self.cseq,
        );
        self.sock.send_to(req.as_bytes(), self.sip).await.unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), self.sock.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A full login attempt: the challenge, then the digest of `password`.
    async fn login(&mut self, user: &str, password: &str) -> String {
        let challenge = self.register(user, None).await;
        assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
        let nonce = challenge.split("nonce=\"").nth(1).and_then(|r| r.split('"').next()).expect("a nonce").to_string();
        let mut p = DigestParams {
            username: user.into(),
            realm: REALM.into(),
            nonce,
            uri: format!("sip:{REALM}"),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("c0ffee".into()),
        };
        let ha1 = yunhu_cc::secrets::sip_ha1(user, REALM, password);
        p.response = expected_response(&ha1, "REGISTER", &p);
        let auth = format!(
            "Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm=MD5, \
             qop=auth, nc=00000001, cnonce=\"c0ffee\"",
            p.username, p.nonce, p.uri, p.response
        );
        self.register(user, Some(auth)).await
    }
}

/// The answer with what differs per request (branch, tags, sequence numbers, the user) blanked.
fn shape(answer: &str, user: &str) -> String {
    answer
        .lines()
        .map(|l| {
            let l = l.replace(user, "USER");
            let mut out = String::new();
            for (i, part) in l.split(';').enumerate() {
                if i > 0 {
                    out.push(';');
                }
                match part.split_once('=') {
                    Some((k, _)) if k == "branch" || k == "tag" => out.push_str(&format!("{k}=*")),
                    _ => out.push_str(part),
                }
            }
            if out.starts_with("CSeq:") || out.starts_with("Via:") || out.starts_with("Call-ID:") {
                out.split(' ').next().unwrap_or_default().to_string()
            } else {
                out
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn start(per_source: u32, per_extension: u32) -> common::TestApp {
    let clock = Arc::new(yunhu_core::ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()));
    let mut config = common::config_for(&yunhu_store::testing::scratch_sqlite_url());
    config.sip_auth_failures_per_source = per_source;
    config.sip_auth_failures_per_extension = per_extension;
    let running = yunhu::start_with_clock(&config, clock.clone()).await.expect("server starts");
    common::TestApp {
        base: format!("http://{}", running.http_addr),
        clock,
        running,
        http: reqwest::Client::new(),
        config,
    }
}

#[tokio::test]
async fn a_password_guesser_is_banned_and_cannot_tell() {
    // The defaults: 10 failures a minute from one address.
    let app = start(10, 30).await;
    let sip = app.running.sip_addr.unwrap();
    let mut guesser = Peer::on("127.0.0.1", sip).await;
    let mut wrong = String::new();
    for i in 0..10 {
        let answer = guesser.login("1001", &format!("guess{i}")).await;
        assert!(answer.starts_with("SIP/2.0 403"), "guess {i}: {answer}");
        wrong = answer;
    }
    // The right password, from the banned address, is refused unchecked, with the same answer.
    let banned = guesser.login("1001", "1001pw").await;
    assert!(banned.starts_with("SIP/2.0 403"), "banned source: {banned}");
    assert_eq!(shape(&banned, "1001"), shape(&wrong, "1001"), "a ban reads exactly like a wrong password");
    let unknown = guesser.login("9999", "x").await;
    assert_eq!(shape(&unknown, "9999"), shape(&wrong, "1001"), "and like an unknown extension");
    assert!(!wrong.contains("Authenticate"), "no fresh challenge on a failure: {wrong}");
    // Another address is not affected.
    let mut phone = Peer::on("127.0.0.2", sip).await;
    let ok = phone.login("1001", "1001pw").await;
    assert!(ok.starts_with("SIP/2.0 200"), "another source logs in: {ok}");
    app.running.stop().await;
}

#[tokio::test]
async fn an_extension_guessed_from_many_addresses_is_closed_to_new_ones_only() {
    let app = start(100, 5).await;
    let sip = app.running.sip_addr.unwrap();
    let mut phone = Peer::on("127.0.0.2", sip).await;
    assert!(phone.login("1002", "1002pw").await.starts_with("SIP/2.0 200"));
    for i in 0..5u8 {
        let mut guesser = Peer::on(&format!("127.0.1.{}", i + 1), sip).await;
        assert!(guesser.login("1002", "guess").await.starts_with("SIP/2.0 403"));
    }
    let mut newcomer = Peer::on("127.0.2.1", sip).await;
    let refused = newcomer.login("1002", "1002pw").await;
    assert!(refused.starts_with("SIP/2.0 403"), "a new source, even with the password: {refused}");
    let ok = newcomer.login("1001", "1001pw").await;
    assert!(ok.starts_with("SIP/2.0 200"), "other extensions are open: {ok}");
    let again = phone.login("1002", "1002pw").await;
    assert!(again.starts_with("SIP/2.0 200"), "the phone that logged in before keeps going: {again}");
    app.running.stop().await;
}

/// RFC 4475 (© The Internet Society 2006) `regaut01` (an Authorization header in a scheme nobody knows): the request
/// carries no credentials we understand, so it is challenged (401), not refused (403). The
/// message is the RFC's, with its Via pointed at our socket so the answer comes back over UDP.
#[tokio::test]
async fn credentials_in_an_unknown_scheme_are_challenged() {
    let app = start(10, 30).await;
    let sip = app.running.sip_addr.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let req = format!(
        "REGISTER sip:example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n\
         From: sip:j.user@example.com;tag=87321hj23128\r\nMax-Forwards: 8\r\nCall-ID: regaut01.0ha0isndaksdj\r\n\
         CSeq: 9338 REGISTER\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKKdjuw;rport\r\n\
         Authorization: NoOneKnowsThisScheme opaque-data=here\r\nContent-Length:0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), sip).await.unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) =
        tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.expect("an answer").unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 401"), "{answer}");
    assert!(answer.contains("WWW-Authenticate: Digest realm=\"example.com\""), "{answer}");
    app.running.stop().await;
}
