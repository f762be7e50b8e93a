//! open95 OAuth2 client-credentials grants and bearer-token checks.

use crate::secrets::{new_token, token_hash};
use crate::{CcError, Services, TenantId};

/// How long a token lives, seconds.
pub const TOKEN_TTL_SECS: i64 = 7200;

/// Why a token request was refused, as the OAuth2 error codes of seed 002 §6.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// Missing or wrong client credentials.
    InvalidClient(String),
    /// A scope the client may not have, or an unknown one.
    InvalidScope(String),
    /// Missing or unsupported `grant_type`.
    InvalidRequest(String),
    /// Too many failed attempts, or too many checks under way: try again later.
    TemporarilyUnavailable(String),
}

/// A newly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The opaque token; only its hash is stored.
    pub access_token: String,
    /// Lifetime, seconds.
    pub expires_in: i64,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Missing, unknown, expired or voided.
    Invalid,
    /// Valid, but without the scope this request needs.
    InsufficientScope,
}

/// The request's scope need: `read` for GET, `write` for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading.
    Read,
    /// Changing.
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

impl Services {
    /// Issues a token for a client-credentials request from `source`. A new token voids the
    /// client's previous one.
    pub async fn issue_token(
        &self,
        source: Option<std::net::IpAddr>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
        grant_type: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Result<IssuedToken, OAuthError>, CcError> {
        match grant_type.map(str::trim) {
            None | Some("") => return Ok(Err(OAuthError::InvalidRequest("Missing grant type".into()))),
            Some("client_credentials" | "client_credential") => {}
            Some(other) => {
                return Ok(Err(OAuthError::InvalidRequest(format!("Unsupported grant type: {other}"))));
            }
        }
        let (Some(id), Some(secret)) = (client_id.filter(|s| !s.is_empty()), client_secret.filter(|s| !s.is_empty()))
        else {
            return Ok(Err(OAuthError::InvalidClient("Bad client credentials".into())));
        };
        let client = self.db.api_client(id).await?;
        let phc = client.as_ref().map(|c| c.secret_hash.as_str());
        match self.check_password(&format!("oauth\0{id}"), source, secret, phc).await {
            Ok(true) => {}
            Ok(false) => return Ok(Err(OAuthError::InvalidClient("Bad client credentials".into()))),
            Err(CcError::Refused(why)) => return Ok(Err(OAuthError::TemporarilyUnavailable(why))),
            Err(e) => return Err(e),
        }
        let Some(client) = client else {
            return Ok(Err(OAuthError::InvalidClient("Bad client credentials".into())));
        };
        let allowed: Vec<&str> = client.scopes.split(',').collect();
        let scopes: Vec<String> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => allowed.iter().map(|s| s.to_string()).collect(),
            Some(asked) => {
                let mut wanted: Vec<String> =
                    asked.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                wanted.sort();
                wanted.dedup();
                if let Some(bad) = wanted.iter().find(|w| !allowed.contains(&w.as_str())) {
                    return Ok(Err(OAuthError::InvalidScope(format!("Invalid scope: {bad}"))));
                }
                wanted
            }
        };
        let token = new_token();
        let expires_at = self.now_ms() + TOKEN_TTL_SECS * 1000;
        self.db
            .replace_token(client.tenant, &client.client_id, &token_hash(&token), &scopes.join(","), expires_at)
            .await?;
        Ok(Ok(IssuedToken { access_token: token, expires_in: TOKEN_TTL_SECS, scopes }))
    }

    /// The tenant a bearer token acts for, if it is live and carries `need`.
    pub async fn check_token(&self, token: &str, need: Scope) -> Result<Result<TenantId, TokenError>, CcError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(Err(TokenError::Invalid));
        }
        let Some(grant) = self.db.token_grant(&token_hash(token)).await? else {
            return Ok(Err(TokenError::Invalid));
        };
        if self.now_ms() >= grant.expires_at {
            return Ok(Err(TokenError::Invalid));
        }
        if !grant.scopes.split(',').any(|s| s == need.as_str()) {
            return Ok(Err(TokenError::InsufficientScope));
        }
        Ok(Ok(grant.tenant))
    }
}

