//! Call records read back through the action dialect's `GetCDRList`, from calls replayed into
//! the event log (the telephony tests cover calls placed through real SIP).

mod common;

use common::{Call, TestApp, replay, start};
use serde_json::Value;
use yunhu_core::Clock as _;
use yunhu_core::call::Cause;
use yunhu_store::TenantId;

async fn cdr(app: &TestApp, company: &str, auth: &str, query: &str) -> Value {
    let url = app.url(&format!("/action?action=GetCDRList&companyid={company}&auth={auth}&{query}"));
    app.send(app.http.get(url)).await.json()
}

fn ids(v: &Value) -> Vec<i64> {
    v["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn get_cdr_list_filters_pages_and_spells_the_seed_fields() {
    for url in common::backends().await {
        cdr_checks(start(&url).await).await;
    }
}

async fn cdr_checks(app: TestApp) {
    let (a, b) = (TenantId(10001), TenantId(10002));
    let calls = [
        Call {
            tenant: a,
            direction: "outbound",
            staff: "1001",
            customer: "13800138000",
            codeid_1: "x",
            answered: true,
            cause: Cause::NormalClearing,
            ..Call::new(a, "")
        },
        Call {
            tenant: a,
            direction: "outbound",
            staff: "1001",
            customer: "13900139000",
            codeid_1: "y",
            answered: false,
            cause: Cause::UserBusy,
            ..Call::new(a, "")
        },
        Call {
            tenant: b,
            direction: "outbound",
            staff: "1001",
            customer: "13800138000",
            codeid_1: "x",
            answered: true,
            cause: Cause::NormalClearing,
            ..Call::new(a, "")
        },
        Call {
            tenant: a,
            direction: "inbound",
            staff: "1002",
            customer: "13700137000",
            codeid_1: "",
            answered: true,
            cause: Cause::NormalClearing,
            ..Call::new(a, "")
        },
        Call {
            tenant: a,
            direction: "outbound",
            staff: "1002",
            customer: "13800138000",
            codeid_1: "x",
            answered: false,
            cause: Cause::NoAnswer,
            ..Call::new(a, "")
        },
    ];
    // The test clock runs on from its start with real time, so the first call starts at (or a
    // moment after) what it shows now; on a loaded machine that may be a second later.
    let first_start = app.clock.now();
    let mut made = Vec::new();
    for c in &calls {
        made.push(replay(&app, c).await);
    }
    let all = cdr(&app, "8", "demo-auth-code", "").await;
    assert_eq!(all["errno"], "1", "{all}");
    let got = ids(&all);
    assert_eq!(got.len(), 4, "tenant A's four calls, not B's");
    assert!(got.windows(2).all(|w| w[0] > w[1]), "DESC by default: {got:?}");

    let first = &all["data"][3];
    let expect = [
        ("src", "53541815"),
        ("dst", "13800138000"),
        ("duration_int", "12"),
        ("billsec_int", "10"),
        ("disposition", "ANSWERED"),
        ("companyid", "8"),
        ("staffid", "1001"),
        ("exten", "1001"),
        ("codeid_1", "x"),
        ("calltype", "0"),
    ];
    for (k, v) in expect {
        assert_eq!(first[k], v, "{k} in {first}");
    }
    assert_eq!(first["uniqueid"], made[0].as_str());
    let shanghai =
        |t: chrono::DateTime<chrono::Utc>| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string();
    let calldate = first["calldate"].as_str().unwrap_or_default();
    assert!(
        [shanghai(first_start), shanghai(first_start + chrono::Duration::seconds(1))].contains(&calldate.to_string()),
        "calldate {calldate} is the tenant (Shanghai) time of the first call's start, {first_start}"
    );
    assert!(calldate.starts_with("2026-11-21 10:00:0"), "{calldate}");
    assert_eq!(all["data"][2]["disposition"], "BUSY");
    assert_eq!(all["data"][2]["uniqueid"], "", "no recording, no link id");
    assert_eq!((all["data"][1]["calltype"].as_str(), all["data"][1]["src"].as_str()), (Some("1"), Some("13700137000")));
    assert_eq!(all["data"][0]["disposition"], "NO ANSWER");

    // Keyset pages: PId continues after the last id seen, in either order.
    let page1 = ids(&cdr(&app, "8", "demo-auth-code", "Limit=2").await);
    let page2 = ids(&cdr(&app, "8", "demo-auth-code", &format!("Limit=2&PId={}", page1[1])).await);
    assert_eq!([page1.clone(), page2].concat(), got);
    let asc = ids(&cdr(&app, "8", "demo-auth-code", &format!("Sort=ASC&PId={}", got[3])).await);
    assert_eq!(asc, vec![got[2], got[1], got[0]]);

    let filtered = |q: &'static str| {
        let app = &app;
        async move { ids(&cdr(app, "8", "demo-auth-code", q).await).len() }
    };
    assert_eq!(filtered("staffid=1002").await, 2);
    assert_eq!(filtered("exten=1001").await, 2);
    assert_eq!(filtered("phonenum=13800138000").await, 2);
    assert_eq!(filtered("codeid_1=x").await, 2);
    assert_eq!(filtered("begintime=2026-11-21%2010:00:30").await, 3);
    assert_eq!(filtered("begintime=2026-11-21%2010:00:30&endtime=2026-11-21%2010:04:00").await, 2);

    // Tenant B's company sees its one call and nothing of A's.
    let theirs = cdr(&app, "9", "other-auth-code", "").await;
    assert_eq!(ids(&theirs).len(), 1);
    assert_eq!(theirs["data"][0]["companyid"], "9");
    assert!(
        ids(&cdr(&app, "9", "other-auth-code", &format!("PId={}", got[0] + 1)).await)
            .iter()
            .all(|id| !got.contains(id))
    );

    for bad in ["Sort=UP", "Limit=0", "Limit=abc", "PId=x", "begintime=yesterday"] {
        let v = cdr(&app, "8", "demo-auth-code", bad).await;
        assert_eq!(v["errno"], "0", "{bad}: {v}");
    }
}
