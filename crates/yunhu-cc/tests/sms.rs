//! SMS from the agent desk against a local server per provider. Each server checks the request's
//! signature the way the provider does, from the request as received and with code of its own
//! (nothing here calls yunhu's signers), answers in the provider's format and records what it got.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use chrono::TimeZone;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use yunhu_cc::objects::Kind;
use yunhu_cc::provision::ProvisionDoc;
use yunhu_cc::secrets::Sealer;
use yunhu_cc::sms::{SmsConfigSpec, SmsStatus, SmsTemplateSpec};
use yunhu_cc::{CcError, Change, Services, TenantId};
use yunhu_core::ManualClock;

const DOC: &str = r#"
[[tenant]]
corp_id = "777777"
name = "A"
  [[tenant.do_not_call]]
  number = "13900000009"
  reason = "投诉"
"#;

const KEY_ID: &str = "LTAI-test-key";
const SECRET: &str = "the-real-secret";

/// What a mock provider got: the request's parameters, and whether its signature held.
#[derive(Debug, Clone)]
struct Got {
    params: BTreeMap<String, String>,
    signed: bool,
}

/// A mock provider: the credentials it knows and what it got.
struct Mock {
    key_id: &'static str,
    secret: &'static str,
    got: Mutex<Vec<Got>>,
}

impl Mock {
    fn new() -> Arc<Mock> {
        Arc::new(Mock { key_id: KEY_ID, secret: SECRET, got: Mutex::new(Vec::new()) })
    }

    fn record(&self, params: BTreeMap<String, String>, signed: bool) -> usize {
        let mut got = self.got.lock().unwrap();
        got.push(Got { params, signed });
        got.len()
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// `application/x-www-form-urlencoded` decoding, as a server reads a form.
fn form_decode(body: &str) -> BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Aliyun's POP encoding: RFC 3986 unreserved characters stay, every other byte is `%XY`.
fn pop_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Aliyun dysmsapi: the form is the signed query; the signature is recomputed from it.
async fn aliyun(State(m): State<Arc<Mock>>, headers: HeaderMap, body: String) -> Response {
    let mut params = form_decode(&body);
    let given = params.remove("Signature").unwrap_or_default();
    let canonical: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v))).collect();
    let to_sign = format!("POST&{}&{}", pop_encode("/"), pop_encode(&canonical.join("&")));
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(format!("{}&", m.secret).as_bytes(), to_sign.as_bytes()));
    let form = headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/x-www-form-urlencoded");
    let p = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let signed = form
        && given == expected
        && p("AccessKeyId") == m.key_id
        && p("Action") == "SendSms"
        && p("Version") == "2017-05-25"
        && p("SignatureMethod") == "HMAC-SHA1"
        && p("SignatureVersion") == "1.0"
        && !p("SignatureNonce").is_empty()
        && chrono::NaiveDateTime::parse_from_str(p("Timestamp"), "%Y-%m-%dT%H:%M:%SZ").is_ok();
    let n = m.record(params, signed);
    if !signed {
        let answer = json!({
            "RequestId": format!("req-{n}"),
            "HostId": "dysmsapi.aliyuncs.com",
            "Code": "SignatureDoesNotMatch",
            "Message": "Specified signature is not matched with our calculation.",
        });
        return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
    }
    axum::Json(json!({"Message": "OK", "RequestId": format!("req-{n}"), "Code": "OK", "BizId": format!("biz-{n}")}))
        .into_response()
}

