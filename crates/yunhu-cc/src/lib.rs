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
pub mod forms;
pub mod lines;
pub mod numberfile;
pub mod objects;
pub mod outbound;
pub mod prompts;
pub mod provision;
pub mod recordings;
pub mod secrets;
pub mod sms;
pub mod switch;

pub use error::CcError;
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
}

impl Services {
    /// Wires the services over an opened store (inside a tokio runtime: it starts the event writer).
    pub fn new(db: Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        let bus: Arc<dyn bus::EventBus> = Arc::new(bus::LocalBus::default());
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
