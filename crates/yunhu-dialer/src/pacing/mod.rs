//! The pacing engine of the predictive dialer: given what the floor looks like now, how many more
//! numbers to dial. Pure and clock-driven (the caller passes `now_ms`), so the live dialer, the
//! simulator and the tests all run the very same decisions, and each one comes with its reasons.
//!
//! The model: every dial still ringing has a learned chance of turning into a live answer within
//! the next seconds (given how long it has rung already), every busy agent a learned chance of being
//! free by then (given how long they have talked). A new dial is placed only while the chance that
//! its own live answer finds no agent within the wait limit stays under a threshold, and that
//! threshold is moved by feedback from the measured abandonment (an integral loop on the unspent
//! budget), so the model's errors are corrected by what actually happened. Near the cap a guard
//! switches to recovering mode, where a dial must also not push an earlier one out.
//!
//! The cap itself is a hard line at every moment, not only on average: an answer that no idle
//! agent is sure to take is counted as if it were abandoned, and a dial that may become one goes
//! out only while the budget (cap × live answers so far, less abandons) still has room for it and
//! for every such answer already waiting or ringing. Until a campaign has enough answers for one
//! abandon to fit (34 at 3 %), it therefore dials only for agents sitting idle.
//!
//! A dial that has rung past `drop_after_ms` (15 s by default) unanswered is hung up when its own
//! answer would likely find no agent: most live answers come before then, so the late ones are few
//! and risky, and dropping them lets the pacer dial closer to its agents.
//!
//! ```
//! use yunhu_dialer::pacing::{DialOutcome, Pacer, PacingConfig, Snapshot};
//!
//! let mut pacer = Pacer::new(PacingConfig::new(3.0));
//! pacer.record_dial(1_000, DialOutcome::Live { ring_ms: 9_000 });
//! pacer.record_talk(2_000, 95_000);
//! let floor = Snapshot { idle_agents: 2, busy_talk_ms: &[40_000, 70_000], ringing_ms: &[3_000], waiting_ms: &[] };
//! let decision = pacer.decide(60_000, &floor);
//! assert_eq!(decision.dial as usize, decision.reason.dial_risks.len());
//! println!("{}", serde_json::to_string(&decision).unwrap());
//! ```

mod outcomes;
mod prob;

pub use outcomes::{AbandonStats, DialOutcome, Outcomes};

use outcomes::Laws;
use prob::Moments;
use serde::{Deserialize, Serialize};

/// Step of the time grid over a fresh dial's answer time; finer grids paced no better in simulation.
const GRID_MS: f64 = 2_000.0;
/// Bounds of the threshold; the floor still lets riskless dials out (agents idle, nothing ringing).
const MIN_THRESHOLD: f64 = 0.002;
const MAX_THRESHOLD: f64 = 0.5;
/// Starting threshold, as a multiple of the aimed rate. Hanging up risky late dials keeps many of the
/// abandons the model counts from happening, so the realised rate runs well below the threshold; in
/// simulation 2.5 spent the budget evenly, while a threshold that starts higher spends it early and
/// then starves in recovering mode (worse occupancy for more abandons).
const THRESHOLD_PER_AIM: f64 = 2.5;
/// Gain of the integral term (the unspent budget). A proportional term on the recent rate only added
/// threshold swings, which cost occupancy at ten agents for no gain at a hundred.
const GAIN_INTEGRAL: f64 = 0.7;
/// Recovering mode keeps this share of the threshold (and counts the answers a dial pushes out);
/// dropping to the floor starved the floor for an hour after every close call.
const RECOVERING_SHARE: f64 = 0.6;
/// A ringing dial old enough to drop is hung up when its own risk exceeds this multiple of the
/// threshold: it has already rung past most live answers, and a fresh dial replaces it.
const DROP_PER_THRESHOLD: f64 = 2.0;
/// The integral is counted in units of the noise of abandon counts: this many standard deviations of
/// the abandons the aim allows over `INTEGRAL_PERIODS` "recent" (~20 min) periods. Noise, not volume,
/// is the yardstick: at ten agents it keeps single abandons from swinging the threshold, and at a
/// hundred it still corrects a badly calibrated model within the hour (a volume yardstick left
/// half the budget unspent in a world of short talks).
const INTEGRAL_NOISE: f64 = 3.0;
const INTEGRAL_PERIODS: f64 = 10.0;
/// Slack for rounding when the budget is compared with whole abandons.
const BUDGET_EPS: f64 = 1e-9;
/// Abandons kept in hand below the cap (one, plus a share of the allowance) before recovering mode:
/// dials already ringing can still bring an abandon or two.
const GUARD_ABANDONS: f64 = 1.0;
const GUARD_SHARE: f64 = 0.005;
/// Abandons the controller keeps in hand below the aim: at ten agents and 1 % a shift allows only
/// about twenty, and a couple of unlucky ones must not break the cap.
const AIM_MARGIN_ABANDONS: f64 = 2.0;
/// Abandons per agent the controller also keeps in hand: the hard budget must have room for the
/// answers at risk a floor keeps in flight, which grow with its agents. In simulation 0.6-1.0
/// paced alike; without it (a flat two) spending the budget on abandons left too little room for
/// dials, and 10/25/50 agents lost a further 0.01-0.015 of occupancy.
const MARGIN_PER_AGENT: f64 = 0.8;
/// Smallest budget scale, in abandons, so the first few calls do not swing the threshold wildly.
const MIN_SCALE: f64 = 5.0;
/// Total dials ringing at once never exceed this many expected live answers per agent, so a badly
/// learned live-answer probability cannot flood the trunks.
const MAX_ANSWERS_PER_AGENT: f64 = 3.0;

