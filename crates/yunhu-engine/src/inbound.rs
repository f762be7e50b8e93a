//! A carrier's caller, from the first ring to the survey: answered, walked through the tenant's
//! IVR menu, put in a queue with music (position announcements and exit keys: a call back that
//! keeps the place, a voice message), connected with the agent the contact center's ACD offers,
//! and — when the agent hangs up first — asked to rate the call. Pure like every flow: what only
//! the contact center can do (enter a queue, find an extension, keep a place) it asks for with
//! [`Command::Ask`], and what only the contact center knows (the caller's place, an overflow) it
//! hears with [`Note::Told`].
//!
//! Requests ([`Note::Asked`]): `queue:<code>`, `extension:<number>`, `callback`, `voicemail`.
//! News ([`Note::Told`]): `position:<place>:<minutes>`, `queue:<code>` (moved by an overflow),
//! `voicemail` (overflowed to a voice message), `hangup` (nowhere to go).

use crate::flows::{FIRST, Flow};
use crate::ivr::{Action, Menu, Node};
use crate::machine::{Call, Command, LegRef, Ms, Note, Role, Target};
use std::collections::BTreeMap;
use yunhu_core::call::{CallEventKind, Cause, HangupSide};

/// What a queue offers its waiting callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuePlan {
    /// The key that leaves the line for a call back keeping the place.
    pub callback_key: Option<char>,
    /// The key that leaves a voice message instead of waiting.
    pub voicemail_key: Option<char>,
    /// Callers this queue's agents hang up on are asked to rate the call.
    pub survey: bool,
}

/// The satisfaction survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// The question.
    pub prompt: String,
    /// Thanks, played after a valid key.
    pub thanks: String,
    /// The keys that are answers (their digit is the score).
    pub keys: String,
    /// How long the caller has to answer.
    pub timeout_ms: Ms,
}

impl Default for Survey {
    fn default() -> Self {
        Survey { prompt: "survey".into(), thanks: "survey_thanks".into(), keys: "12345".into(), timeout_ms: 10_000 }
    }
}

/// Longest voice message.
pub const VOICEMAIL_MS: Ms = 60_000;

const GUARD: u32 = 3;
const SURVEY_TIMER: u32 = 4;
const VOICEMAIL_TIMER: u32 = 5;
const LEAVING_TIMER: u32 = 6;
/// Node timers carry the node's generation above this, so a stale one is told apart.
const NODE_TIMER: u32 = 1_000;
/// Longest a goodbye prompt may take before the call is ended anyway.
const LEAVING_MS: Ms = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ivr,
    Queued,
    Ringing,
    Talking,
    Survey,
    Voicemail { recording: bool },
    Leaving,
}

/// The inbound flow of one caller.
#[derive(Debug, Clone)]
pub struct InboundCall {
    /// The caller's number.
    pub caller: String,
    /// Where the call goes first (a menu, a queue, an extension).
    pub start: Action,
    /// The tenant's menus, by name.
    pub menus: BTreeMap<String, Menu>,
    /// The tenant's queues' plans, by code.
    pub queues: BTreeMap<String, QueuePlan>,
    /// The survey's prompts and keys.
    pub survey: Survey,
    /// Longest a caller may be in the call before an agent takes it, whatever happens.
    pub guard_ms: Ms,
    stage: Stage,
    menu: String,
    node: String,
    collected: String,
    ivr_digits: String,
    in_ivr: bool,
    tries: u8,
    generation: u32,
    playing: bool,
    queue: String,
}

impl InboundCall {
    /// A caller who goes to `start`.
    pub fn new(caller: &str, start: Action, guard_ms: Ms) -> Self {
        InboundCall {
            caller: caller.into(),
            start,
            menus: BTreeMap::new(),
            queues: BTreeMap::new(),
            survey: Survey::default(),
            guard_ms,
            stage: Stage::Ivr,
            menu: String::new(),
            node: String::new(),
            collected: String::new(),
            ivr_digits: String::new(),
            in_ivr: false,
            tries: 0,
            generation: 0,
            playing: false,
            queue: String::new(),
        }
    }

    /// The command that offers an agent's (or an extension's) phone to the caller, ringing
    /// `ring_ms` at most; the first to answer is connected.
    pub fn offer(agent: Target, ring_ms: Ms) -> Command {
        Command::Originate {
            role: Role::Agent,
            target: agent,
            ring_timeout_ms: ring_ms,
            essential: false,
            joins: false,
        }
    }

