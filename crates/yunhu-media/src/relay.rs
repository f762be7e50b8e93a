//! A media session: two RTP legs anchored on our sockets, packets relayed between them
//! (transcoding PCMU↔PCMA when the legs differ), telephone-events detected, and both directions
//! recorded into one stereo WAV.

use crate::dtmf::DtmfDetector;
use crate::g711::Codec;
use crate::ports::PortPool;
use crate::rtp::{RtpPacket, is_rtcp};
use crate::wav::{RecordingInfo, WavWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// One of the session's two legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegId {
    /// The first leg.
    A,
    /// The second leg.
    B,
}

impl LegId {
    fn index(self) -> usize {
        match self {
            LegId::A => 0,
            LegId::B => 1,
        }
    }

    fn of(index: usize) -> LegId {
        if index == 0 { LegId::A } else { LegId::B }
    }
}

/// Where a leg's far end wants its RTP, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegMedia {
    /// The address from the far end's SDP (replaced by the first packet's source: symmetric RTP).
    pub remote: SocketAddr,
    /// The codec agreed with it.
    pub codec: Codec,
    /// Its telephone-event payload type, if any.
    pub telephone_event: Option<u8>,
}

/// Something the media layer noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press on a leg.
    Dtmf {
        /// Where it was pressed.
        leg: LegId,
        /// The key.
        digit: char,
    },
    /// The recording file was opened, at the first audio packet after [`MediaSession::record`].
    RecordingOpened,
    /// The recording file could not be opened.
    RecordingFailed {
        /// Why.
        error: String,
    },
    /// A prompt finished playing to a leg.
    PlayDone {
        /// The leg it played to.
        leg: LegId,
    },
}

/// Counters of a session, for records and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// RTP packets received per leg.
    pub received: [u64; 2],
    /// RTP packets relayed from each leg to the other.
    pub forwarded: [u64; 2],
    /// Samples of silence the recorder inserted for lost packets, per leg.
    pub gap_samples: [u64; 2],
}

/// What stopping a session returns.
#[derive(Debug)]
pub struct SessionEnd {
    /// The recording, if one was made.
    pub recording: Option<std::io::Result<RecordingInfo>>,
    /// Counters.
    pub stats: RelayStats,
}

enum Control {
    SetRemote(LegId, LegMedia),
    Record { path: PathBuf, left: LegId },
    Stop(oneshot::Sender<SessionEnd>),
    Play(LegId, std::sync::Arc<[i16]>),
}

/// A handle on a running media session; dropping it stops the session without a reply.
#[derive(Debug)]
pub struct MediaSession {
    local: [SocketAddr; 2],
    control: mpsc::Sender<Control>,
}

impl MediaSession {
    /// Opens two sockets from `pool` on `ip` and starts relaying; events go to `events`.
    pub async fn open(pool: &PortPool, ip: IpAddr, events: mpsc::UnboundedSender<MediaEvent>) -> std::io::Result<Self> {
        let a = pool.bind(ip).await?;
        let b = pool.bind(ip).await?;
        let local = [a.local_addr()?, b.local_addr()?];
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(run([a, b], rx, events));
        Ok(MediaSession { local, control: tx })
    }

    /// Our RTP address for a leg (what goes into that leg's SDP).
    pub fn local_addr(&self, leg: LegId) -> SocketAddr {
        self.local[leg.index()]
    }

    /// Tells the session where a leg's far end is.
    pub async fn set_remote(&self, leg: LegId, media: LegMedia) {
        let _ = self.control.send(Control::SetRemote(leg, media)).await;
    }

    /// Records both directions to `path` (`left` leg on the left channel) from the first audio
    /// packet on: a call that carries no audio leaves no file. [`MediaEvent::RecordingOpened`]
    /// or [`MediaEvent::RecordingFailed`] follows that packet.
    pub async fn record(&self, path: PathBuf, left: LegId) {
        let _ = self.control.send(Control::Record { path, left }).await;
    }

    /// Plays 8 kHz mono samples to a leg (in its codec); [`MediaEvent::PlayDone`] follows.
    pub async fn play(&self, leg: LegId, samples: std::sync::Arc<[i16]>) {
        let _ = self.control.send(Control::Play(leg, samples)).await;
    }

    /// Stops relaying, finishes the recording, returns counters.
    pub async fn stop(self) -> SessionEnd {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Stop(tx)).await.is_err() {
            return SessionEnd { recording: None, stats: RelayStats::default() };
        }
        rx.await.unwrap_or(SessionEnd { recording: None, stats: RelayStats::default() })
    }
}

/// Allowed lag of one channel behind the wall clock before silence is written for it.
const MAX_LAG_SAMPLES: u64 = 1600;

