//! Agents: presence (logged out, ready, not ready with a reason, after-call work) and the events
//! that change it, which the event log keeps (open95 codes 580-583); the desk events that tell an
//! agent's desktop about calls; and [`AgentState`], the pure state an agent is in, folded from
//! both, with the rules the server enforces (wrap-up limits, lost desktops).

use serde::{Deserialize, Serialize};

/// Where an agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Not working.
    LoggedOut,
    /// Logged in, taking calls.
    Ready,
    /// Logged in, not taking calls, for a reason (示忙, 小休, ...).
    NotReady,
    /// A call ended and its customer form is not submitted yet (事务, after-call work).
    AfterCallWork,
}

impl Presence {
    /// The seed's status of the presence alone: 0 logged out, 1 idle, 2 not ready, 3 after-call
    /// work (a call on top makes any of them 2, see [`AgentState::status`]).
    pub fn status(self) -> u8 {
        match self {
            Presence::LoggedOut => 0,
            Presence::Ready => 1,
            Presence::NotReady => 2,
            Presence::AfterCallWork => 3,
        }
    }
}

/// A presence change, as stored in the event log on the agent's `agent/<account>` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEventKind {
    /// Logged in (580); logging in makes the agent ready.
    AgentLogin {
        /// How: `feature_code`, `api`, `desk`.
        via: String,
    },
    /// Logged out (581).
    AgentLogout {
        /// How.
        via: String,
    },
    /// Not ready (582).
    AgentNotReady {
        /// Reason code (see [`BUILT_IN_REASONS`]; a tenant may add its own).
        reason: String,
    },
    /// Ready (583).
    AgentReady,
    /// After-call work began (582 with reason [`WRAP_UP_REASON`]): the call ended, its form is open.
    AgentWrapUp {
        /// The call that ended.
        call_id: String,
        /// When the server ends it if the agent does not (ms); 0: no limit.
        until: i64,
    },
}

/// The reason code agent history shows for after-call work.
pub const WRAP_UP_REASON: &str = "acw";
/// The reason code of an agent whose desktop went silent while ready.
pub const DESKTOP_LOST_REASON: &str = "desktop_lost";
/// The reason code of an agent who let an offered call ring out.
pub const MISSED_REASON: &str = "missed";

/// Not-ready reasons every tenant has: code and name. Tenants may add their own codes.
pub const BUILT_IN_REASONS: [(&str, &str); 6] = [
    ("1", "示忙"),
    ("2", "小休"),
    ("3", "培训"),
    ("4", "会议"),
    (DESKTOP_LOST_REASON, "桌面断开"),
    (MISSED_REASON, "未接"),
];

impl AgentEventKind {
    /// The event log's `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEventKind::AgentLogin { .. } => "agent_login",
            AgentEventKind::AgentLogout { .. } => "agent_logout",
            AgentEventKind::AgentNotReady { .. } => "agent_not_ready",
            AgentEventKind::AgentReady => "agent_ready",
            AgentEventKind::AgentWrapUp { .. } => "agent_wrap_up",
        }
    }

    /// The open95 employee-history code.
    pub fn code(&self) -> u16 {
        match self {
            AgentEventKind::AgentLogin { .. } => 580,
            AgentEventKind::AgentLogout { .. } => 581,
            AgentEventKind::AgentNotReady { .. } | AgentEventKind::AgentWrapUp { .. } => 582,
            AgentEventKind::AgentReady => 583,
        }
    }

    /// The not-ready reason code, for 582 events.
    pub fn reason(&self) -> Option<&str> {
        match self {
            AgentEventKind::AgentNotReady { reason } => Some(reason),
            AgentEventKind::AgentWrapUp { .. } => Some(WRAP_UP_REASON),
            _ => None,
        }
    }

    /// The presence after the event.
    pub fn presence(&self) -> Presence {
        match self {
            AgentEventKind::AgentLogin { .. } | AgentEventKind::AgentReady => Presence::Ready,
            AgentEventKind::AgentLogout { .. } => Presence::LoggedOut,
            AgentEventKind::AgentNotReady { .. } => Presence::NotReady,
            AgentEventKind::AgentWrapUp { .. } => Presence::AfterCallWork,
        }
    }
}

