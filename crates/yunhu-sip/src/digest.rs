//! SIP digest authentication (RFC 2617 / 3261 §22, MD5, qop=auth) against stored HA1 values,
//! with stateless, expiring nonces and a replay guard on the nonce count.

use md5::{Digest as _, Md5};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The parameters of a `Digest` Authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    /// username.
    pub username: String,
    /// realm.
    pub realm: String,
    /// nonce.
    pub nonce: String,
    /// uri, as sent.
    pub uri: String,
    /// response.
    pub response: String,
    /// qop (auth) if any.
    pub qop: Option<String>,
    /// nc, as sent (8 hex digits).
    pub nc: Option<String>,
    /// cnonce.
    pub cnonce: Option<String>,
}

/// Parses `Digest k="v", k=v, ...`; `None` if it is not a complete digest header.
pub fn parse_authorization(value: &str) -> Option<DigestParams> {
    let rest = value.trim().strip_prefix("Digest").or_else(|| value.trim().strip_prefix("digest"))?;
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                val.push(*c);
                chars.next();
            }
        }
        params.insert(key, val.trim().to_string());
    }
    let mut take = |k: &str| params.remove(k);
    Some(DigestParams {
        username: take("username")?,
        realm: take("realm")?,
        nonce: take("nonce")?,
        uri: take("uri")?,
        response: take("response")?.to_ascii_lowercase(),
        qop: take("qop"),
        nc: take("nc"),
        cnonce: take("cnonce"),
    })
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The response a client holding `ha1` must send.
pub fn expected_response(ha1: &str, method: &str, p: &DigestParams) -> String {
    let ha2 = md5_hex(&format!("{method}:{}", p.uri));
    match (&p.qop, &p.nc, &p.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", p.nonce)),
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", p.nonce)),
    }
}

/// Why a digest was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestFailure {
    /// The nonce is ours but too old: challenge again with `stale=true`.
    Stale,
    /// Wrong credentials, a forged nonce, or a replayed nonce count.
    Rejected,
}

/// Issues and checks nonces. Nonces are `<time><random>.<mac>`: no server state is needed to
/// know one is ours and how old it is; only the last nonce count per nonce is remembered.
pub struct NonceKeeper {
    secret: [u8; 32],
    ttl: Duration,
    seen: Mutex<HashMap<String, (u32, u64)>>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl NonceKeeper {
    /// A keeper whose nonces live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self { secret, ttl, seen: Mutex::new(HashMap::new()) }
    }

    fn mac(&self, body: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(body.as_bytes());
        hex::encode(&h.finalize()[..12])
    }

    /// A fresh nonce.
    pub fn issue(&self) -> String {
        let mut r = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut r);
        let body = format!("{:010x}{}", now_secs(), hex::encode(r));
        format!("{body}.{}", self.mac(&body))
    }

    /// The `WWW-Authenticate` / `Proxy-Authenticate` value for `realm`; built the same way
    /// whoever asks, so it says nothing about whether a user exists.
    pub fn challenge(&self, realm: &str, stale: bool) -> String {
        let stale = if stale { ", stale=true" } else { "" };
        format!("Digest realm=\"{realm}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{stale}", self.issue())
    }

    /// Checks a digest answer against `ha1` for `method`.
    pub fn verify(&self, p: &DigestParams, ha1: &str, method: &str) -> Result<(), DigestFailure> {
        let (body, mac) = p.nonce.split_once('.').ok_or(DigestFailure::Rejected)?;
        if body.len() != 26 || self.mac(body) != mac {
            return Err(DigestFailure::Rejected);
        }
        let issued = u64::from_str_radix(&body[..10], 16).map_err(|_| DigestFailure::Rejected)?;
        let now = now_secs();
        let expected = expected_response(ha1, method, p);
        if ha1.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), p.response.as_bytes())) {
            return Err(DigestFailure::Rejected);
        }
        if now.saturating_sub(issued) > self.ttl.as_secs() {
            return Err(DigestFailure::Stale);
        }
        let nc = match &p.nc {
            Some(nc) => u32::from_str_radix(nc, 16).map_err(|_| DigestFailure::Rejected)?,
            None => 1,
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            let horizon = now.saturating_sub(self.ttl.as_secs());
            seen.retain(|_, (_, at)| *at >= horizon);
        }
        match seen.get(&p.nonce) {
            Some((last, _)) if nc <= *last => Err(DigestFailure::Rejected),
            _ => {
                seen.insert(p.nonce.clone(), (nc, issued));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(keeper: &NonceKeeper, ha1: &str, nc: &str) -> DigestParams {
        let nonce = keeper.issue();
        let mut p = DigestParams {
            username: "1001".into(),
            realm: "777777.yunhu".into(),
            nonce,
            uri: "sip:777777.yunhu".into(),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            cnonce: Some("abc".into()),
        };
        p.response = expected_response(ha1, "REGISTER", &p);
        p
    }

    #[test]
    fn parses_what_phones_send() {
        let h = r#"Digest username="1001",realm="777777.yunhu",nonce="n.x",uri="sip:777777.yunhu",response="ABC",algorithm=MD5,cnonce="c",qop=auth,nc=0000000a"#;
        let p = parse_authorization(h).unwrap();
        assert_eq!((p.username.as_str(), p.response.as_str(), p.nc.as_deref()), ("1001", "abc", Some("0000000a")));
        assert!(parse_authorization("Basic Zm9vOmJhcg==").is_none());
        assert!(parse_authorization("Digest username=\"x\"").is_none());
    }

    #[test]
    fn accepts_once_refuses_replays_forgeries_and_wrong_passwords() {
        let keeper = NonceKeeper::new(Duration::from_secs(300));
        let ha1 = md5_hex("1001:777777.yunhu:1001pw");
        let p = answer(&keeper, &ha1, "00000001");
        assert_eq!(keeper.verify(&p, &ha1, "REGISTER"), Ok(()));
        assert_eq!(keeper.verify(&p, &ha1, "REGISTER"), Err(DigestFailure::Rejected), "replayed nc");
        let mut next = p.clone();
        next.nc = Some("0000000a".into());
        next.response = expected_response(&ha1, "REGISTER", &next);
        assert_eq!(keeper.verify(&next, &ha1, "REGISTER"), Ok(()), "nc 10 in hex");
        let wrong = md5_hex("1001:777777.yunhu:guess");
        assert_eq!(keeper.verify(&answer(&keeper, &wrong, "00000001"), &ha1, "REGISTER"), Err(DigestFailure::Rejected));
        let other = NonceKeeper::new(Duration::from_secs(300));
        assert_eq!(other.verify(&answer(&keeper, &ha1, "00000001"), &ha1, "REGISTER"), Err(DigestFailure::Rejected));
        let expired = NonceKeeper::new(Duration::from_secs(0));
        let mut old = answer(&expired, &ha1, "00000001");
        let body = format!("{:010x}{}", now_secs() - 5, &old.nonce[10..26]);
        old.nonce = format!("{body}.{}", expired.mac(&body));
        old.response = expected_response(&ha1, "REGISTER", &old);
        assert_eq!(expired.verify(&old, &ha1, "REGISTER"), Err(DigestFailure::Stale));
    }
}
