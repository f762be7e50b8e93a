//! Calls as the event log sees them: the events of one call, the one internal hangup cause with
//! its spellings in each dialect's vocabulary, and the call record projected from the events.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a call was placed; each dialect spells it in its own codes (callType, callmethod, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMethod {
    /// Click-to-call through an API, agent first.
    #[default]
    Api,
    /// One extension called another.
    Internal,
    /// A customer called in through a trunk.
    Inbound,
    /// A predictive outbound task dialed the customer first.
    Predictive,
    /// A preview outbound task: the agent took the number, then the call went agent first.
    Preview,
}

/// Every call method, for tables and tests.
pub const ALL_METHODS: [CallMethod; 5] =
    [CallMethod::Api, CallMethod::Internal, CallMethod::Inbound, CallMethod::Predictive, CallMethod::Preview];

impl CallMethod {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallMethod::Api => "api",
            CallMethod::Internal => "internal",
            CallMethod::Inbound => "inbound",
            CallMethod::Predictive => "predictive",
            CallMethod::Preview => "preview",
        }
    }

    /// Parses [`CallMethod::as_str`]; records written before methods were kept read by direction.
    pub fn parse(s: &str, direction: &str) -> CallMethod {
        ALL_METHODS.into_iter().find(|m| m.as_str() == s).unwrap_or(match direction {
            "inbound" => CallMethod::Inbound,
            "internal" => CallMethod::Internal,
            _ => CallMethod::Api,
        })
    }
}

/// Which leg of a click-to-call / B2BUA call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The staff member's phone.
    Agent,
    /// The customer, through a trunk.
    Customer,
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    /// The agent's phone hung up (or never answered).
    Agent,
    /// The customer hung up (or never answered).
    Customer,
    /// yunhu ended it (API hang-up, timeout, failure).
    System,
}

impl HangupSide {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSide::Agent => "agent",
            HangupSide::Customer => "customer",
            HangupSide::System => "system",
        }
    }
}

/// The one internal hangup cause; FreeSWITCH/Q.850 names are its canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Cause {
    /// Answered and hung up normally (Q.850 16).
    NormalClearing,
    /// Busy (Q.850 17).
    UserBusy,
    /// Rang without answer until the ring timeout (Q.850 19).
    NoAnswer,
    /// The caller gave up before answer (CANCEL; Q.850 487).
    OriginatorCancel,
    /// No such number / extension (Q.850 1).
    UnallocatedNumber,
    /// Declined (Q.850 21).
    CallRejected,
    /// The trunk or network failed (Q.850 41).
    NormalTemporaryFailure,
    /// No response at all from the far end (Q.850 102).
    RecoveryOnTimerExpire,
    /// The extension is not registered (Q.850 20).
    SubscriberAbsent,
    /// yunhu stopped without ending the call (a crash, `kill -9`, a power cut): the call was
    /// rebuilt at the next start and ends when it was last known alive (FreeSWITCH `CRASH`, 700).
    Crash,
}

