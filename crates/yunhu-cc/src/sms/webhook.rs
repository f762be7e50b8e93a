//! A tenant's own gateway: a signed HTTPS webhook. yunhu POSTs
//! `{"telephone", "msg", "staff", "tenant", "id"}` as JSON with `X-Yunhu-Timestamp` (Unix
//! seconds) and `X-Yunhu-Signature` = hex HMAC-SHA256(secret, timestamp + "." + body); any 2xx
//! answer means sent. A JSON answer with an `id` or `message_id` gives the gateway's id.

use super::provider::{Outgoing, SendError, clip, read_capped};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signing time.
pub const TIMESTAMP_HEADER: &str = "X-Yunhu-Timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Yunhu-Signature";

/// Hex HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A tenant's webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The URL messages are POSTed to.
    pub url: String,
    /// The signing secret.
    pub secret: String,
}

impl Webhook {
    /// The JSON body of a request.
    pub(crate) fn body(msg: &Outgoing<'_>) -> String {
        serde_json::json!({
            "telephone": msg.telephone,
            "msg": msg.text,
            "staff": msg.staff,
            "tenant": msg.tenant,
            "id": msg.id,
        })
        .to_string()
    }

    /// Sends one message; the gateway's id if it gave one.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        msg: &Outgoing<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, SendError> {
        let body = Self::body(msg);
        let timestamp = now.timestamp();
        let resp = http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::new(format!("webhook: request failed: {e}")))?;
        let status = resp.status();
        let text = read_capped(resp).await?;
        if !status.is_success() {
            return Err(SendError::new(format!("webhook: HTTP {status}: {}", clip(&text))));
        }
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let id = ["id", "message_id"].iter().find_map(|k| match &answer[*k] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Ok(id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 §4.3, test case 2 (key "Jefe"): the HMAC under the webhook signature.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signs_timestamp_dot_body() {
        // Our own format, so no published example: the value was computed with Python's
        // hmac.new(b"whsec-test", b"1795312800." + body, hashlib.sha256).hexdigest().
        let msg = Outgoing { id: 1, tenant: "777777", staff: "1001", telephone: "13800000001", text: "hi" };
        let body = Webhook::body(&msg);
        assert_eq!(body, r#"{"telephone":"13800000001","msg":"hi","staff":"1001","tenant":"777777","id":1}"#);
        assert_eq!(
            signature("whsec-test", 1795312800, &body),
            "2d98b36eceabd0a9e45f2ec78c6b5e65d92f415d33841f660bc108b5e87a1994"
        );
    }
}
