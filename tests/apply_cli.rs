//! `bccreds plan` and `bccreds apply`: output, the summary line, exit codes, and no secrets.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use bccreds::simulator::Simulator;
use common::{Manifest, Source};

const TOKEN: &str = "tok-APPLY-LEAK-5f1e2d";

async fn start() -> Simulator {
    common::simulator(&common::one_store("Demo", &[TOKEN])).await
}

async fn bccreds(sim: &Simulator, db: &Path, args: &[&str]) -> Output {
    bccreds_with(sim, db, args, &[]).await
}

/// `bccreds` with more environment variables.
async fn bccreds_with(sim: &Simulator, db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::bccreds();
    cmd.args(args)
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .env("BC_GOOD_TOKEN", TOKEN)
        .env("BC_BAD_TOKEN", "tok-APPLY-LEAK-wrong");
    for (k, v) in env {
        cmd.env(k, v);
    }
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
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    let m = manifests.display().to_string();

    let plan = bccreds(&sim, &db, &["plan", &m]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", common::all_output(&plan));
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout),
        "Create    default/alpha (alpha): new: verify and create\nPlan: 1 to create, 0 to update, 0 to delete, 0 to orphan, 0 unchanged, 0 failing\n"
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
        .ends_with("1 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed\n"));

    Manifest::new("beta")
        .token(Source::env("BC_BAD_TOKEN"))
        .write(manifests.join("b.yaml"));
    let apply = bccreds(&sim, &db, &["apply", "--output", "json", &m]).await;
    assert_eq!(apply.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&apply.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"created": 0, "updated": 0, "adopted": 0, "deleted": 0, "orphaned": 0, "unchanged": 1, "failed": 1})
    );
    assert_eq!(json["items"][1]["name"], "beta");
    assert_eq!(json["items"][1]["reason"], "InvalidToken");
    // The action attempted, and what came of it.
    assert_eq!(json["items"][1]["action"], "Create");
    assert_eq!(json["items"][1]["result"], "failed");
    assert_eq!(json["items"][0]["action"], "Unchanged");
    assert_eq!(json["items"][0]["result"], "unchanged");
    let keys: Vec<&String> = json["items"][0].as_object().expect("item").keys().collect();
    assert_eq!(
        keys,
        [
            "action",
            "label",
            "message",
            "name",
            "namespace",
            "reason",
            "result"
        ]
    );
    // The text line says that it failed, and what was attempted; the message does not repeat
    // the credential's name.
    let apply = bccreds(&sim, &db, &["apply", &m]).await;
    let stdout = String::from_utf8_lossy(&apply.stdout).into_owned();
    assert_eq!(apply.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("Failed    default/beta (beta): create: BigCommerce rejected the access token for store abc123 (401); "),
        "{stdout}"
    );
    assert!(!stdout.contains("default/beta: "), "{stdout}");
    assert!(
        stdout.ends_with("\n0 created, 0 updated, 0 deleted, 0 orphaned, 1 unchanged, 1 failed\n"),
        "{stdout}"
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
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.path().join("a.yaml"));
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
            .env("BC_GOOD_TOKEN", TOKEN)
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
        .env("BC_GOOD_TOKEN", TOKEN)
        .output()
        .expect("runs");
    assert_eq!(plan.status.code(), Some(0), "{}", common::all_output(&plan));
    assert!(String::from_utf8_lossy(&plan.stdout).contains("Plan: 1 to create,"));
}

/// The rows bccreds manages in `db`: (label, access token, active).
async fn rows(db: &Path) -> Vec<(String, String, bool)> {
    let store = bccreds::store::Store::open_existing(bccreds::store::StoreOptions {
        url: format!("sqlite://{}", db.display()),
        table_prefix: String::new(),
        encryption: bccreds::store::Encryption::KeyFile,
    })
    .await
    .expect("store");
    let rows = store
        .owned("bccreds")
        .await
        .expect("owned")
        .into_iter()
        .filter_map(|(_, row)| row)
        .map(|row| {
            (
                row.data.label,
                row.data.access_token.expose().to_string(),
                row.data.active,
            )
        })
        .collect();
    store.close().await;
    rows
}

fn assert_no_leak(out: &Output) {
    let text = common::all_output(out);
    assert!(!text.contains("APPLY-LEAK"), "a token leaked:\n{text}");
}

/// What `echo VALUE | base64` makes.
fn echo_base64(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{value}\n"))
}

fn credential_with(token_source: &str, extra_spec: &str, secret_doc: &str) -> String {
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: alpha\nspec:\n  label: alpha\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    {token_source}\n{extra_spec}{secret_doc}"
    )
}