/// Shortest ringing before the dialer may hang up an unanswered dial: 15 s, as telemarketing rules
/// elsewhere require (the US TSR, Ofcom), so nobody is rung and dropped before they could answer.
pub const DEFAULT_DROP_AFTER_MS: u64 = 15_000;

/// How a tenant wants its dialer paced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingConfig {
    /// Abandonment cap in percent of live answers (the task's `ratio`), 1 to 5.
    pub target_abandon_pct: f64,
    /// How long a live answer may wait for an agent before it counts as abandoned.
    pub max_wait_for_agent_ms: u64,
    /// Rolling window the cap is measured over (24 h or 30 days, a tenant setting).
    pub abandon_window_ms: u64,
    /// Fraction of the cap the controller steers to, leaving room for the noise of small numbers.
    pub aim: f64,
    /// Most dials that may ring at once (trunk capacity); `None` for no limit of our own.
    pub max_lines: Option<u32>,
    /// A dial that has rung at least this long unanswered may be hung up when its answer would
    /// likely find no agent; `None` never hangs up a ringing dial.
    pub drop_after_ms: Option<u64>,
}

impl PacingConfig {
    /// The defaults with the cap clamped into the legal 1–5 %.
    pub fn new(target_abandon_pct: f64) -> Self {
        Self { target_abandon_pct: target_abandon_pct.clamp(1.0, 5.0), ..Self::default() }
    }
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            target_abandon_pct: 3.0,
            max_wait_for_agent_ms: 2_000,
            abandon_window_ms: 24 * 3_600_000,
            aim: 0.97,
            max_lines: None,
            drop_after_ms: Some(DEFAULT_DROP_AFTER_MS),
        }
    }
}

/// The floor at one instant, as the switch sees it. Durations are "so far", never predictions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot<'a> {
    /// Agents ready and waiting for a call.
    pub idle_agents: u32,
    /// For each agent on a call, how long they have been talking.
    pub busy_talk_ms: &'a [u64],
    /// For each dial placed and not yet resolved, how long it has been ringing.
    pub ringing_ms: &'a [u64],
    /// For each live answer waiting for an agent, how long it has waited.
    pub waiting_ms: &'a [u64],
}

/// Which rule set the number of dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nobody is logged in: dialling would only make abandons.
    NoAgents,
    /// The model and the feedback threshold decided.
    Predictive,
    /// The window is within a guard of the cap (or over it): only dials with practically no risk,
    /// to their own answer or to answers already due, go out.
    Recovering,
    /// More dials were wanted but the line limit stopped them.
    LineLimit,
    /// More dials were wanted but the budget has no room for another answer no idle agent is sure
    /// to take: the abandons it allows are all risked by the answers already waiting or ringing.
    AtBudget,
}

