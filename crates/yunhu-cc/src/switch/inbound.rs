//! Calls that reach yunhu: a carrier's call to an extension, an extension calling another, and
//! the feature codes a phone dials (login, logout, predictive work, its own number, spying).

use super::hooks::Hooks;
use super::{Reach, Switch};
use crate::secrets::new_stream_id;
use crate::{CcError, Tenant, TenantId};
use yunhu_core::agent::AgentEventKind;
use yunhu_core::call::CallEventKind;
use yunhu_core::mask_phone;
use yunhu_engine::flows::{Bridge, PlayPrompt};
use yunhu_engine::machine::{Command, Role, SpyMode};
use yunhu_sip::{IncomingCall, IncomingLeg};

/// The feature code a supervisor dials, followed by the agent's extension, to listen in.
pub const SPY_CODE: &str = "*2";

/// Who is who on a bridged incoming call.
struct Caller {
    direction: &'static str,
    role: Role,
    staff: String,
    extension: String,
    number: String,
    trunk: String,
}

impl Switch {
    /// A call placed by a registered extension or a trunk.
    pub(super) async fn incoming(&self, call: IncomingCall) {
        let IncomingCall { tenant, caller, dialed, sdp: offer, leg, trunk, .. } = call;
        let svc = self.inner.services.clone();
        let Ok(tenant) = svc.tenant_by_id(TenantId(tenant)).await else { return leg.reject(480) };
        if let Some(trunk) = trunk {
            // A carrier's call: the dialled number is an inbound queue's, or an extension.
            tracing::info!(trunk, caller = %mask_phone(&caller), dialed = %dialed, "inbound call");
            let route = self.inbound_route(&tenant, &dialed).await;
            let dialed = match route {
                // An extension's route rings it as a direct call would.
                Some(yunhu_engine::ivr::Action::Extension(ext)) => ext,
                Some(start) => {
                    if let Err(e) = self.start_inbound(&tenant, start, &caller, &trunk, offer, leg).await {
                        tracing::error!(error = %e, "inbound call could not be taken");
                    }
                    return;
                }
                None => dialed,
            };
            let from = Caller {
                direction: "inbound",
                role: Role::Customer,
                staff: String::new(),
                extension: dialed.clone(),
                number: caller,
                trunk,
            };
            if let Err(e) = self.bridge_to_extension(&tenant, from, &dialed, offer, leg).await {
                tracing::error!(error = %e, "inbound call failed");
            }
            return;
        }
        let Ok(row) = svc.staff_by_extension(tenant.id, &caller).await else { return leg.reject(403) };
        let user_code = row["user_code"].text().to_string();
        let feature = |event: AgentEventKind, prompt: &str| (Some(event), vec![prompt.to_string()]);
        let (event, prompt) = match dialed.as_str() {
            "000" => feature(AgentEventKind::AgentLogin { via: "feature_code".into() }, "login_ok"),
            "001" => feature(AgentEventKind::AgentLogout { via: "feature_code".into() }, "logout_ok"),
            "010" | "011" => {
                let joined = dialed == "010";
                if let Err(e) = self.set_predictive_work(tenant.id, &user_code, joined).await {
                    tracing::error!(error = %e, "predictive work");
                    return leg.reject(500);
                }
                (None, vec![if joined { "predictive_on" } else { "predictive_off" }.to_string()])
            }
            "002" => {
                // The number customers dialled by a predictive task call back on: the caller ID
                // of the agent's skill groups (their default group first), which routes there.
                let number = self.callback_number(&tenant, &row).await;
                match number {
                    Some(n) => {
                        let mut names = vec!["predictive_number".to_string()];
                        names.extend(n.chars().filter(char::is_ascii_digit).map(|d| format!("digit_{d}")));
                        (None, names)
                    }
                    None => (None, vec!["not_found".to_string()]),
                }
            }
            "004" => {
                let mut names = vec!["your_extension".to_string()];
                names.extend(caller.chars().filter(char::is_ascii_digit).map(|d| format!("digit_{d}")));
                (None, names)
            }
            spy if spy.starts_with(SPY_CODE) => {
                let role = yunhu_core::role::Role::parse(row["role"].text()).unwrap_or(yunhu_core::role::Role::Agent);
                self.spy_from_phone(&tenant, &user_code, role, &spy[SPY_CODE.len()..], offer, leg).await;
                return;
            }
            _ => {
                let ext = row["agent_id"].text().to_string();
                let from = Caller {
                    direction: "internal",
                    role: Role::Agent,
                    staff: user_code,
                    extension: ext.clone(),
                    number: ext,
                    trunk: String::new(),
                };
                if let Err(e) = self.bridge_to_extension(&tenant, from, &dialed, offer, leg).await {
                    tracing::error!(error = %e, "internal call failed");
                }
                return;
            }
        };
        if let Some(event) = event
            && let Err(e) = self.set_presence(tenant.id, &user_code, event).await
        {
            tracing::error!(error = %e, "presence");
            return leg.reject(500);
        }
        let samples = self.inner.prompts.sequence(&tenant.corp_id, &prompt);
        let flow = PlayPrompt { prompt: prompt.join(","), prompt_ms: samples.len() as i64 / 8, caller };
        let mut hooks = self.hooks(&tenant, &new_stream_id(), "");
        hooks.logging = false;
        self.launch(hooks, Box::new(flow), Some((leg, offer)), None);
    }

