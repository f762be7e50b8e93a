//! How secrets are kept: hashed where the protocol only needs to compare them, sealed with the
//! node's key where the protocol needs the plaintext back (crm signing), HA1 for SIP digest.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

fn argon() -> Argon2<'static> {
    // OWASP's minimum for argon2id: 19 MiB, 2 passes.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a secret into a PHC string (argon2id, random salt).
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
}

/// Checks a secret against a PHC string; the comparison inside is constant-time.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon().verify_password(secret.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// SIP digest HA1 = MD5(user:realm:password), lowercase hex.
pub fn sip_ha1(user: &str, realm: &str, password: &str) -> String {
    hex::encode(md5::Md5::digest(format!("{user}:{realm}:{password}")))
}

/// SHA-256 hex of a bearer token: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new opaque token: 128 random bits shaped like a UUID, as open95 clients expect.
pub fn new_token() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A new random 32-hex id (staff `streamNumber`, script ids).
pub fn new_stream_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Seals secrets the protocol needs in plaintext, with a key kept outside the database.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// A key derived from the sealing key for signing URLs, so neither use weakens the other.
    mac_key: [u8; 32],
}

impl Sealer {
    /// A sealer over a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        let mut derive = Sha256::new();
        derive.update(b"yunhu url signing key\0");
        derive.update(key);
        Self { cipher: XChaCha20Poly1305::new(key.into()), mac_key: derive.finalize().into() }
    }

    /// HMAC-SHA256 (RFC 2104) of `message` under the derived signing key, lowercase hex.
    pub fn mac(&self, message: &[u8]) -> String {
        let mut inner_pad = [0x36u8; 64];
        let mut outer_pad = [0x5cu8; 64];
        for (i, k) in self.mac_key.iter().enumerate() {
            inner_pad[i] ^= k;
            outer_pad[i] ^= k;
        }
        let inner = Sha256::new().chain_update(inner_pad).chain_update(message).finalize();
        hex::encode(Sha256::new().chain_update(outer_pad).chain_update(inner).finalize())
    }

    /// A fresh random key, base64.
    pub fn generate_key() -> String {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        B64.encode(k)
    }

    /// Parses a base64 key.
    pub fn from_base64(s: &str) -> Option<Self> {
        let bytes = B64.decode(s.trim()).ok()?;
        let key: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::new(&key))
    }

    /// Encrypts `plain` under a random nonce: `v1:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self.cipher.encrypt(XNonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        format!("v1:{}", B64.encode(out))
    }

    /// Decrypts a sealed value; `None` if it was sealed under another key or is damaged.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = B64.decode(sealed.strip_prefix("v1:")?).ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = self.cipher.decrypt(XNonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_do_not_reveal() {
        let h = hash_secret("demo-secret");
        assert!(!h.contains("demo-secret"));
        assert!(verify_secret("demo-secret", &h));
        assert!(!verify_secret("demo-secreT", &h));
        assert!(!verify_secret("demo-secret", "garbage"));
    }

    #[test]
    fn ha1_matches_rfc2617_example() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
        assert_eq!(sip_ha1("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn sealing_round_trips_only_under_the_same_key() {
        let a = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let b = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let sealed = a.seal("k3y");
        assert!(!sealed.contains("k3y"));
        assert_eq!(a.open(&sealed).as_deref(), Some("k3y"));
        assert_eq!(b.open(&sealed), None);
    }

    #[test]
    fn macs_depend_on_key_and_message() {
        let key = [7u8; 32];
        let a = Sealer::new(&key);
        assert_eq!(a.mac(b"x"), Sealer::new(&key).mac(b"x"));
        assert_ne!(a.mac(b"x"), a.mac(b"y"));
        assert_ne!(a.mac(b"x"), Sealer::new(&[8u8; 32]).mac(b"x"));
        assert_eq!(a.mac(b"x").len(), 64);
    }

    #[test]
    fn tokens_are_random_and_uuid_shaped() {
        let t = new_token();
        assert_eq!(t.len(), 36);
        assert_ne!(t, new_token());
        assert_eq!(token_hash(&t).len(), 64);
    }
}