impl Services {
    /// The tenant of a per-dialect credential (`kind` crm / sipcdr / action), if `secret` matches,
    /// for a request from `source`. Unknown principals cost the same time as known ones; a login
    /// backing off or finding the password threads full is `CcError::Refused`.
    pub async fn check_credential(
        &self,
        source: Option<std::net::IpAddr>,
        kind: &str,
        principal: &str,
        secret: &str,
    ) -> Result<Option<crate::Tenant>, CcError> {
        // A CRM polls with the same credentials all day: a verified (principal, secret) pair is
        // remembered for a minute, so argon2 runs once, not on every request.
        let key = format!("{kind}\u{0}{principal}\u{0}{}", crate::secrets::token_hash(secret));
        let now = self.now_ms();
        let cached = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        if let Some((tenant, until)) = cached
            && until > now
        {
            return Ok(self.db.tenant_by_id(tenant).await?);
        }
        let found = self.db.credential_by_principal(kind, principal).await?;
        let phc = found.as_ref().map(|(_, stored, _)| stored.as_str());
        if !self.check_password(&format!("{kind}\0{principal}"), source, secret, phc).await? {
            return Ok(None);
        }
        let Some((tenant, _, _)) = found else { return Ok(None) };
        {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() > 10_000 {
                verified.retain(|_, (_, until)| *until > now);
            }
            verified.insert(key, (tenant, now + 60_000));
        }
        Ok(self.db.tenant_by_id(tenant).await?)
    }
}

/// Why a crm (seed 000) signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// `email`, `timestamp` or `sign` missing or malformed.
    Missing,
    /// No tenant has this e-mail, or the signature is wrong.
    Invalid,
    /// The timestamp is more than five minutes from now.
    Stale,
    /// This signature was already used, and the tenant wants single-use signs.
    Replayed,
}

/// How far a crm timestamp may be from now, seconds.
pub const SIGN_WINDOW_SECS: i64 = 300;

impl Services {
    /// Checks `sign` = sha1 hex of `email&secretKey&timestamp`: right key and timestamp within five
    /// minutes of now. A valid sign serves any number of requests in that window (the public crm
    /// SDK signs once per client object); a tenant with `single_use_signs` gets each one once.
    pub async fn check_crm_sign(
        &self,
        email: Option<&str>,
        timestamp: Option<&str>,
        sign: Option<&str>,
    ) -> Result<Result<crate::Tenant, SignError>, CcError> {
        use sha1::Digest as _;
        use subtle::ConstantTimeEq;
        let (Some(email), Some(ts), Some(sign)) = (email, timestamp, sign) else { return Ok(Err(SignError::Missing)) };
        let Ok(seconds) = ts.parse::<i64>() else { return Ok(Err(SignError::Missing)) };
        let now = self.now_ms() / 1000;
        let Some((tenant, sealed, single_use)) = self.db.credential_by_principal("crm", email).await? else {
            return Ok(Err(SignError::Invalid));
        };
        let Some(secret) = self.sealer.open(&sealed) else { return Ok(Err(SignError::Invalid)) };
        let expected = hex::encode(sha1::Sha1::digest(format!("{email}&{secret}&{ts}").as_bytes()));
        if !bool::from(expected.as_bytes().ct_eq(sign.to_ascii_lowercase().as_bytes())) {
            return Ok(Err(SignError::Invalid));
        }
        if (now - seconds).abs() > SIGN_WINDOW_SECS {
            return Ok(Err(SignError::Stale));
        }
        if single_use {
            let mut seen = self.seen_signs.lock().unwrap_or_else(|e| e.into_inner());
            seen.retain(|_, until| *until > now);
            if seen.contains_key(&expected) {
                return Ok(Err(SignError::Replayed));
            }
            seen.insert(expected, seconds + SIGN_WINDOW_SECS + 1);
        }
        match self.db.tenant_by_id(tenant).await? {
            Some(t) => Ok(Ok(t)),
            None => Ok(Err(SignError::Invalid)),
        }
    }
}

/// How long a sipcdr login token lives, seconds (its clients cache one for up to 12 hours).
pub const DIALECT_TOKEN_TTL_SECS: i64 = 12 * 3600;

impl Services {
    /// Logs a dialect client in with its credential of `kind`: a new token, valid
    /// [`DIALECT_TOKEN_TTL_SECS`]; earlier tokens stay valid until they expire.
    pub async fn issue_dialect_token(
        &self,
        source: Option<std::net::IpAddr>,
        kind: &str,
        principal: &str,
        secret: &str,
    ) -> Result<Option<(crate::Tenant, String)>, CcError> {
        let Some(tenant) = self.check_credential(source, kind, principal, secret).await? else { return Ok(None) };
        let token = new_token();
        let now = self.now_ms();
        self.db
            .put_dialect_token(
                tenant.id,
                kind,
                principal,
                &token_hash(&token),
                now + DIALECT_TOKEN_TTL_SECS * 1000,
                now,
            )
            .await?;
        Ok(Some((tenant, token)))
    }

    /// The tenant and principal a dialect token of `kind` acts for, if it is live.
    pub async fn check_dialect_token(
        &self,
        kind: &str,
        token: &str,
    ) -> Result<Option<(crate::Tenant, String)>, CcError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let Some((tenant, principal)) = self.db.dialect_token(kind, &token_hash(token), self.now_ms()).await? else {
            return Ok(None);
        };
        Ok(self.db.tenant_by_id(tenant).await?.map(|t| (t, principal)))
    }
}