    /// The caller ID of a staff member's skill groups (default group first): the number their
    /// predictive calls show and customers call back on.
    async fn callback_number(&self, tenant: &Tenant, staff: &yunhu_store::Row) -> Option<String> {
        let svc = &self.inner.services;
        let mut codes = svc.db.staff_queue_codes(tenant.id, staff["user_code"].text()).await.ok()?;
        let default = staff["default_queue"].text();
        codes.sort_by_key(|c| c != default);
        let rows = svc.db.list_rows(tenant.id, &yunhu_store::directory::QUEUES).await.ok()?;
        codes.iter().find_map(|c| {
            rows.iter()
                .find(|q| q["code"].text() == c && !q["caller_id"].text().is_empty())
                .map(|q| q["caller_id"].text().to_string())
        })
    }

    /// A supervisor's phone dialled `*2<extension>`: it joins that agent's call listening; keys
    /// 4, 5 and 6 switch to listen, whisper and barge (as Asterisk's ChanSpy `d` option does).
    async fn spy_from_phone(
        &self,
        tenant: &Tenant,
        supervisor: &str,
        role: yunhu_core::role::Role,
        extension: &str,
        offer: String,
        leg: IncomingLeg,
    ) {
        if role == yunhu_core::role::Role::Agent {
            return leg.reject(403);
        }
        let Ok(agent) = self.inner.services.staff_by_extension(tenant.id, extension).await else {
            return leg.reject(404);
        };
        let agent_code = agent["user_code"].text().to_string();
        let handle = {
            let live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
            live.get(&(tenant.id, agent_code)).map(|c| c.call_id.clone())
        }
        .and_then(|id| self.call_handle(tenant.id, &id));
        let Some(handle) = handle else { return leg.reject(480) };
        let spy =
            Command::Spy { mode: SpyMode::Listen, target: None, staff: supervisor.to_string(), ring_timeout_ms: 0 };
        if let Err(e) = handle.attach(spy, leg, offer).await {
            tracing::info!(supervisor, extension, error = %e, "spy refused");
        }
    }

    /// Rings extension `dialed` for an incoming leg and connects them, media anchored and
    /// recorded like any call: extension to extension, or a carrier's call to an extension.
    async fn bridge_to_extension(
        &self,
        tenant: &Tenant,
        from: Caller,
        dialed: &str,
        offer: String,
        leg: IncomingLeg,
    ) -> Result<(), CcError> {
        let svc = &self.inner.services;
        let Ok(callee) = svc.staff_by_extension(tenant.id, dialed).await else {
            leg.reject(404);
            return Ok(());
        };
        let Some(binding) = self.inner.sip.bindings(&tenant.sip_domain, dialed).pop() else {
            leg.reject(480);
            return Ok(());
        };
        let call_id = new_stream_id();
        let callee_code = callee["user_code"].text().to_string();
        let staff = if from.direction == "inbound" { callee_code.clone() } else { from.staff.clone() };
        svc.log_call_event_or_warn(
            tenant.id,
            &call_id,
            CallEventKind::Created {
                direction: from.direction.into(),
                staff: staff.clone(),
                extension: from.extension.clone(),
                customer: if from.direction == "inbound" { from.number.clone() } else { dialed.to_string() },
                caller_id: from.number.clone(),
                trunk: from.trunk.clone(),
                codeid_1: String::new(),
                codeid_2: String::new(),
                method: None,
                task_id: String::new(),
                call_data: Default::default(),
            },
        );
        // The staff on the call are busy to ExtenStatus, to click-to-call, and can be hung up.
        let reach = if from.direction == "inbound" { Reach::FromCustomer } else { Reach::Called };
        self.claim(tenant.id, &callee_code, &call_id, &from.number, reach);
        if from.direction == "internal" {
            // The caller's phone shows whom they dialled.
            self.claim(tenant.id, &from.staff, &call_id, dialed, Reach::ToExtension);
        }
        let callee_target = yunhu_engine::machine::Target {
            request_uri: binding.contact.clone(),
            destination: binding.target(),
            tcp: binding.tcp,
            from_user: from.number.clone(),
            from_domain: tenant.sip_domain.clone(),
            number: dialed.to_string(),
            staff: callee_code,
        };
        let flow = Bridge {
            caller_role: from.role,
            caller_staff: from.staff.clone(),
            caller_number: from.number.clone(),
            callee: callee_target,
            ring_timeout_ms: self.inner.config.ring_timeout.as_millis() as i64,
        };
        let customer = if from.direction == "inbound" { from.number.clone() } else { dialed.to_string() };
        let hooks: Hooks = self.hooks(tenant, &call_id, &from.number);
        self.launch(hooks, Box::new(flow), Some((leg, offer)), Some((&staff, &customer)));
        Ok(())
    }
}
