//! The smoke run of every fuzz target on the stable toolchain (CI): seeds, saved crash inputs,
//! then generated inputs for `YUNHU_FUZZ_SECS` seconds a target (default 3) from generator seed
//! `YUNHU_FUZZ_SEED` (default: the clock, printed so a failure can be replayed).

use std::time::Duration;

fn smoke(name: &str) {
    let target = yunhu_fuzz::TARGETS.iter().find(|(n, _)| *n == name).expect("a target").1;
    let secs: f64 = std::env::var("YUNHU_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let seed: u64 = std::env::var("YUNHU_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let report = yunhu_fuzz::smoke::run(name, target, Duration::from_secs_f64(secs), seed);
    println!("{name}: {} inputs ({} seeds and saved crashes), YUNHU_FUZZ_SEED={seed}", report.runs, report.seeds);
    assert!(report.seeds > 0, "{name} has no seed corpus in fuzz/seeds/{name}");
}

macro_rules! targets {
    ($($name:ident),*) => {
        $(#[test] fn $name() { smoke(stringify!($name)) })*

        #[test]
        fn every_target_is_smoked() {
            let here = [$(stringify!($name)),*];
            for (name, _) in yunhu_fuzz::TARGETS {
                assert!(here.contains(name), "{name} has no smoke test");
            }
        }
    };
}

targets!(media_sdp, sip_sdp, rtp, dtmf, dialect_params, number_file, recording_names);
