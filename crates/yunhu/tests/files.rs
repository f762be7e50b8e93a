//! open95 number files (seed 002 §6.3.2) and tasks made from them (§6.3.3.1 createType file and
//! remoteFile) over real HTTP, on SQLite and PostgreSQL. Every file is made here: .xlsx written
//! part by part with `zip`, .xls as BIFF8 records in a compound file, GBK text with `encoding_rs`,
//! and zip bombs from megabytes of zeros.

mod common;

use common::open95::{Client, bad_param, ok, refused};
use common::{Answer, TestApp, backends, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{Cursor, Write};

impl Client<'_> {
    async fn upload(&self, name: &str, bytes: &[u8]) -> Answer {
        self.multipart_files("/files/upload", &[], &[("fileName", name, bytes)]).await
    }

    async fn search(&self, name: Option<&str>) -> Vec<Value> {
        let params: Vec<(&str, &str)> = name.map(|n| ("fileName", n)).into_iter().collect();
        ok(&self.call(Method::GET, "/files/search", &params).await)["data"].as_array().unwrap().clone()
    }

    /// The numbers of task `id` as `(mobile, mobileDes)`, in id order.
    async fn contacts(&self, id: &str) -> Vec<(String, String)> {
        let a =
            self.call(Method::GET, "/outboundContacts/pageSearch", &[("outboundId", id), ("pageSize", "100")]).await;
        let v = ok(&a);
        let mut items: Vec<(i64, String, String)> = v["data"]["pageData"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let des = c["mobileDes"].as_str().unwrap_or_default().to_string();
                (c["id"].as_i64().unwrap(), c["mobile"].as_str().unwrap().to_string(), des)
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, m, d)| (m, d)).collect()
    }
}

/// The seed's insert example with our project, for a number source.
fn task_fields<'a>(task_id: &'a str, create_type: &'a str, remote: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("outProjectId", "PRO_777777_JH001"),
        ("taskId", task_id),
        ("name", "file_task"),
        ("callerId", "53541815"),
        ("createType", create_type),
        ("remoteFileName", remote),
        ("mobileAndDes", ""),
        ("timeFrom", "09:00"),
        ("timeTo", "18:00"),
        ("dataObjId", ""),
        ("callType", "1"),
        ("ratio", "2"),
        ("idleTime", "40000"),
        ("remark", "from a file"),
    ]
}

// ---- files made by the tests ----

/// A spreadsheet cell.
#[derive(Clone, Copy)]
enum Cell<'s> {
    Num(f64),
    Text(&'s str),
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn zip_parts(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in parts {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="号码" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

/// A minimal .xlsx: one sheet of the given rows (inline strings, numbers as numbers).
fn xlsx(rows: &[&[Cell]]) -> Vec<u8> {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            match cell {
                Cell::Num(n) => sheet.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
                Cell::Text(t) => {
                    sheet.push_str(&format!("<c r=\"{at}\" t=\"inlineStr\"><is><t>{}</t></is></c>", escape(t)))
                }
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    zip_parts(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// An .xlsx whose sheet is `zeros` bytes of zeros: a few hundred KB that inflate enormously.
fn xlsx_bomb(zeros: usize) -> Vec<u8> {
    let big = vec![0u8; zeros];
    zip_parts(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", &big),
    ])
}

fn record(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
}

/// A BIFF8 string: length, then UTF-16 (flag 1).
fn biff_string(s: &str, wide_len: bool) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut out = if wide_len { (units.len() as u16).to_le_bytes().to_vec() } else { vec![units.len() as u8] };
    out.push(1);
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out
}

fn bof(kind: u16) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&0x0600u16.to_le_bytes());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&[0; 12]);
    b
}

/// A minimal .xls (BIFF8 in a compound file): one sheet, numbers as NUMBER records, text through
/// the shared string table; `dimensions` adds a DIMENSIONS record claiming that many rows.
fn xls(rows: &[&[Cell]], dimensions: Option<u32>) -> Vec<u8> {
    let strings: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.iter())
        .filter_map(|c| if let Cell::Text(t) = c { Some(*t) } else { None })
        .collect();
    let mut sheet = Vec::new();
    record(&mut sheet, 0x0809, &bof(0x0010));
    if let Some(n) = dimensions {
        let mut d = Vec::new();
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&n.to_le_bytes());
        d.extend_from_slice(&0u16.to_le_bytes());
        d.extend_from_slice(&256u16.to_le_bytes());
        d.extend_from_slice(&0u16.to_le_bytes());
        record(&mut sheet, 0x0200, &d);
    }
    let mut sst_index = 0u32;
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let mut b = Vec::new();
            b.extend_from_slice(&(r as u16).to_le_bytes());
            b.extend_from_slice(&(c as u16).to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            match cell {
                Cell::Num(n) => {
                    b.extend_from_slice(&n.to_le_bytes());
                    record(&mut sheet, 0x0203, &b);
                }
                Cell::Text(_) => {
                    b.extend_from_slice(&sst_index.to_le_bytes());
                    sst_index += 1;
                    record(&mut sheet, 0x00FD, &b);
                }
            }
        }
    }
    record(&mut sheet, 0x000A, &[]);

    let mut sst = Vec::new();
    sst.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    sst.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    for s in &strings {
        sst.extend(biff_string(s, true));
    }
    let sheet_name = biff_string("Sheet1", false);
    // The globals' length is known before the sheet's position is: BOF, BOUNDSHEET, SST, EOF.
    let globals_len = (4 + 16) + (4 + 6 + sheet_name.len()) + (4 + sst.len()) + 4;
    let mut book = Vec::new();
    record(&mut book, 0x0809, &bof(0x0005));
    let mut bound = (globals_len as u32).to_le_bytes().to_vec();
    bound.extend_from_slice(&[0, 0]);
    bound.extend(sheet_name);
    record(&mut book, 0x0085, &bound);
    record(&mut book, 0x00FC, &sst);
    record(&mut book, 0x000A, &[]);
    assert_eq!(book.len(), globals_len);
    book.extend(sheet);

    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    file.create_stream("/Workbook").unwrap().write_all(&book).unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// The numbers every format's file holds, with a header row and one refused row.
