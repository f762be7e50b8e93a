//! The open95 outbound endpoints over real HTTP (seed 002 §6.3.1 projects, §6.3.3 manual outbound
//! tasks and their members, §6.3.4 per-number execution details), against the example
//! provisioning file, on SQLite and PostgreSQL.

mod common;

use common::open95::{Client, bad_param, ok, refused};
use common::{Answer, Call, TestApp, backends, replay, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use yunhu_cc::outbound::{AttemptOutcome, NumberState};
use yunhu_core::Clock;
use yunhu_store::TenantId;

const A: TenantId = TenantId(10001);

impl Client<'_> {
    /// Creates a manual task over multipart; returns the insert answer's data.
    async fn task(&self, task_id: &str, numbers: &str) -> Value {
        let a = self.multipart("/artificialOutTask/insert", &task_fields(task_id, numbers)).await;
        ok(&a)["data"].clone()
    }

    async fn task_detail(&self, id: &str) -> Value {
        ok(&self.get("/artificialOutTask/findById", &[("id", id)]).await)["data"].clone()
    }

    async fn status(&self, id: &str) -> i64 {
        self.task_detail(id).await["status"].as_i64().unwrap()
    }

    /// PUT {"id": id} to a life-cycle endpoint (`changeState` takes `instanceId`).
    async fn op(&self, op: &str, id: &str) -> Answer {
        let key = if op == "changeState" { "instanceId" } else { "id" };
        self.json(Method::PUT, &format!("/artificialOutTask/{op}"), json!({ key: id })).await
    }
}

/// The seed's insert example, with our project and the given numbers.
fn task_fields<'a>(task_id: &'a str, numbers: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("outProjectId", "PRO_777777_JH001"),
        ("taskId", task_id),
        ("name", "artificial_name"),
        ("callerId", "53541815"),
        ("createType", "input"),
        ("importFile", ""),
        ("remoteFileName", ""),
        ("mobileAndDes", numbers),
        ("timeFrom", "09:00"),
        ("timeTo", "18:00"),
        ("dataObjId", ""),
        ("callType", "1"),
        ("ratio", "2"),
        ("idleTime", "40000"),
        ("wordsKey", ""),
        ("remark", "remark"),
    ]
}

fn page(v: &Value) -> (&Vec<Value>, i64) {
    (v["data"]["pageData"].as_array().unwrap(), v["data"]["total"].as_i64().unwrap())
}

fn strings<'v>(items: &'v [Value], key: &str) -> Vec<&'v str> {
    items.iter().map(|i| i[key].as_str().unwrap_or("<not a string>")).collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn now_ms(app: &TestApp) -> i64 {
    app.clock.now().timestamp_millis()
}