/// The numbers behind one decision, for the "explain" endpoint and for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The rule set that applied.
    pub mode: Mode,
    /// Dials decided (the same as [`Decision::dial`]).
    pub dial: u32,
    /// Agents ready now.
    pub idle_agents: u32,
    /// Agents on a call now.
    pub busy_agents: u32,
    /// Live answers waiting for an agent now.
    pub waiting_answers: u32,
    /// Dials ringing now.
    pub dials_in_flight: u32,
    /// Ringing dials hung up by this decision (rung past the drop age, answer likely unserved).
    #[serde(default)]
    pub dropped: u32,
    /// How far ahead the expectations below look: the learned answer time plus the wait limit.
    pub horizon_ms: u64,
    /// Busy agents expected to be free within the horizon.
    pub expected_agents_free_soon: f64,
    /// idle + free soon − waiting: the agents the answers below compete for.
    pub expected_supply: f64,
    /// Ringing dials expected to become live answers within the horizon.
    pub expected_answers_in_flight: f64,
    /// Live answers expected from the dials decided now (dial × live probability).
    pub expected_answers_new: f64,
    /// Abandons expected from the dials decided now (sum of `dial_risks` × live probability).
    pub expected_abandons_new: f64,
    /// Learned probability that a dial reaches a live person.
    pub live_probability: f64,
    /// Learned mean talk time.
    pub mean_talk_ms: f64,
    /// The cap, as a fraction.
    pub target_rate: f64,
    /// The rate the controller steers to (cap × aim).
    pub aim_rate: f64,
    /// Live answers in the window.
    pub live_answers: u64,
    /// Abandons in the window.
    pub abandoned: u64,
    /// abandoned / live answers in the window.
    pub abandon_rate: f64,
    /// Abandons the cap allows for the window's live answers (cap × live answers).
    pub budget_allowed: f64,
    /// budget_allowed − abandoned; negative means over the cap.
    pub budget_remaining: f64,
    /// Answers waiting or ringing after this decision (its dials included) that no idle agent is
    /// sure to take: each may yet be abandoned.
    #[serde(default)]
    pub exposed_answers: u32,
    /// Abandons the budget still has room for if every exposed answer were abandoned; never
    /// negative after a decision unless agents left while dials rang.
    #[serde(default)]
    pub budget_room: f64,
    /// Abandonment rate of the last ~20 minutes.
    pub recent_abandon_rate: f64,
    /// Natural log of the factor the feedback applied to the starting threshold.
    pub correction: f64,
    /// Highest P(abandon | live answer) a new dial may carry.
    pub threshold: f64,
    /// P(abandon | live answer) of each dial placed, in order; each is at most the threshold. When
    /// recovering it also counts the answers due later that the dial would leave without an agent.
    pub dial_risks: Vec<f64>,
    /// That risk for the first dial refused, if one was evaluated.
    pub marginal_next: Option<f64>,
}

/// How many numbers to dial now, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Numbers to dial now.
    pub dial: u32,
    /// Dials to hang up while still ringing, as indices into the snapshot's `ringing_ms`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<usize>,
    /// The reasons.
    pub reason: Explanation,
}

/// One point of the time grid over a fresh dial's answer time.
#[derive(Debug, Clone)]
struct GridPoint {
    /// Time from now of this slice's middle.
    at_ms: f64,
    /// Probability that a live answer comes in this slice.
    weight: f64,
    /// P(another fresh dial, placed now, is answered live before this time).
    rho: f64,
    /// Agents freed by this time + the wait limit, minus live answers before this time.
    law: Moments,
    /// Live answers expected within this slice from the dials ringing or just decided.
    density: f64,
}

/// Where the feedback put the threshold.
#[derive(Debug, Clone, Copy)]
struct Control {
    threshold: f64,
    correction: f64,
    recovering: bool,
    /// Whether the hard budget applies (not to a fixed threshold mapping the model's frontier).
    budgeted: bool,
    stats: AbandonStats,
    target: f64,
    aim: f64,
}

impl Control {
    /// Abandons left in the budget if `waiting` answers already counted and `ringing` answers yet
    /// to come were all abandoned: cap × (live + ringing) − abandoned − waiting − ringing.
    fn room(&self, waiting: usize, ringing: usize) -> f64 {
        let live = self.stats.live as f64 + ringing as f64;
        self.target * live - self.stats.abandoned as f64 - (waiting + ringing) as f64
    }
}

/// The answers in flight no idle agent is sure to take: idle agents go to waiting answers first,
/// then to ringing dials in any order. Returns (waiting, ringing) exposed.
fn exposed(idle: u32, waiting: usize, ringing: usize) -> (usize, usize) {
    let idle = idle as usize;
    (waiting.saturating_sub(idle), ringing.saturating_sub(idle.saturating_sub(waiting)))
}