fn expected() -> Vec<(String, String)> {
    vec![("13800138000".into(), "张三".into()), ("13800138001".into(), "VIP, 回访".into())]
}

fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    let rows: &[&[Cell]] = &[
        &[Cell::Text("手机号"), Cell::Text("备注")],
        &[Cell::Num(13800138000.0), Cell::Text("张三")],
        &[Cell::Text("13800138001"), Cell::Text("VIP, 回访")],
        &[Cell::Text("not-a-number"), Cell::Text("x")],
        &[Cell::Num(13800138000.0), Cell::Text("duplicate")],
    ];
    let csv =
        "手机号,备注\r\n13800138000,张三\r\n13800138001,\"VIP, 回访\"\r\nnot-a-number,x\r\n13800138000,duplicate\r\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(csv);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "the GBK file must not also be UTF-8");
    let mut utf8_bom = b"\xEF\xBB\xBF".to_vec();
    utf8_bom.extend_from_slice(csv.as_bytes());
    let txt = "13800138000:张三\n\n13800138001:VIP, 回访\nnot-a-number\n+86 138-0013-8000\n";
    vec![
        ("list.xls", xls(rows, None)),
        ("list.xlsx", xlsx(rows)),
        ("utf8.csv", utf8_bom),
        ("gbk.csv", gbk.into_owned()),
        ("list.txt", txt.as_bytes().to_vec()),
    ]
}

#[tokio::test]
async fn each_format_gives_its_numbers_to_a_task_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        for (i, (name, bytes)) in sample_files().into_iter().enumerate() {
            let up = ok(&a.upload(name, &bytes).await);
            let d = &up["data"];
            let want_numbers = if name.ends_with(".txt") { 3 } else { 2 };
            assert_eq!(
                (d["name"].as_str(), d["size"].as_i64(), d["numbers"].as_i64(), d["rejected"].as_i64()),
                (Some(name), Some(bytes.len() as i64), Some(want_numbers), Some(1)),
                "{name}: {d}"
            );
            assert_eq!(d["rejectedRows"][0]["value"], "not-a-number", "{name}: {d}");
            let task_id = format!("F{i}");
            let made = ok(&a
                .multipart_files("/artificialOutTask/insert", &task_fields(&task_id, "remoteFile", name), &[])
                .await);
            let id = made["data"]["outboundInstanceId"].as_str().unwrap().to_string();
            let mut want = expected();
            if name.ends_with(".txt") {
                want.push(("+8613800138000".into(), String::new()));
            }
            assert_eq!(a.contacts(&id).await, want, "{name}");
            let detail = ok(&a.call(Method::GET, "/artificialOutTask/findById", &[("id", &id)]).await);
            assert_eq!(
                (detail["data"]["createType"].as_str(), detail["data"]["contactNum"].as_i64()),
                (Some("remoteFile"), Some(want.len() as i64))
            );
        }
        assert_eq!(a.search(None).await.len(), 5);
    }
}

