//! The simulator at benchmark scale: 100,000 stores from a `generate` section or a JSON fixture,
//! and errors that name the real limit when one is hit.

mod common;
mod simulator_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use bccreds::simulator::{Fixture, FIXTURE_MAX_NODES, MAX_GENERATED_STORES};
use common::sim::SCOPES;
use simulator_support::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generate_section_makes_100000_stores() {
    let yaml = format!(
        "generate:\n  - count: 100000\n    hash: gen{{i}}\n    name: Store {{i}}\n    token: tok-gen-{{i}}\n    scopes: {SCOPES}\n    quota: 1000000\nstores:\n  - hash: hand1\n    name: By hand\n"
    );
    let fixture = Fixture::from_yaml(&yaml, "big.yaml").expect("loads");
    assert_eq!(fixture.stores.len(), 100_001);
    assert_eq!(fixture.tokens.len(), 100_000);
    let sim = common::start_fixture(fixture).await;
    let response = get(&sim, "/stores/gen100000/v2/store", "tok-gen-100000").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["name"], "Store 100000");
    // Each store's token is its own.
    let other = get(&sim, "/stores/gen1/v2/store", "tok-gen-2").await;
    assert_eq!(other.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_serves_a_json_fixture_of_100000_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores: Vec<serde_json::Value> = (1..=100_000)
        .map(|i| serde_json::json!({"hash": format!("js{i}"), "name": format!("JSON store {i}")}))
        .collect();
    let tokens: Vec<serde_json::Value> = (1..=100_000)
        .map(|i| {
            serde_json::json!({"token": format!("tok-js-{i}"), "store": format!("js{i}"),
                "scopes": ["store_v2_information_read_only"]})
        })
        .collect();
    let path = dir.path().join("big.json");
    std::fs::write(
        &path,
        serde_json::json!({"stores": stores, "tokens": tokens}).to_string(),
    )
    .expect("write");
    let mut child = common::bccreds()
        .args([
            "simulate-bigcommerce",
            "--listen",
            "127.0.0.1:0",
            "--fixture",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("url line");
    let url = line.trim().to_string();
    bccreds::tls::install_crypto_provider();
    let response = reqwest::Client::new()
        .get(format!("{url}/stores/js99999/v2/store"))
        .header("X-Auth-Token", "tok-js-99999")
        .send()
        .await
        .expect("response");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["name"], "JSON store 99999");
}

#[test]
fn limits_are_named_when_hit() {
    // A YAML fixture past the node budget (here through aliases) says what the limit is and
    // what to use instead.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let e = Fixture::from_yaml(&bomb, "bomb.yaml").expect_err("over budget");
    let text = e.to_string();
    assert!(
        text.contains(&format!("more than {FIXTURE_MAX_NODES} YAML nodes")),
        "{text}"
    );
    assert!(
        text.contains("use a JSON file (*.json) or a `generate` section"),
        "{text}"
    );

    let over = format!(
        "generate:\n  - count: {}\n    hash: g{{i}}\n    token: t{{i}}\n",
        MAX_GENERATED_STORES + 1
    );
    let e = Fixture::from_yaml(&over, "over.yaml").expect_err("over the limit");
    assert!(
        e.to_string().contains(&format!(
            "generate[0].count {} is over the limit of {MAX_GENERATED_STORES} generated stores",
            MAX_GENERATED_STORES + 1
        )),
        "{e}"
    );
    let same = "generate:\n  - count: 2\n    hash: g\n    token: t{i}\n";
    let e = Fixture::from_yaml(same, "same.yaml").expect_err("one hash for two stores");
    assert!(
        e.to_string().contains("generate[0].hash `g` needs `{i}`"),
        "{e}"
    );
}
