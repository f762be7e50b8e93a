//! The outbound dialer. Preview tasks (callType 1) hand each free agent of the task its next
//! number, called agent first. Every running predictive task (callType 0) is paced by `yunhu-dialer`'s [`Pacer`]
//! from what the switch shows (ready agents, calls ringing, answers waiting, agents talking);
//! the numbers it claims are dialed customer first, and each outcome goes back to the task's
//! numbers, its counters and the pacer. Each decision that dials is kept, with its reasons, in
//! the event log (`task/<id>` stream, kind `pacing`) and answers [`Dialer::explain`].

use crate::outbound::{OutboundTask, TaskNumber};
use crate::switch::{CustomerFirst, CustomerFirstCall, CustomerFirstOutcome, Progress, Switch};
use crate::{CcError, Services, Tenant, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use yunhu_core::call::{CallMethod, Cause};
use yunhu_dialer::pacing::{DialOutcome, Explanation, Pacer, PacingConfig, Snapshot};
use yunhu_store::outbound::AttemptOutcome;

/// How long an answered customer may wait for an agent.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(2);
/// A number whose answered call was abandoned is not dialed again for this long.
pub const ABANDONED_REST_MS: i64 = 72 * 3_600_000;

/// A call the dialer placed and has not settled yet.
struct InFlight {
    number: TaskNumber,
    call: CustomerFirstCall,
    /// Hung up because its task stopped; asked once.
    cancelled: bool,
}

/// What the dialer keeps per task between ticks.
struct TaskRun {
    pacer: Pacer,
    in_flight: Vec<InFlight>,
    /// Preview calls placed agent first: the number and the call's id.
    previews: Vec<(TaskNumber, String)>,
    last: Option<Explanation>,
}

/// A task's dialer state, shared between ticks.
type SharedRun = Arc<tokio::sync::Mutex<TaskRun>>;

/// The running dialer.
#[derive(Clone)]
pub struct Dialer {
    services: Services,
    switch: Switch,
    runs: Arc<Mutex<HashMap<(TenantId, i64), SharedRun>>>,
    /// Ids of the customer-first calls each tenant has under way, for its concurrent-call limit.
    placed: Arc<Mutex<HashMap<TenantId, std::collections::HashSet<String>>>>,
    /// Set by [`Dialer::drain`]: no new number is dialed, the calls placed still settle.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

/// Maps how a customer-first call ended onto the task's number outcomes.
fn attempt_outcome(outcome: &CustomerFirstOutcome) -> AttemptOutcome {
    match outcome {
        CustomerFirstOutcome::Connected { .. } => AttemptOutcome::Answered,
        CustomerFirstOutcome::Abandoned { .. } => AttemptOutcome::Abandoned,
        // Hung up unanswered after the drop age: nobody was reached, so the number is due again.
        CustomerFirstOutcome::Dropped { .. } => AttemptOutcome::NoAnswer,
        CustomerFirstOutcome::NotAnswered { cause, .. } => match cause {
            Cause::UserBusy => AttemptOutcome::Busy,
            Cause::NoAnswer | Cause::OriginatorCancel | Cause::RecoveryOnTimerExpire => AttemptOutcome::NoAnswer,
            Cause::CallRejected => AttemptOutcome::Rejected,
            _ => AttemptOutcome::Failed,
        },
    }
}

impl Dialer {
    /// Starts dialing for every tenant's running tasks, ticking every `tick`. Numbers a previous
    /// run had claimed and not settled (it stopped or crashed) are given back first.
    pub fn start(services: Services, switch: Switch, tick: Duration) -> Dialer {
        let dialer =
            Dialer { services, switch, runs: Arc::default(), placed: Arc::default(), draining: Arc::default() };
        let d = dialer.clone();
        tokio::spawn(async move {
            match d.services.db.release_claimed_numbers(d.services.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(numbers = n, "numbers an earlier run had claimed are due again"),
                Err(e) => tracing::error!(error = %e, "releasing claimed numbers"),
            }
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                if let Err(e) = d.tick().await {
                    tracing::error!(error = %e, "dialer tick");
                }
            }
        });
        dialer
    }

    /// Stops dialing new numbers for good (the node is draining); the calls already placed go on
    /// and settle with their outcomes as usual, and the tasks stay running for the next start.
    pub fn drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Calls the dialer placed whose outcome it has not yet written to their task.
    pub async fn unsettled(&self) -> usize {
        let runs: Vec<SharedRun> = self.runs.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut n = 0;
        for run in runs {
            let run = run.lock().await;
            n += run.in_flight.len() + run.previews.len();
        }
        n
    }

    /// The dialer's latest pacing decision for a task and its reasons, once it has paced it.
    pub fn explain(&self, tenant: TenantId, task: i64) -> Option<Explanation> {
        let run = self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(&(tenant, task)).cloned()?;
        run.try_lock().ok().and_then(|r| r.last.clone())
    }

    async fn tick(&self) -> Result<(), CcError> {
        let mut running = std::collections::HashSet::new();
        for tenant in self.services.db.list_tenants().await? {
            for task in self.services.running_tasks(tenant.id).await? {
                running.insert((tenant.id, task.id));
                if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
                    // Still counted as running, so its ringing dials are not cancelled as stopped.
                    continue;
                }
                let known = self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(&(tenant.id, task.id)).cloned();
                let run = match known {
                    Some(run) => run,
                    None => {
                        let pacer = self.pacer_for(&tenant, &task).await?;
                        let run = TaskRun { pacer, in_flight: Vec::new(), previews: Vec::new(), last: None };
                        let run = Arc::new(tokio::sync::Mutex::new(run));
                        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
                        runs.entry((tenant.id, task.id)).or_insert(run).clone()
                    }
                };
                let mut run = run.lock().await;
                let done = if task.call_type == 0 {
                    self.pace(&tenant, &task, &mut run).await
                } else {
                    self.preview(&tenant, &task, &mut run).await
                };
                if let Err(e) = done {
                    tracing::error!(task = task.id, error = %e, "dialing a task");
                }
            }
        }
        // Calls of tasks that stopped running still settle.
        let runs: Vec<((TenantId, i64), SharedRun)> =
            self.runs.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, v.clone())).collect();
        for ((tenant, task), run) in runs {
            let mut run = run.lock().await;
            if !running.contains(&(tenant, task)) {
                self.cancel_if_stopped(tenant, task, &mut run).await?;
            }
            self.settle(tenant, task, &mut run).await?;
        }
        Ok(())
    }

    /// Once a task is stopped, terminated or deleted, its dials still ringing are hung up through
    /// the call engine (cause ORIGINATOR_CANCEL, side system), so each attempt ends with a call
    /// record and an outcome rather than ringing on for a task that is over. A paused task's calls
    /// finish as they would, as pausing promises.
    async fn cancel_if_stopped(&self, tenant: TenantId, task: i64, run: &mut TaskRun) -> Result<(), CcError> {
        if run.in_flight.iter().all(|f| f.cancelled) {
            return Ok(());
        }
        let paused = self.services.db.task(tenant, task).await?.is_some_and(|t| {
            !t.deleted && crate::outbound::TaskStatus::from_code(t.status) == Some(crate::outbound::TaskStatus::Paused)
        });
        if paused {
            return Ok(());
        }
        for f in run.in_flight.iter_mut().filter(|f| !f.cancelled) {
            // An answered call goes on to its agent or its prompt; only ringing dials are ended.
            f.call.hang_up_if_ringing();
            f.cancelled = true;
        }
        Ok(())
    }

    /// A task's pacer: its cap, the tenant's window and line limit, and what the task's calls in
    /// that window taught (so a restart neither forgets the abandonment so far nor relearns).
    async fn pacer_for(&self, tenant: &Tenant, task: &OutboundTask) -> Result<Pacer, CcError> {
        let days = self.services.db.tenant_abandon_window_days(tenant.id).await?;
        let limit = self.services.db.tenant_max_calls(tenant.id).await?;
        let config = PacingConfig {
            abandon_window_ms: (days.max(1) * 24 * 3_600_000) as u64,
            max_lines: (limit > 0).then_some(limit as u32),
            ..PacingConfig::new(task.ratio as f64)
        };
        let mut pacer = Pacer::new(config.clone());
        let since = self.services.now_ms() - config.abandon_window_ms as i64;
        for past in self.services.db.past_attempts(tenant.id, &task.code, since, 100_000).await? {
            let at = past.at.max(0) as u64;
            let ring_ms = past.ring_ms as u64;
            if past.live {
                pacer.record_dial(at, DialOutcome::Live { ring_ms });
                if past.abandoned {
                    pacer.record_abandon(at);
                } else {
                    pacer.record_talk(at, past.talk_ms.max(0) as u64);
                }
            } else if past.dropped {
                pacer.record_dial(at, DialOutcome::Dropped { ring_ms });
            } else {
                pacer.record_dial(at, DialOutcome::Failed { ring_ms });
            }
        }
        Ok(pacer)
    }

    /// The tenant's calls under way: those the dialer placed and those agents are on.
    fn calls_in_progress(&self, tenant: TenantId) -> usize {
        let placed = self.placed.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant).cloned().unwrap_or_default();
        placed.len() + self.switch.live_call_ids(tenant).difference(&placed).count()
    }

    /// Records the outcome of every call of the task that has ended.
    async fn settle(&self, tenant: TenantId, task: i64, run: &mut TaskRun) -> Result<(), CcError> {
        let mut still = Vec::with_capacity(run.in_flight.len());
        for f in std::mem::take(&mut run.in_flight) {
            if !f.call.done.is_finished() {
                still.push(f);
                continue;
            }
            let outcome = f
                .call
                .done
                .await
                .unwrap_or(CustomerFirstOutcome::NotAnswered { cause: Cause::NormalTemporaryFailure, ring_ms: 0 });
            let now = self.services.now_ms().max(0) as u64;
            match &outcome {
                CustomerFirstOutcome::Connected { ring_ms, talk_ms, .. } => {
                    run.pacer.record_dial(now, DialOutcome::Live { ring_ms: *ring_ms as u64 });
                    run.pacer.record_talk(now, *talk_ms as u64);
                }
                CustomerFirstOutcome::Abandoned { ring_ms } => {
                    run.pacer.record_dial(now, DialOutcome::Live { ring_ms: *ring_ms as u64 });
                    run.pacer.record_abandon(now);
                }
                CustomerFirstOutcome::NotAnswered { ring_ms, .. } => {
                    run.pacer.record_dial(now, DialOutcome::Failed { ring_ms: *ring_ms as u64 });
                }
                CustomerFirstOutcome::Dropped { ring_ms } => {
                    run.pacer.record_dial(now, DialOutcome::Dropped { ring_ms: *ring_ms as u64 });
                }
            }
            if let Some(ids) = self.placed.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&tenant) {
                ids.remove(&f.call.call_id);
            }
            let attempt = attempt_outcome(&outcome);
            if let Err(e) =
                self.services.record_attempt(tenant, task, f.number.id, attempt, &f.call.call_id, now as i64).await
            {
                tracing::warn!(task, number = f.number.id, error = %e, "attempt not recorded");
            }
        }
        run.in_flight = still;
        let mut waiting = Vec::with_capacity(run.previews.len());
        for (number, call_id) in std::mem::take(&mut run.previews) {
            let Some(record) = self.services.call_record(tenant, &call_id).await? else {
                waiting.push((number, call_id));
                continue;
            };
            let r = &record.record;
            let attempt = if r.connected() {
                AttemptOutcome::Answered
            } else if r.agent.answer.is_none() {
                AttemptOutcome::AgentRejected
            } else {
                let cause = r.cause.unwrap_or(Cause::NormalTemporaryFailure);
                attempt_outcome(&CustomerFirstOutcome::NotAnswered { cause, ring_ms: 0 })
            };
            let now = self.services.now_ms();
            if let Err(e) = self.services.record_attempt(tenant, task, number.id, attempt, &call_id, now).await {
                tracing::warn!(task, number = number.id, error = %e, "attempt not recorded");
            }
        }
        run.previews = waiting;
        Ok(())
    }

    /// Whether a claimed number may be dialed now; if not, it has been settled or deferred.
    async fn may_dial(
        &self,
        tenant: &Tenant,
        task: &OutboundTask,
        number: &TaskNumber,
        now: i64,
    ) -> Result<bool, CcError> {
        if self.services.do_not_call(tenant.id, &number.mobile).await? {
            let outcome = AttemptOutcome::Blacklisted;
            self.services.record_attempt(tenant.id, task.id, number.id, outcome, "", now).await?;
            return Ok(false);
        }
        let since = now - ABANDONED_REST_MS;
        if let Some(at) = self.services.db.last_abandoned_at(tenant.id, &number.mobile, since).await? {
            self.services.db.defer_number(tenant.id, task.id, number.id, at + ABANDONED_REST_MS, now).await?;
            return Ok(false);
        }
        let limit = self.services.db.tenant_max_calls(tenant.id).await?;
        if limit > 0 && self.calls_in_progress(tenant.id) >= limit as usize {
            // At the tenant's limit: the number goes back, due now, for a later tick.
            self.services.db.defer_number(tenant.id, task.id, number.id, now, now).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// A preview task: each free agent of the task gets its next number, called agent first.
    async fn preview(&self, tenant: &Tenant, task: &OutboundTask, run: &mut TaskRun) -> Result<(), CcError> {
        self.settle(tenant.id, task.id, run).await?;
        let now = self.services.now_ms();
        let zone = yunhu_core::time::zone_or_default(&tenant.time_zone);
        if !crate::outbound::calling_window_open(task, zone, now) {
            return Ok(());
        }
        let members: Vec<String> =
            self.services.task_members(tenant.id, task.id).await?.into_iter().map(|m| m.user_code).collect();
        for agent in self.switch.idle_agents(tenant, &members).await {
            let Some(number) = self.services.claim_numbers(tenant.id, task.id, 1, now).await?.pop() else { break };
            if !self.may_dial(tenant, task, &number, now).await? {
                continue;
            }
            let context = crate::switch::CallContext {
                method: CallMethod::Preview,
                task_id: task.code.clone(),
                ..Default::default()
            };
            match self.switch.click_to_call(tenant, &agent, &number.mobile, context).await {
                Ok(call_id) => run.previews.push((number, call_id)),
                Err(e) => {
                    tracing::warn!(task = task.id, agent, error = %e, "preview call not placed");
                    self.services.db.defer_number(tenant.id, task.id, number.id, now, now).await?;
                }
            }
        }
        Ok(())
    }

    /// One pacing decision for a running task, and the calls it asks for.
    async fn pace(&self, tenant: &Tenant, task: &OutboundTask, run: &mut TaskRun) -> Result<(), CcError> {
        self.settle(tenant.id, task.id, run).await?;
        let now = self.services.now_ms();
        let zone = yunhu_core::time::zone_or_default(&tenant.time_zone);
        if !crate::outbound::calling_window_open(task, zone, now) {
            return Ok(());
        }
        // Agents who left predictive work (011) take no calls from predictive tasks.
        let members: Vec<String> = self
            .services
            .task_members(tenant.id, task.id)
            .await?
            .into_iter()
            .map(|m| m.user_code)
            .filter(|code| self.switch.in_predictive_work(tenant.id, code))
            .collect();
        let idle = self.switch.idle_agents(tenant, &members).await.len() as u32;
        let at = tokio::time::Instant::now();
        let (mut talking, mut ringing, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
        // Which call each `ringing` entry is, for the dials the pacer hangs up.
        let mut ringing_calls = Vec::new();
        for f in &run.in_flight {
            let (stage, since) = *f.call.progress.borrow();
            let ms = at.duration_since(since).as_millis() as u64;
            match stage {
                Progress::Ringing => {
                    ringing.push(ms);
                    ringing_calls.push(&f.call);
                }
                Progress::Waiting => waiting.push(ms),
                Progress::Talking => talking.push(ms),
                Progress::Ended => {}
            }
        }
        let snapshot =
            Snapshot { idle_agents: idle, busy_talk_ms: &talking, ringing_ms: &ringing, waiting_ms: &waiting };
        let decision = run.pacer.decide(now.max(0) as u64, &snapshot);
        for &i in &decision.drop {
            ringing_calls[i].hang_up_if_ringing();
        }
        if decision.dial == 0 {
            if !decision.drop.is_empty() {
                self.log_decision(tenant.id, task.id, now, &decision.reason).await?;
            }
            run.last = Some(decision.reason);
            return Ok(());
        }
        let numbers = self.services.claim_numbers(tenant.id, task.id, decision.dial as usize, now).await?;
        let mut dialed = 0u32;
        for number in numbers {
            if !self.may_dial(tenant, task, &number, now).await? {
                continue;
            }
            let dial = CustomerFirst {
                tenant: tenant.clone(),
                number: number.mobile.clone(),
                task_id: task.code.clone(),
                method: CallMethod::Predictive,
                agents: members.clone(),
                connect_within: CONNECT_WITHIN,
            };
            match self.switch.customer_first(dial).await {
                Ok(call) => {
                    let mut placed = self.placed.lock().unwrap_or_else(|e| e.into_inner());
                    placed.entry(tenant.id).or_default().insert(call.call_id.clone());
                    run.in_flight.push(InFlight { number, call, cancelled: false });
                    dialed += 1;
                }
                Err(e) => {
                    tracing::warn!(task = task.id, error = %e, "could not place a call");
                    self.services
                        .record_attempt(tenant.id, task.id, number.id, AttemptOutcome::Failed, "", now)
                        .await?;
                }
            }
        }
        // The decision as carried out: the numbers it dialed (do-not-call, resting and limited
        // numbers are not), with the figures that asked for them.
        let mut reason = decision.reason;
        reason.dial = dialed;
        if dialed > 0 || reason.dropped > 0 {
            self.log_decision(tenant.id, task.id, now, &reason).await?;
        }
        run.last = Some(reason);
        Ok(())
    }

    /// Keeps a decision that dialed or hung up, with its figures, in the task's event stream.
    async fn log_decision(&self, tenant: TenantId, task: i64, now: i64, reason: &Explanation) -> Result<(), CcError> {
        if let Ok(data) = serde_json::to_string(reason) {
            self.services.events.append((tenant, format!("task/{task}"), "pacing", now, data)).await?;
        }
        Ok(())
    }
}