#[tokio::test]
async fn projects_are_created_listed_found_updated_and_deleted_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let b = Client::new(&app, "other", "other-secret").await;

        // The seed's request: JSON with a numeric remark.
        let insert = a
            .json(
                Method::POST,
                "/outProject/insert",
                json!({"projectId": "WS2018", "projectName": "wangsheng", "remark": 123456}),
            )
            .await;
        let v = ok(&insert);
        assert!(v.get("data").is_none(), "{v}");

        // The provisioned project and the new one, newest first, in the seed's fields.
        let listed = ok(&a.get("/outProject/pageSearch", &[]).await);
        let (items, total) = page(&listed);
        assert_eq!(total, 2);
        assert_eq!(strings(items, "projectId"), ["PRO_777777_WS2018", "PRO_777777_JH001"]);
        assert_eq!(keys(&items[0]), ["corpId", "projectId", "projectName", "remark", "createTime"]);
        assert_eq!(items[0]["corpId"], "777777");
        assert_eq!(items[0]["remark"], "123456");
        // 02:00 UTC is 10:00 in Shanghai.
        assert!(items[0]["createTime"].as_str().unwrap().starts_with("2026112110"), "{}", items[0]);
        assert_eq!(items[1]["projectName"], "建行电催项目");

        // Filters: name substring, short id, long id; paging.
        let by_name = ok(&a.get("/outProject/pageSearch", &[("projectName", "wang")]).await);
        assert_eq!(strings(page(&by_name).0, "projectId"), ["PRO_777777_WS2018"]);
        let by_id = ok(&a.get("/outProject/pageSearch", &[("projectId", "JH001")]).await);
        assert_eq!(strings(page(&by_id).0, "projectId"), ["PRO_777777_JH001"]);
        let second = ok(&a.get("/outProject/pageSearch", &[("currentPage", "2"), ("pageSize", "1")]).await);
        assert_eq!((strings(page(&second).0, "projectId"), page(&second).1), (vec!["PRO_777777_JH001"], 2));

        let found = ok(&a.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await);
        assert_eq!(found["data"]["projectName"], "wangsheng");

        // The other tenant sees none of it, by list or by id, and cannot change it.
        assert_eq!(page(&ok(&b.get("/outProject/pageSearch", &[]).await)).1, 0);
        assert!(
            refused(&b.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await).contains("PRO_777777_WS2018")
        );
        refused(&b.get("/outProject/findById", &[("id", "WS2018")]).await);
        let hijack = json!({"projectId": "PRO_777777_WS2018", "projectName": "mine"});
        refused(&b.json(Method::PUT, "/outProject/update", hijack).await);
        refused(&b.call(Method::DELETE, "/outProject/delete", &[("ids", "PRO_777777_WS2018")]).await);
        // ... but may use the same code for its own project.
        ok(&b.json(Method::POST, "/outProject/insert", json!({"projectId": "WS2018", "projectName": "b's"})).await);
        assert_eq!(
            ok(&b.get("/outProject/findById", &[("id", "PRO_888888_WS2018")]).await)["data"]["projectName"],
            "b's"
        );

        // Update: the name changes, a remark left out is cleared.
        let upd = json!({"projectId": "PRO_777777_WS2018", "projectName": "wangsheng-project-update"});
        ok(&a.json(Method::PUT, "/outProject/update", upd).await);
        let found = ok(&a.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await);
        assert_eq!(
            (found["data"]["projectName"].as_str(), found["data"]["remark"].as_str()),
            (Some("wangsheng-project-update"), Some(""))
        );
        let a_mine = ok(&a.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await);
        assert_ne!(a_mine["data"]["projectName"], "mine");

        // A duplicate id is a conflict; bad ids and missing fields are parameter errors.
        let dup =
            a.json(Method::POST, "/outProject/insert", json!({"projectId": "WS2018", "projectName": "again"})).await;
        assert!(refused(&dup).contains("WS2018"));
        for bad in ["wangsheng-project-id", "abc12", "abcdefghijklm", "项目项目项目"] {
            let a2 = a.json(Method::POST, "/outProject/insert", json!({"projectId": bad, "projectName": "x"})).await;
            assert!(refused(&a2).contains("6-12"), "{bad}");
        }
        assert!(
            bad_param(&a.json(Method::POST, "/outProject/insert", json!({"projectName": "x"})).await)
                .contains("projectId")
        );
        assert!(
            bad_param(&a.json(Method::POST, "/outProject/insert", json!({"projectId": "ABCDEF"})).await)
                .contains("projectName")
        );
        bad_param(&a.get("/outProject/findById", &[]).await);
        bad_param(&a.get("/outProject/pageSearch", &[("currentPage", "x")]).await);
        bad_param(&a.call(Method::DELETE, "/outProject/delete", &[]).await);

        // Deleting: JH001 is used by skill group 8829, and one bad id deletes nothing.
        let used = refused(&a.call(Method::DELETE, "/outProject/delete", &[("ids", "PRO_777777_JH001")]).await);
        assert!(used.contains("8829"), "{used}");
        refused(&a.call(Method::DELETE, "/outProject/delete", &[("ids", "PRO_777777_WS2018,PRO_777777_NOPE01")]).await);
        ok(&a.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await);
        ok(&a.call(Method::DELETE, "/outProject/delete", &[("ids", "PRO_777777_WS2018")]).await);
        refused(&a.get("/outProject/findById", &[("id", "PRO_777777_WS2018")]).await);
        assert_eq!(page(&ok(&a.get("/outProject/pageSearch", &[]).await)).1, 1);
        refused(&a.call(Method::DELETE, "/outProject/delete", &[("ids", "PRO_777777_WS2018")]).await);
        // B's project of the same code is untouched; the code is free again in A.
        ok(&b.get("/outProject/findById", &[("id", "PRO_888888_WS2018")]).await);
        ok(&a.json(Method::POST, "/outProject/insert", json!({"projectId": "WS2018", "projectName": "again"})).await);

        // XML in, XML out.
        let xml = app
            .send(
                app.http
                    .get(app.url("/outProject/findById?id=PRO_777777_JH001"))
                    .bearer_auth(&a.token)
                    .header("Accept", "application/xml"),
            )
            .await;
        assert!(
            xml.text.contains("<Result><data><corpId>777777</corpId><projectId>PRO_777777_JH001</projectId>"),
            "{}",
            xml.text
        );
        let put = app
            .send(
                app.http
                    .put(app.url("/outProject/update"))
                    .bearer_auth(&a.token)
                    .header("Content-Type", "application/xml;charset=utf-8")
                    .body("<data><projectId>PRO_777777_WS2018</projectId><projectName>x-m-l</projectName></data>"),
            )
            .await;
        ok(&put);
        assert_eq!(ok(&a.get("/outProject/findById", &[("id", "WS2018")]).await)["data"]["projectName"], "x-m-l");
    }
}

