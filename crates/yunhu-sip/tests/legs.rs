//! Call legs against real SIP peers: sipp plays the callee of an outgoing leg and the phone that
//! calls in, and checks what yunhu sends (directions, SDP versions, session-timer headers,
//! NOTIFYs) with its own assertions; the tests check what the facade reports.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use yunhu_sip::{
    BoxFuture, Credentials, Dial, Direction, Directory, EndedBy, IncomingCall, LegEvent, OutgoingLeg, Replaces,
    SipConfig, SipEvent, SipStack,
};

/// Every source is a trunk: calls come in without digest (the registrar is not under test).
struct AnyTrunk;

impl Directory for AnyTrunk {
    fn credentials<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Option<Credentials>> {
        Box::pin(async { None })
    }

    fn trunk_of(&self, _: SocketAddr) -> BoxFuture<'_, Option<(i64, String)>> {
        Box::pin(async { Some((1, "sipp".to_string())) })
    }
}

/// yunhu's SDP in these tests; version 1, sendrecv.
const SDP: &str = "v=0\r\no=yunhu 42 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n";

/// A stack on a free port; with `timers`, a 4 s session interval and a 2 s minimum.
async fn stack(timers: bool) -> (SipStack, mpsc::UnboundedReceiver<SipEvent>) {
    let mut config = SipConfig { listen: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
    if timers {
        config.session_expires = Duration::from_secs(4);
        config.min_se = Duration::from_secs(2);
    }
    SipStack::start(config, Arc::new(AnyTrunk)).await.unwrap()
}

/// A free UDP port with the next seven free too (sipp takes 2 up for audio RTP and RTCP, and the
/// two after for video), below the kernel's ephemeral range and apart from the ranges other test
/// suites take.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(30000);
    loop {
        let p = NEXT.fetch_add(8, Ordering::Relaxed);
        assert!(p < 32700, "test port range exhausted");
        if (p..p + 8).all(|q| UdpSocket::bind(("127.0.0.1", q)).is_ok()) {
            return p;
        }
    }
}

struct Sipp {
    child: Child,
    name: &'static str,
    port: u16,
    errors: PathBuf,
    messages: PathBuf,
}

/// sipp running `scenario` (in tests/sipp) for one call, as a callee when `call` is `None`, else
/// calling `call`'s address for user 1000.
fn sipp(name: &'static str, call: Option<SocketAddr>, extra: &[&str]) -> Sipp {
    let port = free_port();
    let dir = std::env::temp_dir();
    let errors = dir.join(format!("yunhu-sip-{name}-{}-{port}.err", std::process::id()));
    let messages = dir.join(format!("yunhu-sip-{name}-{}-{port}.msg", std::process::id()));
    let scenario = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp")).join(format!("{name}.xml"));
    let mut cmd = Command::new("sipp");
    if let Some(addr) = call {
        cmd.arg(addr.to_string()).args(["-s", "1000"]);
    }
    let child = cmd
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &(port + 2).to_string(), "-m", "1"])
        .args(extra)
        .args(["-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-error_file"])
        .arg(&errors)
        .args(["-trace_msg", "-message_file"])
        .arg(&messages)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (Debian package sip-tester)");
    Sipp { child, name, port, errors, messages }
}

impl Sipp {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn print_logs(&self) {
        eprintln!(
            "sipp {}:\n{}\n--- messages ---\n{}",
            self.name,
            std::fs::read_to_string(&self.errors).unwrap_or_default(),
            std::fs::read_to_string(&self.messages).unwrap_or_default()
        );
    }

    /// sipp's exit status once it ends, with its errors and messages printed when it failed.
    async fn wait(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(35);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    self.print_logs();
                }
                return status;
            }
            assert!(Instant::now() < deadline, "sipp {} did not finish", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.errors);
        let _ = std::fs::remove_file(&self.messages);
    }
}

/// What `f` yields within `secs` seconds; fails the test otherwise.
async fn within<T>(secs: u64, what: &str, f: impl Future<Output = Option<T>>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("{what}: the stream ended"),
        Err(_) => panic!("{what}: nothing within {secs} s"),
    }
}

fn dial(stack: &SipStack, to: SocketAddr) -> OutgoingLeg {
    stack
        .dial(Dial {
            request_uri: format!("sip:callee@{to}"),
            destination: to,
            tcp: false,
            from_user: "yunhu".into(),
            from_domain: "127.0.0.1".into(),
            display_name: None,
            sdp: SDP.into(),
            headers: Vec::new(),
        })
        .unwrap()
}

