//! A Node script driving headless Chromium (playwright-core, in `tests/browser`) for the page
//! tests: it says how far it got in `@@` lines on stdout; the rest of its talk is kept for a
//! failure's message.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Debian's Chromium, which the scripts drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Where the scripts and their `node_modules` are.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser"))
}

/// The Node script and what it says: its `@@` lines on stdout, the rest of its talk kept for a
/// failure's message.
pub struct Script {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Script {
    /// Runs `node <file>` in `dir` with `envs`.
    pub fn spawn(dir: &Path, file: &str, envs: &[(&str, String)]) -> Script {
        let mut child = Command::new("node")
            .arg(file)
            .current_dir(dir)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (scripts/setup)");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(said) = line.strip_prefix("@@") {
                    let _ = tx.send(said.to_string());
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, kept) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Script { child, lines, stderr }
    }

    /// What the script said on stderr so far.
    pub fn talk(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The script's next line, which must start with `word`; the rest of it.
    pub async fn expect(&mut self, word: &str, within: Duration) -> String {
        let line = match tokio::time::timeout(within, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the browser script ended before saying {word:?}:\n{}", self.talk()),
            Err(_) => panic!("the browser script did not say {word:?} within {within:?}:\n{}", self.talk()),
        };
        match line.strip_prefix(word) {
            Some(rest) => rest.trim().to_string(),
            None => panic!("the browser script said {line:?}, not {word:?}:\n{}", self.talk()),
        }
    }

    /// Waits (15 s at most) for the script to end; whether it succeeded.
    pub async fn exit_ok(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "the browser script did not exit:\n{}", self.talk());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
