//! Agent state kept by the server: presence, the call an agent is on, after-call work and its
//! limit, desktops that went silent — and the live feed of an agent's desktop.
//!
//! Every change is an event in the log first (`agent/<account>` for presence, `desk/<account>`
//! for calls reaching the agent, `announce/all` for announcements); the state here is those
//! events folded by the pure [`AgentState`], and a restart folds them again. Desktops are fed
//! from the committed events through the [`EventBus`](crate::bus::EventBus), so a desktop can
//! be served by any node that sees the bus, and one that missed events reads them back from the
//! log by id.

use crate::bus::FeedEvent;
use crate::secrets::{new_token, token_hash};
use crate::{CcError, Services, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use yunhu_core::agent::{
    ANNOUNCE_STREAM, AfterCall, AgentEventKind, AgentState, BUILT_IN_REASONS, DESKTOP_LOST_REASON, DeskEventKind,
    Presence, agent_stream, desk_stream,
};

type AgentKey = (TenantId, String);
/// The desktops subscribed to one agent's feed: subscription id and where to send.
type Subscribers = Vec<(u64, mpsc::UnboundedSender<DeskMessage>)>;

/// What a desktop's subscription receives: an event of its agent, or word that the bus dropped
/// events and the feed must be read back from the log.
#[derive(Debug, Clone)]
pub enum DeskMessage {
    /// A committed event of the agent's feed.
    Event(Arc<FeedEvent>),
    /// Events were lost on the way: read the log after the last id seen.
    Resync,
}

/// The agents' shared state (one per process).
pub(crate) struct Agents {
    states: Mutex<HashMap<AgentKey, AgentState>>,
    loaded: tokio::sync::OnceCell<()>,
    /// When each watched agent's desktops were last heard from (ms).
    heard: Mutex<HashMap<AgentKey, i64>>,
    /// Desktops subscribed to their agent's feed.
    subscribers: Mutex<HashMap<AgentKey, Subscribers>>,
    next_subscriber: AtomicU64,
    /// How long a desktop may stay silent before its idle agent is put not ready (ms).
    silence_limit_ms: AtomicI64,
}

impl Default for Agents {
    fn default() -> Self {
        Agents {
            states: Mutex::default(),
            loaded: tokio::sync::OnceCell::new(),
            heard: Mutex::default(),
            subscribers: Mutex::default(),
            next_subscriber: AtomicU64::new(1),
            silence_limit_ms: AtomicI64::new(DEFAULT_DESK_SILENCE.as_millis() as i64),
        }
    }
}

/// Default of how long a desktop may stay silent while its agent is idle.
pub const DEFAULT_DESK_SILENCE: Duration = Duration::from_secs(60);
/// How often the server checks wrap-up limits and silent desktops.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Default lifetime of a desk token: a long shift.
pub const DESK_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// A desktop's subscription to its agent's live feed; dropping it unsubscribes.
pub struct DeskSubscription {
    /// The agent's events, as committed.
    pub rx: mpsc::UnboundedReceiver<DeskMessage>,
    id: u64,
    key: AgentKey,
    services: Services,
}

impl Drop for DeskSubscription {
    fn drop(&mut self) {
        let agents = &self.services.agents;
        let mut subs = lock(&agents.subscribers);
        if let Some(list) = subs.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subs.remove(&self.key);
            }
        }
        // The silence clock runs from when the desktop last answered, not from its close.
    }
}