#[tokio::test]
async fn a_file_sent_with_the_task_or_appended_gives_its_numbers_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let book = xlsx(&[&[Cell::Num(13900000001.0), Cell::Text("一")], &[Cell::Num(13900000002.0)]]);
        let made = ok(&a
            .multipart_files(
                "/artificialOutTask/insert",
                &task_fields("ATT1", "file", ""),
                &[("importFile", "new.xlsx", &book)],
            )
            .await);
        let id = made["data"]["outboundInstanceId"].as_str().unwrap().to_string();
        assert_eq!(
            a.contacts(&id).await,
            vec![("13900000001".into(), "一".into()), ("13900000002".into(), String::new())]
        );
        // A file sent with a task is not kept as an uploaded file.
        assert!(a.search(None).await.is_empty());

        ok(&a.upload("more.txt", b"13900000002\n13900000003,three\n").await);
        ok(&a
            .multipart_files(
                "/artificialOutTask/append",
                &[("id", &id), ("createType", "remoteFile"), ("remoteFileName", "more.txt")],
                &[],
            )
            .await);
        let csv = b"13900000004,four\n";
        ok(&a
            .multipart_files(
                "/artificialOutTask/append",
                &[("id", &id), ("createType", "file")],
                &[("importFile", "x.csv", csv)],
            )
            .await);
        let numbers: Vec<String> = a.contacts(&id).await.into_iter().map(|(m, _)| m).collect();
        assert_eq!(numbers, ["13900000001", "13900000002", "13900000003", "13900000004"]);

        // What is missing or wrong is named.
        let msg =
            bad_param(&a.multipart_files("/artificialOutTask/insert", &task_fields("ATT2", "file", ""), &[]).await);
        assert!(msg.contains("importFile"), "{msg}");
        let msg = refused(
            &a.multipart_files("/artificialOutTask/insert", &task_fields("ATT2", "remoteFile", "nope.xls"), &[]).await,
        );
        assert!(msg.contains("nope.xls"), "{msg}");
        let msg = bad_param(
            &a.multipart_files("/artificialOutTask/insert", &task_fields("ATT2", "remoteFile", ""), &[]).await,
        );
        assert!(msg.contains("remoteFileName"), "{msg}");
        let bad = a
            .multipart_files(
                "/artificialOutTask/insert",
                &task_fields("ATT2", "file", ""),
                &[("importFile", "x.txt", b"hello\n")],
            )
            .await;
        assert!(refused(&bad).contains("no valid number"));
        let tasks = ok(&a.call(Method::GET, "/artificialOutTask/pageSearch", &[]).await);
        assert_eq!(tasks["data"]["total"], 1, "no task was made by the refused requests");
    }
}

