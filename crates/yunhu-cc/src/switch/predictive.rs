//! Customer-first calls for outbound dialing: the customer is dialed through the trunk; when a
//! live person answers, the first free agent of the task is rung and bridged; if no agent takes
//! the call within the connect limit, the customer hears the identification prompt and the call
//! ends as abandoned.

use super::{LiveCall, LiveGuard, PhoneState, Switch, leg_media, media_event, media_stats, offer_sdp, recording_name};
use crate::secrets::new_stream_id;
use crate::{CcError, Tenant};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use yunhu_core::agent::Presence;
use yunhu_core::call::{CallEventKind, CallMethod, Cause, HangupSide, Side};
use yunhu_core::mask_phone;
use yunhu_media::relay::{LegId, MediaEvent, MediaSession};
use yunhu_sip::{Dial, EndedBy, LegEvent};
use yunhu_store::calls::TRUNKS;

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
    hang_up_unanswered: mpsc::UnboundedSender<()>,
}

impl CustomerFirstCall {
    /// Hangs up the call if the customer has not answered yet; an answered call goes on. The call
    /// then ends as [`CustomerFirstOutcome::Dropped`], with cause ORIGINATOR_CANCEL.
    pub fn hang_up_if_ringing(&self) {
        let _ = self.hang_up_unanswered.send(());
    }
}

