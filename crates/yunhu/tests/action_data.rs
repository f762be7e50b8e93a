//! The action dialect's data verbs (seed 004): `AddTaskData` adds a customer's number to an
//! outbound task (batch), `AddCBaseData` gives a staff member a customer record; with the
//! seed's errno codes (2 missing, 3 auth, 10 duplicate, 11 no such batch).

mod common;

use common::{TestApp, start};
use serde_json::Value;
use yunhu_store::TenantId;

async fn action(app: &TestApp, company: &str, auth: &str, params: &[(&str, &str)]) -> Value {
    let mut all = vec![("companyid", company), ("auth", auth)];
    all.extend_from_slice(params);
    app.send(app.http.post(app.url("/action")).form(&all)).await.json()
}

async fn demo(app: &TestApp, params: &[(&str, &str)]) -> Value {
    action(app, "8", "demo-auth-code", params).await
}

#[tokio::test]
async fn add_task_data_and_add_cbase_data_follow_the_seed() {
    for url in common::backends().await {
        let app = start(&url).await;
        let svc = &app.running.services;
        let (a, b) = (TenantId(10001), TenantId(10002));
        let token = app.token("demo", "demo-secret", None).await;
        let fields = [
            ("outProjectId", "PRO_777777_JH001"),
            ("taskId", "BATCH1"),
            ("name", "batch"),
            ("callerId", "53541815"),
            ("createType", "input"),
            ("mobileAndDes", "13700137000"),
            ("timeFrom", "09:00"),
            ("timeTo", "18:00"),
            ("callType", "1"),
            ("ratio", "1"),
            ("idleTime", "8000"),
        ];
        let made =
            app.send(app.http.post(app.url("/artificialOutTask/insert")).bearer_auth(&token).form(&fields)).await;
        let made = made.json();
        assert_eq!(made["code"], 0, "{made}");
        let task: i64 = made["data"]["outboundInstanceId"].as_str().unwrap().parse().unwrap();

        let ok = demo(
            &app,
            &[
                ("action", "AddTaskData"),
                ("batchid", "BATCH1"),
                ("phonenum", "13800138000"),
                ("name", "王先生"),
                ("comment", "老客户"),
            ],
        )
        .await;
        assert_eq!((ok["errno"].as_str(), ok["message"].as_str()), (Some("1"), Some("成功")), "{ok}");
        let again = demo(&app, &[("action", "AddTaskData"), ("batchid", "BATCH1"), ("phonenum", "13800138000")]).await;
        assert_eq!(again["errno"], "10", "duplicate: {again}");
        let none = demo(&app, &[("action", "AddTaskData"), ("batchid", "NOPE"), ("phonenum", "13800138001")]).await;
        assert_eq!(none["errno"], "11", "{none}");
        let missing = demo(&app, &[("action", "AddTaskData"), ("batchid", "BATCH1")]).await;
        assert_eq!(missing["errno"], "2");
        let bad = demo(&app, &[("action", "AddTaskData"), ("batchid", "BATCH1"), ("phonenum", "12ab")]).await;
        assert_eq!(bad["errno"], "0", "{bad}");
        // Another company's auth cannot reach tenant A's batch.
        let theirs = action(
            &app,
            "9",
            "other-auth-code",
            &[("action", "AddTaskData"), ("batchid", "BATCH1"), ("phonenum", "13800138002")],
        )
        .await;
        assert_eq!(theirs["errno"], "11", "{theirs}");
        let wrong =
            action(&app, "8", "nope", &[("action", "AddTaskData"), ("batchid", "BATCH1"), ("phonenum", "13800138002")])
                .await;
        assert_eq!(wrong["errno"], "3");
        let (_, numbers, total) = svc.task_numbers(a, task, 1, 10).await.unwrap();
        assert_eq!(total, 2);
        let added = numbers.iter().find(|n| n.number.mobile == "13800138000").expect("the added number");
        assert_eq!(added.number.mobile_des, "王先生 老客户");

        let add = |staff: &'static str, phone: &'static str| {
            let app = &app;
            async move {
                demo(
                    app,
                    &[
                        ("action", "AddCBaseData"),
                        ("staffid", staff),
                        ("phonenum", phone),
                        ("name", "李女士"),
                        ("email", "li@example.cn"),
                    ],
                )
                .await
            }
        };
        assert_eq!(add("1001", "13900139000").await["errno"], "1");
        assert_eq!(add("1001", "13900139000").await["errno"], "10", "the same staff member and number again");
        assert_eq!(add("1002", "13900139000").await["errno"], "1", "another staff member may have the number");
        assert_eq!(add("1999", "13900139000").await["errno"], "0", "no such staff member");
        let customers = svc.customers_of(a, "1001").await.unwrap();
        assert_eq!(customers.len(), 1);
        assert_eq!((customers[0].name.as_str(), customers[0].email.as_str()), ("李女士", "li@example.cn"));
        assert!(svc.customers_of(b, "1001").await.unwrap().is_empty(), "tenant B's 1001 has none");
    }
}