    fn plan(&self) -> QueuePlan {
        self.queues.get(&self.queue).cloned().unwrap_or_default()
    }

    fn current(&self) -> Option<&Node> {
        self.menus.get(&self.menu)?.node(&self.node)
    }

    /// Goes where `action` says.
    fn go(&mut self, action: Action, now: Ms) -> Vec<Command> {
        match action {
            Action::Node(name) => self.enter_node(&name),
            Action::Menu(name) => {
                let Some(start) = self.menus.get(&name).map(|m| m.start.clone()) else { return self.hang_up() };
                let mut out = self.leave_ivr();
                self.menu = name.clone();
                self.in_ivr = true;
                out.push(Command::Log(CallEventKind::IvrStarted { ivr: name }));
                out.extend(self.enter_node(&start));
                out
            }
            Action::Queue(code) => {
                let mut out = self.leave_ivr();
                out.extend(self.enter_queue(code));
                out
            }
            Action::Extension(number) => {
                let mut out = self.leave_ivr();
                self.stage = Stage::Ringing;
                out.push(Command::Ask(format!("extension:{number}")));
                out.push(Command::Music { leg: FIRST, on: true });
                out
            }
            Action::Voicemail => {
                let mut out = self.leave_ivr();
                out.extend(self.voicemail(now));
                out
            }
            Action::Hangup => {
                let mut out = self.leave_ivr();
                out.extend(self.hang_up());
                out
            }
        }
    }

    fn leave_ivr(&mut self) -> Vec<Command> {
        if !std::mem::take(&mut self.in_ivr) {
            return Vec::new();
        }
        self.generation += 1;
        let mut out = Vec::new();
        if self.playing {
            self.playing = false;
            out.push(Command::Music { leg: FIRST, on: false });
        }
        out.push(Command::Log(CallEventKind::IvrEnded { digits: std::mem::take(&mut self.ivr_digits) }));
        out
    }

    fn enter_node(&mut self, name: &str) -> Vec<Command> {
        let Some(prompt) = self.menus.get(&self.menu).and_then(|m| m.node(name)).map(|n| n.prompt.clone()) else {
            return self.hang_up();
        };
        if self.node != name {
            self.tries = 0;
        }
        self.node = name.to_string();
        self.stage = Stage::Ivr;
        self.collected.clear();
        self.generation += 1;
        self.playing = true;
        vec![Command::Log(CallEventKind::IvrNode { node: name.to_string() }), Command::Play { leg: FIRST, prompt }]
    }

    fn enter_queue(&mut self, code: String) -> Vec<Command> {
        self.stage = Stage::Queued;
        self.queue = code.clone();
        let plan = self.plan();
        let mut out = vec![
            Command::Log(CallEventKind::QueueEntered { queue: code.clone() }),
            Command::Ask(format!("queue:{code}")),
        ];
        if plan.callback_key.is_some() || plan.voicemail_key.is_some() {
            // The exit keys are told once; music follows when the prompt is done.
            self.playing = true;
            out.push(Command::Play { leg: FIRST, prompt: "queue_exit_keys".into() });
        } else {
            out.push(Command::Music { leg: FIRST, on: true });
        }
        out
    }

    fn voicemail(&mut self, _now: Ms) -> Vec<Command> {
        self.stage = Stage::Voicemail { recording: false };
        self.playing = true;
        vec![Command::Music { leg: FIRST, on: false }, Command::Play { leg: FIRST, prompt: "voicemail".into() }]
    }

