//! What the pacer has learned from finished attempts and talks, and the abandonment record it must
//! keep under the cap. Everything is estimated from observations, starting from weak priors, so the
//! same code paces a campaign of mobiles, of landlines, or a simulation.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How a finished dial attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DialOutcome {
    /// A live person answered after the call rang this long.
    Live {
        /// Ringing time before the answer.
        ring_ms: u64,
    },
    /// No live person (no answer, busy, unreachable, machine) after this long.
    Failed {
        /// Time from dialling to the failure.
        ring_ms: u64,
    },
    /// The dialer hung up while it was still ringing: it lasted at least this long, no more is known.
    Dropped {
        /// Ringing time when it was hung up.
        ring_ms: u64,
    },
}

/// Prior live-answer probability, used until real attempts outweigh it.
const PRIOR_LIVE_P: f64 = 0.3;
/// How many attempts the prior is worth: a handful, so the first minutes of data dominate.
const PRIOR_ATTEMPTS: f64 = 10.0;
/// Talks the talk-time prior is worth.
const PRIOR_TALKS: f64 = 4.0;
/// Weight above which old observations are halved, so estimates follow a campaign that drifts.
const MEMORY: f64 = 4000.0;
/// Prior mean talk time; deliberately generic, the data replace it within minutes.
const PRIOR_TALK_MS: f64 = 180_000.0;
/// Pseudo-observations that pull the talk hazard toward a memoryless one where data are thin.
const TAIL_SHRINK: f64 = 3.0;
/// Time constant of the "recent" abandonment rate used by the proportional correction.
const RECENT_TAU_MS: f64 = 20.0 * 60_000.0;
/// Buckets of the rolling abandonment window; bounds memory whatever the window length.
const WINDOW_BUCKETS: u64 = 2048;
/// Ringing-time resolution and reach (3 minutes).
const RING_BIN_MS: u64 = 250;
const RING_BINS: usize = 720;

/// Talk-time resolution and reach (2 hours; longer talks share the last bin).
const TALK_BIN_MS: u64 = 1_000;
const TALK_BINS: usize = 7_200;

/// A weighted histogram over equal bins (the last bin takes everything longer), with a running
/// tail sum so that the at-risk counts the laws need are O(1). Tail sums (not prefix sums) because
/// durations sit in the first bins: adding one touches only the bins below it.
#[derive(Debug, Clone)]
struct Histogram {
    bin_ms: f64,
    counts: Vec<f64>,
    /// tail[i] = weight of bins i and later; len = bins + 1, tail[bins] = 0.
    tail: Vec<f64>,
    total: f64,
    sum_ms: f64,
    /// One past the last bin that ever got weight: the laws need not look further.
    used: usize,
}

impl Histogram {
    fn new(bin_ms: u64, bins: usize) -> Self {
        Self {
            bin_ms: bin_ms as f64,
            counts: vec![0.0; bins],
            tail: vec![0.0; bins + 1],
            total: 0.0,
            sum_ms: 0.0,
            used: 0,
        }
    }

    fn bin_of(&self, ms: f64) -> usize {
        ((ms / self.bin_ms).max(0.0) as usize).min(self.counts.len() - 1)
    }

    fn add(&mut self, ms: f64, weight: f64) {
        let i = self.bin_of(ms);
        self.counts[i] += weight;
        self.total += weight;
        self.sum_ms += weight * ms;
        self.used = self.used.max(i + 1);
        for c in &mut self.tail[..=i] {
            *c += weight;
        }
    }

    /// Spreads `weight` over the bins with the shape `share(bin start, bin end)` (shares sum to 1).
    fn add_prior(&mut self, weight: f64, share: impl Fn(f64, f64) -> f64) {
        let n = self.counts.len();
        for i in 0..n {
            let lo = i as f64 * self.bin_ms;
            let w = weight * share(lo, if i + 1 == n { f64::INFINITY } else { lo + self.bin_ms });
            if w > 1e-12 {
                self.counts[i] += w;
                self.total += w;
                self.sum_ms += w * (lo + 0.5 * self.bin_ms);
                self.used = self.used.max(i + 1);
            }
        }
        let mut acc = 0.0;
        for i in (0..n).rev() {
            acc += self.counts[i];
            self.tail[i] = acc;
        }
    }

