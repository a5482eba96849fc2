//! `bccreds export` on rows UnoPim made by hand: in every secrets mode, the exported tree
//! validates, plans only Adopt, is verified once per credential, adopts the rows without
//! changing a byte of them, and leaves a store whose next pass is all Unchanged with no request.
//! No secret reaches stdout or stderr, and files holding secrets are 0600.

mod common;
mod export_world;
mod store_support;

use std::path::Path;

use bccreds::simulator::Simulator;
use export_world::*;
use serde_json::Value;
use store_support::{each_engine, Engine, TestDb};

/// The secrets-mode flags and the validate/plan/apply flags that read its output.
fn mode_flags(mode: &str, secrets_dir: &Path) -> (Vec<String>, Vec<String>) {
    let dir = secrets_dir.display().to_string();
    match mode {
        "files" => (
            vec![
                "--secrets".into(),
                "files".into(),
                "--secrets-dir".into(),
                dir.clone(),
            ],
            vec!["--secrets-dir".into(), dir],
        ),
        other => (vec!["--secrets".into(), other.into()], Vec::new()),
    }
}

async fn round_trip(db: &TestDb, sim: &Simulator, mode: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    let (out_dir, secrets_dir) = (work.path().join("out"), work.path().join("secrets"));
    let before = snapshot(db).await;
    let (export_flags, read_flags) = mode_flags(mode, &secrets_dir);
    let read: Vec<&str> = read_flags.iter().map(String::as_str).collect();
    let out_arg = out_dir.display().to_string();

    let mut args = vec!["export"];
    args.extend(export_flags.iter().map(String::as_str));
    if mode == "none" {
        // The default mode may write one stream to stdout.
        let out = bccreds(db, sim, &args).await;
        ok(&out);
        std::fs::create_dir(&out_dir).expect("mkdir");
        std::fs::write(out_dir.join("all.yaml"), &out.stdout).expect("write");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout)
                .matches("kind: BigCommerceCredential")
                .count(),
            3
        );
    } else {
        args.extend(["--output-dir", &out_arg]);
        let text = ok(&bccreds(db, sim, &args).await);
        assert!(text.contains("Exported 3 credentials."), "{text}");
    }
    // The modelines' schema lies beside the manifests, except where `kubectl apply -f` reads
    // the directory (and stdout has no directory).
    assert_eq!(
        out_dir.join("bigcommercecredential.schema.json").exists(),
        mode == "files"
    );
    // Names are slugs of the labels, the clash resolved by row id.
    let tree: String = files(&out_dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    for name in [
        "name: production-store",
        "name: shop-eu\n",
        "name: shop-eu-3",
    ] {
        assert!(tree.contains(name), "{name} missing in {tree}");
    }
    // Files holding secrets are private; nothing else holds a secret.
    let mut secret_files = 0;
    for path in files(&out_dir)
        .into_iter()
        .chain(files_if_any(&secrets_dir))
    {
        let text = std::fs::read_to_string(&path).expect("read");
        let holds = SECRETS.iter().any(|s| text.contains(s)) || text.contains("kind: Secret");
        if holds {
            secret_files += 1;
            assert_eq!(mode_of(&path), 0o600, "{}", path.display());
        } else {
            assert!(!text.contains("EXPORT-LEAK"), "{}: {text}", path.display());
        }
    }
    let expected_secret_files = match mode {
        "none" => 0,
        "files" => 4, // two tokens and a client secret for three rows: 3 + 1
        _ => 3,       // one Secret per credential
    };
    assert_eq!(secret_files, expected_secret_files, "{mode}");

    // It validates as the mode's consumer reads it.
    let mut validate = vec!["validate"];
    if mode == "kubernetes" {
        validate.push("--kubernetes");
    }
    validate.extend(&read);
    validate.push(&out_arg);
    ok(&common::run(&validate));

    // The plan adopts every row, and nothing else.
    let mut plan = vec!["plan", "--output", "json"];
    plan.extend(&read);
    plan.push(&out_arg);
    let json: Value = serde_json::from_str(&ok(&bccreds(db, sim, &plan).await)[..])
        .unwrap_or_else(|_| panic!("plan JSON"));
    let actions: Vec<&str> = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["Adopt"; 3], "{json}");

    // apply verifies each credential once and adopts the rows as they are.
    sim.clear_requests();
    let mut apply = vec!["apply", "--output", "json"];
    apply.extend(&read);
    apply.push(&out_arg);
    let text = ok(&bccreds(db, sim, &apply).await);
    let json: Value = serde_json::from_str(&text).expect("apply JSON");
    assert_eq!(json["summary"]["failed"], 0, "{json}");
    // Taken over as they were: adopted, not updated.
    assert_eq!(
        (&json["summary"]["adopted"], &json["summary"]["updated"]),
        (&serde_json::json!(3), &serde_json::json!(0)),
        "{json}"
    );
    for item in json["items"].as_array().expect("items") {
        assert_eq!(item["result"], "adopted", "{item}");
        let message = item["message"].as_str().unwrap_or_default();
        assert!(message.contains("changing no byte"), "{item}");
    }
    let store_calls = sim
        .requests()
        .iter()
        .filter(|r| r.path == "v2/store")
        .count();
    assert_eq!(store_calls, 3, "{:?}", sim.requests());
    assert_eq!(
        snapshot(db).await,
        before,
        "{mode}: adoption changed the rows"
    );
    let owned = db
        .strings(&format!(
            "SELECT CAST(COUNT(*) AS {}) FROM {}",
            if db.engine == Engine::MySql {
                "CHAR"
            } else {
                "TEXT"
            },
            db.ident("bccreds_ownership")
        ))
        .await;
    assert_eq!(owned, ["3"]);

    // The next pass changes nothing and asks BigCommerce nothing.
    sim.clear_requests();
    let json: Value = serde_json::from_str(&ok(&bccreds(db, sim, &apply).await)).expect("json");
    assert_eq!(json["summary"]["unchanged"], 3, "{json}");
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    assert_eq!(snapshot(db).await, before);

    // Hand the rows back, for the next mode.
    db.exec(&format!("DELETE FROM {}", db.ident("bccreds_ownership")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_rows_are_adopted_byte_for_byte_in_every_secrets_mode() {
    let sim = simulator().await;
    each_engine(|db| {
        let sim = &sim;
        async move {
            db.store("").await.close().await;
            insert_by_hand(&db, &rows()).await;
            for mode in ["none", "files", "kubernetes"] {
                round_trip(&db, sim, mode).await;
            }
            db
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashing_labels_get_distinct_names_that_stay_the_same() {
    let sim = simulator().await;
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let (first, second) = (work.path().join("1"), work.path().join("2"));
    for dir in [&first, &second] {
        let arg = dir.display().to_string();
        ok(&bccreds(&db, &sim, &["export", "--output-dir", &arg]).await);
    }
    let want = [
        "bigcommercecredential.schema.json",
        "production-store.yaml",
        "shop-eu-3.yaml",
        "shop-eu.yaml",
    ];
    assert_eq!(names_in(&first), want);
    for name in &want[1..] {
        let a = std::fs::read_to_string(first.join(name)).expect("read");
        assert_eq!(a, std::fs::read_to_string(second.join(name)).expect("read"));
    }
    assert!(std::fs::read_to_string(first.join("shop-eu-3.yaml"))
        .expect("read")
        .contains("label: shop-eu\n"));
    // Without secrets no APP_KEY is needed, and none is read.
    let keyless = common::bccreds()
        .args(["export", "--store", &db.url])
        .env_remove("APP_KEY")
        .output()
        .expect("runs");
    let text = ok(&keyless);
    assert_eq!(
        text.matches("kind: BigCommerceCredential").count(),
        3,
        "{text}"
    );
    // A selection does not rename: `shop-eu` alone is still shop-eu-3.
    let out = bccreds(&db, &sim, &["export", "--label", "SHOP-EU"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("name: shop-eu-3\n"), "{text}");
    assert_eq!(text.matches("kind: BigCommerceCredential").count(), 1);

    // Once one is adopted, --unmanaged leaves it out.
    let one = work.path().join("one");
    let one_arg = one.display().to_string();
    ok(&bccreds(
        &db,
        &sim,
        &["export", "--label", "Shop EU", "--output-dir", &one_arg],
    )
    .await);
    ok(&bccreds(&db, &sim, &["apply", &one_arg]).await);
    let out = bccreds(&db, &sim, &["export", "--unmanaged"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        text.matches("kind: BigCommerceCredential").count(),
        2,
        "{text}"
    );
    assert!(!text.contains("label: Shop EU"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_would_not_validate_are_reported_and_the_rest_exported() {
    let sim = simulator().await;
    let long = "L".repeat(300);
    let mut bad_locale = hand("Bad locale", "abc123", "tok-EXPORT-LEAK-prod");
    bad_locale.defaults = Some(("english", "USD"));
    let mut off_list = hand("Off the list", "abc123", "tok-EXPORT-LEAK-prod");
    off_list.api_url = "https://evil.example.com/stores/abc123/".into();
    let db = sqlite_with(&[
        hand("Good", "abc123", "tok-EXPORT-LEAK-prod"),
        off_list,
        hand(&long, "abc123", "tok-EXPORT-LEAK-prod"),
        bad_locale,
    ])
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let out_dir = work.path().join("out");
    let arg = out_dir.display().to_string();
    let out = bccreds(&db, &sim, &["export", "--output-dir", &arg]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("skipped \"Off the list\" (row 2): ")
            && stderr.contains("evil.example.com"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("skipped \"{}…\" (row 3): ", &long[..80])),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped \"Bad locale\" (row 4): "),
        "{stderr}"
    );
    assert!(stderr.contains("`english`"), "{stderr}");
    assert!(
        stderr.contains("Exported 1 credential; skipped 3 that would not validate or be read."),
        "{stderr}"
    );
    assert_eq!(
        names_in(&out_dir),
        ["bigcommercecredential.schema.json", "good.yaml"]
    );
    // What was exported is whole: it validates.
    ok(&common::run(&["validate", &arg]));

    // A --label that names nothing is an error too; the rest is still exported.
    let out = bccreds(&db, &sim, &["export", "--label", "Good", "--label", "Nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no stored credential is labelled \"Nope\"")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("label: Good\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_cannot_be_written_out_skips_its_row_in_secret_modes_only() {
    let sim = simulator().await;
    let db = sqlite_with(&[
        hand("Good", "abc123", "tok-EXPORT-LEAK-prod"),
        hand("Newline", "abc123", "tok-EXPORT-LEAK-eu\n"),
    ])
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let secrets = work.path().join("secrets").display().to_string();
    let out_dir = work.path().join("out").display().to_string();
    let out = bccreds(
        &db,
        &sim,
        &[
            "export",
            "--secrets",
            "files",
            "--secrets-dir",
            &secrets,
            "--output-dir",
            &out_dir,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("skipped \"Newline\" (row 2): the stored accessToken ends with a newline"),
        "{stderr}"
    );
    assert!(!Path::new(&secrets).join("newline").exists());
    assert_eq!(
        mode_of(&Path::new(&secrets).join("good/access-token")),
        0o600
    );
    assert_eq!(mode_of(&Path::new(&secrets).join("good")), 0o700);
    // Without secrets, the stored token stays where it is and the row is exported.
    ok(&bccreds(&db, &sim, &["export"]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_mistakes_exit_2_and_write_nothing() {
    let sim = simulator().await;
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let out_dir = work.path().join("out");
    let out_arg = out_dir.display().to_string();
    for (args, says) in [
        (
            vec!["--secrets", "files", "--output-dir", &out_arg],
            "--secrets files needs --secrets-dir",
        ),
        (
            vec!["--secrets", "kubernetes"],
            "secrets never go to stdout",
        ),
        (
            vec!["--secrets", "files", "--secrets-dir", "s"],
            "secrets never go to stdout",
        ),
        (
            vec!["--secrets-dir", "s", "--output-dir", &out_arg],
            "only for --secrets files",
        ),
        (
            vec!["--namespace", "Not_A_Namespace"],
            "is not a Kubernetes namespace name",
        ),
    ] {
        let mut all = vec!["export"];
        all.extend(&args);
        let out = bccreds(&db, &sim, &all).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out_dir.exists() && !Path::new("s").exists(), "{args:?}");
    }
}