#[tokio::test]
async fn a_task_is_created_listed_updated_worked_and_deleted_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;

        let made = a.task("artificialtaskId", "18219694903:123;18219694904:客户乙;18219694903:dup").await;
        assert_eq!(keys(&made), ["groupDn", "groupId", "outboundInstanceId"]);
        let id = made["outboundInstanceId"].as_str().unwrap().to_string();
        let group_dn = made["groupDn"].as_str().unwrap().to_string();
        assert!(group_dn.starts_with("10001") && group_dn.len() > 5, "{group_dn}");
        assert!(made["groupId"].as_str().unwrap().parse::<i64>().is_ok(), "{made}");

        // The listing in the seed's fields and order.
        let listed = ok(&a.get("/artificialOutTask/pageSearch", &[("name", "artificial")]).await);
        let (items, total) = page(&listed);
        assert_eq!(total, 1);
        let t = &items[0];
        assert_eq!(
            keys(t),
            [
                "id",
                "tenantId",
                "userId",
                "groupId",
                "groupDn",
                "name",
                "status",
                "callType",
                "callNum",
                "contactNum",
                "touchNum",
                "ratio",
                "idleTime",
                "createTime",
                "startTime",
                "endTime",
                "taskId",
                "outProjectId",
                "outProjectName",
                "timeFrom",
                "timeTo"
            ]
        );
        assert_eq!(t["id"].to_string(), id);
        assert_eq!(t["groupId"].to_string(), made["groupId"].as_str().unwrap());
        assert_eq!((t["tenantId"].as_i64(), t["groupDn"].as_str()), (Some(10001), Some(group_dn.as_str())));
        assert_eq!((t["status"].as_i64(), t["callType"].as_i64(), t["ratio"].as_str()), (Some(2), Some(1), Some("2")));
        // The duplicate number was kept once.
        assert_eq!(
            (t["callNum"].as_i64(), t["contactNum"].as_i64(), t["touchNum"].as_i64()),
            (Some(0), Some(2), Some(0))
        );
        assert_eq!(
            (t["idleTime"].as_i64(), t["startTime"].clone(), t["endTime"].clone()),
            (Some(40000), Value::Null, Value::Null)
        );
        assert_eq!(t["taskId"], "000001777777artificialtaskId");
        assert_eq!(
            (t["outProjectId"].as_str(), t["outProjectName"].as_str()),
            (Some("PRO_777777_JH001"), Some("建行电催项目"))
        );
        assert_eq!((t["timeFrom"].as_str(), t["timeTo"].as_str()), (Some("09:00"), Some("18:00")));

        // findById and read show the detail fields.
        let d = a.task_detail(&id).await;
        assert_eq!(
            keys(&d),
            [
                "id",
                "corpId",
                "tenantId",
                "taskId",
                "outProjectId",
                "userId",
                "name",
                "status",
                "callType",
                "callNum",
                "contactNum",
                "touchNum",
                "ratio",
                "idleTime",
                "createTime",
                "startTime",
                "endTime",
                "dataObjId",
                "wordsKey",
                "remark",
                "projectName",
                "dataObjName",
                "callerId",
                "timeFrom",
                "timeTo",
                "createType"
            ]
        );
        assert_eq!(
            (d["callerId"].as_str(), d["createType"].as_str(), d["remark"].as_str()),
            (Some("53541815"), Some("input"), Some("remark"))
        );
        assert_eq!((d["dataObjId"].clone(), d["wordsKey"].clone()), (Value::Null, Value::Null));
        let read = ok(&a.get("/artificialOutTask/read", &[("instanceId", &id)]).await);
        assert_eq!(read["data"], d);

        // Listing filters.
        let none = [("status", "3")];
        assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &none).await)).1, 0);
        for hit in
            [("status", "2"), ("callType", "1"), ("taskId", "artificialtaskId"), ("outProjectId", "PRO_777777_JH001")]
        {
            assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &[hit]).await)).1, 1, "{hit:?}");
        }
        for miss in [("callType", "0"), ("taskId", "other"), ("outProjectId", "PRO_888888_JH001"), ("name", "zzz")] {
            assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &[miss]).await)).1, 0, "{miss:?}");
        }

        // Update as the seed shows it: JSON, callType included, wordsKey null, dataObjId "".
        let script =
            ok(&a.get("/openWords/getJsonOption", &[]).await)["data"][0]["value"].as_str().unwrap().to_string();
        let upd = json!({
            "id": id, "name": "artificial-update", "callerId": "53541815", "ratio": 3, "idleTime": 16000,
            "timeFrom": "09:00", "timeTo": "18:00", "dataObjId": "OBJ_777777_1001", "wordsKey": script,
            "remark": "remark2", "callType": 0
        });
        ok(&a.json(Method::PUT, "/artificialOutTask/update", upd).await);
        let d = a.task_detail(&id).await;
        assert_eq!(
            (d["name"].as_str(), d["ratio"].as_str(), d["idleTime"].as_i64(), d["callType"].as_i64()),
            (Some("artificial-update"), Some("3"), Some(16000), Some(0))
        );
        assert_eq!((d["dataObjId"].as_str(), d["dataObjName"].as_str()), (Some("OBJ_777777_1001"), Some("呼入工单")));
        assert_eq!((d["wordsKey"].as_str(), d["remark"].as_str()), (Some(script.as_str()), Some("remark2")));
        // The task's skill group follows the task.
        let short_dn = &group_dn[5..];
        let queue = app.running.services.db().list_rows(A, &yunhu_store::directory::QUEUES).await.unwrap();
        let q = queue.iter().find(|q| q["code"].text() == short_dn).unwrap();
        assert_eq!(
            (q["name"].text(), q["direction"].text(), q["project"].text()),
            ("artificial-update", "out", "JH001")
        );
        assert_eq!((q["call_type"].int(), q["data_object"].text(), q["script"].text()), (0, "1001", "开场白"));
        assert_eq!(q["caller_id"].text(), "53541815");

        // Append (the seed's multipart, with its repeated id: the last one counts).
        let appended = a
            .multipart(
                "/artificialOutTask/append",
                &[
                    ("id", "999999"),
                    ("id", &id),
                    ("createType", "input"),
                    ("importFile", ""),
                    ("mobileAndDes", "18219383937:123;18219694904:again"),
                    ("remoteFileName", ""),
                ],
            )
            .await;
        ok(&appended);
        assert_eq!(a.task_detail(&id).await["contactNum"], 3);

        // Start, pause, start, stop, start, terminate; times follow.
        ok(&a.op("startCall", &id).await);
        let d = a.task_detail(&id).await;
        assert_eq!(d["status"], 3);
        let started = d["startTime"].as_str().unwrap().to_string();
        assert!(started.starts_with("20261121"), "{started}");
        ok(&a.op("pauseCall", &id).await);
        assert_eq!(a.status(&id).await, 4);
        ok(&a.op("startCall", &id).await);
        ok(&a.op("stopCall", &id).await);
        let d = a.task_detail(&id).await;
        assert_eq!((d["status"].as_i64(), d["startTime"].as_str()), (Some(5), Some(started.as_str())));
        assert!(d["endTime"].is_string(), "{d}");
        ok(&a.op("startCall", &id).await);
        assert_eq!(a.task_detail(&id).await["endTime"], Value::Null);

        // The dialer works the task: one answered, one busy (retry waits), one not reached.
        let svc = &app.running.services;
        let task_no: i64 = id.parse().unwrap();
        let claimed = svc.claim_numbers(A, task_no, 2, now_ms(&app) + 1000).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let call = replay(&app, &Call::new(A, "18219694903")).await;
        svc.record_attempt(A, task_no, claimed[0].id, AttemptOutcome::Answered, &call, now_ms(&app)).await.unwrap();
        svc.record_attempt(A, task_no, claimed[1].id, AttemptOutcome::Busy, "", now_ms(&app)).await.unwrap();
        let d = a.task_detail(&id).await;
        assert_eq!(
            (d["callNum"].as_i64(), d["contactNum"].as_i64(), d["touchNum"].as_i64()),
            (Some(2), Some(3), Some(1))
        );

        // Recall: refused numbers are only the busy one, still waiting on its retry, so none.
        let none = a.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id, "type": 1})).await;
        assert!(refused(&none).contains("没有可恢复的号码"));
        ok(&a.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id, "type": 3})).await);
        let numbers = svc.task_numbers(A, task_no, 1, 10).await.unwrap().1;
        assert_eq!(numbers.iter().filter(|n| n.number.state == NumberState::Pending).count(), 3);

        // Terminate, then only delete is possible.
        ok(&a.op("changeState", &id).await);
        assert_eq!(a.status(&id).await, 6);
        ok(&a.call(Method::DELETE, "/artificialOutTask/delete", &[("instanceId", &id)]).await);
        assert!(refused(&a.get("/artificialOutTask/findById", &[("id", &id)]).await).contains(&id));
        assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &[]).await)).1, 0);
        // Its skill group went with it; the code is free for a new task.
        refused(&a.get("/queueUser/pageSearch", &[("queueCode", &group_dn)]).await);
        let again = a.task("artificialtaskId", "18219694903").await;
        assert_ne!(again["outboundInstanceId"].as_str(), Some(id.as_str()));
    }
}

