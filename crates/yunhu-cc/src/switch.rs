//! The switch: the contact center's side of the call engine (`yunhu-engine`). It decides who
//! and where — which phone an extension is, which trunk reaches a number, which agent is free,
//! who is busy — and starts each call as a flow on the engine, whose events it logs and whose
//! record it projects when the call ends. It never touches SIP messages or RTP.

use crate::prompts::Prompts;
use crate::{CcError, Services, Tenant, TenantId};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use yunhu_core::agent::{AgentEventKind, Presence};
use yunhu_core::call::{CallEvent, CallEventKind, CallRecord, Cause, HangupSide};
use yunhu_engine::driver::{CallHandle, Engine, EngineConfig};
use yunhu_media::ports::PortPool;
use yunhu_sip::registrar::StoredBinding;
use yunhu_sip::{Credentials, Directory, SipConfig, SipEvent, SipStack};
use yunhu_store::Row;
use yunhu_store::calls::EventRow;
use yunhu_store::directory::STAFF;
use yunhu_store::registrations::Registration;

mod control;
mod drain;
mod hooks;
mod inbound;
mod outbound;
mod predictive;
mod queue;
mod wallboard;
pub use control::{CallRef, Control, ControlError};
pub use predictive::{CustomerFirst, CustomerFirstCall, CustomerFirstOutcome, Progress};
pub use wallboard::{AgentCounts, HISTORY_MAX_INTERVALS, QueueBoard, QueueHistory, QueueInterval};
pub use yunhu_engine::machine::{Command, Refusal, SpyMode};

/// Telephony settings.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// SIP transports.
    pub sip: SipConfig,
    /// RTP port range.
    pub rtp_ports: (u16, u16),
    /// Address RTP is bound to and announced in SDP.
    pub media_ip: IpAddr,
    /// Where recordings are written.
    pub recordings_dir: PathBuf,
    /// How long a leg may ring before it counts as not answered.
    pub ring_timeout: Duration,
    /// Where tenants keep their own prompts.
    pub prompts_dir: PathBuf,
    /// How long a call leg may carry no RTP before its peer counts as gone.
    pub rtp_inactivity: Duration,
}

/// A command to a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallCommand {
    /// End the call from the system side.
    Hangup,
}

/// What a staff member's phone is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneState {
    /// Not registered.
    Unregistered,
    /// Registered, no call.
    Idle,
    /// The agent's phone is ringing for a call.
    Ringing {
        /// The other party.
        peer: String,
    },
    /// In a call (answered).
    InCall {
        /// The other party.
        peer: String,
    },
}

/// Why a call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No such staff member or they have no extension.
    #[error("no staff member {0} with an extension")]
    NoStaff(String),
    /// The extension has no live registration.
    #[error("extension {0} is not registered")]
    NotRegistered(String),
    /// The tenant has no trunk to reach the number.
    #[error("no trunk is configured")]
    NoTrunk,
    /// The staff member is already in a call.
    #[error("staff member {0} is already in a call")]
    Busy(String),
    /// Not a number yunhu can dial.
    #[error("{0:?} is not a dialable number")]
    BadNumber(String),
    /// The staff member has not logged in (feature code 000).
    #[error("staff member {0} is not logged in")]
    NotLoggedIn(String),
    /// The node is draining (shutting down gracefully) and takes no new calls.
    #[error("yunhu is shutting down and takes no new calls")]
    Draining,
    /// Internal failure.
    #[error(transparent)]
    Internal(#[from] CcError),
}

/// A staff member's part in a live call.
#[derive(Debug, Clone)]
struct LiveCall {
    call_id: String,
    /// The other party, as the staff member's phone state names it.
    peer: String,
    /// Answered and bridged; otherwise their phone rings.
    talking: bool,
    /// How the call reached them.
    reach: Reach,
    /// When their phone began ringing, or the call began to be talked, ms.
    since_ms: i64,
}

impl LiveCall {
    fn phone_state(&self) -> PhoneState {
        let peer = self.peer.clone();
        if self.talking { PhoneState::InCall { peer } } else { PhoneState::Ringing { peer } }
    }
}

/// What an extension's phone is doing, with since when: a line's state as the dialects that
/// watch extensions show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineState {
    /// No live registration (or no telephony running).
    Unregistered,
    /// Registered, no call.
    Idle {
        /// When the staff member's last call ended, ms, if one ended since yunhu started.
        since_ms: Option<i64>,
    },
    /// Their phone rings for a call.
    Ringing(LiveLeg),
    /// In a call, answered.
    InCall(LiveLeg),
}

