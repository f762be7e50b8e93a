//! Inbound queues: a carrier's call to a number of an inbound skill group (direction `in`, its
//! `caller_id` is the number callers dial) waits in that queue with music, and the ACD
//! (`yunhu-acd`, pure) decides which free agent's phone rings for it. This module feeds the ACD
//! what the contact center knows (who is ready, registered and not on a call) and carries its
//! decisions out on the call engine: ring an agent, put an agent who let it ring out not ready
//! (reason `missed`), let a caller go at the queue's limit.

use super::hooks::Hooks;
use super::{Reach, Switch};
use crate::secrets::new_stream_id;
use crate::{CcError, Tenant, TenantId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use yunhu_acd::{Acd, Caller, Decision, QueueConfig};
use yunhu_core::agent::{AgentEventKind, MISSED_REASON};
use yunhu_core::call::{CallEventKind, Cause, HangupSide};
use yunhu_engine::driver::CallHandle;
use yunhu_engine::flows::QueueCall;
use yunhu_engine::machine::Command;
use yunhu_sip::IncomingLeg;

/// How often the ACD is asked what to do.
const TICK: Duration = Duration::from_millis(100);
/// Longest a caller stays in a queue whatever happens (the flow's last guard).
const LAST_GUARD_MS: i64 = 30 * 60 * 1000;

/// A caller waiting in (or served by) a queue.
struct Queued {
    tenant: Tenant,
    queue: String,
    handle: CallHandle,
    number: String,
    /// Agents offered the call so far: account → extension.
    offered: HashMap<String, String>,
}

/// The ACD and the calls in its queues.
#[derive(Default)]
pub(super) struct Queues {
    pub(super) acd: Mutex<Acd>,
    calls: Mutex<HashMap<String, Queued>>,
    /// Each tenant's queue members, read from the directory at most every [`MEMBERS_FOR`].
    members: Mutex<HashMap<TenantId, (tokio::time::Instant, Vec<crate::calls::RosterEntry>)>>,
}

/// How long the queue members read from the directory serve before they are read again.
const MEMBERS_FOR: Duration = Duration::from_secs(2);

/// The ACD's name of a tenant's queue or agent: tenants share one ACD without meeting.
pub(super) fn key(tenant: TenantId, code: &str) -> String {
    format!("{}/{code}", tenant.0)
}

fn unkey(key: &str) -> Option<(TenantId, &str)> {
    let (t, code) = key.split_once('/')?;
    Some((TenantId(t.parse().ok()?), code))
}

/// The inbound queue a dialled number leads to.
pub(super) struct QueueRoute {
    /// The skill group's code.
    code: String,
    /// How long an offer rings (its `tip_timeout`, s; 0: the switch's ring limit).
    ring_secs: i64,
}

impl Switch {
    /// The inbound skill group whose number is `dialed`, if any.
    pub(super) async fn inbound_queue(&self, tenant: &Tenant, dialed: &str) -> Option<QueueRoute> {
        let rows = self.inner.services.db.list_rows(tenant.id, &yunhu_store::directory::QUEUES).await.ok()?;
        rows.iter()
            .find(|q| q["direction"].text() == "in" && !dialed.is_empty() && q["caller_id"].text() == dialed)
            .map(|q| QueueRoute { code: q["code"].text().to_string(), ring_secs: q["tip_timeout"].int() })
    }

    /// Puts a carrier's caller into queue `code`: answered, with music, until an agent takes it.
    pub(super) async fn enqueue(
        &self,
        tenant: &Tenant,
        route: QueueRoute,
        caller: &str,
        trunk: &str,
        offer: String,
        leg: IncomingLeg,
    ) -> Result<(), CcError> {
        let QueueRoute { code, ring_secs } = route;
        let code = code.as_str();
        let svc = &self.inner.services;
        let call_id = new_stream_id();
        svc.log_call_event_or_warn(
            tenant.id,
            &call_id,
            CallEventKind::Created {
                direction: "inbound".into(),
                staff: String::new(),
                extension: String::new(),
                customer: caller.to_string(),
                caller_id: caller.to_string(),
                trunk: trunk.to_string(),
                codeid_1: String::new(),
                codeid_2: String::new(),
                method: None,
                task_id: String::new(),
                call_data: [("queue".to_string(), code.to_string())].into(),
            },
        );
        svc.log_call_event_or_warn(tenant.id, &call_id, CallEventKind::QueueEntered { queue: code.to_string() });
        let hooks = self.hooks(tenant, &call_id, caller);
        let flow = QueueCall::new(caller, LAST_GUARD_MS);
        let (handle, _ended) = self.launch(hooks, Box::new(flow), Some((leg, offer)), Some(("queue", caller)));
        let now = svc.now_ms();
        let queue = key(tenant.id, code);
        {
            let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
            let ring_ms =
                if ring_secs > 0 { ring_secs * 1000 } else { self.inner.config.ring_timeout.as_millis() as i64 };
            acd.set_queue(&queue, QueueConfig { ring_ms, ..Default::default() });
            // The queue exists now: a caller is always accepted.
            let _ = acd.enqueue(&queue, Caller::new(&call_id, caller, 0, now), now);
        }
        let queued =
            Queued { tenant: tenant.clone(), queue, handle, number: caller.to_string(), offered: HashMap::new() };
        self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(call_id.clone(), queued);
        tracing::info!(%call_id, queue = code, "caller queued");
        Ok(())
    }

    /// Whether a call waits in (or was served by) a queue.
    pub(super) fn is_queued(&self, call_id: &str) -> bool {
        self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).contains_key(call_id)
    }

    /// A queued caller and an agent are connected: the ACD forgets the caller.
    pub(super) fn queue_answered(&self, call_id: &str, staff: &str) {
        let calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
        let Some(q) = calls.get(call_id) else { return };
        let now = self.inner.services.now_ms();
        let agent = key(q.tenant.id, staff);
        let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = acd.answered(&q.queue, call_id, &agent, now) {
            tracing::warn!(%call_id, ?e, "queued caller answered but not in its queue");
        }
        drop(acd);
        let left = CallEventKind::QueueLeft { outcome: "answered".into() };
        self.inner.services.log_call_event_or_warn(q.tenant.id, call_id, left);
        // The record names the agent who took the call.
        let extension = q.offered.get(staff).cloned().unwrap_or_default();
        let assigned = CallEventKind::Assigned { staff: staff.to_string(), extension };
        self.inner.services.log_call_event_or_warn(q.tenant.id, call_id, assigned);
    }

    /// A queued call is over: a caller still waiting hung up (abandoned).
    pub(super) fn queue_call_ended(&self, call_id: &str) {
        let Some(q) = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(call_id) else {
            return;
        };
        let now = self.inner.services.now_ms();
        let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        // Not an error when an agent took it: the caller left the queue then.
        let _ = acd.abandon(&q.queue, call_id, now, 0);
    }

    /// Starts asking the ACD what to do, every [`TICK`].
    pub(super) fn start_queues(&self) {
        let switch = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                switch.queue_tick().await;
            }
        });
    }

    async fn queue_tick(&self) {
        let tenants: Vec<Tenant> = {
            let calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
            let mut ts: Vec<Tenant> = calls.values().map(|q| q.tenant.clone()).collect();
            ts.dedup_by_key(|t| t.id);
            ts
        };
        if tenants.is_empty() {
            return;
        }
        // Who may take a call now, as the contact center sees them.
        let mut members = Vec::new();
        for tenant in &tenants {
            let Some(roster) = self.queue_members(tenant.id).await else { continue };
            for m in roster.into_iter().filter(|m| !m.queues.is_empty()) {
                let state = self.inner.services.agent_state(tenant.id, &m.user_code);
                let registered =
                    !m.agent_id.is_empty() && !self.inner.sip.bindings(&tenant.sip_domain, &m.agent_id).is_empty();
                let free = state.routable() && registered && !self.on_call(tenant.id, &m.user_code);
                let queues: Vec<String> = m.queues.iter().map(|q| key(tenant.id, q)).collect();
                members.push((key(tenant.id, &m.user_code), queues, free, state.status_since()));
            }
        }
        let now = self.inner.services.now_ms();
        let decisions = {
            let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
            for (id, queues, free, since) in &members {
                acd.sync_agent(id, queues, *free, *since);
            }
            acd.poll(now)
        };
        for d in decisions {
            self.carry_out(d).await;
        }
    }

    /// The tenant's staff with their queues, from the directory or the last read of it.
    async fn queue_members(&self, tenant: TenantId) -> Option<Vec<crate::calls::RosterEntry>> {
        let cached = {
            let members = self.inner.queues.members.lock().unwrap_or_else(|e| e.into_inner());
            members.get(&tenant).filter(|(at, _)| at.elapsed() < MEMBERS_FOR).map(|(_, m)| m.clone())
        };
        if cached.is_some() {
            return cached;
        }
        let fresh = self.inner.services.roster(tenant, true).await.ok()?;
        let mut members = self.inner.queues.members.lock().unwrap_or_else(|e| e.into_inner());
        members.insert(tenant, (tokio::time::Instant::now(), fresh.clone()));
        Some(fresh)
    }

    async fn carry_out(&self, d: Decision) {
        match d {
            Decision::Offer { caller, agents, until, .. } => {
                let (tenant, handle, number) = {
                    let calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(q) = calls.get(&caller) else { return };
                    (q.tenant.clone(), q.handle.clone(), q.number.clone())
                };
                let ring_ms = until - self.inner.services.now_ms();
                for agent in agents {
                    let Some((_, code)) = unkey(&agent) else { continue };
                    let Ok(row) = self.inner.services.staff_by_code_or_extension(tenant.id, code).await else {
                        continue;
                    };
                    let Ok(target) = self.staff_target(&tenant, &row, &number).await else { continue };
                    if self.claim(tenant.id, code, &caller, &number, Reach::FromCustomer) {
                        if let Some(q) =
                            self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&caller)
                        {
                            q.offered.insert(code.to_string(), row["agent_id"].text().to_string());
                        }
                        tracing::info!(call_id = %caller, agent = code, "queue offers the call");
                        handle.post(QueueCall::offer(target, ring_ms.max(1_000)));
                    }
                }
            }
            Decision::Missed { agents, caller, .. } => {
                for agent in agents {
                    let Some((tenant, code)) = unkey(&agent) else { continue };
                    tracing::info!(call_id = %caller, agent = code, "offer rang out: agent not ready (missed)");
                    let event = AgentEventKind::AgentNotReady { reason: MISSED_REASON.into() };
                    if let Err(e) = self.inner.services.set_presence(tenant, code, event).await {
                        tracing::error!(error = %e, "missed offer");
                    }
                }
            }
            Decision::Overflow { caller, .. } => {
                let handle = {
                    let calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
                    calls.get(&caller).map(|q| (q.handle.clone(), q.tenant.id))
                };
                if let Some((h, tenant)) = handle {
                    let left = CallEventKind::QueueLeft { outcome: "overflowed".into() };
                    self.inner.services.log_call_event_or_warn(tenant, &caller, left);
                    h.post(Command::Outcome { cause: Cause::NoAnswer, side: HangupSide::System });
                    h.post(Command::Hangup);
                }
            }
            // Callbacks need the exit key, which is not wired yet: nothing asks for one.
            Decision::CallBack { .. } => {}
        }
    }
}

impl Hooks {
    /// Tells the queues that a queued caller is connected with the agent on the call.
    pub(super) fn queue_note(&self, call: &yunhu_engine::machine::Call) {
        if self.switch.is_queued(&self.call_id) {
            self.switch.queue_answered(&self.call_id, &call.summary().agent);
        }
    }
}