/// What an agent's desktop is told about calls, on the agent's `desk/<account>` stream, and
/// announcements to a tenant's agents on [`ANNOUNCE_STREAM`]. None of them changes presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeskEventKind {
    /// A call reached the agent's phone (ringing, or placed by the agent): busy.
    DeskCallStarted {
        /// The call.
        call_id: String,
        /// The other party's number.
        peer: String,
    },
    /// The agent is talking with the call's other party: the screen pop.
    DeskCallConnected {
        /// The call.
        call_id: String,
        /// The other party's number.
        peer: String,
    },
    /// The call left the agent without after-call work; `status` is the seed status after it.
    DeskCallEnded {
        /// The call.
        call_id: String,
        /// 0-3 as [`AgentState::status`].
        status: u8,
    },
    /// An administrator's announcement (公告) to every agent of the tenant.
    Announcement {
        /// The text.
        msg: String,
    },
}

impl DeskEventKind {
    /// The event log's `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            DeskEventKind::DeskCallStarted { .. } => "desk_call_started",
            DeskEventKind::DeskCallConnected { .. } => "desk_call_connected",
            DeskEventKind::DeskCallEnded { .. } => "desk_call_ended",
            DeskEventKind::Announcement { .. } => "announcement",
        }
    }
}

/// The event-log stream key of an agent's presence events.
pub fn agent_stream(user_code: &str) -> String {
    format!("agent/{user_code}")
}

/// The event-log stream key of an agent's desk events.
pub fn desk_stream(user_code: &str) -> String {
    format!("desk/{user_code}")
}

/// The event-log stream of announcements to every agent of a tenant.
pub const ANNOUNCE_STREAM: &str = "announce/all";

/// Where one agent stands, folded from their events; the clock is passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    /// Presence.
    pub presence: Presence,
    /// Not-ready reason code (empty otherwise).
    pub reason: String,
    /// When the presence began (ms).
    pub presence_since: i64,
    /// The call the agent is on, with the other party's number, and when it reached them.
    pub call: Option<AgentCall>,
    /// When after-call work ends by itself (ms); 0: no limit or not in after-call work.
    pub wrap_up_until: i64,
}

/// The call an agent is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCall {
    /// The call.
    pub call_id: String,
    /// The other party's number.
    pub peer: String,
    /// When it reached the agent (ms).
    pub since: i64,
    /// Whether the agent has talked with the other party.
    pub connected: bool,
}

impl Default for AgentState {
    fn default() -> Self {
        AgentState {
            presence: Presence::LoggedOut,
            reason: String::new(),
            presence_since: 0,
            call: None,
            wrap_up_until: 0,
        }
    }
}

impl AgentState {
    /// The seed's status: 0 签出 logged out, 1 空闲 idle, 2 忙碌 busy (on a call, or not ready),
    /// 3 事务 after-call work. A call outranks presence: an agent on a call is busy.
    pub fn status(&self) -> u8 {
        if self.call.is_some() { 2 } else { self.presence.status() }
    }

    /// Since when the agent has had [`AgentState::status`] (ms).
    pub fn status_since(&self) -> i64 {
        match &self.call {
            Some(call) => call.since,
            None => self.presence_since,
        }
    }

    /// Whether a queue or the dialer may offer the agent a call.
    pub fn routable(&self) -> bool {
        self.presence == Presence::Ready && self.call.is_none()
    }

    /// Applies a presence change made at `at`.
    pub fn apply(&mut self, event: &AgentEventKind, at: i64) {
        self.presence = event.presence();
        self.reason = event.reason().unwrap_or_default().to_string();
        self.presence_since = at;
        self.wrap_up_until = 0;
        match event {
            AgentEventKind::AgentWrapUp { until, call_id } => {
                self.wrap_up_until = *until;
                if self.call.as_ref().is_some_and(|c| &c.call_id == call_id) {
                    self.call = None;
                }
            }
            AgentEventKind::AgentLogout { .. } => self.call = None,
            _ => {}
        }
    }

