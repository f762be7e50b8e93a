//! Bad bodies get each dialect's own error answer: a body over the 1 MB limit, and the admin
//! API's body errors, which come after its token check.

mod common;

use common::{ADMIN_TOKEN, TestApp, start};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A form body a little over 1 MB.
fn big_body() -> String {
    format!("a={}", "x".repeat(1024 * 1024 + 10))
}

async fn post(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: String,
) -> (StatusCode, String, Value) {
    let mut req =
        app.http.request(method, app.url(path)).header("Content-Type", "application/x-www-form-urlencoded").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let a = app.send(req).await;
    let ct = a.header("content-type").to_string();
    let text = a.text.clone();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}), {} {ct}: {text}", a.status));
    (a.status, ct, v)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_in_each_dialect_s_envelope() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let (status, ct, v) = post(&app, Method::POST, "/oauth/token", None, big_body()).await;
    assert_eq!((status, v["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("invalid_request")), "oauth: {v}");
    assert!(ct.starts_with("application/json"), "{ct}");

    let (status, _, v) = post(&app, Method::POST, "/api/v1/callLogs/search", None, big_body()).await;
    assert_eq!(keys(&v), ["code", "message", "visible", "data"], "crm: {v}");
    assert_eq!((status, v["code"].as_i64()), (StatusCode::PAYLOAD_TOO_LARGE, Some(413)), "crm: {v}");

    let (_, _, v) = post(&app, Method::POST, "/", None, big_body()).await;
    assert_eq!(keys(&v), ["ret", "data", "msg"], "sipcdr: {v}");
    assert_eq!(v["ret"], 400, "sipcdr: {v}");

    let (_, _, v) = post(&app, Method::POST, "/action", None, big_body()).await;
    assert_eq!(keys(&v), ["errno", "message", "data"], "action: {v}");
    assert_ne!(v["errno"], "0", "action: {v}");

    for path in ["/admin/agent/logon", "/admin/agent/login", "/admin/sms_api/send"] {
        let (_, _, v) = post(&app, Method::POST, path, None, big_body()).await;
        assert_eq!(keys(&v), ["msg", "code", "data"], "workbench {path}: {v}");
        assert_ne!(v["code"], 0, "workbench {path}: {v}");
    }

    let (status, _, v) = post(&app, Method::PUT, "/employeeInfo/resetQueues", None, big_body()).await;
    assert_eq!((status, v["success"].as_bool()), (StatusCode::BAD_REQUEST, Some(false)), "open95: {v}");

    for (method, path) in [(Method::PUT, "/yunhu/v1/tenants/777777"), (Method::POST, "/yunhu/v1/provision")] {
        let (status, _, v) = post(&app, method, path, Some(ADMIN_TOKEN), big_body()).await;
        assert_eq!(keys(&v), ["error", "message"], "admin {path}: {v}");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "admin {path}: {v}");
    }
}

#[tokio::test]
async fn the_admin_api_checks_its_token_before_the_body_and_answers_body_errors_in_json() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let routes = [
        (Method::PUT, "/yunhu/v1/tenants/777777"),
        (Method::POST, "/yunhu/v1/provision"),
        (Method::PUT, "/yunhu/v1/tenants/777777/teams/0100"),
        (Method::PUT, "/yunhu/v1/tenants/777777/sms"),
        (Method::POST, "/yunhu/v1/tenants/777777/announcements"),
        (Method::POST, "/yunhu/v1/tenants/777777/calls/nope/hold"),
    ];
    for (method, path) in routes {
        for (token, body) in [(None, big_body()), (None, "{not json".to_string()), (Some("wrong"), "\u{0}".repeat(3))] {
            let (status, _, v) = post(&app, method.clone(), path, token, body).await;
            assert_eq!((status, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{path}: {v}");
        }
    }
    // With the token, a body that is not what the route reads is the admin API's 400.
    for (method, path, body) in [
        (Method::PUT, "/yunhu/v1/tenants/777777", "{not json"),
        (Method::PUT, "/yunhu/v1/tenants/777777/teams/0100", "[1, 2"),
        (Method::PUT, "/yunhu/v1/tenants/777777/sms", ""),
    ] {
        let (status, _, v) = post(&app, method, path, Some(ADMIN_TOKEN), body.to_string()).await;
        assert_eq!((status, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid")), "{path}: {v}");
    }
    let bytes = app
        .send(app.http.post(app.url("/yunhu/v1/provision")).bearer_auth(ADMIN_TOKEN).body(vec![0xff_u8, 0xfe, 0x00]))
        .await;
    assert_eq!(bytes.status, StatusCode::BAD_REQUEST, "{}", bytes.text);
    assert_eq!(bytes.json()["error"], "invalid");
}