/// Builds a task in each status; returns (status, instance id) pairs, deleted last.
async fn tasks_in_every_status(a: &Client<'_>) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let steps: [(&str, &[&str]); 6] = [
        ("S2", &[]),
        ("S3", &["startCall"]),
        ("S4", &["startCall", "pauseCall"]),
        ("S5", &["startCall", "stopCall"]),
        ("S6", &["changeState"]),
        ("S0", &["changeState"]),
    ];
    for (code, ops) in steps {
        let id = a.task(code, "13800000001").await["outboundInstanceId"].as_str().unwrap().to_string();
        for op in ops {
            ok(&a.op(op, &id).await);
        }
        if code == "S0" {
            ok(&a.call(Method::DELETE, "/artificialOutTask/delete", &[("instanceId", &id)]).await);
        }
        out.push((code[1..].parse().unwrap(), id));
    }
    out
}

#[tokio::test]
async fn every_illegal_transition_is_refused_with_the_state_and_changes_nothing() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let tasks = tasks_in_every_status(&a).await;
        let label = |s: i64| match s {
            0 => "已删除",
            2 => "规划中",
            3 => "执行中",
            4 => "暂停中",
            5 => "已结束",
            _ => "已终结",
        };
        // (op, statuses it is allowed from), the documented table.
        let table: [(&str, &[i64]); 8] = [
            ("startCall", &[2, 4, 5]),
            ("pauseCall", &[3]),
            ("stopCall", &[3, 4]),
            ("changeState", &[2, 3, 4, 5]),
            ("append", &[2, 3, 4, 5]),
            ("update", &[2, 3, 4, 5]),
            ("recall", &[2, 3, 4, 5]),
            ("delete", &[2, 4, 5, 6]),
        ];
        for (op, allowed) in table {
            for (status, id) in &tasks {
                if allowed.contains(status) {
                    continue;
                }
                let before = app.running.services.db().task(A, id.parse().unwrap()).await.unwrap().unwrap();
                let a2 = match op {
                    "append" => {
                        a.multipart(
                            "/artificialOutTask/append",
                            &[("id", id), ("createType", "input"), ("mobileAndDes", "13900000009")],
                        )
                        .await
                    }
                    "update" => {
                        let body = json!({"id": id, "name": "n", "callerId": "53541815", "ratio": 1, "idleTime": 8000, "timeFrom": "08:00", "timeTo": "20:00"});
                        a.json(Method::PUT, "/artificialOutTask/update", body).await
                    }
                    "recall" => a.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id, "type": 3})).await,
                    "delete" => a.call(Method::DELETE, "/artificialOutTask/delete", &[("instanceId", id)]).await,
                    other => a.op(other, id).await,
                };
                let msg = refused(&a2);
                assert!(msg.contains(label(*status)), "{op} from {status}: {msg}");
                assert!(msg.contains("不能"), "{op} from {status}: {msg}");
                let after = app.running.services.db().task(A, id.parse().unwrap()).await.unwrap().unwrap();
                assert_eq!(before, after, "{op} from {status} changed the task");
            }
        }
        // The allowed ones do what the table says (the rest of the table is covered above and
        // by the life-cycle test); a planned task with numbers starts.
        let (_, planned) = &tasks[0];
        ok(&a.op("startCall", planned).await);
        assert_eq!(a.status(planned).await, 3);
        // An ended task that still has a number starts again; once the dialer finishes its last
        // number it ends by itself, and then there is nothing to start.
        let (_, ended) = &tasks[3];
        let svc = &app.running.services;
        let t: i64 = ended.parse().unwrap();
        ok(&a.op("startCall", ended).await);
        let n = svc.claim_numbers(A, t, 5, now_ms(&app) + 1000).await.unwrap();
        svc.record_attempt(A, t, n[0].id, AttemptOutcome::Failed, "", now_ms(&app)).await.unwrap();
        assert_eq!(a.status(ended).await, 5, "the last number done ends the task");
        let msg = refused(&a.op("startCall", ended).await);
        assert!(msg.contains("没有待呼叫的号码"), "{msg}");
    }
}