    /// Applies a desk event made at `at`.
    pub fn apply_desk(&mut self, event: &DeskEventKind, at: i64) {
        match event {
            DeskEventKind::DeskCallStarted { call_id, peer } => {
                self.call =
                    Some(AgentCall { call_id: call_id.clone(), peer: peer.clone(), since: at, connected: false });
            }
            DeskEventKind::DeskCallConnected { call_id, peer } => match &mut self.call {
                Some(call) if &call.call_id == call_id => call.connected = true,
                _ => {
                    self.call =
                        Some(AgentCall { call_id: call_id.clone(), peer: peer.clone(), since: at, connected: true })
                }
            },
            DeskEventKind::DeskCallEnded { call_id, .. } => {
                if self.call.as_ref().is_some_and(|c| &c.call_id == call_id) {
                    self.call = None;
                    // The idle (or not-ready) time counts from the call's end.
                    self.presence_since = at;
                }
            }
            DeskEventKind::Announcement { .. } => {}
        }
    }

    /// What the end of call `call_id` does to the agent: after-call work when the agent talked
    /// on it, is logged in and the tenant keeps a wrap-up (`wrap_up_secs` > 0; -1: no limit);
    /// otherwise the desk is told the call left.
    pub fn after_call(&self, call_id: &str, wrap_up_secs: i64, now: i64) -> AfterCall {
        let talked = self.call.as_ref().is_some_and(|c| c.call_id == call_id && c.connected);
        let logged_in = matches!(self.presence, Presence::Ready | Presence::NotReady);
        if talked && logged_in && wrap_up_secs != 0 {
            let until = if wrap_up_secs < 0 { 0 } else { now + wrap_up_secs * 1000 };
            return AfterCall::WrapUp(AgentEventKind::AgentWrapUp { call_id: call_id.to_string(), until });
        }
        let mut after = self.clone();
        // A newer call may have reached the agent meanwhile: it keeps them busy.
        if after.call.as_ref().is_some_and(|c| c.call_id == call_id) {
            after.call = None;
        }
        AfterCall::Free(DeskEventKind::DeskCallEnded { call_id: call_id.to_string(), status: after.status() })
    }

    /// Whether after-call work has run past its limit at `now`: the server ends it.
    pub fn wrap_up_expired(&self, now: i64) -> bool {
        self.presence == Presence::AfterCallWork && self.wrap_up_until > 0 && now >= self.wrap_up_until
    }

    /// Whether an agent whose desktops were last heard from at `last_heard` must be put not
    /// ready at `now`: ready and idle, and silent for longer than `limit_ms`. A ghost agent that
    /// calls are offered to is worse than one who has to press ready again.
    pub fn desktop_lost(&self, last_heard: i64, limit_ms: i64, now: i64) -> bool {
        self.routable() && now - last_heard > limit_ms
    }
}

/// What a call's end does to its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCall {
    /// After-call work begins.
    WrapUp(AgentEventKind),
    /// The agent is free again (or back to not ready).
    Free(DeskEventKind),
}

