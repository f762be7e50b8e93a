//! Call control on live calls, for the CTI API, the action dialect and the agent desk: hold,
//! transfer, meeting, spy and hang-up, by call id or by the agent on the call. Only the tenant's
//! own calls are found; a command that cannot apply changes nothing and says why.

use super::{DialError, Switch};
use crate::Tenant;
use yunhu_core::call::{Cause, HangupSide};
use yunhu_engine::driver::{CallHandle, CommandError};
use yunhu_engine::machine::{Command, Refusal, SpyMode};

/// Which call a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallRef {
    /// By its id.
    Call(String),
    /// The call a staff member (account or extension) is on.
    Staff(String),
}

/// What to do to a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Put the customer on hold (music on hold).
    Hold,
    /// Take the customer off hold.
    Unhold,
    /// Blind transfer to an extension, account or number.
    Transfer {
        /// Where to.
        to: String,
    },
    /// Attended transfer, first step: hold the customer and ring a colleague.
    Consult {
        /// Whom.
        to: String,
    },
    /// Attended transfer: the consulted party takes the call.
    CompleteTransfer,
    /// Attended transfer called off: back to the customer.
    CancelTransfer,
    /// Bring a third party into the call.
    Meeting {
        /// Whom: an extension, account or number.
        to: String,
    },
    /// A supervisor (account or extension) joins in a mode, rung on their phone.
    Spy {
        /// The supervisor.
        supervisor: String,
        /// How.
        mode: SpyMode,
    },
    /// Switch the spying supervisor's mode.
    SpyMode(SpyMode),
    /// End the call.
    Hangup,
    /// The agent ends the call from their desk: recorded as the agent's hang-up.
    AgentHangup,
}

/// Why a call-control request changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No live call of this tenant matches (unknown, over, another tenant's, or the staff
    /// member is on no call).
    #[error("no such live call")]
    NoCall,
    /// The call is in no state for it.
    #[error("{0}")]
    Refused(Refusal),
    /// The party to bring in cannot be reached.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The staff member may not spy: the role `monitor` or `admin` is needed.
    #[error("staff member {0} may not spy on calls (role monitor or admin needed)")]
    NotAllowed(String),
}

impl From<CommandError> for ControlError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Refused(r) => ControlError::Refused(r),
            CommandError::Gone => ControlError::NoCall,
        }
    }
}

impl Switch {
    /// The live call `r` names in `tenant`: its id, handle and the other party's number.
    pub fn find_call(&self, tenant: &Tenant, r: &CallRef) -> Option<(String, CallHandle, String)> {
        let call_id = match r {
            CallRef::Call(id) => id.clone(),
            CallRef::Staff(staff) => {
                let live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
                live.get(&(tenant.id, staff.clone())).map(|c| c.call_id.clone())?
            }
        };
        let calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        let (handle, peer) = calls.get(&(tenant.id, call_id.clone()))?;
        Some((call_id, handle.clone(), peer.clone()))
    }

    /// Applies `control` to the call `r` names; the call's id.
    pub async fn control(&self, tenant: &Tenant, r: &CallRef, control: Control) -> Result<String, ControlError> {
        let r = match r {
            // An extension names its staff member's account.
            CallRef::Staff(s) => CallRef::Staff(self.staff_code(tenant, s).await.ok_or(ControlError::NoCall)?),
            other => other.clone(),
        };
        let (call_id, handle, peer) = self.find_call(tenant, &r).ok_or(ControlError::NoCall)?;
        let ring_timeout_ms = self.inner.config.ring_timeout.as_millis() as i64;
        let command = match control {
            Control::Hold => Command::Hold,
            Control::Unhold => Command::Unhold,
            Control::Transfer { to } => {
                Command::BlindTransfer { target: self.target_for(tenant, &to, &peer).await?, ring_timeout_ms }
            }
            Control::Consult { to } => {
                Command::Consult { target: self.target_for(tenant, &to, &peer).await?, ring_timeout_ms }
            }
            Control::CompleteTransfer => Command::CompleteTransfer,
            Control::CancelTransfer => Command::CancelTransfer,
            Control::Meeting { to } => {
                Command::AddParty { target: self.target_for(tenant, &to, &peer).await?, ring_timeout_ms }
            }
            Control::Spy { supervisor, mode } => {
                let row = self
                    .inner
                    .services
                    .staff_by_code_or_extension(tenant.id, &supervisor)
                    .await
                    .map_err(|_| DialError::NoStaff(supervisor.clone()))?;
                let role = yunhu_core::role::Role::parse(row["role"].text()).unwrap_or(yunhu_core::role::Role::Agent);
                if role == yunhu_core::role::Role::Agent {
                    return Err(ControlError::NotAllowed(supervisor));
                }
                let target = self.staff_target(tenant, &row, &peer).await?;
                let staff = target.staff.clone();
                Command::Spy { mode, target: Some(target), staff, ring_timeout_ms }
            }
            Control::SpyMode(mode) => Command::SetSpyMode(mode),
            Control::Hangup => Command::Hangup,
            Control::AgentHangup => {
                // The agent ends it: the record says so, as when they hang up their phone.
                handle.send(Command::Outcome { cause: Cause::NormalClearing, side: HangupSide::Agent }).await?;
                Command::Hangup
            }
        };
        handle.send(command).await?;
        Ok(call_id)
    }
}
