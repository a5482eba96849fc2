//! The Python peer (`examples/peer/peer.py`), run by the harness against the same simulator and
//! the same manifest tree, so that one run prints bccreds' numbers and the ratios to a script a
//! team could write instead.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

/// One run of the peer: wall time (Python's start included, as a user waits for it) and what it
/// reported.
pub struct PeerRun {
    pub wall: Duration,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub requests: u64,
    pub max_rss_kib: u64,
}

/// Why the peer cannot run here (no python3, or a missing module), or None.
pub fn unavailable() -> Option<String> {
    let ok = Command::new("python3")
        .args(["-c", "import yaml, jsonschema, requests, cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    (!ok).then(|| {
        "python3 with PyYAML, jsonschema, requests and cryptography is needed \
         (pip install -r examples/peer/requirements.txt)"
            .to_string()
    })
}

/// Where and how the peer runs.
pub struct Peer<'a> {
    pub manifests: &'a Path,
    pub secrets: &'a Path,
    pub base_url: &'a str,
    pub db: &'a Path,
    pub schema: &'a Path,
    pub threads: usize,
}

/// A fixed APP_KEY for the peer's own store (the peer encrypts as Laravel does).
const PEER_APP_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

impl Peer<'_> {
    /// Runs the peer once and reads its report line.
    pub fn run(&self) -> anyhow::Result<PeerRun> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/peer/peer.py");
        let started = Instant::now();
        let out = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(self.manifests)
            .arg("--secrets-dir")
            .arg(self.secrets)
            .args(["--base-url", self.base_url, "--app-key", PEER_APP_KEY])
            .arg("--db")
            .arg(self.db)
            .arg("--schema")
            .arg(self.schema)
            .args(["--threads", &self.threads.to_string()])
            .output()
            .context("python3 runs")?;
        let wall = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "the peer failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(stdout.trim())
            .with_context(|| format!("the peer's report: {stdout}"))?;
        let n = |k: &str| report[k].as_u64().unwrap_or_default();
        Ok(PeerRun {
            wall,
            created: n("created"),
            updated: n("updated"),
            unchanged: n("unchanged"),
            requests: n("requests"),
            max_rss_kib: n("max_rss_kib"),
        })
    }
}
