//! Password checks that cannot starve telephony. An argon2 check costs tens of milliseconds of a
//! core and 19 MiB; a stream of wrong secrets once ran on tokio's blocking pool (hundreds of
//! threads) and took the cores SIP and media need. Checks now run on a few threads of their own,
//! at a lower scheduling priority, behind a bounded queue: when it is full a login is refused as
//! busy at once. Failures are counted per client and per source address, and a key that keeps
//! failing waits longer and longer before it is checked again ([`Backoff`], pure, clock passed in).

use crate::secrets::{hash_secret, verify_secret};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// The queue was full: the check was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A fixed set of threads checking passwords, with a bounded queue in front.
pub struct PasswordPool {
    jobs: SyncSender<Job>,
    threads: usize,
    queue: usize,
}

impl PasswordPool {
    /// `threads` checkers (at least one) and at most `queue` checks waiting for them.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("yunhu-password-{i}")).spawn(move || {
                lower_priority();
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "password checker thread");
            }
        }
        Self { jobs, threads, queue }
    }

    /// How many threads check and how many checks may wait.
    pub fn limits(&self) -> (usize, usize) {
        (self.threads, self.queue)
    }

    /// Queues `work` for a checker thread; `Busy` at once if the queue is full.
    pub fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }

    /// Runs `work` on a checker thread; `Busy` at once if the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        self.submit(work)?.await.map_err(|_| Busy)
    }

    /// Checks `secret` against a PHC string; `None` as the hash spends the same work on a
    /// throwaway one, so an unknown account answers as slowly as a known one.
    pub async fn verify(&self, secret: &str, phc: Option<&str>) -> Result<bool, Busy> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let secret = secret.to_string();
        let phc = phc.map(str::to_string);
        self.run(move || match phc {
            Some(phc) => verify_secret(&secret, &phc),
            None => {
                let _ = verify_secret(&secret, DUMMY.get_or_init(|| hash_secret("yunhu-no-such-account")));
                false
            }
        })
        .await
    }
}

/// Password checks yield the cores to SIP, media and the async threads when they compete.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the calling thread on Linux
    // (threads are tasks there); it reads and writes no memory of ours.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// The limits of [`Backoff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Failures a key may have before it must wait.
    pub free_failures: u32,
    /// The first wait, ms; each further failure doubles it.
    pub first_wait_ms: i64,
    /// The longest wait, ms.
    pub max_wait_ms: i64,
    /// A key with no failure for this long starts afresh, ms.
    pub forget_after_ms: i64,
    /// Most keys remembered.
    pub max_keys: usize,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            first_wait_ms: 1000,
            max_wait_ms: 60_000,
            forget_after_ms: 15 * 60_000,
            max_keys: 50_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
    until_ms: i64,
}

/// Failed logins per client and per source address, with a growing wait before the next check.
/// A source that logged in as a client lately is not held back by that client's failures, so
/// a stranger failing on purpose cannot lock a working integration out.
#[derive(Debug, Default)]
pub struct Backoff {
    config: BackoffConfig,
    keys: HashMap<String, Failures>,
    trusted: HashMap<(IpAddr, String), i64>,
}

fn source_key(ip: IpAddr) -> String {
    format!("source\0{ip}")
}

