//! The reference model: a discrete-event simulation of an outbound floor, driving the very same
//! [`Pacer`] the live dialer uses, so pacing changes are measured before they reach real people.
//!
//! The reference world ([`World::default`]): a dial reaches a live person with probability 0.3 after
//! Uniform(4, 20) s of ringing, otherwise fails after Uniform(5, 30) s; talk time is exponential
//! with mean 120 s and there is no wrap-up; a live answer waits at most 2 s for an agent, else it is
//! abandoned. The pacer learns all of this from the outcomes it is fed (only the wait limit, a
//! tenant setting, is configured); it never reads these constants.

use crate::pacing::{DialOutcome, Pacer, PacingConfig, Snapshot};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;

/// The world a simulation runs in. The default is the reference model; other worlds check that
/// the pacer learns rather than assumes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct World {
    /// Probability that a dial reaches a live person.
    pub live_p: f64,
    /// Ringing time before a live answer, uniform between these (ms).
    pub answer_ms: (u64, u64),
    /// Time to a failed attempt, uniform between these (ms).
    pub fail_ms: (u64, u64),
    /// Mean of the exponential talk time (ms).
    pub talk_mean_ms: f64,
    /// How long a live answer waits for an agent before it is abandoned (ms).
    pub patience_ms: u64,
}

impl Default for World {
    fn default() -> Self {
        Self {
            live_p: 0.3,
            answer_ms: (4_000, 20_000),
            fail_ms: (5_000, 30_000),
            talk_mean_ms: 120_000.0,
            patience_ms: 2_000,
        }
    }
}

/// The pacer is consulted at least this often, besides every event.
const TICK_MS: u64 = 1_000;

/// Which dialling policy a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Policy {
    /// The [`Pacer`] with an abandonment cap in percent.
    Predictive {
        /// The cap, percent of live answers.
        target_pct: f64,
    },
    /// One dial per idle agent, the agent reserved while it rings: never abandons, the baseline.
    Progressive,
    /// The pacer's model with a fixed risk threshold and no feedback, to map what the model can do.
    FixedThreshold {
        /// Highest P(abandon | live answer) accepted for a new dial.
        threshold: f64,
    },
}

impl Policy {
    /// The abandonment cap this policy promises, as a fraction, if it promises one.
    pub fn target(&self) -> Option<f64> {
        match self {
            Policy::Predictive { target_pct } => Some(target_pct / 100.0),
            _ => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Policy::Predictive { .. } => "predictive".into(),
            Policy::Progressive => "progressive".into(),
            Policy::FixedThreshold { threshold } => format!("fixed θ={threshold:.3}"),
        }
    }
}

/// What one simulated shift produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Agents logged in for the whole shift.
    pub agents: u32,
    /// The policy that paced it.
    pub policy: Policy,
    /// Random seed of the run.
    pub seed: u64,
    /// Length of the shift in hours.
    pub hours: f64,
    /// Total talk time of all agents inside the shift, ms.
    pub talk_ms: u64,
    /// Dials placed.
    pub dials: u64,
    /// Dials that reached a live person.
    pub live: u64,
    /// Live answers that found no agent within the wait limit.
    pub abandoned: u64,
    /// Dials the pacer hung up while they were still ringing.
    #[serde(default)]
    pub dropped: u64,
    /// Highest abandoned / live answers at any moment of the shift once answers came: the cap
    /// holds at every point of a campaign, not only at its end.
    #[serde(default)]
    pub peak_share: f64,
}

impl RunResult {
    /// Total talk time / (agents × shift).
    pub fn occupancy(&self) -> f64 {
        self.talk_ms as f64 / (self.agents as f64 * self.hours * 3_600_000.0)
    }

    /// Abandoned / live answers over the whole shift.
    pub fn abandonment(&self) -> f64 {
        if self.live == 0 { 0.0 } else { self.abandoned as f64 / self.live as f64 }
    }
}

