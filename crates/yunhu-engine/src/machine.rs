//! The call as a pure state machine: legs, who hears whom, and what a command or a leg's news
//! does to the call. No IO and no clock of its own: the driver passes `now` (ms) in and carries
//! the [`Output`]s out (SIP actions, media changes, event-log entries), the way the dialer's
//! pacer is driven, so every call flow is a unit test without sockets.
//!
//! Feed it with [`Call::handle`], then drain [`Call::poll_output`]; wake it at
//! [`Call::next_deadline`] with [`Input::Tick`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use yunhu_core::call::{CallEventKind, Cause, HangupSide, Side};

/// Milliseconds on the driver's clock.
pub type Ms = i64;

/// How long a call whose outcome is decided waits for its legs to confirm their end.
pub const GIVE_UP_MS: Ms = 5_000;

/// A leg of the call: its index, which is also its leg in the media room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegRef(pub u8);

/// What a leg is to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The customer (the callee of an extension-to-extension call counts as one).
    Customer,
    /// The agent holding the call's seat.
    Agent,
    /// A guest brought into a meeting.
    Meeting,
    /// The party an agent consults before an attended transfer.
    Consult,
    /// A supervisor listening, whispering or barging in.
    Supervisor,
}

impl Role {
    /// The side its events are logged under; further parties have none (they are logged as parties).
    pub fn side(self) -> Option<Side> {
        match self {
            Role::Customer => Some(Side::Customer),
            Role::Agent => Some(Side::Agent),
            _ => None,
        }
    }

    /// Who hung up, when this leg's far end did.
    fn hangup_side(self) -> HangupSide {
        match self {
            Role::Customer => HangupSide::Customer,
            _ => HangupSide::Agent,
        }
    }

    /// The name in `party_joined` / `party_left` events.
    pub fn name(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Meeting => "meeting",
            Role::Consult => "consult",
            Role::Supervisor => "supervisor",
        }
    }

    /// A party of the conversation (a supervisor is not, whatever the mode).
    fn talks(self) -> bool {
        !matches!(self, Role::Supervisor)
    }
}

/// How a supervisor takes part (seed 004 `spytype` 1, 2, 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpyMode {
    /// 质检: hears both, heard by nobody.
    Listen,
    /// 密语: hears both, heard by the agent only.
    Whisper,
    /// 三方通话: everyone hears everyone.
    Barge,
}

impl SpyMode {
    /// `listen`, `whisper`, `barge`.
    pub fn name(self) -> &'static str {
        match self {
            SpyMode::Listen => "listen",
            SpyMode::Whisper => "whisper",
            SpyMode::Barge => "barge",
        }
    }

    /// Parses [`SpyMode::name`].
    pub fn parse(s: &str) -> Option<SpyMode> {
        [SpyMode::Listen, SpyMode::Whisper, SpyMode::Barge].into_iter().find(|m| m.name() == s)
    }

    /// The key a spying supervisor presses to switch to this mode: 4 listen, 5 whisper, 6 barge.
    pub fn of_digit(digit: char) -> Option<SpyMode> {
        match digit {
            '4' => Some(SpyMode::Listen),
            '5' => Some(SpyMode::Whisper),
            '6' => Some(SpyMode::Barge),
            _ => None,
        }
    }
}

/// Where to send an INVITE, resolved by the contact-center layer before the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request-URI.
    pub request_uri: String,
    /// Where the INVITE goes.
    pub destination: SocketAddr,
    /// Over TCP.
    pub tcp: bool,
    /// From user (the number shown).
    pub from_user: String,
    /// From domain.
    pub from_domain: String,
    /// The extension or number dialled, for events.
    pub number: String,
    /// The staff account reached, if staff.
    pub staff: String,
}

/// Who ended a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Its far end.
    Remote,
    /// We did.
    Local,
    /// Nobody: the network gave up.
    Network,
}

