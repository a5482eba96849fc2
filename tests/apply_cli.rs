//! `bccreds plan` and `bccreds apply`: output, the summary line, exit codes, and no secrets.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use bccreds::simulator::{Fixture, Simulator};

const TOKEN: &str = "tok-APPLY-LEAK-5f1e2d";

async fn start() -> Simulator {
    let fixture = format!(
        "stores:\n  - hash: abc123\n    name: Demo\ntokens:\n  - token: {TOKEN}\n    store: abc123\n    scopes: [store_v2_information_read_only, store_v2_products_read_only]\n"
    );
    Simulator::start(
        Fixture::from_yaml(&fixture, "t").expect("fixture"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sim")
}

fn manifest(name: &str, env: &str) -> String {
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: {name}\nspec:\n  label: {name}\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    env: {env}\n"
    )
}

async fn bccreds(sim: &Simulator, db: &Path, args: &[&str]) -> Output {
    let mut cmd = common::bccreds();
    cmd.args(args)
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .env("GOOD_TOKEN", TOKEN)
        .env("BAD_TOKEN", "tok-APPLY-LEAK-wrong");
    tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_apply_then_a_failure() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    fs::write(manifests.join("a.yaml"), manifest("alpha", "GOOD_TOKEN")).expect("w");
    let m = manifests.display().to_string();

    let plan = bccreds(&sim, &db, &["plan", &m]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", common::all_output(&plan));
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout),
        "Create    default/alpha (alpha): new: verify and create\n1 created, 0 updated, 0 deleted, 0 unchanged, 0 failed\n"
    );
    assert!(sim.requests().is_empty(), "plan calls no one");

    let apply = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        common::all_output(&apply)
    );
    assert!(String::from_utf8_lossy(&apply.stdout)
        .ends_with("1 created, 0 updated, 0 deleted, 0 unchanged, 0 failed\n"));

    fs::write(manifests.join("b.yaml"), manifest("beta", "BAD_TOKEN")).expect("w");
    let apply = bccreds(&sim, &db, &["apply", "--output", "json", &m]).await;
    assert_eq!(apply.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&apply.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"created": 0, "updated": 0, "deleted": 0, "unchanged": 1, "failed": 1})
    );
    assert_eq!(json["items"][1]["name"], "beta");
    assert_eq!(json["items"][1]["reason"], "InvalidToken");
    let keys: Vec<&String> = json["items"][0].as_object().expect("item").keys().collect();
    assert_eq!(
        keys,
        ["action", "label", "message", "name", "namespace", "reason"]
    );

    for out in [&plan, &apply] {
        assert!(
            !common::all_output(out).contains("APPLY-LEAK"),
            "{}",
            common::all_output(out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("s.db");
    let missing = bccreds(&sim, &db, &["apply", "/no/such/dir"]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(common::all_output(&missing).contains("/no/such/dir: no such file or directory"));
    let bad_flag = bccreds(&sim, &db, &["apply", "--on-revoked", "explode", "."]).await;
    assert_eq!(bad_flag.status.code(), Some(2));
    let no_paths = common::run(&["apply"]);
    assert_eq!(no_paths.status.code(), Some(2));
}

#[test]
fn reading_commands_in_an_empty_directory_leave_it_empty() {
    let cwd = tempfile::tempdir().expect("cwd");
    let manifests = tempfile::tempdir().expect("manifests");
    fs::write(
        manifests.path().join("a.yaml"),
        manifest("alpha", "GOOD_TOKEN"),
    )
    .expect("w");
    let m = manifests.path().display().to_string();
    // The default store is sqlite://bccreds.db in the working directory.
    for args in [
        vec!["list"],
        vec!["list", "--table-prefix", "x_"],
        vec!["plan", &m],
        vec!["status", "--url", "http://127.0.0.1:9"],
        vec![
            "verify",
            &m,
            "--bigcommerce-base-url",
            "http://127.0.0.1:9",
            "--max-retries",
            "0",
        ],
        vec!["validate", &m],
    ] {
        let out = common::bccreds()
            .args(&args)
            .current_dir(cwd.path())
            .env("GOOD_TOKEN", TOKEN)
            .output()
            .expect("runs");
        let left: Vec<String> = fs::read_dir(cwd.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.is_empty(),
            "`bccreds {}` left {left:?} behind:\n{}",
            args.join(" "),
            common::all_output(&out)
        );
    }
    // `plan` against no store plans creations, as against an empty one.
    let plan = common::bccreds()
        .args(["plan", &m])
        .current_dir(cwd.path())
        .env("GOOD_TOKEN", TOKEN)
        .output()
        .expect("runs");
    assert_eq!(plan.status.code(), Some(0), "{}", common::all_output(&plan));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("1 created"));
}
