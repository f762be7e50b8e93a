//! Agent presence: logged out, or logged in and ready / not ready; and the events that change it,
//! which the event log keeps (open95 codes 580-583).

use serde::{Deserialize, Serialize};

/// Where an agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Not working.
    LoggedOut,
    /// Logged in, taking calls.
    Ready,
    /// Logged in, on a break (小休).
    NotReady,
}

/// A presence change, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentEventKind {
    /// Logged in (580); logging in makes the agent ready.
    AgentLogin {
        /// How: `feature_code`, `api`.
        via: String,
    },
    /// Logged out (581).
    AgentLogout {
        /// How.
        via: String,
    },
    /// Not ready (582).
    AgentNotReady {
        /// Reason code.
        reason: String,
    },
    /// Ready (583).
    AgentReady,
}

impl AgentEventKind {
    /// The event log's `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEventKind::AgentLogin { .. } => "agent_login",
            AgentEventKind::AgentLogout { .. } => "agent_logout",
            AgentEventKind::AgentNotReady { .. } => "agent_not_ready",
            AgentEventKind::AgentReady => "agent_ready",
        }
    }

    /// The open95 employee-history code.
    pub fn code(&self) -> u16 {
        match self {
            AgentEventKind::AgentLogin { .. } => 580,
            AgentEventKind::AgentLogout { .. } => 581,
            AgentEventKind::AgentNotReady { .. } => 582,
            AgentEventKind::AgentReady => 583,
        }
    }

    /// The presence after the event.
    pub fn presence(&self) -> Presence {
        match self {
            AgentEventKind::AgentLogin { .. } | AgentEventKind::AgentReady => Presence::Ready,
            AgentEventKind::AgentLogout { .. } => Presence::LoggedOut,
            AgentEventKind::AgentNotReady { .. } => Presence::NotReady,
        }
    }
}

/// The event-log stream key of an agent's presence events.
pub fn agent_stream(user_code: &str) -> String {
    format!("agent/{user_code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_presence() {
        let login = AgentEventKind::AgentLogin { via: "feature_code".into() };
        assert_eq!((login.code(), login.presence(), login.name()), (580, Presence::Ready, "agent_login"));
        assert_eq!(AgentEventKind::AgentNotReady { reason: "1".into() }.code(), 582);
        assert_eq!(agent_stream("1001"), "agent/1001");
    }
}
