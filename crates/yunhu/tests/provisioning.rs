//! Provisioning by file, admin API and admin CLI: idempotent, never deleting call data, keeping
//! secrets out of the database in readable form.

mod common;

use common::{ADMIN_TOKEN, backends, config_for, example_file, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Arc;
use yunhu_core::SystemClock;

#[tokio::test]
async fn applying_the_example_twice_changes_nothing_on_both_databases() {
    for url in backends().await {
        let config = config_for(&url);
        let services = yunhu::open_services(&config, Arc::new(SystemClock)).await.unwrap();
        let first = yunhu::provision_file(&services, &example_file()).await.unwrap();
        assert!(first.created.contains(&"tenant 777777 staff 1001".to_string()), "{first:?}");
        assert!(first.created.contains(&"tenant 888888 staff 1001".to_string()));
        let before = services.db().dump().await.unwrap();
        let second = yunhu::provision_file(&services, &example_file()).await.unwrap();
        assert!(second.is_noop(), "{second:?}");
        assert_eq!(second.unchanged, first.created.len());
        assert_eq!(services.db().dump().await.unwrap(), before);

        // No secret is readable in a dump; SIP keeps HA1 = MD5(ext:realm:password).
        for secret in ["demo-secret", "reader-secret", "other-secret", "1001pw", "k3y", "demo-pass", "demo-auth-code"] {
            assert!(!before.contains(secret), "{secret} is readable in the database");
        }
        let ha1 = yunhu_cc::secrets::sip_ha1("1001", "777777.yunhu", "1001pw");
        assert!(before.contains(&ha1));
    }
}

#[tokio::test]
async fn changed_entries_update_and_removed_entries_stay() {
    let config = config_for(&yunhu_store::testing::scratch_sqlite_url());
    let services = yunhu::open_services(&config, Arc::new(SystemClock)).await.unwrap();
    yunhu::provision_file(&services, &example_file()).await.unwrap();
    let text = std::fs::read_to_string(example_file()).unwrap();
    // Drop staff 1002 from the document, rename 张三.
    let start = text.find("  [[tenant.staff]]\n  user_code = \"1002\"").unwrap();
    let end = start + text[start..].find("  [[tenant.staff]]\n  user_code = \"admin\"").unwrap();
    let edited = format!("{}{}", &text[..start], &text[end..]).replace("name = \"张三\"", "name = \"张三丰\"");
    let doc = yunhu_cc::provision::ProvisionDoc::from_toml(&edited).unwrap();
    let report = services.apply_provisioning(&doc).await.unwrap();
    assert_eq!(report.updated, ["tenant 777777 staff 1001"]);
    assert!(report.created.is_empty());
    assert_eq!(report.not_in_document, ["tenant 777777 staff 1002"]);
    let staff = services.list_objects("777777", yunhu_cc::objects::Kind::Staff).await.unwrap();
    let names: Vec<&str> = staff.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["张三丰", "李四", "管理员"]);
    assert!(staff.iter().all(|s| s.get("sip_ha1").is_none()));
}