    fn scale(&mut self, f: f64) {
        self.counts.iter_mut().chain(self.tail.iter_mut()).for_each(|c| *c *= f);
        self.total *= f;
        self.sum_ms *= f;
    }

    fn mean_ms(&self) -> f64 {
        if self.total > 0.0 { self.sum_ms / self.total } else { 0.0 }
    }
}

/// Counts of still-running durations (censored observations) by bin, as "at least this many
/// still at risk in bin i": suffix sums over `n` bins.
fn censored_at_risk(ages_ms: &[u64], bin_ms: f64, n: usize) -> Vec<f64> {
    let mut at_risk = vec![0.0; n + 1];
    for &age in ages_ms {
        at_risk[((age as f64 / bin_ms) as usize).min(n - 1)] += 1.0;
    }
    for i in (0..n).rev() {
        at_risk[i] += at_risk[i + 1];
    }
    at_risk
}

/// Linear interpolation in a table sampled at multiples of `bin`; constant past either end.
fn sample(table: &[f64], bin: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return table[0];
    }
    let f = x / bin;
    let i = f as usize;
    if i + 1 >= table.len() {
        return table[table.len() - 1];
    }
    table[i] + (table[i + 1] - table[i]) * (f - i as f64)
}

/// The laws one decision uses: the learned histograms, with the dials still ringing and the talks
/// still running counted as "lasted at least this long" (Kaplan–Meier). Without them the first
/// minutes of a shift see only the short rings and talks, think older dials dead and agents about
/// to finish, and dial a burst of abandons.
#[derive(Debug, Clone)]
pub(crate) struct Laws {
    /// P(a dial is still unresolved) at the start of each ringing bin.
    alive: Vec<f64>,
    /// P(a dial was answered live) before the start of each ringing bin.
    live: Vec<f64>,
    /// P(a talk is still running) at the start of each talk bin.
    talking: Vec<f64>,
    /// Memoryless hazard per ms past the talk table.
    tail_rate: f64,
    mean_talk_ms: f64,
}

/// A ringing dial as the laws see it, for repeated lookups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ringing {
    ring_ms: f64,
    alive: f64,
    live: f64,
}

/// A talking agent as the laws see it, for repeated lookups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Talking {
    talk_ms: f64,
    running: f64,
}

impl Laws {
    /// Probability that a fresh dial reaches a live person.
    pub fn live_probability(&self) -> f64 {
        self.live[self.live.len() - 1]
    }

    /// P(a fresh dial is answered live within `within_ms`).
    pub fn new_answer_within(&self, within_ms: f64) -> f64 {
        sample(&self.live, RING_BIN_MS as f64, within_ms)
    }

    /// Ringing time by which a fraction `q` of live answers have come.
    pub fn answer_quantile_ms(&self, q: f64) -> f64 {
        let want = q * self.live_probability();
        let i = self.live.partition_point(|&l| l < want).clamp(1, self.live.len() - 1);
        let (lo, hi) = (self.live[i - 1], self.live[i]);
        let within = if hi > lo { (want - lo) / (hi - lo) } else { 1.0 };
        (i as f64 - 1.0 + within.clamp(0.0, 1.0)) * RING_BIN_MS as f64
    }

    /// A dial that has rung `ring_ms` without result, looked up once for many horizons.
    pub fn ringing(&self, ring_ms: f64) -> Ringing {
        let bin = RING_BIN_MS as f64;
        Ringing { ring_ms, alive: sample(&self.alive, bin, ring_ms), live: sample(&self.live, bin, ring_ms) }
    }

    /// P(the ringing dial is answered live within `within_ms` more).
    pub fn answer_within(&self, r: &Ringing, within_ms: f64) -> f64 {
        if r.alive <= 1e-12 || within_ms <= 0.0 {
            return 0.0;
        }
        ((sample(&self.live, RING_BIN_MS as f64, r.ring_ms + within_ms) - r.live) / r.alive).clamp(0.0, 1.0)
    }