    fn hang_up(&mut self) -> Vec<Command> {
        self.stage = Stage::Leaving;
        vec![Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::System }, Command::Hangup]
    }

    /// Plays a goodbye and ends the call when it is done (or after [`LEAVING_MS`]).
    fn say_goodbye(&mut self, prompt: &str, now: Ms) -> Vec<Command> {
        self.stage = Stage::Leaving;
        self.playing = true;
        vec![
            Command::Music { leg: FIRST, on: false },
            Command::Play { leg: FIRST, prompt: prompt.into() },
            Command::Timer { at: now + LEAVING_MS, tag: LEAVING_TIMER },
        ]
    }

    /// The caller pressed a key in a menu node.
    fn ivr_key(&mut self, digit: char, now: Ms) -> Vec<Command> {
        let Some(node) = self.current().cloned() else { return Vec::new() };
        if node.max_digits == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.playing {
            // Barge-in: a caller who knows the menu need not hear it out.
            self.playing = false;
            out.push(Command::Music { leg: FIRST, on: false });
        }
        if digit != '#' {
            self.collected.push(digit);
        }
        let complete = digit == '#'
            || self.collected.len() >= usize::from(node.max_digits)
            || (node.keys.contains_key(&self.collected)
                && !node.keys.keys().any(|k| k.len() > self.collected.len() && k.starts_with(&self.collected)));
        if complete {
            out.extend(self.choose(&node, now));
        } else {
            // Next key within the node's timeout.
            out.push(Command::Timer {
                at: now + i64::from(node.timeout_secs) * 1000,
                tag: NODE_TIMER + self.generation,
            });
        }
        out
    }

    /// The caller's keys (maybe none) are in: follow them, or play the node again.
    fn choose(&mut self, node: &Node, now: Ms) -> Vec<Command> {
        let keys = std::mem::take(&mut self.collected);
        if let Some(to) = node.keys.get(&keys) {
            self.ivr_digits.push_str(&keys);
            return self.go(to.clone(), now);
        }
        if self.tries < node.retries {
            self.tries += 1;
            let name = node.name.clone();
            return self.enter_node(&name);
        }
        self.go(node.next.clone(), now)
    }

    fn queued_key(&mut self, digit: char, now: Ms) -> Vec<Command> {
        let plan = self.plan();
        if plan.callback_key == Some(digit) {
            let mut out = vec![
                Command::Log(CallEventKind::QueueLeft { outcome: "callback".into() }),
                Command::Ask("callback".into()),
                Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::Customer },
            ];
            out.extend(self.say_goodbye("callback_ok", now));
            out
        } else if plan.voicemail_key == Some(digit) {
            let mut out = vec![
                Command::Log(CallEventKind::QueueLeft { outcome: "voicemail".into() }),
                Command::Ask("voicemail".into()),
            ];
            out.extend(self.voicemail(now));
            out
        } else {
            Vec::new()
        }
    }

    fn told(&mut self, what: &str, now: Ms) -> Vec<Command> {
        let (kind, arg) = what.split_once(':').unwrap_or((what, ""));
        match (kind, self.stage) {
            ("position", Stage::Queued) if !self.playing => {
                let mut parts = arg.split(':');
                let place = parts.next().unwrap_or("");
                let minutes = parts.next().unwrap_or("");
                let digits = |n: &str| n.chars().filter(char::is_ascii_digit).map(|d| format!("digit_{d}")).collect();
                let mut names: Vec<String> = vec!["queue_position".into()];
                names.extend::<Vec<String>>(digits(place));
                names.push("queue_callers".into());
                if !minutes.is_empty() && minutes != "0" {
                    names.push("queue_wait".into());
                    names.extend::<Vec<String>>(digits(minutes));
                    names.push("minutes".into());
                }
                self.playing = true;
                vec![Command::Music { leg: FIRST, on: false }, Command::Play { leg: FIRST, prompt: names.join(",") }]
            }
            ("queue", Stage::Queued) => {
                self.queue = arg.to_string();
                Vec::new()
            }
            ("voicemail", Stage::Queued | Stage::Ringing) => self.voicemail(now),
            ("hangup", Stage::Queued | Stage::Ringing) => self.hang_up(),
            _ => Vec::new(),
        }
    }
}

impl Flow for InboundCall {
    fn start(&mut self, now: Ms) -> Vec<Command> {
        let mut out = vec![
            Command::Adopt { role: Role::Customer, staff: String::new(), number: self.caller.clone() },
            Command::Answer(FIRST),
            Command::Record,
            Command::Timer { at: now + self.guard_ms, tag: GUARD },
        ];
        out.extend(self.go(self.start.clone(), now));
        out
    }

