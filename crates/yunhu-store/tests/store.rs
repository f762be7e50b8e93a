//! Store behaviour, on SQLite and on PostgreSQL alike.

use yunhu_store::directory::{STAFF, StaffFilter, TEAMS};
use yunhu_store::testing::scratch_urls;
use yunhu_store::{Backend, Change, Db, Row, StoreError, TenantId, Val};

async fn each_backend_with_url() -> Vec<(String, Db)> {
    let mut dbs = Vec::new();
    for url in scratch_urls().await.expect("scratch databases (is PostgreSQL up?)") {
        let db = Db::open(&url).await.expect("open");
        dbs.push((url, db));
    }
    assert_eq!(dbs.iter().map(|(_, d)| d.backend()).collect::<Vec<_>>(), [Backend::Sqlite, Backend::Postgres]);
    dbs
}

async fn each_backend() -> Vec<Db> {
    each_backend_with_url().await.into_iter().map(|(_, db)| db).collect()
}

fn staff(user_code: &str, ext: &str) -> Row {
    let mut row = Row::new();
    for col in STAFF.cols {
        row.insert(col.name, if col.ty == yunhu_store::ColType::Int { Val::Int(0) } else { Val::from("") });
    }
    row.insert("user_code", user_code.into());
    row.insert("agent_id", ext.into());
    row.insert("name", format!("staff {user_code}").into());
    row
}

#[tokio::test]
async fn tenant_ids_start_high_and_migrations_run_once() {
    for (url, db) in each_backend_with_url().await {
        let (a, ch) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        assert_eq!((a, ch), (TenantId(10001), Change::Created));
        let (b, _) = db.put_tenant("888888", "B", "Asia/Shanghai", "b.yunhu", 1).await.unwrap();
        assert_eq!(b, TenantId(10002));
        assert_eq!(db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 2).await.unwrap().1, Change::Unchanged);
        assert_eq!(db.put_tenant("777777", "A2", "Asia/Shanghai", "a.yunhu", 3).await.unwrap().1, Change::Updated);
        let err = db.put_tenant("999999", "C", "Asia/Shanghai", "a.yunhu", 4).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Opening again re-runs no migration and keeps the data.
        let before = db.dump().await.unwrap();
        db.close().await;
        let again = Db::open(&url).await.unwrap();
        assert_eq!(again.dump().await.unwrap(), before);
    }
}