#[tokio::test]
async fn number_file_sources_are_read_and_a_missing_file_changes_nothing() {
    // The files themselves are tested in tests/files.rs; here: the sources are taken, a file
    // that is not there is named, and nothing is made or added meanwhile.
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let a = Client::new(&app, "demo", "demo-secret").await;
    let mut fields = task_fields("FILE1", "");
    fields.retain(|(k, _)| *k != "createType" && *k != "mobileAndDes" && *k != "remoteFileName");
    fields.push(("createType", "remoteFile"));
    fields.push(("remoteFileName", "ivr_example.xls"));
    let msg = refused(&a.multipart("/artificialOutTask/insert", &fields).await);
    assert!(msg.contains("ivr_example.xls") && msg.contains("number file"), "{msg}");
    // createType=file without the file in importFile is a parameter error naming it.
    let mut fields = task_fields("FILE1", "");
    fields.retain(|(k, _)| *k != "createType" && *k != "mobileAndDes");
    fields.push(("createType", "file"));
    assert!(bad_param(&a.multipart("/artificialOutTask/insert", &fields).await).contains("importFile"));
    let id = a.task("FILE2", "13800000001").await["outboundInstanceId"].as_str().unwrap().to_string();
    let append = a.multipart("/artificialOutTask/append", &[("id", &id), ("createType", "file")]).await;
    assert!(bad_param(&append).contains("importFile"));
    let append = a
        .multipart(
            "/artificialOutTask/append",
            &[("id", &id), ("createType", "remoteFile"), ("remoteFileName", "x.csv")],
        )
        .await;
    assert!(refused(&append).contains("x.csv"));
    // Nothing was created or added.
    assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &[]).await)).1, 1);
    assert_eq!(a.task_detail(&id).await["contactNum"], 1);
    // An unknown source is a parameter error.
    let mut fields = task_fields("FILE3", "13800000001");
    fields.retain(|(k, _)| *k != "createType");
    fields.push(("createType", "ftp"));
    assert!(bad_param(&a.multipart("/artificialOutTask/insert", &fields).await).contains("createType"));
}

#[tokio::test]
async fn bad_task_parameters_get_clear_answers_and_change_nothing() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let a = Client::new(&app, "demo", "demo-secret").await;
    let id = a.task("GOOD", "13800000001").await["outboundInstanceId"].as_str().unwrap().to_string();
    let with = |key: &'static str, value: &'static str| {
        let mut f = task_fields("T2", "13800000002");
        f.retain(|(k, _)| *k != key);
        if !value.is_empty() {
            f.push((key, value));
        }
        f
    };
    // (field, value, 1001 parameter error?, text the message must hold); "" = left out.
    let cases: &[(&str, &str, bool, &str)] = &[
        ("outProjectId", "", true, "outProjectId"),
        ("taskId", "", true, "taskId"),
        ("name", "", true, "name"),
        ("timeFrom", "", true, "timeFrom"),
        ("callType", "", true, "callType"),
        ("ratio", "x", true, "ratio"),
        ("idleTime", "", true, "idleTime"),
        ("createType", "", true, "createType"),
        ("mobileAndDes", "", true, "mobileAndDes"),
        ("mobileAndDes", "12ab:x", true, "12ab"),
        ("mobileAndDes", ";;", true, "mobileAndDes"),
        ("taskId", "bad-id", false, "taskId"),
        ("taskId", "GOOD", false, "GOOD"),
        ("taskId", "A234567890123456X", false, "1-16"),
        ("outProjectId", "PRO_777777_NOPE01", false, "NOPE01"),
        ("outProjectId", "PRO_888888_JH001", false, "PRO_888888_JH001"),
        ("callerId", "11112222", false, "11112222"),
        ("dataObjId", "OBJ_777777_9999", false, "9999"),
        ("dataObjId", "OBJ_888888_2001", false, "OBJ_888888_2001"),
        ("wordsKey", "no-such-script", false, "no-such-script"),
        ("timeFrom", "9:00", false, "HH:MM"),
        ("timeTo", "08:00", false, "before"),
        ("callType", "2", false, "callType"),
        ("ratio", "6", false, "ratio"),
        ("idleTime", "9000", false, "idleTime"),
    ];
    for (key, value, param, needle) in cases {
        let a2 = a.multipart("/artificialOutTask/insert", &with(key, value)).await;
        let msg = if *param { bad_param(&a2) } else { refused(&a2) };
        assert!(msg.contains(needle), "{key}={value:?}: {msg}");
    }
    assert_eq!(page(&ok(&a.get("/artificialOutTask/pageSearch", &[]).await)).1, 1);

    // Ids: missing, not a number, unknown; list filters out of range; recall type.
    bad_param(&a.get("/artificialOutTask/findById", &[]).await);
    bad_param(&a.get("/artificialOutTask/findById", &[("id", "abc")]).await);
    assert!(refused(&a.get("/artificialOutTask/findById", &[("id", "424242")]).await).contains("424242"));
    bad_param(&a.get("/artificialOutTask/read", &[("id", &id)]).await);
    bad_param(&a.get("/artificialOutTask/pageSearch", &[("status", "1")]).await);
    bad_param(&a.get("/artificialOutTask/pageSearch", &[("callType", "7")]).await);
    bad_param(&a.get("/artificialOutTask/pageSearch", &[("pageSize", "0")]).await);
    for t in ["0", "4", "x"] {
        bad_param(&a.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id, "type": t})).await);
    }
    bad_param(&a.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id})).await);
    bad_param(&a.op("changeState", "").await);
    bad_param(&a.json(Method::PUT, "/artificialOutTask/changeState", json!({"id": id})).await);
    refused(&a.op("startCall", "424242").await);
    // Update: callerId is required by the table; a bad ratio changes nothing.
    let upd = json!({"id": id, "name": "n", "ratio": 1, "idleTime": 8000, "timeFrom": "09:00", "timeTo": "18:00"});
    assert!(bad_param(&a.json(Method::PUT, "/artificialOutTask/update", upd).await).contains("callerId"));
    let upd = json!({"id": id, "name": "n", "callerId": "53541815", "ratio": 9, "idleTime": 8000, "timeFrom": "09:00", "timeTo": "18:00"});
    refused(&a.json(Method::PUT, "/artificialOutTask/update", upd).await);
    assert_eq!(a.task_detail(&id).await["name"], "artificial_name");
    // A body that is not JSON is a parameter error, not a fault.
    let raw = app
        .send(
            app.http
                .put(app.url("/artificialOutTask/startCall"))
                .bearer_auth(&a.token)
                .header("Content-Type", "application/json")
                .body("{\"id\":"),
        )
        .await;
    bad_param(&raw);
    // Writing needs the write scope.
    let reader = Client::new(&app, "demo-reader", "reader-secret").await;
    let denied = reader.op("startCall", &id).await;
    assert_eq!((denied.status, denied.json()["code"].as_i64()), (StatusCode::FORBIDDEN, Some(1002)));
    assert_eq!(a.status(&id).await, 2);
}