/// Tencent Cloud: TC3-HMAC-SHA256 recomputed from the headers named in the Authorization header.
async fn tencent(State(m): State<Arc<Mock>>, headers: HeaderMap, body: String) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let auth = header("authorization");
    let signed = (|| {
        let rest = auth.strip_prefix("TC3-HMAC-SHA256 ")?;
        let mut parts = BTreeMap::new();
        for part in rest.split(", ") {
            let (k, v) = part.split_once('=')?;
            parts.insert(k.to_string(), v.to_string());
        }
        let credential: Vec<&str> = parts.get("Credential")?.split('/').collect();
        let [key_id, date, service, "tc3_request"] = credential[..] else { return None };
        let timestamp: i64 = header("x-tc-timestamp").parse().ok()?;
        let utc_date = chrono::Utc.timestamp_opt(timestamp, 0).single()?.format("%Y-%m-%d").to_string();
        if key_id != m.key_id || date != utc_date || service != "sms" {
            return None;
        }
        let signed_headers = parts.get("SignedHeaders")?;
        let canonical_headers: String =
            signed_headers.split(';').map(|h| format!("{h}:{}\n", header(h).trim().to_lowercase())).collect();
        let canonical = format!(
            "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
            hex::encode(sha2::Sha256::digest(body.as_bytes()))
        );
        let to_sign = format!(
            "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
            hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
        );
        let k_date = hmac_sha256(format!("TC3{}", m.secret).as_bytes(), date.as_bytes());
        let k_service = hmac_sha256(&k_date, service.as_bytes());
        let k_signing = hmac_sha256(&k_service, b"tc3_request");
        let expected = hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()));
        let host_signed = signed_headers.split(';').any(|h| h == "host");
        let ok = parts.get("Signature")? == &expected
            && host_signed
            && header("x-tc-action") == "SendSms"
            && header("x-tc-version") == "2021-01-11"
            && !header("x-tc-region").is_empty();
        ok.then_some(())
    })()
    .is_some();
    let payload: Value = serde_json::from_str(&body).unwrap_or_default();
    let mut params = BTreeMap::new();
    for k in ["SmsSdkAppId", "SignName", "TemplateId", "SessionContext"] {
        params.insert(k.to_string(), payload[k].as_str().unwrap_or("").to_string());
    }
    params.insert("PhoneNumberSet".into(), payload["PhoneNumberSet"].to_string());
    params.insert("TemplateParamSet".into(), payload["TemplateParamSet"].to_string());
    let n = m.record(params, signed);
    let answer = if signed {
        json!({"Response": {
            "SendStatusSet": [{
                "SerialNo": format!("5000:{n}"),
                "PhoneNumber": payload["PhoneNumberSet"][0],
                "Fee": 1,
                "SessionContext": payload["SessionContext"],
                "Code": "Ok",
                "Message": "send success",
                "IsoCode": "CN",
            }],
            "RequestId": format!("req-{n}"),
        }})
    } else {
        json!({"Response": {
            "Error": {
                "Code": "AuthFailure.SignatureFailure",
                "Message": "The provided credentials could not be validated. Please check your signature is correct.",
            },
            "RequestId": format!("req-{n}"),
        }})
    };
    axum::Json(answer).into_response()
}

/// A tenant's own gateway: hex HMAC-SHA256(secret, timestamp + "." + body).
async fn webhook(State(m): State<Arc<Mock>>, headers: HeaderMap, body: String) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let timestamp = header("x-yunhu-timestamp");
    let expected = hex::encode(hmac_sha256(m.secret.as_bytes(), format!("{timestamp}.{body}").as_bytes()));
    let signed = !timestamp.is_empty() && header("x-yunhu-signature") == expected;
    let payload: Value = serde_json::from_str(&body).unwrap_or_default();
    let params = payload
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
        .unwrap_or_default();
    let n = m.record(params, signed);
    if signed {
        axum::Json(json!({"id": format!("wh-{n}")})).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad signature").into_response()
    }
}

/// Serves `mock` behind `handler` on 127.0.0.1; the base URL.
async fn serve<H, T>(mock: Arc<Mock>, path: &str, handler: H) -> String
where
    H: axum::handler::Handler<T, Arc<Mock>>,
    T: 'static,
{
    let app = Router::new().route(path, post(handler)).with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn services(url: &str) -> (Services, TenantId, Arc<ManualClock>) {
    let db = yunhu_store::Db::open(url).await.unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()));
    let svc = Services::new(db, clock.clone(), Sealer::new(&[7u8; 32]));
    svc.apply_provisioning(&ProvisionDoc::from_toml(DOC).unwrap()).await.unwrap();
    let tenant = svc.tenant("777777").await.unwrap().id;
    (svc, tenant, clock)
}

fn spec(value: Value) -> SmsConfigSpec {
    serde_json::from_value(value).unwrap()
}

fn aliyun_spec(endpoint: &str, secret: &str) -> SmsConfigSpec {
    spec(json!({
        "provider": "aliyun", "access_key_id": KEY_ID, "secret": secret, "sign_name": "云呼",
        "template_code": "SMS_0001", "endpoint": endpoint,
    }))
}

