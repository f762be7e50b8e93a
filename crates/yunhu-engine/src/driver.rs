//! The driver: runs a [`Scripted`] call over real SIP legs and one media room. It owns the IO
//! the machine asks for — INVITEs, answers, re-INVITEs, RTP sockets, prompts, the recording —
//! and turns what the legs and the media report back into the machine's inputs. Decisions stay
//! in the machine and the flows.

use crate::flows::{Flow, Scripted};
use crate::machine::{By, Call, Command, Input, LegRef, Ms, Note, Output, Refusal, Summary, Target};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use yunhu_core::call::{CallEventKind, Cause, HangupSide};
use yunhu_media::g711::Codec;
use yunhu_media::ports::PortPool;
use yunhu_media::relay::{LegId, LegMedia, MediaEvent, MediaSession, RelayStats};
use yunhu_media::sdp::{self, AudioDescription};
use yunhu_sip::{Dial, Direction, EndedBy, IncomingLeg, LegControl, LegEvent, SipStack};

/// A boxed future.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the driver needs of the contact-center layer while a call runs.
pub trait CallHooks: Send + Sync + 'static {
    /// Appends an event to the call's log (queued: a call in progress never waits on the disk).
    fn log(&self, kind: CallEventKind);
    /// The samples of a prompt (names joined by `,` play one after the other); `music_on_hold`
    /// is the tenant's hold music.
    fn prompt(&self, name: &str) -> Arc<[i16]>;
    /// Hears the call's notes, with the call as it stands after them (who is busy, who talks).
    fn note(&self, note: &Note, call: &Call);
    /// A free agent's phone for a flow that waits for one ([`Flow::wants_agent`]), reserved for
    /// this call; `None` when nobody is free now.
    fn offer_agent(&self) -> BoxFuture<'_, Option<Target>> {
        Box::pin(async { None })
    }
    /// Where a phone's REFER points (an extension or a number), as a target of this call's
    /// tenant; `None` refuses the transfer.
    fn resolve(&self, _number: String) -> BoxFuture<'_, Option<Target>> {
        Box::pin(async { None })
    }
}

/// Settings shared by every call.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address RTP is bound to and announced in SDP.
    pub media_ip: IpAddr,
    /// How long a leg may send no RTP before its peer counts as gone.
    pub rtp_inactivity: Duration,
}

/// The call engine: starts calls and hands out their command handles.
#[derive(Clone)]
pub struct Engine {
    sip: SipStack,
    ports: Arc<PortPool>,
    config: EngineConfig,
}

/// A request to a running call.
pub struct Request {
    command: Command,
    /// An incoming leg the command adopts (a supervisor calling in to spy).
    attach: Option<(IncomingLeg, String)>,
    reply: Option<oneshot::Sender<Result<(), Refusal>>>,
}

/// Sends commands to a running call.
#[derive(Clone, Debug)]
pub struct CallHandle {
    tx: mpsc::UnboundedSender<Request>,
}

/// Why a command did not apply.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The call refused it; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The call is over.
    #[error("the call is over")]
    Gone,
}

impl CallHandle {
    /// Applies a command to the call; its answer says whether anything changed.
    pub async fn send(&self, command: Command) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Request { command, attach: None, reply: Some(reply) }).map_err(|_| CommandError::Gone)?;
        rx.await.map_err(|_| CommandError::Gone)?.map_err(CommandError::Refused)
    }

    /// Applies a command without waiting for its answer.
    pub fn post(&self, command: Command) -> bool {
        self.tx.send(Request { command, attach: None, reply: None }).is_ok()
    }

    /// Adopts an incoming leg with `command` (a spy with no target): the leg becomes the
    /// command's new party; refused commands reject the leg.
    pub async fn attach(&self, command: Command, leg: IncomingLeg, offer: String) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { command, attach: Some((leg, offer)), reply: Some(reply) })
            .map_err(|_| CommandError::Gone)?;
        rx.await.map_err(|_| CommandError::Gone)?.map_err(CommandError::Refused)
    }
}