/// What the contact-center layer (or a flow) asks of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Dial a new leg; `essential`: its failure before answer ends the call; `joins`: it joins
    /// the room when answered (else the flow sends [`Command::Join`]).
    Originate {
        /// What the leg is.
        role: Role,
        /// Where it goes.
        target: Target,
        /// Ring limit; 0 for none.
        ring_timeout_ms: Ms,
        /// Ends the call if it fails before answer.
        essential: bool,
        /// Joins the room on answer.
        joins: bool,
    },
    /// Take an incoming leg (the driver holds its SIP side).
    Adopt {
        /// What the leg is.
        role: Role,
        /// The staff member calling, if staff.
        staff: String,
        /// Who is calling.
        number: String,
    },
    /// 180 to an incoming leg.
    Ring(LegRef),
    /// Answer an incoming leg.
    Answer(LegRef),
    /// Let an answered leg into the room.
    Join(LegRef),
    /// Record the call once customer and agent are connected.
    Record,
    /// Put the customer on hold (music on hold).
    Hold,
    /// Take the customer off hold.
    Unhold,
    /// Play a prompt to a leg; [`Note::PlayDone`] follows.
    Play {
        /// To whom.
        leg: LegRef,
        /// The prompt's name.
        prompt: String,
    },
    /// Start (`on`) or stop the music-on-hold loop to a leg (a caller waiting in a queue).
    Music {
        /// To whom.
        leg: LegRef,
        /// Start or stop.
        on: bool,
    },
    /// Wake the flow at `at` with [`Note::Timer`].
    Timer {
        /// When.
        at: Ms,
        /// Its tag.
        tag: u32,
    },
    /// Decide the call's outcome now (the first decision stands).
    Outcome {
        /// Why it ends.
        cause: Cause,
        /// Who ends it.
        side: HangupSide,
    },
    /// Hand the call to another agent at once; the customer hears music until they answer.
    BlindTransfer {
        /// The new agent's phone.
        target: Target,
        /// Ring limit.
        ring_timeout_ms: Ms,
    },
    /// Hold the customer and ring a colleague to consult.
    Consult {
        /// The colleague.
        target: Target,
        /// Ring limit.
        ring_timeout_ms: Ms,
    },
    /// The consulted party takes the call; the agent leaves.
    CompleteTransfer,
    /// Drop the consulted party; the customer is back with the agent.
    CancelTransfer,
    /// Bring a further party into the conversation (a meeting).
    AddParty {
        /// The guest.
        target: Target,
        /// Ring limit.
        ring_timeout_ms: Ms,
    },
    /// A supervisor joins in `mode`: dialled at `target`, or (`None`) their own incoming leg.
    Spy {
        /// The mode.
        mode: SpyMode,
        /// The supervisor's phone, or `None` when they called in.
        target: Option<Target>,
        /// The supervisor's account.
        staff: String,
        /// Ring limit.
        ring_timeout_ms: Ms,
    },
    /// Switch the supervisor's mode.
    SetSpyMode(SpyMode),
    /// Hang up one leg.
    HangupLeg(LegRef),
    /// End the whole call.
    Hangup,
    /// End the call only if nobody answered yet (the dialer's drop of a ringing call).
    HangupIfUnanswered,
    /// Append an event of the flow's own to the call's log (IVR nodes, queue entry, survey).
    Log(CallEventKind),
    /// Ask the contact-center layer for what only it can do (enter a queue, ring an extension,
    /// keep a place for a call back); it hears the request as [`Note::Asked`].
    Ask(String),
    /// Tell the flow something only the contact-center layer knows (the caller's place in the
    /// queue, an overflow to voice mail); the flow hears it as [`Note::Told`].
    Tell(String),
    /// From now on a party's leaving does not end the call: the flow decides (a caller kept on
    /// the line for the survey after the agent hung up).
    StayOpen,
    /// Record the customer alone from now on (a voice message).
    RecordCaller,
}

/// Why a command changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The call is not connected (or already ending).
    #[error("the call is not connected")]
    NotUp,
    /// There is no such leg.
    #[error("no such leg")]
    NoSuchLeg,
    /// The customer is on hold already.
    #[error("the call is on hold already")]
    AlreadyHeld,
    /// The customer is not on hold.
    #[error("the call is not on hold")]
    NotHeld,
    /// No supervisor is on the call.
    #[error("nobody is spying on the call")]
    NoSupervisor,
    /// A supervisor is on the call already.
    #[error("a supervisor is on the call already")]
    AlreadySpied,
    /// A consultation is under way.
    #[error("a transfer is under way")]
    Consulting,
    /// No consultation is under way (or the consulted party has not answered).
    #[error("no consulted party has answered")]
    NoConsult,
}

/// News of a leg or of the media, from the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A command.
    Command(Command),
    /// The leg rings.
    Ringing(LegRef),
    /// The leg answered.
    Answered(LegRef),
    /// The leg is over.
    Ended {
        /// Which.
        leg: LegRef,
        /// Final SIP status (200 after a BYE).
        status: u16,
        /// Who ended it.
        by: By,
    },
    /// The leg's phone put us on hold (`true`) or resumed, by re-INVITE.
    PeerHold {
        /// Which.
        leg: LegRef,
        /// Held or resumed.
        held: bool,
    },
    /// A key pressed on the leg.
    Dtmf {
        /// Which.
        leg: LegRef,
        /// The key.
        digit: char,
    },
    /// A prompt finished on the leg.
    PlayDone(LegRef),
    /// No RTP arrived on the leg for the inactivity limit.
    Inactive(LegRef),
    /// The leg's phone asked to transfer the call (REFER) to `target`.
    Refer {
        /// Which.
        leg: LegRef,
        /// Where to.
        target: Target,
    },
    /// Time passed.
    Tick,
}

