//! What a pass may delete: only rows whose recorded manifest file lies inside the paths it
//! scanned (`apply one.yaml` never deletes what other files declare), nothing with
//! `--prune=false`, and rows recorded before sources were kept only by a directory pass.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use bccreds::simulator::Simulator;

const TOKEN: &str = "tok-PRUNE-7c1d";

async fn start() -> Simulator {
    common::simulator(&common::one_store("Demo", &[TOKEN])).await
}

fn credential(name: &str) -> String {
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: {name}\nspec:\n  label: {name}\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    env: BC_GOOD_TOKEN\n"
    )
}

/// A file of the given credentials, as one multi-document stream.
fn file(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| credential(n))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// `bccreds ARGS` in `cwd`, with the store `s.db` of `cwd` (or `store`, when given).
async fn bccreds(sim: &Simulator, cwd: &Path, args: &[&str]) -> Output {
    run(sim, cwd, "sqlite://s.db", args).await
}

async fn run(sim: &Simulator, cwd: &Path, store: &str, args: &[&str]) -> Output {
    let mut cmd = common::bccreds();
    cmd.current_dir(cwd)
        .args(args)
        .args(["--store", store])
        .env("BC_GOOD_TOKEN", TOKEN);
    if args[0] != "list" {
        cmd.args(["--bigcommerce-base-url", &sim.base_url()]);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join")
}

async fn labels(sim: &Simulator, cwd: &Path) -> Vec<String> {
    let out = bccreds(sim, cwd, &["list", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut labels: Vec<String> = rows
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["label"].as_str().map(String::from))
        .collect();
    labels.sort();
    labels
}

fn ok(out: &Output) -> String {
    let text = common::all_output(out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

/// A store with `m/a.yaml` (a1, a2) and `m/b.yaml` (b1) applied as a directory.
async fn applied(sim: &Simulator) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("m");
    fs::create_dir(&m).expect("mkdir");
    fs::write(m.join("a.yaml"), file(&["a1", "a2"])).expect("w");
    fs::write(m.join("b.yaml"), file(&["b1"])).expect("w");
    ok(&bccreds(sim, dir.path(), &["apply", "m"]).await);
    assert_eq!(labels(sim, dir.path()).await, ["a1", "a2", "b1"]);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_one_file_deletes_only_what_that_file_declared() {
    let sim = start().await;
    let dir = applied(&sim).await;
    let cwd = dir.path();
    let plan = ok(&bccreds(&sim, cwd, &["plan", "m/a.yaml"]).await);
    assert!(!plan.contains("Delete"), "{plan}");
    ok(&bccreds(&sim, cwd, &["apply", "m/a.yaml"]).await);
    assert_eq!(labels(&sim, cwd).await, ["a1", "a2", "b1"]);

    // a2 leaves a.yaml: a pass over a.yaml deletes exactly a2, through any spelling of the path.
    fs::write(cwd.join("m/a.yaml"), file(&["a1"])).expect("w");
    let plan = ok(&bccreds(&sim, cwd, &["plan", "./m/../m/a.yaml"]).await);
    assert_eq!(plan.matches("Delete").count(), 1, "{plan}");
    assert!(plan.contains("default/a2"), "{plan}");
    let abs = cwd.join("m/a.yaml").display().to_string();
    let store = format!("sqlite://{}", cwd.join("s.db").display());
    ok(&run(&sim, Path::new("/"), &store, &["apply", &abs]).await);
    assert_eq!(labels(&sim, cwd).await, ["a1", "b1"]);

    // Moving a credential to another file and applying only the new file deletes nothing.
    fs::remove_file(cwd.join("m/a.yaml")).expect("rm");
    fs::write(cwd.join("c.yaml"), file(&["a1"])).expect("w");
    ok(&bccreds(&sim, cwd, &["apply", "c.yaml"]).await);
    assert_eq!(labels(&sim, cwd).await, ["a1", "b1"]);
    // Its row now belongs to c.yaml: a pass over the directory m/ no longer prunes it.
    ok(&bccreds(&sim, cwd, &["apply", "m"]).await);
    assert_eq!(labels(&sim, cwd).await, ["a1", "b1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_false_deletes_nothing() {
    let sim = start().await;
    let dir = applied(&sim).await;
    let cwd = dir.path();
    fs::remove_file(cwd.join("m/b.yaml")).expect("rm");
    let out = ok(&bccreds(&sim, cwd, &["apply", "--prune=false", "m"]).await);
    assert!(out.contains("0 deleted"), "{out}");
    assert_eq!(labels(&sim, cwd).await, ["a1", "a2", "b1"]);
    let out = ok(&bccreds(&sim, cwd, &["apply", "m"]).await);
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(labels(&sim, cwd).await, ["a1", "a2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_a_recorded_source_are_pruned_only_by_a_directory_pass() {
    let sim = start().await;
    let dir = applied(&sim).await;
    let cwd = dir.path();
    // As rows recorded before migration 5.
    let url = format!("sqlite://{}", cwd.join("s.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    sqlx::query("UPDATE bccreds_ownership SET source_path = NULL")
        .execute(&pool)
        .await
        .expect("forget sources");
    pool.close().await;
    fs::write(cwd.join("m/a.yaml"), file(&["a1"])).expect("w");
    fs::remove_file(cwd.join("m/b.yaml")).expect("rm");
    let out = ok(&bccreds(&sim, cwd, &["apply", "m/a.yaml"]).await);
    assert!(out.contains("0 deleted"), "{out}");
    assert_eq!(labels(&sim, cwd).await, ["a1", "a2", "b1"]);
    // The single-file pass recorded a1's source; the directory pass prunes the unknown rest.
    let out = ok(&bccreds(&sim, cwd, &["apply", "m"]).await);
    assert!(out.contains("2 deleted"), "{out}");
    assert_eq!(labels(&sim, cwd).await, ["a1"]);
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    let sources: Vec<Option<String>> =
        sqlx::query_scalar("SELECT source_path FROM bccreds_ownership")
            .fetch_all(&pool)
            .await
            .expect("read");
    let want = cwd.join("m/a.yaml").display().to_string();
    assert_eq!(sources, [Some(want)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_exit_code_diff_and_the_deletion_warning() {
    let sim = start().await;
    let dir = applied(&sim).await;
    let cwd = dir.path();
    let code = |out: &Output| out.status.code();
    let out = bccreds(&sim, cwd, &["plan", "--exit-code", "m"]).await;
    assert_eq!(
        code(&out),
        Some(0),
        "no changes: {}",
        common::all_output(&out)
    );

    // A changed label and a changed token: changes pending, shown field by field.
    fs::write(
        cwd.join("m/a.yaml"),
        file(&["a1", "a2"]).replacen("label: a1", "label: a1 renamed", 1),
    )
    .expect("w");
    let mut cmd = common::bccreds();
    cmd.current_dir(cwd)
        .args(["plan", "--exit-code", "--diff", "m"])
        .args(["--store", "sqlite://s.db"])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .env("BC_GOOD_TOKEN", "tok-PRUNE-rotated-9e8f");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join");
    let text = common::all_output(&out);
    assert_eq!(code(&out), Some(2), "{text}");
    assert!(
        text.contains("    label: \"a1\" -> \"a1 renamed\""),
        "{text}"
    );
    assert!(text.contains("    accessToken: (changed)"), "{text}");
    for secret in [TOKEN, "tok-PRUNE-rotated-9e8f"] {
        assert!(!text.contains(secret), "a secret in the diff: {text}");
    }
    let out = bccreds(&sim, cwd, &["plan", "--diff", "--output", "json", "m"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["items"][0]["diff"],
        serde_json::json!([{"field": "label", "from": "a1", "to": "a1 renamed"}])
    );
    let out = bccreds(&sim, cwd, &["plan", "m"]).await;
    assert_eq!(
        code(&out),
        Some(0),
        "without --exit-code, changes are success"
    );

    // A deletion is announced before any Delete line.
    fs::remove_file(cwd.join("m/b.yaml")).expect("rm");
    let out = bccreds(&sim, cwd, &["plan", "--exit-code", "m"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(code(&out), Some(2), "{stdout}");
    let warning = stdout
        .find("warning: 1 credential would be deleted or orphaned")
        .expect("the warning");
    assert!(
        warning < stdout.find("Delete").expect("the Delete line"),
        "{stdout}"
    );

    // An error wins over pending changes.
    fs::write(cwd.join("m/bad.yaml"), "apiVersion: [\n").expect("w");
    let out = bccreds(&sim, cwd, &["plan", "--exit-code", "m"]).await;
    assert_eq!(code(&out), Some(1), "{}", common::all_output(&out));
    // And the options belong to plan.
    let out = bccreds(&sim, cwd, &["apply", "--exit-code", "m"]).await;
    assert_eq!(code(&out), Some(2), "a usage error");
}
