//! Automatic call distribution (ACD): who of the waiting callers goes to which free agent.
//!
//! Pure, with the clock passed in, like the dialer's pacer: the live switch, a simulator and the
//! tests feed it the same inputs (a caller entered a queue, an agent became free, an offer was
//! answered or rang out, a caller hung up or asked for a callback) and get the same decisions
//! ([`Decision`]: ring these agents for this caller, dial this caller back with this agent
//! reserved, overflow this caller). It never offers one agent two callers at once: an agent is
//! reserved from the offer until the offer ends. Several nodes share agents through the store's
//! atomic claim; this engine decides within one node.
//!
//! Order of callers: a caller's priority and its waiting time both count — the score is the
//! time waited plus [`QueueConfig::priority_step_ms`] per priority point — and a callback keeps
//! the place its caller had. Order of agents: the best skill level first (1 is best), then the
//! agent's own priority, then the queue's [`Strategy`].

#![warn(missing_docs)]

pub mod stats;

use serde::{Deserialize, Serialize};
pub use stats::{QueueStats, Wallboard};
use std::collections::{BTreeMap, HashMap};

/// How a queue picks among free agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle the longest (the default, as in mod_callcenter and Amazon Connect).
    #[default]
    LongestIdle,
    /// Every eligible free agent rings; the first to answer takes the call.
    RingAll,
    /// In turn, starting after the agent offered last.
    RoundRobin,
    /// The agent who took the fewest calls.
    FewestCalls,
    /// The agent with the least talk time.
    LeastTalkTime,
}

/// What a queue does with its callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// How agents are picked.
    pub strategy: Strategy,
    /// The skill a caller of this queue needs (`None`: membership is enough).
    pub skill: Option<String>,
    /// How long an offer rings before it counts as missed (ms).
    pub ring_ms: i64,
    /// Longest a caller waits before overflowing (ms; `None`: no limit).
    pub max_wait_ms: Option<i64>,
    /// How long a caller waits with no agent logged in to the queue at all before overflowing
    /// (ms; `None`: no limit).
    pub no_agent_wait_ms: Option<i64>,
    /// Where callers overflow to (a queue, an extension, voice mail: the switch's business).
    pub overflow: Option<String>,
    /// How much one priority point is worth in waiting time (ms).
    pub priority_step_ms: i64,
    /// The service-level threshold T (ms).
    pub service_level_ms: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::LongestIdle,
            skill: None,
            ring_ms: 15_000,
            max_wait_ms: None,
            no_agent_wait_ms: None,
            overflow: None,
            priority_step_ms: 60_000,
            service_level_ms: 20_000,
        }
    }
}

/// A caller in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The call (or the callback's) id.
    pub id: String,
    /// The number, for callbacks and for resuming an abandoned place.
    pub number: String,
    /// Higher goes first (with [`QueueConfig::priority_step_ms`] per point).
    pub priority: i64,
    /// When the caller's place was taken (ms): a callback and a resumed caller keep it.
    pub entered_at: i64,
    /// The caller left the line and waits to be called back.
    pub callback: bool,
    /// Agents who let this caller's offer ring out, not offered it again while others are free.
    missed_by: Vec<String>,
    /// Being offered right now (to these agents, until then).
    offer: Option<(Vec<String>, i64)>,
}

impl Caller {
    /// A caller entering now.
    pub fn new(id: &str, number: &str, priority: i64, now: i64) -> Caller {
        Caller {
            id: id.into(),
            number: number.into(),
            priority,
            entered_at: now,
            callback: false,
            missed_by: Vec::new(),
            offer: None,
        }
    }
}

/// An agent as the ACD sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agent {
    /// Account.
    pub id: String,
    /// Queues the agent serves.
    pub queues: Vec<String>,
    /// Skill → level (1 best).
    pub skills: BTreeMap<String, u8>,
    /// Lower goes first among agents of the same skill level.
    pub priority: i64,
    /// Free for a call (ready, idle, desktop alive: the contact center decides).
    pub free: bool,
    /// Since when free (ms).
    pub idle_since: i64,
    /// Calls taken.
    pub calls: u64,
    /// Talk time (ms).
    pub talk_ms: i64,
    /// Reserved for an offer or a callback.
    reserved_for: Option<String>,
}