struct Track {
    writer: WavWriter,
    left: usize,
    pending: [Vec<i16>; 2],
    pushed: [u64; 2],
    next_ts: [Option<u32>; 2],
    started: Instant,
    last_flush: Instant,
}

impl Track {
    fn push(&mut self, leg: usize, timestamp: u32, codec: Codec, payload: &[u8], stats: &mut RelayStats) {
        // A peer running more than a second ahead of the wall clock (bad timestamps, a flood)
        // is not written: the recording stays as long as the call.
        if self.pushed[leg] > self.expected() + 8000 {
            return;
        }
        match self.next_ts[leg] {
            Some(expected) => {
                let ahead = timestamp.wrapping_sub(expected);
                if ahead > u32::MAX / 2 {
                    return; // late or duplicate: already covered
                }
                if ahead > 0 && ahead <= 8000 {
                    self.pending[leg].extend(std::iter::repeat_n(0, ahead as usize));
                    self.pushed[leg] += u64::from(ahead);
                    stats.gap_samples[leg] += u64::from(ahead);
                }
            }
            None => {
                // A leg that starts late is aligned to the wall clock.
                let behind = self.expected().saturating_sub(self.pushed[leg] + MAX_LAG_SAMPLES / 2);
                self.pending[leg].extend(std::iter::repeat_n(0, behind as usize));
                self.pushed[leg] += behind;
            }
        }
        self.next_ts[leg] = Some(timestamp.wrapping_add(payload.len() as u32));
        self.pending[leg].extend(payload.iter().map(|b| codec.decode(*b)));
        self.pushed[leg] += payload.len() as u64;
    }

    fn expected(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 * 8
    }