/// What flows and the contact-center layer hear of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A leg rings.
    Ringing(LegRef),
    /// A leg answered.
    Answered(LegRef),
    /// A leg ended.
    Ended(LegRef),
    /// Customer and agent are connected for the first time.
    Bridged,
    /// A key was pressed.
    Dtmf(LegRef, char),
    /// A prompt finished.
    PlayDone(LegRef),
    /// A flow's timer fired.
    Timer(u32),
    /// A flow asked the contact-center layer for something ([`Command::Ask`]).
    Asked(String),
    /// The contact-center layer told the flow something ([`Command::Tell`]).
    Told(String),
    /// The agent seat moved from one staff member to another (transfer).
    SeatChanged {
        /// Who left.
        from: String,
        /// Who has it now.
        to: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send an INVITE for a new leg.
    Dial {
        /// The leg.
        leg: LegRef,
        /// Where.
        target: Target,
    },
    /// Take the incoming leg handed over with the command as this leg.
    Adopt(LegRef),
    /// 180 to an incoming leg.
    Ring(LegRef),
    /// 200 to an incoming leg.
    Answer(LegRef),
    /// Refuse an incoming leg.
    Reject {
        /// The leg.
        leg: LegRef,
        /// SIP status.
        status: u16,
    },
    /// CANCEL or BYE.
    Hangup(LegRef),
    /// re-INVITE the leg: `hold` sends a=sendonly, else a=sendrecv.
    Reinvite {
        /// The leg.
        leg: LegRef,
        /// Hold or resume.
        hold: bool,
    },
    /// From now on `listener` hears exactly `speakers`.
    Hearing {
        /// The listener.
        listener: LegRef,
        /// Whom it hears.
        speakers: Vec<LegRef>,
    },
    /// Play a prompt to a leg once.
    Play {
        /// The leg.
        leg: LegRef,
        /// The prompt.
        prompt: String,
    },
    /// Play the tenant's music on hold to a leg until [`Output::StopPlay`].
    MusicOnHold(LegRef),
    /// Stop a leg's prompt or music.
    StopPlay(LegRef),
    /// Start recording, the `left` leg on the left channel.
    Record {
        /// The customer.
        left: LegRef,
    },
    /// Watch (or stop watching) the leg for RTP inactivity.
    Inactivity {
        /// The leg.
        leg: LegRef,
        /// Watch or not.
        watch: bool,
    },
    /// The leg is over: its media can go.
    Release(LegRef),
    /// Append to the call's event log.
    Log(CallEventKind),
    /// Tell the flow and the contact-center layer.
    Note(Note),
    /// The call is over.
    Done {
        /// Why.
        cause: Cause,
        /// Who ended it.
        side: HangupSide,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Dialing,
    Ringing,
    Up,
    Ended,
}

/// Why a customer hears music.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldBy {
    /// A command (API, desk).
    Command,
    /// The agent's phone (re-INVITE).
    Phone,
    /// Waiting for a transferred-to or consulted agent.
    Transfer,
}

#[derive(Debug, Clone)]
struct Leg {
    role: Role,
    state: LegState,
    incoming: bool,
    essential: bool,
    joins: bool,
    joined: bool,
    staff: String,
    number: String,
    ring_deadline: Option<Ms>,
    timed_out: bool,
    hung_up_by_us: bool,
    answered: bool,
    held: Option<HoldBy>,
    /// Left the call by design (transfer, cancelled consultation): its end ends nothing.
    leaving: bool,
    heard: Vec<LegRef>,
}

impl Leg {
    fn live(&self) -> bool {
        self.state != LegState::Ended
    }

    fn up(&self) -> bool {
        self.state == LegState::Up
    }

    /// In the conversation: answered, joined, not held, not leaving, not a supervisor.
    fn talking(&self) -> bool {
        self.up() && self.joined && self.held.is_none() && !self.leaving && self.role.talks()
    }
}

/// What a finished call leaves for its owner (the dialer learns from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// When the customer answered.
    pub answered_at: Option<Ms>,
    /// When customer and agent were first connected.
    pub bridged_at: Option<Ms>,
    /// The staff member holding the agent seat last.
    pub agent: String,
    /// Hung up by [`Command::HangupIfUnanswered`].
    pub dropped: bool,
    /// The outcome, once decided.
    pub outcome: Option<(Cause, HangupSide)>,
}

/// One call.
#[derive(Debug, Default)]
pub struct Call {
    legs: Vec<Leg>,
    out: VecDeque<Output>,
    now: Ms,
    bridged: bool,
    record_wanted: bool,
    recording: bool,
    ending: bool,
    give_up_at: Option<Ms>,
    done: bool,
    spy_mode: Option<SpyMode>,
    consulting: Option<LegRef>,
    timers: Vec<(Ms, u32)>,
    summary: Summary,
    stay_open: bool,
}

impl Call {
    /// A call with no legs yet.
    pub fn new() -> Call {
        Call::default()
    }