/// How a live call reached a staff member's phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Their side calls a customer through the trunk (click-to-call, the dialer).
    ToCustomer,
    /// They dialled another extension.
    ToExtension,
    /// A customer called them through the trunk.
    FromCustomer,
    /// Another extension called them, or they were brought into a call (a transfer, a meeting).
    Called,
}

impl Reach {
    /// Their side placed the call.
    pub fn outgoing(self) -> bool {
        matches!(self, Reach::ToCustomer | Reach::ToExtension)
    }
}

/// A staff member's part in a live call, as a line's state shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLeg {
    /// The call's id.
    pub call_id: String,
    /// The other party's number (the customer, or the other extension).
    pub peer: String,
    /// How the call reached them.
    pub reach: Reach,
    /// When the phone began ringing, or the talk began, ms.
    pub since_ms: i64,
}

struct SwitchInner {
    services: Services,
    sip: SipStack,
    engine: Engine,
    config: SwitchConfig,
    /// Staff on a call, by account: what their phone does and the call's handle.
    live: Mutex<HashMap<(TenantId, String), LiveCall>>,
    /// Every running call's handle, by id.
    calls: Mutex<HashMap<(TenantId, String), (CallHandle, String)>>,
    /// When each staff member's last call ended, ms (since this process started).
    idle_since: Mutex<HashMap<(TenantId, String), i64>>,
    /// Inbound queues and the ACD deciding who takes their callers.
    queues: queue::Queues,
    /// Agents who left predictive work (feature code 011) and have not rejoined (010).
    predictive_off: Mutex<std::collections::HashSet<(TenantId, String)>>,
    prompts: Prompts,
}

/// The running switch.
#[derive(Clone)]
pub struct Switch {
    inner: Arc<SwitchInner>,
}

struct StaffDirectory(Services);

/// Wall-clock ms, the time SIP registrations expire by.
fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Directory for StaffDirectory {
    fn credentials<'a>(&'a self, domain: &'a str, user: &'a str) -> yunhu_sip::BoxFuture<'a, Option<Credentials>> {
        Box::pin(async move {
            let tenant = self.0.db.tenant_by_sip_domain(domain).await.ok().flatten()?;
            let staff = self.0.staff_by_extension(tenant.id, user).await.ok()?;
            if staff["enabled"].int() == 0 {
                return None;
            }
            Some(Credentials { tenant: tenant.id.0, ha1: staff["sip_ha1"].text().to_string() })
        })
    }

    fn trunk_of(&self, source: SocketAddr) -> yunhu_sip::BoxFuture<'_, Option<(i64, String)>> {
        Box::pin(async move {
            let trunks = self.0.db.trunks_allowing(source).await.ok()?;
            // Only an address that belongs to exactly one tenant is trusted.
            let tenants: std::collections::BTreeSet<TenantId> = trunks.iter().map(|(t, _)| *t).collect();
            if tenants.len() > 1 {
                tracing::error!(%source, "address is a trunk of several tenants; not trusted");
                return None;
            }
            trunks.into_iter().next().map(|(t, name)| (t.0, name))
        })
    }

    fn save_bindings<'a>(
        &'a self,
        tenant: i64,
        domain: &'a str,
        user: &'a str,
        bindings: Vec<StoredBinding>,
    ) -> yunhu_sip::BoxFuture<'a, ()> {
        Box::pin(async move {
            let rows: Vec<Registration> = bindings
                .into_iter()
                .map(|b| Registration {
                    tenant: TenantId(tenant),
                    domain: domain.to_string(),
                    user: user.to_string(),
                    contact: b.contact,
                    source: b.source.to_string(),
                    transport: if b.tcp { "tcp" } else { "udp" }.into(),
                    path: String::new(),
                    expires_at: b.expires_at_ms,
                })
                .collect();
            if let Err(e) = self.0.db.replace_registrations(domain, user, &rows, wall_ms()).await {
                tracing::error!(extension = %user, error = %e, "registration not stored: a restart will forget it");
            }
        })
    }

    fn stored_bindings(&self) -> yunhu_sip::BoxFuture<'_, Vec<StoredBinding>> {
        Box::pin(async move {
            match self.0.db.live_registrations(wall_ms()).await {
                Ok(rows) => rows
                    .into_iter()
                    .filter_map(|r| {
                        Some(StoredBinding {
                            source: r.source.parse().ok()?,
                            tcp: r.transport == "tcp",
                            domain: r.domain,
                            user: r.user,
                            contact: r.contact,
                            expires_at_ms: r.expires_at,
                        })
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!(error = %e, "stored registrations could not be read; phones must register again");
                    Vec::new()
                }
            }
        })
    }
}