/// Several seeds of one (agents, policy) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Agents logged in.
    pub agents: u32,
    /// The policy.
    pub policy: Policy,
    /// One result per seed.
    pub runs: Vec<RunResult>,
}

impl Summary {
    fn mean(&self, f: impl Fn(&RunResult) -> f64) -> f64 {
        self.runs.iter().map(f).sum::<f64>() / self.runs.len().max(1) as f64
    }

    /// Mean occupancy over the seeds.
    pub fn occupancy(&self) -> f64 {
        self.mean(RunResult::occupancy)
    }

    /// Mean abandonment over the seeds.
    pub fn abandonment(&self) -> f64 {
        self.mean(RunResult::abandonment)
    }

    /// Worst seed's abandonment: the cap holds per shift, not on average.
    pub fn worst_abandonment(&self) -> f64 {
        self.runs.iter().map(RunResult::abandonment).fold(0.0, f64::max)
    }

    /// Mean dials per run.
    pub fn dials(&self) -> f64 {
        self.mean(|r| r.dials as f64)
    }

    /// Mean live answers per run.
    pub fn live(&self) -> f64 {
        self.mean(|r| r.live as f64)
    }

    /// Mean abandons per run.
    pub fn abandoned(&self) -> f64 {
        self.mean(|r| r.abandoned as f64)
    }

    /// Highest share of abandoned answers any seed reached at any moment of its shift.
    pub fn peak_share(&self) -> f64 {
        self.runs.iter().map(|r| r.peak_share).fold(0.0, f64::max)
    }

    /// Mean dials hung up while ringing per run.
    pub fn dropped(&self) -> f64 {
        self.mean(|r| r.dropped as f64)
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimOptions {
    /// Length of each shift.
    pub hours: f64,
    /// Seeds per configuration; results are averaged, and the cap is checked on each.
    pub seeds: u32,
    /// The first seed; the others follow it.
    pub first_seed: u64,
    /// Floor sizes to simulate.
    pub agents: Vec<u32>,
    /// Abandonment caps (percent) the predictive pacer runs at, for every floor size.
    pub targets_pct: Vec<f64>,
    /// Whether to run the progressive baseline too.
    pub progressive: bool,
    /// Worker threads; 0 uses what the machine offers.
    pub threads: usize,
    /// The world to simulate; the default is the reference model the goals refer to.
    pub world: World,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            hours: 8.0,
            seeds: 5,
            first_seed: 1,
            agents: vec![10, 25, 50, 100],
            targets_pct: vec![3.0, 1.0],
            progressive: true,
            threads: 0,
            world: World::default(),
        }
    }
}

/// Occupancy of the published "grid" policy at a cap (fraction), where it was measured.
pub fn reference_occupancy(agents: u32, target: f64) -> Option<f64> {
    match (agents, (target * 1000.0).round() as u32) {
        (10, 30) => Some(0.81),
        (25, 30) => Some(0.88),
        (50, 30) => Some(0.91),
        (100, 30) => Some(0.94),
        (50, 10) => Some(0.89),
        _ => None,
    }
}

/// Occupancy yunhu's pacer reached in the reference world before the cap bound at every moment
/// (issue 18: it read the cap as a share of 200 answers until a campaign had them, and only the
/// shift's end share was kept under it), seeds 1-5; what the hard budget costs is measured against it.
pub fn before_budget_occupancy(agents: u32, target: f64) -> Option<f64> {
    match (agents, (target * 1000.0).round() as u32) {
        (10, 30) => Some(0.849),
        (25, 30) => Some(0.901),
        (50, 30) => Some(0.937),
        (100, 30) => Some(0.964),
        (50, 10) => Some(0.916),
        _ => None,
    }
}

/// Occupancy yunhu's pacer must reach at a cap (fraction), where a goal is set.
pub fn goal_occupancy(agents: u32, target: f64) -> Option<f64> {
    match (agents, (target * 1000.0).round() as u32) {
        (10, 30) => Some(0.85),
        (25, 30) => Some(0.90),
        (50, 30) => Some(0.93),
        (100, 30) => Some(0.95),
        (50, 10) => Some(0.90),
        _ => None,
    }
}

