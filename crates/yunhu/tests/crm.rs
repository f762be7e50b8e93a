//! The crm dialect (seed 000) over real HTTP: signatures, call logs, one call with its recording,
//! hangup reasons, an agent's latest calls, and tenant isolation. Calls are replayed into the
//! event log (the telephony tests place real ones).

mod common;

use common::{Call, TestApp, replay, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Digest;
use yunhu_core::Clock;
use yunhu_core::call::Cause;
use yunhu_store::TenantId;

fn now(app: &TestApp) -> i64 {
    app.clock.now().timestamp()
}

/// A distinct timestamp inside the window for each request, as a client that signs every request
/// does (a sign may also serve many requests, see below).
/// Timestamps used are remembered (a counter stepping back from a clock that the test moves
/// forward can land on one already used).
fn fresh(app: &TestApp) -> i64 {
    static USED: std::sync::Mutex<std::collections::BTreeSet<i64>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let now = now(app);
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    (now - 250..=now + 250).find(|ts| used.insert(*ts)).expect("an unused timestamp")
}

fn signed_query(email: &str, key: &str, ts: i64) -> String {
    let sign = hex::encode(sha1::Sha1::digest(format!("{email}&{key}&{ts}").as_bytes()));
    format!("email={email}&timestamp={ts}&sign={sign}")
}

async fn get(app: &TestApp, path: &str, auth: &str, extra: &str) -> (StatusCode, Value) {
    let a = app.send(app.http.get(app.url(&format!("{path}?{auth}&{extra}")))).await;
    (a.status, a.json())
}

async fn demo(app: &TestApp, path: &str, extra: &str) -> Value {
    let (status, v) = get(app, path, &signed_query("ops@demo.cn", "k3y", fresh(app)), extra).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

const DAY: &str = "startTime=2026-11-21%2000:00:00&endTime=2026-11-21%2023:59:59";

#[tokio::test]
async fn signatures_are_checked_for_key_time_and_reuse() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let t = now(&app);
    let good = signed_query("ops@demo.cn", "k3y", t);
    let (status, v) = get(&app, "/api/v1/hangupReasons", &good, "").await;
    assert_eq!((status, v["code"].as_i64()), (StatusCode::OK, Some(200)));
    assert_eq!(v["data"].as_array().unwrap().len(), 18);
    assert_eq!(v["data"][12], json!({"id": 13, "name": "无人接听"}));
    assert_eq!(v["paging"], json!({"pageNum": 1, "pageSize": 18, "total": 18}));
    let refused = [
        ("wrong key", signed_query("ops@demo.cn", "nope", t)),
        ("stale", signed_query("ops@demo.cn", "k3y", t - 301)),
        ("future", signed_query("ops@demo.cn", "k3y", t + 301)),
        ("unknown email", signed_query("who@demo.cn", "k3y", t)),
        ("missing", format!("email=ops@demo.cn&timestamp={t}")),
    ];
    for (why, q) in refused {
        let (status, v) = get(&app, "/api/v1/hangupReasons", &q, "").await;
        assert_eq!((status, v["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(401)), "{why}: {v}");
        assert_eq!((v["visible"].as_bool(), v["data"].is_null()), (Some(false), true), "{why}");
    }
    // Inside the window, a new timestamp gives a new, valid signature; /v1 works as /api/v1.
    let (status, _) = get(&app, "/v1/hangupReasons", &signed_query("ops@demo.cn", "k3y", t - 299), "").await;
    assert_eq!(status, StatusCode::OK);
}

/// The public crm SDK signs once per client object and sends that `timestamp` and `sign` with
/// every request: a valid sign serves any number of requests inside its window, unless the tenant
/// asked for single-use signs.
#[tokio::test]
async fn a_sign_serves_every_request_of_its_window_unless_the_tenant_wants_single_use() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let t = now(&app);
    let sdk = signed_query("ops@demo.cn", "k3y", t);
    for path in ["/api/v1/hangupReasons", "/api/v1/callLogs", "/api/v1/hangupReasons", "/v1/callLogs"] {
        let (status, v) = get(&app, path, &sdk, DAY).await;
        assert_eq!((status, v["code"].as_i64()), (StatusCode::OK, Some(200)), "{path}: {v}");
    }
    // Wrong and stale signs stay refused, and the SDK's sign too once its window has passed.
    let (status, _) = get(&app, "/api/v1/hangupReasons", &signed_query("ops@demo.cn", "nope", t), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.clock.advance(chrono::Duration::seconds(301));
    let (status, v) = get(&app, "/api/v1/hangupReasons", &sdk, "").await;
    assert_eq!((status, v["code"].as_i64()), (StatusCode::UNAUTHORIZED, Some(401)), "{v}");
    assert_eq!(v["message"], "timestamp is more than 300 seconds from now");

    let once = json!({"corp_id": "555555", "name": "Once Co",
        "crm": {"email": "once@once.cn", "secret_key": "s3", "single_use_signs": true}});
    let put = app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/555555", Some(once)).await;
    assert!(put.status.is_success(), "{}", put.json());
    let t = now(&app);
    let q = signed_query("once@once.cn", "s3", t);
    let (status, _) = get(&app, "/api/v1/hangupReasons", &q, "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = get(&app, "/api/v1/hangupReasons", &q, "").await;
    assert_eq!((status, v["message"].as_str()), (StatusCode::UNAUTHORIZED, Some("sign was already used")), "{v}");
    let (status, _) = get(&app, "/api/v1/hangupReasons", &signed_query("once@once.cn", "s3", t + 1), "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn call_logs_list_view_and_search_in_the_seed_fields() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let (a, b) = (TenantId(10001), TenantId(10002));
    let call = |tenant, direction, staff, customer, answered, cause| Call {
        tenant,
        direction,
        staff,
        customer,
        answered,
        cause,
        ..Call::new(tenant, customer)
    };
    // The test clock runs on with real time: on a loaded machine the first call may start a
    // second after what it shows now.
    let first_start = app.clock.now();
    let answered = replay(&app, &call(a, "outbound", "1001", "13800138000", true, Cause::NormalClearing)).await;
    let busy = replay(&app, &call(a, "outbound", "1001", "13912345678", false, Cause::UserBusy)).await;
    let inbound = replay(&app, &call(a, "inbound", "1002", "075512345678", true, Cause::NormalClearing)).await;
    let theirs = replay(&app, &call(b, "outbound", "1001", "13800138000", true, Cause::NormalClearing)).await;

    let all = demo(&app, "/api/v1/callLogs", DAY).await;
    assert_eq!((all["code"].as_i64(), all["message"].as_str()), (Some(200), Some("OK")));
    assert_eq!(all["data"]["total"], 3);
    let list = all["data"]["list"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|c| c["callId"].as_str().unwrap()).collect();
    assert_eq!(ids, [inbound.as_str(), busy.as_str(), answered.as_str()]);
    let keys: Vec<&String> = all["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["list", "pageNum", "pageSize", "total", "paging"]);

    let first = &list[2];
    let expect = json!({
        "customerNumber": "13800138000", "province": "北京市", "city": "北京市", "agentName": "张三",
        "duration": 10, "result": 1, "ringingDuration": 1, "spNumber": "53541815", "callType": 2,
        "seatType": 1, "dropSide": 1, "hangupCauseId": null,
    });
    let shanghai =
        |t: chrono::DateTime<chrono::Utc>| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string();
    let created = first["createTime"].as_str().unwrap_or_default().to_string();
    assert!(
        [shanghai(first_start), shanghai(first_start + chrono::Duration::seconds(1))].contains(&created),
        "createTime {created} is the Shanghai time of the call's start, {first_start}"
    );
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&first[k], v, "{k} in {first}");
    }
    assert_eq!((list[1]["result"].as_i64(), list[1]["hangupCauseId"].as_i64()), (Some(2), Some(4)), "busy: 占线");
    assert_eq!((list[1]["province"].as_str(), list[1]["city"].as_str()), (Some("江苏省"), Some("常州市")));
    assert_eq!(
        (list[0]["result"].as_i64(), list[0]["callType"].as_i64()),
        (Some(5), Some(1)),
        "inbound, agent answered"
    );
    assert_eq!(list[0]["city"], "深圳市");

    let second = demo(&app, "/api/v1/callLogs", &format!("{DAY}&pageNum=2&pageSize=2")).await;
    assert_eq!(second["data"]["list"].as_array().unwrap().len(), 1);
    assert_eq!((second["data"]["pageNum"].as_i64(), second["data"]["total"].as_i64()), (Some(2), Some(3)));
    let none = demo(&app, "/api/v1/callLogs", "startTime=2026-11-20%2000:00:00&endTime=2026-11-20%2023:59:59").await;
    assert_eq!(none["data"]["total"], 0);
    // Without startTime/endTime (the public SDK's getCallLogs) the window is the tenant's day.
    // Pages reach 100,000 records deep (page 5001 of 20 is served, empty); deeper is a 400.
    let today = demo(&app, "/api/v1/callLogs", "").await;
    assert_eq!(today["data"], all["data"]);
    let (status, v) =
        get(&app, "/api/v1/callLogs", &signed_query("ops@demo.cn", "k3y", fresh(&app)), "pageNum=5002").await;
    assert_eq!(
        (status, v["code"].as_i64(), v["visible"].as_bool()),
        (StatusCode::BAD_REQUEST, Some(400), Some(false)),
        "{v}"
    );
    for bad in [
        "startTime=yesterday&endTime=2026-11-21%2023:59:59",
        "pageSize=101",
        "pageNum=0",
        "pageNum=5002",
        "pageNum=9223372036854775807",
    ] {
        let q = if bad.starts_with("startTime") { bad.to_string() } else { format!("{DAY}&{bad}") };
        let (status, v) = get(&app, "/api/v1/callLogs", &signed_query("ops@demo.cn", "k3y", fresh(&app)), &q).await;
        assert_eq!((status, v["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(400)), "{bad}: {v}");
    }

    let view = demo(&app, "/api/v1/callLogs/view", &format!("callId={answered}")).await;
    let one = &view["data"][0];
    assert_eq!(one["callId"], answered.as_str());
    let urls = one["callLogRecordFoundResponseList"].as_array().unwrap();
    let url = urls[0]["recordUrl"].as_str().unwrap();
    assert_eq!(urls.len(), 1);
    assert!(url.starts_with(&app.url(&format!("/recordings/777777/{answered}.wav?tenant=10001&expires="))), "{url}");
    let busy_view = demo(&app, "/api/v1/callLogs/view", &format!("callId={busy}")).await;
    assert_eq!(busy_view["data"][0]["callLogRecordFoundResponseList"], json!([]));

    let search = app
        .send(
            app.http
                .post(app.url(&format!("/api/v1/callLogs/search?{}", signed_query("ops@demo.cn", "k3y", fresh(&app)))))
                .json(&json!({"masterUserId": 1002})),
        )
        .await
        .json();
    let found: Vec<&str> =
        search["data"]["list"].as_array().unwrap().iter().map(|c| c["callId"].as_str().unwrap()).collect();
    assert_eq!(found, [inbound.as_str()]);

    // Tenant 888888 sees its own call and nothing of 777777's, by list or by id.
    let other = signed_query("ops@other.cn", "other-k3y", fresh(&app));
    let (_, mine) = get(&app, "/api/v1/callLogs", &other, DAY).await;
    let seen: Vec<&str> =
        mine["data"]["list"].as_array().unwrap().iter().map(|c| c["callId"].as_str().unwrap()).collect();
    assert_eq!(seen, [theirs.as_str()]);
    let (status, v) = get(
        &app,
        "/api/v1/callLogs/view",
        &signed_query("ops@other.cn", "other-k3y", now(&app) - 1),
        &format!("callId={answered}"),
    )
    .await;
    assert_eq!((status, v["code"].as_i64()), (StatusCode::NOT_FOUND, Some(404)));
}
