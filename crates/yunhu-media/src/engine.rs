//! The media thread: every session's sockets on one epoll set, read without async tasks.
//!
//! A task per session cost a runtime wakeup, a select over five futures and a failed read per
//! packet. Here one thread waits on all sockets, and after each wakeup it lets packets gather for
//! a moment before waiting again, so one wakeup relays many packets (see [`gather`]).

use crate::relay::{Control, Ending, Scratch, Session, next_tick};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Periods of the media thread's wakeups under load, longest first; all divide the 20 ms prompt
/// and mix ticks, the 100 ms recorder ticks and the 1 s silence checks, so those fall on wakeups.
const GATHER: [Duration; 3] = [Duration::from_millis(10), Duration::from_millis(5), Duration::from_millis(2)];
/// Packets one wakeup should relay at most, as a rate times the period.
const BURST: f64 = 100.0;
/// How long the packet rate is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(200);

/// The period to gather packets for at `rate` packets a second. A packet waits at most this long
/// on top of the network (half a 20 ms frame at most, which jitter buffers absorb), and in return
/// one wakeup relays every packet of every call that arrived meanwhile: at 100 calls (before reads
/// were batched) 2 ms cost 17 µs of CPU per packet, 10 ms 14 µs, most of the difference being
/// wakeups of this thread and of the peers it sends to. The period shortens as the rate grows, so
/// the burst sent in one wakeup stays near [`BURST`] packets: a peer that takes every call on one
/// socket (an SBC, the bench's sipp) keeps them within a default 208 KiB receive buffer, and
/// latency falls under load.
fn gather(rate: f64) -> Duration {
    GATHER.into_iter().find(|p| rate * p.as_secs_f64() <= BURST).unwrap_or(GATHER[GATHER.len() - 1])
}
const WAKER: Token = Token(usize::MAX);

enum Command {
    Open(u64, Box<Session>),
    AddLeg(u64, usize, mio::net::UdpSocket),
    RemoveLeg(u64, usize),
    Control(u64, Control),
}

/// The handle sessions use to reach the media thread.
pub(crate) struct Engine {
    queue: Mutex<Vec<Command>>,
    waker: Waker,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The media thread, started on first use.
pub(crate) fn get() -> std::io::Result<&'static Engine> {
    ENGINE.get_or_init(|| start().map_err(|e| e.to_string())).as_ref().map_err(|e| std::io::Error::other(e.clone()))
}

fn start() -> std::io::Result<Engine> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let (endings, finisher) = std::sync::mpsc::channel::<Ending>();
    // Stopped sessions are completed here: a recording's fsync and rename can take milliseconds
    // that the other calls' packets must not wait for.
    std::thread::Builder::new().name("yunhu-media-end".into()).spawn(move || {
        for ending in finisher {
            ending.finish();
        }
    })?;
    std::thread::Builder::new().name("yunhu-media".into()).spawn(move || {
        // Waits until `start` has returned and the engine is set.
        if let Ok(engine) = get() {
            run(poll, engine, endings);
        }
    })?;
    Ok(Engine { queue: Mutex::new(Vec::new()), waker, next_id: AtomicU64::new(0) })
}

impl Engine {
    /// Hands a session to the media thread; returns its id.
    pub(crate) fn open(&self, session: Session) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Open(id, Box::new(session)));
        id
    }

    /// Adds leg `index` on `socket` to a session.
    pub(crate) fn add_leg(&self, id: u64, index: usize, socket: mio::net::UdpSocket) {
        self.send(Command::AddLeg(id, index, socket));
    }

    /// Removes a leg from a session and closes its socket.
    pub(crate) fn remove_leg(&self, id: u64, index: usize) {
        self.send(Command::RemoveLeg(id, index));
    }

    /// Queues a command for a session.
    pub(crate) fn control(&self, id: u64, cmd: Control) {
        self.send(Command::Control(id, cmd));
    }

    fn send(&self, cmd: Command) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(cmd);
        // Only the first command of a batch needs to wake the thread: it takes them all.
        if queue.len() == 1 {
            drop(queue);
            if let Err(e) = self.waker.wake() {
                tracing::error!(error = %e, "media thread could not be woken");
            }
        }
    }
}

/// Bits of a token that hold the leg index (a session has at most 256 legs).
const LEG_BITS: u32 = 8;

fn token(id: u64, leg: usize) -> Token {
    Token((id as usize) << LEG_BITS | leg)
}

fn untoken(t: Token) -> (u64, usize) {
    ((t.0 >> LEG_BITS) as u64, t.0 & ((1 << LEG_BITS) - 1))
}

