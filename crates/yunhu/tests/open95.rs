//! The open95 dialect over real HTTP: OAuth2, the envelope in JSON and XML, every way of
//! passing parameters, and the base-config endpoints, against the example provisioning file.

mod common;

use common::{TestApp, backends, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const A_TENANT: i64 = 10001;

async fn sqlite_app() -> TestApp {
    start(&yunhu_store::testing::scratch_sqlite_url()).await
}

/// `PUT /employeeInfo/resetQueues` with a body as given.
async fn reset_queues_raw(app: &TestApp, token: &str, content_type: &str, body: &'static str) -> common::Answer {
    let req = app.http.put(app.url("/employeeInfo/resetQueues")).bearer_auth(token);
    app.send(req.header("Content-Type", content_type).body(body)).await
}

fn names(page: &Value) -> Vec<String> {
    page["data"]["pageData"].as_array().unwrap().iter().map(|s| s["nameCn"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn token_endpoint_answers_as_the_seed_shows() {
    let app = sqlite_app().await;
    let post = |body: &'static str| {
        app.http
            .post(app.url("/oauth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
    };
    // The seed's own request, scope with a space in it.
    let ok = app
        .send(post("client_id=demo&client_secret=demo-secret&grant_type=client_credentials&scope= read,write"))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let body = ok.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "token_type", "expires_in", "scope"]);
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_i64()), (Some("bearer"), Some(7200)));
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["access_token"].as_str().unwrap().len(), 36);

    // No scope: every scope the client has.
    let all = app.send(post("client_id=demo-reader&client_secret=reader-secret&grant_type=client_credentials")).await;
    assert_eq!(all.json()["scope"], "read");
    // JSON bodies work too.
    let js = app
        .send(app.http.post(app.url("/oauth/token")).json(&json!({
            "client_id": "demo", "client_secret": "demo-secret", "grant_type": "client_credentials", "scope": "write"
        })))
        .await;
    assert_eq!((js.status, js.json()["scope"].clone()), (StatusCode::OK, json!("write")));

    let cases = [
        ("client_id=demo&client_secret=wrong-secret&grant_type=client_credentials", 401, "invalid_client"),
        ("client_id=nobody&client_secret=demo-secret&grant_type=client_credentials", 401, "invalid_client"),
        ("client_secret=demo-secret&grant_type=client_credentials", 401, "invalid_client"),
        ("client_id=demo&client_secret=demo-secret&grant_type=client_credentials&scope=admin", 400, "invalid_scope"),
        (
            "client_id=demo-reader&client_secret=reader-secret&grant_type=client_credentials&scope=write",
            400,
            "invalid_scope",
        ),
        ("client_id=demo&client_secret=demo-secret&scope=read", 400, "invalid_request"),
        ("client_id=demo&client_secret=demo-secret&grant_type=password", 400, "invalid_request"),
    ];
    for (body, status, error) in cases {
        let a = app.send(post(body)).await;
        assert_eq!(a.status.as_u16(), status, "{body}: {}", a.text);
        let v = a.json();
        assert_eq!(v["error"], error, "{body}");
        assert!(v["error_description"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
    let bad = app.send(post("client_id=demo&client_secret=wrong-secret&grant_type=client_credentials")).await;
    assert_eq!(bad.json()["error_description"], "Bad client credentials");
}

#[tokio::test]
async fn tokens_are_refused_when_missing_wrong_expired_voided_or_short_of_scope() {
    let app = sqlite_app().await;
    let path = "/dataObject/search";
    let refused = |a: &common::Answer, status: StatusCode, challenge: &str| {
        assert_eq!(a.status, status, "{}", a.text);
        assert_eq!(a.header("www-authenticate"), challenge);
        let v = a.json();
        assert_eq!((v["code"].as_i64(), v["success"].as_bool()), (Some(1002), Some(false)), "{v}");
        assert!(v.get("data").is_none());
    };
    let invalid = "Bearer error=\"invalid_token\"";

    refused(&app.send(app.http.get(app.url(path))).await, StatusCode::UNAUTHORIZED, invalid);
    refused(&app.get(path, "01d8f080-10e1-4424-b297-0385da2bf482").await, StatusCode::UNAUTHORIZED, invalid);

    let first = app.token("demo", "demo-secret", None).await;
    assert_eq!(app.get(path, &first).await.status, StatusCode::OK);
    // As a query parameter too.
    let q = app.send(app.http.get(app.url(&format!("{path}?access_token={first}")))).await;
    assert_eq!(q.json()["code"], 0);

    // A new token voids the previous one.
    let second = app.token("demo", "demo-secret", None).await;
    refused(&app.get(path, &first).await, StatusCode::UNAUTHORIZED, invalid);
    assert_eq!(app.get(path, &second).await.status, StatusCode::OK);

    // Expiry after 7200 s, measured on the injected clock.
    app.clock.advance(chrono::Duration::seconds(7199));
    assert_eq!(app.get(path, &second).await.status, StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(1));
    refused(&app.get(path, &second).await, StatusCode::UNAUTHORIZED, invalid);

    // read-only tokens read but do not write; write-only tokens do not read.
    let reader = app.token("demo-reader", "reader-secret", Some("read")).await;
    assert_eq!(app.get(path, &reader).await.status, StatusCode::OK);
    let put = app
        .send(app.http.put(app.url("/employeeInfo/resetQueues")).bearer_auth(&reader).form(&[
            ("agentId", "1001"),
            ("queues", "8000"),
            ("defaultQueue", "8000"),
        ]))
        .await;
    refused(&put, StatusCode::FORBIDDEN, "Bearer error=\"insufficient_scope\"");
    let writer = app.token("demo", "demo-secret", Some("write")).await;
    refused(&app.get(path, &writer).await, StatusCode::FORBIDDEN, "Bearer error=\"insufficient_scope\"");

    // Rotating a client's secret voids the token it had.
    let live = app.token("demo-reader", "reader-secret", None).await;
    assert_eq!(app.get(path, &live).await.status, StatusCode::OK);
    let rotated = serde_json::json!({"client_secret": "new-reader-secret", "scopes": ["read"]});
    app.admin(reqwest::Method::PUT, "/yunhu/v1/tenants/777777/api-clients/demo-reader", Some(rotated)).await;
    refused(&app.get(path, &live).await, StatusCode::UNAUTHORIZED, invalid);
    assert_eq!(app.get(path, &app.token("demo-reader", "new-reader-secret", None).await).await.status, StatusCode::OK);
}

#[tokio::test]
async fn staff_pages_honour_every_filter_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let t = app.token("demo", "demo-secret", None).await;
        let all = app.get("/employeeInfo/pageSearch", &t).await.json();
        assert_eq!(
            (all["code"].as_i64(), all["message"].as_str(), all["success"].as_bool()),
            (Some(0), Some("成功"), Some(true))
        );
        assert_eq!(all["data"]["total"], 3);
        assert_eq!(names(&all), ["张三", "李四", "管理员"]);
        let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["data", "code", "message", "success"]);

        let zhang = &all["data"]["pageData"][0];
        let expect = json!({
            "userCode": "7777771001", "nameCn": "张三", "agentId": "100011001", "corpId": "777777",
            "tenantId": A_TENANT, "phoneTakeAlong": false, "isCreateUsers": true, "email": "zhangsan@demo.cn",
            "workPhone": "13800138000", "priority": 0, "enabled": true, "roleKey": "ROLE_CC_AGENT",
            "roleTitle": "座席", "defaultQueue": "100018000", "grpStreamNumber": "7777770100", "grpName": "班组1",
            "enableVccbar": 1, "emailPwd": "", "imUserFlag": 0, "userName": "7777771001",
        });
        for (k, v) in expect.as_object().unwrap() {
            assert_eq!(&zhang[k], v, "field {k}");
        }
        assert_eq!(zhang["streamNumber"].as_str().unwrap().len(), 32);
        // Created at the test clock's 02:00 UTC, shown in Shanghai time.
        for k in ["createdTime", "lastUpdateTime"] {
            assert!(zhang[k].as_str().unwrap().starts_with("2026112110000"), "{k}: {}", zhang[k]);
        }
        let groups = zhang["agtGrpId"].as_str().unwrap();
        assert!(groups.starts_with('{') && groups.ends_with('}') && groups.split(',').count() == 2, "{groups}");

        let cases: [(&str, &[&str]); 14] = [
            ("userCode=1002", &["李四"]),
            ("userCode=7777771002", &["李四"]),
            ("nameCn=%E5%BC%A0", &["张三"]),
            ("agentId=1001", &["张三"]),
            ("agentId=100011002", &["李四"]),
            ("roleKey=ROLE_CC_MONITOR", &["李四"]),
            ("roleKey=ROLE_CC_ADMIN", &["管理员"]),
            ("workPhone=13900139000", &["李四"]),
            ("enabled=false", &["管理员"]),
            ("enabled=true", &["张三", "李四"]),
            ("agtGrpStream=7777770100", &["张三", "李四"]),
            ("agtGrpStream=7777770999", &[]),
            ("pageSize=1&currentPage=2", &["李四"]),
            ("currentPage=&pageSize=&userCode=&agentId=", &["张三", "李四", "管理员"]),
        ];
        for (query, want) in cases {
            let page = app.get(&format!("/employeeInfo/pageSearch?{query}"), &t).await.json();
            assert_eq!(names(&page), want, "{query}");
        }
        let paged = app.get("/employeeInfo/pageSearch?pageSize=1&currentPage=2", &t).await.json();
        assert_eq!(paged["data"]["total"], 3);
        // pageSize is capped, not refused.
        let big = app.get("/employeeInfo/pageSearch?pageSize=100000", &t).await.json();
        assert_eq!(names(&big).len(), 3);
        app.running.stop().await;
    }
}