    fn on(&mut self, call: &Call, note: &Note, now: Ms) -> Vec<Command> {
        match (self.stage, note) {
            // Only when the call stays open (the survey) does the caller's leaving need the flow.
            (_, Note::Ended(FIRST)) if !call.is_ending() => {
                vec![Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::Customer }, Command::Hangup]
            }
            (Stage::Ivr, Note::PlayDone(FIRST)) if self.playing => {
                self.playing = false;
                let Some(node) = self.current().cloned() else { return self.hang_up() };
                if node.max_digits == 0 {
                    return self.go(node.next, now);
                }
                vec![Command::Timer {
                    at: now + i64::from(node.timeout_secs) * 1000,
                    tag: NODE_TIMER + self.generation,
                }]
            }
            (Stage::Ivr, Note::Dtmf(FIRST, d)) => self.ivr_key(*d, now),
            (Stage::Ivr, Note::Timer(tag)) if *tag == NODE_TIMER + self.generation => {
                let Some(node) = self.current().cloned() else { return self.hang_up() };
                self.choose(&node, now)
            }
            (Stage::Queued | Stage::Ringing, Note::PlayDone(FIRST)) if self.playing => {
                self.playing = false;
                vec![Command::Music { leg: FIRST, on: true }]
            }
            (Stage::Queued, Note::Dtmf(FIRST, d)) => self.queued_key(*d, now),
            (Stage::Queued | Stage::Ringing, Note::Told(what)) => self.told(what, now),
            (Stage::Queued | Stage::Ringing, Note::Answered(leg)) if *leg != FIRST => {
                self.stage = Stage::Talking;
                self.playing = false;
                let mut out = vec![Command::Music { leg: FIRST, on: false }, Command::Join(*leg)];
                // Ring-all: the others' phones stop ringing.
                out.extend(call.live_legs(Role::Agent).into_iter().filter(|l| l != leg).map(Command::HangupLeg));
                if self.plan().survey {
                    // The caller stays when the agent hangs up, for the survey.
                    out.push(Command::StayOpen);
                }
                out
            }
            (_, Note::Answered(leg)) if *leg != FIRST && self.stage != Stage::Queued => vec![Command::HangupLeg(*leg)],
            (Stage::Talking, Note::Ended(leg))
                if is_agent(call, *leg) && call.live_leg(Role::Agent).is_none() && !call.is_ending() =>
            {
                self.stage = Stage::Survey;
                self.playing = true;
                vec![
                    Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::Agent },
                    Command::Play { leg: FIRST, prompt: self.survey.prompt.clone() },
                    Command::Timer { at: now + self.survey.timeout_ms, tag: SURVEY_TIMER },
                ]
            }
            (Stage::Survey, Note::Dtmf(FIRST, d)) if self.survey.keys.contains(*d) => {
                let score = d.to_digit(10).unwrap_or(0) as u8;
                let mut out = vec![Command::Log(CallEventKind::Surveyed { score })];
                let thanks = self.survey.thanks.clone();
                out.extend(self.say_goodbye(&thanks, now));
                out
            }
            (Stage::Survey, Note::Timer(SURVEY_TIMER)) => {
                self.stage = Stage::Leaving;
                vec![Command::Log(CallEventKind::Surveyed { score: 0 }), Command::Hangup]
            }
            (Stage::Voicemail { recording: false }, Note::PlayDone(FIRST)) => {
                self.playing = false;
                self.stage = Stage::Voicemail { recording: true };
                vec![
                    Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::Customer },
                    Command::RecordCaller,
                    Command::Timer { at: now + VOICEMAIL_MS, tag: VOICEMAIL_TIMER },
                ]
            }
            (Stage::Voicemail { .. }, Note::Timer(VOICEMAIL_TIMER)) => vec![Command::Hangup],
            (Stage::Leaving, Note::PlayDone(FIRST) | Note::Timer(LEAVING_TIMER)) => vec![Command::Hangup],
            (Stage::Ivr | Stage::Queued | Stage::Ringing, Note::Timer(GUARD)) => {
                if self.stage == Stage::Queued {
                    let mut out = vec![Command::Log(CallEventKind::QueueLeft { outcome: "timeout".into() })];
                    out.extend([
                        Command::Outcome { cause: Cause::NoAnswer, side: HangupSide::System },
                        Command::Hangup,
                    ]);
                    return out;
                }
                vec![Command::Outcome { cause: Cause::NoAnswer, side: HangupSide::System }, Command::Hangup]
            }
            _ => Vec::new(),
        }
    }
}

fn is_agent(call: &Call, leg: LegRef) -> bool {
    call.leg_info(leg).is_some_and(|(role, _)| role == Role::Agent)
}