#[tokio::test]
async fn task_members_are_listed_added_and_removed_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let b = Client::new(&app, "other", "other-secret").await;
        let made = a.task("MEM1", "13800000001").await;
        let (dn, gid) = (made["groupDn"].as_str().unwrap().to_string(), made["groupId"].as_str().unwrap().to_string());
        let id: i64 = made["outboundInstanceId"].as_str().unwrap().parse().unwrap();

        // Staff with an extension who are not members: 张三 and 李四 (the admin has no extension).
        let can = ok(&a.get("/queueUser/pageSearchCanAddUsers", &[("queueCode", &dn)]).await);
        let (items, total) = page(&can);
        assert_eq!((strings(items, "nameCn"), total), (vec!["张三", "李四"], 2));
        let z = &items[0];
        assert_eq!(
            (z["agentId"].as_str(), z["userCode"].as_str(), z["corpId"].as_str()),
            (Some("100011001"), Some("7777771001"), Some("777777"))
        );
        assert_eq!(
            (z["roleKey"].as_str(), z["grpName"].as_str(), z["enabled"].as_bool()),
            (Some("ROLE_CC_AGENT"), Some("班组1"), Some(true))
        );
        assert!(z.get("createTime").is_some() && z.get("createdTime").is_none());
        for (filter, want) in [
            (("agentId", "1002"), vec!["李四"]),
            (("nameCn", "张"), vec!["张三"]),
            (("agtGrpStream", "7777770100"), vec!["张三", "李四"]),
            (("agtGrpStream", "7777779999"), vec![]),
        ] {
            let got = ok(&a.get("/queueUser/pageSearchCanAddUsers", &[("queueCode", dn.as_str()), filter]).await);
            assert_eq!(strings(page(&got).0, "nameCn"), want, "{filter:?}");
        }

        // Adding: the group id must match, every extension must exist (then nothing is added).
        let add = |group: &str, ids: Value| json!({"queueCode": dn, "groupId": group, "selectedIds": ids});
        assert!(
            refused(&a.json(Method::POST, "/queueUser/insert", add("1", json!(["1001"]))).await).contains("groupId")
        );
        refused(&a.json(Method::POST, "/queueUser/insert", add(&gid, json!(["1001", "1999"]))).await);
        assert_eq!(page(&ok(&a.get("/queueUser/pageSearch", &[("queueCode", &dn)]).await)).1, 0);
        bad_param(&a.json(Method::POST, "/queueUser/insert", json!({"queueCode": dn, "groupId": gid})).await);
        let added = ok(&a.json(Method::POST, "/queueUser/insert", add(&gid, json!(["100011001"]))).await);
        assert_eq!(added["data"], json!({}));

        let members = ok(&a.get("/queueUser/pageSearch", &[("queueCode", &dn)]).await);
        let (items, total) = page(&members);
        assert_eq!(total, 1);
        let m = &items[0];
        assert_eq!(keys(m), ["id", "agent", "queueCode", "groupId", "priority", "userName", "queueName", "grpName"]);
        assert_eq!(
            (m["agent"].as_str(), m["queueCode"].as_str(), m["groupId"].to_string()),
            (Some("100011001"), Some(dn.as_str()), gid.clone())
        );
        assert_eq!(
            (m["userName"].as_str(), m["queueName"].as_str(), m["grpName"].as_str()),
            (Some("张三"), Some("artificial_name"), Some("班组1"))
        );
        let member_id = m["id"].as_i64().unwrap().to_string();
        // Filters; and 张三 is no longer addable.
        assert_eq!(
            page(&ok(&a.get("/queueUser/pageSearch", &[("queueCode", dn.as_str()), ("userName", "李")]).await)).1,
            0
        );
        assert_eq!(
            page(&ok(&a.get("/queueUser/pageSearch", &[("queueCode", dn.as_str()), ("agent", "1001")]).await)).1,
            1
        );
        let can = ok(&a.get("/queueUser/pageSearchCanAddUsers", &[("queueCode", &dn)]).await);
        assert_eq!(strings(page(&can).0, "nameCn"), ["李四"]);
        // The agent now has the task's group, as the skill-group listing shows at once.
        let groups = ok(&a.get("/skills/loadQueueInfo", &[("agentId", "1001")]).await);
        let out: Vec<&str> = strings(groups["data"]["outTastList"].as_array().unwrap(), "queueCode");
        assert!(out.contains(&dn.as_str()), "{out:?}");
        // The dialer sees the member.
        let pool = app.running.services.task_members(A, id).await.unwrap();
        assert_eq!(pool.iter().map(|m| m.agent_id.as_str()).collect::<Vec<_>>(), ["1001"]);

        // The other tenant can neither see this group nor remove its member.
        refused(&b.get("/queueUser/pageSearch", &[("queueCode", &dn)]).await);
        refused(&b.get("/queueUser/pageSearchCanAddUsers", &[("queueCode", &dn)]).await);
        refused(&b.call(Method::DELETE, "/queueUser/delete", &[("ids", &member_id)]).await);
        // Inbound groups and unknown groups are refused.
        assert!(refused(&a.get("/queueUser/pageSearch", &[("queueCode", "100018000")]).await).contains("8000"));
        refused(&a.get("/queueUser/pageSearch", &[("queueCode", "1000177")]).await);
        bad_param(&a.get("/queueUser/pageSearch", &[]).await);
        bad_param(&a.call(Method::DELETE, "/queueUser/delete", &[("ids", "x")]).await);
        // An unknown id beside a good one removes nothing.
        refused(&a.call(Method::DELETE, "/queueUser/delete", &[("ids", &format!("{member_id},987654"))]).await);
        assert_eq!(page(&ok(&a.get("/queueUser/pageSearch", &[("queueCode", &dn)]).await)).1, 1);
        ok(&a.call(Method::DELETE, "/queueUser/delete", &[("ids", &member_id)]).await);
        assert_eq!(page(&ok(&a.get("/queueUser/pageSearch", &[("queueCode", &dn)]).await)).1, 0);
        refused(&a.call(Method::DELETE, "/queueUser/delete", &[("ids", &member_id)]).await);
        let groups = ok(&a.get("/skills/loadQueueInfo", &[("agentId", "1001")]).await);
        assert!(!groups.to_string().contains(&dn));
        // Provisioned memberships get ids too: 张三 is in the provisioned outbound group 8829.
        let provisioned = ok(&a.get("/queueUser/pageSearch", &[("queueCode", "100018829")]).await);
        assert_eq!(strings(page(&provisioned).0, "userName"), ["张三"]);
    }
}

