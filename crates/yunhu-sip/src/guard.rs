//! Failed digest logins, counted per source address and per extension, with temporary bans (what
//! Kamailio's `pike` and a fail2ban jail give a SIP server). Pure: the caller passes the clock, so
//! the rules are tested without sleeping.
//!
//! A banned request is refused without its digest being checked, with the same answer a wrong
//! password gets, so a guesser learns nothing from it. A ban of an extension does not lock out the
//! phones that use it: a source that logged in as that extension lately keeps going (only its own
//! failures, counted per source, can ban it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits of the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Failed logins from one address, within `window`, that ban the address; 0 turns it off.
    pub source_failures: u32,
    /// Failed logins to one extension (from anywhere), within `window`, that ban guessing it; 0
    /// turns it off.
    pub user_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban: Duration,
    /// How long a source that logged in as an extension stays exempt from that extension's ban.
    pub trust: Duration,
    /// Most addresses, extensions or trusted pairs remembered at once, so a flood of spoofed
    /// sources cannot grow memory without bound.
    pub max_tracked: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            source_failures: 10,
            user_failures: 30,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(600),
            trust: Duration::from_secs(3600),
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    since: Instant,
    banned_until: Option<Instant>,
}

impl Count {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }

    fn live(&self, now: Instant, config: &GuardConfig) -> bool {
        self.banned(now) || now.saturating_duration_since(self.since) < config.window
    }
}

/// Counts failures with a fixed window per key; `limit` failures in a window ban the key.
fn count<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Count>,
    key: K,
    limit: u32,
    now: Instant,
    config: &GuardConfig,
) -> bool {
    if limit == 0 {
        return false;
    }
    if map.len() >= config.max_tracked && !map.contains_key(&key) {
        map.retain(|_, c| c.live(now, config));
        if map.len() >= config.max_tracked {
            // Full of live entries: the bans already in force stay; this key goes uncounted.
            return false;
        }
    }
    let c = map.entry(key).or_insert(Count { failures: 0, since: now, banned_until: None });
    if c.banned(now) {
        return true;
    }
    if now.saturating_duration_since(c.since) >= config.window {
        *c = Count { failures: 0, since: now, banned_until: None };
    }
    c.failures += 1;
    if c.failures >= limit {
        c.banned_until = Some(now + config.ban);
        c.failures = 0;
        return true;
    }
    false
}

/// Failed-login bookkeeping for the SIP registrar and call authentication.
#[derive(Debug)]
pub struct AuthGuard {
    config: GuardConfig,
    sources: HashMap<IpAddr, Count>,
    users: HashMap<String, Count>,
    trusted: HashMap<(IpAddr, String), Instant>,
}

impl AuthGuard {
    /// A guard with `config`'s limits and nothing counted yet.
    pub fn new(config: GuardConfig) -> Self {
        Self { config, sources: HashMap::new(), users: HashMap::new(), trusted: HashMap::new() }
    }

    /// Whether a login from `source` as `user` (`domain/extension`) must be refused unchecked.
    pub fn banned(&self, source: IpAddr, user: &str, now: Instant) -> bool {
        if self.sources.get(&source).is_some_and(|c| c.banned(now)) {
            return true;
        }
        let trusted = self.trusted.get(&(source, user.to_string())).is_some_and(|until| now < *until);
        !trusted && self.users.get(user).is_some_and(|c| c.banned(now))
    }

    /// Counts a failed login; true if it (or an earlier one) banned the source or the extension.
    pub fn failed(&mut self, source: IpAddr, user: &str, now: Instant) -> bool {
        let config = self.config.clone();
        let by_source = count(&mut self.sources, source, config.source_failures, now, &config);
        let by_user = count(&mut self.users, user.to_string(), config.user_failures, now, &config);
        by_source || by_user
    }

    /// Notes a good login: `source` is exempt from `user`'s ban for a while. Failures already
    /// counted stay counted, so a guesser holding one good account cannot wash its record.
    pub fn succeeded(&mut self, source: IpAddr, user: &str, now: Instant) {
        if self.trusted.len() >= self.config.max_tracked {
            self.trusted.retain(|_, until| now < *until);
            if self.trusted.len() >= self.config.max_tracked {
                return;
            }
        }
        self.trusted.insert((source, user.to_string()), now + self.config.trust);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn guard() -> AuthGuard {
        AuthGuard::new(GuardConfig {
            source_failures: 3,
            user_failures: 5,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(600),
            trust: Duration::from_secs(3600),
            max_tracked: 1000,
        })
    }

    #[test]
    fn a_source_is_banned_after_its_limit_until_the_ban_ends() {
        let mut g = guard();
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        assert!(!g.failed(a, "d/1001", t0));
        assert!(!g.failed(a, "d/1002", t0));
        assert!(!g.banned(a, "d/1003", t0));
        assert!(g.failed(a, "d/1003", t0 + Duration::from_secs(1)), "third failure bans");
        assert!(g.banned(a, "d/1001", t0 + Duration::from_secs(2)), "every extension, from that source");
        assert!(!g.banned(ip("203.0.113.8"), "d/1001", t0 + Duration::from_secs(2)), "other sources go on");
        assert!(g.banned(a, "d/1001", t0 + Duration::from_secs(600)));
        assert!(!g.banned(a, "d/1001", t0 + Duration::from_secs(602)), "the ban ends");
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_ban() {
        let mut g = guard();
        let t0 = Instant::now();
        let a = ip("203.0.113.7");
        for i in 0..10u64 {
            assert!(!g.failed(a, "d/1001", t0 + Duration::from_secs(i * 31)), "failure {i}");
        }
        assert!(!g.banned(a, "d/1001", t0 + Duration::from_secs(400)));
    }

    #[test]
    fn an_extension_guessed_from_many_sources_is_banned_but_not_for_its_own_phone() {
        let mut g = guard();
        let t0 = Instant::now();
        let phone = ip("198.51.100.1");
        g.succeeded(phone, "d/1001", t0);
        for i in 0..5u8 {
            g.failed(IpAddr::from([203, 0, 113, i]), "d/1001", t0);
        }
        let later = t0 + Duration::from_secs(5);
        assert!(g.banned(ip("203.0.113.99"), "d/1001", later), "a new source is refused");
        assert!(!g.banned(ip("203.0.113.99"), "d/1002", later), "other extensions are not");
        assert!(!g.banned(phone, "d/1001", later), "the phone that logged in keeps going");
    }

    #[test]
    fn zero_limits_turn_counting_off_and_memory_stays_bounded() {
        let mut g = AuthGuard::new(GuardConfig { source_failures: 0, user_failures: 0, ..GuardConfig::default() });
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(!g.failed(ip("203.0.113.7"), "d/1001", t0));
        }
        let mut g = AuthGuard::new(GuardConfig { max_tracked: 10, ..GuardConfig::default() });
        for i in 0..1000u32 {
            g.failed(IpAddr::from(i.to_be_bytes()), &format!("d/{i}"), t0);
        }
        assert!(g.sources.len() <= 10 && g.users.len() <= 10);
        assert!(g.sources.len() + g.users.len() > 0);
    }
}