impl Cause {
    /// The FreeSWITCH / Q.850 name (`NORMAL_CLEARING`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Cause::NormalClearing => "NORMAL_CLEARING",
            Cause::UserBusy => "USER_BUSY",
            Cause::NoAnswer => "NO_ANSWER",
            Cause::OriginatorCancel => "ORIGINATOR_CANCEL",
            Cause::UnallocatedNumber => "UNALLOCATED_NUMBER",
            Cause::CallRejected => "CALL_REJECTED",
            Cause::NormalTemporaryFailure => "NORMAL_TEMPORARY_FAILURE",
            Cause::RecoveryOnTimerExpire => "RECOVERY_ON_TIMER_EXPIRE",
            Cause::SubscriberAbsent => "SUBSCRIBER_ABSENT",
            Cause::Crash => "CRASH",
        }
    }

    /// Parses [`Cause::name`].
    pub fn parse(s: &str) -> Option<Cause> {
        ALL_CAUSES.into_iter().find(|c| c.name() == s)
    }

    /// The Q.850 cause value.
    pub fn q850(self) -> u16 {
        match self {
            Cause::NormalClearing => 16,
            Cause::UserBusy => 17,
            Cause::NoAnswer => 19,
            Cause::OriginatorCancel => 487,
            Cause::UnallocatedNumber => 1,
            Cause::CallRejected => 21,
            Cause::NormalTemporaryFailure => 41,
            Cause::RecoveryOnTimerExpire => 102,
            Cause::SubscriberAbsent => 20,
            Cause::Crash => 700,
        }
    }

    /// The cause of a failed leg from its final SIP status.
    pub fn from_sip_status(status: u16) -> Cause {
        match status {
            200..=299 => Cause::NormalClearing,
            486 | 600 => Cause::UserBusy,
            480 => Cause::NoAnswer,
            487 => Cause::OriginatorCancel,
            404 | 484 | 604 => Cause::UnallocatedNumber,
            603 | 403 => Cause::CallRejected,
            408 => Cause::RecoveryOnTimerExpire,
            _ => Cause::NormalTemporaryFailure,
        }
    }

    /// The Asterisk CDR disposition (seed 004): `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`.
    pub fn asterisk_disposition(self, answered: bool) -> &'static str {
        if answered {
            return "ANSWERED";
        }
        match self {
            Cause::UserBusy => "BUSY",
            Cause::NoAnswer | Cause::OriginatorCancel | Cause::NormalClearing => "NO ANSWER",
            _ => "FAILED",
        }
    }
}

/// Every cause, for tables and tests.
pub const ALL_CAUSES: [Cause; 10] = [
    Cause::NormalClearing,
    Cause::UserBusy,
    Cause::NoAnswer,
    Cause::OriginatorCancel,
    Cause::UnallocatedNumber,
    Cause::CallRejected,
    Cause::NormalTemporaryFailure,
    Cause::RecoveryOnTimerExpire,
    Cause::SubscriberAbsent,
    Cause::Crash,
];

