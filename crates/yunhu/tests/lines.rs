//! The directory and the extensions through the dialects: action `GetUserInfo` (seed 004),
//! sipcdr `App.Sip_Status.GetSipCallStatus` and `App.Sip_Sipnum.GetSipnumberInfo` (the App.Sip_*
//! family): the answers' shapes, whole-company listings, bad input in each dialect's envelope and
//! codes, and an extension's state following a real phone (sipp) through registration and calls.

mod common;

use common::sip::{carrier_at, dial, dial_from, free_port, phone, register, setup};
use common::{TestApp, start};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use yunhu_cc::objects::Kind;

async fn action(app: &TestApp, company: &str, auth: &str, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("companyid", company), ("auth", auth)];
    all.extend_from_slice(params);
    app.send(app.http.post(app.url("/action")).form(&all)).await.json()
}

async fn users(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("action", "GetUserInfo")];
    all.extend_from_slice(params);
    action(app, "8", "demo-auth-code", &all).await
}

fn names(v: &Value) -> Vec<&str> {
    v["data"].as_array().unwrap().iter().map(|u| u["UserName"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn get_user_info_lists_the_company_or_one_staff_member_as_seed_004_spells_them() {
    for url in common::backends().await {
        let app = start(&url).await;
        let all = app.send(app.http.get(app.url("/action?action=GetUserInfo&companyid=8&auth=demo-auth-code"))).await;
        let v = all.json();
        assert_eq!((v["errno"].as_str(), v["message"].as_str()), (Some("1"), Some("成功")), "{v}");
        assert_eq!(names(&v), ["1001", "1002", "admin"], "the whole company, the disabled admin too");
        // Fields and their order as the seed's example, every value text, times in Shanghai time
        // (the test clock starts at 02:00 UTC).
        let first = r#"{"UserName":"1001","TrueName":"张三","RoleName":"座席","Identity":"座席","DepartmentName":"班组1","Phone":"13800138000","StaffId":"1001","UpdateTime":"2026-11-21 10:00:"#;
        assert!(all.text.starts_with(&format!(r#"{{"errno":"1","message":"成功","data":[{first}"#)), "{}", all.text);
        for u in v["data"].as_array().unwrap() {
            let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
            let seed = [
                "UserName",
                "TrueName",
                "RoleName",
                "Identity",
                "DepartmentName",
                "Phone",
                "StaffId",
                "UpdateTime",
                "CreateTime",
            ];
            assert_eq!(keys, seed, "the seed's fields in its order: {u}");
            assert!(u.as_object().unwrap().values().all(Value::is_string), "{u}");
            let created = u["CreateTime"].as_str().unwrap();
            assert!(created.starts_with("2026-11-21 10:0") && created.len() == 19, "{created}");
        }
        let lead = &v["data"][1];
        assert_eq!((lead["TrueName"].as_str(), lead["RoleName"].as_str()), (Some("李四"), Some("班组长")));
        let admin = &v["data"][2];
        assert_eq!(
            (admin["RoleName"].as_str(), admin["DepartmentName"].as_str(), admin["Phone"].as_str()),
            (Some("管理员"), Some(""), Some("")),
            "no team, no phone: empty text"
        );

        // One staff member, by account or (seed 004's 工号) extension; an empty staffid is the company.
        for staff in ["1002", " 1002 "] {
            let one = users(&app, &[("staffid", staff)]).await;
            assert_eq!(names(&one), ["1002"], "{one}");
            assert_eq!(one["data"][0], v["data"][1]);
        }
        assert_eq!(names(&users(&app, &[("staffid", "admin")]).await), ["admin"]);
        assert_eq!(names(&users(&app, &[("staffid", "")]).await), ["1001", "1002", "admin"]);
        let unknown = users(&app, &[("staffid", "1999")]).await;
        assert_eq!(unknown, json!({"errno": "0", "message": "工号不存在: 1999", "data": []}));

        // The other company sees only its own staff, in its own time zone.
        let svc = &app.running.services;
        let now = yunhu_core::Clock::now(&**svc.clock()).timestamp_millis();
        svc.db().put_tenant("888888", "Other Co", "UTC", "888888.yunhu", now).await.unwrap();
        let theirs = action(&app, "9", "other-auth-code", &[("action", "GetUserInfo")]).await;
        assert_eq!(names(&theirs), ["1001"]);
        assert_eq!(theirs["data"][0]["TrueName"], "王五");
        assert_eq!(theirs["data"][0]["DepartmentName"], "二组");
        let utc = theirs["data"][0]["UpdateTime"].as_str().unwrap();
        assert!(utc.starts_with("2026-11-21 02:0"), "UTC tenant: {utc}");
        let not_theirs = action(&app, "9", "other-auth-code", &[("action", "GetUserInfo"), ("staffid", "1002")]).await;
        assert_eq!(not_theirs["errno"], "0", "{not_theirs}");

        let wrong = action(&app, "8", "nope", &[("action", "GetUserInfo")]).await;
        assert_eq!(wrong, json!({"errno": "3", "message": "认证失败", "data": []}));
        let missing =
            app.send(app.http.post(app.url("/action")).form(&[("action", "GetUserInfo"), ("auth", "x")])).await.json();
        assert_eq!(missing["errno"], "2", "{missing}");
    }
}

async fn sipcdr(app: &TestApp, form: &[(&str, &str)]) -> Value {
    app.send(app.http.post(app.url("/")).form(form)).await.json()
}

async fn sipcdr_login(app: &TestApp, appid: &str, key: &str) -> String {
    let v = sipcdr(app, &[("service", "App.Sip_Auth.Login"), ("appid", appid), ("accesskey", key)]).await;
    v["data"]["result"]["token"].as_str().unwrap_or_else(|| panic!("login: {v}")).to_string()
}

async fn call_status(app: &TestApp, token: &str, exts: &str) -> Value {
    sipcdr(app, &[("service", "App.Sip_Status.GetSipCallStatus"), ("token", token), ("extnumber", exts)]).await
}

async fn number_info(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![("service", "App.Sip_Sipnum.GetSipnumberInfo"), ("token", token)];
    form.extend_from_slice(extra);
    sipcdr(app, &form).await
}

/// The `result` of a handled, successful sipcdr answer.
fn result(v: &Value) -> &Vec<Value> {
    assert_eq!((v["ret"].as_i64(), v["data"]["status"].as_i64()), (Some(200), Some(0)), "{v}");
    assert!(v["data"].get("errors").is_none(), "{v}");
    v["data"]["result"].as_array().unwrap_or_else(|| panic!("{v}"))
}

fn codes(v: &Value) -> Vec<(String, i64)> {
    result(v).iter().map(|r| (r["extnumber"].as_str().unwrap().to_string(), r["status"].as_i64().unwrap())).collect()
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(e, c)| (e.to_string(), *c)).collect()
}

/// A staff member at extension 1003 who may not work.
async fn disabled_1003(app: &TestApp) {
    let spec =
        json!({"user_code": "1003", "name": "停用", "agent_id": "1003", "sip_password": "1003pw", "enabled": false});
    app.running.services.put_object("777777", Kind::Staff, spec).await.unwrap();
}

#[tokio::test]
async fn sipcdr_answers_extension_states_and_lists_in_the_family_codes() {
    for url in common::backends().await {
        let app = start(&url).await;
        disabled_1003(&app).await;
        let token = sipcdr_login(&app, "demo", "demo-pass").await;
        let theirs = sipcdr_login(&app, "other", "other-pass").await;

        // Nothing registered yet: 1014; a disabled extension 1013; nobody's 1012; another
        // company's 1011; each extension once, in the order asked.
        let v = call_status(&app, &token, "1001").await;
        let row = json!({
            "extnumber": "1001", "status": 1014, "caller": "", "callee": "", "disnumber": "", "direction": "",
            "channel": "", "idleduration": 0, "callduration": 0
        });
        assert_eq!(result(&v), &vec![row], "{v}");
        assert_eq!(v["data"]["desc"], "获取成功");
        let v = call_status(&app, &token, "1002, 1003,1999,1002,,").await;
        assert_eq!(codes(&v), pairs(&[("1002", 1014), ("1003", 1013), ("1999", 1012)]));
        let v = call_status(&app, &theirs, "1002,1001").await;
        assert_eq!(codes(&v), pairs(&[("1002", 1011), ("1001", 1014)]), "777777's 1002; 888888's own 1001");

        // Bad requests: the family's ret codes.
        let missing = sipcdr(&app, &[("service", "App.Sip_Status.GetSipCallStatus"), ("token", &token)]).await;
        assert_eq!(missing["ret"], 400, "{missing}");
        assert_eq!(call_status(&app, &token, " , ").await["ret"], 400);
        let many = (1..=501).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(call_status(&app, &token, &many).await["ret"], 400);
        for bad in ["not-a-token", ""] {
            let v = call_status(&app, bad, "1001").await;
            assert_eq!((v["ret"].as_i64(), v["data"].clone()), (Some(600), json!({})), "{v}");
            assert_eq!(number_info(&app, bad, &[]).await["ret"], 600);
        }

        // The company's extensions: all by default and with status 3, enabled (1), disabled (2).
        let all = number_info(&app, &token, &[("status", "3")]).await;
        let row = json!({
            "extnumber": "1001", "password": "", "status": 1016, "disnumber": "53541815", "regstatus": 1014,
            "callstatus": 1014
        });
        assert_eq!(result(&all)[0], row, "{all}");
        assert_eq!(codes(&all), pairs(&[("1001", 1016), ("1002", 1016), ("1003", 1013)]), "admin has no extension");
        assert_eq!(result(&all)[2]["callstatus"], 1013);
        assert_eq!(untimed(number_info(&app, &token, &[]).await), untimed(all.clone()), "status 3 is the default");
        assert_eq!(
            codes(&number_info(&app, &token, &[("status", "1")]).await),
            pairs(&[("1001", 1016), ("1002", 1016)])
        );
        assert_eq!(codes(&number_info(&app, &token, &[("status", "2")]).await), pairs(&[("1003", 1013)]));
        let some = number_info(&app, &token, &[("status", "3"), ("extnumber", "1003,1001,1999")]).await;
        assert_eq!(codes(&some), pairs(&[("1001", 1016), ("1003", 1013)]), "only those named, in extension order");
        for bad in ["0", "4", "abc", "1.5"] {
            let v = number_info(&app, &token, &[("status", bad)]).await;
            assert_eq!(v["ret"], 400, "status={bad}: {v}");
            assert!(v["msg"].as_str().unwrap().contains("status"), "{v}");
        }
        let other = number_info(&app, &theirs, &[("status", "3")]).await;
        assert_eq!(codes(&other), pairs(&[("1001", 1016)]));
        assert_eq!(result(&other)[0]["disnumber"], "88880000", "888888's own caller ID (it has no trunk)");
    }
}

/// A sipcdr answer with its request and response times left out, to compare two.
fn untimed(mut v: Value) -> Value {
    for k in ["reqtime", "rsptime"] {
        v["data"][k] = json!(0);
    }
    v
}

#[tokio::test]
async fn without_telephony_nothing_is_registered_and_calls_fail_with_the_family_code() {
    let mut config = common::config_for(&yunhu_store::testing::scratch_sqlite_url());
    config.sip_listen = "off".into();
    let clock = std::sync::Arc::new(yunhu_core::ManualClock::new(chrono::Utc::now()));
    let running = yunhu::start_with_clock(&config, clock.clone()).await.unwrap();
    let app =
        TestApp { base: format!("http://{}", running.http_addr), clock, running, http: reqwest::Client::new(), config };
    assert!(app.running.switch.is_none(), "no telephony");
    let token = sipcdr_login(&app, "demo", "demo-pass").await;
    assert_eq!(codes(&call_status(&app, &token, "1001,1002").await), pairs(&[("1001", 1014), ("1002", 1014)]));
    let listed = number_info(&app, &token, &[("status", "1")]).await;
    assert!(result(&listed).iter().all(|r| r["regstatus"] == 1014 && r["callstatus"] == 1014), "{listed}");
    // A handled failure carries the family's `errors` beside `desc`.
    let call = sipcdr(
        &app,
        &[
            ("service", "App.Sip_Call.MakeCall"),
            ("token", &token),
            ("extnumber", "1001"),
            ("destnumber", "13800138000"),
        ],
    )
    .await;
    assert_eq!((call["ret"].as_i64(), call["data"]["status"].as_i64()), (Some(200), Some(1)), "{call}");
    assert_eq!(call["data"]["errors"], json!({"code": 1001, "codemsg": "呼叫服务未启动"}));
    assert_eq!(call["data"]["desc"], "1001 呼叫服务未启动");
    assert_eq!(call["data"]["result"], Value::Null);
}

/// Polls GetSipCallStatus for `ext` until its status is `status`; that row.
async fn wait_line(app: &TestApp, token: &str, ext: &str, status: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = call_status(app, token, ext).await;
        let row = result(&v)[0].clone();
        if row["status"] == status {
            return row;
        }
        assert!(Instant::now() < deadline, "{ext} never reached {status}: {row}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_extension_s_state_follows_its_phone_through_registration_and_calls() {
    // 1001 registers (sipp) and logs in with 000.
    let (app, sip, agent_port) = setup().await;
    let token = sipcdr_login(&app, "demo", "demo-pass").await;
    let idle = wait_line(&app, &token, "1001", 1201).await;
    assert!(idle["idleduration"].as_i64().is_some_and(|s| (0..5).contains(&s)), "its login call just ended: {idle}");
    let listed = number_info(&app, &token, &[]).await;
    let state: Vec<(i64, i64)> =
        result(&listed).iter().map(|r| (r["regstatus"].as_i64().unwrap(), r["callstatus"].as_i64().unwrap())).collect();
    assert_eq!(state, [(1017, 1201), (1014, 1014)], "1001 registered and idle, 1002 not registered: {listed}");

    // Click-to-call: 1001's phone rings 2 s (callout to the customer), then they talk.
    let carrier_port = free_port();
    carrier_at(&app, carrier_port).await;
    let agent = phone("agent", "answer.xml", agent_port, 2000);
    let carrier = phone("carrier", "answer.xml", carrier_port, 300);
    let call_id = dial(&app).await;
    let ringing = wait_line(&app, &token, "1001", 1202).await;
    let expect = json!({
        "extnumber": "1001", "status": 1202, "caller": "1001", "callee": "13800138000", "disnumber": "53541815",
        "direction": "callout", "channel": call_id, "idleduration": 0, "callduration": 0
    });
    assert_eq!(ringing, expect);
    let talking = wait_line(&app, &token, "1001", 1204).await;
    assert_eq!(
        (talking["callee"].as_str(), talking["channel"].as_str()),
        (Some("13800138000"), Some(call_id.as_str()))
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let later = wait_line(&app, &token, "1001", 1204).await;
    assert!(later["callduration"].as_i64().is_some_and(|s| (2..=4).contains(&s)), "{later}");
    let listed = number_info(&app, &token, &[("extnumber", "1001")]).await;
    assert_eq!(
        (result(&listed)[0]["regstatus"].as_i64(), result(&listed)[0]["callstatus"].as_i64()),
        (Some(1017), Some(1204))
    );
    let hang = common::sip::action(&app, &[("action", "HangUp"), ("staffid", "1001")]).await;
    assert_eq!(hang["errno"], "1", "{hang}");
    assert!(agent.wait().await.success());
    assert!(carrier.wait().await.success());
    let free = wait_line(&app, &token, "1001", 1201).await;
    assert!(free["idleduration"].as_i64().is_some_and(|s| (0..3).contains(&s)), "{free}");
    assert_eq!(free["channel"], "");

    // 1001 dials 1002: 1001 calls out to 1002, 1002 is called by 1001.
    let callee_port = free_port();
    assert!(register(sip, "1002", "1002pw", callee_port, "register.xml").await.success());
    let callee = phone("1002", "answer.xml", callee_port, 300);
    let caller = tokio::spawn(dial_from(sip, "1001", "1001pw", "1002", "dial_and_hang_up.xml"));
    let out = wait_line(&app, &token, "1001", 1204).await;
    let into = wait_line(&app, &token, "1002", 1204).await;
    assert_eq!(
        (out["direction"].as_str(), out["caller"].as_str(), out["callee"].as_str(), out["disnumber"].as_str()),
        (Some("callout"), Some("1001"), Some("1002"), Some("")),
        "no caller ID is shown between extensions"
    );
    assert_eq!(
        (into["direction"].as_str(), into["caller"].as_str(), into["callee"].as_str(), into["disnumber"].as_str()),
        (Some("callin"), Some("1001"), Some("1002"), Some(""))
    );
    assert_eq!(out["channel"], into["channel"], "one call");
    // ExtenStatus shows the caller whom they dialled, too.
    let exten = common::sip::action(&app, &[("action", "ExtenStatus"), ("staffid", "1001")]).await;
    assert_eq!(exten["data"]["CallerNum"], 1002, "{exten}");
    assert!(caller.await.unwrap().success());
    assert!(callee.wait().await.success());
    assert_eq!(codes(&call_status(&app, &token, "1001,1002").await), pairs(&[("1001", 1201), ("1002", 1201)]));
}