impl Agent {
    /// A free agent of `queues`, idle since `idle_since`, with no skills, calls or talk time yet.
    pub fn new(id: &str, queues: &[&str], idle_since: i64) -> Agent {
        Agent {
            id: id.into(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            free: true,
            idle_since,
            ..Default::default()
        }
    }
}

/// What the ACD asks the switch to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring these agents' phones for the caller, until `until` (ms); the first to answer takes it.
    Offer {
        /// Queue.
        queue: String,
        /// Caller.
        caller: String,
        /// Agents rung (one, or all for ring-all).
        agents: Vec<String>,
        /// When the offer rings out.
        until: i64,
    },
    /// A callback's turn: the agent is reserved; dial the caller back and connect them.
    CallBack {
        /// Queue.
        queue: String,
        /// The callback.
        caller: String,
        /// The number to dial.
        number: String,
        /// The agent reserved for it.
        agent: String,
    },
    /// The offer to these agents rang out: put them not ready (missed); the caller is back at
    /// its place.
    Missed {
        /// Queue.
        queue: String,
        /// Caller.
        caller: String,
        /// Agents who did not answer.
        agents: Vec<String>,
    },
    /// The caller waited too long (or no agent serves the queue): send them to the overflow.
    Overflow {
        /// Queue.
        queue: String,
        /// Caller.
        caller: String,
        /// Where to.
        to: Option<String>,
    },
}

/// The queues, their callers and the agents, and the figures of each queue.
#[derive(Debug, Default)]
pub struct Acd {
    queues: BTreeMap<String, Queue>,
    agents: HashMap<String, Agent>,
}

#[derive(Debug, Default)]
struct Queue {
    config: QueueConfig,
    callers: Vec<Caller>,
    /// The agent offered last (round robin).
    last_offered: Option<String>,
    stats: QueueStats,
}

/// Why an input changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdError {
    /// No such queue.
    NoQueue(String),
    /// No such caller in the queue.
    NoCaller(String),
}

impl Acd {
    /// Declares (or reconfigures) a queue.
    pub fn set_queue(&mut self, name: &str, config: QueueConfig) {
        self.queues.entry(name.into()).or_default().config = config;
    }

    /// Adds or updates an agent (their queues, skills, priority; reservations are kept).
    pub fn set_agent(&mut self, mut agent: Agent) {
        if let Some(old) = self.agents.get(&agent.id) {
            agent.reserved_for = old.reserved_for.clone();
        }
        self.agents.insert(agent.id.clone(), agent);
    }

    /// Brings an agent in line with the contact center's view: their queues, whether they are
    /// free and since when. Counters (calls, talk time) and a reservation are kept; a new agent
    /// starts with none.
    pub fn sync_agent(&mut self, id: &str, queues: &[String], free: bool, idle_since: i64) {
        let a = self.agents.entry(id.to_string()).or_insert_with(|| Agent { id: id.into(), ..Default::default() });
        a.queues = queues.to_vec();
        a.free = free;
        a.idle_since = idle_since;
    }

    /// An agent's skills (skill → level, 1 best) and priority (lower first), as the directory
    /// declares them.
    pub fn set_skills(&mut self, id: &str, skills: BTreeMap<String, u8>, priority: i64) {
        if let Some(a) = self.agents.get_mut(id) {
            a.skills = skills;
            a.priority = priority;
        }
    }

    /// Whether a caller waits (on the line or for a call back, not being offered) in one of the
    /// agent's queues that the agent may take: a blended agent serves inbound callers first.
    pub fn wanted(&self, agent: &str) -> bool {
        let Some(a) = self.agents.get(agent) else { return false };
        a.queues.iter().any(|name| {
            let Some(q) = self.queues.get(name) else { return false };
            let skilled = q.config.skill.as_ref().is_none_or(|s| a.skills.contains_key(s));
            skilled && q.callers.iter().any(|c| c.offer.is_none())
        })
    }