#[tokio::test]
async fn execution_details_show_every_number_with_its_state_and_call_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let b = Client::new(&app, "other", "other-secret").await;
        let made = a.task("DET1", "18219694903:123;18219694904:乙;18219694905").await;
        let id = made["outboundInstanceId"].as_str().unwrap().to_string();
        let t: i64 = id.parse().unwrap();
        ok(&a.op("startCall", &id).await);
        let svc = &app.running.services;
        let claimed = svc.claim_numbers(A, t, 2, now_ms(&app) + 1000).await.unwrap();
        let call = replay(&app, &Call::new(A, "18219694903")).await;
        svc.record_attempt(A, t, claimed[0].id, AttemptOutcome::Answered, &call, now_ms(&app)).await.unwrap();
        svc.record_attempt(A, t, claimed[1].id, AttemptOutcome::NoAnswer, "", now_ms(&app)).await.unwrap();

        let listed = ok(&a.get("/outboundContacts/pageSearch", &[("outboundId", &id)]).await);
        let (items, total) = page(&listed);
        assert_eq!(total, 3);
        assert_eq!(
            keys(&items[0]),
            [
                "id",
                "outboundId",
                "mobile",
                "agentId",
                "groupDn",
                "callState",
                "callId",
                "callTime",
                "mobileDes",
                "tenantId",
                "robotId",
                "customerTag",
                "cStartTime",
                "cAnswerTime",
                "cEndTime",
                "cHangupCause",
                "aStartTime",
                "aAnswerTime",
                "aEndTime",
                "queue",
                "queueTimes",
                "queueStartTime",
                "queueEndTime",
                "ivrStartTime",
                "ivrEndTime",
                "talksec",
                "billsec",
                "ringsec",
                "arrangesec",
                "fileName",
                "taskId",
                "taskName",
                "outProjectId",
                "callerId",
                "cityCode",
                "talkCount",
                "sceneCount",
                "isSendMsg",
                "customerGrade",
                "outCallType",
                "cutomerTag"
            ]
        );
        assert_eq!(strings(items, "mobile"), ["18219694903", "18219694904", "18219694905"]);
        assert_eq!(strings(items, "mobileDes"), ["123", "乙", ""]);
        // Answered (1), no answer with a retry waiting (5), not reached yet (9).
        let states: Vec<i64> = items.iter().map(|i| i["callState"].as_i64().unwrap()).collect();
        assert_eq!(states, [1, 5, 9]);
        let answered = &items[0];
        assert_eq!(
            (answered["outboundId"].to_string(), answered["callId"].as_str()),
            (id.clone(), Some(call.as_str()))
        );
        assert_eq!(
            (answered["agentId"].as_str(), answered["groupDn"].as_str()),
            (Some("100011001"), made["groupDn"].as_str())
        );
        assert_eq!(
            (answered["talksec"].as_i64(), answered["cHangupCause"].as_str()),
            (Some(10), Some("NORMAL_CLEARING"))
        );
        assert!(answered["fileName"].as_str().unwrap().ends_with(".wav"), "{answered}");
        for k in ["callTime", "cStartTime", "cAnswerTime", "cEndTime", "aStartTime", "aAnswerTime", "aEndTime"] {
            let v = answered[k].as_str().unwrap_or_else(|| panic!("{k}: {answered}"));
            assert!(v.len() == 14 && v.starts_with("20261121"), "{k}={v}");
        }
        assert_eq!(
            (answered["taskId"].as_str(), answered["taskName"].as_str()),
            (Some("000001777777DET1"), Some("artificial_name"))
        );
        assert_eq!(
            (answered["outProjectId"].as_str(), answered["callerId"].as_str(), answered["tenantId"].as_i64()),
            (Some("PRO_777777_JH001"), Some("53541815"), Some(10001))
        );
        let waiting = &items[1];
        assert_eq!(
            (waiting["callId"].clone(), waiting["agentId"].clone(), waiting["cStartTime"].clone()),
            (Value::Null, Value::Null, Value::Null)
        );
        assert!(waiting["callTime"].is_string());
        assert_eq!(items[2]["callTime"], Value::Null);

        // Paging.
        let p2 = ok(&a
            .get(
                "/outboundContacts/pageSearch",
                &[("outboundId", id.as_str()), ("currentPage", "2"), ("pageSize", "2")],
            )
            .await);
        assert_eq!((strings(page(&p2).0, "mobile"), page(&p2).1), (vec!["18219694905"], 3));
        // Parameters and isolation.
        bad_param(&a.get("/outboundContacts/pageSearch", &[]).await);
        bad_param(&a.get("/outboundContacts/pageSearch", &[("outboundId", "x")]).await);
        refused(&a.get("/outboundContacts/pageSearch", &[("outboundId", "424242")]).await);
        assert!(refused(&b.get("/outboundContacts/pageSearch", &[("outboundId", &id)]).await).contains(&id));
    }
}

