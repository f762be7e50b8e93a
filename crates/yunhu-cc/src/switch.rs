//! The switch: calls driven by commands. A click-to-call rings the agent's extension first, then
//! the customer through the tenant's trunk, anchors and records the media, and logs every step in
//! the event log; the call record is projected from those events when the call ends.

use crate::prompts::Prompts;
use crate::secrets::new_stream_id;
use crate::{CcError, Services, Tenant, TenantId};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use yunhu_core::agent::{AgentEventKind, Presence, agent_stream};
use yunhu_core::call::{CallEvent, CallEventKind, CallRecord, Cause, HangupSide, Side};
use yunhu_core::mask_phone;
use yunhu_media::g711::Codec;
use yunhu_media::ports::PortPool;
use yunhu_media::relay::{LegId, LegMedia, MediaEvent, MediaSession};
use yunhu_media::sdp::{self, AudioDescription};
use yunhu_sip::{Credentials, Dial, Directory, EndedBy, IncomingCall, LegEvent, SipConfig, SipEvent, SipStack};
use yunhu_store::Row;
use yunhu_store::calls::{EventRow, TRUNKS};
use yunhu_store::directory::STAFF;

mod predictive;
pub use predictive::{CustomerFirst, CustomerFirstCall, CustomerFirstOutcome, Progress};

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
    /// Internal failure.
    #[error(transparent)]
    Internal(#[from] CcError),
}

#[derive(Debug, Clone)]
struct LiveCall {
    call_id: String,
    commands: mpsc::UnboundedSender<CallCommand>,
    state: PhoneState,
}

struct SwitchInner {
    services: Services,
    sip: SipStack,
    ports: PortPool,
    config: SwitchConfig,
    live: Mutex<HashMap<(TenantId, String), LiveCall>>,
    presence: Mutex<HashMap<(TenantId, String), Presence>>,
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
        self.events.append(self.call_event_row(tenant, call_id, &kind)?).await?;
        Ok(())
    }

    /// Queues a call's progress event for the event log's next commit, without waiting on the
    /// disk; a failure is logged, not returned: a call in progress is better finished properly
    /// with a gap in its log than abandoned with its legs up.
    pub fn log_call_event_or_warn(&self, tenant: TenantId, call_id: &str, kind: CallEventKind) {
        let queued = self.call_event_row(tenant, call_id, &kind).and_then(|row| self.events.append_later(row));
        if let Err(e) = queued {
            tracing::error!(%call_id, error = %e, "call event could not be logged");
        }
    }

    /// A call event as the log stores it, stamped now.
    fn call_event_row(&self, tenant: TenantId, call_id: &str, kind: &CallEventKind) -> Result<EventRow, CcError> {
        let data = serde_json::to_string(kind).map_err(|e| CcError::Invalid(e.to_string()))?;
        Ok((tenant, call_id.to_string(), kind.name(), self.now_ms(), data))
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
        Ok(record)
    }
}

/// Our SDP offer; `prefer` first, so a bridge whose other leg already speaks it needs no
/// transcoding.
fn offer_sdp(media_ip: IpAddr, port: u16, prefer: Option<Codec>) -> String {
    let codecs = match prefer {
        Some(Codec::Pcma) => vec![Codec::Pcma, Codec::Pcmu],
        _ => vec![Codec::Pcmu, Codec::Pcma],
    };
    let desc = AudioDescription { addr: media_ip, port, codecs, telephone_event: Some(101) };
    sdp::render(u64::from(port), &desc)
}