/// Occupancy the progressive baseline is known to reach in this world.
pub const PROGRESSIVE_REFERENCE: f64 = 0.69;

/// Runs every configuration of `opts`, each over all its seeds, in parallel where allowed.
pub fn run(opts: &SimOptions) -> Vec<Summary> {
    let mut configs = Vec::new();
    for &agents in &opts.agents {
        if opts.progressive {
            configs.push((agents, Policy::Progressive));
        }
        for &target_pct in &opts.targets_pct {
            configs.push((agents, Policy::Predictive { target_pct }));
        }
    }
    run_policies(opts, &configs)
}

/// Runs the given (agents, policy) pairs over the seeds of `opts`.
pub fn run_policies(opts: &SimOptions, configs: &[(u32, Policy)]) -> Vec<Summary> {
    let jobs: Vec<(usize, u32, Policy, u64)> = configs
        .iter()
        .enumerate()
        .flat_map(|(i, &(agents, policy))| {
            (0..opts.seeds as u64).map(move |s| (i, agents, policy, opts.first_seed + s))
        })
        .collect();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(jobs.len().max(1));
    // Longest jobs first, so the threads finish together.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| Reverse(jobs[j].1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&j) = order.get(k) else { break };
                    let (_, agents, policy, seed) = jobs[j];
                    let r = run_one(&opts.world, agents, policy, opts.hours, seed);
                    results.lock().unwrap_or_else(|e| e.into_inner())[j] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut summaries: Vec<Summary> =
        configs.iter().map(|&(agents, policy)| Summary { agents, policy, runs: Vec::new() }).collect();
    for (job, r) in jobs.iter().zip(results) {
        summaries[job.0].runs.extend(r);
    }
    summaries
}

/// Runs everything in `opts` and renders the table with the reference figures and goals.
pub fn report(opts: &SimOptions) -> String {
    render(opts, &run(opts))
}