    /// Takes one input at `now`; a command that cannot apply changes nothing and says why.
    pub fn handle(&mut self, now: Ms, input: Input) -> Result<(), Refusal> {
        self.now = now;
        if self.done {
            return Ok(());
        }
        let result = match input {
            Input::Command(c) => self.command(c),
            Input::Ringing(leg) => {
                self.on_ringing(leg);
                Ok(())
            }
            Input::Answered(leg) => {
                self.on_answered(leg);
                Ok(())
            }
            Input::Ended { leg, status, by } => {
                self.on_ended(leg, status, by);
                Ok(())
            }
            Input::PeerHold { leg, held } => {
                self.on_peer_hold(leg, held);
                Ok(())
            }
            Input::Dtmf { leg, digit } => {
                self.on_dtmf(leg, digit);
                Ok(())
            }
            Input::PlayDone(leg) => {
                self.note(Note::PlayDone(leg));
                Ok(())
            }
            Input::Inactive(leg) => {
                self.on_inactive(leg);
                Ok(())
            }
            Input::Refer { leg, target } => {
                if self.leg(leg).is_some_and(|l| l.role == Role::Agent && l.up()) {
                    // The phone's transfer button: blind, as the phone's user meant it.
                    let _ = self.command(Command::BlindTransfer { target, ring_timeout_ms: 30_000 });
                }
                Ok(())
            }
            Input::Tick => {
                self.on_tick();
                Ok(())
            }
        };
        self.check_done();
        result
    }

    /// The next thing the driver must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the call next needs an [`Input::Tick`].
    pub fn next_deadline(&self) -> Option<Ms> {
        let rings = self
            .legs
            .iter()
            .filter(|l| matches!(l.state, LegState::Dialing | LegState::Ringing) && !l.timed_out)
            .filter_map(|l| l.ring_deadline);
        let timers = self.timers.iter().map(|(at, _)| *at);
        rings.chain(timers).chain(self.give_up_at).min()
    }

    /// Over: [`Output::Done`] was given.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Customer and agent have been connected.
    pub fn is_bridged(&self) -> bool {
        self.bridged
    }

    /// The outcome is decided and the legs are being ended.
    pub fn is_ending(&self) -> bool {
        self.ending
    }

    /// What the call leaves behind, so far.
    pub fn summary(&self) -> Summary {
        self.summary.clone()
    }

