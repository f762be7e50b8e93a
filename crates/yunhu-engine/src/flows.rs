//! Call flows: short scripts over the [`machine`](crate::machine). A flow hears the call's notes
//! and answers with commands; like the machine it is pure, so a flow and the machine together
//! are unit-tested without sockets. What a flow cannot decide alone — which agent is free — the
//! contact-center layer decides and sends as a command (see [`Flow::wants_agent`]).

use crate::machine::{Call, Command, LegRef, Ms, Note, Role, Target};
use yunhu_core::call::{Cause, HangupSide};

/// A call flow.
pub trait Flow: Send {
    /// The commands that start the call.
    fn start(&mut self, now: Ms) -> Vec<Command>;
    /// What to do about a note.
    fn on(&mut self, call: &Call, note: &Note, now: Ms) -> Vec<Command>;
    /// The flow waits for the contact-center layer to offer an agent ([`Command::Originate`]).
    fn wants_agent(&self, _call: &Call) -> bool {
        false
    }
}

/// Leg 0 of every flow: the first leg dialled or adopted.
pub const FIRST: LegRef = LegRef(0);
/// Leg 1: the second.
pub const SECOND: LegRef = LegRef(1);

/// Click-to-call, agent first: ring the agent; when they answer, dial the customer; connect
/// and record.
#[derive(Debug, Clone)]
pub struct ClickToCall {
    /// The agent's phone.
    pub agent: Target,
    /// The customer through the trunk.
    pub customer: Target,
    /// Ring limit of each leg.
    pub ring_timeout_ms: Ms,
}

impl Flow for ClickToCall {
    fn start(&mut self, _now: Ms) -> Vec<Command> {
        vec![
            Command::Record,
            Command::Originate {
                role: Role::Agent,
                target: self.agent.clone(),
                ring_timeout_ms: self.ring_timeout_ms,
                essential: true,
                joins: true,
            },
        ]
    }

    fn on(&mut self, _call: &Call, note: &Note, _now: Ms) -> Vec<Command> {
        match note {
            Note::Answered(FIRST) => vec![Command::Originate {
                role: Role::Customer,
                target: self.customer.clone(),
                ring_timeout_ms: self.ring_timeout_ms,
                essential: true,
                joins: true,
            }],
            _ => Vec::new(),
        }
    }
}

/// An incoming leg rung through to a phone: extension to extension, or a carrier's call to an
/// extension. The caller hears ringing while the callee rings and is answered when they answer.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// What the caller is (an agent calling out, or a customer calling in).
    pub caller_role: Role,
    /// The caller's staff account, if staff.
    pub caller_staff: String,
    /// The caller's number.
    pub caller_number: String,
    /// The callee's phone.
    pub callee: Target,
    /// Ring limit.
    pub ring_timeout_ms: Ms,
}

impl Flow for Bridge {
    fn start(&mut self, _now: Ms) -> Vec<Command> {
        let callee_role = if self.caller_role == Role::Agent { Role::Customer } else { Role::Agent };
        vec![
            Command::Adopt {
                role: self.caller_role,
                staff: self.caller_staff.clone(),
                number: self.caller_number.clone(),
            },
            Command::Record,
            Command::Originate {
                role: callee_role,
                target: self.callee.clone(),
                ring_timeout_ms: self.ring_timeout_ms,
                essential: true,
                joins: true,
            },
        ]
    }

    fn on(&mut self, _call: &Call, note: &Note, _now: Ms) -> Vec<Command> {
        match note {
            Note::Ringing(SECOND) => vec![Command::Ring(FIRST)],
            Note::Answered(SECOND) => vec![Command::Answer(FIRST)],
            _ => Vec::new(),
        }
    }
}

/// Customer first (predictive and preview dialing): dial the customer; once a live person
/// answers, the contact-center layer offers free agents one at a time until the connect limit;
/// if none takes the call by then, the customer hears who called and the call ends (abandoned).
#[derive(Debug, Clone)]
pub struct CustomerFirst {
    /// The customer through the trunk.
    pub customer: Target,
    /// Ring limit of the customer.
    pub ring_timeout_ms: Ms,
    /// How long an answered customer may wait for an agent.
    pub connect_within_ms: Ms,
    /// How long the identification prompt plays.
    pub abandon_prompt_ms: Ms,
    stage: Stage,
}

/// Where a customer-first call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The customer rings.
    Ringing,
    /// Answered, looking for an agent until the connect limit.
    Connecting,
    /// Customer and agent talk.
    Talking,
    /// The identification prompt plays before the call ends.
    Abandoning,
}

const CONNECT_LIMIT: u32 = 1;
const ABANDON_LIMIT: u32 = 2;

impl CustomerFirst {
    /// A flow for one number.
    pub fn new(customer: Target, ring_timeout_ms: Ms, connect_within_ms: Ms, abandon_prompt_ms: Ms) -> Self {
        CustomerFirst { customer, ring_timeout_ms, connect_within_ms, abandon_prompt_ms, stage: Stage::Ringing }
    }