/// What a call needs to start.
pub struct CallSpec {
    /// The call's id (sent to phones as `X-Yunhu-Call`).
    pub call_id: String,
    /// Its flow.
    pub flow: Box<dyn Flow>,
    /// The incoming leg a flow adopts as its first leg, with its SDP offer.
    pub incoming: Option<(IncomingLeg, String)>,
    /// Where the recording goes, if the flow records.
    pub recording: Option<(PathBuf, String)>,
    /// The contact-center layer's side.
    pub hooks: Arc<dyn CallHooks>,
}

/// How a call ended.
#[derive(Debug, Clone)]
pub struct CallEnd {
    /// Why.
    pub cause: Cause,
    /// Who.
    pub side: HangupSide,
    /// What it leaves for its owner.
    pub summary: Summary,
    /// When it ended, ms after it started (the summary's times count from the start too).
    pub ended_at: Ms,
}

/// The SDP offer for a new leg; `prefer` first, so a bridge whose other leg already speaks it
/// needs no transcoding.
pub fn offer_sdp(media_ip: IpAddr, port: u16, prefer: Option<Codec>) -> String {
    let codecs = match prefer {
        Some(Codec::Pcma) => vec![Codec::Pcma, Codec::Pcmu],
        _ => vec![Codec::Pcmu, Codec::Pcma],
    };
    let desc = AudioDescription { addr: media_ip, port, codecs, telephone_event: Some(101) };
    sdp::render(u64::from(port), &desc)
}

/// Where a peer's SDP wants RTP.
pub fn leg_media(sdp_text: &str) -> Option<LegMedia> {
    let d = sdp::parse(sdp_text)?;
    Some(LegMedia {
        remote: SocketAddr::new(d.addr, d.port),
        codec: sdp::choose(&d)?,
        telephone_event: d.telephone_event,
    })
}

/// Our answer to an offer, and the peer's media.
pub fn answer_for(offer: &str, media_ip: IpAddr, port: u16) -> Option<(String, LegMedia)> {
    let theirs = sdp::parse(offer)?;
    let codec = sdp::choose(&theirs)?;
    let ours = AudioDescription { addr: media_ip, port, codecs: vec![codec], telephone_event: theirs.telephone_event };
    let media =
        LegMedia { remote: SocketAddr::new(theirs.addr, theirs.port), codec, telephone_event: theirs.telephone_event };
    Some((sdp::render(u64::from(port), &ours), media))
}

/// Marks a media leg that served a call leg now over (no call has this many legs).
const RETIRED: LegRef = LegRef(u8::MAX);

/// What the driver does to a leg's SIP side, from its own task.
enum LegOp {
    Ring,
    Answer(String),
    Reject(u16),
}

/// A leg's SIP side as the driver keeps it.
struct SipLeg {
    control: LegControl,
    ops: Option<mpsc::UnboundedSender<LegOp>>,
    /// Our SDP for this leg (for re-INVITEs).
    local_sdp: String,
    /// The peer's media from its offer, set when an incoming leg is answered.
    offered: Option<LegMedia>,
}

impl Engine {
    /// The engine over a running SIP stack.
    pub fn new(sip: SipStack, ports: PortPool, config: EngineConfig) -> Engine {
        Engine { sip, ports: Arc::new(ports), config }
    }

    /// The SIP stack.
    pub fn sip(&self) -> &SipStack {
        &self.sip
    }

    /// Starts a call; returns its handle at once and, through the join handle, how it ended.
    pub fn start(&self, spec: CallSpec) -> (CallHandle, tokio::task::JoinHandle<CallEnd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = self.clone();
        let join = tokio::spawn(async move { engine.run(spec, rx).await });
        (CallHandle { tx }, join)
    }

    async fn run(&self, spec: CallSpec, requests: mpsc::UnboundedReceiver<Request>) -> CallEnd {
        let CallSpec { call_id, flow, incoming, recording, hooks } = spec;
        let started = Instant::now();
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let session = match MediaSession::open(&self.ports, self.config.media_ip, media_tx) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%call_id, error = %e, "no media ports");
                if let Some((leg, _)) = incoming {
                    leg.reject(503);
                }
                let cause = Cause::NormalTemporaryFailure;
                hooks.log(CallEventKind::HungUp { cause, side: HangupSide::System });
                return CallEnd { cause, side: HangupSide::System, summary: Summary::default(), ended_at: 0 };
            }
        };
        // The room starts silent: the machine says who hears whom as legs come up.
        session.set_hearing(LegId::A, Vec::new());
        session.set_hearing(LegId::B, Vec::new());
        let (leg_tx, leg_rx) = mpsc::unbounded_channel();
        let run = Running {
            engine: self.clone(),
            call_id,
            hooks,
            session,
            started,
            legs: HashMap::new(),
            slots: vec![None, None],
            leg_tx,
            recording,
            recording_started: false,
            codec_hint: None,
            pending_incoming: incoming,
        };
        let (scripted, first) = Scripted::start(flow, 0);
        run.main(scripted, first, requests, leg_rx, media_rx).await
    }
}

