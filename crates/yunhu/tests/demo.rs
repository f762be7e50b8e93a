//! `yunhu demo` end to end: the real binary on a scratch data directory with its sipp agents and
//! carrier, stopped with Ctrl-C (SIGINT) once calls connect; its progress lines, the call records
//! and recordings it leaves, and no sipp left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A fresh data directory.
fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join("yunhu-tests").join(format!("demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The number after `key ` in a progress line.
fn count(line: &str, key: &str) -> Option<i64> {
    let rest = &line[line.find(&format!("{key} "))? + key.len() + 1..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// Processes whose command line mentions `dir` (the demo's sipp peers write their logs there).
fn processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(&needle) {
                found.push(text);
            }
        }
    }
    found
}

#[tokio::test]
async fn the_demo_connects_calls_and_leaves_records_and_recordings() {
    let dir = scratch_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_yunhu"))
        .current_dir(&dir)
        .arg("--data-dir")
        .arg(&dir)
        .args(["--http-listen", "127.0.0.1:0", "--sip-listen", "127.0.0.1:0", "--rtp-ports", "33000-33999"])
        // A generous answer share, so some call connects soon whatever the carrier draws.
        .args(["demo", "--agents", "2", "--numbers", "10", "--minutes", "1", "--answer-percent", "60"])
        .env_remove("YUNHU_CONFIG")
        .env_remove("YUNHU_DATABASE_URL")
        .env_remove("YUNHU_HTTP_LISTEN")
        .env_remove("YUNHU_SIP_LISTEN")
        .env_remove("YUNHU_RTP_PORTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the yunhu binary runs");
    let pid = child.id();
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    // Progress lines every few seconds; once a call has connected and talked a little, Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut out = Vec::new();
    let (mut progress, mut connected_at) = (0, None);
    let mut interrupted = false;
    loop {
        assert!(Instant::now() < deadline, "the demo did not finish in 90 s:\n{}", out.join("\n"));
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if line.contains("] calls ") && line.contains("occupancy") {
                    progress += 1;
                    if connected_at.is_none() && count(&line, "connected").unwrap_or(0) >= 1 {
                        connected_at = Some(progress);
                    }
                }
                out.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !interrupted && connected_at.is_some_and(|at| progress >= at + 2) {
            signal(pid, "-INT");
            interrupted = true;
        }
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            signal(pid, "-TERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = out.join("\n");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{text}\n{stderr}");
    assert!(progress >= 3, "progress lines: {text}");
    assert!(connected_at.is_some(), "a call connected: {text}");
    assert!(text.contains("Stopping (stop requested)"), "Ctrl-C stopped it: {text}");
    assert!(text.contains("Summary after") && text.contains("GetCDRList"), "{text}");
    // Dials still ringing at the stop are hung up by the dialer and settle with their records.
    assert!(!text.contains("without a record") && !text.contains("not settled"), "{text}");
    assert!(processes_under(&dir).is_empty(), "sipp peers left running: {:?}", processes_under(&dir));

    // The records of the task stay in the database; a connected one has a recording with sound.
    let db = yunhu_store::Db::open(&format!("sqlite://{}?mode=rwc", dir.join("yunhu.db").display())).await.unwrap();
    let tenant = db.tenant_by_corp("666666").await.unwrap().expect("the demo tenant");
    let filter = yunhu_store::calls::CallRecordFilter::default();
    let records = db.list_call_records(tenant.id, &filter, 1000).await.unwrap();
    assert!(!records.is_empty(), "{text}");
    assert!(records.iter().all(|r| r.record.task_id.starts_with("DEMO")));
    assert!(records.iter().all(|r| r.record.method == yunhu_core::call::CallMethod::Predictive));
    let ids: std::collections::HashSet<&str> = records.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "one record per call");
    let connected: Vec<_> = records.iter().filter(|r| r.record.connected()).collect();
    assert!(!connected.is_empty(), "a connected call record: {records:?}");
    // The longest call: the newest may have been cut by the stop a moment after it connected.
    let rec = &connected.iter().max_by_key(|r| r.record.talk_secs).expect("a connected call").record;
    assert!(rec.staff == "6001" || rec.staff == "6002", "{rec:?}");
    let file = dir.join("recordings").join(&rec.recording);
    assert!(!rec.recording.is_empty() && file.exists(), "{rec:?}");
    let (channels, samples) = yunhu_media::wav::read(&file).unwrap();
    assert_eq!(channels, 2);
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(loud > 800, "the recording has voice: {loud} loud samples of {}", samples.len());
    let _ = std::fs::remove_dir_all(&dir);
}