/// Why a leg's end ends the call: unanswered until the ring timeout, a connected call hung up,
/// given up by yunhu, or the far end's refusal.
fn end_cause(rang_out: bool, connected: bool, system_hangup: bool, status: u16) -> Cause {
    if rang_out {
        Cause::NoAnswer
    } else if connected {
        Cause::NormalClearing
    } else if system_hangup {
        Cause::OriginatorCancel
    } else {
        Cause::from_sip_status(status)
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
fn recording_name(tenant: &Tenant, staff: &str, customer: &str, call_id: &str) -> String {
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

/// The event a media event becomes; `sides` names legs A and B.
fn media_event(ev: MediaEvent, sides: [Side; 2], recording: &str) -> Option<CallEventKind> {
    match ev {
        MediaEvent::Dtmf { leg, digit } => {
            let side = if leg == LegId::A { sides[0] } else { sides[1] };
            Some(CallEventKind::Dtmf { side, digit: digit.to_string() })
        }
        MediaEvent::RecordingOpened => Some(CallEventKind::RecordingStarted { path: recording.to_string() }),
        MediaEvent::RecordingFailed { error } => {
            tracing::error!(%error, "recording could not start");
            None
        }
        MediaEvent::PlayDone { .. } => None,
    }
}

fn media_stats(stats: &yunhu_media::relay::RelayStats) -> CallEventKind {
    CallEventKind::MediaStats {
        received: stats.received.iter().sum(),
        forwarded: stats.forwarded.iter().sum(),
        gap_ms: stats.gap_samples.iter().sum::<u64>() / 8,
    }
}

fn leg_media(answer: &str) -> Option<LegMedia> {
    let d = sdp::parse(answer)?;
    Some(LegMedia {
        remote: SocketAddr::new(d.addr, d.port),
        codec: sdp::choose(&d)?,
        telephone_event: d.telephone_event,
    })
}

impl Switch {
    /// Starts SIP and the switch; repairs recordings and finishes calls a crash interrupted.
    pub async fn start(services: Services, config: SwitchConfig) -> Result<Switch, CcError> {
        services.recover_interrupted_calls(&config.recordings_dir).await?;
        let directory = Arc::new(StaffDirectory(services.clone()));
        let (sip, mut sip_events) =
            SipStack::start(config.sip.clone(), directory).await.map_err(|e| CcError::Invalid(format!("SIP: {e}")))?;
        let ports = PortPool::new(config.rtp_ports.0, config.rtp_ports.1);
        let presence = Mutex::new(services.load_presence().await?);
        let predictive_off = Mutex::new(services.load_predictive_off().await?);
        let prompts = Prompts::new(&config.prompts_dir);
        let live = Mutex::new(HashMap::new());
        let inner = Arc::new(SwitchInner { services, sip, ports, config, live, presence, predictive_off, prompts });
        let switch = Switch { inner };
        switch.register_trunks().await?;
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
            return Ok((ext, call.state.clone()));
        }
        let registered = !self.inner.sip.bindings(&tenant.sip_domain, &ext).is_empty();
        Ok((ext, if registered { PhoneState::Idle } else { PhoneState::Unregistered }))
    }

    /// A staff member's presence.
    pub fn presence(&self, tenant: TenantId, user_code: &str) -> Presence {
        let map = self.inner.presence.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(tenant, user_code.to_string())).copied().unwrap_or(Presence::LoggedOut)
    }

    /// Changes a staff member's presence and logs it (580-583).
    pub async fn set_presence(&self, tenant: TenantId, user_code: &str, event: AgentEventKind) -> Result<(), CcError> {
        let data = serde_json::to_string(&event).map_err(|e| CcError::Invalid(e.to_string()))?;
        let svc = &self.inner.services;
        svc.events.append((tenant, agent_stream(user_code), event.name(), svc.now_ms(), data)).await?;
        let mut map = self.inner.presence.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((tenant, user_code.to_string()), event.presence());
        Ok(())
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

    /// Sends a command to the staff member's live call; the call's id, or `None` if they have none.
    pub fn command(&self, tenant: &Tenant, staff_code: &str, cmd: CallCommand) -> Option<String> {
        let live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        let call = live.get(&(tenant.id, staff_code.to_string()))?;
        call.commands.send(cmd).ok().map(|_| call.call_id.clone())
    }

    /// The staff account behind a staff id or extension.
    pub async fn staff_code(&self, tenant: &Tenant, staff: &str) -> Option<String> {
        let row = self.inner.services.staff_by_code_or_extension(tenant.id, staff).await.ok()?;
        Some(row["user_code"].text().to_string())
    }

    /// Click-to-call, agent first: rings the staff member's phone; when answered, dials `number`
    /// through the tenant's trunk and bridges. Returns the call id at once.
    pub async fn click_to_call(
        &self,
        tenant: &Tenant,
        staff: &str,
        number: &str,
        context: CallContext,
    ) -> Result<String, DialError> {
        if number.is_empty() || number.len() > 24 || !number.chars().all(|c| c.is_ascii_digit() || c == '+') {
            return Err(DialError::BadNumber(number.into()));
        }
        let svc = &self.inner.services;
        let row =
            svc.staff_by_code_or_extension(tenant.id, staff).await.map_err(|_| DialError::NoStaff(staff.into()))?;
        let ext = row["agent_id"].text().to_string();
        let user_code = row["user_code"].text().to_string();
        if ext.is_empty() || row["enabled"].int() == 0 {
            return Err(DialError::NoStaff(staff.into()));
        }

        let trunk = svc.db.list_rows(tenant.id, &TRUNKS).await.map_err(CcError::from)?.into_iter().next();
        let trunk = trunk.ok_or(DialError::NoTrunk)?;
        let trunk_addr: SocketAddr = trunk["address"].text().parse().map_err(|_| DialError::NoTrunk)?;
        let caller_id = match trunk["caller_id"].text() {
            "" => svc.caller_id_choices(tenant.id).await?.first().map(|c| c.label.clone()).unwrap_or_default(),
            c => c.to_string(),
        };
        let mobile = row["work_phone"].text();
        // 手机随行: the staff member's calls ring their mobile through the trunk.
        let agent_via_trunk = row["phone_take_along"].int() != 0 && !mobile.is_empty();
        let trunk_tcp = trunk["transport"].text() == "tcp";
        let (agent_uri, agent_addr, agent_tcp) = if agent_via_trunk {
            (format!("sip:{mobile}@{trunk_addr}"), trunk_addr, trunk_tcp)
        } else {
            let binding = self
                .inner
                .sip
                .bindings(&tenant.sip_domain, &ext)
                .pop()
                .ok_or_else(|| DialError::NotRegistered(ext.clone()))?;
            if self.presence(tenant.id, &user_code) == Presence::LoggedOut {
                return Err(DialError::NotLoggedIn(user_code));
            }
            (binding.contact.clone(), binding.target(), binding.tcp)
        };
        let call_id = new_stream_id();
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
            let key = (tenant.id, user_code.clone());
            if live.contains_key(&key) {
                return Err(DialError::Busy(user_code));
            }
            let state = PhoneState::Ringing { peer: number.to_string() };
            live.insert(key, LiveCall { call_id: call_id.clone(), commands: tx, state });
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
                    caller_id: caller_id.clone(),
                    trunk: trunk["name"].text().into(),
                    codeid_1: context.codeid_1,
                    codeid_2: context.codeid_2,
                    method: Some(context.method),
                    task_id: context.task_id,
                    call_data: context.call_data,
                },
            )
            .await;
        if let Err(e) = created {
            self.inner.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&(tenant.id, user_code.clone()));
            return Err(e.into());
        }
        tracing::info!(call_id, extension = %ext, customer = %mask_phone(number), "click-to-call");
        let plan = CallPlan {
            tenant: tenant.clone(),
            call_id: call_id.clone(),
            user_code,
            agent_uri,
            agent_addr,
            customer: number.into(),
            caller_id,
            trunk_addr,
            trunk_tcp,
            agent_tcp,
        };
        let switch = self.clone();
        tokio::spawn(async move {
            let key = (plan.tenant.id, plan.user_code.clone());
            if let Err(e) = switch.run_call(&plan, rx).await {
                tracing::error!(call_id = %plan.call_id, error = %e, "call failed");
            }
            switch.inner.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        });
        Ok(call_id)
    }

    /// Marks staff members busy with a call (ringing, with `peer`) until the guard is dropped.
    fn mark_live(
        &self,
        tenant: TenantId,
        staff: &[String],
        call_id: &str,
        commands: &mpsc::UnboundedSender<CallCommand>,
        peer: &str,
    ) -> LiveGuard {
        let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys = Vec::new();
        for code in staff {
            let key = (tenant, code.clone());
            if !live.contains_key(&key) {
                let state = PhoneState::Ringing { peer: peer.to_string() };
                live.insert(key.clone(), LiveCall { call_id: call_id.into(), commands: commands.clone(), state });
                keys.push(key);
            }
        }
        LiveGuard { switch: self.clone(), keys }
    }

    fn set_state(&self, plan: &CallPlan, state: PhoneState) {
        let mut live = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = live.get_mut(&(plan.tenant.id, plan.user_code.clone())) {
            c.state = state;
        }
    }

    async fn run_call(
        &self,
        plan: &CallPlan,
        mut commands: mpsc::UnboundedReceiver<CallCommand>,
    ) -> Result<(), CcError> {
        let svc = &self.inner.services;
        let cfg = &self.inner.config;
        let log = |kind: CallEventKind| svc.log_call_event_or_warn(plan.tenant.id, &plan.call_id, kind);
        let (media_tx, mut media_events) = mpsc::unbounded_channel();
        let session = match MediaSession::open(&self.inner.ports, cfg.media_ip, media_tx) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no media ports");
                log(CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System });
                svc.project_call(plan.tenant.id, &plan.call_id).await?;
                return Ok(());
            }
        };
        let dial_agent = Dial {
            request_uri: plan.agent_uri.clone(),
            destination: plan.agent_addr,
            tcp: plan.agent_tcp,
            from_user: plan.customer.clone(),
            from_domain: plan.tenant.sip_domain.clone(),
            display_name: None,
            sdp: offer_sdp(cfg.media_ip, session.local_addr(LegId::A).port(), None),
            headers: vec![("X-Yunhu-Call".into(), plan.call_id.clone())],
        };
        log(CallEventKind::LegCreated { side: Side::Agent });
        let mut agent = self.inner.sip.dial(dial_agent).map_err(|e| CcError::Invalid(e.to_string()))?;
        let agent_hangup = agent.hangup_handle();
        let mut customer: Option<yunhu_sip::OutgoingLeg> = None;
        let mut customer_hangup: Option<yunhu_sip::LegHangup> = None;
        let mut deadline = tokio::time::Instant::now() + cfg.ring_timeout;
        let mut ringing_side = Some(Side::Agent);
        let mut timed_out = false;
        let mut system_hangup = false;
        let mut bridged = false;
        let mut agent_ended = false;
        let mut customer_ended = false;
        let mut outcome: Option<(Cause, HangupSide)> = None;
        let recording_rel = recording_name(&plan.tenant, &plan.user_code, &plan.customer, &plan.call_id);
        // Once the outcome is decided, legs that do not confirm their end in time are let go.
        let mut give_up: Option<tokio::time::Instant> = None;
        loop {
            if agent_ended && (customer.is_none() || customer_ended) {
                break;
            }
            if outcome.is_some() && give_up.is_none() {
                give_up = Some(tokio::time::Instant::now() + Duration::from_secs(5));
            }
            tokio::select! {
                ev = agent.next(), if !agent_ended => match ev {
                    Some(LegEvent::Ringing) => log(CallEventKind::Ringing { side: Side::Agent }),
                    Some(LegEvent::Answered { sdp }) => {
                        log(CallEventKind::Answered { side: Side::Agent });
                        let Some(media) = leg_media(&sdp) else {
                            outcome.get_or_insert((Cause::NormalTemporaryFailure, HangupSide::System));
                            agent_hangup.hangup().await;
                            continue;
                        };
                        session.set_remote(LegId::A, media).await;
                        if outcome.is_some() {
                            agent_hangup.hangup().await;
                            continue;
                        }
                        log(CallEventKind::LegCreated { side: Side::Customer });
                        let dial = Dial {
                            request_uri: format!("sip:{}@{}", plan.customer, plan.trunk_addr),
                            destination: plan.trunk_addr,
                            tcp: plan.trunk_tcp,
                            from_user: plan.caller_id.clone(),
                            from_domain: plan.trunk_addr.ip().to_string(),
                            display_name: None,
                            sdp: offer_sdp(cfg.media_ip, session.local_addr(LegId::B).port(), Some(media.codec)),
                            headers: vec![("X-Yunhu-Call".into(), plan.call_id.clone())],
                        };
                        match self.inner.sip.dial(dial) {
                            Ok(leg) => {
                                customer_hangup = Some(leg.hangup_handle());
                                customer = Some(leg);
                                ringing_side = Some(Side::Customer);
                                deadline = tokio::time::Instant::now() + cfg.ring_timeout;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "trunk dial failed");
                                outcome.get_or_insert((Cause::NormalTemporaryFailure, HangupSide::System));
                                agent_hangup.hangup().await;
                            }
                        }
                    }
                    Some(LegEvent::Ended { status, by }) => {
                        agent_ended = true;
                        log(CallEventKind::LegEnded { side: Side::Agent, status });
                        let connected = bridged || (customer.is_none() && status == 200);
                        let rang_out = timed_out && ringing_side == Some(Side::Agent);
                        let cause = end_cause(rang_out, connected, system_hangup, status);
                        let side = if by == EndedBy::Remote { HangupSide::Agent } else { HangupSide::System };
                        outcome.get_or_insert((cause, side));
                        if let Some(h) = &customer_hangup && !customer_ended {
                            h.hangup().await;
                        }
                    }
                    None => agent_ended = true,
                },
                ev = async { customer.as_mut().expect("guarded").next().await }, if customer.is_some() && !customer_ended => match ev {
                    Some(LegEvent::Ringing) => log(CallEventKind::Ringing { side: Side::Customer }),
                    Some(LegEvent::Answered { sdp }) => {
                        log(CallEventKind::Answered { side: Side::Customer });
                        ringing_side = None;
                        match leg_media(&sdp) {
                            Some(media) => {
                                session.set_remote(LegId::B, media).await;
                                // Customer on the left channel, agent on the right.
                                session.record(cfg.recordings_dir.join(&recording_rel), LegId::B).await;
                                bridged = true;
                                log(CallEventKind::Bridged);
                                self.set_state(plan, PhoneState::InCall { peer: plan.customer.clone() });
                            }
                            None => {
                                outcome.get_or_insert((Cause::NormalTemporaryFailure, HangupSide::System));
                                if let Some(h) = &customer_hangup { h.hangup().await; }
                            }
                        }
                    }
                    Some(LegEvent::Ended { status, by }) => {
                        customer_ended = true;
                        log(CallEventKind::LegEnded { side: Side::Customer, status });
                        let rang_out = timed_out && ringing_side == Some(Side::Customer);
                        let cause = end_cause(rang_out, bridged, system_hangup, status);
                        let side = if by == EndedBy::Remote { HangupSide::Customer } else { HangupSide::System };
                        outcome.get_or_insert((cause, side));
                        if !agent_ended {
                            agent_hangup.hangup().await;
                        }
                    }
                    None => customer_ended = true,
                },
                Some(ev) = media_events.recv() => {
                    if let Some(kind) = media_event(ev, [Side::Agent, Side::Customer], &recording_rel) {
                        log(kind);
                    }
                }
                Some(CallCommand::Hangup) = commands.recv() => {
                    system_hangup = true;
                    outcome.get_or_insert((if bridged { Cause::NormalClearing } else { Cause::OriginatorCancel }, HangupSide::System));
                    if let Some(h) = &customer_hangup && !customer_ended { h.hangup().await; }
                    if !agent_ended { agent_hangup.hangup().await; }
                }
                _ = tokio::time::sleep_until(give_up.unwrap_or(deadline)), if give_up.is_some() => {
                    tracing::warn!(call_id = %plan.call_id, "a leg did not confirm its end; letting it go");
                    if !agent_ended {
                        log(CallEventKind::LegEnded { side: Side::Agent, status: 408 });
                    }
                    if customer.is_some() && !customer_ended {
                        log(CallEventKind::LegEnded { side: Side::Customer, status: 408 });
                    }
                    break;
                }
                _ = tokio::time::sleep_until(deadline), if ringing_side.is_some() && !timed_out => {
                    timed_out = true;
                    let side = if ringing_side == Some(Side::Agent) { HangupSide::Agent } else { HangupSide::Customer };
                    outcome.get_or_insert((Cause::NoAnswer, side));
                    match ringing_side {
                        Some(Side::Agent) => agent_hangup.hangup().await,
                        _ => if let Some(h) = &customer_hangup { h.hangup().await },
                    }
                }
            }
        }
        let end = session.stop().await;
        log(media_stats(&end.stats));
        if let Some(Ok(info)) = end.recording {
            log(CallEventKind::RecordingStopped {
                path: recording_rel.clone(),
                duration_ms: info.duration_ms(),
                repaired: false,
            });
        }
        let (cause, side) = outcome.unwrap_or((Cause::NormalClearing, HangupSide::System));
        log(CallEventKind::HungUp { cause, side });
        svc.project_call(plan.tenant.id, &plan.call_id).await?;
        tracing::info!(call_id = %plan.call_id, cause = cause.name(), side = side.as_str(), "call ended");
        Ok(())
    }
}

