//! `bccreds simulate-bigcommerce`: the URL line, serving, SIGTERM, and refusing bad arguments.

mod common;
mod simulator_support;

use std::io::BufReader;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use common::{first_line, Reaper};
use simulator_support::{client, json_of};

#[tokio::test]
async fn the_command_prints_its_url_serves_and_stops_on_sigterm() {
    let child = common::bccreds()
        .args([
            "simulate-bigcommerce",
            "--listen",
            "127.0.0.1:0",
            "--fixture",
            "examples/simulator/fixture.yaml",
        ])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = Reaper(child);
    let url = first_line(&mut child.0);
    let stderr = child.0.stderr.take().expect("stderr");
    // Drained on a thread so trace output can never fill the pipe and block the child.
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let url = url.trim_end();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let resp = client()
        .get(format!("{url}/stores/abc123/v2/store"))
        .header("X-Auth-Token", "demo-production-access-token")
        .send()
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json_of(resp).await["name"], json!("Production Store"));

    let pid = i32::try_from(child.0.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let logs = logs.join().expect("stderr reader");
    // Tracing really was on, and it still never printed the token.
    assert!(logs.contains("simulated request"), "{logs}");
    assert!(!logs.contains("demo-production-access-token"), "{logs}");
}

#[test]
fn the_command_refuses_a_non_loopback_address() {
    for listen in ["0.0.0.0:0", "192.0.2.1:8080", "localhost:0"] {
        let out = common::run(&[
            "simulate-bigcommerce",
            "--listen",
            listen,
            "--fixture",
            "examples/simulator/fixture.yaml",
        ]);
        assert_eq!(out.status.code(), Some(2), "{listen}");
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("loopback"),
            "{listen}"
        );
    }
}

#[test]
fn the_command_rejects_a_bad_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "stores:\n  - {hash: a1, name: A, colour: red}\n").expect("write");
    let out = common::run(&[
        "simulate-bigcommerce",
        "--fixture",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));

    let inconsistent = dir.path().join("tokens.yaml");
    std::fs::write(
        &inconsistent,
        "tokens:\n  - {token: leaky-secret, store: nowhere}\n",
    )
    .expect("write");
    let out = common::run(&[
        "simulate-bigcommerce",
        "--fixture",
        inconsistent.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nowhere") && !err.contains("leaky-secret"),
        "{err}"
    );

    let missing = common::run(&["simulate-bigcommerce", "--fixture", "no/such/fixture.yaml"]);
    assert_eq!(missing.status.code(), Some(1));
}