    fn running(&self, talk_ms: f64) -> f64 {
        let bin = TALK_BIN_MS as f64;
        let end = (self.talking.len() - 1) as f64 * bin;
        if talk_ms <= end {
            sample(&self.talking, bin, talk_ms)
        } else {
            self.talking[self.talking.len() - 1] * (-(talk_ms - end) * self.tail_rate).exp()
        }
    }

    /// An agent who has talked `talk_ms` so far, looked up once for many horizons.
    pub fn talking(&self, talk_ms: f64) -> Talking {
        Talking { talk_ms, running: self.running(talk_ms) }
    }

    /// P(the agent is free within `within_ms`).
    pub fn free_within(&self, t: &Talking, within_ms: f64) -> f64 {
        if t.running <= 1e-300 {
            return 1.0 - (-within_ms * self.tail_rate).exp();
        }
        (1.0 - self.running(t.talk_ms + within_ms) / t.running).clamp(0.0, 1.0)
    }

    /// Mean talk time, counting running talks as lasting at least as long as they have so far.
    pub fn mean_talk_ms(&self) -> f64 {
        self.mean_talk_ms
    }
}

/// Live answers and abandons over a rolling window, in time buckets so that a 30-day window costs the
/// same memory as a 24-hour one.
#[derive(Debug, Clone)]
struct AbandonRecord {
    window_ms: u64,
    bucket_ms: u64,
    buckets: VecDeque<(u64, u64, u64)>,
    live: u64,
    abandoned: u64,
    recent_live: f64,
    recent_abandoned: f64,
    recent_at_ms: u64,
}

impl AbandonRecord {
    fn new(window_ms: u64) -> Self {
        let window_ms = window_ms.max(1);
        Self {
            window_ms,
            bucket_ms: window_ms.div_ceil(WINDOW_BUCKETS).max(1),
            buckets: VecDeque::new(),
            live: 0,
            abandoned: 0,
            recent_live: 0.0,
            recent_abandoned: 0.0,
            recent_at_ms: 0,
        }
    }

    fn advance(&mut self, now_ms: u64) {
        // A bucket leaves once all of it is older than the window.
        while let Some(&(idx, live, abandoned)) = self.buckets.front() {
            if (idx + 1) * self.bucket_ms + self.window_ms > now_ms {
                break;
            }
            self.live -= live;
            self.abandoned -= abandoned;
            self.buckets.pop_front();
        }
        if now_ms > self.recent_at_ms {
            let f = (-((now_ms - self.recent_at_ms) as f64) / RECENT_TAU_MS).exp();
            self.recent_live *= f;
            self.recent_abandoned *= f;
            self.recent_at_ms = now_ms;
        }
    }

    fn push(&mut self, now_ms: u64, live: u64, abandoned: u64) {
        self.advance(now_ms);
        let idx = now_ms / self.bucket_ms;
        match self.buckets.back_mut() {
            Some(b) if b.0 == idx => {
                b.1 += live;
                b.2 += abandoned;
            }
            _ => self.buckets.push_back((idx, live, abandoned)),
        }
        self.live += live;
        self.abandoned += abandoned;
        self.recent_live += live as f64;
        self.recent_abandoned += abandoned as f64;
    }
}

/// The abandonment record as the pacer sees it at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AbandonStats {
    /// Live answers inside the window (abandoned ones included).
    pub live: u64,
    /// Live answers inside the window that no agent took in time.
    pub abandoned: u64,
    /// abandoned / live, 0 before any live answer.
    pub rate: f64,
    /// Live answers in the last ~20 minutes, exponentially weighted.
    pub recent_live: f64,
    /// Abandons in the last ~20 minutes, weighted the same way.
    pub recent_abandoned: f64,
}

/// Online learner of dial and talk outcomes, plus the rolling abandonment record.
#[derive(Debug, Clone)]
pub struct Outcomes {
    answer: Histogram,
    failure: Histogram,
    /// Dials hung up while ringing: they only count as at risk up to their age.
    dropped: Histogram,
    talk: Histogram,
    record: AbandonRecord,
}