/// What happened in a call. Stored as the event log's `kind` (snake case) and JSON data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One `Created` per call, moved straight into the log: boxing it would buy nothing but noise.
#[allow(clippy::large_enum_variant)]
pub enum CallEventKind {
    /// A call was asked for (click-to-call and the like).
    Created {
        /// `outbound` or `inbound`.
        direction: String,
        /// Staff account.
        staff: String,
        /// Staff extension.
        extension: String,
        /// Customer number.
        customer: String,
        /// Caller ID shown to the customer.
        caller_id: String,
        /// Trunk used.
        trunk: String,
        /// Custom data from the request (seed 004 codeid_1).
        codeid_1: String,
        /// Custom data from the request (seed 004 codeid_2).
        codeid_2: String,
        /// How it was placed; absent in events written before methods were kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<CallMethod>,
        /// The outbound task that placed it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        task_id: String,
        /// Further custom data the request carried (sipcdr userid, memberid, ...).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        call_data: BTreeMap<String, String>,
    },
    /// A customer-first call found its agent.
    Assigned {
        /// Staff account.
        staff: String,
        /// Staff extension.
        extension: String,
    },
    /// An INVITE went out on a leg.
    LegCreated {
        /// Which leg.
        side: Side,
    },
    /// The leg is ringing.
    Ringing {
        /// Which leg.
        side: Side,
    },
    /// The leg answered.
    Answered {
        /// Which leg.
        side: Side,
    },
    /// Both legs are connected.
    Bridged,
    /// A key was pressed.
    Dtmf {
        /// Which leg.
        side: Side,
        /// The key.
        digit: String,
    },
    /// Recording began.
    RecordingStarted {
        /// File, relative to the recordings directory.
        path: String,
    },
    /// Recording ended; `repaired` when it was recovered after a crash.
    RecordingStopped {
        /// File, relative to the recordings directory.
        path: String,
        /// Length in milliseconds.
        duration_ms: u64,
        /// Recovered after a crash.
        repaired: bool,
    },
    /// What the media relay counted when the call's media stopped.
    MediaStats {
        /// RTP packets received from both legs.
        received: u64,
        /// RTP packets relayed to the other leg.
        forwarded: u64,
        /// Silence the recorder inserted for missing packets, ms.
        gap_ms: u64,
    },
    /// A party was put on hold (music on hold plays to it), by the API or by a phone's own
    /// hold button (`by_phone`).
    Held {
        /// The held party.
        side: Side,
        /// The hold came from a phone's re-INVITE, not a command.
        #[serde(default)]
        by_phone: bool,
    },
    /// A held party is back in the conversation.
    Resumed {
        /// The party.
        side: Side,
    },
    /// A further party joined the call: a meeting guest, a consulted agent, a supervisor.
    PartyJoined {
        /// `meeting`, `consult` or `supervisor`.
        role: String,
        /// Staff account, when the party is staff.
        staff: String,
        /// Extension or number dialled.
        number: String,
    },
    /// A further party left the call.
    PartyLeft {
        /// As in [`CallEventKind::PartyJoined`].
        role: String,
        /// Staff account, when the party is staff.
        staff: String,
        /// Final SIP status of its leg.
        status: u16,
    },
    /// A supervisor's spy mode was set: `listen`, `whisper` or `barge`.
    Spy {
        /// The supervisor's account.
        staff: String,
        /// The mode from now on.
        mode: String,
    },
    /// The call's agent seat moved to another agent (blind or attended transfer).
    Transferred {
        /// `blind` or `attended`.
        how: String,
        /// The agent the call left.
        from_staff: String,
        /// The agent who has it now.
        staff: String,
        /// Their extension, or the number dialled.
        extension: String,
    },
    /// No RTP arrived on a leg for the inactivity limit: its peer is taken to be gone.
    MediaTimeout {
        /// The silent leg.
        side: Side,
    },
    /// A leg ended with a SIP status.
    LegEnded {
        /// Which leg.
        side: Side,
        /// Final SIP status (200 for a normal BYE).
        status: u16,
    },
    /// The caller entered an IVR menu.
    IvrStarted {
        /// The menu's name.
        ivr: String,
    },
    /// The caller reached a node of the IVR menu.
    IvrNode {
        /// The node's name.
        node: String,
    },
    /// The caller left the IVR menu.
    IvrEnded {
        /// Keys the caller pressed in the menu, in order.
        digits: String,
    },
    /// The caller entered an inbound queue (an open95 skill group with direction in).
    QueueEntered {
        /// The skill group's code.
        queue: String,
    },
    /// The caller left the queue: `answered`, `abandoned`, `overflowed`, `callback` (left for a
    /// call back that keeps their place), `voicemail` or `timeout`.
    QueueLeft {
        /// How the caller left.
        outcome: String,
    },
    /// The customer rated the call in the satisfaction survey.
    Surveyed {
        /// The key pressed (1-5 by default), or 0 when the survey went unanswered.
        score: u8,
    },
    /// The call is over.
    HungUp {
        /// Why.
        cause: Cause,
        /// Who ended it.
        side: HangupSide,
    },
}

