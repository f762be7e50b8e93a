//! The contact-center services of yunhu. Every skin (dialect) and the admin surface call these;
//! none of them touches SQL.

pub mod agents;
pub mod auth;
pub mod bus;
pub mod calls;
pub mod dialer;
pub mod directory;
pub mod error;
mod eventlog;
pub use eventlog::EventLogHealth;
pub mod forms;
pub mod lines;
pub mod numberfile;
pub mod objects;
pub mod outbound;
pub mod passwords;
pub mod prompts;
pub mod provision;
pub mod recording_store;
pub mod recordings;
pub mod secrets;
pub mod sms;
pub mod switch;

pub use error::CcError;

/// The checks of names that come from requests which are not public otherwise, for the fuzz
/// targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// The recording name a call of this tenant, staff member, customer and call id gets.
    pub fn recording_name(tenant: &crate::Tenant, staff: &str, customer: &str, call_id: &str) -> String {
        crate::switch::recording_name(tenant, staff, customer, call_id)
    }

    /// Whether a stored recording name is served (it stays below the recordings directory).
    pub fn stays_inside(name: &str) -> bool {
        crate::recordings::stays_inside(name)
    }
}
pub use yunhu_store::{Change, Db, TenantId, directory::Tenant};

use secrets::Sealer;
use std::sync::Arc;
use yunhu_core::Clock;

/// The services, sharing one store, one clock and one sealing key.
#[derive(Clone)]
pub struct Services {
    db: Db,
    clock: Arc<dyn Clock>,
    sealer: Arc<Sealer>,
    events: eventlog::EventLog,
    /// Committed events, live, for whoever watches (agent desktops).
    bus: Arc<dyn bus::EventBus>,
    /// Agent state and desktop feeds.
    agents: Arc<agents::Agents>,
    /// Recently verified dialect credentials: key → (tenant, valid until ms).
    verified: Arc<std::sync::Mutex<std::collections::HashMap<String, (TenantId, i64)>>>,
    /// crm signatures seen in the last window: sign → forget after (s).
    seen_signs: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// SMS sending: the HTTP client and the rate-limit lock.
    sms: Arc<sms::SmsState>,
    /// The threads password checks run on (made on first use; see [`Services::set_password_limits`]).
    passwords: Arc<std::sync::OnceLock<passwords::PasswordPool>>,
    /// Failed logins per client and source address.
    backoff: Arc<std::sync::Mutex<passwords::Backoff>>,
    /// The object store recordings are uploaded to, when one is configured.
    recording_store: Arc<std::sync::OnceLock<Arc<recording_store::RecordingStore>>>,
}

impl Services {
    /// Wires the services over an opened store (inside a tokio runtime: it starts the event writer).
    pub fn new(db: Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        Self::with_bus(db, clock, sealer, Arc::new(bus::LocalBus::default()))
    }

    /// Like [`Services::new`], with committed events spread on `bus` (the bus between nodes).
    pub fn with_bus(db: Db, clock: Arc<dyn Clock>, sealer: Sealer, bus: Arc<dyn bus::EventBus>) -> Self {
        let events = eventlog::EventLog::start(db.clone(), bus.clone());
        Self {
            db,
            clock,
            sealer: Arc::new(sealer),
            events,
            bus,
            agents: Arc::default(),
            verified: Arc::default(),
            seen_signs: Arc::default(),
            sms: Arc::default(),
            passwords: Arc::default(),
            backoff: Arc::default(),
            recording_store: Arc::default(),
        }
    }

    /// The store (for wiring and tests).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Waits until every event queued so far is written and on disk.
    pub async fn flush_events(&self) -> Result<(), CcError> {
        self.events.flush(true).await
    }

    /// How far behind the event log's writer is (for `/metrics`).
    pub fn event_log_health(&self) -> EventLogHealth {
        self.events.health()
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The live tenant with `corp_id`, or `NotFound`.
    pub async fn tenant(&self, corp_id: &str) -> Result<Tenant, CcError> {
        self.db.tenant_by_corp(corp_id).await?.ok_or_else(|| CcError::NotFound(format!("tenant {corp_id}")))
    }

    /// The live tenant with numeric id `id`, or `NotFound`.
    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Tenant, CcError> {
        self.db.tenant_by_id(id).await?.ok_or_else(|| CcError::NotFound(format!("tenant {}", id.0)))
    }
}

/// How a login refused for load or for repeated failures is worded; the skins answer it in their
/// own "try again later" form.
pub const LOGIN_BUSY: &str = "too many login attempts or checks under way; try again later";

impl Services {
    /// Sets how many threads check passwords and how many checks may wait; takes effect only
    /// before the first login (the pool is made once).
    pub fn set_password_limits(&self, threads: usize, queue: usize) {
        let _ = self.passwords.set(passwords::PasswordPool::new(threads, queue));
    }

    /// The password threads' limits: (threads, queue).
    pub fn password_limits(&self) -> (usize, usize) {
        self.password_pool().limits()
    }

    fn password_pool(&self) -> &passwords::PasswordPool {
        self.passwords.get_or_init(|| passwords::PasswordPool::new(1, 16))
    }

    /// Checks a login's `secret` against `phc` (`None`: an unknown account, checked against a
    /// throwaway hash for the same work) on the password threads. `client` names the account
    /// for failure counting. A client or source backing off after failures, or a full queue, is
    /// refused unchecked: `CcError::Refused(LOGIN_BUSY)`.
    pub(crate) async fn check_password(
        &self,
        client: &str,
        source: Option<std::net::IpAddr>,
        secret: &str,
        phc: Option<&str>,
    ) -> Result<bool, CcError> {
        let now = self.now_ms();
        let wait = self.backoff.lock().unwrap_or_else(|e| e.into_inner()).wait_ms(client, source, now);
        if wait > 0 {
            return Err(CcError::Refused(LOGIN_BUSY.into()));
        }
        let Ok(good) = self.password_pool().verify(secret, phc).await else {
            return Err(CcError::Refused(LOGIN_BUSY.into()));
        };
        let mut backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        if good {
            backoff.succeeded(client, source, now);
        } else {
            backoff.failed(client, source, now);
        }
        Ok(good)
    }
}