impl Outcomes {
    /// A learner with weak priors and an abandonment window of `window_ms` (24 h or 30 days live).
    pub fn new(window_ms: u64) -> Self {
        let uniform = |lo: f64, hi: f64| move |a: f64, b: f64| (b.min(hi) - a.max(lo)).max(0.0) / (hi - lo);
        let mut answer = Histogram::new(RING_BIN_MS, RING_BINS);
        answer.add_prior(PRIOR_ATTEMPTS * PRIOR_LIVE_P, uniform(2_000.0, 30_000.0));
        let mut failure = Histogram::new(RING_BIN_MS, RING_BINS);
        failure.add_prior(PRIOR_ATTEMPTS * (1.0 - PRIOR_LIVE_P), uniform(5_000.0, 60_000.0));
        let mut talk = Histogram::new(TALK_BIN_MS, TALK_BINS);
        talk.add_prior(PRIOR_TALKS, |a, b| (-a / PRIOR_TALK_MS).exp() - (-b / PRIOR_TALK_MS).exp());
        let dropped = Histogram::new(RING_BIN_MS, RING_BINS);
        Self { answer, failure, dropped, talk, record: AbandonRecord::new(window_ms) }
    }

    /// Learns from one finished attempt; a live answer also enters the abandonment record.
    pub fn record_dial(&mut self, now_ms: u64, outcome: DialOutcome) {
        match outcome {
            DialOutcome::Live { ring_ms } => {
                self.answer.add(ring_ms as f64, 1.0);
                self.record.push(now_ms, 1, 0);
            }
            DialOutcome::Failed { ring_ms } => self.failure.add(ring_ms as f64, 1.0),
            DialOutcome::Dropped { ring_ms } => self.dropped.add(ring_ms as f64, 1.0),
        }
        // The ringing histograms age together, or their ratios (the live probability) drift.
        if self.answer.total + self.failure.total + self.dropped.total > MEMORY {
            self.answer.scale(0.5);
            self.failure.scale(0.5);
            self.dropped.scale(0.5);
        }
    }

    /// Learns from one finished conversation. The time is taken for symmetry with the other records;
    /// the talk law forgets by volume (old halves), not by age.
    pub fn record_talk(&mut self, _now_ms: u64, talk_ms: u64) {
        self.talk.add(talk_ms as f64, 1.0);
        if self.talk.total > MEMORY {
            self.talk.scale(0.5);
        }
    }

    /// Counts a live answer that waited past the limit without an agent.
    pub fn record_abandon(&mut self, now_ms: u64) {
        self.record.push(now_ms, 0, 1);
    }

    /// Moves the window to `now_ms`, forgetting what fell out of it.
    pub fn advance(&mut self, now_ms: u64) {
        self.record.advance(now_ms);
    }

    /// The abandonment record as of the last `advance` or record.
    pub fn abandonment(&self) -> AbandonStats {
        let r = &self.record;
        AbandonStats {
            live: r.live,
            abandoned: r.abandoned,
            rate: if r.live > 0 { r.abandoned as f64 / r.live as f64 } else { 0.0 },
            recent_live: r.recent_live,
            recent_abandoned: r.recent_abandoned,
        }
    }