#[tokio::test]
async fn files_are_searched_downloaded_renamed_and_deleted_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let (_, bytes) = sample_files().into_iter().find(|(n, _)| *n == "list.xls").unwrap();
        ok(&a.upload("ivr_example.xls", &bytes).await);
        ok(&a.upload("other.csv", b"13800000000\n").await);
        // The same name again is refused while the first lives.
        assert!(refused(&a.upload("ivr_example.xls", &bytes).await).contains("ivr_example.xls"));

        let found = a.search(Some("ivr_example.xls")).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "size", "lastModified", "createdDateTime", "targetURL", "directory"]);
        assert_eq!((f["name"].as_str(), f["size"].as_i64()), (Some("ivr_example.xls"), Some(bytes.len() as i64)));
        // yyyyMMddHHmmss in the tenant's zone (UTC+8): the test clock starts at 02:00 UTC.
        let created = f["createdDateTime"].as_str().unwrap().to_string();
        assert!(created.starts_with("202611211000") && created.len() == 14, "{f}");
        assert_eq!((f["lastModified"].as_str(), f["directory"].as_bool()), (Some(created.as_str()), Some(false)));
        assert!(f["targetURL"].as_str().unwrap().ends_with("/files/download?fileName=ivr_example.xls"), "{f}");
        assert_eq!(a.search(None).await.len(), 2);
        assert!(a.search(Some("nothing")).await.is_empty());

        let got = a.call(Method::GET, "/files/download", &[("fileName", "ivr_example.xls")]).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.header("content-type"), "application/vnd.ms-excel");
        assert!(got.header("content-disposition").contains("ivr_example.xls"));
        let raw = app
            .http
            .get(app.url("/files/download"))
            .query(&[("fileName", "ivr_example.xls")])
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(raw.as_ref(), bytes.as_slice(), "the download is the upload, byte for byte");

        // Rename (JSON, as the seed's example), keeping the extension.
        app.clock.advance(chrono::Duration::seconds(60));
        let rename = |from: &str, to: &str| {
            let body = json!({"fileName": from, "newName": to});
            app.http.put(app.url("/files/rename")).bearer_auth(&a.token).json(&body)
        };
        ok(&app.send(rename("ivr_example.xls", "ivr_example-update.xls")).await);
        assert!(a.search(Some("ivr_example.xls")).await.is_empty());
        let renamed = a.search(Some("ivr_example-update.xls")).await;
        assert!(renamed[0]["lastModified"].as_str().unwrap().starts_with("202611211001"), "{renamed:?}");
        assert_eq!(renamed[0]["createdDateTime"].as_str(), Some(created.as_str()));
        assert!(refused(&app.send(rename("ivr_example-update.xls", "x.csv")).await).contains("extension"));
        assert!(refused(&app.send(rename("ivr_example-update.xls", "other.csv")).await).contains("extension"));
        ok(&app.send(rename("other.csv", "b.csv")).await);
        assert!(refused(&app.send(rename("missing.xls", "m.xls")).await).contains("missing.xls"));
        ok(&app.send(rename("b.csv", "b.csv")).await);
        ok(&a.upload("c.csv", b"13800000001\n").await);
        assert!(refused(&app.send(rename("b.csv", "c.csv")).await).contains("c.csv"));
        assert!(refused(&app.send(rename("b.csv", "../b.csv")).await).contains("../b.csv"));
        ok(&a.call(Method::DELETE, "/files/delete", &[("fileName", "c.csv")]).await);
        let raw = app
            .http
            .get(app.url("/files/download"))
            .query(&[("fileName", "ivr_example-update.xls")])
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(raw.as_ref(), bytes.as_slice());

        // Delete: gone from search and download; the name is free again.
        ok(&a.call(Method::DELETE, "/files/delete", &[("fileName", "ivr_example-update.xls")]).await);
        assert!(
            refused(&a.call(Method::DELETE, "/files/delete", &[("fileName", "ivr_example-update.xls")]).await)
                .contains("ivr_example-update.xls")
        );
        let gone = a.call(Method::GET, "/files/download", &[("fileName", "ivr_example-update.xls")]).await;
        assert!(refused(&gone).contains("ivr_example-update.xls"));
        assert_eq!(a.search(None).await.len(), 1);
        let folder = app.config.data_dir.join("numberfiles").join("777777");
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1, "the deleted file's bytes are removed");
        ok(&a.upload("ivr_example.xls", &bytes).await);
        assert!(bad_param(&a.call(Method::GET, "/files/download", &[]).await).contains("fileName"));
    }
}

/// Files (and folders) under the tenant's number file folder, temporary ones included.
fn stored(app: &TestApp) -> usize {
    let folder = app.config.data_dir.join("numberfiles").join("777777");
    std::fs::read_dir(folder).map_or(0, |d| d.count())
}

