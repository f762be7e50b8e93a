//! Rooms of three legs on loopback: fake phones send a sine tone each as 20 ms G.711 packets, and
//! what each phone receives is checked for every tone with a Goertzel filter. Covers the meeting,
//! the supervisor's listen, whisper and barge switched on a live call, hold with music and its
//! recording, legs added and removed, the silence watch, the two-party fast path, and a leg
//! latching again when it is given a new far end.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use yunhu_media::g711::Codec;
use yunhu_media::ports::PortPool;
use yunhu_media::relay::{LegId, LegMedia, MediaEvent, MediaSession};
use yunhu_media::rtp::RtpPacket;

const AGENT: f64 = 440.0;
const CUSTOMER: f64 = 700.0;
const SUPERVISOR: f64 = 1100.0;
const MUSIC: f64 = 1500.0;
/// Peak of every phone's tone.
const LEVEL: f64 = 4000.0;
/// A tone is heard when its mean amplitude over the received frames reaches this share of
/// [`LEVEL`] (a frame now and then misses a speaker when its packet comes just after the mix
/// tick), and not heard below [`ABSENT`].
const PRESENT: f64 = 0.35;
const ABSENT: f64 = 0.08;

fn ip() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

/// The amplitude of `freq` in one block, through a Hann window (so the other tones, 260 Hz or
/// more away, leak nothing measurable into the bin).
fn goertzel(block: &[i16], freq: f64) -> f64 {
    let n = block.len() as f64;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for (i, x) in block.iter().enumerate() {
        let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1.0)).cos();
        let s = f64::from(*x) * window + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A sine of amplitude A gives |X| = A·N/4 under a Hann window.
    power.max(0.0).sqrt() * 4.0 / n
}

/// The mean amplitude of `freq` over 20 ms blocks of audio (no blocks: nothing heard).
fn level(blocks: &[Vec<i16>], freq: f64) -> f64 {
    let blocks: Vec<&Vec<i16>> = blocks.iter().filter(|b| b.len() >= 80).collect();
    if blocks.is_empty() {
        return 0.0;
    }
    blocks.iter().map(|b| goertzel(b, freq)).sum::<f64>() / blocks.len() as f64
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// A recording's left and right channels.
fn channels(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
    let (channels, samples) = yunhu_media::wav::read(path).unwrap();
    assert_eq!(channels, 2);
    (samples.iter().step_by(2).copied().collect(), samples.iter().skip(1).step_by(2).copied().collect())
}

/// The 20 ms blocks of a stretch of recording.
fn blocks(samples: &[i16]) -> Vec<Vec<i16>> {
    samples.chunks(160).map(<[i16]>::to_vec).collect()
}

/// How far inside a stretch of a recording to look: the file runs on the wall clock from about
/// when sending began, and this covers the alignment of its lanes and a command's way to the
/// media thread.
const MARGIN: Duration = Duration::from_millis(300);

/// The recording's sample index `d` after sending began.
fn at(d: Duration) -> usize {
    d.as_millis() as usize * 8
}

fn tone(freq: f64, from: usize, len: usize) -> Vec<i16> {
    (from..from + len)
        .map(|n| (LEVEL * (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin()).round() as i16)
        .collect()
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpPacket { payload_type: pt, marker, sequence: seq, timestamp: ts, ssrc, payload }.write(&mut out);
    out
}

/// A phone: sends its tone every 20 ms while `sending`, keeps the audio it receives.
struct Phone {
    socket: Arc<UdpSocket>,
    codec: Codec,
    /// Decoded payloads received, one block per packet.
    heard: Arc<Mutex<Vec<Vec<i16>>>>,
    sending: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Phone {
    async fn new(codec: Codec) -> Phone {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (rx, log) = (socket.clone(), heard.clone());
        let receiver = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, _)) = rx.recv_from(&mut buf).await {
                let Some(p) = RtpPacket::parse(&buf[..n]) else { continue };
                if let Some(c) = Codec::from_payload_type(p.payload_type) {
                    log.lock().unwrap().push(p.payload.iter().map(|b| c.decode(*b)).collect());
                }
            }
        });
        Phone { socket, codec, heard, sending: Arc::new(AtomicBool::new(true)), tasks: vec![receiver] }
    }

    fn media(&self) -> LegMedia {
        LegMedia { remote: self.socket.local_addr().unwrap(), codec: self.codec, telephone_event: Some(101) }
    }

    /// Starts sending `freq` to `to`.
    fn talk(&mut self, freq: f64, to: SocketAddr) {
        let (tx, codec, sending) = (self.socket.clone(), self.codec, self.sending.clone());
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0u32.. {
                tick.tick().await;
                if !sending.load(Ordering::Relaxed) {
                    continue;
                }
                let samples = tone(freq, i as usize * 160, 160);
                let payload: Vec<u8> = samples.iter().map(|s| codec.encode(*s)).collect();
                let _ = tx.send_to(&packet(codec.payload_type(), i as u16, i * 160, 42, i == 0, &payload), to).await;
            }
        }));
    }

    fn take(&self) -> Vec<Vec<i16>> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Lets a change settle, then collects what every phone receives for most of a second.