impl Services {
    /// A staff row by account, falling back to extension (seed 004: staff id = extension).
    pub(crate) async fn staff_by_code_or_extension(&self, tenant: TenantId, code: &str) -> Result<Row, CcError> {
        match self.db.get_row(tenant, &STAFF, &[code.into()]).await? {
            Some((row, false)) => Ok(row),
            _ => self.staff_by_extension(tenant, code).await,
        }
    }

    /// Appends a call event to the log.
    pub async fn log_call_event(&self, tenant: TenantId, call_id: &str, kind: CallEventKind) -> Result<(), CcError> {
        self.events.append(self.call_event_row(tenant, call_id, &kind, self.now_ms())?).await?;
        Ok(())
    }

    /// Queues a call's progress event for the event log's next commit, without waiting on the
    /// disk; a failure is logged, not returned: a call in progress is better finished properly
    /// with a gap in its log than abandoned with its legs up.
    pub fn log_call_event_or_warn(&self, tenant: TenantId, call_id: &str, kind: CallEventKind) {
        self.log_call_event_at_or_warn(tenant, call_id, kind, self.now_ms());
    }

    /// [`Services::log_call_event_or_warn`] stamped `at` (ms UTC): an event whose moment another
    /// figure shares (a queue's wait, timed by the ACD, is the record's to the millisecond).
    pub fn log_call_event_at_or_warn(&self, tenant: TenantId, call_id: &str, kind: CallEventKind, at: i64) {
        let queued = self.call_event_row(tenant, call_id, &kind, at).and_then(|row| self.events.append_later(row));
        if let Err(e) = queued {
            tracing::error!(%call_id, error = %e, "call event could not be logged");
        }
    }

    /// A call event as the log stores it, stamped `at`.
    fn call_event_row(
        &self,
        tenant: TenantId,
        call_id: &str,
        kind: &CallEventKind,
        at: i64,
    ) -> Result<EventRow, CcError> {
        let data = serde_json::to_string(kind).map_err(|e| CcError::Invalid(e.to_string()))?;
        Ok((tenant, call_id.to_string(), kind.name(), at, data))
    }

    /// Rebuilds a call's record from its events (idempotent), once those queued are committed.
    pub async fn project_call(&self, tenant: TenantId, call_id: &str) -> Result<CallRecord, CcError> {
        // A failed flush has lost some queued events (and logged why); the record is still
        // better written from the rest than left to the next start.
        if let Err(e) = self.events.flush(false).await {
            tracing::error!(%call_id, error = %e, "queued call events could not be written before the record");
        }
        let events: Vec<CallEvent> = self
            .db
            .events_for_record(tenant, call_id)
            .await?
            .into_iter()
            .filter_map(|(_, _, at, data)| serde_json::from_str(&data).ok().map(|kind| CallEvent { at, kind }))
            .collect();
        let record = CallRecord::project(&events);
        self.events.put_record(tenant, call_id, record.clone()).await?;
        self.upload_recording_later(tenant, call_id, &record.recording);
        Ok(record)
    }
}

/// What the request that placed a call said about it, kept in its record.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Custom data 1 (seed 004 `codeid_1`).
    pub codeid_1: String,
    /// Custom data 2 (seed 004 `codeid_2`).
    pub codeid_2: String,
    /// How the call is placed.
    pub method: yunhu_core::call::CallMethod,
    /// The outbound task placing it.
    pub task_id: String,
    /// Further custom data (sipcdr userid, memberid, chengshudu, customuuid).
    pub call_data: std::collections::BTreeMap<String, String>,
}