#[tokio::test]
async fn another_tenant_cannot_see_or_change_a_task_by_its_id_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let b = Client::new(&app, "other", "other-secret").await;
        let id = a.task("ISO1", "13800000001").await["outboundInstanceId"].as_str().unwrap().to_string();
        let before = app.running.services.db().task(A, id.parse().unwrap()).await.unwrap().unwrap();

        assert_eq!(page(&ok(&b.get("/artificialOutTask/pageSearch", &[]).await)).1, 0);
        refused(&b.get("/artificialOutTask/findById", &[("id", &id)]).await);
        refused(&b.get("/artificialOutTask/read", &[("instanceId", &id)]).await);
        for op in ["startCall", "pauseCall", "stopCall", "changeState"] {
            assert!(refused(&b.op(op, &id).await).contains(&id), "{op}");
        }
        let upd = json!({"id": id, "name": "b", "callerId": "88880000", "ratio": 1, "idleTime": 8000, "timeFrom": "09:00", "timeTo": "18:00"});
        refused(&b.json(Method::PUT, "/artificialOutTask/update", upd).await);
        refused(
            &b.multipart("/artificialOutTask/append", &[("id", &id), ("createType", "input"), ("mobileAndDes", "139")])
                .await,
        );
        refused(&b.json(Method::PUT, "/artificialOutTask/recall", json!({"id": id, "type": 3})).await);
        refused(&b.call(Method::DELETE, "/artificialOutTask/delete", &[("instanceId", &id)]).await);
        // B's own task with the same short code lives beside A's.
        let mut fields = task_fields("ISO1", "13800000001");
        fields.retain(|(k, _)| !["outProjectId", "callerId"].contains(k));
        ok(&b.json(Method::POST, "/outProject/insert", json!({"projectId": "BPROJ1", "projectName": "b"})).await);
        fields.push(("outProjectId", "PRO_888888_BPROJ1"));
        let b_task = ok(&b.multipart("/artificialOutTask/insert", &fields).await);
        assert_ne!(b_task["data"]["outboundInstanceId"].as_str(), Some(id.as_str()));
        // A's project is not B's to use.
        let mut fields = task_fields("ISO2", "13800000001");
        fields.retain(|(k, _)| *k != "callerId");
        refused(&b.multipart("/artificialOutTask/insert", &fields).await);

        let after = app.running.services.db().task(A, id.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(before, after);
        // The service layer is tenant-scoped too.
        let svc = &app.running.services;
        let b_id = TenantId(10002);
        assert!(svc.claim_numbers(b_id, id.parse().unwrap(), 5, now_ms(&app)).await.is_err());
        assert!(svc.task_numbers(b_id, id.parse().unwrap(), 1, 10).await.is_err());
    }
}

#[tokio::test]
async fn numbers_a_stopped_dialer_had_claimed_are_due_again() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let a = Client::new(&app, "demo", "demo-secret").await;
    let id: i64 = a.task("CLAIM1", "13800000001").await["outboundInstanceId"].as_str().unwrap().parse().unwrap();
    ok(&a.op("startCall", &id.to_string()).await);
    let svc = &app.running.services;
    let claimed = svc.claim_numbers(A, id, 5, now_ms(&app)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let state = |app: &TestApp| {
        let svc = app.running.services.clone();
        async move { svc.task_numbers(A, id, 1, 10).await.unwrap().1[0].number.state }
    };
    assert_eq!(state(&app).await, NumberState::Dialing);
    assert_eq!(svc.db().release_claimed_numbers(now_ms(&app)).await.unwrap(), 1);
    assert_eq!(state(&app).await, NumberState::Pending);
    assert_eq!(svc.claim_numbers(A, id, 5, now_ms(&app)).await.unwrap().len(), 1, "dialable again");
}
