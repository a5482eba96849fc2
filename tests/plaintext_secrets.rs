//! Secrets stay out of plaintext and out of BigCommerce's verdicts: a `clientId` equal to any
//! secret resolved in the same pass is refused (the column is shown on the credentials page and
//! printed by `export`), and a token with a control character is refused as an invalid spec
//! before any request, rather than reported as BigCommerce rejecting it.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use bccreds::simulator::Simulator;
use common::{Manifest, Source};
use serde_json::Value;

const TOKEN_A: &str = "tok-PLAIN-LEAK-aaaa";
const TOKEN_B: &str = "tok-PLAIN-LEAK-bbbb";

async fn simulator() -> Simulator {
    common::simulator(&common::one_store("Demo", &[TOKEN_A, TOKEN_B])).await
}

/// `bccreds apply --output json DIR` with the tokens in the environment.
async fn apply(sim: &Simulator, dir: &Path, env: &[(&str, &str)]) -> (Output, Value) {
    let mut cmd = common::bccreds();
    cmd.args(["apply", "--output", "json"])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .args([
            "--store",
            &format!("sqlite://{}", dir.join("s.db").display()),
        ])
        .args(["--secrets-dir", &dir.join("secrets").display().to_string()])
        .arg(dir.join("m"))
        .env("BC_A_TOKEN", TOKEN_A)
        .env("BC_B_TOKEN", TOKEN_B);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

fn item<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no item {name}: {report:#}"))
}

/// Every clientId the store holds, read with the page's own reader (`export` prints them).
fn stored_client_ids(dir: &Path) -> String {
    let out = common::bccreds()
        .args([
            "export",
            "--store",
            &format!("sqlite://{}", dir.join("s.db").display()),
        ])
        .output()
        .expect("export");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_that_copies_a_secret_is_refused_and_nothing_lands_in_the_clear() {
    let sim = simulator().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fs::create_dir_all(dir.join("m")).expect("mkdir");
    fs::create_dir_all(dir.join("secrets")).expect("mkdir");
    fs::write(dir.join("secrets/a-token"), TOKEN_A).expect("w");
    let b = Manifest::new("b").token(Source::env("BC_B_TOKEN"));
    b.clone().client_id("client-b").write(dir.join("m/b.yaml"));
    // Another credential's token through env, its own token through a file, and inline.
    let copies = [
        (
            "from-env",
            Manifest::new("from-env")
                .token(Source::env("BC_A_TOKEN"))
                .client_id_from(Source::env("BC_B_TOKEN")),
            "the accessToken of default/b",
        ),
        (
            "from-file",
            Manifest::new("from-file")
                .token(Source::env("BC_A_TOKEN"))
                .client_id_from(Source::file("a-token")),
            "this credential's own accessToken",
        ),
        (
            "inline",
            Manifest::new("inline")
                .token(Source::env("BC_B_TOKEN"))
                .client_id(TOKEN_A),
            "the accessToken of default/",
        ),
    ];
    for (name, manifest, _) in &copies {
        manifest.write(dir.join(format!("m/{name}.yaml")));
    }
    sim.clear_requests();
    let (out, report) = apply(&sim, dir, &[]).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(report["summary"]["created"], 1, "{report:#}");
    assert_eq!(report["summary"]["failed"], 3, "{report:#}");
    for (name, _, whose) in &copies {
        let it = item(&report, name);
        assert_eq!(it["reason"], "InvalidSpec", "{it:#}");
        let message = it["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("clientId equals a secret") && message.contains(whose),
            "{it:#}"
        );
    }
    assert!(!text.contains("PLAIN-LEAK"), "a secret was printed: {text}");
    // Only b verified: the refused ones were never sent anywhere.
    let probes = sim
        .requests()
        .iter()
        .filter(|r| r.path == "v2/store")
        .count();
    assert_eq!(probes, 1, "{:?}", sim.requests());
    let ids = stored_client_ids(dir);
    assert!(
        ids.contains("client-b") && !ids.contains("PLAIN-LEAK"),
        "{ids}"
    );

    // A stored credential whose clientId becomes a copy keeps its row as it was.
    b.client_id_from(Source::env("BC_A_TOKEN"))
        .write(dir.join("m/b.yaml"));
    let (out, report) = apply(&sim, dir, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
    assert_eq!(item(&report, "b")["reason"], "InvalidSpec", "{report:#}");
    let ids = stored_client_ids(dir);
    assert!(
        ids.contains("client-b") && !ids.contains("PLAIN-LEAK"),
        "{ids}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_control_character_is_an_invalid_spec_and_no_request() {
    let sim = simulator().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    fs::create_dir_all(dir.join("m")).expect("mkdir");
    fs::create_dir_all(dir.join("secrets")).expect("mkdir");
    Manifest::new("ctl")
        .token(Source::env("BC_CTL_TOKEN"))
        .write(dir.join("m/ctl.yaml"));
    let (out, _) = apply(&sim, dir, &[("BC_CTL_TOKEN", TOKEN_A)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    let verified_at = |dir: &Path| {
        let out = common::bccreds()
            .args(["list", "--output", "json", "--store"])
            .arg(format!("sqlite://{}", dir.join("s.db").display()))
            .output()
            .expect("list");
        let rows: Value = serde_json::from_slice(&out.stdout).expect("json");
        rows[0]["lastVerified"].clone()
    };
    let before = verified_at(dir);
    assert!(before.is_string(), "{before}");

    for bad in [
        "tok-PLAIN-LEAK\u{1}x",
        "tok-PLAIN-LEAK\tx",
        "tok-PLAIN-LEAK\u{7f}",
    ] {
        sim.clear_requests();
        let (out, report) = apply(&sim, dir, &[("BC_CTL_TOKEN", bad)]).await;
        let text = common::all_output(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let it = item(&report, "ctl");
        assert_eq!(it["reason"], "InvalidSpec", "{it:#}");
        assert!(
            it["message"].as_str().is_some_and(
                |m| m.contains("accessToken from env BC_CTL_TOKEN contains control characters")
            ),
            "{it:#}"
        );
        assert!(
            sim.requests().is_empty(),
            "no request: {:?}",
            sim.requests()
        );
        assert!(!text.contains("PLAIN-LEAK"), "{text}");
        assert_eq!(verified_at(dir), before, "no verification was recorded");
    }
}