/// Renders summaries as a plain-text table.
pub fn render(opts: &SimOptions, summaries: &[Summary]) -> String {
    let mut out = String::new();
    let w = &opts.world;
    let s = |ms: u64| ms as f64 / 1000.0;
    let _ = writeln!(
        out,
        "Predictive dialer simulation: {} h shifts, {} seed(s) from {}; p(live)={}, answer U({}, {}) s, \
         failure U({}, {}) s, talk Exp({} s), wait limit {} s",
        opts.hours,
        opts.seeds,
        opts.first_seed,
        w.live_p,
        s(w.answer_ms.0),
        s(w.answer_ms.1),
        s(w.fail_ms.0),
        s(w.fail_ms.1),
        w.talk_mean_ms / 1000.0,
        s(w.patience_ms)
    );
    // The reference figures and goals were measured in the reference world only.
    let reference_world = *w == World::default();
    let header = ["agents", "policy", "target", "occupancy", "abandonment", "worst seed", "peak", "dials", "live"];
    let header2 = ["abandoned", "dropped", "before", "reference", "goal", "verdict"];
    let widths = [6usize, 16, 6, 9, 11, 10, 6, 8, 7, 9, 7, 6, 9, 5, 10];
    let row = |out: &mut String, cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 1 || i + 1 == cells.len() { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        let _ = writeln!(out, "{}", line.join(" | ").trim_end());
    };
    let names: Vec<String> = header.iter().chain(header2.iter()).map(|h| h.to_string()).collect();
    row(&mut out, &names);
    let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 3 * (widths.len() - 1)));
    for s in summaries {
        let target = s.policy.target();
        let before = target.filter(|_| reference_world).and_then(|t| before_budget_occupancy(s.agents, t));
        let (reference, goal) = match target {
            _ if !reference_world => (None, None),
            Some(t) => (reference_occupancy(s.agents, t), goal_occupancy(s.agents, t)),
            None if s.policy == Policy::Progressive => (Some(PROGRESSIVE_REFERENCE), None),
            None => (None, None),
        };
        // The cap binds at every moment of the shift, so the peak share is what is judged.
        let within_cap = target.is_none_or(|t| s.peak_share() <= t + 1e-12);
        let verdict = match (goal, within_cap) {
            (_, false) => "OVER CAP",
            (Some(g), true) if s.occupancy() >= g => "met",
            (Some(_), true) => "below goal",
            (None, true) => "",
        };
        let dash = || "—".to_string();
        let opt = |v: Option<f64>| v.map_or_else(dash, |v| format!("{v:.2}"));
        let cells = [
            s.agents.to_string(),
            s.policy.label(),
            target.map_or_else(dash, |t| format!("{:.0}%", t * 100.0)),
            format!("{:.3}", s.occupancy()),
            format!("{:.2}%", s.abandonment() * 100.0),
            target.map_or_else(dash, |_| format!("{:.2}%", s.worst_abandonment() * 100.0)),
            target.map_or_else(dash, |_| format!("{:.1}%", s.peak_share() * 100.0)),
            format!("{:.0}", s.dials()),
            format!("{:.0}", s.live()),
            format!("{:.1}", s.abandoned()),
            format!("{:.0}", s.dropped()),
            before.map_or_else(dash, |v| format!("{v:.3}")),
            opt(reference),
            opt(goal),
            verdict.to_string(),
        ];
        row(&mut out, &cells);
    }
    let _ = writeln!(
        out,
        "\nreference: the grid policy at ≤3 %: 0.81 / 0.88 / 0.91 / 0.94 for 10 / 25 / 50 / 100 agents, 0.89 at ≤1 % \
         for 50; progressive ≈0.69.\ngoals: ≥0.85 / 0.90 / 0.93 / 0.95 at ≤3 %, ≥0.90 at ≤1 % for 50 agents, \
         with every seed's abandonment within its cap at every moment.\ndropped: dials the predictive pacer hung up unanswered \
         after ringing at least 15 s, when their answer would likely have found no agent.\npeak: the highest \
         share of abandoned answers any seed reached at any moment of its shift, once answers came.\nbefore: the \
         pacer's occupancy before the cap bound at every moment (its peak share at 3 % then reached 5.1-5.9 %)."
    );
    out
}

/// Agent state in the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Agent {
    Idle,
    Talking {
        since: u64,
    },
    /// Progressive only: waiting on its own dial.
    Reserved,
}

/// Call state in the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CallState {
    Ringing,
    Waiting,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Call {
    dialed_at: u64,
    /// Fixed when dialled: the world already knows, the pacer must learn.
    live: bool,
    ring_ms: u64,
    state: CallState,
    /// Progressive only: the agent reserved for this dial.
    agent: Option<u32>,
    /// Index in the ringing list while ringing.
    slot: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Resolve(u32),
    TalkEnd(u32),
    Patience(u32),
    Tick,
}

struct Floor<'w> {
    world: &'w World,
    rng: StdRng,
    now: u64,
    end: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    agents: Vec<Agent>,
    idle: Vec<u32>,
    calls: Vec<Call>,
    free_calls: Vec<u32>,
    ringing: Vec<u32>,
    waiting: VecDeque<u32>,
    pacer: Option<Pacer>,
    result: RunResult,
    // Buffers for the snapshot, kept to avoid allocating per decision.
    busy_buf: Vec<u64>,
    ring_buf: Vec<u64>,
    wait_buf: Vec<u64>,
}

