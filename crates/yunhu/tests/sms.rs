//! The admin API's SMS endpoints over real HTTP: provider settings (never showing the secret),
//! templates, and the masked message listing.

mod common;

use common::start;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yunhu_store::TenantId;

const A: TenantId = TenantId(10001);

#[tokio::test]
async fn the_admin_api_configures_sms_and_lists_messages_masked() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let (url, got) = common::sms_gateway().await;

    let spec: Value = app.send(app.http.get(app.url("/yunhu/v1/openapi.json"))).await.json();
    for path in ["/tenants/{corp}/sms", "/tenants/{corp}/sms/templates/{name}", "/tenants/{corp}/sms/messages"] {
        assert!(spec["paths"].get(path).is_some(), "{path} undocumented");
    }
    let no_token = app.send(app.http.get(app.url("/yunhu/v1/tenants/777777/sms"))).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let none = app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms", None).await;
    assert_eq!((none.status, none.json()["error"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));

    let config = json!({"provider": "webhook", "secret": "gateway-secret-1", "endpoint": url, "rate_per_minute": 5});
    let put = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms", Some(config.clone())).await;
    assert_eq!((put.status, put.json()["result"].clone()), (StatusCode::CREATED, json!("created")));
    let again = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms", Some(config)).await;
    assert_eq!((again.status, again.json()["result"].clone()), (StatusCode::OK, json!("unchanged")));
    let shown = app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms", None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.text.contains("gateway-secret-1"), "{}", shown.text);
    let shown = shown.json();
    assert_eq!((shown["provider"].clone(), shown["secret_set"].clone()), (json!("webhook"), json!(true)));
    assert_eq!((shown["endpoint"].as_str(), shown["rate_per_minute"].as_i64()), (Some(url.as_str()), Some(5)));
    let bad = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms", Some(json!({"provider": "aliyun"}))).await;
    assert_eq!((bad.status, bad.json()["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid")));
    let unknown = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms", Some(json!({"provider": "smpp"}))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let elsewhere = app.admin(Method::GET, "/yunhu/v1/tenants/888888/sms", None).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);

    // Templates, one of them the default the workbench fills in.
    let greet = json!({"text": "{name}您好，{staff}稍后致电{telephone}", "is_default": true});
    let put = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms/templates/问候", Some(greet)).await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text);
    let other = json!({"name": "other", "text": "请回电"});
    let clash = app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms/templates/remind", Some(other)).await;
    assert_eq!(clash.status, StatusCode::BAD_REQUEST);
    let remind = json!({"text": "请回电"});
    app.admin(Method::PUT, "/yunhu/v1/tenants/777777/sms/templates/remind", Some(remind)).await;
    let list = app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms/templates", None).await.json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["remind", "问候"]);
    let one = app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms/templates/问候", None).await.json();
    assert_eq!(one["is_default"], true);
    let services = &app.running.services;
    let text = services.sms_text_for(A, "1001", "13800000001", "张先生").await.unwrap().unwrap();
    assert_eq!(text, "张先生您好，1001稍后致电13800000001");
    let gone = app.admin(Method::DELETE, "/yunhu/v1/tenants/777777/sms/templates/remind", None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = app.admin(Method::DELETE, "/yunhu/v1/tenants/777777/sms/templates/remind", None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Messages the workbench sends show up masked, newest first.
    services.send_sms(A, "1001", "13800000001", &text).await.unwrap();
    services.send_sms(A, "1002", "13800000002", "请回电").await.unwrap();
    let numbers: Vec<String> = got.lock().unwrap().iter().map(|t| t.split('|').next().unwrap().to_string()).collect();
    assert_eq!(numbers, ["13800000001", "13800000002"]);
    let page = app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms/messages", None).await;
    assert_eq!(page.status, StatusCode::OK);
    // (The first text carries the number the template put in it; the number itself is masked.)
    assert!(!page.text.contains("13800000002"), "{}", page.text);
    let page = page.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["telephone"], "138****0002");
    assert_eq!(page["items"][1]["telephone"], "138****0001");
    assert_eq!(
        (page["items"][1]["status"].clone(), page["items"][1]["provider_message_id"].clone()),
        (json!("sent"), json!("gw-1"))
    );
    let mine =
        app.admin(Method::GET, "/yunhu/v1/tenants/777777/sms/messages?staff=1001&status=sent&page_size=1", None).await;
    let mine = mine.json();
    assert_eq!((mine["total"].clone(), mine["items"][0]["staff"].clone()), (json!(1), json!("1001")));
    for query in ["status=lost", "page=0", "page_size=x"] {
        let bad = app.admin(Method::GET, &format!("/yunhu/v1/tenants/777777/sms/messages?{query}"), None).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
    }
}
