//! What the engine asks of the contact center while a call runs — log this, play that, who is
//! free — and where phones and numbers are: an extension's registration, a staff member's mobile
//! through the trunk, a customer's number through the trunk.

use super::{DialError, LiveCall, Progress, Reach, Switch};
use crate::{CcError, Tenant, TenantId};
use std::net::SocketAddr;
use std::sync::Arc;
use yunhu_core::call::CallEventKind;
use yunhu_engine::driver::{BoxFuture, CallHooks};
use yunhu_engine::machine::{Call, Note, Target};
use yunhu_store::Row;
use yunhu_store::calls::TRUNKS;

/// The tenant's way out to the public network.
pub(super) struct Trunk {
    pub name: String,
    pub addr: SocketAddr,
    pub tcp: bool,
    /// The number shown to the called party.
    pub caller_id: String,
}

/// Agents a waiting customer-first call may be offered, in order.
pub(super) struct AgentPool {
    pub agents: Vec<String>,
}

/// One call's link to the contact center.
pub(super) struct Hooks {
    pub switch: Switch,
    pub tenant: Tenant,
    pub call_id: String,
    /// Feature-code calls leave no events and no record.
    pub logging: bool,
    /// The other party, as a staff member's phone state names it.
    pub peer: String,
    /// Where a customer-first call stands, for the dialer.
    pub progress: Option<tokio::sync::watch::Sender<(Progress, tokio::time::Instant)>>,
    /// Agents to offer, for customer-first calls.
    pub pool: Option<AgentPool>,
    /// When the caller last entered a queue, as logged (ms): the ACD times the wait from it.
    pub queue_entered_at: std::sync::atomic::AtomicI64,
}

impl CallHooks for Hooks {
    fn log(&self, kind: CallEventKind) {
        if self.logging {
            let svc = &self.switch.inner.services;
            let at = svc.now_ms();
            if matches!(kind, CallEventKind::QueueEntered { .. }) {
                self.queue_entered_at.store(at, std::sync::atomic::Ordering::Relaxed);
            }
            svc.log_call_event_at_or_warn(self.tenant.id, &self.call_id, kind, at);
        }
    }

    fn prompt(&self, name: &str) -> Arc<[i16]> {
        let prompts = &self.switch.inner.prompts;
        if name == "music_on_hold" {
            return prompts.music_on_hold(&self.tenant.corp_id);
        }
        let names: Vec<String> = name.split(',').map(str::to_string).collect();
        prompts.sequence(&self.tenant.corp_id, &names)
    }

    fn note(&self, note: &Note, call: &Call) {
        self.switch.sync_live(self.tenant.id, &self.call_id, call, &self.peer);
        match note {
            Note::Bridged => self.queue_note(call),
            Note::Asked(what) => {
                let entered_at = self.queue_entered_at.load(std::sync::atomic::Ordering::Relaxed);
                self.switch.inbound_asked(&self.tenant, &self.call_id, &self.peer, what, entered_at)
            }
            _ => {}
        }
        if let Some(progress) = &self.progress {
            let now = tokio::time::Instant::now();
            let next = match note {
                Note::Answered(yunhu_engine::flows::FIRST) if !call.is_bridged() => Some(Progress::Waiting),
                Note::Bridged => Some(Progress::Talking),
                // The connect limit passed without an agent: abandoned.
                Note::Timer(_) if !call.is_bridged() => Some(Progress::Ended),
                _ => None,
            };
            if let Some(p) = next {
                let _ = progress.send((p, now));
            }
        }
    }

    fn offer_agent(&self) -> BoxFuture<'_, Option<Target>> {
        Box::pin(async move {
            let pool = self.pool.as_ref()?;
            self.switch.reserve_agent(&self.tenant, &pool.agents, &self.call_id, &self.peer).await
        })
    }

    fn resolve(&self, number: String) -> BoxFuture<'_, Option<Target>> {
        Box::pin(async move { self.switch.target_for(&self.tenant, &number, &self.peer).await.ok() })
    }
}

/// Refuses what is not a number yunhu can dial: digits and `+`, at most 24.
pub(super) fn dialable(number: &str) -> Result<(), DialError> {
    if number.is_empty() || number.len() > 24 || !number.chars().all(|c| c.is_ascii_digit() || c == '+') {
        return Err(DialError::BadNumber(number.into()));
    }
    Ok(())
}

