//! The same calls read through every dialect that lists calls (crm, sipcdr, open95, action):
//! they must agree on times, numbers, durations, causes and recordings, each in its own fields
//! and codes. Also: sipcdr's envelope, login and syncflag; open95's call-data filters and agent
//! history; recording downloads with Range; the tenant-isolation matrix; path-steering attempts.
//! Calls are replayed into the event log (the telephony tests place real ones through SIP).

mod common;

use common::{Call, TestApp, replay, start};
use reqwest::StatusCode;
use serde_json::Value;
use sha1::Digest;
use std::collections::BTreeMap;
use yunhu_core::Clock;
use yunhu_core::agent::AgentEventKind;
use yunhu_core::call::{Cause, HangupSide};
use yunhu_store::TenantId;

const A: TenantId = TenantId(10001);
const B: TenantId = TenantId(10002);

/// Tenant A's three calls and tenant B's one, with recordings on disk for the answered ones.
struct Calls {
    answered: String,
    busy: String,
    inbound: String,
    theirs: String,
}

async fn make_calls(app: &TestApp) -> Calls {
    let answered = replay(
        app,
        &Call {
            codeid_1: "c1",
            call_data: &[("userid", "u1"), ("memberid", "m1")],
            digits: "1#",
            ..Call::new(A, "13800138000")
        },
    )
    .await;
    let busy = replay(app, &Call { answered: false, cause: Cause::UserBusy, ..Call::new(A, "13900139000") }).await;
    let inbound = replay(
        app,
        &Call { direction: "inbound", staff: "1002", hangup: HangupSide::Agent, ..Call::new(A, "02088886666") },
    )
    .await;
    let theirs = replay(app, &Call::new(B, "13800138000")).await;
    for (corp, id) in [("777777", &answered), ("777777", &inbound), ("888888", &theirs)] {
        let path = app.config.recordings_dir().join(corp).join(format!("{id}.wav"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, wav_bytes(id)).unwrap();
    }
    Calls { answered, busy, inbound, theirs }
}

/// Recognisable file contents for a call's recording.
fn wav_bytes(call_id: &str) -> Vec<u8> {
    let mut b = b"RIFF\x00\x00\x00\x00WAVE".to_vec();
    b.extend(call_id.as_bytes().iter().cycle().take(4000));
    b
}

/// A fresh crm signature: a timestamp within the window that this process has not signed with
/// for `email` yet (a counter stepping back from a clock that the test moves forward can land on
/// a timestamp already used, and the server refuses a signature it has seen).
fn crm_query(app: &TestApp, email: &str, key: &str) -> String {
    static USED: std::sync::Mutex<std::collections::BTreeSet<(String, i64)>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let now = app.clock.now().timestamp();
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    let ts = (now - 250..=now + 250).find(|ts| used.insert((email.to_string(), *ts))).expect("an unused timestamp");
    let sign = hex::encode(sha1::Sha1::digest(format!("{email}&{key}&{ts}").as_bytes()));
    format!("email={email}&timestamp={ts}&sign={sign}")
}

async fn crm(app: &TestApp, tenant: TenantId, path: &str, extra: &str) -> Value {
    let (email, key) = if tenant == A { ("ops@demo.cn", "k3y") } else { ("ops@other.cn", "other-k3y") };
    let q = crm_query(app, email, key);
    app.send(app.http.get(app.url(&format!("{path}?{q}&{extra}")))).await.json()
}

async fn sipcdr_login(app: &TestApp, tenant: TenantId) -> String {
    let (appid, key) = if tenant == A { ("demo", "demo-pass") } else { ("other", "other-pass") };
    let v = sipcdr(app, &[("service", "App.Sip_Auth.Login"), ("appid", appid), ("accesskey", key)]).await;
    assert_eq!((v["ret"].as_i64(), v["data"]["status"].as_i64()), (Some(200), Some(0)), "{v}");
    v["data"]["result"]["token"].as_str().unwrap().to_string()
}

async fn sipcdr(app: &TestApp, form: &[(&str, &str)]) -> Value {
    app.send(app.http.post(app.url("/")).form(form)).await.json()
}

const DAY: [(&str, &str); 2] = [("starttime", "2026-11-21 00:00:00"), ("endtime", "2026-11-21 23:59:59")];

async fn bills(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![("service", "App.Sip_Cdr.GetBill"), ("token", token), ("syncflag", "3")];
    form.extend_from_slice(&DAY);
    form.extend_from_slice(extra);
    let v = sipcdr(app, &form).await;
    assert_eq!((v["ret"].as_i64(), v["data"]["status"].as_i64()), (Some(200), Some(0)), "{v}");
    v["data"]["result"].clone()
}

async fn action(app: &TestApp, tenant: TenantId, params: &[(&str, &str)]) -> Value {
    let mut all = if tenant == A {
        vec![("companyid", "8"), ("auth", "demo-auth-code")]
    } else {
        vec![("companyid", "9"), ("auth", "other-auth-code")]
    };
    all.extend_from_slice(params);
    app.send(app.http.post(app.url("/action")).form(&all)).await.json()
}

async fn open95_token(app: &TestApp, tenant: TenantId) -> String {
    if tenant == A {
        app.token("demo", "demo-secret", None).await
    } else {
        app.token("other", "other-secret", None).await
    }
}

/// What one dialect says about one call, in common terms.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    start: String,
    customer: String,
    talk: i64,
    answered: bool,
    recorded: bool,
}