/// The pacing engine: learned outcomes, the feedback loop, and the decision rule.
#[derive(Debug, Clone)]
pub struct Pacer {
    config: PacingConfig,
    outcomes: Outcomes,
    fixed_threshold: Option<f64>,
    grid: Vec<GridPoint>,
}

impl Pacer {
    /// A pacer that has learned nothing yet.
    pub fn new(config: PacingConfig) -> Self {
        let outcomes = Outcomes::new(config.abandon_window_ms);
        Self { config, outcomes, fixed_threshold: None, grid: Vec::new() }
    }

    /// A pacer whose threshold ignores feedback; the simulator uses it to map the model's frontier.
    pub fn with_fixed_threshold(config: PacingConfig, threshold: f64) -> Self {
        Self { fixed_threshold: Some(threshold), ..Self::new(config) }
    }

    /// The configuration in force.
    pub fn config(&self) -> &PacingConfig {
        &self.config
    }

    /// What has been learned so far.
    pub fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    /// Feeds a finished dial attempt to the learner (a live one also counts toward the cap).
    pub fn record_dial(&mut self, now_ms: u64, outcome: DialOutcome) {
        self.outcomes.record_dial(now_ms, outcome);
    }

    /// Feeds a finished conversation to the learner.
    pub fn record_talk(&mut self, now_ms: u64, talk_ms: u64) {
        self.outcomes.record_talk(now_ms, talk_ms);
    }

    /// Counts a live answer that found no agent in time.
    pub fn record_abandon(&mut self, now_ms: u64) {
        self.outcomes.record_abandon(now_ms);
    }

    fn control(&self, agents: usize) -> Control {
        let stats = self.outcomes.abandonment();
        let target = self.config.target_abandon_pct / 100.0;
        let aim = target * self.config.aim;
        // The cap is a hard line: once the window comes within the guard of it, only dials that are
        // practically riskless, to themselves and to the answers already due, go out.
        let allowed = target * stats.live as f64;
        let recovering = stats.abandoned as f64 + GUARD_ABANDONS + GUARD_SHARE * allowed > allowed;
        if let Some(threshold) = self.fixed_threshold {
            return Control { threshold, correction: 0.0, recovering: false, budgeted: false, stats, target, aim };
        }
        // The unspent part of the aimed budget, in units of its noise.
        let scale = (INTEGRAL_NOISE * (aim * stats.recent_live * INTEGRAL_PERIODS).sqrt()).max(MIN_SCALE);
        let margin = AIM_MARGIN_ABANDONS.max(MARGIN_PER_AGENT * agents as f64);
        let aimed_budget = aim * stats.live as f64 - margin;
        let integral = ((aimed_budget - stats.abandoned as f64) / scale).clamp(-4.0, 2.0);
        let correction = GAIN_INTEGRAL * integral;
        let normal = (THRESHOLD_PER_AIM * aim * correction.exp()).clamp(MIN_THRESHOLD, MAX_THRESHOLD);
        let threshold = if recovering { (RECOVERING_SHARE * normal).max(MIN_THRESHOLD) } else { normal };
        Control { threshold, correction, recovering, budgeted: true, stats, target, aim }
    }

