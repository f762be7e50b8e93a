//! Customer-first calls for outbound dialing: the customer is dialed through the trunk; when a
//! live person answers, the first free agent of the task is rung and bridged; if no agent takes
//! the call within the connect limit, the customer hears the identification prompt and the call
//! ends as abandoned.

use super::Switch;
use super::hooks::AgentPool;
use crate::secrets::new_stream_id;
use crate::{CcError, Tenant};
use std::time::Duration;
use yunhu_core::call::{CallEventKind, CallMethod, Cause};
use yunhu_core::mask_phone;
use yunhu_engine::driver::CallHandle;
use yunhu_engine::machine::Command;

/// What the dialer asks for: one number of one task.
#[derive(Debug, Clone)]
pub struct CustomerFirst {
    /// Whose call.
    pub tenant: Tenant,
    /// The customer's number.
    pub number: String,
    /// The task placing it.
    pub task_id: String,
    /// Predictive or preview.
    pub method: CallMethod,
    /// Accounts of the agents who may take it, in the order they are tried.
    pub agents: Vec<String>,
    /// How long an answered customer may wait for an agent (2 s by rule).
    pub connect_within: Duration,
}

/// How a customer-first call ended: what the dialer counts and learns from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerFirstOutcome {
    /// No live answer: busy, no answer, refused, failed; after `ring_ms` of trying.
    NotAnswered {
        /// Why.
        cause: Cause,
        /// From dialing to the end, ms.
        ring_ms: i64,
    },
    /// Answered and talked to `agent` for `talk_ms`.
    Connected {
        /// The agent's account.
        agent: String,
        /// From dialing to the answer, ms.
        ring_ms: i64,
        /// Talk, ms.
        talk_ms: i64,
    },
    /// Answered, but no agent took it in time: the customer heard the identification prompt.
    Abandoned {
        /// From dialing to the answer, ms.
        ring_ms: i64,
    },
    /// Hung up by the dialer while still ringing ([`CustomerFirstCall::hang_up_if_ringing`]).
    Dropped {
        /// From dialing to the hang-up, ms.
        ring_ms: i64,
    },
}

/// Where a customer-first call stands, as the dialer's pacing snapshot needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Dialed, not answered yet.
    Ringing,
    /// A live answer waiting for an agent.
    Waiting,
    /// Customer and agent talking.
    Talking,
    /// Over.
    Ended,
}

/// A customer-first call under way.
#[derive(Debug)]
pub struct CustomerFirstCall {
    /// The call's id.
    pub call_id: String,
    /// Its stage and since when.
    pub progress: tokio::sync::watch::Receiver<(Progress, tokio::time::Instant)>,
    /// How it ended, once it has.
    pub done: tokio::task::JoinHandle<CustomerFirstOutcome>,
    handle: CallHandle,
}

impl CustomerFirstCall {
    /// Hangs up the call if the customer has not answered yet; an answered call goes on. The call
    /// then ends as [`CustomerFirstOutcome::Dropped`], with cause ORIGINATOR_CANCEL.
    pub fn hang_up_if_ringing(&self) {
        self.handle.post(Command::HangupIfUnanswered);
    }
}

impl Switch {
    /// Ids of the tenant's calls that have an agent on them now.
    pub fn live_call_ids(&self, tenant: crate::TenantId) -> std::collections::HashSet<String> {
        let live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        live.iter().filter(|((t, _), _)| *t == tenant).map(|(_, c)| c.call_id.clone()).collect()
    }

    /// Accounts among `agents` that could take a call now: logged in and ready, with a
    /// registered phone, and not in a call.
    pub async fn idle_agents(&self, tenant: &Tenant, agents: &[String]) -> Vec<String> {
        self.idle_members(tenant, agents).await.into_iter().map(|(code, _, _)| code).collect()
    }

    /// Starts a customer-first call.
    pub async fn customer_first(&self, dial: CustomerFirst) -> Result<CustomerFirstCall, CcError> {
        if self.draining() {
            return Err(CcError::Invalid(super::DialError::Draining.to_string()));
        }
        let svc = &self.inner.services;
        let trunk = self.trunk(&dial.tenant).await.map_err(|e| CcError::Invalid(e.to_string()))?;
        let call_id = new_stream_id();
        svc.log_call_event(
            dial.tenant.id,
            &call_id,
            CallEventKind::Created {
                direction: "outbound".into(),
                staff: String::new(),
                extension: String::new(),
                customer: dial.number.clone(),
                caller_id: trunk.caller_id.clone(),
                trunk: trunk.name.clone(),
                codeid_1: String::new(),
                codeid_2: String::new(),
                method: Some(dial.method),
                task_id: dial.task_id.clone(),
                call_data: Default::default(),
            },
        )
        .await?;
        tracing::info!(call_id, task = %dial.task_id, customer = %mask_phone(&dial.number), "customer-first call");
        let (progress_tx, progress) = tokio::sync::watch::channel((Progress::Ringing, tokio::time::Instant::now()));
        let mut hooks = self.hooks(&dial.tenant, &call_id, &dial.number);
        hooks.progress = Some(progress_tx.clone());
        hooks.pool = Some(AgentPool { agents: dial.agents.clone() });
        let abandon = self.inner.prompts.sequence(&dial.tenant.corp_id, &["abandoned".to_string()]);
        let flow = yunhu_engine::flows::CustomerFirst::new(
            Switch::trunk_target(&trunk, &dial.number),
            self.inner.config.ring_timeout.as_millis() as i64,
            dial.connect_within.as_millis() as i64,
            abandon.len() as i64 / 8,
        );
        // The recording is named once the call starts, before an agent is known: by its task.
        let (handle, ended) = self.launch(hooks, Box::new(flow), None, Some((&dial.task_id, &dial.number)));
        let done = tokio::spawn(async move {
            let end = ended.await.ok().flatten();
            let _ = progress_tx.send((Progress::Ended, tokio::time::Instant::now()));
            let Some(end) = end else {
                return CustomerFirstOutcome::NotAnswered { cause: Cause::NormalTemporaryFailure, ring_ms: 0 };
            };
            let s = end.summary;
            match (s.answered_at, s.bridged_at) {
                (Some(a), Some(b)) => {
                    CustomerFirstOutcome::Connected { agent: s.agent, ring_ms: a, talk_ms: end.ended_at - b }
                }
                (Some(a), None) => CustomerFirstOutcome::Abandoned { ring_ms: a },
                (None, _) if s.dropped => CustomerFirstOutcome::Dropped { ring_ms: end.ended_at },
                (None, _) => CustomerFirstOutcome::NotAnswered { cause: end.cause, ring_ms: end.ended_at },
            }
        });
        Ok(CustomerFirstCall { call_id, progress, done, handle })
    }
}
