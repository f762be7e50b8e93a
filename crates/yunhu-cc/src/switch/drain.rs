//! Graceful drain: a node on its way out refuses new calls (SIP answers 503 with Retry-After,
//! the APIs refuse click-to-call, the dialer dials no new number) while the calls it has go on.

use super::{Command, Switch};

impl Switch {
    /// Starts draining: new INVITEs and OPTIONS get 503 with `Retry-After: retry_after_secs`,
    /// click-to-call and customer-first dials are refused with [`super::DialError::Draining`];
    /// live calls, re-INVITEs, transfers and queue offers to their callers go on.
    pub fn drain(&self, retry_after_secs: u32) {
        self.inner.sip.drain(retry_after_secs);
        tracing::info!(live = self.live_calls(), "draining: new calls are refused");
    }

    /// Whether the switch is draining.
    pub fn draining(&self) -> bool {
        self.inner.sip.draining()
    }

    /// Calls still up (ringing, waiting in a queue or talking).
    pub fn live_calls(&self) -> usize {
        self.inner.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Hangs up every call still up from the system side (each then ends with its record and
    /// closed recording as any hang-up does); how many were asked to end.
    pub fn hang_up_all(&self) -> usize {
        let handles: Vec<_> =
            self.inner.calls.lock().unwrap_or_else(|e| e.into_inner()).values().map(|(h, _)| h.clone()).collect();
        handles.iter().filter(|h| h.post(Command::Hangup)).count()
    }
}