/// The recording's path below the recordings directory: `<corp>/<date>/<time>_<staff>_<customer>_<id>.wav`.
///
/// The parts come from requests (a caller's From user, an account), so only letters, digits,
/// `+`, `-` and `_` are kept: nothing can steer the file outside the recordings directory.
pub(crate) fn recording_name(tenant: &Tenant, staff: &str, customer: &str, call_id: &str) -> String {
    let safe = |s: &str| -> String {
        let kept: String =
            s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_')).take(32).collect();
        if kept.is_empty() { "x".into() } else { kept }
    };
    let zone = yunhu_core::time::zone_or_default(&tenant.time_zone);
    let now = chrono::Utc::now().with_timezone(&zone);
    format!(
        "{}/{}/{}_{}_{}_{}.wav",
        safe(&tenant.corp_id),
        now.format("%Y-%m-%d"),
        now.format("%Y%m%d%H%M%S"),
        safe(staff),
        safe(customer),
        safe(call_id.get(..8).unwrap_or(call_id))
    )
}

impl Switch {
    /// Starts SIP and the switch; repairs recordings and finishes calls a crash interrupted.
    pub async fn start(services: Services, config: SwitchConfig) -> Result<Switch, CcError> {
        services.recover_interrupted_calls(&config.recordings_dir).await?;
        let directory = Arc::new(StaffDirectory(services.clone()));
        let (sip, mut sip_events) =
            SipStack::start(config.sip.clone(), directory).await.map_err(|e| CcError::Invalid(format!("SIP: {e}")))?;
        let ports = PortPool::new(config.rtp_ports.0, config.rtp_ports.1);
        let engine_config = EngineConfig { media_ip: config.media_ip, rtp_inactivity: config.rtp_inactivity };
        let engine = Engine::new(sip.clone(), ports, engine_config);
        services.agents_ready().await?;
        let predictive_off = Mutex::new(services.load_predictive_off().await?);
        let prompts = Prompts::new(&config.prompts_dir);
        let live = Mutex::new(HashMap::new());
        let calls = Mutex::new(HashMap::new());
        let idle_since = Mutex::new(HashMap::new());
        let inner = Arc::new(SwitchInner {
            services,
            sip,
            engine,
            config,
            live,
            calls,
            idle_since,
            queues: Default::default(),
            predictive_off,
            prompts,
        });
        let switch = Switch { inner };
        switch.register_trunks().await?;
        switch.start_queues();
        let events_switch = switch.clone();
        tokio::spawn(async move {
            while let Some(event) = sip_events.recv().await {
                match event {
                    SipEvent::Registration { tenant, user, contacts, .. } => {
                        tracing::info!(tenant, extension = %user, contacts, "registration");
                    }
                    SipEvent::IncomingCall(call) => {
                        let s = events_switch.clone();
                        tokio::spawn(async move { s.incoming(call).await });
                    }
                }
            }
        });
        Ok(switch)
    }

    /// Registers to every carrier whose trunk asks for it (at start).
    async fn register_trunks(&self) -> Result<(), CcError> {
        let svc = &self.inner.services;
        for (tenant, trunk) in svc.db.registering_trunks().await? {
            let name = trunk["name"].text().to_string();
            let Ok(server) = trunk["address"].text().parse::<SocketAddr>() else { continue };
            let Some(password) = svc.sealer.open(trunk["password_sealed"].text()) else {
                tracing::error!(trunk = %name, "trunk password cannot be unsealed with this master key");
                continue;
            };
            let label = name.clone();
            self.inner
                .sip
                .register_upstream(server, trunk["username"].text(), &password, 3600, move |result| match result {
                    Ok(status) if (200..300).contains(&status) => {
                        tracing::info!(tenant = tenant.0, trunk = %label, "registered to carrier")
                    }
                    Ok(status) => {
                        tracing::warn!(tenant = tenant.0, trunk = %label, status, "carrier refused registration")
                    }
                    Err(e) => tracing::warn!(tenant = tenant.0, trunk = %label, error = %e, "carrier unreachable"),
                })
                .map_err(|e| CcError::Invalid(format!("trunk {name}: {e}")))?;
        }
        Ok(())
    }

    /// Where SIP listens.
    pub fn sip_addr(&self) -> SocketAddr {
        self.inner.sip.local_addr()
    }