impl Switch {
    /// Brings the staff part of the live map in line with the call: who is on it, ringing or
    /// talking; staff who left it are free again. A staff member keeps the peer they were given
    /// when the call reached them.
    pub(super) fn sync_live(&self, tenant: TenantId, call_id: &str, call: &Call, peer: &str) {
        let staff = call.staff_legs();
        let talking = call.is_bridged();
        let now = self.inner.services.now_ms();
        let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        self.release(&mut live, |(t, code), c| {
            !(*t == tenant && c.call_id == call_id && !staff.iter().any(|(s, _)| s == code))
        });
        let svc = &self.inner.services;
        for (code, up) in staff {
            let key = (tenant, code);
            let entry = live.entry(key.clone()).or_insert_with(|| {
                svc.agent_call_started(tenant, &key.1, call_id, peer);
                LiveCall {
                    call_id: call_id.to_string(),
                    peer: peer.to_string(),
                    talking: false,
                    reach: Reach::Called,
                    since_ms: now,
                }
            });
            let now_talking = up && talking;
            if entry.call_id == call_id && entry.talking != now_talking {
                entry.talking = now_talking;
                entry.since_ms = now;
                if now_talking {
                    svc.agent_call_connected(tenant, &key.1, call_id, peer);
                }
            }
        }
    }

