//! Aliyun `SendSms` (dysmsapi, version 2017-05-25): an RPC-style call whose parameters go in a
//! form body, signed with HMAC-SHA1 signature version 1.0 over the canonicalized query string.

use super::provider::{Outgoing, SendError, read_capped};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The real host.
pub const DEFAULT_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com";
/// The region every SMS request names unless the tenant says otherwise.
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// The template variable the agent's text goes into unless the tenant says otherwise.
pub const DEFAULT_TEMPLATE_PARAM: &str = "content";

/// Percent-encodes as Aliyun's RPC signing asks: UTF-8 bytes, only `A-Z a-z 0-9 - _ . ~` kept,
/// everything else (space included) as `%XY` in upper-case hex.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonicalized query string: parameters sorted by name, name and value each encoded,
/// joined with `=` and `&`.
pub(crate) fn canonical_query(params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// `METHOD&%2F&` + the encoded canonicalized query string.
pub(crate) fn string_to_sign(method: &str, params: &[(&str, String)]) -> String {
    format!("{method}&{}&{}", percent_encode("/"), percent_encode(&canonical_query(params)))
}

/// Base64(HMAC-SHA1(secret + "&", string to sign)).
pub(crate) fn signature(secret: &str, method: &str, params: &[(&str, String)]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign(method, params).as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// A tenant's Aliyun settings.
#[derive(Debug, Clone)]
pub struct Aliyun {
    /// AccessKeyId.
    pub access_key_id: String,
    /// AccessKeySecret.
    pub access_key_secret: String,
    /// SignName.
    pub sign_name: String,
    /// TemplateCode.
    pub template_code: String,
    /// The TemplateParam variable that carries the text.
    pub template_param: String,
    /// RegionId.
    pub region: String,
    /// Base URL.
    pub endpoint: String,
}

/// The number as Aliyun wants it: Chinese numbers bare, others with their country code and no `+`.
fn aliyun_number(telephone: &str) -> String {
    match super::provider::country(telephone) {
        super::provider::Number::China(n) => n.to_string(),
        super::provider::Number::Abroad(n) => n.to_string(),
    }
}

impl Aliyun {
    /// Every parameter of the request but `Signature`.
    pub(crate) fn params(&self, msg: &Outgoing<'_>, nonce: &str, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        let mut template = serde_json::Map::new();
        template.insert(self.template_param.clone(), serde_json::Value::from(msg.text));
        vec![
            ("AccessKeyId", self.access_key_id.clone()),
            ("Action", "SendSms".into()),
            ("Format", "JSON".into()),
            ("OutId", msg.id.to_string()),
            ("PhoneNumbers", aliyun_number(msg.telephone)),
            ("RegionId", self.region.clone()),
            ("SignName", self.sign_name.clone()),
            ("SignatureMethod", "HMAC-SHA1".into()),
            ("SignatureNonce", nonce.to_string()),
            ("SignatureVersion", "1.0".into()),
            ("TemplateCode", self.template_code.clone()),
            ("TemplateParam", serde_json::Value::Object(template).to_string()),
            ("Timestamp", now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            ("Version", "2017-05-25".into()),
        ]
    }

    /// Sends one message; Aliyun's `BizId` on success.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        msg: &Outgoing<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, SendError> {
        let mut params = self.params(msg, &crate::secrets::new_token(), now);
        let sig = signature(&self.access_key_secret, "POST", &params);
        params.push(("Signature", sig));
        let body =
            params.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>();
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let resp = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body.join("&"))
            .send()
            .await
            .map_err(|e| SendError::new(format!("aliyun: request failed: {e}")))?;
        let status = resp.status();
        let text = read_capped(resp).await?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            SendError::new(format!("aliyun: HTTP {status}, not JSON: {}", super::provider::clip(&text)))
        })?;
        let code = answer["Code"].as_str().unwrap_or("");
        if status.is_success() && code == "OK" {
            return Ok(answer["BizId"].as_str().unwrap_or("").to_string());
        }
        let message = answer["Message"].as_str().unwrap_or("");
        Err(SendError::new(format!("aliyun: HTTP {status}, {code}: {message}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(params: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        params.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn encodes_like_the_rpc_signing_rules() {
        // The rules of Aliyun's "RPC signature mechanism" page: unreserved kept, space %20, * %2A.
        assert_eq!(percent_encode("a b*c~d-e_f.g"), "a%20b%2Ac~d-e_f.g");
        assert_eq!(percent_encode("{\"k\":\"v\"}"), "%7B%22k%22%3A%22v%22%7D");
        assert_eq!(percent_encode("短"), "%E7%9F%AD");
        assert_eq!(percent_encode("+/=&"), "%2B%2F%3D%26");
    }

    /// Alibaba Cloud's RPC signature documentation ("Request signatures" / 签名机制, signature
    /// version 1.0), its ECS DescribeRegions example: AccessKeyId `testid`, AccessKeySecret
    /// `testsecret`, so the HMAC key is `testsecret&`. The older revision of the page spells the
    /// parameter `TimeStamp` and gives `CT9X0VtwR86fNWSnsc6v8YGOjuE=`; the current one spells
    /// it `Timestamp` and gives `OLeaidS1JvxuMvnyHOwuJ+uX5qY=`.
    #[test]
    fn reproduces_the_documented_describe_regions_signatures() {
        let with = |stamp: &'static str| {
            owned(&[
                ("AccessKeyId", "testid"),
                ("Action", "DescribeRegions"),
                ("Format", "XML"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
                ("SignatureVersion", "1.0"),
                (stamp, "2016-02-23T12:46:24Z"),
                ("Version", "2014-05-26"),
            ])
        };
        let old = with("TimeStamp");
        assert_eq!(
            string_to_sign("GET", &old),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1\
             %26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0\
             %26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(signature("testsecret", "GET", &old), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
        assert_eq!(signature("testsecret", "GET", &with("Timestamp")), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    /// Aliyun SMS documentation, "HTTP协议及签名" (help.aliyun.com/document_detail/101343): the
    /// SendSms example with AccessKeyId `testId`, AccessKeySecret `testSecret`, SignName
    /// 阿里云短信测试专用, TemplateCode SMS_71390007 and TemplateParam {"customer":"test"}; its
    /// signed URL carries `Signature=zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D`.
    #[test]
    fn reproduces_the_documented_send_sms_signature() {
        let params = owned(&[
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("AccessKeyId", "testId"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Format", "XML"),
            ("Action", "SendSms"),
            ("Version", "2017-05-25"),
            ("RegionId", "cn-hangzhou"),
            ("PhoneNumbers", "15300000001"),
            ("SignName", "阿里云短信测试专用"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("TemplateCode", "SMS_71390007"),
            ("OutId", "123"),
        ]);
        assert_eq!(
            canonical_query(&params),
            "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001\
             &RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8\
             &SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0\
             &TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D\
             &Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
        );
        assert_eq!(signature("testSecret", "GET", &params), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
    }

    #[test]
    fn the_request_carries_the_text_in_the_configured_variable() {
        let a = Aliyun {
            access_key_id: "id".into(),
            access_key_secret: "s".into(),
            sign_name: "云呼".into(),
            template_code: "SMS_1".into(),
            template_param: "content".into(),
            region: DEFAULT_REGION.into(),
            endpoint: DEFAULT_ENDPOINT.into(),
        };
        let msg =
            Outgoing { id: 7, tenant: "777777", staff: "1001", telephone: "+8613800000001", text: "你好 \"x\"" };
        let now = DateTime::parse_from_rfc3339("2026-11-21T02:00:00Z").unwrap().with_timezone(&Utc);
        let params = a.params(&msg, "n-1", now);
        let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("PhoneNumbers"), "13800000001");
        assert_eq!(get("TemplateParam"), r#"{"content":"你好 \"x\""}"#);
        assert_eq!(get("Timestamp"), "2026-11-21T02:00:00Z");
        assert_eq!(get("OutId"), "7");
    }
}