async fn listen(phones: &[&Phone]) -> Vec<Vec<Vec<i16>>> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    for p in phones {
        p.take();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    phones.iter().map(|p| p.take()).collect()
}

/// Asserts which tones `who` hears (`yes`) and which it does not (`no`).
fn hears(who: &str, blocks: &[Vec<i16>], yes: &[f64], no: &[f64]) {
    for f in yes {
        let l = level(blocks, *f);
        assert!(l >= PRESENT * LEVEL, "{who} should hear {f} Hz: level {l:.0} over {} packets", blocks.len());
    }
    for f in no {
        let l = level(blocks, *f);
        assert!(l <= ABSENT * LEVEL, "{who} should not hear {f} Hz: level {l:.0} over {} packets", blocks.len());
    }
}

/// A session of three legs (agent A on PCMU, customer B on PCMA, a third leg on PCMU), each with
/// a phone sending its tone. The third leg hears nobody yet.
async fn three(pool: &PortPool) -> (MediaSession, [Phone; 3], mpsc::UnboundedReceiver<MediaEvent>) {
    let (tx, events) = mpsc::unbounded_channel();
    let mut session = MediaSession::open(pool, ip(), tx).unwrap();
    let c = session.add_leg(pool, ip()).unwrap();
    assert_eq!(c, LegId(2));
    let mut phones = [Phone::new(Codec::Pcmu).await, Phone::new(Codec::Pcma).await, Phone::new(Codec::Pcmu).await];
    for ((leg, phone), freq) in [LegId::A, LegId::B, c].into_iter().zip(&mut phones).zip([AGENT, CUSTOMER, SUPERVISOR])
    {
        session.set_remote(leg, phone.media()).await;
        phone.talk(freq, session.local_addr(leg));
    }
    (session, phones, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_of_three_hears_the_other_two() {
    let pool = PortPool::new(43000, 43100);
    let (session, [a, b, c], _events) = three(&pool).await;
    let (la, lb, lc) = (LegId::A, LegId::B, LegId(2));
    session.set_hearing(la, vec![lb, lc]);
    session.set_hearing(lb, vec![la, lc]);
    session.set_hearing(lc, vec![la, lb]);
    let got = listen(&[&a, &b, &c]).await;
    hears("A", &got[0], &[CUSTOMER, SUPERVISOR], &[AGENT]);
    hears("B", &got[1], &[AGENT, SUPERVISOR], &[CUSTOMER]);
    hears("C", &got[2], &[AGENT, CUSTOMER], &[SUPERVISOR]);
    // A mix is one stream, 20 ms a packet, not the speakers' packets side by side.
    assert!(got[0].len() <= 45, "A got {} packets in 800 ms", got[0].len());
    let end = session.stop().await;
    assert_eq!(end.stats.received.len(), 3);
    assert!(end.stats.forwarded.iter().all(|f| *f > 0), "{:?}", end.stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_listens_then_whispers_then_barges_in() {
    let pool = PortPool::new(43200, 43300);
    let dir = std::env::temp_dir().join(format!("yunhu-room-spy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (session, [agent, customer, supervisor], _events) = three(&pool).await;
    session.record(dir.join("spy.wav"), LegId::B).await;
    let started = Instant::now();
    let (a, b, s) = (LegId::A, LegId::B, LegId(2));
    let phones = [&agent, &customer, &supervisor];
    let mut marks = Vec::new();

    // Before anything is set, the new leg is in nobody's ears and hears nothing.
    let got = listen(&phones).await;
    hears("agent", &got[0], &[CUSTOMER], &[SUPERVISOR, AGENT]);
    hears("customer", &got[1], &[AGENT], &[SUPERVISOR, CUSTOMER]);
    assert!(got[2].is_empty(), "the new leg got {} packets", got[2].len());

    marks.push(started.elapsed());
    // Listen: the supervisor hears both; nobody hears the supervisor.
    session.set_hearing(s, vec![a, b]);
    let got = listen(&phones).await;
    hears("agent (listen)", &got[0], &[CUSTOMER], &[SUPERVISOR]);
    hears("customer (listen)", &got[1], &[AGENT], &[SUPERVISOR]);
    hears("supervisor (listen)", &got[2], &[AGENT, CUSTOMER], &[SUPERVISOR]);

    marks.push(started.elapsed());
    // Whisper: the agent hears the supervisor too; the customer still does not.
    session.set_hearing(a, vec![b, s]);
    let got = listen(&phones).await;
    hears("agent (whisper)", &got[0], &[CUSTOMER, SUPERVISOR], &[AGENT]);
    hears("customer (whisper)", &got[1], &[AGENT], &[SUPERVISOR]);
    hears("supervisor (whisper)", &got[2], &[AGENT, CUSTOMER], &[SUPERVISOR]);

    marks.push(started.elapsed());
    // Barge: everyone hears everyone else.
    session.set_hearing(b, vec![a, s]);
    let got = listen(&phones).await;
    hears("agent (barge)", &got[0], &[CUSTOMER, SUPERVISOR], &[AGENT]);
    hears("customer (barge)", &got[1], &[AGENT, SUPERVISOR], &[CUSTOMER]);
    hears("supervisor (barge)", &got[2], &[AGENT, CUSTOMER], &[SUPERVISOR]);

    marks.push(started.elapsed());
    // And back to listen.
    session.set_hearing(a, vec![b]);
    session.set_hearing(b, vec![a]);
    let got = listen(&phones).await;
    hears("agent (listen again)", &got[0], &[CUSTOMER], &[SUPERVISOR]);
    hears("customer (listen again)", &got[1], &[AGENT], &[SUPERVISOR]);
    let info = session.stop().await.recording.unwrap().unwrap();

    // The recording: the customer on the left throughout; on the right the agent, and the
    // supervisor only while someone hears it (whisper and barge, not listen).
    let (left, right) = channels(&info.path);
    let stretch = |i: usize| at(marks[i] + MARGIN)..at(marks[i + 1] - MARGIN);
    for (name, i, supervisor_heard) in [("listen", 0, false), ("whisper", 1, true), ("barge", 2, true)] {
        let (on_right, not_right) = if supervisor_heard {
            (vec![AGENT, SUPERVISOR], vec![CUSTOMER])
        } else {
            (vec![AGENT], vec![SUPERVISOR, CUSTOMER])
        };
        hears(&format!("left ({name})"), &blocks(&left[stretch(i)]), &[CUSTOMER], &[AGENT, SUPERVISOR]);
        hears(&format!("right ({name})"), &blocks(&right[stretch(i)]), &on_right, &not_right);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_plays_music_to_the_customer_and_records_silence() {
    let pool = PortPool::new(43400, 43500);
    let (tx, _events) = mpsc::unbounded_channel();
    let session = MediaSession::open(&pool, ip(), tx).unwrap();
    let (mut agent, mut customer) = (Phone::new(Codec::Pcmu).await, Phone::new(Codec::Pcma).await);
    session.set_remote(LegId::A, agent.media()).await;
    session.set_remote(LegId::B, customer.media()).await;
    let dir = std::env::temp_dir().join(format!("yunhu-room-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("hold.wav");
    session.record(path.clone(), LegId::B).await;
    let started = Instant::now();
    agent.talk(AGENT, session.local_addr(LegId::A));
    customer.talk(CUSTOMER, session.local_addr(LegId::B));

    let got = listen(&[&agent, &customer]).await;
    hears("agent (talking)", &got[0], &[CUSTOMER], &[MUSIC]);
    hears("customer (talking)", &got[1], &[AGENT], &[MUSIC]);

    // Hold: the agent hears nobody, the customer hears music (800 samples, 150 whole cycles).
    let hold = started.elapsed();
    session.set_hearing(LegId::A, vec![]);
    session.play_loop(LegId::B, tone(MUSIC, 0, 800).into());
    let got = listen(&[&agent, &customer]).await;
    assert!(got[0].is_empty(), "the agent got {} packets on hold", got[0].len());
    hears("customer (held)", &got[1], &[MUSIC], &[AGENT]);
    // Longer than the loop, so its wrap is heard too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unhold = started.elapsed();
    session.stop_play(LegId::B);
    session.set_hearing(LegId::A, vec![LegId::B]);

    let got = listen(&[&agent, &customer]).await;
    hears("agent (back)", &got[0], &[CUSTOMER], &[MUSIC]);
    hears("customer (back)", &got[1], &[AGENT], &[MUSIC]);
    let end = session.stop().await;
    let info = end.recording.unwrap().unwrap();
    let (left, right) = channels(&info.path);
    let (h0, h1) = (at(hold + MARGIN), at(unhold - MARGIN));
    assert!(h1 > h0 + 4000 && h1 < left.len(), "held stretch {h0}..{h1} of {}", left.len());
    assert!(rms(&left[h0..h1]) < 50.0, "customer on hold recorded: rms {:.0}", rms(&left[h0..h1]));
    assert!(rms(&right[h0..h1]) < 50.0, "agent on hold recorded: rms {:.0}", rms(&right[h0..h1]));
    // Talking before and after is there, each voice on its side.
    for (name, range) in [("before", at(MARGIN)..at(hold - MARGIN)), ("after", at(unhold + MARGIN)..left.len() - 2400)]
    {
        hears(&format!("left {name}"), &blocks(&left[range.clone()]), &[CUSTOMER], &[AGENT, MUSIC]);
        hears(&format!("right {name}"), &blocks(&right[range]), &[AGENT], &[CUSTOMER, MUSIC]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legs_come_and_go() {
    let pool = PortPool::new(43600, 43700);
    let (session, [a, b, c], _events) = three(&pool).await;
    let third = LegId(2);
    // The third leg hears one party: relayed as it comes.
    session.set_hearing(third, vec![LegId::A]);
    let got = listen(&[&a, &b, &c]).await;
    hears("third", &got[2], &[AGENT], &[CUSTOMER, SUPERVISOR]);
    hears("A", &got[0], &[CUSTOMER], &[SUPERVISOR]);
    // A hears it too.
    session.set_hearing(LegId::A, vec![LegId::B, third]);
    let got = listen(&[&a, &b, &c]).await;
    hears("A with the third leg", &got[0], &[CUSTOMER, SUPERVISOR], &[AGENT]);

    let gone = session.local_addr(third);
    session.remove_leg(third);
    let got = listen(&[&a, &b, &c]).await;
    hears("A after removal", &got[0], &[CUSTOMER], &[SUPERVISOR, AGENT]);
    hears("B after removal", &got[1], &[AGENT], &[SUPERVISOR, CUSTOMER]);
    assert!(got[2].is_empty(), "the removed leg still got {} packets", got[2].len());
    // Its port is free again: the socket was closed.
    assert!(std::net::UdpSocket::bind(gone).is_ok(), "{gone} still bound");
    let end = session.stop().await;
    assert_eq!(end.stats.received.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_is_reported_once_after_the_limit_and_not_while_packets_flow() {
    let pool = PortPool::new(43800, 43900);
    let (tx, mut events) = mpsc::unbounded_channel();
    let session = MediaSession::open(&pool, ip(), tx).unwrap();
    let (mut a, b) = (Phone::new(Codec::Pcmu).await, Phone::new(Codec::Pcmu).await);
    session.set_remote(LegId::A, a.media()).await;
    session.set_remote(LegId::B, b.media()).await;
    a.talk(AGENT, session.local_addr(LegId::A));
    let limit = Duration::from_secs(1);
    session.set_inactivity(LegId::A, Some(limit));
    // B never sends, but its watch is switched off again (a held phone).
    session.set_inactivity(LegId::B, Some(limit));
    session.set_inactivity(LegId::B, None);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events.try_recv().ok(), None, "nothing while A sends and B is not watched");

    a.sending.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    let ev = tokio::time::timeout(Duration::from_secs(4), events.recv()).await.expect("an inactivity report");
    let after = stopped.elapsed();
    assert_eq!(ev, Some(MediaEvent::Inactive { leg: LegId::A }));
    // Checked once a second on the tick grid: between the limit and a second more.
    assert!(after >= limit - Duration::from_millis(60) && after <= limit * 2 + Duration::from_millis(500), "{after:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events.try_recv().ok(), None, "reported once");

    // A leg that never sent counts from when the watch began.
    let watched = Instant::now();
    session.set_inactivity(LegId::B, Some(limit));
    let ev = tokio::time::timeout(Duration::from_secs(4), events.recv()).await.expect("a report for B");
    assert_eq!(ev, Some(MediaEvent::Inactive { leg: LegId::B }));
    assert!(watched.elapsed() >= limit - Duration::from_millis(60), "{:?}", watched.elapsed());
    session.stop().await;
}

async fn recv_raw(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf)).await.expect("a packet").unwrap();
    buf[..n].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parties_on_one_codec_get_each_others_packets_byte_for_byte() {
    let pool = PortPool::new(44000, 44100);
    let (tx, _events) = mpsc::unbounded_channel();
    let mut session = MediaSession::open(&pool, ip(), tx).unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (leg, s) in [(LegId::A, &a), (LegId::B, &b)] {
        let media = LegMedia { remote: s.local_addr().unwrap(), codec: Codec::Pcmu, telephone_event: Some(101) };
        session.set_remote(leg, media).await;
    }
    let (to_a, to_b) = (session.local_addr(LegId::A), session.local_addr(LegId::B));
    let payload: Vec<u8> = (0..160u32).map(|i| (i * 37 % 251) as u8).collect();
    let check = |seq: u16| {
        let (a, b, payload) = (&a, &b, &payload);
        async move {
            let sent = packet(0, seq, 99_000 + u32::from(seq) * 160, 0xabcd_ef01, seq == 7, payload);
            a.send_to(&sent, to_a).await.unwrap();
            assert_eq!(recv_raw(b).await, sent, "A to B, seq {seq}");
            let back = packet(0, seq, 5_000 + u32::from(seq) * 160, 0x1234_5678, false, &payload[..80]);
            b.send_to(&back, to_b).await.unwrap();
            assert_eq!(recv_raw(a).await, back, "B to A, seq {seq}");
        }
    };
    for seq in 7..17 {
        check(seq).await;
    }
    let event = packet(101, 17, 123_456, 0xabcd_ef01, true, &[5, 10, 0, 160]);
    a.send_to(&event, to_a).await.unwrap();
    assert_eq!(recv_raw(&b).await, event, "telephone-event relayed as it came");

    // A supervisor listening takes a mix; the two parties keep getting each other's packets.
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sup = session.add_leg(&pool, ip()).unwrap();
    let media = LegMedia { remote: s.local_addr().unwrap(), codec: Codec::Pcmu, telephone_event: None };
    session.set_remote(sup, media).await;
    session.set_hearing(sup, vec![LegId::A, LegId::B]);
    // Let the command reach the media thread before the next packets.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for seq in 18..28 {
        check(seq).await;
    }
    let mixed = RtpPacket::parse(&recv_raw(&s).await).map(|p| (p.ssrc, p.payload.len()));
    let (ssrc, len) = mixed.expect("an RTP mix");
    assert!(ssrc != 0xabcd_ef01 && ssrc != 0x1234_5678, "the mix has its own SSRC");
    assert_eq!(len, 160);
    let end = session.stop().await;
    assert_eq!(end.stats.received[..2], [21, 20]);
    assert_eq!(end.stats.forwarded[..2], [21, 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_given_a_new_far_end_latches_on_it() {
    let pool = PortPool::new(44200, 44300);
    let (tx, _events) = mpsc::unbounded_channel();
    let session = MediaSession::open(&pool, ip(), tx).unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (first, second) =
        (UdpSocket::bind("127.0.0.1:0").await.unwrap(), UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let media = |s: &UdpSocket| LegMedia { remote: s.local_addr().unwrap(), codec: Codec::Pcmu, telephone_event: None };
    session.set_remote(LegId::A, media(&a)).await;
    session.set_remote(LegId::B, media(&first)).await;
    let (to_a, to_b) = (session.local_addr(LegId::A), session.local_addr(LegId::B));
    let hello = packet(0, 1, 160, 9, false, &[0xff; 160]);
    first.send_to(&hello, to_b).await.unwrap();
    assert_eq!(recv_raw(&a).await, hello);
    a.send_to(&hello, to_a).await.unwrap();
    assert_eq!(recv_raw(&first).await, hello);

    // The leg now serves another party (the first hung up): its packets are taken, and it gets
    // the other side's.
    session.set_remote(LegId::B, media(&second)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let next = packet(0, 2, 320, 10, false, &[0x7f; 160]);
    second.send_to(&next, to_b).await.unwrap();
    assert_eq!(recv_raw(&a).await, next, "the new far end is heard");
    a.send_to(&next, to_a).await.unwrap();
    assert_eq!(recv_raw(&second).await, next, "the new far end hears");
    let mut buf = [0u8; 2048];
    let stale = tokio::time::timeout(Duration::from_millis(200), first.recv(&mut buf)).await;
    assert!(stale.is_err(), "the old far end still gets packets");
    session.stop().await;
}