struct CallPlan {
    tenant: Tenant,
    call_id: String,
    user_code: String,
    agent_uri: String,
    agent_addr: SocketAddr,
    customer: String,
    caller_id: String,
    trunk_addr: SocketAddr,
    trunk_tcp: bool,
    agent_tcp: bool,
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

    /// Every agent's presence as the event log last left it.
    async fn load_presence(&self) -> Result<HashMap<(TenantId, String), Presence>, CcError> {
        let mut out = HashMap::new();
        for (tenant, stream, data) in self.db.latest_agent_events().await? {
            if let (Some(code), Ok(event)) =
                (stream.strip_prefix("agent/"), serde_json::from_str::<AgentEventKind>(&data))
            {
                out.insert((tenant, code.to_string()), event.presence());
            }
        }
        Ok(out)
    }

    /// After a crash: repairs `.part` recordings (flagging them in the log) and gives every call
    /// that has events but no record a record, ended by the system.
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

    async fn recover_call(
        &self,
        tenant: TenantId,
        call_id: &str,
        recordings_dir: &std::path::Path,
        repaired: &[yunhu_media::wav::RecordingInfo],
    ) -> Result<(), CcError> {
        let events = self.db.call_events(tenant, call_id).await?;
        let started: Option<String> = events.iter().find_map(|(_, kind, _, data)| {
            (kind == "recording_started").then(|| serde_json::from_str::<CallEventKind>(data).ok()).flatten().and_then(
                |k| match k {
                    CallEventKind::RecordingStarted { path } => Some(path),
                    _ => None,
                },
            )
        });
        if let Some(rel) = started {
            let full = recordings_dir.join(&rel);
            if let Some(info) = repaired.iter().find(|r| r.path == full) {
                self.log_call_event(
                    tenant,
                    call_id,
                    CallEventKind::RecordingStopped { path: rel, duration_ms: info.duration_ms(), repaired: true },
                )
                .await?;
            }
        }
        if !events.iter().any(|(_, kind, _, _)| kind == "hung_up") {
            self.log_call_event(
                tenant,
                call_id,
                CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System },
            )
            .await?;
        }
        self.project_call(tenant, call_id).await?;
        tracing::warn!(%call_id, "call interrupted by a restart was recorded");
        Ok(())
    }
}

