//! Where `bccreds export` writes: never over existing files without `--force`, never into a
//! directory another user could redirect (a symlink they own, a directory anyone may write to
//! that they own), directories it creates are 0700, a secret that would not survive its file is
//! skipped, and a skipped row's line stays one line however long its label.

mod common;
mod export_world;
mod store_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use export_world::*;

/// A user that is not this one (`nobody`).
const OTHER_UID: u32 = 65534;

fn export_to(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "export".to_string(),
        "--output-dir".into(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn run(db: &store_support::TestDb, args: Vec<String>) -> std::process::Output {
    let sim = simulator().await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bccreds(db, &sim, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_never_replaced_without_force() {
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    ok(&run(&db, export_to(&out, &[])).await);
    let mine = out.join("production-store.yaml");
    std::fs::write(&mine, "mine\n").expect("w");
    let before = files(&out);

    let again = run(&db, export_to(&out, &[])).await;
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("exist already; nothing was written: pass --force to replace them"),
        "{stderr}"
    );
    assert!(stderr.contains("and 3 more"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&mine).expect("r"), "mine\n");
    assert_eq!(files(&out), before, "nothing was added");

    ok(&run(&db, export_to(&out, &["--force"])).await);
    assert!(std::fs::read_to_string(&mine)
        .expect("r")
        .contains("kind: BigCommerceCredential"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_it_creates_are_private() {
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("a/b/out");
    let secrets = work.path().join("s/t");
    let secrets_arg = secrets.display().to_string();
    ok(&run(
        &db,
        export_to(&out, &["--secrets", "files", "--secrets-dir", &secrets_arg]),
    )
    .await);
    for dir in [
        work.path().join("a"),
        work.path().join("a/b"),
        out.clone(),
        work.path().join("s"),
        secrets.clone(),
        secrets.join("production-store"),
    ] {
        assert_eq!(mode_of(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode_of(&out.join("production-store.yaml")), 0o644);
    assert_eq!(
        mode_of(&secrets.join("production-store/access-token")),
        0o600
    );
}

/// Makes `path` (a directory or a symlink) another user's; false when this process may not.
fn give_away(path: &Path) -> bool {
    std::os::unix::fs::lchown(path, Some(OTHER_UID), Some(OTHER_UID)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_another_user_could_redirect_are_refused() {
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let ours = work.path().join("ours");
    std::fs::create_dir(&ours).expect("mkdir");
    let probe = work.path().join("probe");
    std::fs::create_dir(&probe).expect("mkdir");
    if !give_away(&probe) {
        eprintln!("note: skipping: only root can give a directory to another user here");
        return;
    }
    let open = |path: &Path, mode: u32| {
        std::fs::create_dir_all(path).expect("mkdir");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        assert!(give_away(path));
    };
    // Their symlink to our directory; their world-writable directory; our new directory
    // below their world-writable directory without the sticky bit.
    let link = work.path().join("link");
    std::os::unix::fs::symlink(&ours, &link).expect("symlink");
    assert!(give_away(&link));
    let theirs = work.path().join("theirs");
    open(&theirs, 0o777);
    let below = work.path().join("shared");
    open(&below, 0o777);
    for (dir, says) in [
        (link.clone(), "is a symbolic link owned by another user"),
        (
            theirs.clone(),
            "may be written by anyone and is owned by another user",
        ),
        (
            below.join("out"),
            "may be written by anyone and is owned by another user",
        ),
    ] {
        let out = run(&db, export_to(&dir, &[])).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", dir.display());
        assert!(
            stderr.contains("refusing to write into") && stderr.contains(says),
            "{stderr}"
        );
    }
    assert!(files(&ours).is_empty() && files(&theirs).is_empty() && files(&below).is_empty());
    // Below a directory like /tmp (anyone may write, but the sticky bit keeps others from
    // moving what is ours), a directory of our own is fine.
    let sticky = work.path().join("tmp");
    open(&sticky, 0o1777);
    ok(&run(&db, export_to(&sticky.join("out"), &[])).await);
    assert_eq!(mode_of(&sticky.join("out")), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_a_file_would_change_is_skipped_and_long_labels_are_cut() {
    let long = "L".repeat(10_000);
    let db = sqlite_with(&[
        hand("Good", "abc123", "tok-EXPORT-LEAK-prod"),
        HandRow {
            client: Some(("client-cr", "cs-EXPORT-LEAK-secret\r")),
            ..hand("Carriage", "abc123", "tok-EXPORT-LEAK-prod")
        },
        hand(&long, "abc123", "tok-EXPORT-LEAK-prod"),
    ])
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let secrets = work.path().join("secrets").display().to_string();
    let files_mode = ["--secrets", "files", "--secrets-dir", &secrets];
    let out = run(&db, export_to(&work.path().join("f"), &files_mode)).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "skipped \"Carriage\" (row 2): the stored clientSecret ends with a carriage return"
        ),
        "{stderr}"
    );
    let cut = format!("skipped \"{}…\" (row 3): ", "L".repeat(80));
    let line = stderr
        .lines()
        .find(|l| l.contains("(row 3)"))
        .unwrap_or_default();
    assert!(line.starts_with(&cut), "{line}");
    assert!(
        line.chars().count() < 400,
        "{} characters",
        line.chars().count()
    );
    // A Secret's data keeps the carriage return: the row is exported there.
    let k8s = run(
        &db,
        export_to(&work.path().join("k"), &["--secrets", "kubernetes"]),
    )
    .await;
    let stderr = String::from_utf8_lossy(&k8s.stderr).into_owned();
    assert!(!stderr.contains("Carriage"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_key_exports_no_secret_and_says_why_once() {
    let db = sqlite_with(&rows()).await;
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let out_arg = out.display().to_string();
    let run = common::bccreds()
        .args([
            "export",
            "--store",
            &db.url,
            "--secrets",
            "kubernetes",
            "--output-dir",
            &out_arg,
        ])
        .env(
            "APP_KEY",
            "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        )
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("check APP_KEY") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!out.exists());
}
