//! The crash soak's short version (about two minutes, one `kill -9`): `bench/soak.sh 2m` on this
//! build's binary, which drives sipp calls with media and recording, API listings and logins and
//! a predictive task, kills and restarts yunhu, stops it with SIGTERM and checks its invariants
//! (one record per call, recordings complete or flagged, no downtime billed, flat memory). The
//! long run is `bench/soak.sh 30m` (see the README).

use std::process::Command;

#[test]
fn a_two_minute_soak_with_one_kill_keeps_every_invariant() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new("bash")
        .arg(format!("{root}/bench/soak.sh"))
        .arg("2m")
        .env("YUNHU_BIN", env!("CARGO_BIN_EXE_yunhu"))
        .env("SOAK_KILL_EVERY", "60")
        .env_remove("SOAK_DIR")
        .output()
        .expect("bash runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the soak found violations:\n{text}");
    assert!(text.contains("kill -9: 1;") && text.contains("every invariant holds"), "{text}");
}