    /// A declared queue's settings (its service-level threshold for the wallboard).
    pub fn queue_config(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.get(name).map(|q| &q.config)
    }

    /// Whether a queue is declared.
    pub fn has_queue(&self, name: &str) -> bool {
        self.queues.contains_key(name)
    }

    /// An agent became free (`true`, from `now`) or not (`false`).
    pub fn set_free(&mut self, agent: &str, free: bool, now: i64) {
        if let Some(a) = self.agents.get_mut(agent) {
            if free && !a.free {
                a.idle_since = now;
            }
            a.free = free;
        }
    }

    /// A caller enters `queue`. A caller whose number abandoned within `resume_ms` takes back the
    /// place it had ([`Acd::abandon`] keeps it that long).
    pub fn enqueue(&mut self, queue: &str, caller: Caller, now: i64) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let mut caller = caller;
        if let Some(place) = q.stats.take_resumable(&caller.number, now) {
            caller.entered_at = place;
        }
        q.stats.entered += 1;
        q.callers.push(caller);
        Ok(())
    }

    /// The caller leaves the line but keeps the place: called back when its turn comes.
    pub fn request_callback(&mut self, queue: &str, caller: &str) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let c = q.callers.iter_mut().find(|c| c.id == caller).ok_or_else(|| AcdError::NoCaller(caller.into()))?;
        c.callback = true;
        let offered = c.offer.take();
        q.stats.callbacks_requested += 1;
        if let Some((agents, _)) = offered {
            self.release(&agents, caller);
        }
        Ok(())
    }

    /// The caller hung up while waiting (abandoned); its place is kept for `resume_ms` so a call
    /// back from the same number resumes it.
    pub fn abandon(&mut self, queue: &str, caller: &str, now: i64, resume_ms: i64) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let i = q.callers.iter().position(|c| c.id == caller).ok_or_else(|| AcdError::NoCaller(caller.into()))?;
        let c = q.callers.remove(i);
        let threshold = q.config.service_level_ms;
        q.stats.abandoned(now - c.entered_at, threshold);
        q.stats.keep_place(&c.number, c.entered_at, now + resume_ms);
        if let Some((agents, _)) = c.offer {
            self.release(&agents, caller);
        }
        Ok(())
    }

    /// `agent` answered the caller's offer (or the callback connected): the caller leaves the
    /// queue, the other agents rung are free for others.
    pub fn answered(&mut self, queue: &str, caller: &str, agent: &str, now: i64) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let i = q.callers.iter().position(|c| c.id == caller).ok_or_else(|| AcdError::NoCaller(caller.into()))?;
        let c = q.callers.remove(i);
        let threshold = q.config.service_level_ms;
        q.stats.answered(now - c.entered_at, threshold);
        let rung: Vec<String> = c.offer.map(|(a, _)| a).unwrap_or_else(|| vec![agent.to_string()]);
        self.release(&rung, caller);
        if let Some(a) = self.agents.get_mut(agent) {
            a.free = false;
            a.calls += 1;
        }
        Ok(())
    }

    /// A callback could not reach its caller: it keeps its place and is tried again later
    /// (the switch counts the attempts and calls [`Acd::give_up`] past its limit).
    pub fn callback_failed(&mut self, queue: &str, caller: &str, agent: &str) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let c = q.callers.iter_mut().find(|c| c.id == caller).ok_or_else(|| AcdError::NoCaller(caller.into()))?;
        c.offer = None;
        self.release(&[agent.to_string()], caller);
        Ok(())
    }

    /// The caller is taken out of the queue for good (a callback out of attempts, a caller sent
    /// elsewhere by an exit key).
    pub fn give_up(&mut self, queue: &str, caller: &str) -> Result<(), AcdError> {
        let q = self.queues.get_mut(queue).ok_or_else(|| AcdError::NoQueue(queue.into()))?;
        let i = q.callers.iter().position(|c| c.id == caller).ok_or_else(|| AcdError::NoCaller(caller.into()))?;
        let c = q.callers.remove(i);
        if let Some((agents, _)) = c.offer {
            self.release(&agents, caller);
        }
        Ok(())
    }

    /// Talk time of a finished call, for the least-talk-time strategy.
    pub fn add_talk(&mut self, agent: &str, talk_ms: i64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.talk_ms += talk_ms;
        }
    }

    fn release(&mut self, agents: &[String], caller: &str) {
        for id in agents {
            if let Some(a) = self.agents.get_mut(id)
                && a.reserved_for.as_deref() == Some(caller)
            {
                a.reserved_for = None;
            }
        }
    }

    /// The callers waiting in a queue, best first: `(id, callback)`.
    pub fn waiting(&self, queue: &str, now: i64) -> Vec<(String, bool)> {
        let Some(q) = self.queues.get(queue) else { return Vec::new() };
        let mut order: Vec<&Caller> = q.callers.iter().collect();
        order.sort_by_key(|c| std::cmp::Reverse(score(c, &q.config, now)));
        order.into_iter().map(|c| (c.id.clone(), c.callback)).collect()
    }

    /// The position (1 = next) of a caller in its queue.
    pub fn position(&self, queue: &str, caller: &str, now: i64) -> Option<usize> {
        self.waiting(queue, now).iter().position(|(id, _)| id == caller).map(|p| p + 1)
    }

    /// What to do now: offers that rang out, overflows, and new offers and callbacks for free
    /// agents, queue by queue, best caller first.
    pub fn poll(&mut self, now: i64) -> Vec<Decision> {
        let mut out = Vec::new();
        self.expire_offers(now, &mut out);
        self.overflow(now, &mut out);
        let names: Vec<String> = self.queues.keys().cloned().collect();
        // Queues take turns by their best caller's score, so a busy queue does not starve another.
        let mut progress = true;
        while progress {
            progress = false;
            let mut best: Option<(i64, String, String)> = None;
            for name in &names {
                let q = &self.queues[name];
                for c in q.callers.iter().filter(|c| c.offer.is_none()) {
                    let s = score(c, &q.config, now);
                    if best.as_ref().is_none_or(|(b, _, _)| s > *b) && !self.eligible(name, c).is_empty() {
                        best = Some((s, name.clone(), c.id.clone()));
                    }
                }
            }
            if let Some((_, queue, caller)) = best {
                out.push(self.offer(&queue, &caller, now));
                progress = true;
            }
        }
        out
    }

    fn expire_offers(&mut self, now: i64, out: &mut Vec<Decision>) {
        let mut rang_out = Vec::new();
        for (name, q) in &mut self.queues {
            for c in &mut q.callers {
                if let Some((agents, until)) = &c.offer
                    && now >= *until
                    && !c.callback
                {
                    c.missed_by.extend(agents.iter().cloned());
                    rang_out.push((name.clone(), c.id.clone(), agents.clone()));
                    c.offer = None;
                }
            }
        }
        for (queue, caller, agents) in rang_out {
            for id in &agents {
                if let Some(a) = self.agents.get_mut(id) {
                    a.reserved_for = None;
                    // The contact center puts them not ready; until it says so, they are not free.
                    a.free = false;
                }
            }
            out.push(Decision::Missed { queue, caller, agents });
        }
    }

    fn overflow(&mut self, now: i64, out: &mut Vec<Decision>) {
        let staffed: Vec<String> = self
            .queues
            .keys()
            .filter(|name| self.agents.values().any(|a| a.queues.iter().any(|q| q == *name)))
            .cloned()
            .collect();
        for (name, q) in &mut self.queues {
            let no_agents = !staffed.contains(name);
            let mut leaving = Vec::new();
            for c in q.callers.iter().filter(|c| c.offer.is_none() && !c.callback) {
                let waited = now - c.entered_at;
                let too_long = q.config.max_wait_ms.is_some_and(|m| waited >= m);
                let nobody = no_agents && q.config.no_agent_wait_ms.is_some_and(|m| waited >= m);
                if too_long || nobody {
                    leaving.push(c.id.clone());
                }
            }
            for id in leaving {
                q.callers.retain(|c| c.id != id);
                q.stats.overflowed += 1;
                out.push(Decision::Overflow { queue: name.clone(), caller: id, to: q.config.overflow.clone() });
            }
        }
    }

    /// The free agents who may take `caller` of `queue`, best first.
    fn eligible(&self, queue: &str, caller: &Caller) -> Vec<String> {
        let q = &self.queues[queue];
        let level = |a: &Agent| match &q.config.skill {
            Some(skill) => a.skills.get(skill).copied(),
            None => Some(1),
        };
        let mut candidates: Vec<&Agent> = self
            .agents
            .values()
            .filter(|a| a.free && a.reserved_for.is_none() && a.queues.iter().any(|n| n == queue))
            .filter(|a| level(a).is_some())
            .collect();
        // Those who let this caller ring out get it only when nobody else is free.
        if candidates.iter().any(|a| !caller.missed_by.contains(&a.id)) {
            candidates.retain(|a| !caller.missed_by.contains(&a.id));
        }
        let rr_after = q.last_offered.clone().unwrap_or_default();
        candidates.sort_by(|a, b| {
            let tier = (level(a), a.priority).cmp(&(level(b), b.priority));
            tier.then_with(|| match q.config.strategy {
                Strategy::LongestIdle | Strategy::RingAll => a.idle_since.cmp(&b.idle_since),
                Strategy::FewestCalls => a.calls.cmp(&b.calls).then(a.idle_since.cmp(&b.idle_since)),
                Strategy::LeastTalkTime => a.talk_ms.cmp(&b.talk_ms).then(a.idle_since.cmp(&b.idle_since)),
                // In turn: those after the last one offered first, in account order.
                Strategy::RoundRobin => ((a.id <= rr_after), &a.id).cmp(&((b.id <= rr_after), &b.id)),
            })
            .then_with(|| a.id.cmp(&b.id))
        });
        candidates.into_iter().map(|a| a.id.clone()).collect()
    }

    fn offer(&mut self, queue: &str, caller: &str, now: i64) -> Decision {
        let c = self.queues[queue].callers.iter().find(|c| c.id == caller).cloned().expect("a waiting caller");
        let eligible = self.eligible(queue, &c);
        let q = self.queues.get_mut(queue).expect("the queue");
        let ring_all = q.config.strategy == Strategy::RingAll && !c.callback;
        let agents: Vec<String> = if ring_all { eligible } else { eligible.into_iter().take(1).collect() };
        q.last_offered = agents.first().cloned();
        let until = now + q.config.ring_ms;
        if let Some(w) = q.callers.iter_mut().find(|w| w.id == caller) {
            w.offer = Some((agents.clone(), until));
        }
        for id in &agents {
            if let Some(a) = self.agents.get_mut(id) {
                a.reserved_for = Some(caller.to_string());
            }
        }
        if c.callback {
            Decision::CallBack {
                queue: queue.into(),
                caller: caller.into(),
                number: c.number,
                agent: agents[0].clone(),
            }
        } else {
            Decision::Offer { queue: queue.into(), caller: caller.into(), agents, until }
        }
    }

    /// The figures of a queue now.
    pub fn wallboard(&self, queue: &str, now: i64) -> Option<Wallboard> {
        let q = self.queues.get(queue)?;
        let members: Vec<&Agent> = self.agents.values().filter(|a| a.queues.iter().any(|n| n == queue)).collect();
        Some(Wallboard {
            waiting: q.callers.iter().filter(|c| !c.callback).count(),
            callbacks_pending: q.callers.iter().filter(|c| c.callback).count(),
            longest_wait_ms: q.callers.iter().filter(|c| !c.callback).map(|c| now - c.entered_at).max().unwrap_or(0),
            agents_free: members.iter().filter(|a| a.free && a.reserved_for.is_none()).count(),
            agents_offered: members.iter().filter(|a| a.reserved_for.is_some()).count(),
            stats: q.stats.clone(),
        })
    }
}

/// A caller's place: waiting time plus its priority's worth.
fn score(c: &Caller, config: &QueueConfig, now: i64) -> i64 {
    (now - c.entered_at) + c.priority * config.priority_step_ms
}
