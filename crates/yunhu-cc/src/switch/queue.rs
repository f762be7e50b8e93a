//! Inbound calls and queues: a carrier's call to one of the tenant's numbers follows that number's
//! route (a menu, a queue or an extension, by business hours) on the inbound flow
//! (`yunhu_engine::inbound`); a caller in a queue waits with music, and the ACD (`yunhu-acd`,
//! pure) decides which free agent's phone rings for it. This module feeds the ACD what the
//! contact center knows (who is ready, registered, not on a call, with which skills) and carries
//! its decisions out on the call engine: ring an agent, put an agent who let it ring out not ready
//! (reason `missed`), tell a caller their place, send a caller to the overflow, call a caller back
//! when the place they kept comes up.

use super::hooks::Hooks;
use super::{CallContext, Reach, Switch};
use crate::objects::QueueAcd;
use crate::secrets::new_stream_id;
use crate::{CcError, Tenant, TenantId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use yunhu_acd::{Acd, Caller, Decision, QueueConfig};
use yunhu_core::agent::{AgentEventKind, MISSED_REASON};
use yunhu_core::call::{CallEventKind, Cause, HangupSide};
use yunhu_engine::driver::CallHandle;
use yunhu_engine::inbound::{InboundCall, QueuePlan, Survey};
use yunhu_engine::ivr::{Action, Menu, Node};
use yunhu_engine::machine::Command;
use yunhu_sip::IncomingLeg;

/// How often the ACD is asked what to do.
const TICK: Duration = Duration::from_millis(100);
/// Longest a caller stays in the IVR and queues whatever happens (the flow's last guard).
const LAST_GUARD_MS: i64 = 30 * 60 * 1000;
/// A caller who hung up while waiting and calls again within this window takes back their place.
const RESUME_MS: i64 = 120_000;
/// Tries to reach a caller who asked for a call back before the place is given up.
const CALLBACK_ATTEMPTS: u32 = 3;
/// The expected handling time used for the wait announced before any call was answered.
const DEFAULT_WAIT_PER_PLACE_MS: i64 = 60_000;

/// A caller waiting in (or served by) a queue.
struct Queued {
    tenant: Tenant,
    /// The ACD's name of the queue.
    queue: String,
    /// The skill group's code.
    code: String,
    handle: CallHandle,
    number: String,
    /// Agents offered the call so far: account → extension.
    offered: HashMap<String, String>,
    /// Left the line for a call back keeping the place.
    callback: bool,
    /// Call-back attempts made.
    attempts: u32,
    /// When the caller was last told their place (ms).
    announced_at: i64,
    /// Seconds between announcements (0: none).
    announce_ms: i64,
}

/// The ACD and the calls in its queues.
#[derive(Default)]
pub(super) struct Queues {
    pub(super) acd: Mutex<Acd>,
    calls: Mutex<HashMap<String, Queued>>,
    /// Wakes the ACD at once when a caller enters a queue, rather than at the next tick.
    wake: tokio::sync::Notify,
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

/// The ACD's configuration of a queue from its directory settings.
fn acd_config(settings: &QueueAcd, ring_ms: i64) -> QueueConfig {
    QueueConfig {
        strategy: settings.strategy,
        skill: settings.skill.clone(),
        ring_ms,
        max_wait_ms: settings.max_wait_secs.filter(|s| *s > 0).map(|s| s * 1000),
        no_agent_wait_ms: settings.no_agent_wait_secs.filter(|s| *s > 0).map(|s| s * 1000),
        overflow: settings.overflow.clone(),
        service_level_ms: settings.service_level_secs * 1000,
        ..QueueConfig::default()
    }
}

fn plan_of(settings: &QueueAcd) -> QueuePlan {
    let key = |k: &Option<String>| k.as_ref().and_then(|k| k.chars().next());
    QueuePlan {
        callback_key: key(&settings.callback_key),
        voicemail_key: key(&settings.voicemail_key),
        survey: settings.survey,
    }
}

impl Switch {
    /// Where a carrier's call to `dialed` goes: the number's route (by the tenant's business
    /// hours), else the skill group whose caller ID it is (calls back from customers a task
    /// dialled reach that task's group), else `None` (an extension's own number).
    pub(super) async fn inbound_route(&self, tenant: &Tenant, dialed: &str) -> Option<Action> {
        if dialed.is_empty() {
            return None;
        }
        let db = &self.inner.services.db;
        if let Ok(Some((row, false))) = db.get_row(tenant.id, &yunhu_store::directory::ROUTES, &[dialed.into()]).await {
            let list = |col: &str| serde_json::from_str::<Vec<String>>(row[col].text()).unwrap_or_default();
            let hours = yunhu_core::time::BusinessHours::parse(&list("hours"), &list("holidays")).ok()?;
            let zone = yunhu_core::time::zone_or_default(&tenant.time_zone);
            let after = row["after_hours"].text();
            let target = if !after.is_empty() && !hours.open_at(self.inner.services.now_ms(), zone) {
                after
            } else {
                row["target"].text()
            };
            return target.parse().ok();
        }
        let rows = db.list_rows(tenant.id, &yunhu_store::directory::QUEUES).await.ok()?;
        let by_caller_id = |direction: &str| {
            rows.iter().find(|q| q["direction"].text() == direction && q["caller_id"].text() == dialed)
        };
        by_caller_id("in").or_else(|| by_caller_id("out")).map(|q| Action::Queue(q["code"].text().to_string()))
    }

    /// A carrier's caller on the inbound flow, starting at `start`: answered, through the
    /// tenant's menus and queues.
    pub(super) async fn start_inbound(
        &self,
        tenant: &Tenant,
        start: Action,
        caller: &str,
        trunk: &str,
        offer: String,
        leg: IncomingLeg,
    ) -> Result<(), CcError> {
        let svc = &self.inner.services;
        let call_id = new_stream_id();
        svc.log_call_event(
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
                call_data: Default::default(),
            },
        )
        .await?;
        let mut flow = InboundCall::new(caller, start, LAST_GUARD_MS);
        for row in svc.db.list_rows(tenant.id, &yunhu_store::directory::IVRS).await? {
            let nodes: Vec<Node> = serde_json::from_str(row["nodes"].text()).unwrap_or_default();
            let name = row["name"].text().to_string();
            flow.menus.insert(name.clone(), Menu { name, start: row["start_node"].text().to_string(), nodes });
        }
        for row in svc.db.list_rows(tenant.id, &yunhu_store::directory::QUEUES).await? {
            flow.queues.insert(row["code"].text().to_string(), plan_of(&QueueAcd::of(&row)));
        }
        flow.survey = Survey::default();
        let hooks = self.hooks(tenant, &call_id, caller);
        self.launch(hooks, Box::new(flow), Some((leg, offer)), Some(("queue", caller)));
        tracing::info!(%call_id, "inbound call on its route");
        Ok(())
    }

    /// The inbound flow of call `call_id` asks for `what` (see `yunhu_engine::inbound`).
    /// `entered_at`: when the flow logged the caller entering the queue.
    pub(super) fn inbound_asked(&self, tenant: &Tenant, call_id: &str, caller: &str, what: &str, entered_at: i64) {
        let (kind, arg) = what.split_once(':').unwrap_or((what, ""));
        match kind {
            "queue" => {
                let switch = self.clone();
                let (tenant, call_id, caller, code) =
                    (tenant.clone(), call_id.to_string(), caller.to_string(), arg.to_string());
                tokio::spawn(async move { switch.enqueue(&tenant, &call_id, &caller, &code, entered_at).await });
            }
            "extension" => {
                let switch = self.clone();
                let (tenant, call_id, caller, ext) =
                    (tenant.clone(), call_id.to_string(), caller.to_string(), arg.to_string());
                tokio::spawn(async move { switch.ring_extension(&tenant, &call_id, &caller, &ext).await });
            }
            "callback" => {
                let mut calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(q) = calls.get_mut(call_id) {
                    q.callback = true;
                    let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = acd.request_callback(&q.queue, call_id) {
                        tracing::warn!(%call_id, ?e, "call back asked for by a caller not in a queue");
                    }
                }
            }
            "voicemail" => {
                let q = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(call_id);
                if let Some(q) = q {
                    let _ = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner()).give_up(&q.queue, call_id);
                }
            }
            _ => tracing::warn!(%call_id, what, "the inbound flow asked for something unknown"),
        }
    }

    /// Puts call `call_id` into queue `code` (its first, or the one it overflowed to), entered at
    /// `entered_at` as its record says.
    async fn enqueue(&self, tenant: &Tenant, call_id: &str, caller: &str, code: &str, entered_at: i64) {
        let svc = &self.inner.services;
        let row = match svc.db.get_row(tenant.id, &yunhu_store::directory::QUEUES, &[code.into()]).await {
            Ok(Some((row, false))) => row,
            _ => {
                tracing::warn!(%call_id, queue = code, "route to a queue the tenant does not have");
                if let Some(h) = self.call_handle(tenant.id, call_id) {
                    h.post(Command::Tell("hangup".into()));
                }
                return;
            }
        };
        let Some(handle) = self.call_handle(tenant.id, call_id) else { return };
        let settings = QueueAcd::of(&row);
        let ring_secs = row["tip_timeout"].int();
        let ring_ms = if ring_secs > 0 { ring_secs * 1000 } else { self.inner.config.ring_timeout.as_millis() as i64 };
        let now = entered_at;
        let queue = key(tenant.id, code);
        {
            let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
            acd.set_queue(&queue, acd_config(&settings, ring_ms));
            // The queue exists now: a caller is always accepted.
            let _ = acd.enqueue(&queue, Caller::new(call_id, caller, 0, now), now);
        }
        let queued = Queued {
            tenant: tenant.clone(),
            queue,
            code: code.to_string(),
            handle,
            number: caller.to_string(),
            offered: HashMap::new(),
            callback: false,
            attempts: 0,
            announced_at: now,
            announce_ms: settings.announce_secs * 1000,
        };
        self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(call_id.to_string(), queued);
        self.inner.queues.wake.notify_one();
        tracing::info!(%call_id, queue = code, "caller queued");
    }

    /// Rings extension `ext` for an inbound caller (an IVR's or an overflow's destination).
    async fn ring_extension(&self, tenant: &Tenant, call_id: &str, caller: &str, ext: &str) {
        let Some(handle) = self.call_handle(tenant.id, call_id) else { return };
        let target = match self.inner.services.staff_by_extension(tenant.id, ext).await {
            Ok(row) => {
                let code = row["user_code"].text().to_string();
                match self.staff_target(tenant, &row, caller).await {
                    Ok(t) if self.claim(tenant.id, &code, call_id, caller, Reach::FromCustomer) => {
                        let assigned = CallEventKind::Assigned { staff: code, extension: ext.to_string() };
                        self.inner.services.log_call_event_or_warn(tenant.id, call_id, assigned);
                        Some(t)
                    }
                    _ => None,
                }
            }
            Err(_) => None,
        };
        match target {
            Some(t) => {
                handle.post(InboundCall::offer(t, self.inner.config.ring_timeout.as_millis() as i64));
            }
            // Busy, unregistered or gone: the caller is not left hanging.
            None => {
                handle.post(Command::Tell("voicemail".into()));
            }
        }
    }

    /// Whether an inbound caller waits for this agent (see [`Acd::wanted`]).
    pub(super) fn wanted_inbound(&self, tenant: TenantId, code: &str) -> bool {
        self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner()).wanted(&key(tenant, code))
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
        self.inner.services.log_call_event_at_or_warn(q.tenant.id, call_id, left, now);
        // The record names the agent who took the call.
        let extension = q.offered.get(staff).cloned().unwrap_or_default();
        let assigned = CallEventKind::Assigned { staff: staff.to_string(), extension };
        self.inner.services.log_call_event_or_warn(q.tenant.id, call_id, assigned);
    }

    /// A queued call is over: a caller still waiting hung up (abandoned at `left_at`, else now;
    /// the place is kept for [`RESUME_MS`]); a caller who asked for a call back keeps waiting off
    /// the line.
    pub(super) fn queue_call_ended(&self, call_id: &str, left_at: Option<i64>) {
        let mut calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.get(call_id).is_some_and(|q| q.callback) {
            return;
        }
        let Some(q) = calls.remove(call_id) else { return };
        drop(calls);
        let now = left_at.unwrap_or_else(|| self.inner.services.now_ms());
        let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        // Not an error when an agent took it: the caller left the queue then.
        let _ = acd.abandon(&q.queue, call_id, now, RESUME_MS);
    }

    /// Starts asking the ACD what to do, every [`TICK`].
    pub(super) fn start_queues(&self) {
        let switch = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = switch.inner.queues.wake.notified() => {}
                }
                switch.queue_tick().await;
            }
        });
    }

    async fn queue_tick(&self) {
        let tenants: Vec<Tenant> = {
            let calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
            let mut ts: Vec<Tenant> = calls.values().map(|q| q.tenant.clone()).collect();
            ts.sort_by_key(|t| t.id.0);
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
                members.push((key(tenant.id, &m.user_code), queues, free, state.status_since(), m.skills, m.priority));
            }
        }
        let now = self.inner.services.now_ms();
        let decisions = {
            let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
            for (id, queues, free, since, skills, priority) in members {
                acd.sync_agent(&id, &queues, free, since);
                acd.set_skills(&id, skills, priority);
            }
            acd.poll(now)
        };
        for d in decisions {
            self.carry_out(d).await;
        }
        self.announce_places(now);
    }

    /// Tells each waiting caller due an announcement their place and expected wait.
    fn announce_places(&self, now: i64) {
        let mut calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
        let acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        for (id, q) in calls.iter_mut() {
            if q.callback || q.announce_ms <= 0 || now - q.announced_at < q.announce_ms {
                continue;
            }
            q.announced_at = now;
            let Some(place) = acd.position(&q.queue, id, now) else { continue };
            // The expected wait: the places ahead times the average speed of answer so far.
            let per_place = acd
                .wallboard(&q.queue, now)
                .and_then(|w| w.average_speed_of_answer_ms())
                .unwrap_or(DEFAULT_WAIT_PER_PLACE_MS)
                .max(1_000);
            let minutes = ((place as i64 * per_place + 59_999) / 60_000).min(99);
            q.handle.post(Command::Tell(format!("position:{place}:{minutes}")));
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
                        handle.post(InboundCall::offer(target, ring_ms.max(1_000)));
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
            Decision::Overflow { caller, to, queue } => self.overflow(&caller, &queue, to).await,
            Decision::CallBack { queue, caller, number, agent } => {
                let switch = self.clone();
                tokio::spawn(async move { switch.call_back(&queue, &caller, &number, &agent).await });
            }
        }
    }

    /// Sends a caller who waited too long (or whom no agent serves) to the queue's overflow.
    async fn overflow(&self, caller: &str, queue: &str, to: Option<String>) {
        let Some(q) = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(caller) else { return };
        let _ = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner()).give_up(queue, caller);
        let svc = &self.inner.services;
        let now = svc.now_ms();
        let left = CallEventKind::QueueLeft { outcome: "overflowed".into() };
        svc.log_call_event_at_or_warn(q.tenant.id, caller, left, now);
        tracing::info!(call_id = %caller, queue = %q.code, to = ?to, "overflow");
        match to.and_then(|t| t.parse::<Action>().ok()) {
            Some(Action::Queue(code)) => {
                let entered = CallEventKind::QueueEntered { queue: code.clone() };
                svc.log_call_event_at_or_warn(q.tenant.id, caller, entered, now);
                q.handle.post(Command::Tell(format!("queue:{code}")));
                self.enqueue(&q.tenant, caller, &q.number, &code, now).await;
            }
            Some(Action::Extension(ext)) => self.ring_extension(&q.tenant, caller, &q.number, &ext).await,
            Some(Action::Voicemail) => {
                q.handle.post(Command::Tell("voicemail".into()));
            }
            _ => {
                q.handle.post(Command::Outcome { cause: Cause::NoAnswer, side: HangupSide::System });
                q.handle.post(Command::Hangup);
            }
        }
    }

    /// A call back's turn: the agent the ACD reserved is rung first, then the caller is dialled
    /// (showing the queue's caller ID); tried [`CALLBACK_ATTEMPTS`] times.
    async fn call_back(&self, queue: &str, caller: &str, number: &str, agent: &str) {
        let Some((_, code)) = unkey(agent) else { return };
        let (tenant, skill_group) = {
            let mut calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
            let Some(q) = calls.get_mut(caller) else { return };
            q.attempts += 1;
            (q.tenant.clone(), q.code.clone())
        };
        let shown = match self
            .inner
            .services
            .db
            .get_row(tenant.id, &yunhu_store::directory::QUEUES, &[skill_group.as_str().into()])
            .await
        {
            Ok(Some((row, _))) => Some(row["caller_id"].text().to_string()),
            _ => None,
        };
        let context = CallContext {
            call_data: BTreeMap::from([
                ("callback_of".to_string(), caller.to_string()),
                ("queue".to_string(), skill_group.clone()),
            ]),
            ..CallContext::default()
        };
        tracing::info!(call_id = %caller, agent = code, "calling the caller back");
        let outcome = match self.agent_first(&tenant, code, number, context, shown).await {
            Ok((call_id, ended)) => {
                let _ = ended.await;
                self.inner.services.project_call(tenant.id, &call_id).await.ok()
            }
            Err(e) => {
                tracing::warn!(call_id = %caller, error = %e, "call back not placed");
                None
            }
        };
        let mut calls = self.inner.queues.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        match outcome.filter(|r| r.connected()) {
            Some(record) => {
                // Answered when the caller picked up: their wait ends there.
                let at = record.customer_leg.answer.unwrap_or_else(|| self.inner.services.now_ms());
                let _ = acd.answered(queue, caller, agent, at);
                calls.remove(caller);
            }
            None => {
                let attempts = calls.get(caller).map_or(CALLBACK_ATTEMPTS, |q| q.attempts);
                if attempts >= CALLBACK_ATTEMPTS {
                    let _ = acd.give_up(queue, caller);
                    calls.remove(caller);
                } else {
                    let _ = acd.callback_failed(queue, caller, agent);
                }
            }
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