/// Simulates one shift of `agents` agents under `policy` in `world`.
pub fn run_one(world: &World, agents: u32, policy: Policy, hours: f64, seed: u64) -> RunResult {
    let end = (hours * 3_600_000.0).round() as u64;
    let pacer = match policy {
        Policy::Predictive { target_pct } => {
            Some(Pacer::new(PacingConfig { max_wait_for_agent_ms: world.patience_ms, ..PacingConfig::new(target_pct) }))
        }
        Policy::FixedThreshold { threshold } => Some(Pacer::with_fixed_threshold(
            PacingConfig { max_wait_for_agent_ms: world.patience_ms, ..PacingConfig::default() },
            threshold,
        )),
        Policy::Progressive => None,
    };
    let mut w = Floor {
        world,
        rng: StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(agents)),
        now: 0,
        end,
        seq: 0,
        events: BinaryHeap::new(),
        agents: vec![Agent::Idle; agents as usize],
        idle: (0..agents).rev().collect(),
        calls: Vec::new(),
        free_calls: Vec::new(),
        ringing: Vec::new(),
        waiting: VecDeque::new(),
        pacer,
        result: RunResult {
            agents,
            policy,
            seed,
            hours,
            talk_ms: 0,
            dials: 0,
            live: 0,
            abandoned: 0,
            dropped: 0,
            peak_share: 0.0,
        },
        busy_buf: Vec::new(),
        ring_buf: Vec::new(),
        wait_buf: Vec::new(),
    };
    w.schedule(0, Event::Tick);
    while let Some(Reverse((at, _, ev))) = w.events.pop() {
        if at >= w.end {
            break;
        }
        w.now = at;
        match ev {
            Event::Resolve(c) => w.resolve(c),
            Event::TalkEnd(a) => w.talk_end(a),
            Event::Patience(c) => w.patience(c),
            Event::Tick => w.schedule(at + TICK_MS, Event::Tick),
        }
        w.pace();
    }
    w.result
}