/// A call while it runs: the machine's IO.
struct Running {
    engine: Engine,
    call_id: String,
    hooks: Arc<dyn CallHooks>,
    session: MediaSession,
    started: Instant,
    legs: HashMap<LegRef, SipLeg>,
    /// Media room legs: which call leg each holds (`None` not used yet, [`RETIRED`] closed).
    slots: Vec<Option<LegRef>>,
    leg_tx: mpsc::UnboundedSender<(LegRef, LegEvent)>,
    recording: Option<(PathBuf, String)>,
    recording_started: bool,
    codec_hint: Option<Codec>,
    /// An incoming leg waiting for the machine's next adopted leg.
    pending_incoming: Option<(IncomingLeg, String)>,
}

impl Running {
    fn now(&self) -> Ms {
        self.started.elapsed().as_millis() as Ms
    }

    async fn main(
        mut self,
        mut s: Scripted,
        first: Vec<Output>,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut leg_rx: mpsc::UnboundedReceiver<(LegRef, LegEvent)>,
        mut media_rx: mpsc::UnboundedReceiver<MediaEvent>,
    ) -> CallEnd {
        let mut queue: Vec<Input> = Vec::new();
        let mut done = self.perform(&s.call, first, &mut queue).await;
        let agent_poll = Duration::from_millis(100);
        while done.is_none() {
            // Inputs the driver raised itself (a failed dial, an unusable answer) go first.
            if let Some(input) = (!queue.is_empty()).then(|| queue.remove(0)) {
                done = self.step(&mut s, input, &mut queue).await;
                continue;
            }
            let deadline = s.call.next_deadline().map(|ms| self.started + Duration::from_millis(ms.max(0) as u64));
            let wants_agent = s.flow.wants_agent(&s.call);
            tokio::select! {
                Some(req) = requests.recv() => {
                    let Request { command, attach, reply } = req;
                    if let Some(attach) = attach {
                        self.pending_incoming = Some(attach);
                    }
                    let now = self.now();
                    let result = s.step(now, Input::Command(command));
                    let answer = match result {
                        Ok(out) => {
                            done = self.perform(&s.call, out, &mut queue).await;
                            Ok(())
                        }
                        Err(refusal) => Err(refusal),
                    };
                    // An attached leg the command did not adopt is refused.
                    if let Some((leg, _)) = self.pending_incoming.take() {
                        leg.reject(if answer.is_ok() { 500 } else { 403 });
                    }
                    if let Some(r) = reply { let _ = r.send(answer); }
                }
                Some((leg, ev)) = leg_rx.recv() => {
                    if let LegEvent::Refer { target, .. } = &ev {
                        let resolved = self.hooks.resolve(target.clone()).await;
                        let ok = resolved.is_some();
                        if let Some(l) = self.legs.get(&leg) {
                            let control = l.control.clone();
                            tokio::spawn(async move { control.notify_refer(if ok { 200 } else { 503 }).await });
                        }
                        if let Some(target) = resolved {
                            done = self.step(&mut s, Input::Refer { leg, target }, &mut queue).await;
                        }
                    } else if let Some(input) = self.leg_input(leg, ev).await {
                        done = self.step(&mut s, input, &mut queue).await;
                    }
                }
                Some(ev) = media_rx.recv() => {
                    if let Some(input) = self.media_input(ev) {
                        done = self.step(&mut s, input, &mut queue).await;
                    }
                }
                _ = sleep_until_opt(deadline) => {
                    done = self.step(&mut s, Input::Tick, &mut queue).await;
                }
                _ = tokio::time::sleep(agent_poll), if wants_agent => {
                    if let Some(target) = self.hooks.offer_agent().await {
                        let command = crate::flows::CustomerFirst::offer(target);
                        done = self.step(&mut s, Input::Command(command), &mut queue).await;
                    }
                }
            }
        }
        let (cause, side) = done.unwrap_or((Cause::NormalClearing, HangupSide::System));
        let ended_at = self.now();
        let end = self.session.stop().await;
        self.hooks.log(media_stats(&end.stats));
        if let (Some(Ok(info)), Some((_, rel))) = (end.recording, &self.recording) {
            self.hooks.log(CallEventKind::RecordingStopped {
                path: rel.clone(),
                duration_ms: info.duration_ms(),
                repaired: false,
            });
        }
        self.hooks.log(CallEventKind::HungUp { cause, side });
        CallEnd { cause, side, summary: s.call.summary(), ended_at }
    }