#[tokio::test]
async fn bombs_oversized_and_non_number_files_are_refused_and_nothing_is_kept() {
    let app = start(&yunhu_store::testing::scratch_sqlite_url()).await;
    let a = Client::new(&app, "demo", "demo-secret").await;

    // 150 MB of zeros in a ~150 KB file: the declared size alone refuses it.
    let bomb = xlsx_bomb(150 * 1024 * 1024);
    assert!(bomb.len() < 1024 * 1024, "the bomb is small: {}", bomb.len());
    let msg = refused(&a.upload("bomb.xlsx", &bomb).await);
    assert!(msg.contains("zip bomb") && msg.contains("declares"), "{msg}");
    // 20 MB of zeros: within the total, but over 100:1.
    let dense = xlsx_bomb(20 * 1024 * 1024);
    let msg = refused(&a.upload("dense.xlsx", &dense).await);
    assert!(msg.contains("zip bomb") && msg.contains(":1"), "{msg}");
    // Sent with a task, the same.
    let msg = refused(
        &a.multipart_files(
            "/artificialOutTask/insert",
            &task_fields("BOMB", "file", ""),
            &[("importFile", "b.xlsx", &bomb)],
        )
        .await,
    );
    assert!(msg.contains("zip bomb"), "{msg}");
    // An .xls whose DIMENSIONS claim 4 billion rows is refused before it is laid out.
    let huge = xls(&[&[Cell::Num(13800138000.0)]], Some(u32::MAX));
    let msg = refused(&a.upload("huge.xls", &huge).await);
    assert!(msg.contains("zip bomb") && msg.contains("cells"), "{msg}");

    // Over 10 MB.
    let big = "13800138000\n".repeat(10 * 1024 * 1024 / 12 + 1);
    assert!(big.len() > 10 * 1024 * 1024);
    let msg = refused(&a.upload("big.txt", big.as_bytes()).await);
    assert!(msg.contains("too large"), "{msg}");
    // Over 100,000 rows (in under 10 MB).
    let rows: String = (0..100_001).map(|i| format!("1{i:010}\n")).collect();
    let msg = refused(&a.upload("rows.csv", rows.as_bytes()).await);
    assert!(msg.contains("100000 rows"), "{msg}");
    // Not number files: the wrong extension, bytes that are not what the name says, no numbers.
    assert!(refused(&a.upload("numbers.pdf", b"13800138000").await).contains("not a number file"));
    assert!(refused(&a.upload("fake.xlsx", b"13800138000\n").await).contains("not a valid .xlsx"));
    assert!(refused(&a.upload("fake.xls", b"13800138000\n").await).contains("not a valid .xls"));
    assert!(refused(&a.upload("words.txt", "你好\n世界\n".as_bytes()).await).contains("no valid number"));
    assert!(refused(&a.upload("binary.csv", &[0x13, 0xFF, 0xFE, 0x00]).await).contains("neither UTF-8 nor GBK"));
    assert!(refused(&a.upload("nul.txt", b"13800138000\x00\n").await).contains("NUL"));
    assert!(bad_param(&a.multipart_files("/files/upload", &[("fileName", "x.txt")], &[]).await).contains("fileName"));

    assert!(a.search(None).await.is_empty(), "nothing refused is listed");
    assert_eq!(stored(&app), 0, "nothing refused is written");
    let tasks = ok(&a.call(Method::GET, "/artificialOutTask/pageSearch", &[]).await);
    assert_eq!(tasks["data"]["total"], 0);

    // Just under the limits is taken.
    let rows: String = (0..100_000).map(|i| format!("1{i:010}\n")).collect();
    let up = ok(&a.upload("rows.csv", rows.as_bytes()).await);
    assert_eq!(up["data"]["numbers"], 100_000);
    assert_eq!(stored(&app), 1);
}

#[tokio::test]
async fn another_tenant_cannot_reach_a_file_on_both_databases() {
    for url in backends().await {
        let app = start(&url).await;
        let a = Client::new(&app, "demo", "demo-secret").await;
        let b = Client::new(&app, "other", "other-secret").await;
        ok(&a.upload("secret.csv", b"13800138000,a\n").await);

        assert!(b.search(None).await.is_empty());
        assert!(b.search(Some("secret.csv")).await.is_empty());
        assert!(
            refused(&b.call(Method::GET, "/files/download", &[("fileName", "secret.csv")]).await)
                .contains("secret.csv")
        );
        let body = json!({"fileName": "secret.csv", "newName": "mine.csv"});
        let rename = app.http.put(app.url("/files/rename")).bearer_auth(&b.token).json(&body);
        assert!(refused(&app.send(rename).await).contains("secret.csv"));
        assert!(
            refused(&b.call(Method::DELETE, "/files/delete", &[("fileName", "secret.csv")]).await)
                .contains("secret.csv")
        );
        // Nor can B make a task of it, in its own project.
        ok(&b.multipart_files("/outProject/insert", &[("projectId", "BPROJ1"), ("projectName", "b")], &[]).await);
        let mut fields = task_fields("BT1", "remoteFile", "secret.csv");
        fields.retain(|(k, _)| !["outProjectId", "callerId"].contains(k));
        fields.push(("outProjectId", "PRO_888888_BPROJ1"));
        assert!(refused(&b.multipart_files("/artificialOutTask/insert", &fields, &[]).await).contains("secret.csv"));
        // B may use the same name for its own file.
        ok(&b.upload("secret.csv", b"13900139000\n").await);
        let b_task = ok(&b.multipart_files("/artificialOutTask/insert", &fields, &[]).await);
        let b_id = b_task["data"]["outboundInstanceId"].as_str().unwrap().to_string();
        assert_eq!(b.contacts(&b_id).await, vec![("13900139000".to_string(), String::new())]);

        // A's file is untouched.
        let mine = a.search(None).await;
        assert_eq!((mine.len(), mine[0]["name"].as_str()), (1, Some("secret.csv")));
        let raw = app
            .http
            .get(app.url("/files/download"))
            .query(&[("fileName", "secret.csv")])
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(raw.as_ref(), b"13800138000,a\n");
    }
}