impl Floor<'_> {
    fn schedule(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn dial(&mut self, agent: Option<u32>) {
        let live = self.rng.gen_bool(self.world.live_p);
        let (lo, hi) = if live { self.world.answer_ms } else { self.world.fail_ms };
        let ring_ms = self.rng.gen_range(lo..=hi);
        let call =
            Call { dialed_at: self.now, live, ring_ms, state: CallState::Ringing, agent, slot: self.ringing.len() };
        let id = match self.free_calls.pop() {
            Some(id) => {
                self.calls[id as usize] = call;
                id
            }
            None => {
                self.calls.push(call);
                (self.calls.len() - 1) as u32
            }
        };
        self.ringing.push(id);
        self.result.dials += 1;
        self.schedule(self.now + ring_ms, Event::Resolve(id));
    }

    fn retire(&mut self, id: u32) {
        self.calls[id as usize].state = CallState::Done;
        self.free_calls.push(id);
    }

    fn unring(&mut self, id: u32) {
        let slot = self.calls[id as usize].slot;
        self.ringing.swap_remove(slot);
        if let Some(&moved) = self.ringing.get(slot) {
            self.calls[moved as usize].slot = slot;
        }
    }

    /// The dialer hangs up a dial still ringing; the world's outcome for it never happens.
    fn hang_up(&mut self, id: u32) {
        self.unring(id);
        let ring_ms = self.now - self.calls[id as usize].dialed_at;
        if let Some(p) = &mut self.pacer {
            p.record_dial(self.now, DialOutcome::Dropped { ring_ms });
        }
        self.result.dropped += 1;
        self.retire(id);
    }

    fn resolve(&mut self, id: u32) {
        let call = self.calls[id as usize];
        if call.state != CallState::Ringing || call.dialed_at + call.ring_ms != self.now {
            // Hung up earlier. A later dial reusing the slot resolves at another instant: it was
            // dialled at or after the hang-up, and rings for seconds.
            return;
        }
        self.unring(id);
        let outcome = if call.live {
            DialOutcome::Live { ring_ms: call.ring_ms }
        } else {
            DialOutcome::Failed { ring_ms: call.ring_ms }
        };
        if let Some(p) = &mut self.pacer {
            p.record_dial(self.now, outcome);
        }
        if !call.live {
            self.retire(id);
            if let Some(agent) = call.agent {
                // Progressive: the reserved agent dials again at once.
                self.dial(Some(agent));
            }
            return;
        }
        self.result.live += 1;
        if let Some(agent) = call.agent {
            self.retire(id);
            self.connect(agent);
        } else if let Some(agent) = self.idle.pop() {
            self.retire(id);
            self.connect(agent);
        } else {
            self.calls[id as usize].state = CallState::Waiting;
            self.waiting.push_back(id);
            self.schedule(self.now + self.world.patience_ms, Event::Patience(id));
        }
    }

    fn connect(&mut self, agent: u32) {
        let u: f64 = self.rng.r#gen();
        let talk = (-(1.0 - u).ln() * self.world.talk_mean_ms).round() as u64;
        self.agents[agent as usize] = Agent::Talking { since: self.now };
        self.result.talk_ms += talk.min(self.end - self.now);
        self.schedule(self.now + talk, Event::TalkEnd(agent));
    }

    fn talk_end(&mut self, agent: u32) {
        if let Agent::Talking { since } = self.agents[agent as usize]
            && let Some(p) = &mut self.pacer
        {
            p.record_talk(self.now, self.now - since);
        }
        self.agents[agent as usize] = Agent::Idle;
        if self.pacer.is_none() {
            self.agents[agent as usize] = Agent::Reserved;
            self.dial(Some(agent));
        } else if let Some(id) = self.waiting.pop_front() {
            self.retire(id);
            self.connect(agent);
        } else {
            self.idle.push(agent);
        }
    }

    fn patience(&mut self, id: u32) {
        if self.calls[id as usize].state != CallState::Waiting {
            return;
        }
        // Everyone waits the same limit, so the one whose limit ends is the oldest waiting.
        if let Some(pos) = self.waiting.iter().position(|&c| c == id) {
            self.waiting.remove(pos);
        }
        self.retire(id);
        self.result.abandoned += 1;
        // The share only rises at an abandon, so its peak is seen here.
        let share = self.result.abandoned as f64 / self.result.live as f64;
        self.result.peak_share = self.result.peak_share.max(share);
        if let Some(p) = &mut self.pacer {
            p.record_abandon(self.now);
        }
    }

    fn pace(&mut self) {
        let Some(pacer) = &mut self.pacer else {
            // Progressive: every idle agent gets a dial of its own.
            while let Some(agent) = self.idle.pop() {
                self.agents[agent as usize] = Agent::Reserved;
                self.dial(Some(agent));
            }
            return;
        };
        let now = self.now;
        self.busy_buf.clear();
        self.busy_buf.extend(self.agents.iter().filter_map(|a| match a {
            Agent::Talking { since } => Some(now - since),
            _ => None,
        }));
        self.ring_buf.clear();
        self.ring_buf.extend(self.ringing.iter().map(|&c| now - self.calls[c as usize].dialed_at));
        self.wait_buf.clear();
        self.wait_buf.extend(self.waiting.iter().map(|&c| {
            let call = &self.calls[c as usize];
            now - (call.dialed_at + call.ring_ms)
        }));
        let snap = Snapshot {
            idle_agents: self.idle.len() as u32,
            busy_talk_ms: &self.busy_buf,
            ringing_ms: &self.ring_buf,
            waiting_ms: &self.wait_buf,
        };
        let decision = pacer.decide(now, &snap);
        let dropped: Vec<u32> = decision.drop.iter().map(|&i| self.ringing[i]).collect();
        for id in dropped {
            self.hang_up(id);
        }
        for _ in 0..decision.dial {
            self.dial(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progressive_never_abandons_and_is_deterministic() {
        let w = World::default();
        let a = run_one(&w, 10, Policy::Progressive, 0.5, 3);
        let b = run_one(&w, 10, Policy::Progressive, 0.5, 3);
        assert_eq!(a, b);
        assert_eq!(a.abandoned, 0);
        assert!(a.live > 0 && a.dials > a.live);
    }
}
