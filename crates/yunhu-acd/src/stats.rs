//! A queue's figures: what the wallboard shows and the service level by both usual formulas.

use std::collections::HashMap;

/// Counters of a queue since it was declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Callers who entered.
    pub entered: u64,
    /// Callers an agent answered.
    pub answered: u64,
    /// Of those, answered within the service-level threshold.
    pub answered_within: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Of those, hung up within the threshold.
    pub abandoned_within: u64,
    /// Callers sent to the overflow.
    pub overflowed: u64,
    /// Callers who asked to be called back.
    pub callbacks_requested: u64,
    /// Sum of the waits of answered callers (ms), for the average speed of answer.
    pub answer_wait_ms: i64,
    /// Places kept for numbers that abandoned: number → (place, kept until).
    places: HashMap<String, (i64, i64)>,
}

impl QueueStats {
    /// Counts a caller an agent answered after `waited_ms`; within T when at most `threshold_ms`.
    /// Public so figures rebuilt from call records count exactly as the live queue does.
    pub fn answered(&mut self, waited_ms: i64, threshold_ms: i64) {
        self.answered += 1;
        self.answer_wait_ms += waited_ms.max(0);
        if waited_ms <= threshold_ms {
            self.answered_within += 1;
        }
    }

    /// Counts a caller who hung up waiting after `waited_ms` (within T: at most `threshold_ms`).
    pub fn abandoned(&mut self, waited_ms: i64, threshold_ms: i64) {
        self.abandoned += 1;
        if waited_ms <= threshold_ms {
            self.abandoned_within += 1;
        }
    }

    /// Service level, answered within T of answered (app_queue's SL); `None` before any answer.
    pub fn service_level(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.answered_within as f64 / self.answered as f64)
    }

    /// Service level counting abandons: (answered + abandoned within T) of (answered +
    /// abandoned) (app_queue's SL2); `None` before any.
    pub fn service_level_with_abandons(&self) -> Option<f64> {
        let all = self.answered + self.abandoned;
        (all > 0).then(|| (self.answered_within + self.abandoned_within) as f64 / all as f64)
    }

    /// Average speed of answer (ms); `None` before any answer.
    pub fn average_speed_of_answer_ms(&self) -> Option<i64> {
        (self.answered > 0).then(|| self.answer_wait_ms / self.answered as i64)
    }

    pub(crate) fn keep_place(&mut self, number: &str, place: i64, until: i64) {
        if !number.is_empty() && until > 0 {
            self.places.insert(number.to_string(), (place, until));
        }
    }

    /// The place kept for `number`, if still kept at `now` (taken: it serves once).
    pub(crate) fn take_resumable(&mut self, number: &str, now: i64) -> Option<i64> {
        self.places.retain(|_, (_, until)| *until > now);
        self.places.remove(number).map(|(place, _)| place)
    }
}

/// A queue at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallboard {
    /// Callers on the line waiting.
    pub waiting: usize,
    /// Callbacks waiting for their turn.
    pub callbacks_pending: usize,
    /// The longest wait of a caller on the line (ms).
    pub longest_wait_ms: i64,
    /// Member agents free and not being offered a call.
    pub agents_free: usize,
    /// Member agents being offered a call now.
    pub agents_offered: usize,
    /// The counters.
    pub stats: QueueStats,
}

impl Wallboard {
    /// Service level, answered within T of answered; see [`QueueStats::service_level`].
    pub fn service_level(&self) -> Option<f64> {
        self.stats.service_level()
    }

    /// Service level counting abandons; see [`QueueStats::service_level_with_abandons`].
    pub fn service_level_with_abandons(&self) -> Option<f64> {
        self.stats.service_level_with_abandons()
    }

    /// Average speed of answer (ms); `None` before any answer.
    pub fn average_speed_of_answer_ms(&self) -> Option<i64> {
        self.stats.average_speed_of_answer_ms()
    }
}
