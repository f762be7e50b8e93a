//! Calls yunhu places: click-to-call (agent first), and the launch every flow goes through.

use super::hooks::Hooks;
use super::{CallContext, DialError, Switch, recording_name};
use crate::Tenant;
use crate::secrets::new_stream_id;
use yunhu_core::agent::Presence;
use yunhu_core::call::CallEventKind;
use yunhu_core::mask_phone;
use yunhu_engine::driver::{CallEnd, CallHandle, CallSpec};
use yunhu_engine::flows::{ClickToCall, Flow};
use yunhu_sip::IncomingLeg;

impl Switch {
    /// Starts `flow` on the engine as call `hooks.call_id`; when it ends its record is projected
    /// and its staff are free again. `recording` names the recording's staff and customer.
    pub(super) fn launch(
        &self,
        hooks: Hooks,
        flow: Box<dyn Flow>,
        incoming: Option<(IncomingLeg, String)>,
        recording: Option<(&str, &str)>,
    ) -> (CallHandle, tokio::task::JoinHandle<Option<CallEnd>>) {
        let tenant = hooks.tenant.clone();
        let call_id = hooks.call_id.clone();
        let logging = hooks.logging;
        let peer = hooks.peer.clone();
        let recording = recording.map(|(staff, customer)| {
            let rel = recording_name(&tenant, staff, customer, &call_id);
            (self.inner.config.recordings_dir.join(&rel), rel)
        });
        let spec = CallSpec { call_id: call_id.clone(), flow, incoming, recording, hooks: std::sync::Arc::new(hooks) };
        let (handle, join) = self.inner.engine.start(spec);
        self.inner
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((tenant.id, call_id.clone()), (handle.clone(), peer));
        let switch = self.clone();
        let ended = tokio::spawn(async move {
            let end = join.await.ok();
            if logging {
                match switch.inner.services.project_call(tenant.id, &call_id).await {
                    // A caller who left a queue by hanging up left it when the record says.
                    Ok(record) => switch.queue_call_ended(&call_id, record.queue_end),
                    Err(e) => tracing::error!(%call_id, error = %e, "call record could not be written"),
                }
            }
            switch.forget_call(tenant.id, &call_id);
            if let Some(end) = &end {
                tracing::info!(%call_id, cause = end.cause.name(), side = end.side.as_str(), "call ended");
            }
            end
        });
        (handle, ended)
    }

    /// Hooks for a call of `tenant` with `peer` as the other party.
    pub(super) fn hooks(&self, tenant: &Tenant, call_id: &str, peer: &str) -> Hooks {
        Hooks {
            switch: self.clone(),
            tenant: tenant.clone(),
            call_id: call_id.to_string(),
            logging: true,
            peer: peer.to_string(),
            progress: None,
            pool: None,
            queue_entered_at: Default::default(),
        }
    }

    /// Click-to-call, agent first: rings the staff member's phone; when answered, dials `number`
    /// through the tenant's trunk and connects them. Returns the call id at once.
    pub async fn click_to_call(
        &self,
        tenant: &Tenant,
        staff: &str,
        number: &str,
        context: CallContext,
    ) -> Result<String, DialError> {
        Ok(self.agent_first(tenant, staff, number, context, None).await?.0)
    }

    /// Click-to-call with the caller ID shown to the customer (`None`: the trunk's); the call
    /// id and the end of the call, for callers that wait for it (a queue's call back).
    pub(super) async fn agent_first(
        &self,
        tenant: &Tenant,
        staff: &str,
        number: &str,
        context: CallContext,
        caller_id: Option<String>,
    ) -> Result<(String, tokio::task::JoinHandle<Option<CallEnd>>), DialError> {
        if self.draining() {
            return Err(DialError::Draining);
        }
        super::hooks::dialable(number)?;
        let svc = &self.inner.services;
        let row =
            svc.staff_by_code_or_extension(tenant.id, staff).await.map_err(|_| DialError::NoStaff(staff.into()))?;
        let ext = row["agent_id"].text().to_string();
        let user_code = row["user_code"].text().to_string();
        if ext.is_empty() || row["enabled"].int() == 0 {
            return Err(DialError::NoStaff(staff.into()));
        }
        let mut trunk = self.trunk(tenant).await?;
        if let Some(shown) = caller_id.filter(|c| !c.is_empty()) {
            trunk.caller_id = shown;
        }
        let agent = self.staff_target(tenant, &row, number).await?;
        // 手机随行: a staff member whose calls ring their mobile needs no login on a desk phone.
        let take_along = row["phone_take_along"].int() != 0 && !row["work_phone"].text().is_empty();
        if !take_along && self.presence(tenant.id, &user_code) == Presence::LoggedOut {
            return Err(DialError::NotLoggedIn(user_code));
        }
        let call_id = new_stream_id();
        if !self.claim(tenant.id, &user_code, &call_id, number, super::Reach::ToCustomer) {
            return Err(DialError::Busy(user_code));
        }
        let created = svc
            .log_call_event(
                tenant.id,
                &call_id,
                CallEventKind::Created {
                    direction: "outbound".into(),
                    staff: user_code.clone(),
                    extension: ext.clone(),
                    customer: number.into(),
                    caller_id: trunk.caller_id.clone(),
                    trunk: trunk.name.clone(),
                    codeid_1: context.codeid_1,
                    codeid_2: context.codeid_2,
                    method: Some(context.method),
                    task_id: context.task_id,
                    call_data: context.call_data,
                },
            )
            .await;
        if let Err(e) = created {
            self.forget_call(tenant.id, &call_id);
            return Err(e.into());
        }
        tracing::info!(call_id, extension = %ext, customer = %mask_phone(number), "click-to-call");
        let flow = ClickToCall {
            agent,
            customer: Switch::trunk_target(&trunk, number),
            ring_timeout_ms: self.inner.config.ring_timeout.as_millis() as i64,
        };
        let (_, ended) =
            self.launch(self.hooks(tenant, &call_id, number), Box::new(flow), None, Some((&user_code, number)));
        Ok((call_id, ended))
    }
}