#[tokio::test]
async fn rows_are_written_only_when_they_change_and_stay_in_their_tenant() {
    for db in each_backend().await {
        let (a, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let (b, _) = db.put_tenant("888888", "B", "Asia/Shanghai", "b.yunhu", 1).await.unwrap();
        let team = Row::from([("code", Val::from("0100")), ("name", Val::from("班组1"))]);
        assert_eq!(db.put_row(a, &TEAMS, &team, 10).await.unwrap(), Change::Created);
        assert_eq!(db.put_row(a, &TEAMS, &team, 20).await.unwrap(), Change::Unchanged);
        let dump = db.dump().await.unwrap();
        assert!(dump.contains(r#"teams:Some(10001)|Some("0100")|Some("班组1")|Some(0)|Some(10)|Some(10)"#), "{dump}");
        assert!(db.list_rows(b, &TEAMS).await.unwrap().is_empty());
        assert!(db.get_row(b, &TEAMS, &["0100".into()]).await.unwrap().is_none());

        let renamed = Row::from([("code", Val::from("0100")), ("name", Val::from("一组"))]);
        assert_eq!(db.put_row(a, &TEAMS, &renamed, 30).await.unwrap(), Change::Updated);
        assert_eq!(db.list_rows(a, &TEAMS).await.unwrap(), vec![renamed.clone()]);

        // Deleting hides the row but keeps it; putting it again revives it.
        assert!(db.delete_row(a, &TEAMS, &["0100".into()], 40).await.unwrap());
        assert!(!db.delete_row(a, &TEAMS, &["0100".into()], 41).await.unwrap());
        assert!(db.list_rows(a, &TEAMS).await.unwrap().is_empty());
        assert_eq!(db.get_row(a, &TEAMS, &["0100".into()]).await.unwrap(), Some((renamed.clone(), true)));
        assert_eq!(db.put_row(a, &TEAMS, &renamed, 50).await.unwrap(), Change::Updated);
        assert_eq!(db.list_rows(a, &TEAMS).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn extensions_are_unique_per_tenant_only() {
    for db in each_backend().await {
        let (a, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let (b, _) = db.put_tenant("888888", "B", "Asia/Shanghai", "b.yunhu", 1).await.unwrap();
        db.put_row(a, &STAFF, &staff("1001", "1001"), 1).await.unwrap();
        db.put_row(b, &STAFF, &staff("1001", "1001"), 1).await.unwrap();
        let err = db.put_row(a, &STAFF, &staff("1002", "1001"), 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // A deleted staff member's extension can be given to someone else.
        db.delete_row(a, &STAFF, &["1001".into()], 2).await.unwrap();
        assert_eq!(db.put_row(a, &STAFF, &staff("1002", "1001"), 3).await.unwrap(), Change::Created);

        let filter = StaffFilter { agent_id: Some("1001".into()), ..Default::default() };
        let (rows, total) = db.list_staff(a, &filter, 0, 10).await.unwrap();
        assert_eq!((rows.len(), total, rows[0]["user_code"].text()), (1, 1, "1002"));
        let (rows, total) = db.list_staff(b, &StaffFilter::default(), 0, 10).await.unwrap();
        assert_eq!((rows.len(), total, rows[0]["name"].text()), (1, 1, "staff 1001"));
    }
}

#[tokio::test]
async fn staff_queue_sets_are_replaced_whole() {
    for db in each_backend().await {
        let (a, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let (b, _) = db.put_tenant("888888", "B", "Asia/Shanghai", "b.yunhu", 1).await.unwrap();
        let codes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(db.set_staff_queues(a, "1001", &codes(&["8001", "8000", "8000"])).await.unwrap());
        assert!(!db.set_staff_queues(a, "1001", &codes(&["8000", "8001"])).await.unwrap());
        assert_eq!(db.staff_queue_codes(a, "1001").await.unwrap(), codes(&["8000", "8001"]));
        assert!(db.staff_queue_codes(b, "1001").await.unwrap().is_empty());
        assert!(db.set_staff_queues(a, "1001", &codes(&["8002"])).await.unwrap());
        assert_eq!(db.staff_queue_codes(a, "1001").await.unwrap(), codes(&["8002"]));
    }
}

#[tokio::test]
async fn a_batch_of_events_gets_one_id_each_in_the_order_given() {
    for db in each_backend().await {
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let lone = db.write_batch(vec![(t, "c1".into(), "created", 1, "{}".into())], Vec::new(), true).await.unwrap();
        let batch: Vec<_> =
            (0..200).map(|i| (t, format!("c{}", i % 3), "dtmf", 10 + i, format!("{{\"n\":{i}}}"))).collect();
        let ids = db.write_batch(batch.clone(), Vec::new(), true).await.unwrap();
        assert_eq!(ids.len(), batch.len());
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > lone[0], "{lone:?} {ids:?}");
        // Each id names the event given at its place.
        for call in ["c0", "c1", "c2"] {
            for (id, _, at, data) in db.call_events(t, call).await.unwrap() {
                if id == lone[0] {
                    continue;
                }
                let k = ids.iter().position(|&x| x == id).expect("id returned");
                assert_eq!((batch[k].1.as_str(), batch[k].3, batch[k].4.as_str()), (call, at, data.as_str()));
            }
        }
    }
}

#[tokio::test]
async fn batches_committed_without_a_disk_flush_are_read_everywhere_and_kept_after_reopening() {
    use yunhu_core::call::CallRecord;
    for (url, db) in each_backend_with_url().await {
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let events = |n: i64| (0..n).map(|i| (t, "c1".to_string(), "dtmf", i, format!("{{\"n\":{i}}}"))).collect();
        let quick = db.write_batch(events(3), Vec::new(), false).await.unwrap();
        let record = CallRecord { customer: "13800000001".into(), talk_secs: 7, ..Default::default() };
        let durable = db.write_batch(events(1), vec![(t, "c1".into(), record.clone())], true).await.unwrap();
        assert!(quick.len() == 3 && durable[0] > quick[2], "{quick:?} {durable:?}");
        // The pool's own connections see what the event log wrote, whichever way it went.
        let counted: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE call_id = 'c1'").fetch_one(db.pool()).await.unwrap();
        assert_eq!(counted, 4);
        db.close().await;
        assert!(db.write_batch(events(1), Vec::new(), true).await.is_err(), "a closed store takes no writes");

        let db = Db::open(&url).await.unwrap();
        let ids: Vec<i64> = db.call_events(t, "c1").await.unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(ids, [quick.clone(), durable].concat());
        assert_eq!(db.events_for_record(t, "c1").await.unwrap(), db.call_events(t, "c1").await.unwrap());
        let stored = db.call_record(t, "c1").await.unwrap().expect("the record is kept");
        assert_eq!((stored.record.customer.as_str(), stored.record.talk_secs), ("13800000001", 7));
        db.close().await;
    }
}

#[tokio::test]
async fn a_counted_page_is_the_page_and_the_count_read_apart() {
    use yunhu_core::call::{CallRecord, LegTimes};
    use yunhu_store::calls::CallRecordFilter;
    for db in each_backend().await {
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        for i in 0..25_i64 {
            let record = CallRecord {
                direction: "outbound".into(),
                staff: format!("s{}", i % 3),
                customer: format!("1380000{i:04}"),
                agent: LegTimes { start: Some(1_000 * (i % 7)), ..Default::default() },
                ..Default::default()
            };
            db.put_call_record(t, &format!("call-{i}"), &record).await.unwrap();
        }
        let filters = [
            CallRecordFilter::default(),
            CallRecordFilter { staff: Some("s1".into()), offset: 3, ..Default::default() },
            CallRecordFilter { from_ms: Some(2_000), to_ms: Some(5_000), ascending: true, ..Default::default() },
            CallRecordFilter { fetched_by: Some(("app".into(), false)), offset: 10, ..Default::default() },
            // A page past the end, and a filter nothing matches.
            CallRecordFilter { offset: 40, ..Default::default() },
            CallRecordFilter { staff: Some("nobody".into()), ..Default::default() },
            CallRecordFilter { after_id: Some(5), ..Default::default() },
        ];
        for f in &filters {
            for limit in [1, 4, 100] {
                let (page, total) = db.list_call_records_counted(t, f, limit).await.unwrap();
                assert_eq!(page, db.list_call_records(t, f, limit).await.unwrap(), "{f:?}");
                assert_eq!(total, db.count_call_records(t, f).await.unwrap(), "{f:?}");
            }
        }
    }
}

#[tokio::test]
async fn contains_filters_take_wildcards_and_the_escape_character_literally() {
    use yunhu_store::outbound::ProjectFilter;
    let names = ["plain", "50% off", "a_b", "a!b", r"a\b", "100%_!"];
    for db in each_backend().await {
        let (a, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        for (i, name) in names.iter().enumerate() {
            let mut row = staff(&format!("10{i:02}"), &format!("10{i:02}"));
            row.insert("name", (*name).into());
            db.put_row(a, &STAFF, &row, 1).await.unwrap();
            db.insert_project(a, &format!("P{i}"), name, "", 1).await.unwrap();
            db.insert_number_file(a, &format!("{name}.txt"), "n.txt", 1, 1, 1).await.unwrap();
        }
        for (text, want) in [
            ("%", vec!["100%_!", "50% off"]),
            ("_", vec!["100%_!", "a_b"]),
            ("!", vec!["100%_!", "a!b"]),
            (r"\", vec![r"a\b"]),
            ("%_", vec!["100%_!"]),
            ("a", vec!["a!b", r"a\b", "a_b", "plain"]),
        ] {
            let filter = StaffFilter { name_contains: Some(text.into()), ..Default::default() };
            let (rows, total) = db.list_staff(a, &filter, 0, 100).await.unwrap();
            let mut got: Vec<&str> = rows.iter().map(|r| r["name"].text()).collect();
            got.sort();
            assert_eq!((got, total), (want.clone(), want.len() as i64), "staff nameCn={text:?} on {:?}", db.backend());

            let filter = ProjectFilter { name_contains: Some(text.into()), ..Default::default() };
            let (rows, _) = db.list_projects(a, &filter, 0, 100).await.unwrap();
            let mut got: Vec<String> = rows.into_iter().map(|p| p.name).collect();
            got.sort();
            assert_eq!(got, want, "projectName={text:?} on {:?}", db.backend());

            let files = db.number_files(a, Some(text), 100).await.unwrap();
            let mut got: Vec<String> = files.into_iter().map(|f| f.name.trim_end_matches(".txt").to_string()).collect();
            got.sort();
            assert_eq!(got, want, "fileName={text:?} on {:?}", db.backend());
        }
    }
}
