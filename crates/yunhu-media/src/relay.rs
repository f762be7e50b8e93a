//! A media session: two RTP legs anchored on our sockets, packets relayed between them
//! (transcoding PCMU↔PCMA when the legs differ), telephone-events detected, and both directions
//! recorded into one stereo WAV.

use crate::dtmf::DtmfDetector;
use crate::engine::{self, Engine};
use crate::g711::Codec;
use crate::ports::PortPool;
use crate::recv::{BATCH, RecvBatch};
use crate::rtp::{RtpPacket, is_rtcp};
use crate::wav::{RecordingInfo, WavWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

pub(crate) enum Control {
    SetRemote(LegId, LegMedia),
    Record {
        path: PathBuf,
        left: LegId,
    },
    Play(LegId, Arc<[i16]>),
    /// Ends the session; the reply is `None` when the handle was dropped.
    Stop(Option<oneshot::Sender<SessionEnd>>),
}

/// A handle on a running media session; dropping it stops the session without a reply.
#[derive(Debug)]
pub struct MediaSession {
    local: [SocketAddr; 2],
    id: u64,
    engine: &'static Engine,
    stopped: bool,
}

impl MediaSession {
    /// Opens two sockets from `pool` on `ip` and starts relaying; events go to `events`.
    pub fn open(pool: &PortPool, ip: IpAddr, events: mpsc::UnboundedSender<MediaEvent>) -> std::io::Result<Self> {
        let a = pool.bind(ip)?;
        let b = pool.bind(ip)?;
        let local = [a.local_addr()?, b.local_addr()?];
        // The media thread reads the sockets without a task wakeup per packet (see `engine`).
        let sockets = [mio::net::UdpSocket::from_std(a), mio::net::UdpSocket::from_std(b)];
        let engine = engine::get()?;
        let id = engine.open(Session::new(sockets, events));
        Ok(MediaSession { local, id, engine, stopped: false })
    }

    /// Our RTP address for a leg (what goes into that leg's SDP).
    pub fn local_addr(&self, leg: LegId) -> SocketAddr {
        self.local[leg.index()]
    }

    /// Tells the session where a leg's far end is.
    pub async fn set_remote(&self, leg: LegId, media: LegMedia) {
        self.engine.control(self.id, Control::SetRemote(leg, media));
    }

    /// Records both directions to `path` (`left` leg on the left channel) from the first audio
    /// packet on: a call that carries no audio leaves no file. [`MediaEvent::RecordingOpened`]
    /// or [`MediaEvent::RecordingFailed`] follows that packet.
    pub async fn record(&self, path: PathBuf, left: LegId) {
        self.engine.control(self.id, Control::Record { path, left });
    }

    /// Plays 8 kHz mono samples to a leg (in its codec); [`MediaEvent::PlayDone`] follows.
    pub async fn play(&self, leg: LegId, samples: Arc<[i16]>) {
        self.engine.control(self.id, Control::Play(leg, samples));
    }

    /// Stops relaying, finishes the recording, returns counters.
    pub async fn stop(mut self) -> SessionEnd {
        let (tx, rx) = oneshot::channel();
        self.stopped = true;
        self.engine.control(self.id, Control::Stop(Some(tx)));
        rx.await.unwrap_or(SessionEnd { recording: None, stats: RelayStats::default() })
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        if !self.stopped {
            self.engine.control(self.id, Control::Stop(None));
        }
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
    /// Interleaving buffer, kept between pumps.
    frames: Vec<i16>,
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
            self.frames.clear();
            for (a, b) in self.pending[l][..n].iter().zip(&self.pending[r][..n]) {
                self.frames.extend_from_slice(&[*a, *b]);
            }
            self.pending[0].drain(..n);
            self.pending[1].drain(..n);
            self.writer.write_interleaved(&self.frames)?;
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
    samples: Arc<[i16]>,
    pos: usize,
    sequence: u16,
    timestamp: u32,
    due: Instant,
}

struct Leg {
    media: Option<LegMedia>,
    latched: Option<SocketAddr>,
    /// The socket is connected to `latched`: the kernel then filters other sources for us and
    /// sends without a route lookup per packet.
    connected: bool,
    dtmf: DtmfDetector,
}

impl Leg {
    fn new() -> Leg {
        Leg { media: None, latched: None, connected: false, dtmf: DtmfDetector::default() }
    }

    /// Where this leg's packets go: the latched peer, else the SDP's address.
    fn dest(&self) -> Option<SocketAddr> {
        self.latched.or(self.media.map(|m| m.remote))
    }
}

/// Sends on a leg's socket, the cheaper way once it is connected to its peer.
fn send(socket: &mio::net::UdpSocket, leg: &Leg, dest: SocketAddr, packet: &[u8]) -> std::io::Result<usize> {
    if leg.connected && leg.latched == Some(dest) { socket.send(packet) } else { socket.send_to(packet, dest) }
}

/// Reusable buffers of the media thread, so relaying a packet allocates nothing.
pub(crate) struct Scratch {
    batch: RecvBatch,
    out: Vec<u8>,
    payload: Vec<u8>,
    /// Datagrams read since [`Scratch::take_read`].
    read: usize,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch { batch: RecvBatch::new(), out: Vec::with_capacity(2048), payload: Vec::with_capacity(2048), read: 0 }
    }

    /// Datagrams read since the last call.
    pub(crate) fn take_read(&mut self) -> usize {
        std::mem::take(&mut self.read)
    }
}

/// Packets read from one socket per wakeup before the others get their turn: a flooding peer
/// delays the rest by at most this much.
const DRAIN_BUDGET: usize = 64;
/// Prompt pacing.
const PTIME: Duration = Duration::from_millis(20);
/// The recorder only needs waking now and then to write silence for a leg that sends nothing
/// (audio it receives is written as it comes).
const PUMP_EVERY: Duration = Duration::from_millis(100);

/// The first instant after `now` that is a multiple of `period` from one process-wide epoch.
/// Every recording pumps, every prompt sends and the media thread wakes on this shared grid, so
/// one wakeup serves them all rather than one per call.
pub(crate) fn next_tick(now: Instant, period: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let period = period.as_nanos();
    let ticks = now.saturating_duration_since(epoch).as_nanos() / period + 1;
    epoch + Duration::from_nanos((ticks * period) as u64)
}

/// The state of one session, owned by the media thread.
pub(crate) struct Session {
    sockets: [mio::net::UdpSocket; 2],
    events: mpsc::UnboundedSender<MediaEvent>,
    legs: [Leg; 2],
    track: Option<Track>,
    next_pump: Instant,
    player: Option<Player>,
    wanted: Option<(PathBuf, usize)>,
    stats: RelayStats,
}

impl Session {
    fn new(sockets: [mio::net::UdpSocket; 2], events: mpsc::UnboundedSender<MediaEvent>) -> Session {
        Session {
            sockets,
            events,
            legs: [Leg::new(), Leg::new()],
            track: None,
            next_pump: Instant::now(),
            player: None,
            wanted: None,
            stats: RelayStats::default(),
        }
    }

    pub(crate) fn sockets_mut(&mut self) -> &mut [mio::net::UdpSocket; 2] {
        &mut self.sockets
    }

    /// Applies a command; `Some` when the session is over, with what is left to finish it.
    pub(crate) fn control(&mut self, cmd: Control, now: Instant) -> Option<Ending> {
        match cmd {
            Control::SetRemote(leg, media) => self.legs[leg.index()].media = Some(media),
            Control::Play(leg, samples) => {
                let due = next_tick(now, PTIME);
                self.player = Some(Player { leg: leg.index(), samples, pos: 0, sequence: 0, timestamp: 0, due });
            }
            Control::Record { path, left } => self.wanted = Some((path, left.index())),
            Control::Stop(reply) => {
                return Some(Ending { track: self.track.take(), stats: std::mem::take(&mut self.stats), reply });
            }
        }
        None
    }

    /// When the session next needs [`Session::on_timer`].
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let pump = self.track.as_ref().map(|_| self.next_pump);
        let play = self.player.as_ref().map(|p| p.due);
        match (pump, play) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends a due prompt packet and writes the recording's silence when due.
    pub(crate) fn on_timer(&mut self, now: Instant, scratch: &mut Scratch) {
        if let Some(t) = self.track.as_mut()
            && now >= self.next_pump
        {
            if let Err(e) = t.pump(false) {
                tracing::error!(error = %e, "recording write failed");
            }
            self.next_pump = next_tick(now, PUMP_EVERY);
        }
        let Some(p) = self.player.as_mut() else { return };
        if now < p.due {
            return;
        }
        // Paced from the schedule, not from when the thread got round to it, so prompts keep
        // 20 ms on average; after a long stall the schedule restarts instead of bursting.
        p.due += PTIME;
        if p.due < now {
            p.due = next_tick(now, PTIME);
        }
        let leg = &self.legs[p.leg];
        if let (Some(media), Some(dest)) = (leg.media, leg.dest()) {
            let end = (p.pos + 160).min(p.samples.len());
            scratch.payload.clear();
            scratch.payload.extend(p.samples[p.pos..end].iter().map(|s| media.codec.encode(*s)));
            RtpPacket {
                payload_type: media.codec.payload_type(),
                marker: p.pos == 0,
                sequence: p.sequence,
                timestamp: p.timestamp,
                ssrc: 0x7975_6e68,
                payload: &scratch.payload,
            }
            .write(&mut scratch.out);
            let _ = send(&self.sockets[p.leg], leg, dest, &scratch.out);
            p.pos = end;
            p.sequence = p.sequence.wrapping_add(1);
            p.timestamp = p.timestamp.wrapping_add(160);
        }
        if p.pos >= p.samples.len() {
            let _ = self.events.send(MediaEvent::PlayDone { leg: LegId::of(p.leg) });
            self.player = None;
        }
    }

    /// Reads and relays what is waiting on a leg's socket; `false` if the budget ran out first
    /// (more may be waiting, and the socket will not be reported readable again for it).
    pub(crate) fn drain(&mut self, leg: usize, scratch: &mut Scratch) -> bool {
        let Scratch { batch, out, payload, read } = scratch;
        for _ in 0..DRAIN_BUDGET / BATCH {
            match batch.recv(&self.sockets[leg]) {
                Ok(n) => {
                    *read += n;
                    for i in 0..n {
                        if let (buf, Some(from)) = batch.get(i) {
                            self.on_packet(leg, buf, from, out, payload);
                        }
                    }
                    if n < BATCH {
                        return true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                // Such as an earlier send refused by the peer, reported on the connected socket;
                // reading it cleared it.
                Err(_) => {}
            }
        }
        false
    }

    fn on_packet(&mut self, leg: usize, buf: &[u8], from: SocketAddr, out: &mut Vec<u8>, payload: &mut Vec<u8>) {
        if is_rtcp(buf) {
            return;
        }
        let Some(pkt) = RtpPacket::parse(buf) else { return };
        let this = &mut self.legs[leg];
        // Nothing is taken before the leg's SDP is known; then the first packet fixes the peer
        // (symmetric RTP: behind NAT it comes from elsewhere than the SDP says), and from then
        // on only that peer is heard.
        let Some(media) = this.media else { return };
        match this.latched {
            None => {
                this.latched = Some(from);
                this.connected = self.sockets[leg].connect(from).is_ok();
            }
            Some(addr) if addr != from => return,
            Some(_) => {}
        }
        self.stats.received[leg] += 1;
        let is_event = media.telephone_event == Some(pkt.payload_type);
        if is_event {
            if let Some(digit) = this.dtmf.feed(pkt.timestamp, pkt.payload) {
                let _ = self.events.send(MediaEvent::Dtmf { leg: LegId::of(leg), digit });
            }
        } else if let Some(codec) = Codec::from_payload_type(pkt.payload_type) {
            if let Some((path, left)) = self.wanted.take() {
                match WavWriter::create(&path, 2) {
                    Ok(writer) => {
                        let now = Instant::now();
                        self.track = Some(Track {
                            writer,
                            left,
                            pending: [Vec::new(), Vec::new()],
                            pushed: [0, 0],
                            next_ts: [None, None],
                            started: now,
                            last_flush: now,
                            frames: Vec::new(),
                        });
                        self.next_pump = next_tick(now, PUMP_EVERY);
                        let _ = self.events.send(MediaEvent::RecordingOpened);
                    }
                    Err(e) => {
                        let _ = self.events.send(MediaEvent::RecordingFailed { error: e.to_string() });
                    }
                }
            }
            if let Some(t) = self.track.as_mut() {
                t.push(leg, pkt.timestamp, codec, pkt.payload, &mut self.stats);
                if t.pending[0].len().min(t.pending[1].len()) >= 800
                    && let Err(e) = t.pump(false)
                {
                    tracing::error!(error = %e, "recording write failed");
                }
            }
        }
        let other = &self.legs[1 - leg];
        let (Some(to_media), Some(dest)) = (other.media, other.dest()) else { return };
        let forwarded = if is_event {
            let Some(pt) = to_media.telephone_event else { return };
            RtpPacket { payload_type: pt, ..pkt }.write(out);
            true
        } else {
            match Codec::from_payload_type(pkt.payload_type) {
                Some(from_codec) if from_codec == to_media.codec => {
                    pkt.write(out);
                    true
                }
                Some(from_codec) => {
                    payload.clear();
                    payload.extend(pkt.payload.iter().map(|b| to_media.codec.encode(from_codec.decode(*b))));
                    RtpPacket { payload_type: to_media.codec.payload_type(), payload, ..pkt }.write(out);
                    true
                }
                None => false,
            }
        };
        // A full send buffer drops the packet, as the network would, rather than stall every
        // other call on the media thread.
        if forwarded && send(&self.sockets[1 - leg], other, dest, out).is_ok() {
            self.stats.forwarded[leg] += 1;
        }
    }
}

/// A stopped session's recording and counters, finished off the media thread (renaming and
/// fsyncing a file must not hold up the other calls' packets).
pub(crate) struct Ending {
    track: Option<Track>,
    stats: RelayStats,
    reply: Option<oneshot::Sender<SessionEnd>>,
}

impl Ending {
    /// Writes the rest of the recording, completes it, and answers `stop`.
    pub(crate) fn finish(self) {
        let recording = self.track.map(|mut t| t.pump(true).and_then(|_| t.writer.finish()));
        if let Some(reply) = self.reply {
            let _ = reply.send(SessionEnd { recording, stats: self.stats });
        }
    }
}