/// The tenant's workbench settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeskSettings {
    /// After-call work: 0 none, -1 until the form or nextCall, n > 0 at most n seconds.
    pub wrap_up_secs: i64,
    /// The tenant's own not-ready reasons, code → name (beside the built-in ones).
    #[serde(default)]
    pub reasons: std::collections::BTreeMap<String, String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Services {
    /// Loads every agent's state from the log (once) and starts the watchers: the desk feed's
    /// router and the wrap-up / silent-desktop watchdog. Every entry point calls it first.
    pub async fn agents_ready(&self) -> Result<(), CcError> {
        self.agents
            .loaded
            .get_or_try_init(|| async {
                let now = self.now_ms();
                let mut states = HashMap::new();
                let mut heard = HashMap::new();
                for (tenant, stream, data) in self.db.latest_agent_events().await? {
                    let (Some(code), Ok(event)) =
                        (stream.strip_prefix("agent/"), serde_json::from_str::<AgentEventKind>(&data))
                    else {
                        continue;
                    };
                    let mut state = AgentState::default();
                    // The presence counts from the restart: its start before is in the log.
                    state.apply(&event, now);
                    if let AgentEventKind::AgentWrapUp { until, .. } = event {
                        state.wrap_up_until = until;
                    }
                    // A desk login is watched: with no desktop back within the limit, the agent
                    // goes not ready rather than staying a ghost.
                    if matches!(&event, AgentEventKind::AgentLogin { via } if via == "desk") {
                        heard.insert((tenant, code.to_string()), now);
                    }
                    states.insert((tenant, code.to_string()), state);
                }
                *lock(&self.agents.states) = states;
                *lock(&self.agents.heard) = heard;
                self.start_desk_router();
                self.start_agent_watchdog();
                Ok::<(), CcError>(())
            })
            .await?;
        Ok(())
    }

    /// Sets how long a desktop may stay silent while its agent is idle.
    pub fn set_desk_silence_limit(&self, limit: Duration) {
        self.agents.silence_limit_ms.store(limit.as_millis() as i64, Ordering::Relaxed);
    }

    /// How long a desktop may stay silent while its agent is idle.
    pub fn desk_silence_limit(&self) -> Duration {
        Duration::from_millis(self.agents.silence_limit_ms.load(Ordering::Relaxed).max(0) as u64)
    }

    /// An agent's state now (logged out if never seen).
    pub fn agent_state(&self, tenant: TenantId, user_code: &str) -> AgentState {
        lock(&self.agents.states).get(&(tenant, user_code.to_string())).cloned().unwrap_or_default()
    }

    /// An agent's presence.
    pub fn presence(&self, tenant: TenantId, user_code: &str) -> Presence {
        lock(&self.agents.states).get(&(tenant, user_code.to_string())).map_or(Presence::LoggedOut, |s| s.presence)
    }

    /// Changes an agent's presence: logged (580-583) and waited on, then applied.
    pub async fn set_presence(&self, tenant: TenantId, user_code: &str, event: AgentEventKind) -> Result<(), CcError> {
        self.agents_ready().await?;
        let data = serde_json::to_string(&event).map_err(|e| CcError::Invalid(e.to_string()))?;
        let now = self.now_ms();
        self.events.append((tenant, agent_stream(user_code), event.name(), now, data)).await?;
        lock(&self.agents.states).entry((tenant, user_code.to_string())).or_default().apply(&event, now);
        if let AgentEventKind::AgentLogout { .. } = &event {
            lock(&self.agents.heard).remove(&(tenant, user_code.to_string()));
        }
        Ok(())
    }

    /// Logs a desk event of an agent (queued with the next commit) and applies it.
    fn desk_event(&self, tenant: TenantId, user_code: &str, event: DeskEventKind) {
        let now = self.now_ms();
        lock(&self.agents.states).entry((tenant, user_code.to_string())).or_default().apply_desk(&event, now);
        let queued = serde_json::to_string(&event)
            .map_err(|e| CcError::Invalid(e.to_string()))
            .and_then(|data| self.events.append_later((tenant, desk_stream(user_code), event.name(), now, data)));
        if let Err(e) = queued {
            tracing::error!(error = %e, "desk event could not be logged");
        }
    }

    /// A call reached a staff member's phone (or they placed it): busy.
    pub fn agent_call_started(&self, tenant: TenantId, user_code: &str, call_id: &str, peer: &str) {
        let event = DeskEventKind::DeskCallStarted { call_id: call_id.into(), peer: peer.into() };
        self.desk_event(tenant, user_code, event);
    }

    /// A staff member is talking on the call: the desk pops the customer.
    pub fn agent_call_connected(&self, tenant: TenantId, user_code: &str, call_id: &str, peer: &str) {
        let event = DeskEventKind::DeskCallConnected { call_id: call_id.into(), peer: peer.into() };
        self.desk_event(tenant, user_code, event);
    }

    /// The call left a staff member: after-call work if they talked on it and the tenant keeps
    /// one, free otherwise. The agent stays unroutable until this is decided.
    pub fn agent_call_ended(&self, tenant: TenantId, user_code: &str, call_id: &str) {
        let svc = self.clone();
        let (code, call_id) = (user_code.to_string(), call_id.to_string());
        tokio::spawn(async move {
            let wrap_up = svc.db.desk_settings(tenant).await.map(|(w, _)| w).unwrap_or(0);
            let after = svc.agent_state(tenant, &code).after_call(&call_id, wrap_up, svc.now_ms());
            match after {
                AfterCall::WrapUp(event) => {
                    if let Err(e) = svc.set_presence(tenant, &code, event).await {
                        tracing::error!(error = %e, "after-call work could not begin");
                    }
                }
                AfterCall::Free(event) => svc.desk_event(tenant, &code, event),
            }
        });
    }

    /// Ends an agent's after-call work (`how`: `submit`, `next_call`, `limit`); `false` if the
    /// agent was not in it.
    pub async fn end_wrap_up(&self, tenant: TenantId, user_code: &str) -> Result<bool, CcError> {
        if self.presence(tenant, user_code) != Presence::AfterCallWork {
            return Ok(false);
        }
        self.set_presence(tenant, user_code, AgentEventKind::AgentReady).await?;
        Ok(true)
    }

    /// Notes that an agent's desktop was heard from (connected, answered a ping, sent a frame).
    /// From its first connection on, the agent is watched: a desktop silent past the limit puts
    /// the idle agent not ready. An agent who never opened the monitor (phones, REST only) is not.
    pub fn desk_heard(&self, tenant: TenantId, user_code: &str) {
        lock(&self.agents.heard).insert((tenant, user_code.to_string()), self.now_ms());
    }

    /// Subscribes a desktop to its agent's live feed.
    pub async fn desk_subscribe(&self, tenant: TenantId, user_code: &str) -> Result<DeskSubscription, CcError> {
        self.agents_ready().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.agents.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let key = (tenant, user_code.to_string());
        lock(&self.agents.subscribers).entry(key.clone()).or_default().push((id, tx));
        self.desk_heard(tenant, user_code);
        Ok(DeskSubscription { rx, id, key, services: self.clone() })
    }

    /// The agent's feed after event `after_id`, oldest first, at most `limit` events.
    pub async fn desk_feed(
        &self,
        tenant: TenantId,
        user_code: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<FeedEvent>, CcError> {
        Ok(self.db.desk_feed(tenant, user_code, after_id, limit).await?)
    }

    /// The newest event id of the agent's feed.
    pub async fn desk_feed_head(&self, tenant: TenantId, user_code: &str) -> Result<i64, CcError> {
        Ok(self.db.desk_feed_head(tenant, user_code).await?)
    }

    /// Announces `msg` to every agent of the tenant (a `message` frame on their desktops).
    pub async fn announce(&self, tenant: TenantId, msg: &str) -> Result<i64, CcError> {
        let msg = msg.trim();
        if msg.is_empty() || msg.chars().count() > 2000 {
            return Err(CcError::Invalid("an announcement has 1-2000 characters".into()));
        }
        let event = DeskEventKind::Announcement { msg: msg.to_string() };
        let data = serde_json::to_string(&event).map_err(|e| CcError::Invalid(e.to_string()))?;
        self.events.append((tenant, ANNOUNCE_STREAM.to_string(), event.name(), self.now_ms(), data)).await
    }

    /// The tenant's workbench settings.
    pub async fn desk_settings(&self, tenant: TenantId) -> Result<DeskSettings, CcError> {
        let (wrap_up_secs, reasons) = self.db.desk_settings(tenant).await?;
        Ok(DeskSettings { wrap_up_secs, reasons: serde_json::from_str(&reasons).unwrap_or_default() })
    }

    /// Sets the tenant's workbench settings; whether they changed.
    pub async fn set_desk_settings(&self, tenant: TenantId, s: &DeskSettings) -> Result<bool, CcError> {
        if s.wrap_up_secs < -1 || s.wrap_up_secs > 24 * 3600 {
            return Err(CcError::Invalid("wrap_up_secs is -1 (no limit), 0 (none) or 1-86400 seconds".into()));
        }
        for (code, name) in &s.reasons {
            let builtin = BUILT_IN_REASONS.iter().any(|(c, _)| c == code);
            if builtin || code.is_empty() || code.len() > 32 || name.trim().is_empty() {
                return Err(CcError::Invalid(format!("reason {code:?}: a new code of 1-32 characters with a name")));
            }
        }
        let reasons = serde_json::to_string(&s.reasons).map_err(|e| CcError::Invalid(e.to_string()))?;
        Ok(self.db.set_desk_settings(tenant, s.wrap_up_secs, &reasons).await?)
    }

    /// Every not-ready reason of the tenant, code and name: the built-in ones, then its own.
    pub async fn not_ready_reasons(&self, tenant: TenantId) -> Result<Vec<(String, String)>, CcError> {
        let mut out: Vec<(String, String)> =
            BUILT_IN_REASONS.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
        out.extend(self.desk_settings(tenant).await?.reasons);
        Ok(out)
    }

    /// Exchanges a staff account and desk password for a desk token: `(token, expires_in secs)`.
    /// Unknown tenant, unknown account, no desk password and a wrong one all answer the same.
    /// The check runs on the password threads; a login backing off or finding them full is
    /// `CcError::Refused`.
    pub async fn desk_login(
        &self,
        source: Option<std::net::IpAddr>,
        corp_id: &str,
        user_code: &str,
        password: &str,
    ) -> Result<(String, i64), CcError> {
        let refused = || CcError::Invalid("wrong corp, account or password".into());
        let found = self.db.desk_login(corp_id, user_code).await?;
        // An unknown account, or one without a desk password, costs the same work as a real check,
        // so timing does not tell accounts apart.
        let phc = found.as_ref().map(|(_, hash)| hash.as_str()).filter(|h| !h.is_empty());
        if !self.check_password(&format!("desk\0{corp_id}\0{user_code}"), source, password, phc).await? {
            return Err(refused());
        }
        let Some((tenant, _)) = found else { return Err(refused()) };
        self.desk_token_for(tenant, user_code, DESK_TOKEN_TTL).await
    }

    /// A desk token for one agent of one tenant (a CRM's server embedding the desk asks for one
    /// through its own API client): `(token, expires_in secs)`.
    pub async fn desk_token_for(
        &self,
        tenant: TenantId,
        user_code: &str,
        ttl: Duration,
    ) -> Result<(String, i64), CcError> {
        let staff = self.db.get_row(tenant, &yunhu_store::directory::STAFF, &[user_code.into()]).await?;
        if staff.is_none_or(|(s, deleted)| deleted || s["enabled"].int() == 0) {
            return Err(CcError::NotFound(format!("staff {user_code}")));
        }
        let token = new_token();
        let now = self.now_ms();
        let ttl_ms = ttl.as_millis() as i64;
        self.db.put_dialect_token(tenant, "desk", user_code, &token_hash(&token), now + ttl_ms, now).await?;
        Ok((token, ttl_ms / 1000))
    }

    /// The tenant and account a live desk token acts for.
    pub async fn desk_auth(&self, token: &str) -> Result<(TenantId, String), CcError> {
        self.db
            .desk_token(&token_hash(token), self.now_ms())
            .await?
            .ok_or_else(|| CcError::NotFound("desk token (unknown or expired)".into()))
    }

    /// Routes committed events of the bus to the desktops subscribed to their agent.
    fn start_desk_router(&self) {
        let svc = self.clone();
        let mut rx = self.bus.subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => svc.route_desk_event(event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(lost)) => {
                        tracing::warn!(lost, "desk feed fell behind the bus; desktops read back from the log");
                        for list in lock(&svc.agents.subscribers).values() {
                            for (_, tx) in list {
                                let _ = tx.send(DeskMessage::Resync);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    fn route_desk_event(&self, event: Arc<FeedEvent>) {
        let subs = lock(&self.agents.subscribers);
        let send = |list: &Subscribers| {
            for (_, tx) in list {
                let _ = tx.send(DeskMessage::Event(event.clone()));
            }
        };
        if event.stream == ANNOUNCE_STREAM {
            for ((tenant, _), list) in subs.iter() {
                if *tenant == event.tenant {
                    send(list);
                }
            }
            return;
        }
        let code = event.stream.strip_prefix("agent/").or_else(|| event.stream.strip_prefix("desk/"));
        if let Some(list) = code.and_then(|c| subs.get(&(event.tenant, c.to_string()))) {
            send(list);
        }
    }

    /// Ends after-call work past its limit and puts agents whose desktops went silent not ready.
    fn start_agent_watchdog(&self) {
        let svc = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                svc.watch_agents().await;
            }
        });
    }

    async fn watch_agents(&self) {
        let now = self.now_ms();
        let limit = self.agents.silence_limit_ms.load(Ordering::Relaxed);
        let (expired, lost): (Vec<AgentKey>, Vec<AgentKey>) = {
            let states = lock(&self.agents.states);
            let heard = lock(&self.agents.heard);
            let subs = lock(&self.agents.subscribers);
            let expired = states.iter().filter(|(_, s)| s.wrap_up_expired(now)).map(|(k, _)| k.clone()).collect();
            let lost = heard
                .iter()
                .filter(|(k, last)| {
                    // A connected desktop answers pings; its socket closes itself when it stops.
                    !subs.contains_key(*k) && states.get(*k).is_some_and(|s| s.desktop_lost(**last, limit, now))
                })
                .map(|(k, _)| k.clone())
                .collect();
            (expired, lost)
        };
        for (tenant, code) in expired {
            match self.end_wrap_up(tenant, &code).await {
                Ok(_) => tracing::info!(agent = %code, "after-call work reached its limit"),
                Err(e) => tracing::error!(error = %e, "after-call work could not end"),
            }
        }
        for (tenant, code) in lost {
            lock(&self.agents.heard).remove(&(tenant, code.clone()));
            let event = AgentEventKind::AgentNotReady { reason: DESKTOP_LOST_REASON.into() };
            match self.set_presence(tenant, &code, event).await {
                Ok(()) => tracing::warn!(agent = %code, "desktop silent past the limit: agent put not ready"),
                Err(e) => tracing::error!(error = %e, "silent desktop"),
            }
        }
    }
}