#[tokio::test]
async fn bad_documents_are_refused_with_the_reason() {
    let config = config_for(&yunhu_store::testing::scratch_sqlite_url());
    let services = yunhu::open_services(&config, Arc::new(SystemClock)).await.unwrap();
    let base = "[[tenant]]\ncorp_id = \"1\"\nname = \"x\"\n[[tenant.queue]]\ncode = \"8000\"\nname = \"q\"\n";
    let cases = [
        ("[[tenant]]\ncorp_id = \"1\"\nnmae = \"x\"\n", "nmae"),
        ("[[tenant]]\ncorp_id = \"1\"\nname = \"x\"\ntime_zone = \"Mars/Base\"\n", "time_zone"),
        ("[[tenant]]\ncorp_id = \"1\"\nname = \"x\"\nsip_domain = \"A.yunhu\"\n", "sip_domain"),
        (
            &format!("{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nqueues = [\"9\"]\n") as &str,
            "queue \"9\"",
        ),
        (&format!("{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nteam = \"t\"\n"), "team \"t\""),
        (
            &format!(
                "{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nqueues = [\"8000\"]\ndefault_queue = \"7\"\n"
            ),
            "default_queue",
        ),
        (&format!("{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nrole = \"king\"\n"), "role"),
        (&format!("{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nagent_id = \"1x\"\n"), "agent_id"),
        (
            &format!(
                "{base}[[tenant.staff]]\nuser_code = \"1\"\nname = \"a\"\nagent_id = \"5\"\n[[tenant.staff]]\nuser_code = \"2\"\nname = \"b\"\nagent_id = \"5\"\n"
            ),
            "extension 5",
        ),
        (&format!("{base}[[tenant.api_client]]\nclient_id = \"c\"\nclient_secret = \"short\"\n"), "client_secret"),
        (&format!("{base}[[tenant.queue]]\ncode = \"8001\"\nname = \"q\"\nscript = \"nope\"\n"), "script"),
    ];
    for (doc, mentions) in cases {
        let err = match yunhu_cc::provision::ProvisionDoc::from_toml(doc) {
            Err(e) => e.to_string(),
            Ok(d) => services.apply_provisioning(&d).await.unwrap_err().to_string(),
        };
        assert!(err.contains(mentions), "{doc}\n=> {err}");
    }
    // Another tenant may not take a client id that is already someone's.
    let taken = "[[tenant]]\ncorp_id = \"2\"\nname = \"y\"\n[[tenant]]\ncorp_id = \"3\"\nname = \"z\"\n\
                 [[tenant.api_client]]\nclient_id = \"same\"\nclient_secret = \"12345678\"\n";
    services.apply_provisioning(&yunhu_cc::provision::ProvisionDoc::from_toml(taken).unwrap()).await.unwrap();
    let steal = "[[tenant]]\ncorp_id = \"2\"\nname = \"y\"\n[[tenant.api_client]]\nclient_id = \"same\"\nclient_secret = \"12345678\"\n";
    let err =
        services.apply_provisioning(&yunhu_cc::provision::ProvisionDoc::from_toml(steal).unwrap()).await.unwrap_err();
    assert!(matches!(err, yunhu_cc::CcError::Conflict(_)), "{err}");
}