    /// Where the call stands.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The command that offers an agent's phone to the call.
    pub fn offer(agent: Target) -> Command {
        Command::Originate { role: Role::Agent, target: agent, ring_timeout_ms: 0, essential: false, joins: false }
    }
}

impl Flow for CustomerFirst {
    fn start(&mut self, _now: Ms) -> Vec<Command> {
        vec![
            Command::Record,
            Command::Originate {
                role: Role::Customer,
                target: self.customer.clone(),
                ring_timeout_ms: self.ring_timeout_ms,
                essential: true,
                joins: true,
            },
        ]
    }

    fn on(&mut self, call: &Call, note: &Note, now: Ms) -> Vec<Command> {
        match (self.stage, note) {
            (Stage::Ringing, Note::Answered(FIRST)) => {
                self.stage = Stage::Connecting;
                vec![Command::Timer { at: now + self.connect_within_ms, tag: CONNECT_LIMIT }]
            }
            (_, Note::Answered(leg)) if *leg != FIRST => {
                if self.stage == Stage::Connecting {
                    self.stage = Stage::Talking;
                    vec![Command::Join(*leg)]
                } else {
                    vec![Command::HangupLeg(*leg)]
                }
            }
            (Stage::Connecting, Note::Timer(CONNECT_LIMIT)) => {
                self.stage = Stage::Abandoning;
                let mut out = Vec::new();
                if let Some(agent) = call.live_leg(Role::Agent) {
                    out.push(Command::HangupLeg(agent));
                }
                out.extend([
                    Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::System },
                    Command::Play { leg: FIRST, prompt: "abandoned".into() },
                    Command::Timer { at: now + self.abandon_prompt_ms + 3_000, tag: ABANDON_LIMIT },
                ]);
                out
            }
            (Stage::Abandoning, Note::PlayDone(FIRST) | Note::Timer(ABANDON_LIMIT)) => vec![Command::Hangup],
            _ => Vec::new(),
        }
    }

    fn wants_agent(&self, call: &Call) -> bool {
        self.stage == Stage::Connecting && call.live_leg(Role::Agent).is_none() && !call.is_ending()
    }
}

/// A feature code's answer: answer the caller, play the prompt, hang up (or stop when the
/// caller does).
#[derive(Debug, Clone)]
pub struct PlayPrompt {
    /// The prompt (a sequence the driver knows how to play).
    pub prompt: String,
    /// How long it plays.
    pub prompt_ms: Ms,
    /// The caller's number.
    pub caller: String,
}

impl Flow for PlayPrompt {
    fn start(&mut self, now: Ms) -> Vec<Command> {
        vec![
            Command::Adopt { role: Role::Customer, staff: String::new(), number: self.caller.clone() },
            Command::Answer(FIRST),
            Command::Play { leg: FIRST, prompt: self.prompt.clone() },
            Command::Timer { at: now + self.prompt_ms + 5_000, tag: 1 },
        ]
    }

    fn on(&mut self, _call: &Call, note: &Note, _now: Ms) -> Vec<Command> {
        match note {
            Note::PlayDone(FIRST) | Note::Timer(1) => vec![Command::Hangup],
            _ => Vec::new(),
        }
    }
}

/// A call and its flow, stepped together: the machine's notes go to the flow and the flow's
/// commands back to the machine until nothing more follows. The driver runs calls through it and
/// so do the tests, so both see the same decisions.
pub struct Scripted {
    /// The call.
    pub call: Call,
    /// Its flow.
    pub flow: Box<dyn Flow>,
}

impl Scripted {
    /// A call under `flow`; returns it with the outputs of the flow's start.
    pub fn start(flow: Box<dyn Flow>, now: Ms) -> (Scripted, Vec<crate::machine::Output>) {
        let mut s = Scripted { call: Call::new(), flow };
        let first = s.flow.start(now);
        let mut out = Vec::new();
        for c in first {
            out.extend(s.step(now, crate::machine::Input::Command(c)).unwrap_or_default());
        }
        (s, out)
    }

    /// Feeds one input; the outputs it led to, the flow's reactions included. A refused command
    /// of the caller's is returned as the error (a flow's own refused commands are dropped: the
    /// call moved on meanwhile).
    pub fn step(
        &mut self,
        now: Ms,
        input: crate::machine::Input,
    ) -> Result<Vec<crate::machine::Output>, crate::machine::Refusal> {
        self.call.handle(now, input)?;
        let mut out = Vec::new();
        let mut i = 0;
        self.drain(&mut out);
        while i < out.len() {
            if let crate::machine::Output::Note(note) = &out[i] {
                let note = note.clone();
                for c in self.flow.on(&self.call, &note, now) {
                    let _ = self.call.handle(now, crate::machine::Input::Command(c));
                    self.drain(&mut out);
                }
            }
            i += 1;
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<crate::machine::Output>) {
        while let Some(o) = self.call.poll_output() {
            out.push(o);
        }
    }
}