impl CallEventKind {
    /// The name stored in the event log's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            CallEventKind::Created { .. } => "created",
            CallEventKind::Assigned { .. } => "assigned",
            CallEventKind::LegCreated { .. } => "leg_created",
            CallEventKind::Ringing { .. } => "ringing",
            CallEventKind::Answered { .. } => "answered",
            CallEventKind::Bridged => "bridged",
            CallEventKind::Dtmf { .. } => "dtmf",
            CallEventKind::RecordingStarted { .. } => "recording_started",
            CallEventKind::RecordingStopped { .. } => "recording_stopped",
            CallEventKind::MediaStats { .. } => "media_stats",
            CallEventKind::LegEnded { .. } => "leg_ended",
            CallEventKind::HungUp { .. } => "hung_up",
            CallEventKind::Held { .. } => "held",
            CallEventKind::Resumed { .. } => "resumed",
            CallEventKind::PartyJoined { .. } => "party_joined",
            CallEventKind::PartyLeft { .. } => "party_left",
            CallEventKind::Spy { .. } => "spy",
            CallEventKind::Transferred { .. } => "transferred",
            CallEventKind::MediaTimeout { .. } => "media_timeout",
            CallEventKind::IvrStarted { .. } => "ivr_started",
            CallEventKind::IvrNode { .. } => "ivr_node",
            CallEventKind::IvrEnded { .. } => "ivr_ended",
            CallEventKind::QueueEntered { .. } => "queue_entered",
            CallEventKind::QueueLeft { .. } => "queue_left",
            CallEventKind::Surveyed { .. } => "surveyed",
        }
    }
}

/// An event with its time (ms UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// When.
    pub at: i64,
    /// What.
    pub kind: CallEventKind,
}

/// Times of one leg, ms UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegTimes {
    /// INVITE sent.
    pub start: Option<i64>,
    /// First ringing.
    pub ring: Option<i64>,
    /// Answered.
    pub answer: Option<i64>,
    /// Ended.
    pub end: Option<i64>,
}

/// The call record of one call, projected from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRecord {
    /// `outbound` / `inbound`.
    pub direction: String,
    /// Staff account.
    pub staff: String,
    /// Extension.
    pub extension: String,
    /// Customer number.
    pub customer: String,
    /// Caller ID shown.
    pub caller_id: String,
    /// Trunk.
    pub trunk: String,
    /// Agent leg times.
    pub agent: LegTimes,
    /// Customer leg times.
    pub customer_leg: LegTimes,
    /// Seconds the customer's phone rang.
    pub ring_secs: i64,
    /// Seconds both sides were connected.
    pub talk_secs: i64,
    /// Billable seconds: talk rounded up to whole seconds.
    pub bill_secs: i64,
    /// Why it ended.
    pub cause: Option<Cause>,
    /// Who ended it.
    pub hangup_side: Option<HangupSide>,
    /// Recording file, relative.
    pub recording: String,
    /// The recording was repaired after a crash.
    pub recording_repaired: bool,
    /// Custom data 1.
    pub codeid_1: String,
    /// Custom data 2.
    pub codeid_2: String,
    /// How the call was placed.
    pub method: CallMethod,
    /// The outbound task that placed it.
    pub task_id: String,
    /// Further custom data from the originating request.
    pub call_data: BTreeMap<String, String>,
    /// Keys the customer pressed, in order.
    pub digits: String,
    /// Agents the call was transferred to, in order (`staff` is the first agent).
    pub transferred_to: Vec<String>,
    /// How many times a party was put on hold.
    pub holds: u32,
    /// The IVR menu the caller went through.
    pub ivr_name: String,
    /// Keys the caller pressed in the IVR.
    pub ivr_digits: String,
    /// The last IVR node the caller reached.
    pub ivr_last_node: String,
    /// When the caller entered and left the IVR (ms UTC).
    pub ivr_start: Option<i64>,
    /// When the caller left the IVR (ms UTC).
    pub ivr_end: Option<i64>,
    /// The inbound queue (skill group code) the caller waited in.
    pub queue: String,
    /// When the caller entered the queue (ms UTC).
    pub queue_start: Option<i64>,
    /// When the caller left it (ms UTC).
    pub queue_end: Option<i64>,
    /// How the caller left the queue (see [`CallEventKind::QueueLeft`]).
    pub queue_outcome: String,
    /// The satisfaction survey's key; `None` when no survey was made.
    pub satisfaction: Option<u8>,
}

impl CallRecord {
    fn leg_mut(&mut self, side: Side) -> &mut LegTimes {
        match side {
            Side::Agent => &mut self.agent,
            Side::Customer => &mut self.customer_leg,
        }
    }