fn by_id(rows: &Value, f: impl Fn(&Value) -> (i64, Seen)) -> BTreeMap<i64, Seen> {
    rows.as_array().unwrap_or_else(|| panic!("a list: {rows}")).iter().map(f).collect()
}

fn int(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("an integer: {v}"))
}

#[tokio::test]
async fn every_dialect_tells_the_same_calls_its_own_way() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let calls = make_calls(&app).await;

    let crm_list =
        crm(&app, A, "/api/v1/callLogs", "startTime=2026-11-21%2000:00:00&endTime=2026-11-21%2023:59:59").await;
    let crm_seen = by_id(&crm_list["data"]["list"], |c| {
        (
            int(&c["id"]),
            Seen {
                start: c["createTime"].as_str().unwrap().into(),
                customer: c["customerNumber"].as_str().unwrap().into(),
                talk: int(&c["duration"]),
                answered: matches!(int(&c["result"]), 1 | 5),
                recorded: int(&c["duration"]) > 0,
            },
        )
    });
    let token = sipcdr_login(&app, A).await;
    let sip = bills(&app, &token, &[]).await;
    assert_eq!(sip["totalitems"], 3, "{sip}");
    let sip_seen = by_id(&sip["bills"], |b| {
        (
            int(&b["id"]),
            Seen {
                start: b["starttime"].as_str().unwrap().into(),
                customer: b["destnumber"].as_str().unwrap().into(),
                talk: int(&b["billsec"]),
                answered: !b["answertime"].is_null(),
                recorded: !b["recordfilename"].as_str().unwrap().is_empty(),
            },
        )
    });
    let t95 = open95_token(&app, A).await;
    let history = app.get("/callHistory/pageSearchCallHistory?pageSize=50", &t95).await.json();
    assert_eq!(history["data"]["total"], 3, "{history}");
    let o95_seen = by_id(&history["data"]["pageData"], |h| {
        (
            int(&h["id"]),
            Seen {
                start: h["cStartTime"].as_str().unwrap().into(),
                customer: h["customer"].as_str().unwrap().into(),
                talk: int(&h["talksec"]),
                answered: h["callResult"] == "已接通",
                recorded: !h["filename"].is_null(),
            },
        )
    });
    let cdr = action(&app, A, &[("action", "GetCDRList")]).await;
    let act_seen = by_id(&cdr["data"], |r| {
        let inbound = r["calltype"] == "1";
        (
            int(&r["id"]),
            Seen {
                start: r["calldate"].as_str().unwrap().into(),
                customer: r[if inbound { "src" } else { "dst" }].as_str().unwrap().into(),
                talk: int(&r["billsec_int"]),
                answered: r["disposition"] == "ANSWERED",
                recorded: !r["uniqueid"].as_str().unwrap().is_empty(),
            },
        )
    });
    assert_eq!(sip_seen.len(), 3);
    assert_eq!(crm_seen, sip_seen, "crm and sipcdr");
    assert_eq!(sip_seen, o95_seen, "sipcdr and open95");
    assert_eq!(o95_seen, act_seen, "open95 and action");
    let talks: Vec<i64> = sip_seen.values().map(|s| s.talk).collect();
    assert_eq!(talks, [10, 0, 10], "answered 10 s, busy 0, inbound 10 s");

    // Causes and sides, each in its own vocabulary.
    let o95 = |call: &str| -> Value {
        history["data"]["pageData"].as_array().unwrap().iter().find(|h| h["callId"] == call).unwrap().clone()
    };
    let bill =
        |id: i64| -> Value { sip["bills"].as_array().unwrap().iter().find(|b| int(&b["id"]) == id).unwrap().clone() };
    let (answered, busy, inbound) = (o95(&calls.answered), o95(&calls.busy), o95(&calls.inbound));
    assert_eq!(
        [&answered, &busy, &inbound].map(|h| h["cHangupCause"].as_str().unwrap().to_string()),
        ["NORMAL_CLEARING", "USER_BUSY", "NORMAL_CLEARING"]
    );
    assert_eq!([&answered, &busy, &inbound].map(|h| int(&h["callType"])), [3, 3, 2]);
    assert_eq!((answered["agent"].as_str(), answered["agentName"].as_str()), (Some("100011001"), Some("张三")));
    assert_eq!((answered["ivrDigits"].as_str(), answered["dnis"].as_str()), (Some("1#"), Some("53541815")));
    let data: Value = serde_json::from_str(answered["callData"].as_str().unwrap()).unwrap();
    assert_eq!((data["userid"].as_str(), data["codeid_1"].as_str()), (Some("u1"), Some("c1")));
    let (b_ans, b_busy, b_in) = (bill(int(&answered["id"])), bill(int(&busy["id"])), bill(int(&inbound["id"])));
    assert_eq!([&b_ans, &b_busy, &b_in].map(|b| int(&b["hangupcause"])), [10001, 10006, 10001]);
    // Customer hung up an outbound call (callee, 10041); the agent hung up an inbound one (callee, 10041).
    assert_eq!([&b_ans, &b_in].map(|b| int(&b["hangupdirection"])), [10041, 10041]);
    assert_eq!([&b_ans, &b_busy, &b_in].map(|b| b["direction"].as_str().unwrap()), ["callout", "callout", "callin"]);
    assert_eq!([&b_ans, &b_in].map(|b| int(&b["callmethod"])), [3, 0]);
    assert_eq!(
        (b_ans["userid"].as_str(), b_ans["memberid"].as_str(), b_ans["userkey"].as_str()),
        (Some("u1"), Some("m1"), Some("1#"))
    );
    assert_eq!(b_ans["recordfilename"].as_str(), answered["filename"].as_str());
    let crm_busy = crm_list["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["callId"] == calls.busy.as_str())
        .unwrap()
        .clone();
    assert_eq!((int(&crm_busy["result"]), int(&crm_busy["hangupCauseId"])), (2, 4), "占线");
    let act_busy = cdr["data"].as_array().unwrap().iter().find(|r| int(&r["id"]) == int(&busy["id"])).unwrap().clone();
    assert_eq!(act_busy["disposition"], "BUSY");

    // The recording each dialect hands out is the same file.
    let expected = wav_bytes(&calls.answered);
    let name = answered["filename"].as_str().unwrap().to_string();
    let via_open95 = app.get(&format!("/record/recordDownload?path={name}"), &t95).await;
    assert_eq!((via_open95.status, via_open95.header("content-type")), (StatusCode::OK, "audio/wav"));
    assert_eq!(via_open95.text.as_bytes(), expected.as_slice());
    let view = crm(&app, A, "/api/v1/callLogs/view", &format!("callId={}", calls.answered)).await;
    let crm_url = view["data"][0]["callLogRecordFoundResponseList"][0]["recordUrl"].as_str().unwrap().to_string();
    let record = action(&app, A, &[("action", "GetRecord"), ("uniqueid", &calls.answered)]).await;
    let act_url = record["data"][0]["path"].as_str().unwrap().to_string();
    let file = sipcdr(&app, &[("service", "App.Sip_Cdr.GetRecodeFile"), ("token", &token), ("filename", &name)]).await;
    let sip_url = file["data"]["result"]["url"].as_str().unwrap().to_string();
    for url in [&crm_url, &act_url, &sip_url] {
        let got = app.http.get(url).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{url}");
        assert_eq!(got.bytes().await.unwrap().as_ref(), expected.as_slice(), "{url}");
    }
    // A signed URL is good for the tenant and the file it was made for, and only until it expires.
    let forged = crm_url.replace("tenant=10001", "tenant=10002").replace(&calls.answered, &calls.theirs);
    assert_eq!(app.http.get(&forged).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let unsigned = crm_url.split('?').next().unwrap().to_string();
    assert_eq!(app.http.get(&unsigned).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    app.clock.advance(chrono::Duration::hours(25));
    assert_eq!(app.http.get(&crm_url).send().await.unwrap().status(), StatusCode::FORBIDDEN, "expired");
}

#[tokio::test]
async fn recordings_download_whole_or_by_range() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let calls = make_calls(&app).await;
    let token = open95_token(&app, A).await;
    let list = app.get("/record/pageSearch4Record?customer=13800138000", &token).await.json();
    assert_eq!(list["data"]["total"], 1, "{list}");
    let name = list["data"]["pageData"][0]["filename"].as_str().unwrap().to_string();
    assert_eq!(name, format!("777777/{}.wav", calls.answered));
    assert_eq!(app.get("/record/pageSearch4Record", &token).await.json()["data"]["total"], 2, "busy has none");
    let whole = wav_bytes(&calls.answered);
    let ranged = |range: &'static str| {
        let req = app.http.get(app.url(&format!("/record/recordDownload?path={name}"))).bearer_auth(&token);
        async move { req.header("Range", range).send().await.unwrap() }
    };
    let r = ranged("bytes=0-11").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], format!("bytes 0-11/{}", whole.len()).as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), &whole[..12]);
    let r = ranged("bytes=-100").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &whole[whole.len() - 100..]);
    let r = ranged("bytes=100-").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &whole[100..]);
    let r = ranged("bytes=999999-").await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], format!("bytes */{}", whole.len()).as_str());
}

