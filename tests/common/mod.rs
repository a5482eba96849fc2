//! Helpers shared by the integration tests: running the built binary and reading its output, the
//! manifest template, the simulator, the reconciler's world and the watch daemon.
#![allow(dead_code)]

pub mod daemon;
pub mod manifest;
pub mod sim;
pub mod world;

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use {
    daemon::Watch,
    manifest::{Manifest, Source},
    sim::{one_store, simulator, start_fixture},
    world::World,
};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The bccreds binary cargo built for these tests.
pub fn bccreds() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bccreds"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    // Flags also come from the environment; a developer's shell must not change the results.
    for (key, _) in std::env::vars() {
        if key.starts_with("BCCREDS_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `bccreds ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    bccreds().args(args).output().expect("bccreds runs")
}

/// Runs `bccreds validate ARGS… PATH` with JSON output and returns (exit code, diagnostics, stderr).
pub fn validate_json(args: &[&str], path: &Path) -> (i32, Vec<serde_json::Value>, String) {
    let out = bccreds()
        .arg("validate")
        .args(["--output", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("bccreds runs");
    let diags: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a JSON array ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        diags,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// stdout and stderr together, for leak checks.
pub fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Kills the child if a test fails before it is reaped.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's first line on stdout (a server's address), waited for at most 30 s.
pub fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the first line within 30 s")
}

/// `bccreds serve ARGS…` (killed when dropped) and the address it serves on.
pub struct Serve {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bccreds serve --store STORE ARGS…` and waits for it to say where it listens.
pub fn serve(store: &str, args: &[&str]) -> Serve {
    let mut child = bccreds()
        .args(["serve", "--store", store])
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve says where it listens")
            .expect("line");
        if let Some(rest) = line.strip_prefix("bccreds serving the credentials page on http://") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    // Keep draining stderr so that the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let port = addr.rsplit(':').next().expect("port");
    Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}