    /// The live (not ended, not leaving) leg of a role, the latest first.
    pub fn live_leg(&self, role: Role) -> Option<LegRef> {
        self.legs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| l.role == role && l.live() && !l.leaving)
            .map(|(i, _)| leg_ref(i))
    }

    /// Every live (not ended, not leaving) leg of a role, oldest first.
    pub fn live_legs(&self, role: Role) -> Vec<LegRef> {
        self.legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.role == role && l.live() && !l.leaving)
            .map(|(i, _)| leg_ref(i))
            .collect()
    }

    /// A leg's role and staff account.
    pub fn leg_info(&self, leg: LegRef) -> Option<(Role, &str)> {
        self.leg(leg).map(|l| (l.role, l.staff.as_str()))
    }

    /// Whether the leg has answered and is not over.
    pub fn leg_is_up(&self, leg: LegRef) -> bool {
        self.leg(leg).is_some_and(Leg::up)
    }

    /// The staff on the call now (agent seat, consulted, meeting and spying staff), each with
    /// whether their leg is answered.
    pub fn staff_legs(&self) -> Vec<(String, bool)> {
        self.legs
            .iter()
            .filter(|l| l.live() && !l.leaving && !l.staff.is_empty())
            .map(|l| (l.staff.clone(), l.up()))
            .collect()
    }

    /// The customer is on hold.
    pub fn is_held(&self) -> bool {
        self.legs.iter().any(|l| l.role == Role::Customer && l.live() && l.held.is_some())
    }

    fn seat(&self) -> Option<LegRef> {
        self.live_leg(Role::Agent)
    }

    fn leg(&self, leg: LegRef) -> Option<&Leg> {
        self.legs.get(leg.0 as usize)
    }

    fn emit(&mut self, o: Output) {
        self.out.push_back(o);
    }

    fn log(&mut self, kind: CallEventKind) {
        self.emit(Output::Log(kind));
    }

    fn note(&mut self, n: Note) {
        self.emit(Output::Note(n));
    }

    fn new_leg(&mut self, role: Role, staff: String, number: String) -> LegRef {
        let leg = Leg {
            role,
            state: LegState::Dialing,
            incoming: false,
            essential: false,
            joins: true,
            joined: false,
            staff,
            number,
            ring_deadline: None,
            timed_out: false,
            hung_up_by_us: false,
            answered: false,
            held: None,
            leaving: false,
            heard: Vec::new(),
        };
        self.legs.push(leg);
        leg_ref(self.legs.len() - 1)
    }

    fn dial(&mut self, role: Role, target: Target, ring_timeout_ms: Ms, essential: bool, joins: bool) -> LegRef {
        let leg = self.new_leg(role, target.staff.clone(), target.number.clone());
        let l = &mut self.legs[leg.0 as usize];
        l.essential = essential;
        l.joins = joins;
        l.ring_deadline = (ring_timeout_ms > 0).then_some(self.now + ring_timeout_ms);
        if let Some(side) = role.side() {
            self.log(CallEventKind::LegCreated { side });
        }
        self.emit(Output::Dial { leg, target });
        leg
    }

    fn connected_or_refuse(&self) -> Result<(), Refusal> {
        if self.bridged && !self.ending && self.seat().is_some_and(|s| self.legs[s.0 as usize].up()) {
            Ok(())
        } else {
            Err(Refusal::NotUp)
        }
    }

    fn command(&mut self, c: Command) -> Result<(), Refusal> {
        let refuse_when_ending = !matches!(c, Command::Hangup | Command::HangupLeg(_) | Command::Outcome { .. });
        if self.ending && refuse_when_ending {
            return Err(Refusal::NotUp);
        }
        match c {
            Command::Originate { role, target, ring_timeout_ms, essential, joins } => {
                self.dial(role, target, ring_timeout_ms, essential, joins);
            }
            Command::Adopt { role, staff, number } => {
                let leg = self.new_leg(role, staff, number);
                let l = &mut self.legs[leg.0 as usize];
                l.incoming = true;
                l.essential = true;
                l.state = LegState::Ringing;
                self.emit(Output::Adopt(leg));
                if let Some(side) = role.side() {
                    self.log(CallEventKind::LegCreated { side });
                }
            }
            Command::Ring(leg) => {
                let l = self.leg(leg).ok_or(Refusal::NoSuchLeg)?;
                if l.incoming && l.state == LegState::Ringing {
                    self.emit(Output::Ring(leg));
                }
            }
            Command::Answer(leg) => {
                let l = self.leg(leg).ok_or(Refusal::NoSuchLeg)?;
                if !(l.incoming && l.state == LegState::Ringing) {
                    return Err(Refusal::NoSuchLeg);
                }
                self.emit(Output::Answer(leg));
                self.on_answered(leg);
            }
            Command::Join(leg) => {
                let l = self.legs.get_mut(leg.0 as usize).ok_or(Refusal::NoSuchLeg)?;
                if !l.up() {
                    return Err(Refusal::NotUp);
                }
                l.joins = true;
                self.join(leg);
            }
            Command::Record => {
                self.record_wanted = true;
                self.start_recording();
            }
            Command::Hold => {
                self.connected_or_refuse()?;
                if self.is_held() {
                    return Err(Refusal::AlreadyHeld);
                }
                self.hold_customers(HoldBy::Command);
            }
            Command::Unhold => {
                self.connected_or_refuse()?;
                if !self.legs.iter().any(|l| l.live() && l.held == Some(HoldBy::Command)) {
                    return Err(Refusal::NotHeld);
                }
                self.unhold_customers(HoldBy::Command);
            }
            Command::Play { leg, prompt } => {
                self.leg(leg).filter(|l| l.live()).ok_or(Refusal::NoSuchLeg)?;
                self.emit(Output::Play { leg, prompt });
            }
            Command::Music { leg, on } => {
                self.leg(leg).filter(|l| l.live()).ok_or(Refusal::NoSuchLeg)?;
                self.emit(if on { Output::MusicOnHold(leg) } else { Output::StopPlay(leg) });
            }
            Command::Timer { at, tag } => self.timers.push((at, tag)),
            Command::Log(kind) => self.log(kind),
            Command::Ask(what) => self.note(Note::Asked(what)),
            Command::Tell(what) => self.note(Note::Told(what)),
            Command::StayOpen => self.stay_open = true,
            Command::RecordCaller => {
                let customer = self.live_leg(Role::Customer).ok_or(Refusal::NoSuchLeg)?;
                if !self.recording {
                    self.recording = true;
                    self.emit(Output::Record { left: customer });
                }
            }
            Command::Outcome { cause, side } => {
                self.summary.outcome.get_or_insert((cause, side));
            }
            Command::BlindTransfer { target, ring_timeout_ms } => {
                self.connected_or_refuse()?;
                if self.consulting.is_some() {
                    return Err(Refusal::Consulting);
                }
                let old = self.seat().ok_or(Refusal::NotUp)?;
                let from = self.legs[old.0 as usize].staff.clone();
                self.log(CallEventKind::Transferred {
                    how: "blind".into(),
                    from_staff: from.clone(),
                    staff: target.staff.clone(),
                    extension: target.number.clone(),
                });
                self.note(Note::SeatChanged { from, to: target.staff.clone() });
                self.leave(old);
                self.hold_customers(HoldBy::Transfer);
                self.dial(Role::Agent, target, ring_timeout_ms, true, true);
            }
            Command::Consult { target, ring_timeout_ms } => {
                self.connected_or_refuse()?;
                if self.consulting.is_some() {
                    return Err(Refusal::Consulting);
                }
                if !self.is_held() {
                    self.hold_customers(HoldBy::Transfer);
                }
                let leg = self.dial(Role::Consult, target, ring_timeout_ms, false, true);
                self.consulting = Some(leg);
            }
            Command::CompleteTransfer => {
                let consult = self.consulting.filter(|c| self.legs[c.0 as usize].up()).ok_or(Refusal::NoConsult)?;
                let old = self.seat().ok_or(Refusal::NotUp)?;
                let (from, to) = (self.legs[old.0 as usize].staff.clone(), self.legs[consult.0 as usize].staff.clone());
                let number = self.legs[consult.0 as usize].number.clone();
                self.log(CallEventKind::Transferred {
                    how: "attended".into(),
                    from_staff: from.clone(),
                    staff: to.clone(),
                    extension: number,
                });
                self.summary.agent = to.clone();
                self.note(Note::SeatChanged { from, to });
                self.consulting = None;
                self.legs[consult.0 as usize].role = Role::Agent;
                self.leave(old);
                self.unhold_customers(HoldBy::Transfer);
            }
            Command::CancelTransfer => {
                let consult = self.consulting.take().ok_or(Refusal::NoConsult)?;
                self.leave(consult);
                self.unhold_customers(HoldBy::Transfer);
            }
            Command::AddParty { target, ring_timeout_ms } => {
                self.connected_or_refuse()?;
                self.dial(Role::Meeting, target, ring_timeout_ms, false, true);
            }
            Command::Spy { mode, target, staff, ring_timeout_ms } => {
                self.connected_or_refuse()?;
                if self.live_leg(Role::Supervisor).is_some() {
                    return Err(Refusal::AlreadySpied);
                }
                self.spy_mode = Some(mode);
                match target {
                    Some(target) => {
                        self.dial(Role::Supervisor, target, ring_timeout_ms, false, true);
                    }
                    None => {
                        let leg = self.new_leg(Role::Supervisor, staff, String::new());
                        let l = &mut self.legs[leg.0 as usize];
                        l.incoming = true;
                        l.state = LegState::Ringing;
                        self.emit(Output::Adopt(leg));
                        self.emit(Output::Answer(leg));
                        self.on_answered(leg);
                    }
                }
            }
            Command::SetSpyMode(mode) => {
                let sup = self.live_leg(Role::Supervisor).filter(|s| self.legs[s.0 as usize].up());
                let sup = sup.ok_or(Refusal::NoSupervisor)?;
                self.set_spy_mode(sup, mode);
            }
            Command::HangupLeg(leg) => {
                self.leg(leg).filter(|l| l.live()).ok_or(Refusal::NoSuchLeg)?;
                self.end_leg(leg, 480);
            }
            Command::Hangup => {
                if !self.ending {
                    let cause = if self.bridged { Cause::NormalClearing } else { Cause::OriginatorCancel };
                    self.end_call(cause, HangupSide::System, 480);
                }
            }
            Command::HangupIfUnanswered => {
                if self.summary.answered_at.is_none() && !self.legs.iter().any(|l| l.answered) {
                    self.summary.dropped = true;
                    self.end_call(Cause::OriginatorCancel, HangupSide::System, 480);
                }
            }
        }
        Ok(())
    }

    fn set_spy_mode(&mut self, sup: LegRef, mode: SpyMode) {
        self.spy_mode = Some(mode);
        let staff = self.legs[sup.0 as usize].staff.clone();
        self.log(CallEventKind::Spy { staff, mode: mode.name().into() });
        self.update_hearing();
    }

    /// A leg leaves by design: hung up, and its end ends nothing.
    fn leave(&mut self, leg: LegRef) {
        let l = &mut self.legs[leg.0 as usize];
        if !l.live() {
            return;
        }
        l.leaving = true;
        self.end_leg(leg, 480);
        self.update_hearing();
    }

    /// CANCEL, BYE or refusal of one leg; its end comes back as [`Input::Ended`].
    fn end_leg(&mut self, leg: LegRef, reject_status: u16) {
        let l = &mut self.legs[leg.0 as usize];
        if !l.live() || l.hung_up_by_us {
            return;
        }
        l.hung_up_by_us = true;
        if l.incoming && !l.up() {
            self.emit(Output::Reject { leg, status: reject_status });
        } else {
            self.emit(Output::Hangup(leg));
        }
    }

    fn hold_customers(&mut self, by: HoldBy) {
        for i in 0..self.legs.len() {
            let l = &mut self.legs[i];
            if l.role != Role::Customer || !l.up() || l.held.is_some() {
                continue;
            }
            l.held = Some(by);
            let leg = leg_ref(i);
            if by == HoldBy::Command {
                self.emit(Output::Reinvite { leg, hold: true });
            }
            self.emit(Output::MusicOnHold(leg));
            // A held phone may stop sending: that is not a vanished peer.
            self.emit(Output::Inactivity { leg, watch: false });
            self.log(CallEventKind::Held { side: Side::Customer, by_phone: by == HoldBy::Phone });
        }
        self.update_hearing();
    }

    fn unhold_customers(&mut self, by: HoldBy) {
        for i in 0..self.legs.len() {
            let l = &mut self.legs[i];
            if l.held != Some(by) {
                continue;
            }
            l.held = None;
            if !l.live() {
                continue;
            }
            let leg = leg_ref(i);
            if by == HoldBy::Command {
                self.emit(Output::Reinvite { leg, hold: false });
            }
            self.emit(Output::StopPlay(leg));
            self.emit(Output::Inactivity { leg, watch: true });
            self.log(CallEventKind::Resumed { side: Side::Customer });
        }
        self.update_hearing();
    }

    fn on_ringing(&mut self, leg: LegRef) {
        let Some(l) = self.legs.get_mut(leg.0 as usize) else { return };
        if l.state != LegState::Dialing {
            return;
        }
        l.state = LegState::Ringing;
        if let Some(side) = l.role.side() {
            self.log(CallEventKind::Ringing { side });
        }
        self.note(Note::Ringing(leg));
    }

    fn on_answered(&mut self, leg: LegRef) {
        let Some(l) = self.legs.get_mut(leg.0 as usize) else { return };
        if !l.live() || l.up() {
            return;
        }
        l.state = LegState::Up;
        l.answered = true;
        let (role, staff, number, leaving) = (l.role, l.staff.clone(), l.number.clone(), l.leaving);
        if self.ending || leaving {
            // Answered after the call (or this leg) was given up: end it.
            self.end_leg(leg, 480);
            return;
        }
        match role.side() {
            Some(side) => self.log(CallEventKind::Answered { side }),
            None => self.log(CallEventKind::PartyJoined { role: role.name().into(), staff: staff.clone(), number }),
        }
        match role {
            Role::Customer => {
                self.summary.answered_at.get_or_insert(self.now);
            }
            Role::Agent => self.summary.agent = staff.clone(),
            _ => {}
        }
        if role == Role::Supervisor
            && let Some(mode) = self.spy_mode
        {
            self.log(CallEventKind::Spy { staff, mode: mode.name().into() });
        }
        self.emit(Output::Inactivity { leg, watch: true });
        self.note(Note::Answered(leg));
        // A transferred-to agent takes the customer off the transfer's music.
        if role == Role::Agent && self.bridged {
            self.unhold_customers(HoldBy::Transfer);
        }
        if self.legs[leg.0 as usize].joins {
            self.join(leg);
        }
    }

    fn join(&mut self, leg: LegRef) {
        self.legs[leg.0 as usize].joined = true;
        self.update_hearing();
        let customer_up = self.legs.iter().any(|l| l.role == Role::Customer && l.talking());
        let agent_up = self.legs.iter().any(|l| l.role == Role::Agent && l.talking());
        if !self.bridged && customer_up && agent_up {
            self.bridged = true;
            self.summary.bridged_at = Some(self.now);
            self.start_recording();
            self.log(CallEventKind::Bridged);
            self.note(Note::Bridged);
        }
    }

    fn start_recording(&mut self) {
        if self.recording || !self.record_wanted || !self.bridged {
            return;
        }
        if let Some(customer) = self.live_leg(Role::Customer) {
            self.recording = true;
            self.emit(Output::Record { left: customer });
        }
    }

    /// Why a leg's end ends the call: a connected call hung up, unanswered until the ring
    /// limit, given up by yunhu, or the far end's refusal.
    fn leg_cause(&self, l: &Leg, status: u16) -> Cause {
        if self.bridged || l.answered {
            Cause::NormalClearing
        } else if l.timed_out {
            Cause::NoAnswer
        } else if l.hung_up_by_us {
            Cause::OriginatorCancel
        } else {
            Cause::from_sip_status(status)
        }
    }

    fn on_ended(&mut self, leg: LegRef, status: u16, by: By) {
        let Some(l) = self.legs.get(leg.0 as usize) else { return };
        if !l.live() {
            return;
        }
        let was_up = l.up();
        let l = l.clone();
        self.legs[leg.0 as usize].state = LegState::Ended;
        match l.role.side() {
            Some(side) if !l.leaving => self.log(CallEventKind::LegEnded { side, status }),
            _ => self.log(CallEventKind::PartyLeft { role: l.role.name().into(), staff: l.staff.clone(), status }),
        }
        self.emit(Output::Release(leg));
        self.note(Note::Ended(leg));
        if self.ending {
            return;
        }
        if self.consulting == Some(leg) {
            self.consulting = None;
            self.unhold_customers(HoldBy::Transfer);
        }
        let cause = self.leg_cause(&l, status);
        let side = if by == By::Remote { l.role.hangup_side() } else { HangupSide::System };
        let ends_call = if l.leaving || l.role == Role::Supervisor || (self.stay_open && was_up) {
            false
        } else if !was_up {
            l.essential
        } else {
            // Answered legs: the call goes on while two parties are (or are about to be) in it.
            let parties = self
                .legs
                .iter()
                .filter(|o| o.live() && !o.leaving && o.role.talks() && (o.up() || o.essential))
                .count();
            parties < 2
        };
        if ends_call {
            // A callee we cancelled (ring limit) is "no answer" to the caller, not 487.
            let to_caller = if status >= 400 && status != 487 { status } else { 480 };
            self.end_call(cause, side, to_caller);
        } else {
            self.update_hearing();
        }
    }

    fn end_call(&mut self, cause: Cause, side: HangupSide, reject_status: u16) {
        self.summary.outcome.get_or_insert((cause, side));
        self.ending = true;
        self.give_up_at.get_or_insert(self.now + GIVE_UP_MS);
        for i in 0..self.legs.len() {
            self.end_leg(leg_ref(i), reject_status);
        }
    }

    fn on_peer_hold(&mut self, leg: LegRef, held: bool) {
        let Some(l) = self.leg(leg) else { return };
        if !l.up() || self.ending {
            return;
        }
        let role = l.role;
        self.emit(Output::Inactivity { leg, watch: !held });
        if role == Role::Agent && self.bridged {
            // The agent's own hold button: the customer gets the music.
            if held && !self.is_held() {
                self.hold_customers(HoldBy::Phone);
            } else if !held {
                self.unhold_customers(HoldBy::Phone);
            }
        } else if role == Role::Customer {
            let kind = if held {
                CallEventKind::Held { side: Side::Customer, by_phone: true }
            } else {
                CallEventKind::Resumed { side: Side::Customer }
            };
            self.log(kind);
        }
    }

    fn on_dtmf(&mut self, leg: LegRef, digit: char) {
        let Some(l) = self.leg(leg) else { return };
        if l.role == Role::Supervisor {
            if let Some(mode) = SpyMode::of_digit(digit)
                && l.up()
            {
                self.set_spy_mode(leg, mode);
            }
            return;
        }
        if let Some(side) = l.role.side() {
            self.log(CallEventKind::Dtmf { side, digit: digit.to_string() });
        }
        self.note(Note::Dtmf(leg, digit));
    }

    fn on_inactive(&mut self, leg: LegRef) {
        let Some(l) = self.leg(leg) else { return };
        if !l.up() || self.ending {
            return;
        }
        let role = l.role;
        match role.side() {
            Some(side) => {
                self.log(CallEventKind::MediaTimeout { side });
                self.end_call(Cause::RecoveryOnTimerExpire, role.hangup_side(), 480);
            }
            None => self.end_leg(leg, 480),
        }
    }

    fn on_tick(&mut self) {
        let now = self.now;
        for i in 0..self.legs.len() {
            let l = &mut self.legs[i];
            let due = matches!(l.state, LegState::Dialing | LegState::Ringing)
                && !l.timed_out
                && l.ring_deadline.is_some_and(|d| d <= now);
            if !due {
                continue;
            }
            l.timed_out = true;
            let (essential, role) = (l.essential, l.role);
            if essential && !self.ending {
                self.summary.outcome.get_or_insert((Cause::NoAnswer, role.hangup_side()));
            }
            self.end_leg(leg_ref(i), 480);
        }
        let (due, later): (Vec<_>, Vec<_>) = self.timers.drain(..).partition(|(at, _)| *at <= now);
        self.timers = later;
        for (_, tag) in due {
            self.note(Note::Timer(tag));
        }
        if self.give_up_at.is_some_and(|at| at <= now) {
            for i in 0..self.legs.len() {
                let l = &mut self.legs[i];
                if !l.live() {
                    continue;
                }
                l.state = LegState::Ended;
                if let Some(side) = l.role.side().filter(|_| !l.leaving) {
                    self.out.push_back(Output::Log(CallEventKind::LegEnded { side, status: 408 }));
                }
                self.out.push_back(Output::Release(leg_ref(i)));
            }
        }
    }

    fn check_done(&mut self) {
        if self.done || !self.ending || self.legs.iter().any(Leg::live) {
            return;
        }
        self.done = true;
        let (cause, side) = *self.summary.outcome.get_or_insert((Cause::NormalClearing, HangupSide::System));
        self.emit(Output::Done { cause, side });
    }

    /// Who hears whom, from the legs' roles, holds and the supervisor's mode.
    fn update_hearing(&mut self) {
        let talkers: Vec<LegRef> =
            self.legs.iter().enumerate().filter(|(_, l)| l.talking()).map(|(i, _)| leg_ref(i)).collect();
        let supervisor = self
            .legs
            .iter()
            .enumerate()
            .find(|(_, l)| l.role == Role::Supervisor && l.up() && l.joined && !l.leaving)
            .map(|(i, _)| leg_ref(i));
        let mode = self.spy_mode.unwrap_or(SpyMode::Listen);
        for i in 0..self.legs.len() {
            let me = leg_ref(i);
            let l = &self.legs[i];
            let speakers: Vec<LegRef> = if !l.up() || !l.joined || l.held.is_some() || l.leaving {
                Vec::new()
            } else if l.role == Role::Supervisor {
                talkers.clone()
            } else {
                let hears_supervisor = match mode {
                    SpyMode::Listen => false,
                    SpyMode::Whisper => l.role == Role::Agent,
                    SpyMode::Barge => true,
                };
                let mut s: Vec<LegRef> = talkers.iter().copied().filter(|t| *t != me).collect();
                if let Some(sup) = supervisor.filter(|_| hears_supervisor) {
                    s.push(sup);
                }
                s
            };
            if self.legs[i].heard != speakers {
                self.legs[i].heard = speakers.clone();
                self.out.push_back(Output::Hearing { listener: me, speakers });
            }
        }
    }
}

fn leg_ref(i: usize) -> LegRef {
    LegRef(u8::try_from(i).unwrap_or(u8::MAX))
}