/// `HH:MM:SS` of a duration in ms (negative counts as 0), as the seed's `time` field spells it.
pub fn hms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_presence() {
        let login = AgentEventKind::AgentLogin { via: "feature_code".into() };
        assert_eq!((login.code(), login.presence(), login.name()), (580, Presence::Ready, "agent_login"));
        assert_eq!(AgentEventKind::AgentNotReady { reason: "1".into() }.code(), 582);
        let acw = AgentEventKind::AgentWrapUp { call_id: "c".into(), until: 0 };
        assert_eq!((acw.code(), acw.reason(), acw.presence()), (582, Some("acw"), Presence::AfterCallWork));
        assert_eq!(agent_stream("1001"), "agent/1001");
        assert_eq!(desk_stream("1001"), "desk/1001");
    }

    fn ready_at(at: i64) -> AgentState {
        let mut s = AgentState::default();
        s.apply(&AgentEventKind::AgentLogin { via: "desk".into() }, at);
        s
    }

    #[test]
    fn status_follows_presence_and_calls() {
        let mut s = AgentState::default();
        assert_eq!(s.status(), 0);
        s = ready_at(1_000);
        assert_eq!((s.status(), s.status_since(), s.routable()), (1, 1_000, true));
        s.apply_desk(&DeskEventKind::DeskCallStarted { call_id: "c1".into(), peer: "138".into() }, 2_000);
        assert_eq!((s.status(), s.status_since(), s.routable()), (2, 2_000, false));
        s.apply_desk(&DeskEventKind::DeskCallConnected { call_id: "c1".into(), peer: "138".into() }, 3_000);
        assert!(s.call.as_ref().unwrap().connected);
        // No wrap-up kept: free again, idle from the call's end.
        let AfterCall::Free(ended) = s.after_call("c1", 0, 9_000) else { panic!("no wrap-up expected") };
        assert_eq!(ended, DeskEventKind::DeskCallEnded { call_id: "c1".into(), status: 1 });
        s.apply_desk(&ended, 9_000);
        assert_eq!((s.status(), s.status_since()), (1, 9_000));
    }

    #[test]
    fn the_end_of_an_older_call_leaves_a_newer_one_busy() {
        let mut s = ready_at(0);
        s.apply_desk(&DeskEventKind::DeskCallStarted { call_id: "new".into(), peer: "1".into() }, 10);
        let AfterCall::Free(ended) = s.after_call("old", 30, 20) else { panic!("no wrap-up for a call not talked on") };
        assert_eq!(ended, DeskEventKind::DeskCallEnded { call_id: "old".into(), status: 2 });
        s.apply_desk(&ended, 20);
        assert_eq!(s.call.as_ref().map(|c| c.call_id.as_str()), Some("new"));
    }

    #[test]
    fn wrap_up_after_a_talked_call_only_and_expires_at_its_limit() {
        let mut s = ready_at(0);
        s.apply_desk(&DeskEventKind::DeskCallStarted { call_id: "c1".into(), peer: "138".into() }, 10);
        // Never connected: no form to fill in.
        assert!(matches!(s.after_call("c1", 30, 20), AfterCall::Free(_)));
        s.apply_desk(&DeskEventKind::DeskCallConnected { call_id: "c1".into(), peer: "138".into() }, 20);
        let AfterCall::WrapUp(acw) = s.after_call("c1", 30, 1_000) else { panic!("wrap-up expected") };
        assert_eq!(acw, AgentEventKind::AgentWrapUp { call_id: "c1".into(), until: 31_000 });
        s.apply(&acw, 1_000);
        assert_eq!((s.status(), s.call.is_none(), s.routable()), (3, true, false));
        assert!(!s.wrap_up_expired(30_999));
        assert!(s.wrap_up_expired(31_000));
        // -1: until the form or nextCall.
        let mut t = ready_at(0);
        t.apply_desk(&DeskEventKind::DeskCallConnected { call_id: "c2".into(), peer: "1".into() }, 5);
        let AfterCall::WrapUp(open) = t.after_call("c2", -1, 100) else { panic!("wrap-up expected") };
        t.apply(&open, 100);
        assert!(!t.wrap_up_expired(i64::MAX));
    }

    #[test]
    fn a_silent_desktop_puts_only_an_idle_ready_agent_not_ready() {
        let mut s = ready_at(0);
        assert!(!s.desktop_lost(0, 60_000, 60_000));
        assert!(s.desktop_lost(0, 60_000, 60_001));
        s.apply_desk(&DeskEventKind::DeskCallStarted { call_id: "c".into(), peer: "1".into() }, 1);
        assert!(!s.desktop_lost(0, 60_000, 999_999), "an agent on a call keeps talking");
        let mut n = ready_at(0);
        n.apply(&AgentEventKind::AgentNotReady { reason: "2".into() }, 1);
        assert!(!n.desktop_lost(0, 60_000, 999_999));
    }

    #[test]
    fn hms_spells_the_seed_time() {
        assert_eq!(hms(257_000), "00:04:17");
        assert_eq!(hms(-5), "00:00:00");
        assert_eq!(hms(3_600_000 * 27 + 61_000), "27:01:01");
    }
}