    /// How many numbers to dial at `now_ms` given the floor `snap`, with the reasons.
    pub fn decide(&mut self, now_ms: u64, snap: &Snapshot<'_>) -> Decision {
        self.outcomes.advance(now_ms);
        let control = self.control(snap.idle_agents as usize + snap.busy_talk_ms.len());
        let patience = self.config.max_wait_for_agent_ms as f64;
        let laws = self.outcomes.laws(snap.ringing_ms, snap.busy_talk_ms, patience + GRID_MS);
        let p = laws.live_probability();
        let answer_horizon = laws.answer_quantile_ms(0.999).max(GRID_MS);
        let horizon = answer_horizon + patience;
        let idle = snap.idle_agents;
        let busy = snap.busy_talk_ms.len();
        let waiting = snap.waiting_ms.len();
        let in_flight = snap.ringing_ms.len();
        let (free_soon, answers_in_flight) = self.build_grid(&laws, snap, answer_horizon, patience);
        let mut reason = Explanation {
            mode: Mode::Predictive,
            dial: 0,
            idle_agents: idle,
            busy_agents: busy as u32,
            waiting_answers: waiting as u32,
            dials_in_flight: in_flight as u32,
            dropped: 0,
            horizon_ms: horizon.round() as u64,
            expected_agents_free_soon: free_soon,
            expected_supply: idle as f64 + free_soon - waiting as f64,
            expected_answers_in_flight: answers_in_flight,
            expected_answers_new: 0.0,
            expected_abandons_new: 0.0,
            live_probability: p,
            mean_talk_ms: laws.mean_talk_ms(),
            target_rate: control.target,
            aim_rate: control.aim,
            live_answers: control.stats.live,
            abandoned: control.stats.abandoned,
            abandon_rate: control.stats.rate,
            budget_allowed: control.target * control.stats.live as f64,
            budget_remaining: control.target * control.stats.live as f64 - control.stats.abandoned as f64,
            recent_abandon_rate: if control.stats.recent_live > 0.0 {
                control.stats.recent_abandoned / control.stats.recent_live
            } else {
                0.0
            },
            exposed_answers: 0,
            budget_room: 0.0,
            correction: control.correction,
            threshold: control.threshold,
            dial_risks: Vec::new(),
            marginal_next: None,
        };
        if control.recovering {
            reason.mode = Mode::Recovering;
        }
        if idle as usize + busy == 0 {
            reason.mode = Mode::NoAgents;
            let (ew, er) = exposed(idle, waiting, in_flight);
            reason.exposed_answers = (ew + er) as u32;
            reason.budget_room = control.room(ew, er);
            return Decision { dial: 0, drop: Vec::new(), reason };
        }

        let drop_threshold = control.threshold * DROP_PER_THRESHOLD;
        let drop = self.choose_drops(&laws, snap, idle, waiting, drop_threshold);
        reason.dropped = drop.len() as u32;
        let in_flight = in_flight - drop.len();
        let agents = (idle as usize + busy) as f64;
        let sanity = (MAX_ANSWERS_PER_AGENT * agents / p.max(0.01)).ceil() as usize;
        let limit = self.config.max_lines.map_or(usize::MAX, |l| l as usize).min(sanity);
        let room = limit.saturating_sub(in_flight);
        let mut dial = 0usize;
        loop {
            let risk = self.marginal_risk(idle, waiting, control.recovering);
            if risk > control.threshold {
                reason.marginal_next = Some(risk);
                break;
            }
            if dial >= room {
                reason.mode = Mode::LineLimit;
                reason.marginal_next = Some(risk);
                break;
            }
            // The law, whatever the model says: one more answer no idle agent is sure to take
            // goes out only if the budget could pay for it and for every one already out.
            let (ew, er) = exposed(idle, waiting, in_flight + dial + 1);
            if control.budgeted && er > 0 && control.room(ew, er) < -BUDGET_EPS {
                reason.mode = Mode::AtBudget;
                reason.marginal_next = Some(risk);
                break;
            }
            dial += 1;
            reason.dial_risks.push(risk);
            reason.expected_abandons_new += risk * p;
            // The dial just placed is one more answer ahead of the next one.
            for g in &mut self.grid {
                g.law.sub(g.rho);
                g.density += g.weight;
            }
        }
        reason.dial = dial as u32;
        reason.expected_answers_new = dial as f64 * p;
        let (ew, er) = exposed(idle, waiting, in_flight + dial);
        reason.exposed_answers = (ew + er) as u32;
        reason.budget_room = control.room(ew, er);
        Decision { dial: dial as u32, drop, reason }
    }