    async fn step(&mut self, s: &mut Scripted, input: Input, queue: &mut Vec<Input>) -> Option<(Cause, HangupSide)> {
        let now = self.now();
        match s.step(now, input) {
            Ok(out) => self.perform(&s.call, out, queue).await,
            Err(_) => None,
        }
    }

    fn slot_of(&self, leg: LegRef) -> Option<LegId> {
        self.slots.iter().position(|s| *s == Some(leg)).map(|i| LegId(i as u8))
    }

    /// A media leg for a call leg: a free one, else a new one.
    fn take_slot(&mut self, leg: LegRef) -> Option<LegId> {
        if let Some(id) = self.slot_of(leg) {
            return Some(id);
        }
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(leg);
            return Some(LegId(i as u8));
        }
        match self.session.add_leg(&self.engine.ports, self.engine.config.media_ip) {
            Ok(id) => {
                let i = usize::from(id.0);
                if self.slots.len() <= i {
                    self.slots.resize(i + 1, None);
                }
                self.slots[i] = Some(leg);
                Some(id)
            }
            Err(e) => {
                tracing::error!(call_id = %self.call_id, error = %e, "no media port for a further leg");
                None
            }
        }
    }

    /// Carries out the machine's outputs; `Some` once the call is over.
    async fn perform(&mut self, call: &Call, out: Vec<Output>, queue: &mut Vec<Input>) -> Option<(Cause, HangupSide)> {
        let mut done = None;
        for o in out {
            match o {
                Output::Dial { leg, target } => self.dial(leg, target, queue),
                Output::Adopt(leg) => match self.pending_incoming.take() {
                    Some((incoming, offer)) => self.adopt(leg, incoming, offer, queue),
                    None => queue.push(Input::Ended { leg, status: 500, by: By::Local }),
                },
                Output::Ring(leg) => self.leg_op(leg, LegOp::Ring),
                Output::Answer(leg) => self.answer(leg).await,
                Output::Reject { leg, status } => {
                    self.leg_op(leg, LegOp::Reject(status));
                    // A leg refused before it was ever adopted by the driver ends here.
                    if !self.legs.contains_key(&leg) {
                        queue.push(Input::Ended { leg, status, by: By::Local });
                    }
                }
                Output::Hangup(leg) => match self.legs.get(&leg) {
                    Some(l) => {
                        let control = l.control.clone();
                        tokio::spawn(async move { control.hangup().await });
                    }
                    None => queue.push(Input::Ended { leg, status: 487, by: By::Local }),
                },
                Output::Reinvite { leg, hold } => {
                    if let Some(l) = self.legs.get(&leg) {
                        let control = l.control.clone();
                        // While we hold the peer we only send (the music); resuming is both ways again.
                        let direction = if hold { Direction::SendOnly } else { Direction::SendRecv };
                        let sdp = yunhu_sip::with_direction(&l.local_sdp, direction);
                        let call_id = self.call_id.clone();
                        tokio::spawn(async move {
                            if let Err(e) = control.reinvite(&sdp).await {
                                tracing::warn!(%call_id, error = %e, "re-INVITE refused");
                            }
                        });
                    }
                }
                Output::Hearing { listener, speakers } => {
                    if let Some(l) = self.slot_of(listener) {
                        let speakers = speakers.iter().filter_map(|s| self.slot_of(*s)).collect();
                        self.session.set_hearing(l, speakers);
                    }
                }
                Output::Play { leg, prompt } => {
                    if let Some(slot) = self.slot_of(leg) {
                        let samples = self.hooks.prompt(&prompt);
                        self.session.play(slot, samples).await;
                    }
                }
                Output::MusicOnHold(leg) => {
                    if let Some(slot) = self.slot_of(leg) {
                        self.session.play_loop(slot, self.hooks.prompt("music_on_hold"));
                    }
                }
                Output::StopPlay(leg) => {
                    if let Some(slot) = self.slot_of(leg) {
                        self.session.stop_play(slot);
                    }
                }
                Output::Record { left } => {
                    if let (Some(slot), Some((path, _))) = (self.slot_of(left), &self.recording) {
                        self.session.record(path.clone(), slot).await;
                    }
                }
                Output::Inactivity { leg, watch } => {
                    if let Some(slot) = self.slot_of(leg) {
                        self.session.set_inactivity(slot, watch.then_some(self.engine.config.rtp_inactivity));
                    }
                }
                Output::Release(leg) => {
                    // A released media leg is closed, never handed to the next party: a stream
                    // still arriving from the old far end must not be latched as theirs.
                    if let Some(slot) = self.slot_of(leg) {
                        self.session.remove_leg(slot);
                        self.slots[usize::from(slot.0)] = Some(RETIRED);
                    }
                    self.legs.remove(&leg);
                }
                Output::Log(kind) => self.hooks.log(kind),
                Output::Note(note) => self.hooks.note(&note, call),
                Output::Done { cause, side } => done = Some((cause, side)),
            }
        }
        done
    }

    fn leg_op(&self, leg: LegRef, op: LegOp) {
        if let Some(ops) = self.legs.get(&leg).and_then(|l| l.ops.as_ref()) {
            let _ = ops.send(op);
        } else if let (LegOp::Reject(status), Some((pending, _))) = (&op, &self.pending_incoming) {
            // Refusing the leg being adopted.
            pending.reject(*status);
        }
    }

    fn dial(&mut self, leg: LegRef, target: Target, queue: &mut Vec<Input>) {
        let Some(slot) = self.take_slot(leg) else {
            queue.push(Input::Ended { leg, status: 503, by: By::Local });
            return;
        };
        let local_sdp = offer_sdp(self.engine.config.media_ip, self.session.local_addr(slot).port(), self.codec_hint);
        let dial = Dial {
            request_uri: target.request_uri,
            destination: target.destination,
            tcp: target.tcp,
            from_user: target.from_user,
            from_domain: target.from_domain,
            display_name: None,
            sdp: local_sdp.clone(),
            headers: vec![("X-Yunhu-Call".into(), self.call_id.clone())],
        };
        match self.engine.sip.dial(dial) {
            Ok(mut out) => {
                let control = out.control();
                let tx = self.leg_tx.clone();
                tokio::spawn(async move {
                    while let Some(ev) = out.next().await {
                        if tx.send((leg, ev)).is_err() {
                            break;
                        }
                    }
                });
                self.legs.insert(leg, SipLeg { control, ops: None, local_sdp, offered: None });
            }
            Err(e) => {
                tracing::warn!(call_id = %self.call_id, error = %e, "dial failed");
                queue.push(Input::Ended { leg, status: 503, by: By::Network });
            }
        }
    }

    /// Answers an incoming leg: the one adopted at the start or attached by a command.
    async fn answer(&mut self, leg: LegRef) {
        let Some(slot) = self.slot_of(leg) else { return };
        let Some(l) = self.legs.get(&leg) else { return };
        if let Some(media) = l.offered {
            self.session.set_remote(slot, media).await;
        }
        l.control.set_local_sdp(&l.local_sdp);
        if let Some(ops) = &l.ops {
            let _ = ops.send(LegOp::Answer(l.local_sdp.clone()));
        }
    }

    /// Takes an incoming leg as call leg `leg`: its own task rings, answers or refuses it and
    /// reports what happens on it.
    fn adopt(&mut self, leg: LegRef, mut incoming: IncomingLeg, offer: String, queue: &mut Vec<Input>) {
        let Some(slot) = self.take_slot(leg) else {
            incoming.reject(503);
            queue.push(Input::Ended { leg, status: 503, by: By::Local });
            return;
        };
        let Some((answer, media)) =
            answer_for(&offer, self.engine.config.media_ip, self.session.local_addr(slot).port())
        else {
            incoming.reject(488);
            queue.push(Input::Ended { leg, status: 488, by: By::Local });
            return;
        };
        self.codec_hint.get_or_insert(media.codec);
        let control = incoming.control();
        let (ops_tx, mut ops) = mpsc::unbounded_channel();
        let tx = self.leg_tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = incoming.next() => match ev {
                        Some(ev) => if tx.send((leg, ev)).is_err() { break },
                        None => break,
                    },
                    Some(op) = ops.recv() => match op {
                        LegOp::Ring => incoming.ring(),
                        LegOp::Answer(sdp) => incoming.answer(&sdp),
                        LegOp::Reject(status) => incoming.reject(status),
                    },
                }
            }
        });
        self.legs.insert(leg, SipLeg { control, ops: Some(ops_tx), local_sdp: answer, offered: Some(media) });
    }

    /// A leg's news as the machine's input.
    async fn leg_input(&mut self, leg: LegRef, ev: LegEvent) -> Option<Input> {
        match ev {
            LegEvent::Ringing => Some(Input::Ringing(leg)),
            LegEvent::Answered { sdp } => {
                let slot = self.slot_of(leg)?;
                match leg_media(&sdp) {
                    Some(media) => {
                        self.codec_hint.get_or_insert(media.codec);
                        self.session.set_remote(slot, media).await;
                        if let Some(l) = self.legs.get(&leg) {
                            l.control.set_local_sdp(&l.local_sdp);
                        }
                        Some(Input::Answered(leg))
                    }
                    None => {
                        // No audio we can speak: this leg cannot take part.
                        if let Some(l) = self.legs.get(&leg) {
                            let control = l.control.clone();
                            tokio::spawn(async move { control.hangup().await });
                        }
                        Some(Input::Ended { leg, status: 488, by: By::Local })
                    }
                }
            }
            LegEvent::Ended { status, by } => {
                let by = match by {
                    EndedBy::Remote => By::Remote,
                    EndedBy::Local => By::Local,
                    EndedBy::Network => By::Network,
                };
                Some(Input::Ended { leg, status, by })
            }
            LegEvent::Reoffer { sdp, direction } => {
                if let (Some(slot), Some(media)) = (self.slot_of(leg), leg_media(&sdp)) {
                    self.session.set_remote(slot, media).await;
                }
                let held = matches!(direction, Direction::SendOnly | Direction::Inactive);
                Some(Input::PeerHold { leg, held })
            }
            LegEvent::Dtmf { digit } => Some(Input::Dtmf { leg, digit }),
            // Resolved in the main loop, which may wait on the hooks.
            LegEvent::Refer { .. } => None,
        }
    }

    fn media_input(&mut self, ev: MediaEvent) -> Option<Input> {
        let leg_of = |slots: &[Option<LegRef>], id: LegId| {
            slots.get(usize::from(id.0)).copied().flatten().filter(|l| *l != RETIRED)
        };
        match ev {
            MediaEvent::Dtmf { leg, digit } => Some(Input::Dtmf { leg: leg_of(&self.slots, leg)?, digit }),
            MediaEvent::PlayDone { leg } => Some(Input::PlayDone(leg_of(&self.slots, leg)?)),
            MediaEvent::Inactive { leg } => Some(Input::Inactive(leg_of(&self.slots, leg)?)),
            MediaEvent::RecordingOpened => {
                if let (false, Some((_, rel))) = (self.recording_started, &self.recording) {
                    self.recording_started = true;
                    self.hooks.log(CallEventKind::RecordingStarted { path: rel.clone() });
                }
                None
            }
            MediaEvent::RecordingFailed { error } => {
                tracing::error!(call_id = %self.call_id, %error, "recording could not start");
                None
            }
        }
    }
}

fn media_stats(stats: &RelayStats) -> CallEventKind {
    CallEventKind::MediaStats {
        received: stats.received.iter().sum(),
        forwarded: stats.forwarded.iter().sum(),
        gap_ms: stats.gap_samples.iter().sum::<u64>() / 8,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