/// Dials `to` and waits for its answer.
async fn answered(stack: &SipStack, to: SocketAddr) -> OutgoingLeg {
    let mut leg = dial(stack, to);
    loop {
        match within(10, "answer", leg.next()).await {
            LegEvent::Ringing => continue,
            LegEvent::Answered { .. } => return leg,
            other => panic!("expected the answer, got {other:?}"),
        }
    }
}

/// The next incoming call, answered with [`SDP`].
async fn incoming(events: &mut mpsc::UnboundedReceiver<SipEvent>) -> IncomingCall {
    loop {
        if let SipEvent::IncomingCall(call) = within(10, "incoming call", events.recv()).await {
            assert_eq!(call.dialed, "1000");
            call.leg.answer(SDP);
            return call;
        }
    }
}

#[tokio::test]
async fn reinvite_holds_and_resumes_an_outgoing_leg() {
    let (stack, _events) = stack(false).await;
    let callee = sipp("uas_hold", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = answered(&stack, callee.addr()).await;
    let control = leg.control();
    // The caller leaves the origin version alone; sipp checks that yunhu raised it (2, then 3).
    let held = control.reinvite(&SDP.replace("a=sendrecv", "a=sendonly")).await.unwrap();
    assert_eq!(Direction::of_sdp(&held), Direction::RecvOnly, "{held}");
    let resumed = control.reinvite(SDP).await.unwrap();
    assert_eq!(Direction::of_sdp(&resumed), Direction::SendRecv, "{resumed}");
    control.hangup().await;
    assert_eq!(within(10, "end", leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Local });
    assert_eq!(leg.next().await, None, "nothing after the end");
    assert!(callee.wait().await.success());
}

#[tokio::test]
async fn a_phone_holding_and_resuming_is_reported_and_answered_in_the_mirrored_direction() {
    let (stack, mut events) = stack(false).await;
    let phone = sipp("phone_hold", Some(stack.local_addr()), &[]);
    let mut call = incoming(&mut events).await;
    match within(10, "hold", call.leg.next()).await {
        LegEvent::Reoffer { sdp, direction } => {
            assert_eq!(direction, Direction::SendOnly);
            assert!(sdp.contains("a=sendonly"), "{sdp}");
        }
        other => panic!("expected the hold, got {other:?}"),
    }
    match within(10, "resume", call.leg.next()).await {
        LegEvent::Reoffer { direction, .. } => assert_eq!(direction, Direction::SendRecv),
        other => panic!("expected the resume, got {other:?}"),
    }
    // The third re-INVITE repeats the SDP: answered (sipp checks) but not reported.
    assert_eq!(within(10, "end", call.leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Remote });
    assert!(phone.wait().await.success());
}

#[tokio::test]
async fn info_dtmf_is_reported_and_other_info_refused() {
    let (stack, mut events) = stack(false).await;
    let phone = sipp("phone_dtmf", Some(stack.local_addr()), &[]);
    let mut call = incoming(&mut events).await;
    assert_eq!(within(10, "first key", call.leg.next()).await, LegEvent::Dtmf { digit: '5' });
    assert_eq!(within(10, "second key", call.leg.next()).await, LegEvent::Dtmf { digit: '#' });
    assert_eq!(within(10, "end", call.leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Remote });
    assert!(phone.wait().await.success());
}

#[tokio::test]
async fn a_blind_transfer_is_accepted_reported_and_its_outcome_notified() {
    let (stack, mut events) = stack(false).await;
    let phone = sipp("phone_refer", Some(stack.local_addr()), &["-set", "replaces", ""]);
    let mut call = incoming(&mut events).await;
    assert_eq!(within(10, "refer", call.leg.next()).await, LegEvent::Refer { target: "2001".into(), replaces: None });
    call.leg.control().notify_refer(200).await;
    assert_eq!(within(10, "end", call.leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Remote });
    assert!(phone.wait().await.success());
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_attended_transfer_names_the_leg_it_replaces() {
    let (stack, mut events) = stack(false).await;
    // The leg to be replaced: its dialog goes into the phone's Refer-To as an attended transfer's
    // Replaces does, with yunhu's tag as to-tag.
    let other = sipp("uas_plain", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other_leg = answered(&stack, other.addr()).await;
    let (call_id, ours, theirs) = other_leg.control().dialog_ids();
    assert!(!call_id.is_empty() && !ours.is_empty() && !theirs.is_empty());
    let replaces = format!("?Replaces={}%3Bto-tag%3D{}%3Bfrom-tag%3D{}", percent_encode(&call_id), ours, theirs);
    let phone = sipp("phone_refer", Some(stack.local_addr()), &["-set", "replaces", &replaces]);
    let mut call = incoming(&mut events).await;
    let expected = Replaces { call_id, to_tag: ours, from_tag: theirs };
    assert_eq!(
        within(10, "refer", call.leg.next()).await,
        LegEvent::Refer { target: "2001".into(), replaces: Some(expected) }
    );
    call.leg.control().notify_refer(200).await;
    assert_eq!(within(10, "end", call.leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Remote });
    assert!(phone.wait().await.success());
    other_leg.control().hangup().await;
    assert_eq!(within(10, "other end", other_leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Local });
    assert!(other.wait().await.success());
}

#[tokio::test]
async fn a_session_timer_refreshes_a_live_callee_and_keeps_the_call() {
    let (stack, _events) = stack(true).await;
    let callee = sipp("uas_timer_alive", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = answered(&stack, callee.addr()).await;
    // Refreshes at about 2 s and 4 s (sipp wants exactly two, answered 200): the leg stays up.
    let quiet = tokio::time::timeout(Duration::from_millis(5000), leg.next()).await;
    assert!(quiet.is_err(), "the leg reported {quiet:?}");
    leg.control().hangup().await;
    assert_eq!(within(10, "end", leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Local });
    assert!(callee.wait().await.success());
}

#[tokio::test]
async fn a_refresh_answered_481_ends_the_leg_408() {
    let (stack, _events) = stack(true).await;
    let callee = sipp("uas_timer_481", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = answered(&stack, callee.addr()).await;
    let t0 = Instant::now();
    assert_eq!(within(10, "end", leg.next()).await, LegEvent::Ended { status: 408, by: EndedBy::Network });
    let after = t0.elapsed();
    assert!(after > Duration::from_millis(1500) && after < Duration::from_millis(3500), "{after:?}");
    // sipp wants the BYE that follows.
    assert!(callee.wait().await.success());
}

#[tokio::test]
async fn a_callee_that_stops_answering_is_ended_408_when_the_session_expires() {
    let (stack, _events) = stack(true).await;
    let callee = sipp("uas_timer_silent", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = answered(&stack, callee.addr()).await;
    let t0 = Instant::now();
    assert_eq!(within(10, "end", leg.next()).await, LegEvent::Ended { status: 408, by: EndedBy::Network });
    // Refresh at 2 s, given until the 4 s interval is over.
    let after = t0.elapsed();
    assert!(after > Duration::from_millis(3500) && after < Duration::from_millis(5500), "{after:?}");
    assert!(callee.wait().await.success());
}

#[tokio::test]
async fn a_callee_without_timers_is_not_refreshed() {
    let (stack, _events) = stack(true).await;
    let callee = sipp("uas_plain", None, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = answered(&stack, callee.addr()).await;
    // Longer than a refresh would wait; sipp fails on any re-INVITE.
    let quiet = tokio::time::timeout(Duration::from_millis(3500), leg.next()).await;
    assert!(quiet.is_err(), "the leg reported {quiet:?}");
    leg.control().hangup().await;
    assert_eq!(within(10, "end", leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Local });
    assert!(callee.wait().await.success());
}

#[tokio::test]
async fn an_incoming_call_asking_for_a_timer_is_agreed_and_refreshed() {
    let (stack, mut events) = stack(true).await;
    let phone = sipp("phone_timer", Some(stack.local_addr()), &[]);
    let mut call = incoming(&mut events).await;
    // sipp checks the 200's Session-Expires and Require, and wants yunhu's refresh before it hangs
    // up; the refresh is no re-offer of the phone's, so nothing but the end is reported.
    assert_eq!(within(10, "end", call.leg.next()).await, LegEvent::Ended { status: 200, by: EndedBy::Remote });
    assert!(phone.wait().await.success());
}

#[tokio::test]
async fn an_interval_below_the_minimum_is_refused_422() {
    let (stack, mut events) = stack(true).await;
    let phone = sipp("phone_422", Some(stack.local_addr()), &[]);
    assert!(phone.wait().await.success());
    assert!(events.try_recv().is_err(), "no call is offered");
}
