//! `bccreds verify` end to end against an in-process simulator: output, exit codes, refusing
//! unsafe URLs before any request, and never printing the token, even at trace level.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use bccreds::simulator::Simulator;
use common::{Manifest, Source};

const TOKEN: &str = "tok-CLI-LEAK-0e4d9b3a21";

const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Demo Store
    currencies: [{code: USD}, {code: EUR}]
tokens:
  - token: tok-CLI-LEAK-0e4d9b3a21
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
"#;

async fn start() -> Simulator {
    common::simulator(FIXTURE).await
}

async fn verify(sim: &Simulator, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::bccreds();
    cmd.arg("verify")
        .arg(dir)
        .args([
            "--bigcommerce-base-url",
            &sim.base_url(),
            "--retry-base-delay",
            "10ms",
        ])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("bccreds runs"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prints_each_outcome_and_exits_1_on_any_failure() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    Manifest::new("good")
        .token(Source::env("BC_TOKEN"))
        .write(dir.path().join("good.yaml"));
    let out = verify(&sim, dir.path(), &[], &[("BC_TOKEN", TOKEN)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "ok   Verified: default/good (good): verified with BigCommerce store \"Demo Store\" (abc123)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("1 verified, 0 failed, 0 skipped\n"),
        "{stdout}"
    );
    // The credential is named once, not again at the start of the message.
    assert!(!stdout.contains("default/good: "), "{stdout}");

    Manifest::new("bad")
        .token(Source::env("BC_TOKEN"))
        .currency_mapping(&[("JPY", "JPY")])
        .write(dir.path().join("bad.yaml"));
    let out = verify(
        &sim,
        dir.path(),
        &["--output", "json"],
        &[("BC_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"verified": 1, "failed": 1, "skipped": 0})
    );
    let bad = &json["items"][0];
    assert_eq!(bad["name"], "bad");
    assert_eq!(bad["reason"], "MappingInvalid");
    assert_eq!(bad["status"], "False");
    assert_eq!(bad["result"], "failed");
    assert_eq!(json["items"][1]["result"], "verified");
    assert!(bad["message"]
        .as_str()
        .unwrap_or_default()
        .contains("the store's currencies: USD, EUR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_api_urls_are_refused_before_any_request() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, url) in [
        ("plain-http", "http://api.bigcommerce.com/stores/abc123/"),
        (
            "other-host",
            "https://api.bigcommerce.evil.example/stores/abc123/",
        ),
        (
            "loopback",
            &format!("https://{}/stores/abc123/", sim.addr()),
        ),
    ] {
        Manifest::new(name)
            .api_url(url)
            .token(Source::env("BC_TOKEN"))
            .write(dir.path().join(format!("{name}.yaml")));
    }
    let out = verify(&sim, dir.path(), &[], &[("BC_TOKEN", TOKEN)]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = common::all_output(&out);
    // Each is a diagnostic on stderr, as validate prints it, and a failed item on stdout.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("$.spec.apiUrl").count(), 3, "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("FAIL InvalidSpec: ").count(), 3, "{text}");
    assert!(
        stdout.ends_with("\n0 verified, 3 failed, 0 skipped\n"),
        "{text}"
    );
    assert!(
        sim.requests().is_empty(),
        "the simulator saw {:?}",
        sim.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_output_or_trace_logs() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    fs::create_dir(&secrets).expect("mkdir");
    fs::write(secrets.join("token"), format!("{TOKEN}\n")).expect("w");
    let manifests = dir.path().join("manifests");
    fs::create_dir(&manifests).expect("mkdir");
    Manifest::new("from-env")
        .token(Source::env("BC_TOKEN"))
        .write(manifests.join("env.yaml"));
    Manifest::new("from-file")
        .token(Source::file("token"))
        .write(manifests.join("file.yaml"));
    fs::write(
        manifests.join("ref.yaml"),
        Manifest::new("from-ref").token(Source::secret("bc", "token")).render()
            + &format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\nstringData:\n  token: {TOKEN}\n"),
    )
    .expect("w");
    // A wrong token and a store that does not exist produce error paths too.
    Manifest::new("wrong")
        .token(Source::env("BC_WRONG"))
        .write(manifests.join("wrong.yaml"));
    Manifest::new("nostore")
        .api_url("https://api.bigcommerce.com/stores/zzz999/")
        .token(Source::env("BC_TOKEN"))
        .write(manifests.join("nostore.yaml"));
    let secrets_arg = secrets.display().to_string();
    for output in ["text", "json"] {
        let out = verify(
            &sim,
            &manifests,
            &["--secrets-dir", &secrets_arg, "--output", output],
            &[
                ("BC_TOKEN", TOKEN),
                ("BC_WRONG", "tok-CLI-LEAK-wrong"),
                ("RUST_LOG", "trace"),
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        let text = common::all_output(&out);
        assert!(
            text.contains("TRACE") || text.contains("DEBUG"),
            "trace logging was not on:\n{text}"
        );
        assert!(
            text.contains("InvalidToken") && text.contains("StoreNotFound"),
            "{text}"
        );
        assert_eq!(
            text.matches("verified with BigCommerce").count(),
            3,
            "{text}"
        );
        assert!(
            !text.contains("CLI-LEAK"),
            "a token leaked with --output {output}:\n{text}"
        );
    }
}

/// What `echo VALUE | base64` makes.
fn echo_base64(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{value}\n"))
}

fn secret_doc(field: &str, value: &str) -> String {
    format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\n{field}:\n  token: \"{value}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_secrets_are_refused_before_any_request() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    fs::create_dir(&secrets).expect("mkdir");
    fs::write(secrets.join("empty"), "").expect("w");
    fs::write(secrets.join("newline"), "\n").expect("w");
    let secrets_arg = secrets.display().to_string();
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let cases = [
        (
            Manifest::new("a")
                .token(Source::env("BC_EMPTY_TOKEN"))
                .render(),
            "accessToken: env BC_EMPTY_TOKEN is empty",
        ),
        (
            Manifest::new("a")
                .token(Source::env("BC_NEWLINE_TOKEN"))
                .render(),
            "accessToken: env BC_NEWLINE_TOKEN is empty",
        ),
        (
            Manifest::new("a").token(Source::file("empty")).render(),
            "accessToken: file empty is empty",
        ),
        (
            Manifest::new("a").token(Source::file("newline")).render(),
            "accessToken: file newline is empty",
        ),
        (
            Manifest::new("a")
                .token(Source::secret("bc", "token"))
                .render()
                + &secret_doc("stringData", ""),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            Manifest::new("a")
                .token(Source::secret("bc", "token"))
                .render()
                + &secret_doc("data", ""),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            Manifest::new("a")
                .token(Source::secret("bc", "token"))
                .render()
                + &secret_doc("data", &echo_base64("")),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            Manifest::new("a")
                .token(Source::env("BC_TOKEN"))
                .client_secret(Source::env("BC_EMPTY_TOKEN"))
                .render(),
            "clientSecret: env BC_EMPTY_TOKEN is empty",
        ),
    ];
    for (text, message) in cases {
        fs::write(manifests.join("a.yaml"), &text).expect("w");
        sim.clear_requests();
        let out = verify(
            &sim,
            &manifests,
            &["--secrets-dir", &secrets_arg],
            &[
                ("BC_TOKEN", TOKEN),
                ("BC_EMPTY_TOKEN", ""),
                ("BC_NEWLINE_TOKEN", "\n"),
            ],
        )
        .await;
        let all = common::all_output(&out);
        assert_eq!(out.status.code(), Some(1), "{message}:\n{all}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "FAIL SecretNotFound: default/a (a): {message}\n0 verified, 1 failed, 0 skipped\n"
            ),
        );
        assert!(
            sim.requests().is_empty(),
            "{message}: the simulator saw {:?}",
            sim.requests()
        );
        assert!(!all.contains("CLI-LEAK"), "{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_data_made_with_echo_base64_verifies_without_its_newline() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("a.yaml"),
        Manifest::new("a")
            .token(Source::secret("bc", "token"))
            .render()
            + &secret_doc("data", &echo_base64(TOKEN)),
    )
    .expect("w");
    let out = verify(&sim, dir.path(), &[], &[]).await;
    let all = common::all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("1 verified, 0 failed, 0 skipped\n"),
        "{all}"
    );
    assert!(!all.contains("CLI-LEAK"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_token_is_skipped_and_invalid_manifests_are_failed_items() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    Manifest::new("good")
        .token(Source::env("BC_TOKEN"))
        .write(dir.path().join("good.yaml"));
    // `**********` keeps the stored token: without a store there is nothing to verify.
    Manifest::new("kept")
        .token(Source::env("BC_KEEP"))
        .write(dir.path().join("kept.yaml"));
    let env = [("BC_TOKEN", TOKEN), ("BC_KEEP", "**********")];
    let out = verify(&sim, dir.path(), &[], &env).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    assert!(
        stdout.contains(
            "\nskip NotVerified: default/kept (kept): the manifest keeps the stored access token"
        ),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\n1 verified, 0 failed, 1 skipped\n"),
        "{stdout}"
    );

    // An invalid manifest is a failed item with its reason, in JSON as in text.
    Manifest::new("invalid")
        .api_url("http://api.bigcommerce.com/stores/abc123/")
        .token(Source::env("BC_TOKEN"))
        .write(dir.path().join("invalid.yaml"));
    let out = verify(&sim, dir.path(), &["--output", "json"], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"verified": 1, "failed": 1, "skipped": 1})
    );
    let invalid = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["name"] == "invalid")
        .expect("the invalid manifest is an item");
    assert_eq!(invalid["result"], "failed");
    assert_eq!(invalid["verified"], false);
    assert_eq!(invalid["reason"], "InvalidSpec");
    assert!(
        invalid["message"]
            .as_str()
            .is_some_and(|m| m.contains("https")),
        "{invalid}"
    );
    let kept = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["name"] == "kept")
        .expect("kept");
    assert_eq!(kept["result"], "skipped");
    let out = verify(&sim, dir.path(), &[], &env).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("\nFAIL InvalidSpec: default/invalid (invalid): "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\n1 verified, 1 failed, 1 skipped\n"),
        "{stdout}"
    );
    assert!(!common::all_output(&out).contains("CLI-LEAK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_run_does_not_promise_a_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    Manifest::new("a")
        .token(Source::env("BC_TOKEN"))
        .write(dir.path().join("a.yaml"));
    // Nothing listens on a port just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut cmd = common::bccreds();
    cmd.arg("verify")
        .arg(dir.path())
        .args(["--bigcommerce-base-url", &base_url, "--max-retries", "0"])
        .env("BC_TOKEN", TOKEN);
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
    assert!(
        stdout.starts_with(
            "FAIL Unreachable: default/a (a): BigCommerce could not be reached for store abc123"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("nothing was changed; run the command again later"),
        "{stdout}"
    );
    assert!(!common::all_output(&out).contains("retried"), "{stdout}");
}