    /// Folds a call's events, in order, into its record.
    pub fn project(events: &[CallEvent]) -> CallRecord {
        let mut r = CallRecord::default();
        for e in events {
            match &e.kind {
                CallEventKind::Created {
                    direction,
                    staff,
                    extension,
                    customer,
                    caller_id,
                    trunk,
                    codeid_1,
                    codeid_2,
                    method,
                    task_id,
                    call_data,
                } => {
                    r.method = method.unwrap_or_else(|| CallMethod::parse("", direction));
                    r.task_id = task_id.clone();
                    r.call_data = call_data.clone();
                    r.direction = direction.clone();
                    r.staff = staff.clone();
                    r.extension = extension.clone();
                    r.customer = customer.clone();
                    r.caller_id = caller_id.clone();
                    r.trunk = trunk.clone();
                    r.codeid_1 = codeid_1.clone();
                    r.codeid_2 = codeid_2.clone();
                }
                CallEventKind::Assigned { staff, extension } => {
                    r.staff = staff.clone();
                    r.extension = extension.clone();
                }
                CallEventKind::LegCreated { side } => {
                    r.leg_mut(*side).start.get_or_insert(e.at);
                }
                CallEventKind::Ringing { side } => {
                    r.leg_mut(*side).ring.get_or_insert(e.at);
                }
                CallEventKind::Answered { side } => {
                    r.leg_mut(*side).answer.get_or_insert(e.at);
                }
                CallEventKind::LegEnded { side, .. } => {
                    r.leg_mut(*side).end.get_or_insert(e.at);
                }
                CallEventKind::RecordingStarted { path } => r.recording = path.clone(),
                CallEventKind::RecordingStopped { path, repaired, .. } => {
                    r.recording = path.clone();
                    r.recording_repaired |= *repaired;
                }
                CallEventKind::HungUp { cause, side } => {
                    r.cause = Some(*cause);
                    r.hangup_side = Some(*side);
                    for t in [&mut r.agent, &mut r.customer_leg] {
                        if t.start.is_some() {
                            t.end.get_or_insert(e.at);
                        }
                    }
                    // A caller still in the IVR or the queue when the call ended left it then.
                    if r.ivr_start.is_some() && r.ivr_end.is_none() {
                        r.ivr_end = Some(e.at);
                    }
                    if r.queue_start.is_some() && r.queue_end.is_none() {
                        r.queue_end = Some(e.at);
                        r.queue_outcome = "abandoned".into();
                    }
                }
                CallEventKind::Dtmf { side: Side::Customer, digit } => r.digits.push_str(digit),
                CallEventKind::Transferred { staff, .. } => {
                    if !r.transferred_to.contains(staff) {
                        r.transferred_to.push(staff.clone());
                    }
                }
                CallEventKind::Held { .. } => r.holds += 1,
                CallEventKind::IvrStarted { ivr } => {
                    r.ivr_name = ivr.clone();
                    r.ivr_start.get_or_insert(e.at);
                }
                CallEventKind::IvrNode { node } => r.ivr_last_node = node.clone(),
                CallEventKind::IvrEnded { digits } => {
                    r.ivr_digits.push_str(digits);
                    r.ivr_end = Some(e.at);
                }
                CallEventKind::QueueEntered { queue } => {
                    // A caller overflowed to another queue: the record names the last one, and
                    // its wait counts from the first.
                    r.queue = queue.clone();
                    r.queue_start.get_or_insert(e.at);
                    r.queue_end = None;
                    r.queue_outcome.clear();
                }
                CallEventKind::QueueLeft { outcome } => {
                    r.queue_end = Some(e.at);
                    r.queue_outcome = outcome.clone();
                }
                CallEventKind::Surveyed { score } => r.satisfaction = Some(*score),
                CallEventKind::Bridged
                | CallEventKind::Dtmf { .. }
                | CallEventKind::MediaStats { .. }
                | CallEventKind::Resumed { .. }
                | CallEventKind::PartyJoined { .. }
                | CallEventKind::PartyLeft { .. }
                | CallEventKind::Spy { .. }
                | CallEventKind::MediaTimeout { .. } => {}
            }
        }
        let c = r.customer_leg;
        let ring_from = c.ring.or(c.start);
        r.ring_secs = match (ring_from, c.answer.or(c.end)) {
            (Some(a), Some(b)) if b > a => (b - a) / 1000,
            _ => 0,
        };
        // An inbound caller is answered by yunhu first (menu, queue music): the talk begins
        // when the agent answers. Billing stays with the carrier's answer.
        let talk_from = match (r.direction.as_str(), c.answer, r.agent.answer) {
            ("inbound", Some(c), Some(a)) => Some(c.max(a)),
            ("inbound", Some(_), None) if r.queue_start.is_some() || r.ivr_start.is_some() => None,
            _ => c.answer,
        };
        let talk_ms = match (talk_from, c.end) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0,
        };
        r.talk_secs = talk_ms / 1000;
        let billed_ms = match (c.answer, c.end) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0,
        };
        r.bill_secs = (billed_ms + 999) / 1000;
        r
    }

    /// When the call began: its first leg's start (ms UTC); listings order by it.
    pub fn started_at(&self) -> i64 {
        match (self.agent.start, self.customer_leg.start) {
            (Some(a), Some(c)) => a.min(c),
            (a, c) => a.or(c).unwrap_or(0),
        }
    }

    /// Seconds the caller waited in the queue (0 when not queued).
    pub fn queue_secs(&self) -> i64 {
        match (self.queue_start, self.queue_end) {
            (Some(a), Some(b)) if b > a => (b - a) / 1000,
            _ => 0,
        }
    }

    /// Both sides talked.
    pub fn connected(&self) -> bool {
        self.customer_leg.answer.is_some() && self.agent.answer.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: i64, kind: CallEventKind) -> CallEvent {
        CallEvent { at, kind }
    }

    #[test]
    fn projects_the_ivr_the_queue_and_the_survey() {
        let events = vec![
            ev(0, CallEventKind::IvrStarted { ivr: "main".into() }),
            ev(10, CallEventKind::IvrNode { node: "welcome".into() }),
            ev(3_000, CallEventKind::IvrNode { node: "sales".into() }),
            ev(3_500, CallEventKind::IvrEnded { digits: "12".into() }),
            ev(3_500, CallEventKind::QueueEntered { queue: "q1".into() }),
            ev(9_000, CallEventKind::QueueLeft { outcome: "overflowed".into() }),
            ev(9_000, CallEventKind::QueueEntered { queue: "q2".into() }),
            ev(15_600, CallEventKind::QueueLeft { outcome: "answered".into() }),
            ev(40_000, CallEventKind::Surveyed { score: 4 }),
        ];
        let r = CallRecord::project(&events);
        assert_eq!((r.ivr_name.as_str(), r.ivr_digits.as_str(), r.ivr_last_node.as_str()), ("main", "12", "sales"));
        assert_eq!((r.ivr_start, r.ivr_end), (Some(0), Some(3_500)));
        assert_eq!((r.queue.as_str(), r.queue_outcome.as_str()), ("q2", "answered"));
        assert_eq!(r.queue_secs(), 12, "the wait counts from the first queue");
        assert_eq!(r.satisfaction, Some(4));

        let hung_up_waiting = CallRecord::project(&[
            ev(0, CallEventKind::QueueEntered { queue: "q1".into() }),
            ev(7_000, CallEventKind::HungUp { cause: Cause::NormalClearing, side: HangupSide::Customer }),
        ]);
        assert_eq!((hung_up_waiting.queue_outcome.as_str(), hung_up_waiting.queue_secs()), ("abandoned", 7));
        assert_eq!(hung_up_waiting.satisfaction, None);
    }

    #[test]
    fn projects_times_durations_cause_and_side() {
        let events = vec![
            ev(
                0,
                CallEventKind::Created {
                    direction: "outbound".into(),
                    staff: "1001".into(),
                    extension: "1001".into(),
                    customer: "13800138000".into(),
                    caller_id: "53541815".into(),
                    trunk: "carrier".into(),
                    codeid_1: "a".into(),
                    codeid_2: "b".into(),
                    method: None,
                    task_id: String::new(),
                    call_data: BTreeMap::from([("userid".to_string(), "u7".to_string())]),
                },
            ),
            ev(0, CallEventKind::LegCreated { side: Side::Agent }),
            ev(100, CallEventKind::Ringing { side: Side::Agent }),
            ev(2_000, CallEventKind::Answered { side: Side::Agent }),
            ev(2_010, CallEventKind::LegCreated { side: Side::Customer }),
            ev(2_500, CallEventKind::Ringing { side: Side::Customer }),
            ev(6_500, CallEventKind::Answered { side: Side::Customer }),
            ev(6_510, CallEventKind::RecordingStarted { path: "r.wav".into() }),
            ev(7_000, CallEventKind::Dtmf { side: Side::Customer, digit: "1".into() }),
            ev(7_100, CallEventKind::Dtmf { side: Side::Agent, digit: "9".into() }),
            ev(7_200, CallEventKind::Dtmf { side: Side::Customer, digit: "#".into() }),
            ev(16_700, CallEventKind::LegEnded { side: Side::Customer, status: 200 }),
            ev(16_720, CallEventKind::HungUp { cause: Cause::NormalClearing, side: HangupSide::Customer }),
        ];
        let r = CallRecord::project(&events);
        assert_eq!((r.ring_secs, r.talk_secs, r.bill_secs), (4, 10, 11));
        assert_eq!(r.agent, LegTimes { start: Some(0), ring: Some(100), answer: Some(2_000), end: Some(16_720) });
        assert_eq!(r.customer_leg.end, Some(16_700));
        assert_eq!((r.cause, r.hangup_side), (Some(Cause::NormalClearing), Some(HangupSide::Customer)));
        assert_eq!((r.recording.as_str(), r.codeid_1.as_str()), ("r.wav", "a"));
        assert_eq!((r.method, r.digits.as_str(), r.started_at()), (CallMethod::Api, "1#", 0));
        assert_eq!(r.call_data.get("userid").map(String::as_str), Some("u7"));
    }

    #[test]
    fn causes_map_to_each_vocabulary() {
        assert_eq!(Cause::from_sip_status(486), Cause::UserBusy);
        assert_eq!(Cause::from_sip_status(404).name(), "UNALLOCATED_NUMBER");
        assert_eq!(Cause::from_sip_status(487).asterisk_disposition(false), "NO ANSWER");
        assert_eq!(Cause::UserBusy.asterisk_disposition(false), "BUSY");
        assert_eq!(Cause::NormalTemporaryFailure.asterisk_disposition(false), "FAILED");
        assert_eq!(Cause::NormalClearing.asterisk_disposition(true), "ANSWERED");
        for c in ALL_CAUSES {
            assert_eq!(Cause::parse(c.name()), Some(c));
        }
    }

    #[test]
    fn a_call_cut_by_a_crash_ends_at_its_hangup_not_later() {
        let events = vec![
            ev(0, CallEventKind::LegCreated { side: Side::Customer }),
            ev(1_000, CallEventKind::Answered { side: Side::Customer }),
            ev(2_400, CallEventKind::HungUp { cause: Cause::Crash, side: HangupSide::System }),
            ev(30_000, CallEventKind::RecordingStopped { path: "r.wav".into(), duration_ms: 1_400, repaired: true }),
        ];
        let r = CallRecord::project(&events);
        assert_eq!((r.talk_secs, r.bill_secs, r.cause), (1, 2, Some(Cause::Crash)));
        assert!(r.recording_repaired);
    }
}
