//! The wallboard: a queue at a glance — callers waiting, agents by state, service level, ASA —
//! from the ACD's counters and the agents' states; and a queue's history per interval, counted
//! from the call records with the same formulas (`yunhu_acd::QueueStats`).

use super::Switch;
use super::queue::key;
use crate::calls::RosterEntry;
use crate::objects::QueueAcd;
use crate::{CcError, Services, Tenant};
use yunhu_acd::QueueStats;

/// A queue at a glance, for the wallboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueBoard {
    /// The skill group.
    pub queue: String,
    /// Its name.
    pub name: String,
    /// Callers on the line waiting.
    pub waiting: usize,
    /// The longest wait of a caller on the line (s).
    pub longest_wait_secs: i64,
    /// Callbacks waiting for their turn.
    pub callbacks_pending: usize,
    /// Member agents by state: ready (idle), on a call, after-call work, not ready, logged out.
    pub agents: AgentCounts,
    /// Callers who entered, were answered, abandoned, overflowed (since the node started).
    pub entered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Hung up while waiting.
    pub abandoned: u64,
    /// Sent to the overflow.
    pub overflowed: u64,
    /// Answered within the threshold of answered; `null` before any answer.
    pub service_level: Option<f64>,
    /// Answered or abandoned within the threshold of answered and abandoned.
    pub service_level_with_abandons: Option<f64>,
    /// The service-level threshold (s).
    pub service_level_secs: i64,
    /// Average speed of answer (s).
    pub asa_secs: Option<f64>,
}

/// Member agents by state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AgentCounts {
    /// Ready and idle.
    pub ready: usize,
    /// On a call.
    pub on_call: usize,
    /// In after-call work.
    pub after_call_work: usize,
    /// Not ready (any reason).
    pub not_ready: usize,
    /// Logged out.
    pub logged_out: usize,
}

impl Switch {
    /// The wallboard of one of the tenant's queues.
    pub async fn wallboard(&self, tenant: &Tenant, code: &str) -> Result<QueueBoard, CcError> {
        let svc = &self.inner.services;
        let row = svc.db.get_row(tenant.id, &yunhu_store::directory::QUEUES, &[code.into()]).await?;
        let Some((row, false)) = row else {
            return Err(CcError::NotFound(format!("queue {code}")));
        };
        let roster = svc.roster(tenant.id, true).await?;
        Ok(self.board(tenant, &row, &roster))
    }

    /// The wallboards of all the tenant's inbound queues, in code order.
    pub async fn wallboards(&self, tenant: &Tenant) -> Result<Vec<QueueBoard>, CcError> {
        let svc = &self.inner.services;
        let queues = svc.db.list_rows(tenant.id, &yunhu_store::directory::QUEUES).await?;
        let inbound: Vec<_> = queues.iter().filter(|q| q["direction"].text() == "in").collect();
        if inbound.is_empty() {
            return Ok(Vec::new());
        }
        let roster = svc.roster(tenant.id, true).await?;
        Ok(inbound.iter().map(|q| self.board(tenant, q, &roster)).collect())
    }

    /// The wallboards of every tenant's inbound queues (for `/metrics`: bounded by the directory).
    pub async fn all_wallboards(&self) -> Result<Vec<(Tenant, Vec<QueueBoard>)>, CcError> {
        let mut all = Vec::new();
        for tenant in self.inner.services.db.list_tenants().await? {
            let boards = self.wallboards(&tenant).await?;
            if !boards.is_empty() {
                all.push((tenant, boards));
            }
        }
        Ok(all)
    }

    /// Calls running now (every kind: inbound, outbound, queued, between extensions).
    pub fn calls_up(&self) -> usize {
        self.inner.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The SIP stack's figures (for `/metrics`).
    pub fn sip_counts(&self) -> yunhu_sip::SipCounts {
        self.inner.sip.counts()
    }

    /// RTP packets received, sent and dropped by this process (for `/metrics`).
    pub fn media_packets(&self) -> yunhu_media::counters::PacketCounts {
        yunhu_media::counters::packets()
    }

    fn board(&self, tenant: &Tenant, row: &yunhu_store::Row, roster: &[RosterEntry]) -> QueueBoard {
        let svc = &self.inner.services;
        let (code, name) = (row["code"].text(), row["name"].text());
        let mut agents = AgentCounts::default();
        for m in roster.iter().filter(|m| m.queues.iter().any(|q| q == code)) {
            let s = svc.agent_state(tenant.id, &m.user_code);
            use yunhu_core::agent::Presence;
            match (s.presence, s.call.is_some() || self.on_call(tenant.id, &m.user_code)) {
                (Presence::LoggedOut, false) => agents.logged_out += 1,
                (_, true) => agents.on_call += 1,
                (Presence::Ready, false) => agents.ready += 1,
                (Presence::AfterCallWork, false) => agents.after_call_work += 1,
                (Presence::NotReady, false) => agents.not_ready += 1,
            }
        }
        let now = svc.now_ms();
        let acd = self.inner.queues.acd.lock().unwrap_or_else(|e| e.into_inner());
        let queue = key(tenant.id, code);
        // T as the ACD counted with; before the queue's first caller on this node, the directory's.
        let threshold =
            acd.queue_config(&queue).map_or(QueueAcd::of(row).service_level_secs * 1000, |c| c.service_level_ms);
        let w = acd.wallboard(&queue, now);
        drop(acd);
        let (waiting, longest_wait_ms, callbacks_pending, stats) = match w {
            Some(w) => (w.waiting, w.longest_wait_ms, w.callbacks_pending, w.stats),
            None => (0, 0, 0, QueueStats::default()),
        };
        QueueBoard {
            queue: code.to_string(),
            name: name.to_string(),
            waiting,
            longest_wait_secs: longest_wait_ms / 1000,
            callbacks_pending,
            agents,
            entered: stats.entered,
            answered: stats.answered,
            abandoned: stats.abandoned,
            overflowed: stats.overflowed,
            service_level: stats.service_level(),
            service_level_with_abandons: stats.service_level_with_abandons(),
            service_level_secs: threshold / 1000,
            asa_secs: stats.average_speed_of_answer_ms().map(|ms| ms as f64 / 1000.0),
        }
    }
}

/// A queue's history: its callers counted per interval by when they entered it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueHistory {
    /// The skill group.
    pub queue: String,
    /// The range's start (RFC 3339, UTC).
    pub from: String,
    /// The range's end, exclusive.
    pub to: String,
    /// The intervals' length (s).
    pub interval_secs: i64,
    /// The service-level threshold T (s).
    pub service_level_secs: i64,
    /// Every interval of the range, in order, empty ones included.
    pub intervals: Vec<QueueInterval>,
}