#[tokio::test]
async fn downloads_resolve_through_the_database_never_by_joining_paths() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let calls = make_calls(&app).await;
    let secret = std::fs::read_to_string(app.config.data_dir.join("master.key")).unwrap();
    let outside = app.config.recordings_dir().join("../outside.wav");
    std::fs::write(&outside, "outside the recordings").unwrap();
    let token = open95_token(&app, A).await;
    let theirs = format!("888888/{}.wav", calls.theirs);
    let absolute = outside.canonicalize().unwrap().display().to_string();
    let attempts = [
        "../master.key".to_string(),
        "..%2Fmaster.key".to_string(),
        "%2e%2e%2fmaster.key".to_string(),
        "777777/../../master.key".to_string(),
        "../outside.wav".to_string(),
        absolute.clone(),
        "/etc/passwd".to_string(),
        format!("777777/{}.wav%00", calls.answered),
        theirs.clone(),
        format!("777777/../888888/{}.wav", calls.theirs),
    ];
    for path in &attempts {
        let a = app.get(&format!("/record/recordDownload?path={path}"), &token).await;
        assert!(!a.status.is_success(), "{path}: {}", a.status);
        assert!(!a.text.contains(secret.trim()) && !a.text.contains("outside the recordings"), "{path}");
        assert!(!a.text.contains("RIFF"), "{path}: no recording bytes");
    }
    // Even a validly signed URL reaches only files a call record of that tenant names.
    for path in ["../master.key", "../outside.wav", theirs.as_str()] {
        let url = app.url(&app.running.services.recording_url(A, path));
        let got = app.http.get(&url).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let raw = app.http.get(app.url("/recordings/..%2Fmaster.key?tenant=10001&expires=99999999999&sig=00")).send();
    assert_eq!(raw.await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tenant_b_gets_nothing_of_tenant_a_from_any_endpoint() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let calls = make_calls(&app).await;
    let a_token = open95_token(&app, A).await;
    let a_list = app.get("/callHistory/pageSearchCallHistory", &a_token).await.json();
    let a_ids: Vec<i64> = a_list["data"]["pageData"].as_array().unwrap().iter().map(|h| int(&h["id"])).collect();
    let a_file = format!("777777/{}.wav", calls.answered);
    let a_bytes = wav_bytes(&calls.answered);
    let switch = app.running.switch.clone().unwrap();
    switch.set_presence(A, "1001", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    let mine = |v: &Value| v.to_string().contains(&calls.answered) || v.to_string().contains(&calls.inbound);

    // crm
    let day = "startTime=2026-11-21%2000:00:00&endTime=2026-11-21%2023:59:59";
    let list = crm(&app, B, "/api/v1/callLogs", day).await;
    assert_eq!(list["data"]["total"], 1, "B's own call only: {list}");
    assert!(!mine(&list));
    let view = crm(&app, B, "/api/v1/callLogs/view", &format!("callId={}", calls.answered)).await;
    assert_eq!(view["code"], 404, "{view}");
    let search = app
        .send(app.http.post(app.url(&format!(
            "/api/v1/callLogs/search?{}&masterUserId=1001",
            crm_query(&app, "ops@other.cn", "other-k3y")
        ))))
        .await
        .json();
    assert!(!mine(&search), "{search}");

    // sipcdr
    let b_sip = sipcdr_login(&app, B).await;
    let got = bills(&app, &b_sip, &[]).await;
    assert_eq!(got["totalitems"], 1);
    assert!(!mine(&got));
    assert_eq!(bills(&app, &b_sip, &[("destnumber", "02088886666")]).await["totalitems"], 0);
    let file =
        sipcdr(&app, &[("service", "App.Sip_Cdr.GetRecodeFile"), ("token", &b_sip), ("filename", &a_file)]).await;
    assert_eq!((file["ret"].as_i64(), file["data"]["status"].as_i64()), (Some(200), Some(1)), "{file}");

    // open95
    let b_token = open95_token(&app, B).await;
    let history = app.get("/callHistory/pageSearchCallHistory?customer=02088886666", &b_token).await.json();
    assert_eq!(history["data"]["total"], 0);
    let detail = app.get(&format!("/callHistory/detailBySid?sid={}", calls.answered), &b_token).await.json();
    assert_eq!(detail["code"], 10101, "{detail}");
    let records = app.get("/record/pageSearch4Record", &b_token).await.json();
    assert_eq!(records["data"]["total"], 1);
    assert!(!mine(&records));
    let download = app.get(&format!("/record/recordDownload?path={a_file}"), &b_token).await;
    assert_eq!(download.status, StatusCode::NOT_FOUND);
    assert!(!download.text.as_bytes().windows(a_bytes.len().min(64)).any(|w| w == &a_bytes[..64]));
    let agents = app.get("/employeeHistories/pageSearch", &b_token).await.json();
    assert_eq!(agents["data"]["total"], 0, "A's login is A's: {agents}");
    assert_eq!(app.get("/employeeHistories/pageSearch", &a_token).await.json()["data"]["total"], 1);

    // action
    let cdr = action(&app, B, &[("action", "GetCDRList")]).await;
    assert_eq!(cdr["data"].as_array().unwrap().len(), 1);
    assert!(!mine(&cdr));
    for id in &a_ids {
        let after = action(&app, B, &[("action", "GetCDRList"), ("PId", &(id + 1).to_string())]).await;
        assert!(!mine(&after), "cursor {id}");
    }
    let record = action(&app, B, &[("action", "GetRecord"), ("uniqueid", &calls.answered)]).await;
    assert_eq!(record["errno"], "0", "{record}");
}

#[tokio::test]
async fn sipcdr_speaks_the_phalapi_envelope_and_syncs_per_client() {
    for url in common::backends().await {
        sipcdr_checks(&start(&url).await).await;
    }
}

async fn sipcdr_checks(app: &TestApp) {
    let calls = make_calls(app).await;
    let bad_login = sipcdr(app, &[("service", "App.Sip_Auth.Login"), ("appid", "demo"), ("accesskey", "nope")]).await;
    assert_eq!((bad_login["ret"].as_i64(), bad_login["data"].clone()), (Some(601), serde_json::json!({})));
    let token = sipcdr_login(app, A).await;
    let refusals: [(&[(&str, &str)], i64); 6] = [
        (&[("service", "App.Sip_Cdr.GetBill")], 600),
        (&[("service", "App.Sip_Cdr.GetBill"), ("token", "not-a-token")], 600),
        (&[("service", "App.Nope.Nothing"), ("token", &token)], 400),
        (&[("token", &token)], 400),
        (&[("service", "App.Sip_Cdr.GetBill"), ("token", &token), ("endtime", "2026-11-21 23:59:59")], 400),
        (
            &[
                ("service", "App.Sip_Cdr.GetBill"),
                ("token", &token),
                ("starttime", "yesterday"),
                ("endtime", "2026-11-21 23:59:59"),
            ],
            400,
        ),
    ];
    for (form, ret) in refusals {
        let v = sipcdr(app, form).await;
        assert_eq!(v["ret"].as_i64(), Some(ret), "{form:?}: {v}");
        assert!(!v["msg"].as_str().unwrap().is_empty(), "a clear msg: {v}");
    }
    let page =
        sipcdr(app, &[("service", "App.Sip_Cdr.GetBill"), ("token", &token), DAY[0], DAY[1], ("itemsperpage", "1001")])
            .await;
    assert_eq!(page["ret"], 400, "{page}");

    // Filters.
    let count = |extra: &'static [(&'static str, &'static str)]| {
        let (app, token) = (app, &token);
        async move { int(&bills(app, token, extra).await["totalitems"]) }
    };
    assert_eq!(count(&[("extnumber", "1002")]).await, 1);
    assert_eq!(count(&[("extnumber", "1001,1002")]).await, 3);
    assert_eq!(count(&[("destnumber", "13900139000")]).await, 1);
    assert_eq!(count(&[("userid", "u1")]).await, 1);
    assert_eq!(count(&[("userid", "u1"), ("memberid", "other")]).await, 0);
    assert_eq!(count(&[("direction", "1")]).await, 1);
    assert_eq!(count(&[("direction", "2")]).await, 2);
    assert_eq!(count(&[("callmethod", "3")]).await, 2);
    assert_eq!(count(&[("callmethod", "5")]).await, 0);
    let paged = bills(app, &token, &[("itemsperpage", "2"), ("currentpage", "2")]).await;
    assert_eq!((paged["bills"].as_array().unwrap().len(), int(&paged["currentpage"])), (1, 2));

    // syncflag: 1 hands each record to this client once (oldest first), 2 lists what it has had.
    assert_eq!(count(&[("syncflag", "2")]).await, 0);
    let first = bills(app, &token, &[("syncflag", "1"), ("itemsperpage", "2")]).await;
    let ids: Vec<i64> = first["bills"].as_array().unwrap().iter().map(|b| int(&b["id"])).collect();
    assert_eq!((int(&first["totalitems"]), ids.len()), (3, 2));
    assert!(ids[0] < ids[1], "oldest first");
    let rest = bills(app, &token, &[("syncflag", "1"), ("itemsperpage", "2")]).await;
    assert_eq!(int(&rest["totalitems"]), 1);
    assert_eq!(rest["bills"][0]["destnumber"], "02088886666");
    assert_eq!(count(&[("syncflag", "1")]).await, 0);
    assert_eq!(count(&[("syncflag", "2")]).await, 3);
    // Another login of the same appid shares what it fetched; the other tenant's client has its own.
    let again = sipcdr_login(app, A).await;
    assert_eq!(int(&bills(app, &again, &[("syncflag", "1")]).await["totalitems"]), 0);
    let other = sipcdr_login(app, B).await;
    assert_eq!(int(&bills(app, &other, &[("syncflag", "1")]).await["totalitems"]), 1);

    // multipart/form-data, as PHP's curl sends an array.
    let boundary = "----yunhuTestBoundary";
    let mut body = String::new();
    for (k, v) in [("service", "App.Sip_Cdr.GetBill"), ("token", token.as_str()), DAY[0], DAY[1], ("syncflag", "3")] {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let req = app
        .http
        .post(app.url("/"))
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    let v = app.send(req).await.json();
    assert_eq!((v["ret"].as_i64(), v["data"]["result"]["totalitems"].as_i64()), (Some(200), Some(3)), "{v}");
    let keys: Vec<&String> = v["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "desc", "result", "reqtime", "rsptime"]);
    let fields: Vec<&String> = v["data"]["result"]["bills"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "id",
            "extnumber",
            "destnumber",
            "displaynumber",
            "starttime",
            "answertime",
            "endtime",
            "duration",
            "billsec",
            "direction",
            "callmethod",
            "userid",
            "memberid",
            "chengshudu",
            "customuuid",
            "recordfilename",
            "downloadip",
            "hangupdirection",
            "hangupcause",
            "userkey"
        ]
    );
    let _ = calls;
}

#[tokio::test]
async fn open95_call_history_filters_and_agent_history() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let calls = make_calls(&app).await;
    let token = open95_token(&app, A).await;
    let total = |q: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let v = app.get(&format!("/callHistory/pageSearchCallHistory?{q}"), token).await.json();
            assert_eq!(v["code"], 0, "{q}: {v}");
            int(&v["data"]["total"])
        }
    };
    assert_eq!(total("").await, 3);
    assert_eq!(total("callType=2").await, 1);
    assert_eq!(total("callType=3").await, 2);
    assert_eq!(total("callType=8").await, 0);
    assert_eq!(total("hangupType=0").await, 1);
    assert_eq!(total("hangupType=1").await, 2);
    assert_eq!(total("callResult=2").await, 2);
    assert_eq!(total("callResult=0").await, 1);
    assert_eq!(total("talksecStart=5&talksecEnd=100").await, 2);
    assert_eq!(total("agent=1002").await, 1);
    assert_eq!(total("agent=100011002").await, 1, "long form");
    assert_eq!(total("customer=13900139000").await, 1);
    assert_eq!(total("cStartTimeFrom=20261121100030").await, 2);
    assert_eq!(total("cStartTimeFrom=20261121100030&cStartTimeEnd=20261121100200").await, 1);
    assert_eq!(total("cStartTimeFrom=2026-11-21%2010:00:30").await, 2, "the dashed form too");
    let page = app.get("/callHistory/pageSearchCallHistory?pageSize=2&currentPage=2", &token).await.json();
    assert_eq!(page["data"]["pageData"].as_array().unwrap().len(), 1);
    for bad in
        ["cStartTimeFrom=yesterday", "callType=x", "callType=11", "hangupType=2", "callResult=1", "talksecStart=x"]
    {
        let a = app.get(&format!("/callHistory/pageSearchCallHistory?{bad}"), &token).await;
        assert_eq!((a.status, a.json()["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(1001)), "{bad}");
    }
    let detail = app.get(&format!("/callHistory/detailBySid?sid={}", calls.busy), &token).await.json();
    assert_eq!(detail["data"]["pageData"][0]["cHangupCause"], "USER_BUSY");
    assert_eq!(detail["data"]["pageData"][0]["callResult"], "未接通");
    assert_eq!(app.get("/callHistory/detailBySid", &token).await.json()["code"], 1001);

    // Agent history: log in, a break, back, log out; each row lasts until the next.
    let switch = app.running.switch.clone().unwrap();
    let minute = || app.clock.advance(chrono::Duration::seconds(60));
    let t0 = app.clock.now().timestamp_millis();
    for event in [
        AgentEventKind::AgentLogin { via: "api".into() },
        AgentEventKind::AgentNotReady { reason: "5".into() },
        AgentEventKind::AgentReady,
        AgentEventKind::AgentLogout { via: "api".into() },
    ] {
        switch.set_presence(A, "1001", event).await.unwrap();
        minute();
    }
    switch.set_presence(A, "1002", AgentEventKind::AgentLogin { via: "api".into() }).await.unwrap();
    let hist = |q: &str| {
        let (app, token, q) = (&app, &token, q.to_string());
        async move { app.get(&format!("/employeeHistories/pageSearch?{q}"), token).await.json() }
    };
    let all = hist("agentId=1001").await;
    assert_eq!(all["data"]["total"], 4, "{all}");
    let rows = all["data"]["pageData"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| int(&r["action"])).collect::<Vec<_>>(), [581, 583, 582, 580], "newest first");
    let not_ready = &rows[2];
    assert_eq!((int(&not_ready["state"]), int(&not_ready["reasonCode"])), (2, 5));
    assert_eq!((not_ready["duration"].as_str(), not_ready["agentId"].as_str()), (Some("00:01:00"), Some("100011001")));
    assert_eq!(not_ready["agentName"], "张三");
    let login = &rows[3];
    assert_eq!(int(&login["endTime"]) - int(&login["startTime"]), 100, "one minute later, yyyyMMddHHmmss");
    assert!(rows[0]["endTime"].is_null(), "logged out since");
    assert_eq!(hist("").await["data"]["total"], 5);
    assert_eq!(hist("action=582").await["data"]["total"], 1);
    assert_eq!(hist("state=1").await["data"]["total"], 3, "login and ready of 1001, login of 1002");
    assert_eq!(hist("state=0&action=580").await["data"]["total"], 0);
    assert_eq!(hist("agentId=1002").await["data"]["total"], 1);
    assert_eq!(hist("queueCode=8829").await["data"]["total"], 4, "only 1001 is in 8829");
    assert_eq!(hist("queueCode=100018829").await["data"]["total"], 4, "long form");
    let zone = yunhu_core::time::zone_or_default("Asia/Shanghai");
    let from = yunhu_core::time::format_in_zone(t0 + 90_000, zone, "%Y%m%d%H%M%S");
    let to = yunhu_core::time::format_in_zone(t0 + 200_000, zone, "%Y%m%d%H%M%S");
    assert_eq!(hist(&format!("startTimeFrom={from}")).await["data"]["total"], 3);
    assert_eq!(hist(&format!("startTimeFrom={from}&startTimeEnd={to}")).await["data"]["total"], 2);
    assert_eq!(hist("action=584").await["code"], 1001);
}

/// A call's progress events are queued for the event log's next commit; stopping the server
/// writes what is queued, so a call cut by the stop keeps all it logged.
#[tokio::test]
async fn stopping_writes_the_progress_events_still_queued() {
    use yunhu_core::call::{CallEventKind, Side};
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let svc = app.running.services.clone();
    let id = yunhu_cc::secrets::new_stream_id();
    // The first event is waited on, as a dial's is; the rest are only queued.
    svc.log_call_event(A, &id, CallEventKind::LegCreated { side: Side::Agent }).await.unwrap();
    for side in [Side::Agent, Side::Customer] {
        svc.log_call_event_or_warn(A, &id, CallEventKind::Ringing { side });
    }
    svc.log_call_event_or_warn(A, &id, CallEventKind::Dtmf { side: Side::Customer, digit: "5".into() });
    app.running.stop().await;
    let kinds: Vec<String> = svc.db().call_events(A, &id).await.unwrap().into_iter().map(|e| e.1).collect();
    assert_eq!(kinds, ["leg_created", "ringing", "ringing", "dtmf"]);
}