fn run(mut poll: Poll, engine: &Engine, endings: std::sync::mpsc::Sender<Ending>) {
    let mut events = Events::with_capacity(1024);
    let mut sessions: HashMap<u64, Box<Session>> = HashMap::new();
    let mut scratch = Scratch::new();
    // Sockets whose reading stopped at the budget: epoll (edge-triggered) will not report them
    // again for what is already waiting, so they are read on the next round.
    let mut backlog: Vec<Token> = Vec::new();
    let mut ready: Vec<Token> = Vec::new();
    let mut next_timer: Option<Instant> = None;
    // Packets read per second over the last window.
    let mut rate = 0.0;
    let mut counted = 0;
    let mut window_start = Instant::now();
    loop {
        let timeout = if backlog.is_empty() {
            next_timer.map(|t| t.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        if let Err(e) = poll.poll(&mut events, timeout)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            tracing::error!(error = %e, "media poll failed");
            std::thread::sleep(GATHER[0]);
            continue;
        }
        let woke = Instant::now();
        let commands = std::mem::take(&mut *engine.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for cmd in commands {
            match cmd {
                Command::Open(id, mut session) => {
                    for (leg, socket) in session.sockets_mut() {
                        if let Err(e) = poll.registry().register(socket, token(id, leg), Interest::READABLE) {
                            tracing::error!(error = %e, "media socket could not be watched");
                        }
                    }
                    sessions.insert(id, session);
                }
                Command::AddLeg(id, leg, socket) => {
                    let Some(session) = sessions.get_mut(&id) else { continue };
                    let socket = session.add_leg(leg, socket);
                    if let Err(e) = poll.registry().register(socket, token(id, leg), Interest::READABLE) {
                        tracing::error!(error = %e, "media socket could not be watched");
                    }
                }
                Command::RemoveLeg(id, leg) => {
                    let Some(session) = sessions.get_mut(&id) else { continue };
                    if let Some(mut socket) = session.remove_leg(leg, woke) {
                        let _ = poll.registry().deregister(&mut socket);
                    }
                }
                Command::Control(id, cmd) => {
                    let Some(session) = sessions.get_mut(&id) else { continue };
                    match guard(|| session.control(cmd, woke)) {
                        Some(None) => {
                            if let Some(due) = session.next_due() {
                                next_timer = Some(next_timer.map_or(due, |t| t.min(due)));
                            }
                        }
                        Some(Some(ending)) => {
                            drop_session(&poll, &mut sessions, id);
                            // Finished here if the finishing thread is gone.
                            if let Err(std::sync::mpsc::SendError(ending)) = endings.send(ending) {
                                ending.finish();
                            }
                        }
                        None => drop_session(&poll, &mut sessions, id),
                    }
                }
            }
        }
        ready.clear();
        ready.append(&mut backlog);
        ready.extend(events.iter().map(|e| e.token()).filter(|t| *t != WAKER));
        for &t in &ready {
            let (id, leg) = untoken(t);
            let Some(session) = sessions.get_mut(&id) else { continue };
            match guard(|| session.drain(leg, &mut scratch, woke)) {
                Some(drained) => {
                    if !drained {
                        backlog.push(t);
                    }
                    if let Some(due) = session.next_due() {
                        next_timer = Some(next_timer.map_or(due, |t| t.min(due)));
                    }
                }
                None => drop_session(&poll, &mut sessions, id),
            }
        }
        if next_timer.is_some_and(|t| t <= woke) {
            next_timer = None;
            let mut failed = Vec::new();
            for (id, session) in sessions.iter_mut() {
                if guard(|| session.on_timer(woke, &mut scratch)).is_none() {
                    failed.push(*id);
                } else if let Some(due) = session.next_due() {
                    next_timer = Some(next_timer.map_or(due, |t| t.min(due)));
                }
            }
            for id in failed {
                drop_session(&poll, &mut sessions, id);
            }
        }
        // Packets gather until the next tick of the grid; prompt and recorder deadlines lie on
        // the same grid, so they are met by this wakeup rather than needing their own.
        let now = Instant::now();
        // Measured over whole windows: a round that follows another closely (woken by a command)
        // would otherwise count as a burst of rate.
        counted += scratch.take_read();
        let window = now.duration_since(window_start);
        if window >= RATE_WINDOW {
            rate = counted as f64 / window.as_secs_f64();
            counted = 0;
            window_start = now;
        }
        std::thread::sleep(next_tick(now, gather(rate)) - now);
    }
}

/// Runs one session's step. A panic in it (a bug) ends that session alone, not the media of
/// every call: see [`drop_session`].
fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Forgets a session: its sockets close, a recording stays as a `.part` file (repaired at the
/// next start), and a `stop` still waiting gets empty counters when its reply is dropped.
fn drop_session(poll: &Poll, sessions: &mut HashMap<u64, Box<Session>>, id: u64) {
    if let Some(mut session) = sessions.remove(&id) {
        for (_, s) in session.sockets_mut() {
            let _ = poll.registry().deregister(s);
        }
    }
}
