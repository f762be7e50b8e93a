//! The web agent desk (`GET /desk`) in headless Chromium against the real server: a Node script
//! (`tests/browser/desk.mjs`, playwright-core driving Debian's `/usr/bin/chromium`) logs in as
//! 1001 of 777777, sees its socket cut and come back with nothing missed, goes not ready and
//! ready, and when a carrier's call (sipp) reaches 1001's phone (sipp) it must show the screen pop
//! with the customer's number and 号码归属地, hold and resume, fill the customer form, hang up from
//! the desk, show 事务 (after-call work, kept until the form is submitted) and then 空闲 after
//! the submit. `scripts/setup` installs Chromium and the script's packages. The desk during the pop is saved as a PNG: to the test's scratch folder, or where
//! `YUNHU_DESK_SCREENSHOT` says (`docs/desk.png` refreshes the README's picture).

mod common;

use common::browser::{self, CHROMIUM, Script};
use common::sip::*;
use common::{ADMIN_TOKEN, TestApp, start};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use yunhu_core::agent::Presence;

/// The customer the carrier's call comes from.
const CUSTOMER: &str = "13600136000";

/// The carrier's call from `CUSTOMER` to extension 1001, from the trunk's address; it talks
/// until yunhu hangs up.
fn inbound_call(sip: std::net::SocketAddr, port: u16) -> Sipp {
    carrier_call("carrier", sip, port, "inbound_until_bye.xml", CUSTOMER, "1001", &[])
}

async fn form_of(app: &TestApp, token: &str, uuid: &str) -> Value {
    let form = [("access_token", token), ("uuid", uuid)];
    let v = app.send(app.http.post(app.url("/admin/agent/form")).form(&form)).await.json();
    assert_eq!(v["code"], 0, "{v}");
    v["data"].clone()
}

#[tokio::test]
async fn the_desk_in_chromium_pops_a_carriers_call_and_keeps_wrap_up_until_the_form_is_submitted() {
    let began = Instant::now();
    let dir = browser::dir();
    assert!(
        Path::new(CHROMIUM).exists() && dir.join("node_modules/playwright-core/package.json").exists(),
        "the browser test needs {CHROMIUM} and playwright-core in tests/browser: run scripts/setup"
    );
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let svc = app.running.services.clone();
    let sip = app.running.sip_addr.expect("telephony runs");

    // After-call work until the form is submitted, set through the admin API.
    let spec = json!({"name": "Demo Co", "desk": {"wrap_up_secs": -1, "reasons": {"5": "午餐"}}});
    let a = app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777", Some(spec)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(svc.desk_settings(TENANT).await.unwrap().wrap_up_secs, -1);

    // 1001's phone registers; the tenant's trunk points at the carrier.
    let agent_port = free_port();
    assert!(register(sip, "1001", "1001pw", agent_port, "register.xml").await.success(), "1001 registers");
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;

    let screenshot = match std::env::var("YUNHU_DESK_SCREENSHOT") {
        Ok(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Ok(p) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(p),
        Err(_) => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("desk.png"),
    };
    let _ = std::fs::remove_file(&screenshot);
    let region = yunhu_core::geo::cn_region(CUSTOMER).expect("a mainland mobile number");
    let mut script = Script::spawn(
        &dir,
        "desk.mjs",
        &[
            ("YUNHU_DESK_URL", app.base.clone()),
            ("YUNHU_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("YUNHU_DESK_CUSTOMER", CUSTOMER.to_string()),
            ("YUNHU_DESK_CITY", format!("{}-{}", region.province, region.city)),
            ("YUNHU_DESK_SCREENSHOT", screenshot.display().to_string()),
        ],
    );

    // The page logged in and went ready: the carrier calls, 1001's phone answers.
    script.expect("ready", Duration::from_secs(40)).await;
    assert_eq!(svc.presence(TENANT, "1001"), Presence::Ready, "ready as the page says");
    let agent = phone("agent", "answer.xml", agent_port, 300);
    let carrier = inbound_call(sip, carrier_port);

    // The page saw the pop, held and resumed, filled the form, hung up, saw 事务, submitted and
    // saw 空闲.
    let call_id = script.expect("call", Duration::from_secs(45)).await;
    let uuid = script.expect("uuid", Duration::from_secs(5)).await;
    let token = script.expect("token", Duration::from_secs(5)).await;
    script.expect("done", Duration::from_secs(5)).await;
    assert!(script.exit_ok().await, "{}", script.talk());
    assert!(carrier.wait().await.success(), "the carrier's call was answered and ended by yunhu");
    assert!(agent.wait().await.success(), "1001's phone answered and was hung up");
    assert!(screenshot.exists(), "a screenshot of the pop at {}", screenshot.display());

    // What the page submitted is stored, in the form's order.
    let form = form_of(&app, &token, &uuid).await;
    assert_eq!(form["telephone"], CUSTOMER);
    assert_eq!(
        form["values"],
        json!({"年龄": "39", "意向": "高", "备注": "想了解宽带和电视套餐", "关注产品": ["宽带", "电视"]})
    );
    let stored = svc.customer_form(TENANT, &uuid).await.unwrap();
    assert_eq!(stored.fields, r#"{"年龄":"39","意向":"高","备注":"想了解宽带和电视套餐","关注产品":["宽带","电视"]}"#);
    assert!(stored.edited_at.is_some());
    assert_eq!(svc.presence(TENANT, "1001"), Presence::Ready, "idle again after the submit");

    // The call itself: inbound from the customer to 1001, ended by the agent from the desk.
    let record = first_record(&app, "inbound").await;
    assert_eq!((record.staff.as_str(), record.customer.as_str()), ("1001", CUSTOMER));
    assert_eq!(record.hangup_side.unwrap().as_str(), "agent");
    let kinds: Vec<String> =
        events_of(&app, &call_id).await.iter().map(|e| e["kind"].as_str().unwrap_or_default().to_string()).collect();
    let at = |k: &str| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
    assert!(at("held") < at("resumed") && at("resumed") < at("hung_up"), "{kinds:?}");
    let feed: Vec<String> =
        svc.db().desk_feed(TENANT, "1001", 0, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    let wrap = feed.iter().position(|k| k == "agent_wrap_up").expect("after-call work was logged");
    assert_eq!(feed[wrap + 1..], ["agent_ready"], "wrap-up lasted until the submit: {feed:?}");
    eprintln!("desk browser test: {:.1} s", began.elapsed().as_secs_f64());
}