    /// The laws for one decision: `ringing_ms` and `talking_ms` are the ages of the dials and talks
    /// still running, which the estimate must count to be unbiased. Talk times are tabled up to the
    /// oldest talk plus the time by which nearly all live answers come plus `extra_ms`.
    pub(crate) fn laws(&self, ringing_ms: &[u64], talking_ms: &[u64], extra_ms: f64) -> Laws {
        // Ringing: answers and failures compete; each bin's hazards are its events over those at risk.
        let bin = RING_BIN_MS as f64;
        let oldest = ringing_ms.iter().max().map_or(0, |&g| (g as f64 / bin) as usize + 1);
        let n = self.answer.used.max(self.failure.used).max(self.dropped.used).max(oldest).clamp(1, RING_BINS);
        let censored = censored_at_risk(ringing_ms, bin, n);
        let (mut alive, mut live) = (Vec::with_capacity(n + 1), Vec::with_capacity(n + 1));
        let (mut a, mut l) = (1.0, 0.0);
        let finished =
            self.answer.counts.iter().zip(&self.failure.counts).zip(self.answer.tail.iter().zip(&self.failure.tail));
        // A dropped dial was at risk up to its age, like one still ringing.
        for ((((answers, failures), (answer_tail, failure_tail)), still), dropped) in
            finished.zip(&censored).zip(&self.dropped.tail).take(n)
        {
            alive.push(a);
            live.push(l);
            let at_risk = answer_tail + failure_tail + still + dropped;
            if at_risk > 0.0 {
                let (ha, hf) = (answers / at_risk, failures / at_risk);
                l += a * ha;
                a *= (1.0 - ha - hf).max(0.0);
            }
        }
        alive.push(a);
        live.push(l);
        let mut laws = Laws { alive, live, talking: Vec::new(), tail_rate: 0.0, mean_talk_ms: 0.0 };
        let horizon_ms = laws.answer_quantile_ms(0.999) + extra_ms + RING_BIN_MS as f64;

        // Talking: one ending hazard per bin, pulled toward a memoryless one where few are at risk,
        // with the mean from the memoryless fit that counts running talks (total time / endings).
        let bin = TALK_BIN_MS as f64;
        let running: f64 = talking_ms.iter().map(|&t| t as f64).sum();
        let mean_talk_ms = ((self.talk.sum_ms + running) / self.talk.total.max(1e-9)).max(bin);
        let h0 = 1.0 - (-bin / mean_talk_ms).exp();
        let oldest = talking_ms.iter().max().map_or(0.0, |&t| t as f64);
        let n = (((oldest + horizon_ms) / bin) as usize + 2).clamp(2, TALK_BINS);
        let censored = censored_at_risk(talking_ms, bin, n);
        let mut talking = Vec::with_capacity(n + 1);
        let mut s = 1.0;
        for ((ended, tail), still) in self.talk.counts.iter().zip(&self.talk.tail).zip(&censored).take(n) {
            talking.push(s);
            let h = (ended + TAIL_SHRINK * h0) / (tail + still + TAIL_SHRINK);
            s *= (1.0 - h).max(0.0);
        }
        talking.push(s);
        laws.talking = talking;
        laws.tail_rate = 1.0 / mean_talk_ms;
        laws.mean_talk_ms = mean_talk_ms;
        laws
    }

    /// Estimated probability that a fresh dial reaches a live person, from finished attempts.
    pub fn live_probability(&self) -> f64 {
        self.laws(&[], &[], 0.0).live_probability()
    }

    /// Mean ringing time of finished live answers.
    pub fn mean_answer_ms(&self) -> f64 {
        self.answer.mean_ms()
    }

    /// Mean time to a finished failed attempt.
    pub fn mean_failure_ms(&self) -> f64 {
        self.failure.mean_ms()
    }

    /// Mean of finished talks (running ones are counted by the laws of each decision).
    pub fn mean_talk_ms(&self) -> f64 {
        self.talk.mean_ms()
    }

    /// P(a dial that has rung `ring_ms` without result is answered live within `within_ms` more).
    /// Falls to zero once it has rung longer than live answers ever take.
    pub fn p_answer_within(&self, ring_ms: f64, within_ms: f64) -> f64 {
        let laws = self.laws(&[], &[], 0.0);
        laws.answer_within(&laws.ringing(ring_ms), within_ms)
    }