    /// What a staff member's phone is doing.
    pub async fn phone_state(&self, tenant: &Tenant, staff: &str) -> Result<(String, PhoneState), DialError> {
        let row = self
            .inner
            .services
            .staff_by_code_or_extension(tenant.id, staff)
            .await
            .map_err(|_| DialError::NoStaff(staff.into()))?;
        let ext = row["agent_id"].text().to_string();
        if ext.is_empty() {
            return Err(DialError::NoStaff(staff.into()));
        }
        let key = (tenant.id, row["user_code"].text().to_string());
        if let Some(call) = self.inner.live.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok((ext, call.phone_state()));
        }
        let registered = !self.inner.sip.bindings(&tenant.sip_domain, &ext).is_empty();
        Ok((ext, if registered { PhoneState::Idle } else { PhoneState::Unregistered }))
    }

    /// What the phone of staff member `user_code`, at extension `ext`, is doing: their live call
    /// if they have one, else whether the extension is registered.
    pub fn line_state(&self, tenant: &Tenant, user_code: &str, ext: &str) -> LineState {
        let key = (tenant.id, user_code.to_string());
        if let Some(c) = self.inner.live.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            let leg =
                LiveLeg { call_id: c.call_id.clone(), peer: c.peer.clone(), reach: c.reach, since_ms: c.since_ms };
            return if c.talking { LineState::InCall(leg) } else { LineState::Ringing(leg) };
        }
        if ext.is_empty() || self.inner.sip.bindings(&tenant.sip_domain, ext).is_empty() {
            return LineState::Unregistered;
        }
        let since_ms = self.inner.idle_since.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        LineState::Idle { since_ms }
    }

    /// A staff member's presence.
    pub fn presence(&self, tenant: TenantId, user_code: &str) -> Presence {
        self.inner.services.presence(tenant, user_code)
    }

    /// Changes a staff member's presence and logs it (580-583).
    pub async fn set_presence(&self, tenant: TenantId, user_code: &str, event: AgentEventKind) -> Result<(), CcError> {
        self.inner.services.set_presence(tenant, user_code, event).await
    }

    /// Whether the agent takes predictive calls (they may leave with 011 and rejoin with 010).
    pub fn in_predictive_work(&self, tenant: TenantId, user_code: &str) -> bool {
        let off = self.inner.predictive_off.lock().unwrap_or_else(|e| e.into_inner());
        !off.contains(&(tenant, user_code.to_string()))
    }

    /// The agent joins (`true`) or leaves predictive work; logged on the `predictive/<account>` stream.
    pub async fn set_predictive_work(&self, tenant: TenantId, user_code: &str, joined: bool) -> Result<(), CcError> {
        let svc = &self.inner.services;
        let data = serde_json::json!({ "joined": joined }).to_string();
        let kind = if joined { "predictive_join" } else { "predictive_leave" };
        svc.events.append((tenant, format!("predictive/{user_code}"), kind, svc.now_ms(), data)).await?;
        let mut off = self.inner.predictive_off.lock().unwrap_or_else(|e| e.into_inner());
        if joined {
            off.remove(&(tenant, user_code.to_string()));
        } else {
            off.insert((tenant, user_code.to_string()));
        }
        Ok(())
    }

    /// Sends a command to the staff member's live call without waiting for it; the call's id,
    /// or `None` if they have none.
    pub fn command(&self, tenant: &Tenant, staff_code: &str, cmd: CallCommand) -> Option<String> {
        let live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        let call = live.get(&(tenant.id, staff_code.to_string()))?;
        let command = match cmd {
            CallCommand::Hangup => Command::Hangup,
        };
        let handle = self.call_handle(tenant.id, &call.call_id)?;
        handle.post(command).then(|| call.call_id.clone())
    }

    fn call_handle(&self, tenant: TenantId, call_id: &str) -> Option<CallHandle> {
        let calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(&(tenant, call_id.to_string())).map(|(h, _)| h.clone())
    }

    /// The staff account behind a staff id or extension.
    pub async fn staff_code(&self, tenant: &Tenant, staff: &str) -> Option<String> {
        let row = self.inner.services.staff_by_code_or_extension(tenant.id, staff).await.ok()?;
        Some(row["user_code"].text().to_string())
    }
}

impl Services {
    /// The agents whose latest predictive-work event left it (011).
    async fn load_predictive_off(&self) -> Result<std::collections::HashSet<(TenantId, String)>, CcError> {
        let mut out = std::collections::HashSet::new();
        for (tenant, stream, data) in self.db.latest_stream_events("predictive/").await? {
            let joined = serde_json::from_str::<serde_json::Value>(&data).ok().and_then(|v| v["joined"].as_bool());
            if let (Some(code), Some(false)) = (stream.strip_prefix("predictive/"), joined) {
                out.insert((tenant, code.to_string()));
            }
        }
        Ok(out)
    }