#[tokio::test]
async fn aliyun_messages_are_signed_sent_and_kept_on_both_databases() {
    for url in yunhu_store::testing::scratch_urls().await.unwrap() {
        let (svc, tenant, _) = services(&url).await;
        let mock = Mock::new();
        let base = serve(mock.clone(), "/", aliyun).await;

        assert_eq!(svc.put_sms_config("777777", &aliyun_spec(&base, SECRET)).await.unwrap(), Change::Created);
        let sent = svc.send_sms(tenant, "1001", "13800000001", "您的订单已发货").await.unwrap();
        assert_eq!((sent.status, sent.provider_message_id.as_str()), (SmsStatus::Sent, "biz-1"));
        assert_eq!(sent.telephone, "138****0001");
        let got = mock.got();
        assert_eq!(got.len(), 1);
        assert!(got[0].signed, "{got:?}");
        assert_eq!(got[0].params["PhoneNumbers"], "13800000001");
        assert_eq!(got[0].params["SignName"], "云呼");
        assert_eq!(got[0].params["TemplateCode"], "SMS_0001");
        assert_eq!(got[0].params["TemplateParam"], r#"{"content":"您的订单已发货"}"#);
        assert_eq!(got[0].params["OutId"], sent.id.to_string());

        // A wrong secret: the provider refuses the signature, the message is kept as failed.
        svc.put_sms_config("777777", &aliyun_spec(&base, "not-the-secret")).await.unwrap();
        let err = svc.send_sms(tenant, "1001", "+8613800000002", "第二条").await.unwrap_err();
        assert!(matches!(&err, CcError::Upstream(m) if m.contains("SignatureDoesNotMatch")), "{err}");
        assert_eq!(mock.got().len(), 2);
        assert!(!mock.got()[1].signed);
        assert_eq!(mock.got()[1].params["PhoneNumbers"], "13800000002");

        let page = svc.sms_messages(tenant, None, None, 1, 10).await.unwrap();
        assert_eq!(page.total, 2);
        let failed = &page.items[0];
        assert_eq!((failed.status, failed.telephone.as_str()), (SmsStatus::Failed, "+86*******0002"));
        assert!(failed.error.contains("SignatureDoesNotMatch"), "{failed:?}");
        assert!(failed.provider_message_id.is_empty());
        let first = &page.items[1];
        assert_eq!(
            (first.status, first.provider_message_id.as_str(), first.provider.as_str()),
            (SmsStatus::Sent, "biz-1", "aliyun")
        );
        assert_eq!((first.staff.as_str(), first.text.as_str()), ("1001", "您的订单已发货"));

        // The secret is sealed at rest and never shown.
        let raw: Vec<String> =
            sqlx::query_scalar("SELECT secret_sealed FROM sms_settings").fetch_all(svc.db().pool()).await.unwrap();
        assert!(raw.iter().all(|s| s.starts_with("v1:") && !s.contains("not-the-secret")), "{raw:?}");
        let shown = serde_json::to_string(&svc.sms_config("777777").await.unwrap()).unwrap();
        assert!(shown.contains("\"secret_set\":true") && !shown.contains("secret\":\""), "{shown}");
        assert!(shown.contains("\"template_param\":\"content\""), "{shown}");
        svc.db().close().await;
    }
}

#[tokio::test]
async fn tencent_messages_go_out_in_e164_with_a_tc3_signature() {
    let (svc, tenant, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    let mock = Mock::new();
    let base = serve(mock.clone(), "/", tencent).await;
    let config = |secret: &str| {
        spec(json!({
            "provider": "tencent", "access_key_id": KEY_ID, "secret": secret, "app_id": "1400000001",
            "sign_name": "云呼", "template_code": "100001", "endpoint": base,
        }))
    };
    svc.put_sms_config("777777", &config(SECRET)).await.unwrap();
    let sent = svc.send_sms(tenant, "1001", "13800000001", "您好").await.unwrap();
    assert_eq!((sent.status, sent.provider_message_id.as_str()), (SmsStatus::Sent, "5000:1"));
    let got = mock.got();
    assert!(got[0].signed, "{got:?}");
    assert_eq!(got[0].params["PhoneNumberSet"], r#"["+8613800000001"]"#);
    assert_eq!(got[0].params["TemplateParamSet"], r#"["您好"]"#);
    assert_eq!(got[0].params["SmsSdkAppId"], "1400000001");
    assert_eq!(got[0].params["TemplateId"], "100001");
    assert_eq!(got[0].params["SessionContext"], sent.id.to_string());

    svc.put_sms_config("777777", &config("not-the-secret")).await.unwrap();
    let err = svc.send_sms(tenant, "1001", "13800000002", "再见").await.unwrap_err();
    assert!(matches!(&err, CcError::Upstream(m) if m.contains("AuthFailure.SignatureFailure")), "{err}");
    assert!(!mock.got()[1].signed);
    let page = svc.sms_messages(tenant, Some("1001"), Some(SmsStatus::Failed), 1, 10).await.unwrap();
    assert_eq!(page.total, 1);
    assert!(page.items[0].error.contains("AuthFailure.SignatureFailure"));
    assert_eq!(page.items[0].telephone, "138****0002");
}

#[tokio::test]
async fn the_webhook_is_signed_and_a_refusal_is_kept_as_failed() {
    let (svc, tenant, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    let mock = Mock::new();
    let base = serve(mock.clone(), "/hook", webhook).await;
    let config =
        |secret: &str| spec(json!({"provider": "webhook", "secret": secret, "endpoint": format!("{base}/hook")}));
    svc.put_sms_config("777777", &config(SECRET)).await.unwrap();
    let sent = svc.send_sms(tenant, "1002", "13800000003", "会议改到三点").await.unwrap();
    assert_eq!(sent.provider_message_id, "wh-1");
    let got = mock.got();
    assert!(got[0].signed);
    let expected: BTreeMap<String, String> = [
        ("telephone", "13800000003".to_string()),
        ("msg", "会议改到三点".into()),
        ("staff", "1002".into()),
        ("tenant", "777777".into()),
        ("id", sent.id.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got[0].params, expected);

    svc.put_sms_config("777777", &config("not-the-secret")).await.unwrap();
    let err = svc.send_sms(tenant, "1002", "13800000003", "again").await.unwrap_err();
    assert!(matches!(&err, CcError::Upstream(m) if m.contains("401")), "{err}");
    let page = svc.sms_messages(tenant, None, None, 1, 10).await.unwrap();
    assert_eq!(page.items.iter().map(|m| m.status).collect::<Vec<_>>(), [SmsStatus::Failed, SmsStatus::Sent]);
}

#[tokio::test]
async fn do_not_call_numbers_are_refused_and_never_reach_the_provider() {
    for url in yunhu_store::testing::scratch_urls().await.unwrap() {
        let (svc, tenant, _) = services(&url).await;
        let mock = Mock::new();
        let base = serve(mock.clone(), "/", aliyun).await;
        svc.put_sms_config("777777", &aliyun_spec(&base, SECRET)).await.unwrap();
        for number in ["13900000009", "+8613900000009", "139 0000 0009"] {
            let err = svc.send_sms(tenant, "1001", number, "hello").await.unwrap_err();
            assert!(matches!(&err, CcError::Refused(m) if m.contains("do-not-call")), "{number}: {err}");
        }
        // Put on the list later, a number is refused from then on.
        svc.put_object("777777", Kind::DoNotCall, json!({"number": "13800000004"})).await.unwrap();
        assert!(matches!(svc.send_sms(tenant, "1001", "13800000004", "x").await, Err(CcError::Refused(_))));
        assert!(mock.got().is_empty(), "nothing reaches the provider: {:?}", mock.got());
        let page = svc.sms_messages(tenant, None, Some(SmsStatus::Refused), 1, 10).await.unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.items[0].telephone, "138****0004");
        assert!(page.items.iter().all(|m| m.error.contains("do-not-call") && m.provider == "aliyun"));
        svc.db().close().await;
    }
}

#[tokio::test]
async fn the_rate_limit_refuses_the_eleventh_message_in_a_minute() {
    let (svc, tenant, clock) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    let mock = Mock::new();
    let base = serve(mock.clone(), "/hook", webhook).await;
    let hook = json!({"provider": "webhook", "secret": SECRET, "endpoint": format!("{base}/hook")});
    svc.put_sms_config("777777", &spec(hook.clone())).await.unwrap();
    for i in 0..10 {
        svc.send_sms(tenant, "1001", &format!("1380000{i:04}"), "通知").await.unwrap();
    }
    let err = svc.send_sms(tenant, "1001", "13800000099", "通知").await.unwrap_err();
    assert!(matches!(&err, CcError::Refused(m) if m.contains("at most 10 a minute")), "{err}");
    assert_eq!(mock.got().len(), 10, "the 11th never left");
    // Another agent has a limit of their own.
    svc.send_sms(tenant, "1002", "13800000099", "通知").await.unwrap();
    // A minute later the agent may send again.
    clock.advance(chrono::Duration::seconds(61));
    svc.send_sms(tenant, "1001", "13800000099", "通知").await.unwrap();
    let page = svc.sms_messages(tenant, Some("1001"), None, 1, 50).await.unwrap();
    assert_eq!((page.total, page.items.len()), (11, 11), "refusals by the limit are not kept");

    // The limit is the tenant's to set.
    let mut two = hook;
    two["rate_per_minute"] = json!(2);
    svc.put_sms_config("777777", &spec(two)).await.unwrap();
    svc.send_sms(tenant, "1003", "13800000001", "a").await.unwrap();
    svc.send_sms(tenant, "1003", "13800000001", "b").await.unwrap();
    assert!(matches!(svc.send_sms(tenant, "1003", "13800000001", "c").await, Err(CcError::Refused(_))));
}

#[tokio::test]
async fn listings_mask_numbers_and_page() {
    let (svc, tenant, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    let mock = Mock::new();
    let base = serve(mock.clone(), "/hook", webhook).await;
    let hook =
        json!({"provider": "webhook", "secret": SECRET, "endpoint": format!("{base}/hook"), "rate_per_minute": 100});
    svc.put_sms_config("777777", &spec(hook)).await.unwrap();
    for i in 0..5 {
        svc.send_sms(tenant, "1001", &format!("1370000{i:04}"), &format!("第{i}条")).await.unwrap();
    }
    let first = svc.sms_messages(tenant, None, None, 1, 2).await.unwrap();
    let last = svc.sms_messages(tenant, None, None, 3, 2).await.unwrap();
    assert_eq!((first.total, first.items.len(), last.items.len()), (5, 2, 1));
    assert_eq!(first.items[0].text, "第4条", "newest first");
    assert_eq!(last.items[0].text, "第0条");
    let shown = serde_json::to_string(&first).unwrap();
    assert!(shown.contains("137****0004") && !shown.contains("13700000004"), "{shown}");
    assert!(mock.got().iter().any(|g| g.params["telephone"] == "13700000004"), "the provider gets the whole number");
}

#[tokio::test]
async fn texts_are_checked_before_anything_is_kept() {
    let (svc, tenant, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    // No configuration yet.
    assert!(matches!(svc.send_sms(tenant, "1001", "13800000001", "x").await, Err(CcError::NotFound(_))));
    let mock = Mock::new();
    let base = serve(mock.clone(), "/hook", webhook).await;
    let hook = json!({"provider": "webhook", "secret": SECRET, "endpoint": format!("{base}/hook")});
    svc.put_sms_config("777777", &spec(hook)).await.unwrap();
    for text in ["", "   ", &"长".repeat(501)] {
        assert!(matches!(svc.send_sms(tenant, "1001", "13800000001", text).await, Err(CcError::Invalid(_))));
    }
    assert!(matches!(svc.send_sms(tenant, "1001", "not-a-number", "x").await, Err(CcError::Invalid(_))));
    assert_eq!(svc.sms_messages(tenant, None, None, 1, 10).await.unwrap().total, 0);
    svc.send_sms(tenant, "1001", "13800000001", &"长".repeat(500)).await.unwrap();
    assert_eq!(mock.got().len(), 1);
}

#[tokio::test]
async fn configurations_are_checked_and_keep_the_secret_when_it_is_left_out() {
    let (svc, _, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    let bad = [
        json!({"provider": "aliyun", "secret": "s", "sign_name": "x", "template_code": "SMS_1"}),
        json!({"provider": "tencent", "access_key_id": "id", "secret": "s", "sign_name": "x", "template_code": "1"}),
        json!({"provider": "webhook", "secret": "s"}),
        json!({"provider": "webhook", "secret": "s", "endpoint": "ftp://example.com/"}),
        json!({"provider": "webhook", "endpoint": "https://example.com/"}),
        json!({"provider": "webhook", "secret": "s", "endpoint": "https://example.com/", "rate_per_minute": 0}),
    ];
    for b in bad {
        assert!(matches!(svc.put_sms_config("777777", &spec(b.clone())).await, Err(CcError::Invalid(_))), "{b}");
    }
    assert!(serde_json::from_value::<SmsConfigSpec>(json!({"provider": "smpp"})).is_err());
    assert!(matches!(svc.sms_config("777777").await, Err(CcError::NotFound(_))));

    let full = aliyun_spec("https://dysmsapi.aliyuncs.com", SECRET);
    assert_eq!(svc.put_sms_config("777777", &full).await.unwrap(), Change::Created);
    assert_eq!(svc.put_sms_config("777777", &full).await.unwrap(), Change::Unchanged);
    let no_secret = spec(json!({
        "provider": "aliyun", "access_key_id": KEY_ID, "sign_name": "云呼", "template_code": "SMS_0002",
    }));
    assert_eq!(svc.put_sms_config("777777", &no_secret).await.unwrap(), Change::Updated);
    let shown = svc.sms_config("777777").await.unwrap();
    assert!(shown.secret_set);
    assert_eq!((shown.template_code.as_str(), shown.endpoint.as_str()), ("SMS_0002", "https://dysmsapi.aliyuncs.com"));
    assert_eq!((shown.region.as_str(), shown.rate_per_minute), ("cn-hangzhou", 10));
    // Another provider needs its own secret.
    let switch = json!({"provider": "webhook", "endpoint": "https://example.com/sms"});
    assert!(matches!(svc.put_sms_config("777777", &spec(switch)).await, Err(CcError::Invalid(_))));
    assert!(matches!(svc.sms_config("888888").await, Err(CcError::NotFound(_))));
}

#[tokio::test]
async fn the_default_template_is_filled_in_for_the_workbench() {
    let (svc, tenant, _) = services(&yunhu_store::testing::scratch_sqlite_url()).await;
    assert_eq!(svc.sms_text_for(tenant, "1001", "13800000001", "张先生").await.unwrap(), None);
    let t =
        |name: &str, text: &str, is_default: bool| SmsTemplateSpec { name: name.into(), text: text.into(), is_default };
    let greet = t("问候", "{name}您好，我是客服{staff}，稍后致电{telephone}。", true);
    assert_eq!(svc.put_sms_template("777777", &greet).await.unwrap(), Change::Created);
    assert_eq!(svc.put_sms_template("777777", &greet).await.unwrap(), Change::Unchanged);
    svc.put_sms_template("777777", &t("催缴", "请及时缴费", false)).await.unwrap();
    assert_eq!(
        svc.sms_text_for(tenant, "1001", "13800000001", "张先生").await.unwrap().as_deref(),
        Some("张先生您好，我是客服1001，稍后致电13800000001。")
    );
    // Marking another default unmarks the first.
    svc.put_sms_template("777777", &t("催缴", "{name}，请及时缴费", true)).await.unwrap();
    let all = svc.sms_templates("777777").await.unwrap();
    assert_eq!(all.iter().filter(|t| t.is_default).map(|t| t.name.as_str()).collect::<Vec<_>>(), ["催缴"]);
    assert_eq!(svc.sms_text_for(tenant, "1001", "1", "李女士").await.unwrap().as_deref(), Some("李女士，请及时缴费"));
    assert_eq!(svc.sms_template("777777", "问候").await.unwrap().text, greet.text);

    assert!(matches!(svc.put_sms_template("777777", &t("", "x", false)).await, Err(CcError::Invalid(_))));
    assert!(matches!(
        svc.put_sms_template("777777", &t("长", &"字".repeat(501), false)).await,
        Err(CcError::Invalid(_))
    ));
    svc.delete_sms_template("777777", "催缴").await.unwrap();
    assert!(matches!(svc.delete_sms_template("777777", "催缴").await, Err(CcError::NotFound(_))));
    assert_eq!(svc.sms_text_for(tenant, "1001", "1", "李女士").await.unwrap(), None);
}