/// Frees the staff of a call again when the call is over, however it ends.
struct LiveGuard {
    switch: Switch,
    keys: Vec<(TenantId, String)>,
}

impl LiveGuard {
    fn answered(&self) {
        let mut live = self.switch.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            if let Some(c) = live.get_mut(k)
                && let PhoneState::Ringing { peer } = &c.state
            {
                c.state = PhoneState::InCall { peer: peer.clone() };
            }
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut live = self.switch.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            live.remove(k);
        }
    }
}

/// Who is who on a bridged incoming call.
struct Bridge {
    direction: &'static str,
    staff: String,
    extension: String,
    customer: String,
    caller_id: String,
    trunk: String,
    caller_side: Side,
}

fn answer_for(offer: &str, media_ip: IpAddr, port: u16) -> Option<(String, LegMedia)> {
    let theirs = sdp::parse(offer)?;
    let codec = sdp::choose(&theirs)?;
    let ours = AudioDescription { addr: media_ip, port, codecs: vec![codec], telephone_event: theirs.telephone_event };
    let media =
        LegMedia { remote: SocketAddr::new(theirs.addr, theirs.port), codec, telephone_event: theirs.telephone_event };
    Some((sdp::render(u64::from(port), &ours), media))
}

impl Switch {
    /// A call placed by a registered extension: a feature code or another extension.
    async fn incoming(&self, call: IncomingCall) {
        let IncomingCall { tenant, caller, dialed, sdp: offer, leg, trunk, .. } = call;
        let svc = self.inner.services.clone();
        let Ok(tenant) = svc.tenant_by_id(TenantId(tenant)).await else { return leg.reject(480) };
        if let Some(trunk) = trunk {
            // A carrier's call: the dialled number is an extension of the tenant.
            tracing::info!(trunk, caller = %mask_phone(&caller), dialed = %dialed, "inbound call");
            let bridge = Bridge {
                direction: "inbound",
                staff: String::new(),
                extension: dialed.clone(),
                customer: caller.clone(),
                caller_id: caller,
                trunk,
                caller_side: Side::Customer,
            };
            if let Err(e) = self.bridge_to_extension(&tenant, bridge, &dialed, &offer, leg).await {
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
            "004" => {
                let mut names = vec!["your_extension".to_string()];
                names.extend(caller.chars().filter(char::is_ascii_digit).map(|d| format!("digit_{d}")));
                (None, names)
            }
            _ => {
                let ext = row["agent_id"].text().to_string();
                let bridge = Bridge {
                    direction: "internal",
                    staff: user_code,
                    extension: ext.clone(),
                    customer: dialed.clone(),
                    caller_id: ext,
                    trunk: String::new(),
                    caller_side: Side::Agent,
                };
                if let Err(e) = self.bridge_to_extension(&tenant, bridge, &dialed, &offer, leg).await {
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
        self.play_and_hang_up(leg, &offer, samples).await;
    }

    /// Answers, plays the samples, hangs up (or stops when the caller does).
    async fn play_and_hang_up(&self, mut leg: yunhu_sip::IncomingLeg, offer: &str, samples: Arc<[i16]>) {
        let cfg = &self.inner.config;
        let (tx, mut events) = mpsc::unbounded_channel();
        let Ok(session) = MediaSession::open(&self.inner.ports, cfg.media_ip, tx) else { return leg.reject(503) };
        let Some((answer, media)) = answer_for(offer, cfg.media_ip, session.local_addr(LegId::A).port()) else {
            session.stop().await;
            return leg.reject(488);
        };
        session.set_remote(LegId::A, media).await;
        leg.answer(&answer);
        let limit = Duration::from_millis(samples.len() as u64 / 8 + 5000);
        session.play(LegId::A, samples).await;
        let hangup = leg.hangup_handle();
        let ended = tokio::time::timeout(limit, async {
            loop {
                tokio::select! {
                    Some(MediaEvent::PlayDone { .. }) = events.recv() => return false,
                    ev = leg.next() => if matches!(ev, Some(LegEvent::Ended { .. }) | None) { return true },
                }
            }
        })
        .await
        .unwrap_or(false);
        if !ended {
            hangup.hangup().await;
            let _ = tokio::time::timeout(Duration::from_secs(5), leg.next()).await;
        }
        session.stop().await;
    }

    /// Rings extension `dialed` for an incoming leg and bridges them, media anchored and recorded
    /// like any call: extension to extension, or a carrier's call to an extension.
    async fn bridge_to_extension(
        &self,
        tenant: &Tenant,
        bridge: Bridge,
        dialed: &str,
        offer: &str,
        mut leg: yunhu_sip::IncomingLeg,
    ) -> Result<(), CcError> {
        let svc = &self.inner.services;
        let cfg = &self.inner.config;
        let Ok(callee) = svc.staff_by_extension(tenant.id, dialed).await else {
            leg.reject(404);
            return Ok(());
        };
        let Some(binding) = self.inner.sip.bindings(&tenant.sip_domain, dialed).pop() else {
            leg.reject(480);
            return Ok(());
        };
        let call_id = new_stream_id();
        let (caller_side, callee_side) = match bridge.caller_side {
            Side::Agent => (Side::Agent, Side::Customer),
            Side::Customer => (Side::Customer, Side::Agent),
        };
        let hangup_side = |side: Side| if side == Side::Agent { HangupSide::Agent } else { HangupSide::Customer };
        let log = |kind: CallEventKind| svc.log_call_event_or_warn(tenant.id, &call_id, kind);
        let staff = if bridge.direction == "inbound" { callee["user_code"].text().to_string() } else { bridge.staff };
        log(CallEventKind::Created {
            direction: bridge.direction.into(),
            staff: staff.clone(),
            extension: bridge.extension,
            customer: bridge.customer.clone(),
            caller_id: bridge.caller_id.clone(),
            trunk: bridge.trunk,
            codeid_1: String::new(),
            codeid_2: String::new(),
            method: None,
            task_id: String::new(),
            call_data: Default::default(),
        });
        log(CallEventKind::LegCreated { side: caller_side });
        let (tx, mut media_events) = mpsc::unbounded_channel();
        let Ok(session) = MediaSession::open(&self.inner.ports, cfg.media_ip, tx) else {
            leg.reject(503);
            log(CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System });
            svc.project_call(tenant.id, &call_id).await?;
            return Ok(());
        };
        let Some((answer, caller_media)) = answer_for(offer, cfg.media_ip, session.local_addr(LegId::A).port()) else {
            leg.reject(488);
            session.stop().await;
            log(CallEventKind::HungUp { cause: Cause::NormalTemporaryFailure, side: HangupSide::System });
            svc.project_call(tenant.id, &call_id).await?;
            return Ok(());
        };
        log(CallEventKind::LegCreated { side: callee_side });
        let mut out = self
            .inner
            .sip
            .dial(Dial {
                request_uri: binding.contact.clone(),
                destination: binding.target(),
                tcp: binding.tcp,
                from_user: bridge.caller_id.clone(),
                from_domain: tenant.sip_domain.clone(),
                display_name: None,
                sdp: offer_sdp(cfg.media_ip, session.local_addr(LegId::B).port(), Some(caller_media.codec)),
                headers: vec![("X-Yunhu-Call".into(), call_id.clone())],
            })
            .map_err(|e| CcError::Invalid(e.to_string()))?;
        let out_hangup = out.hangup_handle();
        let in_hangup = leg.hangup_handle();
        let recording_rel = recording_name(tenant, &staff, &bridge.customer, &call_id);
        // The customer goes on the left channel: the caller on inbound calls, else the callee.
        let left = if caller_side == Side::Customer { LegId::A } else { LegId::B };
        let deadline = tokio::time::Instant::now() + cfg.ring_timeout;
        let (mut answered, mut caller_done, mut callee_done) = (false, false, false);
        let mut outcome: Option<(Cause, HangupSide)> = None;
        // The staff on the call are busy to ExtenStatus, to click-to-call, and can be hung up.
        let (tx, mut commands) = mpsc::unbounded_channel();
        let mut staff_on_call = vec![callee["user_code"].text().to_string()];
        if bridge.direction == "internal" {
            staff_on_call.push(staff.clone());
        }
        let live = self.mark_live(tenant.id, &staff_on_call, &call_id, &tx, &bridge.customer);
        while !(caller_done && callee_done) {
            tokio::select! {
                Some(CallCommand::Hangup) = commands.recv() => {
                    outcome.get_or_insert((
                        if answered { Cause::NormalClearing } else { Cause::OriginatorCancel },
                        HangupSide::System,
                    ));
                    if !callee_done { out_hangup.hangup().await }
                    if !caller_done {
                        if answered { in_hangup.hangup().await } else { leg.reject(480) }
                    }
                }
                ev = out.next(), if !callee_done => match ev {
                    Some(LegEvent::Ringing) => {
                        leg.ring();
                        log(CallEventKind::Ringing { side: callee_side });
                    }
                    Some(LegEvent::Answered { sdp }) => {
                        log(CallEventKind::Answered { side: callee_side });
                        if let Some(media) = leg_media(&sdp) {
                            session.set_remote(LegId::B, media).await;
                        }
                        session.set_remote(LegId::A, caller_media).await;
                        leg.answer(&answer);
                        answered = true;
                        live.answered();
                        log(CallEventKind::Answered { side: caller_side });
                        session.record(cfg.recordings_dir.join(&recording_rel), left).await;
                        log(CallEventKind::Bridged);
                    }
                    Some(LegEvent::Ended { status, by }) => {
                        callee_done = true;
                        log(CallEventKind::LegEnded { side: callee_side, status });
                        let cause = if answered { Cause::NormalClearing } else { Cause::from_sip_status(status) };
                        let side = if by == EndedBy::Remote { hangup_side(callee_side) } else { HangupSide::System };
                        outcome.get_or_insert((cause, side));
                        // A callee we cancelled (ring timeout) is "no answer" to the caller, not 487.
                        let to_caller = if status >= 400 && status != 487 { status } else { 480 };
                        if answered { in_hangup.hangup().await } else { leg.reject(to_caller) }
                    }
                    None => callee_done = true,
                },
                ev = leg.next(), if !caller_done => match ev {
                    Some(LegEvent::Ended { status, by }) => {
                        caller_done = true;
                        log(CallEventKind::LegEnded { side: caller_side, status });
                        let cause = if answered { Cause::NormalClearing } else { Cause::OriginatorCancel };
                        let side = if by == EndedBy::Remote { hangup_side(caller_side) } else { HangupSide::System };
                        outcome.get_or_insert((cause, side));
                        if !callee_done { out_hangup.hangup().await }
                    }
                    None => caller_done = true,
                    _ => {}
                },
                Some(ev) = media_events.recv() => {
                    if let Some(kind) = media_event(ev, [caller_side, callee_side], &recording_rel) {
                        log(kind);
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !answered && outcome.is_none() => {
                    outcome = Some((Cause::NoAnswer, hangup_side(callee_side)));
                    out_hangup.hangup().await;
                }
                _ = tokio::time::sleep(Duration::from_secs(10)), if outcome.is_some() => break,
            }
        }
        let end = session.stop().await;
        log(media_stats(&end.stats));
        if let Some(Ok(info)) = end.recording {
            log(CallEventKind::RecordingStopped {
                path: recording_rel,
                duration_ms: info.duration_ms(),
                repaired: false,
            });
        }
        let (cause, side) = outcome.unwrap_or((Cause::NormalClearing, HangupSide::System));
        log(CallEventKind::HungUp { cause, side });
        svc.project_call(tenant.id, &call_id).await?;
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

    #[test]
    fn the_cause_of_a_leg_end() {
        assert_eq!(end_cause(true, false, false, 487), Cause::NoAnswer);
        assert_eq!(end_cause(false, true, false, 200), Cause::NormalClearing);
        assert_eq!(end_cause(false, false, true, 487), Cause::OriginatorCancel);
        assert_eq!(end_cause(false, false, false, 486), Cause::UserBusy);
    }
}