    /// P(an agent who has talked `talk_ms` so far is free within `within_ms`).
    pub fn p_free_within(&self, talk_ms: f64, within_ms: f64) -> f64 {
        let laws = self.laws(&[], &[], talk_ms + within_ms);
        laws.free_within(&laws.talking(talk_ms), within_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn priors_hold_before_any_data() {
        let o = Outcomes::new(86_400_000);
        assert!((o.live_probability() - 0.3).abs() < 1e-12);
        assert!(o.mean_talk_ms() > 60_000.0);
        assert_eq!(o.abandonment().rate, 0.0);
    }

    #[test]
    fn learns_answer_probability_and_times_quickly() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut o = Outcomes::new(86_400_000);
        for i in 0..2000 {
            let outcome = if rng.gen_bool(0.6) {
                DialOutcome::Live { ring_ms: rng.gen_range(4_000..8_000) }
            } else {
                DialOutcome::Failed { ring_ms: rng.gen_range(10_000..12_000) }
            };
            o.record_dial(i * 1000, outcome);
        }
        assert!((o.live_probability() - 0.6).abs() < 0.03, "{}", o.live_probability());
        assert!((o.mean_answer_ms() - 6_000.0).abs() < 300.0, "{}", o.mean_answer_ms());
        // A call that rang past every answer seen will not be answered any more.
        assert!(o.p_answer_within(9_000.0, 20_000.0) < 0.01);
        // A call still ringing at 5 s: 0.6·0.75 / (0.6·0.75 + 0.4) ≈ 0.53 that it answers by 10 s.
        assert!((o.p_answer_within(5_000.0, 5_000.0) - 0.53).abs() < 0.04);
    }

    #[test]
    fn learns_talk_time_and_conditional_release() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut o = Outcomes::new(86_400_000);
        for i in 0..3000 {
            // Fixed-ish talks of 60–70 s: an agent at 65 s is about to finish, one at 10 s is not.
            o.record_talk(i, rng.gen_range(60_000..70_000));
        }
        assert!((o.mean_talk_ms() - 65_000.0).abs() < 2_000.0);
        assert!(o.p_free_within(65_000.0, 10_000.0) > 0.9);
        assert!(o.p_free_within(10_000.0, 10_000.0) < 0.02);
    }

    #[test]
    fn running_dials_and_talks_count_as_lasting_at_least_so_long() {
        let mut o = Outcomes::new(86_400_000);
        // Six seconds into a shift: 20 dials were answered after 4–6 s, 100 are still ringing.
        for i in 0..20 {
            o.record_dial(6_000, DialOutcome::Live { ring_ms: 4_000 + i * 100 });
        }
        let naive = o.live_probability();
        let laws = o.laws(&[6_000; 100], &[], 0.0);
        assert!(naive > 0.6, "{naive}");
        assert!(laws.live_probability() < 0.45, "{}", laws.live_probability());
        // Those still ringing keep their chance: they are not taken for dead.
        assert!(laws.answer_within(&laws.ringing(6_000.0), 20_000.0) > 0.1);
        // Two minutes in: 30 talks ended after 10–60 s, 70 agents are still talking at 120 s.
        for i in 0..30 {
            o.record_talk(120_000, 10_000 + i * 1_700);
        }
        assert!(o.mean_talk_ms() < 60_000.0, "{}", o.mean_talk_ms());
        let busy = [120_000u64; 70];
        let laws = o.laws(&[], &busy, 0.0);
        assert!(laws.mean_talk_ms() > 200_000.0, "{}", laws.mean_talk_ms());
        let naive = o.p_free_within(30_000.0, 20_000.0);
        assert!(laws.free_within(&laws.talking(30_000.0), 20_000.0) < naive);
    }

    #[test]
    fn window_forgets_old_abandons() {
        let hour = 3_600_000;
        let mut o = Outcomes::new(hour);
        for i in 0..100 {
            o.record_dial(i * 1000, DialOutcome::Live { ring_ms: 5000 });
        }
        for i in 0..5 {
            o.record_abandon(100_000 + i);
        }
        let s = o.abandonment();
        assert_eq!((s.live, s.abandoned), (100, 5));
        assert!((s.rate - 0.05).abs() < 1e-12);
        // Half an hour later 50 more answers came; an hour after the first ones, only they remain.
        for i in 0..50 {
            o.record_dial(hour / 2 + i * 1000, DialOutcome::Live { ring_ms: 5000 });
        }
        o.advance(hour + 200_000);
        let s = o.abandonment();
        assert_eq!((s.live, s.abandoned, s.rate), (50, 0, 0.0));
        o.advance(3 * hour);
        let s = o.abandonment();
        assert_eq!((s.live, s.abandoned, s.rate), (0, 0, 0.0));
    }
}