    /// After a crash: repairs `.part` recordings (flagging them in the log) and gives every call
    /// that has events but no record a record. A call cut by the crash ends, with cause
    /// [`Cause::Crash`], at the last moment yunhu knew it was alive: its last event, or the end of
    /// its recording (which is on disk up to about a second before the crash), never at the
    /// restart, so nobody is billed for the downtime.
    pub async fn recover_interrupted_calls(&self, recordings_dir: &std::path::Path) -> Result<(), CcError> {
        let repaired = yunhu_media::wav::repair_all(recordings_dir).map_err(|e| CcError::Invalid(e.to_string()))?;
        let pending = self.db.calls_without_record().await?;
        for (tenant, call_id) in pending {
            if let Err(e) = self.recover_call(tenant, &call_id, recordings_dir, &repaired).await {
                tracing::error!(%call_id, error = %e, "interrupted call could not be recorded; left for the next start");
            }
        }
        Ok(())
    }

    /// Appends a call event stamped `at` (ms UTC) rather than now.
    async fn log_call_event_at(
        &self,
        tenant: TenantId,
        call_id: &str,
        kind: CallEventKind,
        at: i64,
    ) -> Result<(), CcError> {
        let data = serde_json::to_string(&kind).map_err(|e| CcError::Invalid(e.to_string()))?;
        self.events.append((tenant, call_id.to_string(), kind.name(), at, data)).await?;
        Ok(())
    }

    async fn recover_call(
        &self,
        tenant: TenantId,
        call_id: &str,
        recordings_dir: &std::path::Path,
        repaired: &[yunhu_media::wav::RecordingInfo],
    ) -> Result<(), CcError> {
        let events = self.db.call_events(tenant, call_id).await?;
        // The last moment the call was known alive: its last event...
        let mut alive_at = events.iter().map(|(_, _, at, _)| *at).max().unwrap_or_else(|| self.now_ms());
        let started: Option<(i64, String)> = events.iter().find_map(|(_, kind, at, data)| {
            (kind == "recording_started").then(|| serde_json::from_str::<CallEventKind>(data).ok()).flatten().and_then(
                |k| match k {
                    CallEventKind::RecordingStarted { path } => Some((*at, path)),
                    _ => None,
                },
            )
        });
        let mut stopped = None;
        if let Some((started_at, rel)) = started {
            let full = recordings_dir.join(&rel);
            if let Some(info) = repaired.iter().find(|r| r.path == full) {
                // ...or the end of the audio its recording holds.
                alive_at = alive_at.max(started_at + info.duration_ms() as i64);
                stopped = Some(CallEventKind::RecordingStopped {
                    path: rel,
                    duration_ms: info.duration_ms(),
                    repaired: true,
                });
            }
        }
        // Never later than now (a clock stepped back, a recording longer than its call).
        let alive_at = alive_at.min(self.now_ms());
        if let Some(stopped) = stopped {
            self.log_call_event_at(tenant, call_id, stopped, alive_at).await?;
        }
        if !events.iter().any(|(_, kind, _, _)| kind == "hung_up") {
            let cut = CallEventKind::HungUp { cause: Cause::Crash, side: HangupSide::System };
            self.log_call_event_at(tenant, call_id, cut, alive_at).await?;
        }
        self.project_call(tenant, call_id).await?;
        tracing::warn!(%call_id, alive_at, "call interrupted by a restart was recorded, ended when last known alive");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_names_cannot_leave_the_recordings_directory() {
        let tenant = Tenant {
            id: TenantId(10001),
            corp_id: "777777".into(),
            name: "Demo".into(),
            time_zone: "Asia/Shanghai".into(),
            sip_domain: "777777.yunhu".into(),
            created_at: 0,
        };
        let name = recording_name(&tenant, "../../etc", "../../../../tmp/x%2f..", "0123456789abcdef");
        assert!(!name.contains(".."), "{name}");
        assert_eq!(name.matches('/').count(), 2, "{name}");
        assert!(name.starts_with("777777/") && name.ends_with("_etc_tmpx2f_01234567.wav"), "{name}");
    }
}