/// The callers who entered a queue within one interval.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueInterval {
    /// The interval's start (RFC 3339, UTC).
    pub start: String,
    /// Callers who entered (offered).
    pub offered: i64,
    /// Answered by an agent.
    pub answered: i64,
    /// Hung up while waiting.
    pub abandoned: i64,
    /// Sent to the overflow.
    pub overflowed: i64,
    /// Left the line for a callback.
    pub callbacks: i64,
    /// Answered within T of answered; `null` without answers.
    pub service_level: Option<f64>,
    /// Answered or abandoned within T of both; `null` without either.
    pub service_level_with_abandons: Option<f64>,
    /// Average speed of answer (s).
    pub asa_secs: Option<f64>,
}

/// Most intervals one history answers (a month of quarter hours, and some).
pub const HISTORY_MAX_INTERVALS: i64 = 3_000;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// The history reads only records, so it is a service of its own: it answers with telephony off.
impl Services {
    /// Queue `code`'s history in `[from_ms, to_ms)` per `interval_secs`, with service level
    /// threshold `service_level_secs` (default the queue's own).
    pub async fn queue_history(
        &self,
        tenant: &Tenant,
        code: &str,
        (from_ms, to_ms): (i64, i64),
        interval_secs: i64,
        service_level_secs: Option<i64>,
    ) -> Result<QueueHistory, CcError> {
        // A deleted queue's history is still there to read.
        let Some((row, _)) = self.db.get_row(tenant.id, &yunhu_store::directory::QUEUES, &[code.into()]).await? else {
            return Err(CcError::NotFound(format!("queue {code}")));
        };
        let service_level_secs = service_level_secs.unwrap_or_else(|| QueueAcd::of(&row).service_level_secs);
        if service_level_secs < 0 {
            return Err(CcError::Invalid("sl is at least 0 s".into()));
        }
        if interval_secs < 60 {
            return Err(CcError::Invalid("interval is at least 60 s".into()));
        }
        if to_ms <= from_ms {
            return Err(CcError::Invalid("to must be after from".into()));
        }
        let interval_ms = interval_secs * 1000;
        let count = (to_ms - from_ms + interval_ms - 1) / interval_ms;
        if count > HISTORY_MAX_INTERVALS {
            return Err(CcError::Invalid(format!("at most {HISTORY_MAX_INTERVALS} intervals; this range has {count}")));
        }
        let threshold_ms = service_level_secs * 1000;
        let slots = self.db.queue_history(tenant.id, code, from_ms, to_ms, interval_ms, threshold_ms).await?;
        let mut slots = slots.into_iter().peekable();
        let intervals = (0..count)
            .map(|i| {
                let mut s = QueueStats::default();
                let mut row = yunhu_store::queues::QueueSlot::default();
                if slots.peek().is_some_and(|r| r.slot == i) {
                    row = slots.next().unwrap_or_default();
                    s.answered = row.answered as u64;
                    s.answered_within = row.answered_within as u64;
                    s.abandoned = row.abandoned as u64;
                    s.abandoned_within = row.abandoned_within as u64;
                    s.answer_wait_ms = row.answer_wait_ms;
                }
                QueueInterval {
                    start: rfc3339(from_ms + i * interval_ms),
                    offered: row.offered,
                    answered: row.answered,
                    abandoned: row.abandoned,
                    overflowed: row.overflowed,
                    callbacks: row.callbacks,
                    service_level: s.service_level(),
                    service_level_with_abandons: s.service_level_with_abandons(),
                    asa_secs: s.average_speed_of_answer_ms().map(|ms| ms as f64 / 1000.0),
                }
            })
            .collect();
        Ok(QueueHistory {
            queue: code.to_string(),
            from: rfc3339(from_ms),
            to: rfc3339(to_ms),
            interval_secs,
            service_level_secs,
            intervals,
        })
    }
}
