//! Tencent Cloud `SendSms` (sms.tencentcloudapi.com, version 2021-01-11): a JSON POST signed
//! with TC3-HMAC-SHA256 (API 3.0 signature v3).

use super::provider::{Number, Outgoing, SendError, clip, country, read_capped};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The real host.
pub const DEFAULT_ENDPOINT: &str = "https://sms.tencentcloudapi.com";
/// The region every request names unless the tenant says otherwise.
pub const DEFAULT_REGION: &str = "ap-guangzhou";
const SERVICE: &str = "sms";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";
const SIGNED_HEADERS: &str = "content-type;host";

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The canonical request of a POST to `/` signed over `content-type` and `host`.
pub(crate) fn canonical_request(content_type: &str, host: &str, payload: &str) -> String {
    format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
        content_type.trim().to_ascii_lowercase(),
        host.trim().to_ascii_lowercase(),
        sha256_hex(payload)
    )
}

/// The UTC date of a Unix timestamp, as the credential scope spells it.
pub(crate) fn utc_date(timestamp: i64) -> String {
    DateTime::from_timestamp(timestamp, 0).unwrap_or_default().format("%Y-%m-%d").to_string()
}

/// `TC3-HMAC-SHA256\n<timestamp>\n<date>/<service>/tc3_request\n<hash of the canonical request>`.
pub(crate) fn string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{}/{service}/tc3_request\n{}",
        utc_date(timestamp),
        sha256_hex(canonical_request)
    )
}

/// Hex HMAC-SHA256 of the string to sign under the key derived from the secret, the date and
/// the service.
pub(crate) fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let secret_date = hmac256(format!("TC3{secret_key}").as_bytes(), date);
    let secret_service = hmac256(&secret_date, service);
    let secret_signing = hmac256(&secret_service, "tc3_request");
    hex::encode(hmac256(&secret_signing, string_to_sign))
}

/// The `Authorization` header of a request.
pub(crate) fn authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    payload: &str,
    timestamp: i64,
) -> String {
    let date = utc_date(timestamp);
    let to_sign = string_to_sign(timestamp, service, &canonical_request(CONTENT_TYPE, host, payload));
    let sig = signature(secret_key, &date, service, &to_sign);
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders={SIGNED_HEADERS}, \
         Signature={sig}"
    )
}

/// A tenant's Tencent Cloud settings.
#[derive(Debug, Clone)]
pub struct Tencent {
    /// SecretId.
    pub secret_id: String,
    /// SecretKey.
    pub secret_key: String,
    /// SmsSdkAppId.
    pub app_id: String,
    /// SignName.
    pub sign_name: String,
    /// TemplateId; its one parameter gets the text.
    pub template_id: String,
    /// X-TC-Region.
    pub region: String,
    /// Base URL.
    pub endpoint: String,
}

/// The number in E.164, as Tencent wants it: `+86` before Chinese numbers.
pub(crate) fn e164(telephone: &str) -> String {
    match country(telephone) {
        Number::China(n) => format!("+86{n}"),
        Number::Abroad(n) => format!("+{n}"),
    }
}

/// The `Host` header a request to `url` carries: the host, and the port when it is not the
/// scheme's default.
fn host_of(url: &reqwest::Url) -> Result<String, SendError> {
    let host = url.host_str().ok_or_else(|| SendError::new(format!("tencent: endpoint {url} has no host")))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

impl Tencent {
    /// The JSON body of a request.
    pub(crate) fn payload(&self, msg: &Outgoing<'_>) -> String {
        serde_json::json!({
            "PhoneNumberSet": [e164(msg.telephone)],
            "SmsSdkAppId": self.app_id,
            "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [msg.text],
            "SessionContext": msg.id.to_string(),
        })
        .to_string()
    }

    /// Sends one message; Tencent's `SerialNo` on success.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        msg: &Outgoing<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, SendError> {
        let url: reqwest::Url = format!("{}/", self.endpoint.trim_end_matches('/'))
            .parse()
            .map_err(|e| SendError::new(format!("tencent: endpoint {:?}: {e}", self.endpoint)))?;
        let host = host_of(&url)?;
        let payload = self.payload(msg);
        let timestamp = now.timestamp();
        let auth = authorization(&self.secret_id, &self.secret_key, SERVICE, &host, &payload, timestamp);
        let resp = http
            .post(url)
            .header(reqwest::header::HOST, &host)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.region)
            .body(payload)
            .send()
            .await
            .map_err(|e| SendError::new(format!("tencent: request failed: {e}")))?;
        let status = resp.status();
        let text = read_capped(resp).await?;
        let answer: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| SendError::new(format!("tencent: HTTP {status}, not JSON: {}", clip(&text))))?;
        let response = &answer["Response"];
        if let Some(error) = response.get("Error") {
            let code = error["Code"].as_str().unwrap_or("");
            let message = error["Message"].as_str().unwrap_or("");
            return Err(SendError::new(format!("tencent: {code}: {message}")));
        }
        let sent = &response["SendStatusSet"][0];
        match sent["Code"].as_str() {
            Some("Ok") if status.is_success() => Ok(sent["SerialNo"].as_str().unwrap_or("").to_string()),
            Some(code) => Err(SendError::new(format!("tencent: {code}: {}", sent["Message"].as_str().unwrap_or("")))),
            None => Err(SendError::new(format!("tencent: HTTP {status}, no send status: {}", clip(&text)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent Cloud API 3.0, "Signature v3" (签名方法 v3; SMS's copy is
    /// tencentcloud.com/document/product/382/40467, every product's copy has the same example): a CVM DescribeInstances POST at
    /// timestamp 1551113065 with SecretKey `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`. The page gives the
    /// payload hash, the hash of the canonical request, the string to sign and the signature.
    #[test]
    fn reproduces_the_documented_tc3_example() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(sha256_hex(payload), "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
        let canonical = canonical_request("application/json; charset=utf-8", "cvm.tencentcloudapi.com", payload);
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let to_sign = string_to_sign(1551113065, "cvm", &canonical);
        assert_eq!(
            to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", &to_sign),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        // The Authorization header of the example (its SecretId as the page spells it).
        assert_eq!(
            authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "cvm",
                "cvm.tencentcloudapi.com",
                payload,
                1551113065
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn the_date_is_the_utc_one() {
        // The page's note: 1551113065 is 2019-02-26 00:44:25 in UTC+8, but the scope date is UTC's.
        assert_eq!(utc_date(1551113065), "2019-02-25");
    }

    #[test]
    fn numbers_go_out_in_e164() {
        assert_eq!(e164("13800000001"), "+8613800000001");
        assert_eq!(e164("+8613800000001"), "+8613800000001");
        assert_eq!(e164("0085261234567"), "+85261234567");
    }

    #[test]
    fn hosts_carry_a_port_only_when_it_is_not_the_default() {
        assert_eq!(host_of(&"https://sms.tencentcloudapi.com/".parse().unwrap()).unwrap(), "sms.tencentcloudapi.com");
        assert_eq!(host_of(&"http://127.0.0.1:8080/".parse().unwrap()).unwrap(), "127.0.0.1:8080");
    }
}