    /// Drops the live entries `keep` refuses, noting when each of those staff became free.
    fn release(
        &self,
        live: &mut std::collections::HashMap<(TenantId, String), LiveCall>,
        keep: impl Fn(&(TenantId, String), &LiveCall) -> bool,
    ) {
        let now = self.inner.services.now_ms();
        let mut idle = self.inner.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|key, c| {
            let kept = keep(key, c);
            if !kept {
                idle.insert(key.clone(), now);
                self.inner.services.agent_call_ended(key.0, &key.1, &c.call_id);
            }
            kept
        });
    }

    /// Frees everyone and everything of a finished call.
    pub(super) fn forget_call(&self, tenant: TenantId, call_id: &str) {
        self.inner.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(&(tenant, call_id.to_string()));
        let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        self.release(&mut live, |(t, _), c| !(*t == tenant && c.call_id == call_id));
        drop(live);
        self.queue_call_ended(call_id, None);
    }

    /// Marks a staff member ringing for a call with `peer` that reaches them as `reach`; `false`
    /// if they are on another call already.
    pub(super) fn claim(&self, tenant: TenantId, code: &str, call_id: &str, peer: &str, reach: Reach) -> bool {
        let now = self.inner.services.now_ms();
        let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant, code.to_string());
        if live.contains_key(&key) {
            return false;
        }
        let call =
            LiveCall { call_id: call_id.to_string(), peer: peer.to_string(), talking: false, reach, since_ms: now };
        live.insert(key, call);
        self.inner.services.agent_call_started(tenant, code, call_id, peer);
        true
    }

    /// Whether a staff member is on a call.
    pub(super) fn on_call(&self, tenant: TenantId, code: &str) -> bool {
        self.inner.live.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&(tenant, code.to_string()))
    }

    /// Reserves the first free agent of `agents` for `call_id` and logs the assignment; their
    /// phone as a target.
    pub(super) async fn reserve_agent(
        &self,
        tenant: &Tenant,
        agents: &[String],
        call_id: &str,
        customer: &str,
    ) -> Option<Target> {
        for (code, ext, binding) in self.idle_members(tenant, agents).await {
            if !self.claim(tenant.id, &code, call_id, customer, Reach::ToCustomer) {
                continue;
            }
            let svc = &self.inner.services;
            svc.log_call_event_or_warn(
                tenant.id,
                call_id,
                CallEventKind::Assigned { staff: code.clone(), extension: ext.clone() },
            );
            return Some(Target {
                request_uri: binding.contact.clone(),
                destination: binding.target(),
                tcp: binding.tcp,
                from_user: customer.to_string(),
                from_domain: tenant.sip_domain.clone(),
                number: ext,
                staff: code,
            });
        }
        None
    }

    /// Accounts among `agents` that could take a call now, with their extension and where their
    /// phone is registered: logged in and ready, registered, not in a call, and not wanted by an
    /// inbound caller waiting in one of their queues (inbound comes first for blended agents). The dialer asks twice
    /// a second, so extensions come from the cached staff roster.
    pub(super) async fn idle_members(
        &self,
        tenant: &Tenant,
        agents: &[String],
    ) -> Vec<(String, String, yunhu_sip::registrar::Binding)> {
        let Ok(roster) = self.inner.services.roster(tenant.id, false).await else { return Vec::new() };
        let mut out = Vec::new();
        for code in agents {
            if !self.inner.services.agent_state(tenant.id, code).routable()
                || self.on_call(tenant.id, code)
                || self.wanted_inbound(tenant.id, code)
            {
                continue;
            }
            let Some(member) = roster.iter().find(|m| m.user_code == *code && !m.agent_id.is_empty()) else { continue };
            if let Some(binding) = self.inner.sip.bindings(&tenant.sip_domain, &member.agent_id).pop() {
                out.push((code.clone(), member.agent_id.clone(), binding));
            }
        }
        out
    }

    /// The tenant's trunk.
    pub(super) async fn trunk(&self, tenant: &Tenant) -> Result<Trunk, DialError> {
        let svc = &self.inner.services;
        let row = svc.db.list_rows(tenant.id, &TRUNKS).await.map_err(CcError::from)?.into_iter().next();
        let row = row.ok_or(DialError::NoTrunk)?;
        let addr: SocketAddr = row["address"].text().parse().map_err(|_| DialError::NoTrunk)?;
        let caller_id = svc.trunk_caller_id(tenant.id, &row).await?;
        Ok(Trunk { name: row["name"].text().into(), addr, tcp: row["transport"].text() == "tcp", caller_id })
    }

    /// A number through the trunk, showing the trunk's caller ID.
    pub(super) fn trunk_target(trunk: &Trunk, number: &str) -> Target {
        Target {
            request_uri: format!("sip:{number}@{}", trunk.addr),
            destination: trunk.addr,
            tcp: trunk.tcp,
            from_user: trunk.caller_id.clone(),
            from_domain: trunk.addr.ip().to_string(),
            number: number.to_string(),
            staff: String::new(),
        }
    }

    /// A staff member's phone: their registered extension, or their mobile through the trunk
    /// when they take their phone along (手机随行). `from_user` is the number shown to them.
    pub(super) async fn staff_target(&self, tenant: &Tenant, row: &Row, from_user: &str) -> Result<Target, DialError> {
        let ext = row["agent_id"].text().to_string();
        let code = row["user_code"].text().to_string();
        let mobile = row["work_phone"].text();
        if row["phone_take_along"].int() != 0 && !mobile.is_empty() {
            let trunk = self.trunk(tenant).await?;
            let mut t = Switch::trunk_target(&trunk, mobile);
            t.from_user = from_user.to_string();
            t.staff = code;
            return Ok(t);
        }
        let binding = self
            .inner
            .sip
            .bindings(&tenant.sip_domain, &ext)
            .pop()
            .ok_or_else(|| DialError::NotRegistered(ext.clone()))?;
        Ok(Target {
            request_uri: binding.contact.clone(),
            destination: binding.target(),
            tcp: binding.tcp,
            from_user: from_user.to_string(),
            from_domain: tenant.sip_domain.clone(),
            number: ext,
            staff: code,
        })
    }

    /// Where a transfer or meeting reaches `number`: the staff member with that extension (or
    /// account), else the number through the trunk.
    pub(super) async fn target_for(&self, tenant: &Tenant, number: &str, from_user: &str) -> Result<Target, DialError> {
        dialable(number)?;
        if let Ok(row) = self.inner.services.staff_by_code_or_extension(tenant.id, number).await
            && !row["agent_id"].text().is_empty()
        {
            if row["enabled"].int() == 0 {
                return Err(DialError::NoStaff(number.into()));
            }
            return self.staff_target(tenant, &row, from_user).await;
        }
        let trunk = self.trunk(tenant).await?;
        Ok(Switch::trunk_target(&trunk, number))
    }
}