    fn pump(&mut self, finishing: bool) -> std::io::Result<()> {
        let expected = self.expected();
        for leg in 0..2 {
            let floor = if finishing { self.pushed[1 - leg] } else { expected.saturating_sub(MAX_LAG_SAMPLES) };
            if self.pushed[leg] < floor {
                let pad = floor - self.pushed[leg];
                self.pending[leg].extend(std::iter::repeat_n(0, pad as usize));
                self.pushed[leg] += pad;
            }
        }
        let n = self.pending[0].len().min(self.pending[1].len());
        if n > 0 {
            let (l, r) = (self.left, 1 - self.left);
            let mut frames = Vec::with_capacity(n * 2);
            for i in 0..n {
                frames.push(self.pending[l][i]);
                frames.push(self.pending[r][i]);
            }
            self.pending[0].drain(..n);
            self.pending[1].drain(..n);
            self.writer.write_interleaved(&frames)?;
        }
        if self.last_flush.elapsed() >= Duration::from_secs(1) {
            self.writer.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }
}

struct Player {
    leg: usize,
    samples: std::sync::Arc<[i16]>,
    pos: usize,
    sequence: u16,
    timestamp: u32,
}

struct Leg {
    media: Option<LegMedia>,
    latched: Option<SocketAddr>,
    dtmf: DtmfDetector,
}

async fn run(sockets: [UdpSocket; 2], mut control: mpsc::Receiver<Control>, events: mpsc::UnboundedSender<MediaEvent>) {
    let mut legs = [
        Leg { media: None, latched: None, dtmf: DtmfDetector::default() },
        Leg { media: None, latched: None, dtmf: DtmfDetector::default() },
    ];
    let mut track: Option<Track> = None;
    let mut player: Option<Player> = None;
    let mut wanted: Option<(PathBuf, usize)> = None;
    let mut stats = RelayStats::default();
    let mut bufs = [[0u8; 2048], [0u8; 2048]];
    let mut out = Vec::with_capacity(2048);
    // Prompts need a packet every 20 ms; the recorder only needs waking now and then to write
    // silence for a leg that sends nothing (audio it receives is written as it comes).
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rec_tick = tokio::time::interval(Duration::from_millis(100));
    rec_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let [buf0, buf1] = &mut bufs;
    loop {
        let (leg, n, from) = tokio::select! {
            r = sockets[0].recv_from(buf0) => match r { Ok((n, from)) => (0, n, from), Err(_) => continue },
            r = sockets[1].recv_from(buf1) => match r { Ok((n, from)) => (1, n, from), Err(_) => continue },
            cmd = control.recv() => {
                match cmd {
                    Some(Control::SetRemote(leg, media)) => legs[leg.index()].media = Some(media),
                    Some(Control::Play(leg, samples)) => {
                        player = Some(Player { leg: leg.index(), samples, pos: 0, sequence: 0, timestamp: 0 });
                    }
                    Some(Control::Record { path, left }) => wanted = Some((path, left.index())),
                    Some(Control::Stop(reply)) => {
                        let recording = track.take().map(|mut t| t.pump(true).and_then(|_| t.writer.finish()));
                        let _ = reply.send(SessionEnd { recording, stats });
                        return;
                    }
                    None => {
                        if let Some(mut t) = track.take() {
                            let _ = t.pump(true).and_then(|_| t.writer.finish());
                        }
                        return;
                    }
                }
                continue;
            }
            _ = rec_tick.tick(), if track.is_some() => {
                if let Some(t) = track.as_mut() && let Err(e) = t.pump(false) {
                    tracing::error!(error = %e, "recording write failed");
                }
                continue;
            }
            _ = tick.tick(), if player.is_some() => {
                if let Some(p) = player.as_mut() {
                    let leg = &legs[p.leg];
                    let dest = leg.latched.or(leg.media.map(|m| m.remote));
                    if let (Some(media), Some(dest)) = (leg.media, dest) {
                        let end = (p.pos + 160).min(p.samples.len());
                        let payload: Vec<u8> = p.samples[p.pos..end].iter().map(|s| media.codec.encode(*s)).collect();
                        RtpPacket {
                            payload_type: media.codec.payload_type(),
                            marker: p.pos == 0,
                            sequence: p.sequence,
                            timestamp: p.timestamp,
                            ssrc: 0x7975_6e68,
                            payload: &payload,
                        }
                        .write(&mut out);
                        let _ = sockets[p.leg].send_to(&out, dest).await;
                        p.pos = end;
                        p.sequence = p.sequence.wrapping_add(1);
                        p.timestamp = p.timestamp.wrapping_add(160);
                    }
                    if p.pos >= p.samples.len() {
                        let _ = events.send(MediaEvent::PlayDone { leg: LegId::of(p.leg) });
                        player = None;
                    }
                }
                continue;
            }
        };
        let buf = if leg == 0 { &buf0[..n] } else { &buf1[..n] };
        if is_rtcp(buf) {
            continue;
        }
        let Some(pkt) = RtpPacket::parse(buf) else { continue };
        let this = &mut legs[leg];
        // Nothing is taken before the leg's SDP is known; then the first packet fixes the peer
        // (symmetric RTP: behind NAT it comes from elsewhere than the SDP says), and from then
        // on only that peer is heard.
        let Some(media) = this.media else { continue };
        match this.latched {
            None => this.latched = Some(from),
            Some(addr) if addr != from => continue,
            Some(_) => {}
        }
        stats.received[leg] += 1;
        let is_event = media.telephone_event == Some(pkt.payload_type);
        if is_event {
            if let Some(digit) = this.dtmf.feed(pkt.timestamp, pkt.payload) {
                let _ = events.send(MediaEvent::Dtmf { leg: LegId::of(leg), digit });
            }
        } else if let Some(codec) = Codec::from_payload_type(pkt.payload_type) {
            if let Some((path, left)) = wanted.take() {
                match WavWriter::create(&path, 2) {
                    Ok(writer) => {
                        let now = Instant::now();
                        track = Some(Track {
                            writer,
                            left,
                            pending: [Vec::new(), Vec::new()],
                            pushed: [0, 0],
                            next_ts: [None, None],
                            started: now,
                            last_flush: now,
                        });
                        let _ = events.send(MediaEvent::RecordingOpened);
                    }
                    Err(e) => {
                        let _ = events.send(MediaEvent::RecordingFailed { error: e.to_string() });
                    }
                }
            }
            if let Some(t) = track.as_mut() {
                t.push(leg, pkt.timestamp, codec, pkt.payload, &mut stats);
                if t.pending[0].len().min(t.pending[1].len()) >= 800
                    && let Err(e) = t.pump(false)
                {
                    tracing::error!(error = %e, "recording write failed");
                }
            }
        }
        let other = &legs[1 - leg];
        let (Some(to_media), dest) = (other.media, other.latched.or(other.media.map(|m| m.remote))) else { continue };
        let Some(dest) = dest else { continue };
        let forwarded = if is_event {
            let Some(pt) = to_media.telephone_event else { continue };
            RtpPacket { payload_type: pt, ..pkt }.write(&mut out);
            true
        } else {
            match Codec::from_payload_type(pkt.payload_type) {
                Some(from_codec) if from_codec == to_media.codec => {
                    pkt.write(&mut out);
                    true
                }
                Some(from_codec) => {
                    let transcoded: Vec<u8> =
                        pkt.payload.iter().map(|b| to_media.codec.encode(from_codec.decode(*b))).collect();
                    RtpPacket { payload_type: to_media.codec.payload_type(), payload: &transcoded, ..pkt }
                        .write(&mut out);
                    true
                }
                None => false,
            }
        };
        if forwarded && sockets[1 - leg].send_to(&out, dest).await.is_ok() {
            stats.forwarded[leg] += 1;
        }
    }
}