impl Backoff {
    /// A backoff with `config`'s limits.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, keys: HashMap::new(), trusted: HashMap::new() }
    }

    fn wait_of(&self, key: &str, now_ms: i64) -> i64 {
        self.keys.get(key).map_or(0, |f| (f.until_ms - now_ms).max(0))
    }

    /// How long (ms) `client` from `source` must wait before its next check; 0: check now.
    pub fn wait_ms(&self, client: &str, source: Option<IpAddr>, now_ms: i64) -> i64 {
        let by_source = source.map_or(0, |ip| self.wait_of(&source_key(ip), now_ms));
        let trusted = source.is_some_and(|ip| self.trusted.get(&(ip, client.to_string())).is_some_and(|t| *t > now_ms));
        let by_client = if trusted { 0 } else { self.wait_of(client, now_ms) };
        by_source.max(by_client)
    }

    fn count(&mut self, key: String, now_ms: i64) {
        let c = &self.config;
        if self.keys.len() >= c.max_keys && !self.keys.contains_key(&key) {
            let forget = c.forget_after_ms;
            self.keys.retain(|_, f| now_ms - f.last_ms < forget || f.until_ms > now_ms);
            if self.keys.len() >= c.max_keys {
                return;
            }
        }
        let f = self.keys.entry(key).or_insert(Failures { count: 0, last_ms: now_ms, until_ms: 0 });
        if now_ms - f.last_ms >= c.forget_after_ms {
            *f = Failures { count: 0, last_ms: now_ms, until_ms: 0 };
        }
        f.count += 1;
        f.last_ms = now_ms;
        if f.count > c.free_failures {
            let doublings = (f.count - c.free_failures - 1).min(30);
            f.until_ms = now_ms + (c.first_wait_ms << doublings).min(c.max_wait_ms);
        }
    }

    /// Counts a failed login of `client` from `source`.
    pub fn failed(&mut self, client: &str, source: Option<IpAddr>, now_ms: i64) {
        self.count(client.to_string(), now_ms);
        if let Some(ip) = source {
            self.count(source_key(ip), now_ms);
        }
    }

    /// Notes a good login: the client's own failures are forgotten and `source` is exempt from
    /// them for the forget period. The source's failures stay counted.
    pub fn succeeded(&mut self, client: &str, source: Option<IpAddr>, now_ms: i64) {
        self.keys.remove(client);
        if let Some(ip) = source {
            if self.trusted.len() >= self.config.max_keys {
                self.trusted.retain(|_, until| *until > now_ms);
            }
            if self.trusted.len() < self.config.max_keys {
                self.trusted.insert((ip, client.to_string()), now_ms + self.config.forget_after_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn waits_grow_after_the_free_failures_and_are_capped() {
        let mut b = Backoff::new(BackoffConfig::default());
        let a = ip("203.0.113.7");
        for _ in 0..5 {
            assert_eq!(b.wait_ms("oauth\0c1", a, 0), 0);
            b.failed("oauth\0c1", a, 0);
        }
        assert_eq!(b.wait_ms("oauth\0c1", a, 0), 0, "five free failures");
        b.failed("oauth\0c1", a, 0);
        assert_eq!(b.wait_ms("oauth\0c1", a, 0), 1000);
        b.failed("oauth\0c1", a, 1000);
        assert_eq!(b.wait_ms("oauth\0c1", a, 1000), 2000);
        for _ in 0..20 {
            b.failed("oauth\0c1", a, 5000);
        }
        assert_eq!(b.wait_ms("oauth\0c1", a, 5000), 60_000, "capped");
        assert_eq!(b.wait_ms("oauth\0c2", a, 5000), 60_000, "the source waits for every client");
        assert_eq!(b.wait_ms("oauth\0c2", ip("203.0.113.8"), 5000), 0, "other sources and clients do not");
        assert_eq!(b.wait_ms("oauth\0c1", a, 5000 + 15 * 60_000), 0, "forgotten in time");
    }

    #[test]
    fn a_working_source_is_not_held_back_by_a_strangers_failures() {
        let mut b = Backoff::new(BackoffConfig::default());
        b.succeeded("crm\0x", ip("198.51.100.1"), 0);
        for i in 0..10u8 {
            b.failed("crm\0x", Some(IpAddr::from([203, 0, 113, i])), 10);
        }
        assert!(b.wait_ms("crm\0x", ip("203.0.113.200"), 20) > 0, "a new source waits");
        assert_eq!(b.wait_ms("crm\0x", ip("198.51.100.1"), 20), 0, "the integration goes on");
        assert_eq!(b.wait_ms("crm\0x", None, 20), b.wait_ms("crm\0x", ip("203.0.113.200"), 20));
    }

    #[tokio::test]
    async fn the_pool_refuses_when_its_queue_is_full_and_checks_otherwise() {
        let pool = PasswordPool::new(1, 1);
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let running = pool
            .submit(move || {
                let _ = started_tx.send(());
                let _ = hold_rx.recv();
            })
            .unwrap();
        started_rx.recv().unwrap();
        let queued = pool.submit(|| 7).expect("one may wait");
        assert_eq!(pool.submit(|| 0).err(), Some(Busy), "a full queue refuses at once");
        hold_tx.send(()).unwrap();
        running.await.unwrap();
        assert_eq!(queued.await.unwrap(), 7);
        let h = hash_secret("s3cret");
        assert_eq!(pool.verify("s3cret", Some(&h)).await, Ok(true));
        assert_eq!(pool.verify("nope", Some(&h)).await, Ok(false));
        assert_eq!(pool.verify("s3cret", None).await, Ok(false));
    }
}
