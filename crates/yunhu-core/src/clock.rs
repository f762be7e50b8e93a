//! Time source, injectable so tests can move time (token expiry, nonce expiry) without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A test clock: it runs like the wall clock from `start`, and can be moved forward at once
/// (to expire tokens without waiting).
#[derive(Debug)]
pub struct ManualClock {
    started: std::time::Instant,
    offset: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start` now.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { started: std::time::Instant::now(), offset: Mutex::new(start) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut base = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *base += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let base = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        base + Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}