#[tokio::test]
async fn bad_parameters_get_clear_envelopes_not_500s() {
    let app = sqlite_app().await;
    let t = app.token("demo", "demo-secret", None).await;
    let cases = [
        ("/employeeInfo/pageSearch?currentPage=abc", StatusCode::BAD_REQUEST, 1001, "currentPage"),
        ("/employeeInfo/pageSearch?currentPage=0", StatusCode::BAD_REQUEST, 1001, "currentPage"),
        ("/employeeInfo/pageSearch?pageSize=-1", StatusCode::BAD_REQUEST, 1001, "pageSize"),
        ("/employeeInfo/pageSearch?enabled=maybe", StatusCode::BAD_REQUEST, 1001, "enabled"),
        ("/employeeInfo/pageSearch?roleKey=ROLE_KING", StatusCode::BAD_REQUEST, 1001, "roleKey"),
        ("/skills/loadQueueInfo", StatusCode::BAD_REQUEST, 1001, "agentId"),
        ("/skills/loadQueueInfo?agentId=4242", StatusCode::OK, 10101, "4242"),
    ];
    for (path, status, code, mentions) in cases {
        let a = app.get(path, &t).await;
        assert_eq!(a.status, status, "{path}: {}", a.text);
        let v = a.json();
        assert_eq!((v["code"].as_i64(), v["success"].as_bool()), (Some(code), Some(false)), "{path}");
        assert!(v["message"].as_str().unwrap().contains(mentions), "{path}: {v}");
    }
    let put = |body: Vec<(&'static str, &'static str)>| {
        app.http.put(app.url("/employeeInfo/resetQueues")).bearer_auth(&t).form(&body)
    };
    let cases = [
        (vec![("queues", "8000"), ("defaultQueue", "8000")], 1001, "agentId"),
        (vec![("agentId", "1001"), ("defaultQueue", "8000")], 1001, "queues"),
        (vec![("agentId", "1001"), ("queues", "8000")], 1001, "defaultQueue"),
        (vec![("agentId", "1001"), ("queues", "8000,7777"), ("defaultQueue", "8000")], 10101, "7777"),
        (vec![("agentId", "1001"), ("queues", "8000"), ("defaultQueue", "8829")], 10101, "defaultQueue"),
        (vec![("agentId", "9999"), ("queues", "8000"), ("defaultQueue", "8000")], 10101, "9999"),
    ];
    for (body, code, mentions) in cases {
        let v = app.send(put(body.clone())).await.json();
        assert_eq!(v["code"].as_i64(), Some(code), "{body:?}: {v}");
        assert!(v["message"].as_str().unwrap().contains(mentions), "{body:?}: {v}");
    }
    let junk = reset_queues_raw(&app, &t, "application/json", "{\"agentId\": ").await;
    assert_eq!((junk.status, junk.json()["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(1001)));
}

#[tokio::test]
async fn parameters_arrive_by_query_form_json_and_xml_and_answers_go_out_as_json_or_xml() {
    let app = sqlite_app().await;
    let t = app.token("demo", "demo-secret", None).await;
    let queues_of = |v: &Value| -> Vec<String> {
        v["data"]["inTastList"].as_array().unwrap().iter().map(|q| q["queueCode"].as_str().unwrap().into()).collect()
    };
    let load = || app.get("/skills/loadQueueInfo?agentId=100011002", &t);
    assert_eq!(queues_of(&load().await.json()), ["100018000"]);

    // The seed's GET with a form body.
    let form_get = app
        .send(
            app.http
                .get(app.url("/employeeInfo/pageSearch"))
                .bearer_auth(&t)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(
                    "userCode=1002&nameCn=&agentId=&roleKey=&workPhone=&enabled=&agtGrpStream=&currentPage=&pageSize=",
                ),
        )
        .await;
    assert_eq!(names(&form_get.json()), ["李四"]);

    let json_put = app
        .send(app.http.put(app.url("/employeeInfo/resetQueues")).bearer_auth(&t).json(&json!({
            "agentId": "100011002", "queues": "100018000,100018829", "defaultQueue": "100018829"
        })))
        .await;
    assert_eq!(json_put.json(), json!({"code": 0, "message": "成功", "success": true}));
    let mut after = queues_of(&load().await.json());
    after.sort();
    assert_eq!(after, ["100018000"]);
    let out = load().await.json()["data"]["outTastList"].clone();
    assert_eq!(out[0]["queueCode"], "100018829");
    let staff = app.get("/employeeInfo/pageSearch?agentId=1002", &t).await.json();
    assert_eq!(staff["data"]["pageData"][0]["defaultQueue"], "100018829");

    let xml_put = app
        .send(
            app.http
                .put(app.url("/employeeInfo/resetQueues"))
                .bearer_auth(&t)
                .header("Content-Type", "application/xml;charset=utf-8")
                .header("Accept", "application/xml")
                .body("<data><agentId>1002</agentId><queues>8000</queues><defaultQueue>8000</defaultQueue></data>"),
        )
        .await;
    assert_eq!(xml_put.status, StatusCode::OK);
    assert!(xml_put.header("content-type").starts_with("application/xml"));
    assert!(
        xml_put.text.ends_with("<Result><code>0</code><message>成功</message><success>true</success></Result>"),
        "{}",
        xml_put.text
    );
    assert_eq!(queues_of(&load().await.json()), ["100018000"]);
    assert!(load().await.json()["data"]["outTastList"].as_array().unwrap().is_empty());

    let doctype = reset_queues_raw(
        &app,
        &t,
        "application/xml",
        r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d><agentId>&x;</agentId></d>"#,
    )
    .await;
    assert_eq!(doctype.status, StatusCode::BAD_REQUEST);
    assert_eq!(doctype.json()["code"], 1001);
    assert!(doctype.json()["message"].as_str().unwrap().contains("DOCTYPE"));
    let entity = reset_queues_raw(
        &app,
        &t,
        "application/xml",
        "<d><agentId>&x;</agentId><queues>8000</queues><defaultQueue>8000</defaultQueue></d>",
    )
    .await;
    assert_eq!((entity.status, entity.json()["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(1001)));

    // XML answers: root <Result>, lists as wrapper elements of items.
    let xml = app
        .send(
            app.http
                .get(app.url("/employeeInfo/pageSearch?userCode=1001"))
                .bearer_auth(&t)
                .header("Accept", "application/xml;charset=utf-8"),
        )
        .await;
    assert!(xml.text.contains("<Result><data><pageData><pageData><streamNumber>"), "{}", xml.text);
    assert!(xml.text.contains("<nameCn>张三</nameCn>"));
    assert!(xml.text.contains("</pageData></pageData><total>1</total></data><code>0</code><message>成功</message><success>true</success></Result>"));
    let err = app
        .send(app.http.get(app.url("/skills/loadQueueInfo")).bearer_auth(&t).header("Accept", "application/xml"))
        .await;
    assert!(err.text.contains("<Result><code>1001</code><message>"), "{}", err.text);
}

#[tokio::test]
async fn option_lists_and_queue_info_carry_the_seed_fields() {
    let app = sqlite_app().await;
    let t = app.token("demo", "demo-secret", None).await;
    let info = app.get("/skills/loadQueueInfo?agentId=1001", &t).await.json();
    let inbound = &info["data"]["inTastList"][0];
    let script_id = app.get("/openWords/getJsonOption", &t).await.json()["data"][0]["value"].clone();
    assert_eq!(
        *inbound,
        json!({
            "attrType1": "dataObjId", "dataObjId": "OBJ_777777_1001", "attrType2": "openWordsStream",
            "openWordsStream": script_id, "tipTimeout": 30, "queueCode": "100018000", "callerId": "53541815",
            "tenantId": A_TENANT, "name": "默认组"
        })
    );
    let out = &info["data"]["outTastList"][0];
    for (k, v) in [
        ("dataObjId", json!("OBJ_777777_1001")),
        ("dataObjName", json!("呼入工单")),
        ("name", json!("artificial_name")),
        ("projectName", json!("建行电催项目")),
        ("queueCode", json!("100018829")),
        ("corpId", json!("777777")),
        ("outProjectId", json!("PRO_777777_JH001")),
        ("callType", json!(1)),
        ("callerId", json!("53541815")),
        ("telDataObjId", Value::Null),
    ] {
        assert_eq!(out[k], v, "{k}");
    }
    assert!(out["queueId"].as_i64().is_some());

    let words = app.get("/openWords/getJsonOption", &t).await.json();
    assert_eq!(words["data"].as_array().unwrap().len(), 1);
    assert_eq!(words["data"][0]["label"], "开场白");
    assert_eq!(script_id.as_str().unwrap().len(), 32);
    assert_eq!(
        app.get("/dataObject/search", &t).await.json()["data"],
        json!([{"value": "OBJ_777777_1001", "label": "呼入工单"}])
    );
    let tel = app.get("/accessTelNum/getJsonOption", &t).await.json();
    assert_eq!(tel["data"][0]["label"], "53541815");
    assert!(tel["data"][0]["value"].as_str().unwrap().parse::<i64>().is_ok());
}

#[tokio::test]
async fn tenant_b_sees_nothing_of_tenant_a() {
    for url in backends().await {
        let app = start(&url).await;
        let a = app.token("demo", "demo-secret", None).await;
        let b = app.token("other", "other-secret", None).await;
        let staff = app.get("/employeeInfo/pageSearch?pageSize=100", &b).await.json();
        assert_eq!(names(&staff), ["王五"]);
        assert_eq!(staff["data"]["pageData"][0]["corpId"], "888888");
        for q in ["userCode=7777771001", "agentId=100011001", "agtGrpStream=7777770100", "nameCn=%E5%BC%A0"] {
            assert!(names(&app.get(&format!("/employeeInfo/pageSearch?{q}"), &b).await.json()).is_empty(), "{q}");
        }
        let words = app.get("/openWords/getJsonOption", &b).await.json();
        assert_eq!(
            words["data"].as_array().unwrap().iter().map(|w| w["label"].clone()).collect::<Vec<_>>(),
            [json!("其他开场白")]
        );
        assert_eq!(
            app.get("/dataObject/search", &b).await.json()["data"],
            json!([{"value": "OBJ_888888_2001", "label": "投诉工单"}])
        );
        let tel = app.get("/accessTelNum/getJsonOption", &b).await.json();
        assert_eq!(
            tel["data"].as_array().unwrap().iter().map(|w| w["label"].clone()).collect::<Vec<_>>(),
            [json!("88880000")]
        );
        // B's extension 1001 is its own; A's long id is not B's.
        let own = app.get("/skills/loadQueueInfo?agentId=1001", &b).await.json();
        assert_eq!(own["data"]["inTastList"][0]["name"], "其他组");
        assert_eq!(app.get("/skills/loadQueueInfo?agentId=100011002", &b).await.json()["code"], 10101);
        // B cannot move A's agent, nor into A's queue.
        let put = |who: &str, agent: &'static str, queue: &'static str| {
            app.http.put(app.url("/employeeInfo/resetQueues")).bearer_auth(who).form(&[
                ("agentId", agent),
                ("queues", queue),
                ("defaultQueue", queue),
            ])
        };
        assert_eq!(app.send(put(&b, "100011002", "100029000")).await.json()["code"], 10101);
        assert_eq!(app.send(put(&b, "1001", "100018000")).await.json()["code"], 10101);
        assert_eq!(app.send(put(&b, "1001", "8000")).await.json()["code"], 10101);
        // A still has what it had.
        let zhang = app.get("/skills/loadQueueInfo?agentId=1001", &a).await.json();
        assert_eq!(zhang["data"]["inTastList"][0]["name"], "默认组");
        app.running.stop().await;
    }
}