#[tokio::test]
async fn the_admin_api_manages_the_same_objects_the_dialects_read() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let no_token = app.send(app.http.get(app.url("/yunhu/v1/tenants"))).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let wrong = app.send(app.http.get(app.url("/yunhu/v1/tenants")).bearer_auth("nope")).await;
    assert_eq!((wrong.status, wrong.json()["error"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));

    let spec: Value = app.send(app.http.get(app.url("/yunhu/v1/openapi.json"))).await.json();
    assert_eq!(spec["openapi"], "3.0.3");
    for path in ["/provision", "/tenants", "/tenants/{corp}", "/tenants/{corp}/{kind}", "/tenants/{corp}/{kind}/{key}"]
    {
        assert!(spec["paths"].get(path).is_some(), "{path} undocumented");
    }
    let documented: Vec<&str> = spec["paths"]["/tenants/{corp}/{kind}"]["parameters"][1]["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let kinds: Vec<&str> = yunhu_cc::objects::Kind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(documented.len(), kinds.len(), "every object kind is documented: {documented:?} vs {kinds:?}");
    assert!(kinds.iter().all(|k| documented.contains(k)));

    let tenants = app.admin(Method::GET, "/yunhu/v1/tenants", None).await.json();
    assert_eq!(
        tenants.as_array().unwrap().iter().map(|t| t["corp_id"].clone()).collect::<Vec<_>>(),
        [json!("777777"), json!("888888")]
    );

    let new_staff = json!({"name": "赵六", "agent_id": "1003", "sip_password": "1003pw", "queues": ["8000"]});
    let put = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/staff/1003", Some(new_staff.clone())).await;
    assert_eq!((put.status, put.json()["result"].clone()), (StatusCode::CREATED, json!("created")));
    let again = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/staff/1003", Some(new_staff)).await;
    assert_eq!((again.status, again.json()["result"].clone()), (StatusCode::OK, json!("unchanged")));

    let token = app.token("demo", "demo-secret", None).await;
    let seen = app.get("/employeeInfo/pageSearch?agentId=1003", &token).await.json();
    assert_eq!(seen["data"]["pageData"][0]["nameCn"], "赵六");
    assert_eq!(seen["data"]["pageData"][0]["defaultQueue"], "100018000");

    let bad = app
        .admin(Method::PUT, "/yunhu/v1/tenants/777777/staff/1004", Some(json!({"name": "x", "queues": ["nope"]})))
        .await;
    assert_eq!((bad.status, bad.json()["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid")));
    let clash = app
        .admin(Method::PUT, "/yunhu/v1/tenants/777777/staff/1004", Some(json!({"name": "x", "agent_id": "1001"})))
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);
    let mismatch =
        app.admin(Method::PUT, "/yunhu/v1/tenants/777777/teams/0300", Some(json!({"id": "0400", "name": "x"}))).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let unknown = app.admin(Method::GET, "/yunhu/v1/tenants/777777/robots", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.admin(Method::GET, "/yunhu/v1/tenants/123/staff", None).await.status, StatusCode::NOT_FOUND);

    let listed = app.admin(Method::GET, "/yunhu/v1/tenants/777777/staff", None).await.json();
    let zhao = listed.as_array().unwrap().iter().find(|s| s["user_code"] == "1003").unwrap().clone();
    assert_eq!(zhao["queues"], json!(["8000"]));
    assert!(zhao.get("sip_ha1").is_none());

    let del = app.admin(Method::DELETE, "/yunhu/v1/tenants/777777/staff/1003", None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.admin(Method::DELETE, "/yunhu/v1/tenants/777777/staff/1003", None).await.status,
        StatusCode::NOT_FOUND
    );
    let gone = app.get("/employeeInfo/pageSearch?agentId=1003", &token).await.json();
    assert_eq!(gone["data"]["total"], 0);
    // Kept in the database, marked deleted.
    assert!(app.running.services.db().dump().await.unwrap().contains("\"赵六\""));

    // A whole tenant by PUT, and a document by POST.
    let tenant = json!({"name": "Third", "team": [{"id": "01", "name": "一"}], "api_client": [{"client_id": "third", "client_secret": "third-secret"}]});
    let put = app.admin(Method::PUT, "/yunhu/v1/tenants/999999", Some(tenant)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert!(put.json()["created"].as_array().unwrap().contains(&json!("tenant 999999 teams 01")));
    let toml = "[[tenant]]\ncorp_id = \"999999\"\nname = \"Third\"\n[[tenant.script]]\nname = \"问候\"\n";
    let posted = app.send(app.http.post(app.url("/yunhu/v1/provision")).bearer_auth(ADMIN_TOKEN).body(toml)).await;
    assert_eq!(posted.json()["created"], json!(["tenant 999999 scripts 问候"]));
    assert!(posted.json()["not_in_document"].as_array().unwrap().contains(&json!("tenant 999999 teams 01")));
    let third = app.token("third", "third-secret", None).await;
    assert_eq!(app.get("/openWords/getJsonOption", &third).await.json()["data"][0]["label"], "问候");

    // Deleting a tenant stops its tokens.
    assert_eq!(app.admin(Method::DELETE, "/yunhu/v1/tenants/999999", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/openWords/getJsonOption", &third).await.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_cli_provisions_and_administers() {
    let dir = common::scratch_dir();
    let yunhu = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_yunhu"))
            .arg("--data-dir")
            .arg(&dir)
            .args(args)
            .env_remove("YUNHU_DATABASE_URL")
            .env_remove("YUNHU_CONFIG")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{args:?}: {}{}", text, String::from_utf8_lossy(&out.stderr));
        text
    };
    let file = example_file();
    let first: Value = serde_json::from_str(&yunhu(&["provision", file.to_str().unwrap()])).unwrap();
    assert_eq!(first["created"].as_array().unwrap().len(), 30);
    let second: Value = serde_json::from_str(&yunhu(&["provision", file.to_str().unwrap()])).unwrap();
    assert_eq!((second["created"].as_array().unwrap().len(), second["updated"].as_array().unwrap().len()), (0, 0));
    assert!(yunhu(&["admin", "tenants"]).contains("777777\t10001\tDemo Co\t777777.yunhu"));
    let third: Value =
        serde_json::from_str(&yunhu(&["admin", "put-tenant", "--json", r#"{"corp_id":"999999","name":"Third Co"}"#]))
            .unwrap();
    assert_eq!(third["created"], json!(["tenant 999999"]));
    assert!(yunhu(&["admin", "tenants"]).contains("999999\t10003\tThird Co"));
    yunhu(&["admin", "delete-tenant", "999999"]);
    assert!(!yunhu(&["admin", "tenants"]).contains("999999"));
    assert_eq!(
        yunhu(&["admin", "put", "teams", "--corp", "777777", "--json", r#"{"id":"0300","name":"三组"}"#]).trim(),
        "Created"
    );
    let teams: Value = serde_json::from_str(&yunhu(&["admin", "list", "teams", "--corp", "777777"])).unwrap();
    assert_eq!(teams.as_array().unwrap().len(), 2);
    yunhu(&["admin", "delete", "teams", "0300", "--corp", "777777"]);
    let teams: Value = serde_json::from_str(&yunhu(&["admin", "list", "teams", "--corp", "777777"])).unwrap();
    assert_eq!(teams, json!([{"code": "0100", "name": "班组1"}]));
    assert!(dir.join("yunhu.db").exists() && dir.join("master.key").exists());
}
