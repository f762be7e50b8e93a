//! The wallboard: a queue at a glance — callers waiting, agents by state, service level, ASA —
//! from the ACD's counters and the agents' states.

use super::Switch;
use super::queue::key;
use crate::{CcError, Tenant};
use yunhu_acd::QueueConfig;

/// A queue at a glance, for the wallboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueBoard {
    /// The skill group.
    pub queue: String,
    /// Callers on the line waiting.
    pub waiting: usize,
    /// The longest wait of a caller on the line (s).
    pub longest_wait_secs: i64,
    /// Callbacks waiting for their turn.
    pub callbacks_pending: usize,
    /// Member agents by state: ready (idle), on a call, after-call work, not ready, logged out.
    pub agents: AgentCounts,
    /// Callers who entered, were answered, abandoned, overflowed (since the node started).
    pub entered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Hung up while waiting.
    pub abandoned: u64,
    /// Sent to the overflow.
    pub overflowed: u64,
    /// Answered within the threshold of answered; `null` before any answer.
    pub service_level: Option<f64>,
    /// Answered or abandoned within the threshold of answered and abandoned.
    pub service_level_with_abandons: Option<f64>,
    /// The service-level threshold (s).
    pub service_level_secs: i64,
    /// Average speed of answer (s).
    pub asa_secs: Option<f64>,
}

/// Member agents by state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AgentCounts {
    /// Ready and idle.
    pub ready: usize,
    /// On a call.
    pub on_call: usize,
    /// In after-call work.
    pub after_call_work: usize,
    /// Not ready (any reason).
    pub not_ready: usize,
    /// Logged out.
    pub logged_out: usize,
}

impl Switch {
    /// The wallboard of one of the tenant's queues.
    pub async fn wallboard(&self, tenant: &Tenant, code: &str) -> Result<QueueBoard, CcError> {
        let svc = &self.inner.services;
        let known = svc.db.get_row(tenant.id, &yunhu_store::directory::QUEUES, &[code.into()]).await?;
        if known.is_none_or(|(_, deleted)| deleted) {
            return Err(CcError::NotFound(format!("queue {code}")));
        }
        let mut agents = AgentCounts::default();
        for m in svc.roster(tenant.id, true).await?.iter().filter(|m| m.queues.iter().any(|q| q == code)) {
            let s = svc.agent_state(tenant.id, &m.user_code);
            use yunhu_core::agent::Presence;
            match (s.presence, s.call.is_some() || self.on_call(tenant.id, &m.user_code)) {
                (Presence::LoggedOut, false) => agents.logged_out += 1,
                (_, true) => agents.on_call += 1,
                (Presence::Ready, false) => agents.ready += 1,
                (Presence::AfterCallWork, false) => agents.after_call_work += 1,
                (Presence::NotReady, false) => agents.not_ready += 1,
            }
        }
        let now = svc.now_ms();
        let acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        let config = QueueConfig::default();
        let board = acd.wallboard(&key(tenant.id, code), now);
        let secs = |ms: i64| ms / 1000;
        Ok(match board {
            Some(w) => QueueBoard {
                queue: code.to_string(),
                waiting: w.waiting,
                longest_wait_secs: secs(w.longest_wait_ms),
                callbacks_pending: w.callbacks_pending,
                agents,
                entered: w.stats.entered,
                answered: w.stats.answered,
                abandoned: w.stats.abandoned,
                overflowed: w.stats.overflowed,
                service_level: w.service_level(),
                service_level_with_abandons: w.service_level_with_abandons(),
                service_level_secs: secs(config.service_level_ms),
                asa_secs: w.average_speed_of_answer_ms().map(|ms| ms as f64 / 1000.0),
            },
            None => QueueBoard {
                queue: code.to_string(),
                waiting: 0,
                longest_wait_secs: 0,
                callbacks_pending: 0,
                agents,
                entered: 0,
                answered: 0,
                abandoned: 0,
                overflowed: 0,
                service_level: None,
                service_level_with_abandons: None,
                service_level_secs: secs(config.service_level_ms),
                asa_secs: None,
            },
        })
    }
}
