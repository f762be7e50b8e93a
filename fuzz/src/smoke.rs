//! A stable-toolchain runner of the fuzz targets, for CI's smoke run: each target gets its seed
//! corpus, its saved crash inputs, then inputs made from them by a seeded generator (bit flips,
//! byte inserts and deletes, splices, truncations, random bytes) until its time is up. It has no
//! coverage feedback, so it finds far less than libFuzzer does; `scripts/fuzz` runs the real one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fuzz crate's directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir`, sorted; none when it does not exist.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| std::fs::read(e.path()).ok().map(|b| (e.path(), b)))
        .collect();
    out.sort();
    out
}

/// xorshift64*: reproducible from its seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes that matter to the parsers, inserted more often than random ones.
const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\0",
    b"=",
    b"&",
    b"%",
    b"%00",
    b"<",
    b">",
    b"\"",
    b",",
    b":",
    b";",
    b"/",
    b"..",
    b"-",
    b"m=audio ",
    b"c=IN IP4 ",
    b"a=rtpmap:",
    b"o=",
    b"bytes=",
    b"<?xml",
    b"<!DOCTYPE",
    b"{\"",
    b"[",
    b"\xff",
    b"\x80",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0",
    b"18446744073709551616",
    b"-1",
    b"65536",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.byte();
            }
            2 => {
                let i = rng.below(input.len() + 1);
                let b = rng.byte();
                input.insert(i, b);
            }
            3 if !input.is_empty() => {
                let i = rng.below(input.len());
                let n = rng.below((input.len() - i).min(16) + 1);
                input.drain(i..i + n);
            }
            4 => {
                let i = rng.below(input.len() + 1);
                let token = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(i..i, token.iter().copied());
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(input.len() + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            6 => {
                let n = rng.below(input.len() + 1);
                input.truncate(n);
            }
            _ => {
                let i = rng.below(input.len() + 1);
                let n = rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                input.splice(i..i, bytes);
            }
        }
    }
}

/// What a smoke run of one target did.
#[derive(Debug)]
pub struct Report {
    /// Inputs run.
    pub runs: u64,
    /// Seed and regression inputs among them.
    pub seeds: usize,
}

/// Runs `target` on its seeds (`seeds/<name>/`), its saved crash inputs (`regressions/<name>/`)
/// and mutations of them for `budget`, from generator seed `seed`. A panic propagates with the
/// input that caused it saved under `artifacts/<name>/smoke-<seed>-<run>` and its path printed.
pub fn run(name: &str, target: fn(&[u8]), budget: Duration, seed: u64) -> Report {
    let root = root();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for dir in ["seeds", "regressions"] {
        for (path, bytes) in files(&root.join(dir).join(name)) {
            check(name, target, &bytes, &format!("{}", path.display()));
            corpus.push(bytes);
        }
    }
    let seeds = corpus.len();
    let mut rng = Rng(seed.max(1));
    let start = Instant::now();
    let mut runs = seeds as u64;
    let mut input = Vec::new();
    while start.elapsed() < budget {
        for _ in 0..64 {
            if corpus.is_empty() || rng.below(16) == 0 {
                input.clear();
                let n = rng.below(256);
                input.extend((0..n).map(|_| rng.byte()));
            } else {
                input.clone_from(&corpus[rng.below(corpus.len())]);
            }
            mutate(&mut rng, &corpus, &mut input);
            let at = root.join("artifacts").join(name).join(format!("smoke-{seed}-{runs}"));
            if std::panic::catch_unwind(|| target(&input)).is_err() {
                let _ = std::fs::create_dir_all(at.parent().expect("a parent"));
                let _ = std::fs::write(&at, &input);
                panic!("{name} crashed on a generated input, saved as {}", at.display());
            }
            runs += 1;
            // Inputs that the target took are kept to build on, a little like coverage would.
            if corpus.len() < 4096 && rng.below(32) == 0 {
                corpus.push(input.clone());
            }
        }
    }
    Report { runs, seeds }
}

fn check(name: &str, target: fn(&[u8]), bytes: &[u8], what: &str) {
    if std::panic::catch_unwind(|| target(bytes)).is_err() {
        panic!("{name} crashed on {what}");
    }
}
