//! Recordings in S3-compatible storage, against a real S3 server: moto's standalone server
//! (`moto_server` from PyPI `moto[server]`, pinned and installed by `scripts/setup`), reached
//! over HTTP by yunhu's object_store client and read back here with plain HTTP. yunhu runs as its
//! own process so it can be killed with a recording still in its spool; sipp plays the agent's
//! phone and the carrier. The test reads the bucket with its own signed client (moto refuses
//! anonymous reads of objects).

mod common;

use common::sip::*;
use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "recordings";

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server on a free port, with the bucket made.
async fn s3_server() -> (Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server is installed (scripts/setup: pip moto[server])");
    let server = Killed(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(&base).send().await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = http.put(format!("{base}/{BUCKET}")).send().await.unwrap();
    assert!(made.status().is_success(), "bucket: {}", made.status());
    (server, base)
}

/// yunhu as a process; with `s3`, recordings go to the bucket there, without, to local disk only.
async fn serve(data: &Path, http: u16, sip: u16, provision: &Path, s3: Option<&str>) -> Killed {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yunhu"));
    cmd.env_remove("YUNHU_S3_URL");
    if let Some(s3) = s3 {
        cmd.env("YUNHU_S3_URL", format!("s3://{BUCKET}/yunhu"))
            .env("YUNHU_S3_ENDPOINT", s3)
            .env("YUNHU_S3_REGION", "us-east-1")
            .env("YUNHU_S3_ACCESS_KEY", "testing")
            .env("YUNHU_S3_SECRET_KEY", "testing");
    }
    let child = cmd
        .arg("--data-dir")
        .arg(data)
        .args(["--http-listen", &format!("127.0.0.1:{http}"), "--sip-listen", &format!("127.0.0.1:{sip}")])
        .args(["--rtp-ports", "32800-33400", "--admin-token", common::ADMIN_TOKEN, "serve", "--provision"])
        .arg(provision)
        .env_remove("YUNHU_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    while client.get(format!("http://127.0.0.1:{http}/yunhu/v1/openapi.json")).send().await.is_err() {
        assert!(Instant::now() < deadline, "yunhu did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

async fn act(http: u16, q: &str) -> Value {
    let url = format!("http://127.0.0.1:{http}/action?companyid=8&auth=demo-auth-code&{q}");
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Places a click-to-call from 1001 and waits until it is connected; its call id.
async fn connected_call(http: u16) -> String {
    let sent = act(http, "action=SendDial&staffid=1001&phonenum=13900000000").await;
    let call_id = sent["data"]["uniqueid"].as_str().unwrap_or_else(|| panic!("dialled: {sent}")).to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    while act(http, "action=ExtenStatus&staffid=1001").await["data"]["Status"] != 1 {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    call_id
}

/// The call's recording name once its record exists and its upload is noted: (name, key, bytes).
async fn uploaded(db: &yunhu_store::Db, call_id: &str) -> (String, String, i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = db.call_record(TENANT, call_id).await.unwrap() {
            let name = r.record.recording;
            assert!(!name.is_empty(), "the call was recorded");
            if let Some(u) = db.recording_upload(TENANT, &name).await.unwrap() {
                assert_eq!(u.call_id, call_id);
                return (name, u.object_key, u.bytes);
            }
        }
        assert!(Instant::now() < deadline, "{call_id}'s recording was never uploaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client of the bucket of its own.
fn bucket(s3: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_endpoint(s3)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap()
}

/// Keys in the bucket below `prefix`, sorted.
async fn keys_under(s3: &str, prefix: &str) -> Vec<String> {
    let listed: Vec<_> = bucket(s3).list(Some(&Key::from(prefix))).try_collect().await.unwrap();
    let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
    keys.sort();
    keys
}

async fn stored(s3: &str, key: &str) -> Vec<u8> {
    bucket(s3).get(&Key::from(key)).await.unwrap().bytes().await.unwrap().to_vec()
}

/// The key a call's recording must have: `<prefix>/<corp>/<yyyy-mm-dd>/<call id>.wav`.
fn expected_key(recording: &str, call_id: &str) -> String {
    let date = recording.split('/').nth(1).unwrap();
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-', "dated spool folder: {recording}");
    format!("yunhu/777777/{date}/{call_id}.wav")
}

async fn gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(Instant::now() < deadline, "{} still in the spool", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(parts(&p));
        } else if p.to_string_lossy().ends_with(".part") {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn recordings_go_to_s3_are_served_from_it_and_a_killed_node_uploads_its_spool_at_start() {
    let (_s3_server, s3) = s3_server().await;
    let data = common::scratch_dir();
    let (http, sip) = (free_port(), free_port());
    let (agent_port, carrier_port) = (free_port(), free_port());
    let provision = data.join("provision.toml");
    let example = std::fs::read_to_string(common::example_file()).unwrap();
    std::fs::write(&provision, example.replace("127.0.0.1:5090", &format!("127.0.0.1:{carrier_port}"))).unwrap();
    let server = serve(&data, http, sip, &provision, Some(&s3)).await;
    let sip_addr: SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
    assert!(register(sip_addr, "1001", "1001pw", agent_port, "register.xml").await.success());
    assert!(dial_from(sip_addr, "1001", "1001pw", "000", "dial.xml").await.success());
    let db = yunhu_store::Db::open(&format!("sqlite://{}?mode=rwc", data.join("yunhu.db").display())).await.unwrap();
    let spool = data.join("recordings");

    // A call that ends normally: its recording is uploaded when it ends.
    let agent = phone("agent", "answer.xml", agent_port, 100);
    let carrier = phone("carrier", "answer.xml", carrier_port, 100);
    let first = connected_call(http).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // conversation length under test
    assert_eq!(act(http, "action=HangUp&staffid=1001").await["errno"], "1");
    assert!(agent.wait().await.success() && carrier.wait().await.success());
    let (name, key, bytes) = uploaded(&db, &first).await;
    assert_eq!(key, expected_key(&name, &first));
    assert_eq!(keys_under(&s3, &format!("yunhu/777777/{}", name.split('/').nth(1).unwrap())).await, vec![key.clone()]);
    let object = stored(&s3, &key).await;
    assert!(object.len() > 8000 * 4, "two seconds of stereo audio at least: {} bytes", object.len());
    assert_eq!((object.len() as i64, &object[..4]), (bytes, &b"RIFF"[..]));
    gone(&spool.join(&name)).await;

    // The signed address serves it from the bucket, whole and by range.
    let got = act(http, &format!("action=GetRecord&uniqueid={first}")).await;
    let url = got["data"][0]["path"].as_str().unwrap_or_else(|| panic!("GetRecord: {got}")).to_string();
    let whole = reqwest::get(&url).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), object.as_slice(), "the download is the stored object");
    let client = reqwest::Client::new();
    let part = client.get(&url).header("Range", "bytes=100-1099").send().await.unwrap();
    assert_eq!(part.status(), 206);
    let total = object.len();
    assert_eq!(part.headers()["content-range"], format!("bytes 100-1099/{total}").as_str());
    assert_eq!(part.bytes().await.unwrap().as_ref(), &object[100..1100]);
    let tail = client.get(&url).header("Range", "bytes=-10").send().await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &object[total - 10..]);
    let past = client.get(&url).header("Range", format!("bytes={total}-")).send().await.unwrap();
    assert_eq!(past.status(), 416);

    // A node killed mid-call: its recording is still in the spool, and goes up when it is back.
    let agent = phone("agent", "answer.xml", agent_port, 100);
    let carrier = phone("carrier", "answer.xml", carrier_port, 100);
    let second = connected_call(http).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // some audio in the spool
    let mut server = server;
    Command::new("kill").args(["-9", &server.0.id().to_string()]).status().unwrap();
    let _ = server.0.wait();
    drop((agent, carrier));
    assert_eq!(parts(&spool).len(), 1, "the killed call's recording is in the spool");
    assert!(db.call_record(TENANT, &second).await.unwrap().is_none());
    assert!(keys_under(&s3, "yunhu").await.len() == 1, "nothing of the killed call is in the bucket yet");

    let mut server = serve(&data, http, sip, &provision, Some(&s3)).await;
    let (name2, key2, bytes2) = uploaded(&db, &second).await;
    assert_eq!(key2, expected_key(&name2, &second));
    let object2 = stored(&s3, &key2).await;
    assert!(object2.len() > 8000 * 4 && object2.len() as i64 == bytes2, "{} bytes", object2.len());
    gone(&spool.join(&name2)).await;
    assert!(parts(&spool).is_empty());

    // A call recorded by a run without the store (its record written, its file in the spool)
    // goes up at the next start with the store: only the sweep at start can send it.
    Command::new("kill").args(["-9", &server.0.id().to_string()]).status().unwrap();
    let _ = server.0.wait();
    let mut server = serve(&data, http, sip, &provision, None).await;
    let agent = phone("agent", "answer.xml", agent_port, 100);
    let carrier = phone("carrier", "answer.xml", carrier_port, 100);
    let third = connected_call(http).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(act(http, "action=HangUp&staffid=1001").await["errno"], "1");
    assert!(agent.wait().await.success() && carrier.wait().await.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let name3 = loop {
        if let Some(r) = db.call_record(TENANT, &third).await.unwrap() {
            break r.record.recording;
        }
        assert!(Instant::now() < deadline, "no record of the third call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(spool.join(&name3).is_file(), "kept on local disk without a store");
    let _ = server.0.kill();
    let _ = server.0.wait();
    let _server = serve(&data, http, sip, &provision, Some(&s3)).await;
    let (name3b, key3, bytes3) = uploaded(&db, &third).await;
    assert_eq!((name3b.as_str(), key3.clone()), (name3.as_str(), expected_key(&name3, &third)));
    assert!(bytes3 > 8000 * 4 && stored(&s3, &key3).await.len() as i64 == bytes3);
    gone(&spool.join(&name3)).await;

    let mut want = vec![key, key2, key3];
    want.sort();
    assert_eq!(keys_under(&s3, "yunhu").await, want, "one object per finished call");
}
