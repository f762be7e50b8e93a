//! A media session is a room: RTP legs anchored on our sockets, and for each leg the set of legs
//! it hears (the hearing matrix, one row per listener).
//!
//! A listener hearing exactly one speaker gets that speaker's packets relayed as they come (same
//! sequence numbers and timestamps, the payload type rewritten, transcoded PCMU↔PCMA only when the
//! codecs differ): the two-party call, the common case, costs no decoding. A listener hearing two
//! or more gets a mix: each such speaker's audio is decoded into a short queue, and every 20 ms on
//! the process-wide tick grid the queues' next frames are added up, encoded in the listener's codec
//! and sent under the listener's own SSRC. A leg playing a prompt or music on hold hears that
//! instead of the room. Telephone-events are detected on every leg and relayed only as packets to
//! a listener of one (a mix carries audio alone). The room is recorded into one stereo WAV: one
//! leg on the left, every other leg mixed on the right, each only while another leg hears it.

use crate::dtmf::DtmfDetector;
use crate::engine::{self, Engine};
use crate::g711::Codec;
use crate::ports::PortPool;
use crate::recv::{BATCH, RecvBatch};
use crate::rtp::{RtpPacket, is_rtcp};
use crate::track::Track;
use crate::wav::{RecordingInfo, WavWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// One leg of a session (an index into the session's legs, in the order they were added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u8);

impl LegId {
    /// The first leg [`MediaSession::open`] makes.
    pub const A: LegId = LegId(0);
    /// The second leg [`MediaSession::open`] makes.
    pub const B: LegId = LegId(1);

    fn index(self) -> usize {
        usize::from(self.0)
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
    /// A prompt started with [`MediaSession::play`] finished playing to a leg.
    PlayDone {
        /// The leg it played to.
        leg: LegId,
    },
    /// No RTP arrived on a leg for the limit set with [`MediaSession::set_inactivity`].
    Inactive {
        /// The silent leg.
        leg: LegId,
    },
}

/// Counters of a session, for records and benchmarks; each vector is indexed by leg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// RTP packets received per leg.
    pub received: Vec<u64>,
    /// RTP packets of each leg that reached at least one listener (relayed or taken into a mix).
    pub forwarded: Vec<u64>,
    /// Samples of silence the recorder inserted for lost packets, per leg.
    pub gap_samples: Vec<u64>,
}

impl RelayStats {
    fn grow(&mut self, legs: usize) {
        for v in [&mut self.received, &mut self.forwarded, &mut self.gap_samples] {
            if v.len() < legs {
                v.resize(legs, 0);
            }
        }
    }
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
    SetHearing(LegId, Vec<LegId>),
    Record {
        path: PathBuf,
        left: LegId,
    },
    Play {
        leg: LegId,
        samples: Arc<[i16]>,
        looping: bool,
    },
    StopPlay(LegId),
    SetInactivity(LegId, Option<Duration>),
    /// Ends the session; the reply is `None` when the handle was dropped.
    Stop(Option<oneshot::Sender<SessionEnd>>),
}

/// A handle on a running media session; dropping it stops the session without a reply.
#[derive(Debug)]
pub struct MediaSession {
    local: Vec<SocketAddr>,
    id: u64,
    engine: &'static Engine,
    stopped: bool,
}

impl MediaSession {
    /// Opens legs A and B on two sockets from `pool` on `ip`, each hearing the other, and starts
    /// relaying; events go to `events`.
    pub fn open(pool: &PortPool, ip: IpAddr, events: mpsc::UnboundedSender<MediaEvent>) -> std::io::Result<Self> {
        let a = pool.bind(ip)?;
        let b = pool.bind(ip)?;
        let local = vec![a.local_addr()?, b.local_addr()?];
        // The media thread reads the sockets without a task wakeup per packet (see `engine`).
        let sockets = vec![Some(mio::net::UdpSocket::from_std(a)), Some(mio::net::UdpSocket::from_std(b))];
        let engine = engine::get()?;
        let id = engine.open(Session::new(sockets, events));
        Ok(MediaSession { local, id, engine, stopped: false })
    }

    /// Adds a leg on a new socket from `pool`. It hears nobody and nobody hears it until
    /// [`MediaSession::set_hearing`] says otherwise.
    pub fn add_leg(&mut self, pool: &PortPool, ip: IpAddr) -> std::io::Result<LegId> {
        let index =
            u8::try_from(self.local.len()).map_err(|_| std::io::Error::other("a session has 256 legs at most"))?;
        let socket = pool.bind(ip)?;
        self.local.push(socket.local_addr()?);
        self.engine.add_leg(self.id, usize::from(index), mio::net::UdpSocket::from_std(socket));
        Ok(LegId(index))
    }

    /// Stops a leg and closes its socket; whoever heard it hears the rest of their row.
    pub fn remove_leg(&self, leg: LegId) {
        self.engine.remove_leg(self.id, leg.index());
    }

    /// Our RTP address for a leg (what goes into that leg's SDP). Panics for a leg never added.
    pub fn local_addr(&self, leg: LegId) -> SocketAddr {
        self.local[leg.index()]
    }

    /// Tells the session where a leg's far end is. An address other than the last one (the leg
    /// now serves another party) drops the latch, so the new far end's first packet sets it.
    pub async fn set_remote(&self, leg: LegId, media: LegMedia) {
        self.engine.control(self.id, Control::SetRemote(leg, media));
    }

    /// Sets exactly whom `listener` hears from now on (itself and removed legs are ignored).
    pub fn set_hearing(&self, listener: LegId, speakers: Vec<LegId>) {
        self.engine.control(self.id, Control::SetHearing(listener, speakers));
    }

    /// Records to `path` from the first audio packet on (a call that carries no audio leaves no
    /// file): the `left` leg on the left channel, every other leg mixed on the right, each leg
    /// only while another leg hears it. [`MediaEvent::RecordingOpened`] or
    /// [`MediaEvent::RecordingFailed`] follows that packet.
    pub async fn record(&self, path: PathBuf, left: LegId) {
        self.engine.control(self.id, Control::Record { path, left });
    }

    /// Plays 8 kHz mono samples to a leg once (in its codec); [`MediaEvent::PlayDone`] follows.
    /// Meanwhile the leg hears the prompt instead of the room.
    pub async fn play(&self, leg: LegId, samples: Arc<[i16]>) {
        self.engine.control(self.id, Control::Play { leg, samples, looping: false });
    }

    /// Plays 8 kHz mono samples to a leg over and over (music on hold) until
    /// [`MediaSession::stop_play`]; the leg hears them instead of the room.
    pub fn play_loop(&self, leg: LegId, samples: Arc<[i16]>) {
        self.engine.control(self.id, Control::Play { leg, samples, looping: true });
    }

    /// Stops what plays to a leg, which hears the room again; no [`MediaEvent::PlayDone`] follows.
    pub fn stop_play(&self, leg: LegId) {
        self.engine.control(self.id, Control::StopPlay(leg));
    }

    /// Reports [`MediaEvent::Inactive`] once when no RTP arrived on `leg` for `limit`, counted
    /// from the later of this call and the last packet (checked about once a second); it can
    /// fire again after packets resume. `None` stops watching (a phone on hold may stop sending).
    pub fn set_inactivity(&self, leg: LegId, limit: Option<Duration>) {
        self.engine.control(self.id, Control::SetInactivity(leg, limit));
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

/// Samples in one 20 ms frame at 8 kHz: the unit of prompts and mixes.
const FRAME: usize = 160;
/// Decoded samples kept per mixed speaker. A few frames absorb jitter between packet arrival and
/// the mix tick; beyond that the oldest go, so a speaker sending fast cannot build up delay.
const QUEUE: usize = 4 * FRAME;
/// SSRC of prompts and music on hold.
const PLAYER_SSRC: u32 = 0x7975_6e68;
/// SSRC of mixes, plus the listener's index: the mix a leg hears is a stream of our own, unlike
/// a relayed packet, which keeps its speaker's.
const MIX_SSRC: u32 = 0x7975_6d00;

/// Something playing to a leg.
struct Player {
    samples: Arc<[i16]>,
    pos: usize,
    looping: bool,
    /// Nothing sent yet (the first packet carries the marker bit).
    fresh: bool,
    sequence: u16,
    timestamp: u32,
}

/// The RTP stream of the mixes sent to a leg.
struct MixOut {
    sequence: u16,
    timestamp: u32,
    /// The last tick sent a packet; after a silent tick the next one carries the marker bit.
    talking: bool,
}

/// Watching a leg for silence.
struct Watch {
    limit: Duration,
    since: Instant,
    /// The start of the silence last reported, so one stretch is reported once.
    reported: Option<Instant>,
}

struct Leg {
    media: Option<LegMedia>,
    latched: Option<SocketAddr>,
    /// The socket is connected to `latched`: the kernel then filters other sources for us and
    /// sends without a route lookup per packet.
    connected: bool,
    dtmf: DtmfDetector,
    closed: bool,
    /// Whom this leg hears, as last set: its row of the matrix.
    hears: Vec<usize>,
    /// From [`Session::rewire`]: listeners that take this leg's packets as they come.
    relay_to: Vec<usize>,
    /// From [`Session::rewire`]: the speakers mixed for this leg (two or more, else none).
    mix_from: Vec<usize>,
    /// From [`Session::rewire`]: some listener mixes this leg, so its audio goes to `queue`.
    mixed: bool,
    /// From [`Session::rewire`]: some other leg hears this one, so it is recorded.
    heard: bool,
    /// Decoded audio waiting for the next mix.
    queue: Vec<i16>,
    mix_out: MixOut,
    player: Option<Player>,
    watch: Option<Watch>,
    last_packet: Option<Instant>,
}

impl Leg {
    fn new() -> Leg {
        Leg {
            media: None,
            latched: None,
            connected: false,
            dtmf: DtmfDetector::default(),
            closed: false,
            hears: Vec::new(),
            relay_to: Vec::new(),
            mix_from: Vec::new(),
            mixed: false,
            heard: false,
            queue: Vec::new(),
            mix_out: MixOut { sequence: 0, timestamp: 0, talking: false },
            player: None,
            watch: None,
            last_packet: None,
        }
    }

    /// Where this leg's packets go: the latched peer, else the SDP's address.
    fn dest(&self) -> Option<SocketAddr> {
        self.latched.or(self.media.map(|m| m.remote))
    }

    /// The peer the socket is connected to, if any.
    fn connected_to(&self) -> Option<SocketAddr> {
        self.latched.filter(|_| self.connected)
    }
}

/// Sends on a leg's socket, the cheaper way when it is connected to `dest`.
fn send(
    socket: &mio::net::UdpSocket,
    connected_to: Option<SocketAddr>,
    dest: SocketAddr,
    packet: &[u8],
) -> std::io::Result<usize> {
    let sent = if connected_to == Some(dest) { socket.send(packet) } else { socket.send_to(packet, dest) };
    crate::counters::sent(sent.is_ok());
    sent
}

/// Dissolves a UDP socket's connection, so it takes packets from any source again.
fn disconnect(socket: &mio::net::UdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero sockaddr is valid plain data; with AF_UNSPEC, connect(2) on a UDP
    // socket removes its peer (Linux and the BSDs). The fd is open while `socket` lives.
    let rc = unsafe {
        let mut addr: libc::sockaddr = std::mem::zeroed();
        addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(socket.as_raw_fd(), &addr, std::mem::size_of::<libc::sockaddr>() as libc::socklen_t)
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
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
/// Prompt and mix pacing.
const PTIME: Duration = Duration::from_millis(20);
/// The recorder only needs waking now and then to write silence for a leg that sends nothing
/// (audio it receives is written as it comes).
const PUMP_EVERY: Duration = Duration::from_millis(100);
/// How often watched legs are checked for silence: limits are seconds long, so a check per
/// packet would be waste.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The first instant after `now` that is a multiple of `period` from one process-wide epoch.
/// Every recording pumps, every prompt and mix sends and the media thread wakes on this shared
/// grid, so one wakeup serves them all rather than one per call.
pub(crate) fn next_tick(now: Instant, period: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let period = period.as_nanos();
    let ticks = now.saturating_duration_since(epoch).as_nanos() / period + 1;
    epoch + Duration::from_nanos((ticks * period) as u64)
}

/// The state of one session, owned by the media thread.
pub(crate) struct Session {
    /// Per leg; `None` once the leg is removed.
    sockets: Vec<Option<mio::net::UdpSocket>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    legs: Vec<Leg>,
    track: Option<Track>,
    next_pump: Instant,
    /// The next 20 ms frame, while a leg plays something or hears a mix.
    next_frame: Option<Instant>,
    /// The next silence check, while a leg is watched.
    next_check: Option<Instant>,
    wanted: Option<(PathBuf, usize)>,
    stats: RelayStats,
}

impl Session {
    fn new(sockets: Vec<Option<mio::net::UdpSocket>>, events: mpsc::UnboundedSender<MediaEvent>) -> Session {
        let mut legs: Vec<Leg> = (0..sockets.len()).map(|_| Leg::new()).collect();
        // A and B hear each other, as a two-party call always has.
        if legs.len() >= 2 {
            legs[0].hears.push(1);
            legs[1].hears.push(0);
        }
        let mut stats = RelayStats::default();
        stats.grow(legs.len());
        let mut session = Session {
            sockets,
            events,
            legs,
            track: None,
            next_pump: Instant::now(),
            next_frame: None,
            next_check: None,
            wanted: None,
            stats,
        };
        session.rewire();
        session
    }

    /// The open sockets, with their leg indices.
    pub(crate) fn sockets_mut(&mut self) -> impl Iterator<Item = (usize, &mut mio::net::UdpSocket)> {
        self.sockets.iter_mut().enumerate().filter_map(|(i, s)| Some((i, s.as_mut()?)))
    }

    /// Adds leg `index` on `socket` (hearing nobody, heard by nobody); returns the socket to watch.
    pub(crate) fn add_leg(&mut self, index: usize, socket: mio::net::UdpSocket) -> &mut mio::net::UdpSocket {
        while self.legs.len() <= index {
            self.legs.push(Leg::new());
            self.sockets.push(None);
        }
        self.stats.grow(self.legs.len());
        if let Some(t) = self.track.as_mut() {
            t.add_lane(index);
        }
        self.sockets[index].insert(socket)
    }

    /// Stops leg `index`; returns its socket to close.
    pub(crate) fn remove_leg(&mut self, index: usize, now: Instant) -> Option<mio::net::UdpSocket> {
        let leg = self.legs.get_mut(index)?;
        leg.closed = true;
        leg.player = None;
        leg.watch = None;
        self.rewire();
        self.schedule(now);
        self.sockets[index].take()
    }

    /// Applies a command; `Some` when the session is over, with what is left to finish it.
    pub(crate) fn control(&mut self, cmd: Control, now: Instant) -> Option<Ending> {
        match cmd {
            Control::SetRemote(leg, media) => {
                if let Some(l) = self.legs.get_mut(leg.index()) {
                    // A new far end (the engine reuses a leg for the next party, or a re-INVITE
                    // moves the media) is latched afresh; the same one keeps its latch.
                    if l.media.is_some_and(|m| m.remote != media.remote) {
                        l.latched = None;
                        l.dtmf = DtmfDetector::default();
                        if std::mem::take(&mut l.connected)
                            && let Some(socket) = self.sockets[leg.index()].as_ref()
                            && let Err(e) = disconnect(socket)
                        {
                            tracing::warn!(error = %e, "media socket could not be disconnected");
                        }
                    }
                    l.media = Some(media);
                }
            }
            Control::SetHearing(listener, speakers) => {
                if let Some(l) = self.legs.get_mut(listener.index()) {
                    l.hears = speakers.into_iter().map(LegId::index).collect();
                    l.hears.sort_unstable();
                    l.hears.dedup();
                }
                self.rewire();
            }
            Control::Play { leg, samples, looping } => {
                if let Some(l) = self.legs.get_mut(leg.index()).filter(|l| !l.closed) {
                    l.player = Some(Player { samples, pos: 0, looping, fresh: true, sequence: 0, timestamp: 0 });
                }
                self.rewire();
            }
            Control::StopPlay(leg) => {
                if let Some(l) = self.legs.get_mut(leg.index()) {
                    l.player = None;
                }
                self.rewire();
            }
            Control::SetInactivity(leg, limit) => {
                if let Some(l) = self.legs.get_mut(leg.index()).filter(|l| !l.closed) {
                    l.watch = limit.map(|limit| Watch { limit, since: now, reported: None });
                }
            }
            Control::Record { path, left } => self.wanted = Some((path, left.index())),
            Control::Stop(reply) => {
                return Some(Ending { track: self.track.take(), stats: std::mem::take(&mut self.stats), reply });
            }
        }
        self.schedule(now);
        None
    }

    /// Derives from the matrix who gets which packets: a listener hearing one speaker is on that
    /// speaker's relay list, one hearing more gets a mix. A leg that plays something, or is
    /// closed, hears nobody meanwhile.
    fn rewire(&mut self) {
        for leg in &mut self.legs {
            leg.relay_to.clear();
            leg.mixed = false;
            leg.heard = false;
        }
        for l in 0..self.legs.len() {
            let mut speakers = std::mem::take(&mut self.legs[l].mix_from);
            speakers.clear();
            let listener = &self.legs[l];
            if !listener.closed && listener.player.is_none() {
                let open = |s: &usize| *s != l && self.legs.get(*s).is_some_and(|x| !x.closed);
                speakers.extend(listener.hears.iter().copied().filter(open));
            }
            if let [s] = speakers[..] {
                self.legs[s].relay_to.push(l);
                self.legs[s].heard = true;
                speakers.clear();
            }
            for &s in &speakers {
                self.legs[s].mixed = true;
                self.legs[s].heard = true;
            }
            self.legs[l].mix_from = speakers;
        }
        for leg in &mut self.legs {
            if leg.mixed {
                leg.queue.reserve(QUEUE);
            } else {
                leg.queue.clear();
            }
        }
    }

    /// Starts or stops the frame and check timers as the legs now need them.
    fn schedule(&mut self, now: Instant) {
        let frames = self.legs.iter().any(|l| l.player.is_some() || !l.mix_from.is_empty());
        self.next_frame = if frames { self.next_frame.or(Some(next_tick(now, PTIME))) } else { None };
        let watched = self.legs.iter().any(|l| l.watch.is_some());
        self.next_check = if watched { self.next_check.or(Some(next_tick(now, CHECK_EVERY))) } else { None };
    }

    /// When the session next needs [`Session::on_timer`].
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let pump = self.track.as_ref().map(|_| self.next_pump);
        [pump, self.next_frame, self.next_check].into_iter().flatten().min()
    }

    /// Writes the recording's silence, sends prompts and mixes, checks for silent legs, as due.
    pub(crate) fn on_timer(&mut self, now: Instant, scratch: &mut Scratch) {
        if let Some(t) = self.track.as_mut()
            && now >= self.next_pump
        {
            if let Err(e) = t.pump(false) {
                tracing::error!(error = %e, "recording write failed");
            }
            self.next_pump = next_tick(now, PUMP_EVERY);
        }
        if let Some(due) = self.next_frame
            && now >= due
        {
            self.frame(scratch);
            // Paced from the schedule, not from when the thread got round to it, so prompts
            // and mixes keep 20 ms on average; after a long stall the schedule restarts
            // instead of bursting.
            let next = due + PTIME;
            self.next_frame = Some(if next < now { next_tick(now, PTIME) } else { next });
            // A prompt may have ended, and with it the last need for frames.
            self.schedule(now);
        }
        if let Some(due) = self.next_check
            && now >= due
        {
            self.check_silence(now);
            self.next_check = Some(next_tick(now, CHECK_EVERY));
        }
    }

    /// One 20 ms frame: the next piece of every prompt, and a mix for every leg hearing several.
    fn frame(&mut self, scratch: &mut Scratch) {
        let mut ended = false;
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let (media, dest, connected_to) = (leg.media, leg.dest(), leg.connected_to());
            let Some(p) = leg.player.as_mut() else { continue };
            let (Some(media), Some(dest), Some(socket)) = (media, dest, self.sockets[i].as_ref()) else { continue };
            scratch.payload.clear();
            if p.looping {
                if p.samples.is_empty() {
                    continue;
                }
                for _ in 0..FRAME {
                    scratch.payload.push(media.codec.encode(p.samples[p.pos]));
                    p.pos = (p.pos + 1) % p.samples.len();
                }
            } else {
                let end = (p.pos + FRAME).min(p.samples.len());
                scratch.payload.extend(p.samples[p.pos..end].iter().map(|s| media.codec.encode(*s)));
                p.pos = end;
            }
            if !scratch.payload.is_empty() {
                RtpPacket {
                    payload_type: media.codec.payload_type(),
                    marker: p.fresh,
                    sequence: p.sequence,
                    timestamp: p.timestamp,
                    ssrc: PLAYER_SSRC,
                    payload: &scratch.payload,
                }
                .write(&mut scratch.out);
                let _ = send(socket, connected_to, dest, &scratch.out);
                p.fresh = false;
                p.sequence = p.sequence.wrapping_add(1);
                p.timestamp = p.timestamp.wrapping_add(FRAME as u32);
            }
            if !p.looping && p.pos >= p.samples.len() {
                let _ = self.events.send(MediaEvent::PlayDone { leg: LegId(i as u8) });
                leg.player = None;
                ended = true;
            }
        }
        let mut mix = [0i16; FRAME];
        for i in 0..self.legs.len() {
            if self.legs[i].mix_from.is_empty() {
                continue;
            }
            mix.fill(0);
            let mut any = false;
            for &s in &self.legs[i].mix_from {
                let queue = &self.legs[s].queue;
                let n = queue.len().min(FRAME);
                any |= n > 0;
                // Saturating: three loud voices clip rather than wrap round into noise.
                for (m, x) in mix.iter_mut().zip(&queue[..n]) {
                    *m = m.saturating_add(*x);
                }
            }
            let leg = &mut self.legs[i];
            let (media, dest, connected_to) = (leg.media, leg.dest(), leg.connected_to());
            let out = &mut leg.mix_out;
            // Nothing to mix (every speaker silent or late) sends nothing, as a phone with
            // silence suppression would; the timestamp still moves on, so the far end's jitter
            // buffer sees the gap for what it is.
            if let (true, Some(media), Some(dest), Some(socket)) = (any, media, dest, self.sockets[i].as_ref()) {
                scratch.payload.clear();
                scratch.payload.extend(mix.iter().map(|s| media.codec.encode(*s)));
                RtpPacket {
                    payload_type: media.codec.payload_type(),
                    marker: !out.talking,
                    sequence: out.sequence,
                    timestamp: out.timestamp,
                    ssrc: MIX_SSRC | i as u32,
                    payload: &scratch.payload,
                }
                .write(&mut scratch.out);
                let _ = send(socket, connected_to, dest, &scratch.out);
                out.sequence = out.sequence.wrapping_add(1);
                out.talking = true;
            } else {
                out.talking = false;
            }
            out.timestamp = out.timestamp.wrapping_add(FRAME as u32);
        }
        // Each speaker's frame is taken once per tick, whoever mixed it.
        for leg in &mut self.legs {
            if leg.mixed {
                let n = leg.queue.len().min(FRAME);
                leg.queue.drain(..n);
            }
        }
        if ended {
            self.rewire();
        }
    }

    /// Reports legs silent for longer than their limit, once per stretch of silence.
    fn check_silence(&mut self, now: Instant) {
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let last = leg.last_packet;
            let Some(w) = leg.watch.as_mut() else { continue };
            let from = last.map_or(w.since, |t| t.max(w.since));
            if now.saturating_duration_since(from) >= w.limit && w.reported != Some(from) {
                w.reported = Some(from);
                let _ = self.events.send(MediaEvent::Inactive { leg: LegId(i as u8) });
            }
        }
    }

    /// Reads and relays what is waiting on a leg's socket, as of `now` (the wakeup); `false` if
    /// the budget ran out first (more may be waiting, and the socket will not be reported
    /// readable again for it).
    pub(crate) fn drain(&mut self, leg: usize, scratch: &mut Scratch, now: Instant) -> bool {
        let Scratch { batch, out, payload, read } = scratch;
        for _ in 0..DRAIN_BUDGET / BATCH {
            // A removed leg's token may still be queued from before its socket closed.
            let Some(socket) = self.sockets.get(leg).and_then(Option::as_ref) else { return true };
            match batch.recv(socket) {
                Ok(n) => {
                    *read += n;
                    for i in 0..n {
                        if let (buf, Some(from)) = batch.get(i) {
                            self.on_packet(leg, buf, from, now, out, payload);
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

    fn on_packet(
        &mut self,
        leg: usize,
        buf: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut Vec<u8>,
        payload: &mut Vec<u8>,
    ) {
        if is_rtcp(buf) {
            return;
        }
        let Some(pkt) = RtpPacket::parse(buf) else { return crate::counters::dropped() };
        let (Some(this), Some(socket)) = (self.legs.get_mut(leg), self.sockets.get(leg).and_then(Option::as_ref))
        else {
            return;
        };
        // Nothing is taken before the leg's SDP is known; then the first packet fixes the peer
        // (symmetric RTP: behind NAT it comes from elsewhere than the SDP says), and from then
        // on only that peer is heard.
        let Some(media) = this.media else { return crate::counters::dropped() };
        match this.latched {
            None => {
                this.latched = Some(from);
                this.connected = socket.connect(from).is_ok();
            }
            Some(addr) if addr != from => return crate::counters::dropped(),
            Some(_) => {}
        }
        this.last_packet = Some(now);
        self.stats.received[leg] += 1;
        crate::counters::received();
        let is_event = media.telephone_event == Some(pkt.payload_type);
        let codec = if is_event { None } else { Codec::from_payload_type(pkt.payload_type) };
        if is_event {
            if let Some(digit) = this.dtmf.feed(pkt.timestamp, pkt.payload) {
                let _ = self.events.send(MediaEvent::Dtmf { leg: LegId(leg as u8), digit });
            }
        } else if let Some(codec) = codec {
            self.record_audio(leg, &pkt, codec);
            let this = &mut self.legs[leg];
            if this.mixed {
                // Only the newest QUEUE samples are kept: what falls off is the oldest.
                let take = pkt.payload.len().min(QUEUE);
                let overflow = (this.queue.len() + take).saturating_sub(QUEUE);
                this.queue.drain(..overflow);
                let fresh = &pkt.payload[pkt.payload.len() - take..];
                this.queue.extend(fresh.iter().map(|b| codec.decode(*b)));
            }
        }
        let speaker = &self.legs[leg];
        let mut forwarded = codec.is_some() && speaker.mixed;
        for &to in &speaker.relay_to {
            let other = &self.legs[to];
            let (Some(to_media), Some(dest), Some(socket)) = (other.media, other.dest(), self.sockets[to].as_ref())
            else {
                continue;
            };
            if is_event {
                let Some(pt) = to_media.telephone_event else { continue };
                RtpPacket { payload_type: pt, ..pkt }.write(out);
            } else {
                match codec {
                    Some(from_codec) if from_codec == to_media.codec => pkt.write(out),
                    Some(from_codec) => {
                        payload.clear();
                        payload.extend(pkt.payload.iter().map(|b| to_media.codec.encode(from_codec.decode(*b))));
                        RtpPacket { payload_type: to_media.codec.payload_type(), payload, ..pkt }.write(out);
                    }
                    None => continue,
                }
            }
            // A full send buffer drops the packet, as the network would, rather than stall
            // every other call on the media thread.
            forwarded |= send(socket, other.connected_to(), dest, out).is_ok();
        }
        if forwarded {
            self.stats.forwarded[leg] += 1;
        }
    }

    /// Opens the recording at the first audio packet after `record`, and adds this packet to it.
    fn record_audio(&mut self, leg: usize, pkt: &RtpPacket<'_>, codec: Codec) {
        if let Some((path, left)) = self.wanted.take() {
            match WavWriter::create(&path, 2) {
                Ok(writer) => {
                    let now = Instant::now();
                    self.track = Some(Track::new(writer, left, self.legs.len(), now));
                    self.next_pump = next_tick(now, PUMP_EVERY);
                    let _ = self.events.send(MediaEvent::RecordingOpened);
                }
                Err(e) => {
                    let _ = self.events.send(MediaEvent::RecordingFailed { error: e.to_string() });
                }
            }
        }
        let Some(t) = self.track.as_mut() else { return };
        self.stats.gap_samples[leg] += t.push(leg, pkt.timestamp, codec, pkt.payload, self.legs[leg].heard);
        if t.ready()
            && let Err(e) = t.pump(false)
        {
            tracing::error!(error = %e, "recording write failed");
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
        let recording = self.track.map(Track::finish);
        if let Some(reply) = self.reply {
            let _ = reply.send(SessionEnd { recording, stats: self.stats });
        }
    }
}