    /// Hangs up ringing dials old enough to be dropped whose answer would likely find no agent,
    /// riskiest first, taking each out of the grid before judging the next.
    fn choose_drops(
        &mut self,
        laws: &Laws,
        snap: &Snapshot<'_>,
        idle: u32,
        waiting: usize,
        threshold: f64,
    ) -> Vec<usize> {
        let Some(after) = self.config.drop_after_ms else { return Vec::new() };
        let t = waiting as f64 - idle as f64;
        // Each candidate's share of every slice: (answered before its middle, answered within it).
        let mut candidates: Vec<(usize, Vec<(f64, f64)>)> = snap
            .ringing_ms
            .iter()
            .enumerate()
            .filter(|&(_, &ring)| ring >= after)
            .map(|(i, &ring)| {
                let call = laws.ringing(ring as f64);
                let shares = self
                    .grid
                    .iter()
                    .map(|g| {
                        let lo = laws.answer_within(&call, g.at_ms - 0.5 * GRID_MS);
                        let hi = laws.answer_within(&call, g.at_ms + 0.5 * GRID_MS);
                        (0.5 * (lo + hi), hi - lo)
                    })
                    .collect();
                (i, shares)
            })
            .collect();
        let mut dropped = Vec::new();
        loop {
            let mut worst: Option<(usize, f64)> = None;
            for (k, (_, shares)) in candidates.iter().enumerate() {
                let (mut risk, mut weight) = (0.0, 0.0);
                for (g, &(before, within)) in self.grid.iter().zip(shares) {
                    if within > 0.0 {
                        let mut law = g.law;
                        law.unsub(before);
                        risk += within * law.cdf(t);
                        weight += within;
                    }
                }
                if weight > 1e-6 && worst.is_none_or(|(_, r)| risk / weight > r) {
                    worst = Some((k, risk / weight));
                }
            }
            match worst {
                Some((k, risk)) if risk > threshold => {
                    let (i, shares) = candidates.swap_remove(k);
                    for (g, (before, within)) in self.grid.iter_mut().zip(shares) {
                        g.law.unsub(before);
                        g.density -= within;
                    }
                    dropped.push(i);
                }
                _ => break,
            }
        }
        dropped
    }

    /// P(abandon | live answer) of one more fresh dial, given the grid's laws; with `pushed`, plus
    /// the answers due later that it would leave without an agent.
    fn marginal_risk(&self, idle: u32, waiting: usize, pushed: bool) -> f64 {
        // Abandoned when the idle agents plus those freed by its answer + the wait limit do not
        // outnumber the answers ahead of it. Waiting answers count as ahead for sure: conservative,
        // since some will give up before taking an agent, but they are gone before a new dial answers.
        // Answering first, it also takes an agent from an answer due later that had exactly one to
        // spare. Normal pacing leaves that to the feedback (counting it paced no better in simulation,
        // and worse at ten agents); when recovering it must count, or young dials push out older ones.
        let t = waiting as f64 - idle as f64;
        let (mut risk, mut weight, mut pushed_later) = (0.0, 0.0, 0.0);
        for g in self.grid.iter().rev() {
            let own = g.law.cdf(t);
            risk += g.weight * (own + pushed_later);
            weight += g.weight;
            if pushed {
                pushed_later += g.density * (g.law.cdf(t + 1.0) - own);
            }
        }
        if weight > 0.0 { risk / weight } else { 1.0 }
    }

    /// Fills the grid's laws from the floor; returns the agents expected free and the live answers
    /// expected from ringing dials within the whole horizon, for the explanation.
    fn build_grid(&mut self, laws: &Laws, snap: &Snapshot<'_>, answer_horizon: f64, patience: f64) -> (f64, f64) {
        self.grid.clear();
        let mut start = 0.0;
        while start < answer_horizon {
            let end = start + GRID_MS;
            let weight = laws.new_answer_within(end) - laws.new_answer_within(start);
            let at_ms = start + 0.5 * GRID_MS;
            let rho = laws.new_answer_within(at_ms);
            self.grid.push(GridPoint { at_ms, weight, rho, law: Moments::default(), density: 0.0 });
            start = end;
        }
        let horizon = answer_horizon + patience;
        let mut free_soon = 0.0;
        for &talk in snap.busy_talk_ms {
            let agent = laws.talking(talk as f64);
            free_soon += laws.free_within(&agent, horizon);
            for g in &mut self.grid {
                g.law.add(laws.free_within(&agent, g.at_ms + patience));
            }
        }
        let mut answers = 0.0;
        for &ring in snap.ringing_ms {
            let call = laws.ringing(ring as f64);
            answers += laws.answer_within(&call, answer_horizon);
            // Slice edges are shared by neighbouring slices, so each costs one lookup.
            let mut edge = (f64::NAN, 0.0);
            for g in &mut self.grid {
                let lo = g.at_ms - 0.5 * GRID_MS;
                let by_lo = if edge.0 == lo { edge.1 } else { laws.answer_within(&call, lo) };
                let by_hi = laws.answer_within(&call, lo + GRID_MS);
                edge = (lo + GRID_MS, by_hi);
                g.law.sub(0.5 * (by_lo + by_hi));
                g.density += by_hi - by_lo;
            }
        }
        (free_soon, answers)
    }
}

#[cfg(test)]
mod tests;
