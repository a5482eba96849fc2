//! docs/metrics.md lists every metric family the daemons serve, with its labels: a metric added
//! without its documentation fails here.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn every_served_metric_is_documented_with_its_labels() {
    let doc = std::fs::read_to_string("docs/metrics.md").expect("docs/metrics.md");
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut child = common::bccreds()
        .args([
            "watch",
            "examples",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--store",
            &format!("sqlite://{}", tmp.path().join("s.db").display()),
        ])
        .args([
            "--bigcommerce-base-url",
            "http://127.0.0.1:9",
            "--max-retries",
            "0",
        ])
        .args(["--secrets-dir", "examples/secrets"])
        .env("BC_OUTLET_ACCESS_TOKEN", "tok-a")
        .env("BC_STAGING_ACCESS_TOKEN", "tok-b")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let started = Instant::now();
    let metrics = loop {
        if let Some(text) = get(port, "/metrics").filter(|t| t.contains("bccreds_passes_total 1")) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no first pass");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let families: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(families.len() >= 7, "{metrics}");
    for family in &families {
        assert!(
            doc.contains(&format!("`{family}`")),
            "{family} is not in docs/metrics.md"
        );
    }
    // Every label name and value served is named on the page.
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        if let Some((_, labels)) = line.split_once('{') {
            let labels = labels.split('}').next().unwrap_or_default();
            for pair in labels.split(',') {
                let (name, value) = pair.split_once('=').expect("name=value");
                let value = value.trim_matches('"');
                assert!(doc.contains(&format!("`{name}`")), "label {name}: {line}");
                assert!(
                    doc.contains(&format!("`{value}`")) || name == "status",
                    "label value {value}: {line}"
                );
            }
        }
    }
    // The controller's own family is documented too (served by `controller` only).
    assert!(doc.contains("`bccreds_leader`"));
}
