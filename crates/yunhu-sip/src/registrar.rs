//! Registration bindings: which contacts an extension is reachable at, and until when.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI the phone registered.
    pub contact: String,
    /// Where its REGISTER really came from (NAT: requests go here).
    pub source: SocketAddr,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Registered over TCP: requests go back over that connection.
    pub tcp: bool,
}

impl Binding {
    /// Where requests for this contact go. The Contact's own address when it is on the host the
    /// REGISTER came from; otherwise the phone is behind NAT and the REGISTER's source is used.
    pub fn target(&self) -> SocketAddr {
        if self.tcp {
            return self.source;
        }
        let hostport = self.contact.trim_start_matches('<').trim_end_matches('>');
        let hostport = hostport.split_once(':').map_or(hostport, |(_, rest)| rest);
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
        let hostport = hostport.split([';', '>', '?']).next().unwrap_or("");
        let contact = hostport
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| hostport.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 5060)));
        match contact {
            Some(c) if c.ip() == self.source.ip() => c,
            _ => self.source,
        }
    }
}

/// A binding as it is kept in a store: wall-clock expiry, so it survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    /// The SIP domain (lower case).
    pub domain: String,
    /// The extension.
    pub user: String,
    /// The Contact URI.
    pub contact: String,
    /// Where its REGISTER came from.
    pub source: SocketAddr,
    /// Registered over TCP.
    pub tcp: bool,
    /// When it lapses, ms since the Unix epoch.
    pub expires_at_ms: i64,
}

fn unix_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl StoredBinding {
    /// `binding` of `user` at `domain`, to be stored.
    pub fn of(domain: &str, user: &str, binding: &Binding) -> StoredBinding {
        let left = binding.expires_at.saturating_duration_since(Instant::now());
        StoredBinding {
            domain: domain.to_ascii_lowercase(),
            user: user.to_string(),
            contact: binding.contact.clone(),
            source: binding.source,
            tcp: binding.tcp,
            expires_at_ms: unix_now_ms() + left.as_millis() as i64,
        }
    }

    /// The live binding again; `None` once it has expired.
    pub fn binding(&self) -> Option<Binding> {
        let left = self.expires_at_ms - unix_now_ms();
        (left > 0).then(|| Binding {
            contact: self.contact.clone(),
            source: self.source,
            expires_at: Instant::now() + Duration::from_millis(left as u64),
            tcp: self.tcp,
        })
    }
}

/// Bindings per (domain, user).
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: HashMap<(String, String), Vec<Binding>>,
}

impl Registrar {
    /// Adds or refreshes a contact; `expires` 0 removes it.
    pub fn update(&mut self, domain: &str, user: &str, contact: &str, source: SocketAddr, tcp: bool, expires: u32) {
        let key = (domain.to_ascii_lowercase(), user.to_string());
        let list = self.bindings.entry(key.clone()).or_default();
        list.retain(|b| b.contact != contact);
        if expires > 0 {
            list.push(Binding {
                contact: contact.to_string(),
                source,
                expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
                tcp,
            });
        }
        if list.is_empty() {
            self.bindings.remove(&key);
        }
    }

    /// Puts back a binding kept from before a restart (an expired one is ignored).
    pub fn restore(&mut self, stored: &StoredBinding) {
        if let Some(b) = stored.binding() {
            let list = self.bindings.entry((stored.domain.to_ascii_lowercase(), stored.user.clone())).or_default();
            list.retain(|old| old.contact != b.contact);
            list.push(b);
        }
    }

    /// Removes every contact of the user (`Contact: *`).
    pub fn clear(&mut self, domain: &str, user: &str) {
        self.bindings.remove(&(domain.to_ascii_lowercase(), user.to_string()));
    }

    /// Contacts not yet expired, of every user.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.bindings.values().flatten().filter(|b| b.expires_at > now).count()
    }

    /// Whether no contact is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live contacts of a user, newest last.
    pub fn lookup(&mut self, domain: &str, user: &str) -> Vec<Binding> {
        let key = (domain.to_ascii_lowercase(), user.to_string());
        let now = Instant::now();
        match self.bindings.get_mut(&key) {
            Some(list) => {
                list.retain(|b| b.expires_at > now);
                list.clone()
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_is_detected_by_address() {
        let b = |contact: &str| Binding {
            contact: contact.into(),
            source: "203.0.113.7:40000".parse().unwrap(),
            expires_at: Instant::now(),
            tcp: false,
        };
        assert_eq!(b("sip:1001@203.0.113.7:5070;transport=udp").target(), "203.0.113.7:5070".parse().unwrap());
        assert_eq!(b("sip:1001@192.168.1.20:5060").target(), "203.0.113.7:40000".parse().unwrap());
        assert_eq!(b("<sip:1001@203.0.113.7>").target(), "203.0.113.7:5060".parse().unwrap());
    }

    #[test]
    fn several_contacts_refresh_and_removal() {
        let mut r = Registrar::default();
        let src: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        r.update("A.yunhu", "1001", "sip:1001@10.0.0.2:5060", src, false, 60);
        r.update("a.yunhu", "1001", "sip:1001@10.0.0.3:5060", src, false, 60);
        r.update("a.yunhu", "1001", "sip:1001@10.0.0.2:5060", src, false, 120);
        let l = r.lookup("a.yunhu", "1001");
        assert_eq!(
            l.iter().map(|b| b.contact.as_str()).collect::<Vec<_>>(),
            ["sip:1001@10.0.0.3:5060", "sip:1001@10.0.0.2:5060"]
        );
        assert!(r.lookup("b.yunhu", "1001").is_empty());
        r.update("a.yunhu", "1001", "sip:1001@10.0.0.3:5060", src, false, 0);
        assert_eq!(r.lookup("a.yunhu", "1001").len(), 1);
        r.clear("a.yunhu", "1001");
        assert!(r.lookup("a.yunhu", "1001").is_empty());
    }

    #[test]
    fn stored_bindings_come_back_until_they_expire() {
        let src: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut r = Registrar::default();
        r.update("A.yunhu", "1001", "sip:1001@127.0.0.1:5070", src, false, 60);
        let stored: Vec<StoredBinding> =
            r.lookup("a.yunhu", "1001").iter().map(|b| StoredBinding::of("A.yunhu", "1001", b)).collect();
        assert_eq!((stored[0].domain.as_str(), stored[0].source), ("a.yunhu", src));
        let mut again = Registrar::default();
        again.restore(&stored[0]);
        again.restore(&StoredBinding {
            expires_at_ms: unix_now_ms() - 1,
            contact: "sip:old@h".into(),
            ..stored[0].clone()
        });
        let l = again.lookup("a.yunhu", "1001");
        assert_eq!(l.iter().map(|b| b.contact.as_str()).collect::<Vec<_>>(), ["sip:1001@127.0.0.1:5070"]);
        assert!(l[0].expires_at > Instant::now() + Duration::from_secs(55));
    }
}