fn secret_doc(field: &str, value: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\n{field}:\n  token: \"{value}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_secrets_are_refused_before_any_request_and_the_row_keeps_its_token() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    let secrets = dir.path().join("secrets");
    fs::create_dir(&manifests).expect("mkdir");
    fs::create_dir(&secrets).expect("mkdir");
    fs::write(secrets.join("empty"), "").expect("w");
    fs::write(secrets.join("newline"), "\n").expect("w");
    let db = dir.path().join("s.db");
    let m = manifests.display().to_string();
    let s = secrets.display().to_string();
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    let created = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        common::all_output(&created)
    );
    let stored = vec![("alpha".to_string(), TOKEN.to_string(), true)];
    assert_eq!(rows(&db).await, stored);

    let by_ref = "secretKeyRef: {name: bc, key: token}";
    let cases = [
        (
            credential_with("env: BC_EMPTY_TOKEN", "", ""),
            "accessToken: env BC_EMPTY_TOKEN is empty",
        ),
        (
            credential_with("env: BC_NEWLINE_TOKEN", "", ""),
            "accessToken: env BC_NEWLINE_TOKEN is empty",
        ),
        (
            credential_with("file: empty", "", ""),
            "accessToken: file empty is empty",
        ),
        (
            credential_with("file: newline", "", ""),
            "accessToken: file newline is empty",
        ),
        (
            credential_with(by_ref, "", &secret_doc("stringData", "")),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            credential_with(by_ref, "", &secret_doc("stringData", "\\n")),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            credential_with(by_ref, "", &secret_doc("data", "")),
            "accessToken: Secret default/bc key token is empty",
        ),
        // `echo | base64`: a lone newline.
        (
            credential_with(by_ref, "", &secret_doc("data", &echo_base64(""))),
            "accessToken: Secret default/bc key token is empty",
        ),
        (
            credential_with(
                "env: BC_GOOD_TOKEN",
                "  clientSecret:\n    file: empty\n",
                "",
            ),
            "clientSecret: file empty is empty",
        ),
    ];
    for (text, message) in cases {
        fs::write(manifests.join("a.yaml"), &text).expect("w");
        sim.clear_requests();
        let mut outs = Vec::new();
        for extra in [&[][..], &["--reverify-interval", "0s"][..]] {
            let mut cmd = common::bccreds();
            cmd.args(["apply", &m, "--secrets-dir", &s])
                .args(extra)
                .args(["--bigcommerce-base-url", &sim.base_url()])
                .args(["--store", &format!("sqlite://{}", db.display())])
                .env("BC_GOOD_TOKEN", TOKEN)
                .env("BC_EMPTY_TOKEN", "")
                .env("BC_NEWLINE_TOKEN", "\n");
            outs.push(
                tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
                    .await
                    .expect("join"),
            );
        }
        for out in &outs {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{message}:\n{stdout}");
            assert!(
                stdout.contains(&format!(
                    "Failed    default/alpha (alpha): {message}; the stored row is kept as it is\n"
                )),
                "{message}:\n{stdout}"
            );
            assert!(
                stdout.ends_with(
                    "0 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 1 failed\n"
                ),
                "{stdout}"
            );
            assert_no_leak(out);
        }
        assert!(
            sim.requests().is_empty(),
            "{message}: the simulator saw {:?}",
            sim.requests()
        );
        assert_eq!(rows(&db).await, stored, "{message}: the row changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_data_made_with_echo_base64_loses_its_newline() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    fs::write(
        manifests.join("a.yaml"),
        credential_with(
            "secretKeyRef: {name: bc, key: token}",
            "",
            &secret_doc("data", &echo_base64(TOKEN)),
        ),
    )
    .expect("w");
    let out = bccreds(&sim, &db, &["apply", &manifests.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    assert!(String::from_utf8_lossy(&out.stdout)
        .ends_with("1 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed\n"));
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), true)]
    );
    assert_no_leak(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_whatever_on_revoked_does_to_the_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    let m = manifests.display().to_string();
    let summary = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    let failed = "0 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 1 failed";

    // --on-revoked keep: the row stays active, and every run fails.
    let sim = start().await;
    let db = dir.path().join("keep.db");
    let out = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    sim.revoke_token(TOKEN);
    for extra in [&["--reverify-interval", "0s"][..], &[][..]] {
        let args = [&["apply", &m, "--on-revoked", "keep"][..], extra].concat();
        let out = bccreds(&sim, &db, &args).await;
        assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
        assert_eq!(summary(&out), failed, "{}", common::all_output(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("rejected the access token"),
            "{}",
            common::all_output(&out)
        );
        assert_no_leak(&out);
    }
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), true)]
    );

    // --on-revoked deactivate: the row is marked inactive, and the run still fails.
    let sim = start().await;
    let db = dir.path().join("deactivate.db");
    let out = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    sim.revoke_token(TOKEN);
    let deactivate = [
        "apply",
        &m,
        "--reverify-interval",
        "0s",
        "--on-revoked",
        "deactivate",
    ];
    let out = bccreds(&sim, &db, &deactivate).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("Failed    default/alpha (alpha): reverify: token revoked, the row was marked inactive (--on-revoked deactivate): "),
        "{stdout}"
    );
    assert_eq!(summary(&out), failed, "{stdout}");
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), false)]
    );
    assert_no_leak(&out);

    // The same command again: still a failure, and the row is not flipped back.
    let out = bccreds(&sim, &db, &deactivate).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(
            "Failed    default/alpha (alpha): reverify: token revoked, the row stays inactive (--on-revoked deactivate): "
        ),
        "{stdout}"
    );
    assert_eq!(summary(&out), failed, "{stdout}");
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), false)]
    );

    // Before the re-verify interval nothing is asked, and the run still fails.
    sim.clear_requests();
    let out = bccreds(&sim, &db, &["apply", &m, "--on-revoked", "deactivate"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("token revoked"), "{stdout}");
    assert_eq!(summary(&out), failed, "{stdout}");
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), false)]
    );
    assert_no_leak(&out);

    // Once BigCommerce accepts the token again (a store where it is not revoked), the row is
    // active again and the run succeeds.
    let healed = start().await;
    let out = bccreds(&healed, &db, &deactivate).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        summary(&out),
        "0 created, 1 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed",
        "{stdout}"
    );
    assert_eq!(
        rows(&db).await,
        [("alpha".to_string(), TOKEN.to_string(), true)]
    );
    let out = bccreds(&healed, &db, &deactivate).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    assert_eq!(
        summary(&out),
        "0 created, 0 updated, 0 deleted, 0 orphaned, 1 unchanged, 0 failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_empty_on_an_emptied_directory_deletes_the_rows_and_exits_0() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    let m = manifests.display().to_string();
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    let out = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    fs::remove_file(manifests.join("a.yaml")).expect("rm");

    // Without --allow-empty the guard keeps the row, and the run fails.
    let out = bccreds(&sim, &db, &["apply", &m]).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no *.yaml or *.yml files found"), "{text}");
    assert!(text.contains("pass --allow-empty to delete them"), "{text}");
    assert_eq!(rows(&db).await.len(), 1, "the guard keeps the row");

    // With it, the rows go as asked, and nothing failed.
    let out = bccreds(&sim, &db, &["apply", "--allow-empty", &m]).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(String::from_utf8_lossy(&out.stdout)
        .ends_with("0 created, 0 updated, 1 deleted, 0 orphaned, 0 unchanged, 0 failed\n"));
    assert!(rows(&db).await.is_empty(), "{text}");

    // A problem other than the empty tree still fails the pass, --allow-empty or not.
    fs::write(
        manifests.join("broken.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\ndata:\n  token: \"%%%\"\n",
    )
    .expect("w");
    let out = bccreds(&sim, &db, &["apply", "--allow-empty", &m]).await;
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_source_outside_env_allow_is_refused_before_anything_is_read_or_stored() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    // The reconciler's own APP_KEY, copied into the plaintext clientId column UnoPim shows.
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .client_id_from(Source::env("APP_KEY"))
        .write(manifests.join("a.yaml"));
    let m = manifests.display().to_string();
    let app_key = [("APP_KEY", "APPLY-LEAK-0123456789abcdefghijk")];
    let out = bccreds_with(&sim, &db, &["apply", &m], &app_key).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--env-allow APP_KEY"), "{text}");
    assert_no_leak(&out);
    assert!(sim.requests().is_empty(), "nothing was verified");
    assert!(rows(&db).await.is_empty(), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_longer_than_their_columns_are_refused_before_any_request_on_sqlite_too() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .client_id_from(Source::env("BC_LONG_ID"))
        .write(manifests.join("a.yaml"));
    let m = manifests.display().to_string();
    let id_value = "i".repeat(300);
    let out = bccreds_with(&sim, &db, &["apply", &m], &[("BC_LONG_ID", &id_value)]).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "clientId from env BC_LONG_ID is 300 characters; the store's column holds 255"
        ),
        "{text}"
    );
    assert!(sim.requests().is_empty(), "refused before verification");
    assert!(rows(&db).await.is_empty(), "nothing was stored");

    // An owner id longer than owner_id is a usage error, before the store is opened.
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    let owner = "o".repeat(256);
    let out = bccreds(&sim, &db, &["apply", &m, "--owner", &owner]).await;
    let text = common::all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("is 256 characters; the store's owner_id column holds 255"),
        "{text}"
    );
    assert!(sim.requests().is_empty());
    let fits = "o".repeat(255);
    let out = bccreds(&sim, &db, &["apply", &m, "--owner", &fits]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_is_counted_apart_and_a_plan_speaks_of_intent() {
    let sim = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    let db = dir.path().join("s.db");
    let m = manifests.display().to_string();
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .deletion_policy("Orphan")
        .write(manifests.join("a.yaml"));
    Manifest::new("beta")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("b.yaml"));
    Manifest::new("gamma")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("c.yaml"));
    let out = bccreds(&sim, &db, &["apply", &m]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Created   default/alpha (alpha): verified with BigCommerce store \"Demo\" (abc123); capabilities: products:read; created the row\n\
         Created   default/beta (beta): verified with BigCommerce store \"Demo\" (abc123); capabilities: products:read; created the row\n\
         Created   default/gamma (gamma): verified with BigCommerce store \"Demo\" (abc123); capabilities: products:read; created the row\n\
         3 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed\n",
        "{}",
        common::all_output(&out)
    );
    fs::remove_file(manifests.join("a.yaml")).expect("rm");
    fs::remove_file(manifests.join("b.yaml")).expect("rm");

    // The plan says what would happen; its summary is the last line. Unchanged credentials
    // are counted, and listed only with -v.
    let plan = bccreds(&sim, &db, &["plan", "-v", &m]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", common::all_output(&plan));
    assert_eq!(
        String::from_utf8_lossy(&plan.stdout),
        "warning: 2 credentials would be deleted or orphaned\n\
         Orphan    default/alpha (alpha): the manifest is gone and its deletion policy is Orphan: the row is kept and no longer managed\n\
         Delete    default/beta (beta): the manifest is gone: the row is deleted\n\
         Unchanged default/gamma (gamma): unchanged since the last verification\n\
         Plan: 0 to create, 0 to update, 1 to delete, 1 to orphan, 1 unchanged, 0 failing\n"
    );
    let quiet = bccreds(&sim, &db, &["plan", &m]).await;
    let quiet = String::from_utf8_lossy(&quiet.stdout);
    assert!(!quiet.contains("Unchanged"), "{quiet}");
    assert!(quiet.ends_with("1 unchanged, 0 failing\n"), "{quiet}");
    let plan = bccreds(&sim, &db, &["plan", "--output", "json", &m]).await;
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"created": 0, "updated": 0, "adopted": 0, "deleted": 1, "orphaned": 1, "unchanged": 1, "failed": 0})
    );
    // Nothing has come of a plan yet.
    assert_eq!(json["items"][0]["action"], "Orphan");
    assert!(json["items"][0].get("result").is_none(), "{json}");

    // The pass releases one row and deletes the other, and says which.
    let out = bccreds(&sim, &db, &["apply", "--output", "json", &m]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["summary"],
        serde_json::json!({"created": 0, "updated": 0, "adopted": 0, "deleted": 1, "orphaned": 1, "unchanged": 1, "failed": 0})
    );
    let results: Vec<(&str, &str)> = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["action"].as_str().unwrap_or_default(),
                i["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("Orphan", "orphaned"),
            ("Delete", "deleted"),
            ("Unchanged", "unchanged")
        ]
    );
    // The orphaned row stays, no longer managed; the deleted one is gone.
    let list = common::bccreds()
        .args(["list", "--output", "json"])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let labels: Vec<&str> = listed
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["label"].as_str())
        .collect();
    assert_eq!(labels, ["alpha", "gamma"], "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_apply_does_not_promise_a_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("m");
    fs::create_dir(&manifests).expect("mkdir");
    Manifest::new("alpha")
        .token(Source::env("BC_GOOD_TOKEN"))
        .write(manifests.join("a.yaml"));
    // Nothing listens on a port just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let out = common::bccreds()
        .args(["apply", &manifests.display().to_string()])
        .args(["--bigcommerce-base-url", &base_url, "--max-retries", "0"])
        .args([
            "--store",
            &format!("sqlite://{}", dir.path().join("s.db").display()),
        ])
        .env("BC_GOOD_TOKEN", TOKEN)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", common::all_output(&out));
    assert!(
        stdout.starts_with(
            "Failed    default/alpha (alpha): create: BigCommerce could not be reached for store abc123"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("retried"), "{stdout}");
    assert!(
        stdout.ends_with("\n0 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 1 failed\n"),
        "{stdout}"
    );
}