/// Where the customer-first call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ringing,
    /// Answered, looking for an agent until the deadline.
    Connecting,
    Talking,
    /// Playing the identification prompt before hanging up.
    Abandoning,
    Ending,
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

    /// [`Switch::idle_agents`] with each one's extension and where its phone is registered. The
    /// dialer asks twice a second, so extensions come from the cached staff roster.
    async fn idle_members(
        &self,
        tenant: &Tenant,
        agents: &[String],
    ) -> Vec<(String, String, yunhu_sip::registrar::Binding)> {
        let Ok(roster) = self.inner.services.roster(tenant.id, false).await else { return Vec::new() };
        let mut out = Vec::new();
        for code in agents {
            if self.presence(tenant.id, code) != Presence::Ready {
                continue;
            }
            if self.inner.live.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&(tenant.id, code.clone())) {
                continue;
            }
            let Some(member) = roster.iter().find(|m| m.user_code == *code && !m.agent_id.is_empty()) else { continue };
            if let Some(binding) = self.inner.sip.bindings(&tenant.sip_domain, &member.agent_id).pop() {
                out.push((code.clone(), member.agent_id.clone(), binding));
            }
        }
        out
    }

    /// Starts a customer-first call.
    pub async fn customer_first(&self, dial: CustomerFirst) -> Result<CustomerFirstCall, CcError> {
        let svc = &self.inner.services;
        let trunk = svc.db.list_rows(dial.tenant.id, &TRUNKS).await?.into_iter().next();
        let trunk = trunk.ok_or_else(|| CcError::Invalid("no trunk is configured".into()))?;
        let trunk_addr: SocketAddr =
            trunk["address"].text().parse().map_err(|_| CcError::Invalid("the trunk's address is not valid".into()))?;
        let caller_id = match trunk["caller_id"].text() {
            "" => svc.caller_id_choices(dial.tenant.id).await?.first().map(|c| c.label.clone()).unwrap_or_default(),
            c => c.to_string(),
        };
        let call_id = new_stream_id();
        svc.log_call_event(
            dial.tenant.id,
            &call_id,
            CallEventKind::Created {
                direction: "outbound".into(),
                staff: String::new(),
                extension: String::new(),
                customer: dial.number.clone(),
                caller_id: caller_id.clone(),
                trunk: trunk["name"].text().into(),
                codeid_1: String::new(),
                codeid_2: String::new(),
                method: Some(dial.method),
                task_id: dial.task_id.clone(),
                call_data: Default::default(),
            },
        )
        .await?;
        tracing::info!(call_id, task = %dial.task_id, customer = %mask_phone(&dial.number), "customer-first call");
        let switch = self.clone();
        let id = call_id.clone();
        let trunk_tcp = trunk["transport"].text() == "tcp";
        let (progress_tx, progress) = tokio::sync::watch::channel((Progress::Ringing, tokio::time::Instant::now()));
        let (hang_up_unanswered, drops) = mpsc::unbounded_channel();
        let handle = tokio::spawn(async move {
            let trunk = (trunk_addr, trunk_tcp);
            let outcome = switch.run_customer_first(&dial, &id, trunk, &caller_id, &progress_tx, drops).await;
            let _ = progress_tx.send((Progress::Ended, tokio::time::Instant::now()));
            match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!(call_id = %id, error = %e, "customer-first call failed");
                    CustomerFirstOutcome::NotAnswered { cause: Cause::NormalTemporaryFailure, ring_ms: 0 }
                }
            }
        });
        Ok(CustomerFirstCall { call_id, progress, done: handle, hang_up_unanswered })
    }

    /// Reserves the first idle agent of `agents` for `call_id`: marks them ringing.
    async fn reserve_agent(
        &self,
        dial: &CustomerFirst,
        call_id: &str,
        commands: &mpsc::UnboundedSender<super::CallCommand>,
    ) -> Option<(String, yunhu_sip::registrar::Binding, String, LiveGuard)> {
        for (code, ext, binding) in self.idle_members(&dial.tenant, &dial.agents).await {
            let key = (dial.tenant.id, code.clone());
            let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
            if live.contains_key(&key) {
                continue;
            }
            let state = PhoneState::Ringing { peer: dial.number.clone() };
            live.insert(key.clone(), LiveCall { call_id: call_id.into(), commands: commands.clone(), state });
            drop(live);
            return Some((code, binding, ext, LiveGuard { switch: self.clone(), keys: vec![key] }));
        }
        None
    }

    async fn run_customer_first(
        &self,
        dial: &CustomerFirst,
        call_id: &str,
        (trunk_addr, trunk_tcp): (SocketAddr, bool),
        caller_id: &str,
        progress: &tokio::sync::watch::Sender<(Progress, tokio::time::Instant)>,
        mut drops: mpsc::UnboundedReceiver<()>,
    ) -> Result<CustomerFirstOutcome, CcError> {
        let report = |p: Progress| {
            let _ = progress.send((p, tokio::time::Instant::now()));
        };
        let svc = &self.inner.services;
        let cfg = &self.inner.config;
        let tenant = dial.tenant.id;
        let log = |kind: CallEventKind| svc.log_call_event_or_warn(tenant, call_id, kind);
        let started = tokio::time::Instant::now();
        let ms_since = |t: tokio::time::Instant| t.duration_since(started).as_millis() as i64;
        let (media_tx, mut media_events) = mpsc::unbounded_channel();
        let Ok(session) = MediaSession::open(&self.inner.ports, cfg.media_ip, media_tx) else {
            log(CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System });
            svc.project_call(tenant, call_id).await?;
            return Ok(CustomerFirstOutcome::NotAnswered { cause: Cause::NormalTemporaryFailure, ring_ms: 0 });
        };
        log(CallEventKind::LegCreated { side: Side::Customer });
        let customer_dial = Dial {
            request_uri: format!("sip:{}@{}", dial.number, trunk_addr),
            destination: trunk_addr,
            tcp: trunk_tcp,
            from_user: caller_id.to_string(),
            from_domain: trunk_addr.ip().to_string(),
            display_name: None,
            sdp: offer_sdp(cfg.media_ip, session.local_addr(LegId::B).port(), None),
            headers: vec![("X-Yunhu-Call".into(), call_id.to_string())],
        };
        let mut customer = match self.inner.sip.dial(customer_dial) {
            Ok(leg) => leg,
            Err(e) => {
                tracing::warn!(error = %e, "trunk dial failed");
                session.stop().await;
                log(CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System });
                svc.project_call(tenant, call_id).await?;
                return Ok(CustomerFirstOutcome::NotAnswered { cause: Cause::NormalTemporaryFailure, ring_ms: 0 });
            }
        };
        let customer_hangup = customer.hangup_handle();
        let (commands_tx, mut commands) = mpsc::unbounded_channel();
        let mut stage = Stage::Ringing;
        let mut deadline = started + cfg.ring_timeout;
        let mut agent: Option<(String, yunhu_sip::OutgoingLeg, LiveGuard)> = None;
        let mut agent_hangup: Option<yunhu_sip::LegHangup> = None;
        let mut agent_ended = true;
        let mut customer_ended = false;
        let mut answered_at: Option<tokio::time::Instant> = None;
        let mut bridged_at: Option<tokio::time::Instant> = None;
        let mut customer_media = None;
        let mut outcome: Option<(Cause, HangupSide)> = None;
        let mut recording_rel = String::new();
        let mut dropped = false;
        let poll = Duration::from_millis(100);
        loop {
            if customer_ended && agent_ended {
                break;
            }
            tokio::select! {
                ev = customer.next(), if !customer_ended => match ev {
                    Some(LegEvent::Ringing) => log(CallEventKind::Ringing { side: Side::Customer }),
                    Some(LegEvent::Answered { sdp }) => {
                        log(CallEventKind::Answered { side: Side::Customer });
                        answered_at = Some(tokio::time::Instant::now());
                        match leg_media(&sdp) {
                            Some(media) => {
                                session.set_remote(LegId::B, media).await;
                                customer_media = Some(media);
                                stage = Stage::Connecting;
                                report(Progress::Waiting);
                                deadline = tokio::time::Instant::now() + dial.connect_within;
                            }
                            None => {
                                outcome.get_or_insert((Cause::NormalTemporaryFailure, HangupSide::System));
                                stage = Stage::Ending;
                                customer_hangup.hangup().await;
                            }
                        }
                    }
                    Some(LegEvent::Ended { status, by }) => {
                        customer_ended = true;
                        log(CallEventKind::LegEnded { side: Side::Customer, status });
                        let cause = if bridged_at.is_some() || answered_at.is_some() {
                            Cause::NormalClearing
                        } else if stage == Stage::Ending {
                            Cause::NoAnswer
                        } else {
                            Cause::from_sip_status(status)
                        };
                        let side = if by == EndedBy::Remote { HangupSide::Customer } else { HangupSide::System };
                        outcome.get_or_insert((cause, side));
                        if let Some(h) = &agent_hangup && !agent_ended {
                            h.hangup().await;
                        }
                        stage = Stage::Ending;
                    }
                    None => customer_ended = true,
                },
                ev = async { agent.as_mut().expect("guarded").1.next().await }, if agent.is_some() && !agent_ended => match ev {
                    Some(LegEvent::Ringing) => log(CallEventKind::Ringing { side: Side::Agent }),
                    Some(LegEvent::Answered { sdp }) => {
                        log(CallEventKind::Answered { side: Side::Agent });
                        match (stage, leg_media(&sdp)) {
                            (Stage::Connecting, Some(media)) => {
                                session.set_remote(LegId::A, media).await;
                                let (code, _, _) = agent.as_ref().expect("guarded");
                                recording_rel = recording_name(&dial.tenant, code, &dial.number, call_id);
                                // Customer on the left channel, agent on the right.
                                session.record(cfg.recordings_dir.join(&recording_rel), LegId::B).await;
                                log(CallEventKind::Bridged);
                                bridged_at = Some(tokio::time::Instant::now());
                                stage = Stage::Talking;
                                report(Progress::Talking);
                                if let Some((code, _, _)) = &agent {
                                    let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
                                    if let Some(c) = live.get_mut(&(tenant, code.clone())) {
                                        c.state = PhoneState::InCall { peer: dial.number.clone() };
                                    }
                                }
                            }
                            _ => {
                                if let Some(h) = &agent_hangup { h.hangup().await; }
                            }
                        }
                    }
                    Some(LegEvent::Ended { status, by }) => {
                        agent_ended = true;
                        log(CallEventKind::LegEnded { side: Side::Agent, status });
                        if stage == Stage::Talking {
                            let side = if by == EndedBy::Remote { HangupSide::Agent } else { HangupSide::System };
                            outcome.get_or_insert((Cause::NormalClearing, side));
                            stage = Stage::Ending;
                            if !customer_ended { customer_hangup.hangup().await; }
                        } else if stage == Stage::Connecting {
                            // That agent did not take it: free them and look for another until the deadline.
                            agent = None;
                            agent_hangup = None;
                        }
                    }
                    None => agent_ended = true,
                },
                Some(ev) = media_events.recv() => {
                    if let MediaEvent::PlayDone { .. } = ev {
                        if stage == Stage::Abandoning && !customer_ended {
                            stage = Stage::Ending;
                            customer_hangup.hangup().await;
                        }
                    } else if let Some(kind) = media_event(ev, [Side::Agent, Side::Customer], &recording_rel) {
                        log(kind);
                    }
                }
                // Only while ringing: an answer that came first wins, and the request is moot.
                Some(()) = drops.recv(), if stage == Stage::Ringing => {
                    outcome.get_or_insert((Cause::OriginatorCancel, HangupSide::System));
                    dropped = true;
                    stage = Stage::Ending;
                    customer_hangup.hangup().await;
                }
                Some(super::CallCommand::Hangup) = commands.recv() => {
                    outcome.get_or_insert((Cause::NormalClearing, HangupSide::System));
                    stage = Stage::Ending;
                    if !customer_ended { customer_hangup.hangup().await; }
                    if let Some(h) = &agent_hangup && !agent_ended { h.hangup().await; }
                }
                _ = tokio::time::sleep(poll), if stage == Stage::Connecting && agent.is_none() => {
                    if let Some((code, binding, ext, guard)) = self.reserve_agent(dial, call_id, &commands_tx).await {
                        log(CallEventKind::Assigned { staff: code.clone(), extension: ext });
                        log(CallEventKind::LegCreated { side: Side::Agent });
                        let codec = customer_media.map(|m: yunhu_media::relay::LegMedia| m.codec);
                        let agent_dial = Dial {
                            request_uri: binding.contact.clone(),
                            destination: binding.target(),
                            tcp: binding.tcp,
                            from_user: dial.number.clone(),
                            from_domain: dial.tenant.sip_domain.clone(),
                            display_name: None,
                            sdp: offer_sdp(cfg.media_ip, session.local_addr(LegId::A).port(), codec),
                            headers: vec![("X-Yunhu-Call".into(), call_id.to_string())],
                        };
                        match self.inner.sip.dial(agent_dial) {
                            Ok(leg) => {
                                agent_hangup = Some(leg.hangup_handle());
                                agent_ended = false;
                                agent = Some((code, leg, guard));
                            }
                            Err(e) => tracing::warn!(error = %e, "agent dial failed"),
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline), if matches!(stage, Stage::Ringing | Stage::Connecting) => {
                    if stage == Stage::Ringing {
                        outcome.get_or_insert((Cause::NoAnswer, HangupSide::Customer));
                        stage = Stage::Ending;
                        customer_hangup.hangup().await;
                    } else {
                        // No agent in time: identify ourselves to the customer, then end the call.
                        if let Some(h) = &agent_hangup && !agent_ended {
                            h.hangup().await;
                            log(CallEventKind::LegEnded { side: Side::Agent, status: 487 });
                        }
                        agent = None;
                        agent_ended = true;
                        outcome.get_or_insert((Cause::NormalClearing, HangupSide::System));
                        stage = Stage::Abandoning;
                        report(Progress::Ended);
                        let samples = self.inner.prompts.sequence(&dial.tenant.corp_id, &["abandoned".to_string()]);
                        deadline = tokio::time::Instant::now() + Duration::from_millis(samples.len() as u64 / 8 + 3000);
                        session.play(LegId::B, samples).await;
                    }
                }
                _ = tokio::time::sleep_until(deadline), if stage == Stage::Abandoning => {
                    stage = Stage::Ending;
                    if !customer_ended { customer_hangup.hangup().await; }
                }
                _ = tokio::time::sleep(Duration::from_secs(5)), if stage == Stage::Ending => {
                    tracing::warn!(call_id, "a leg did not confirm its end; letting it go");
                    break;
                }
            }
        }
        let end = session.stop().await;
        log(media_stats(&end.stats));
        if let Some(Ok(info)) = end.recording {
            let stopped = CallEventKind::RecordingStopped {
                path: recording_rel.clone(),
                duration_ms: info.duration_ms(),
                repaired: false,
            };
            log(stopped);
        }
        let (cause, side) = outcome.unwrap_or((Cause::NormalClearing, HangupSide::System));
        log(CallEventKind::HungUp { cause, side });
        svc.project_call(tenant, call_id).await?;
        let now = tokio::time::Instant::now();
        Ok(match (answered_at, bridged_at, agent) {
            (Some(a), Some(b), Some((code, _, _))) => CustomerFirstOutcome::Connected {
                agent: code,
                ring_ms: ms_since(a),
                talk_ms: now.duration_since(b).as_millis() as i64,
            },
            (Some(a), _, _) => CustomerFirstOutcome::Abandoned { ring_ms: ms_since(a) },
            (None, _, _) if dropped => CustomerFirstOutcome::Dropped { ring_ms: ms_since(now) },
            (None, _, _) => CustomerFirstOutcome::NotAnswered { cause, ring_ms: ms_since(now) },
        })
    }
}
