//! `bccreds demo`: every step's facts (in process), and the binary from a foreign directory
//! leaving nothing behind. Neither prints a secret.

use std::path::{Path, PathBuf};
use std::process::Command;

use bccreds::cli::demo::{run_demo, DEMO_ENV, EDITED_LABEL, WRONG_TOKEN};
use bccreds::model::Reason;
use bccreds::store::ListedCredential;

/// Every secret value the demo handles, and the base64 form the production Secret holds.
const SECRETS: &[&str] = &[
    "demo-production-access-token",
    "demo-europe-access-token",
    "demo-staging-access-token",
    "demo-outlet-access-token",
    "demo-production-client-secret",
    "demo-europe-client-secret",
    "ZGVtby1wcm9kdWN0aW9uLWFjY2Vzcy10b2tlbg==",
    WRONG_TOKEN,
];

fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "the output shows {secret}:\n{text}");
    }
}

fn labels(rows: &[ListedCredential]) -> Vec<&str> {
    rows.iter().map(|r| r.label.as_str()).collect()
}

#[test]
fn every_step_of_the_demo_does_what_it_says() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    let summary = runtime.block_on(run_demo(&mut out)).expect("the demo runs");
    let text = String::from_utf8(out).expect("UTF-8 output");
    // The demo's env: sources were read through the source's lookup, not the process environment.
    for (name, _) in DEMO_ENV {
        assert!(
            std::env::var_os(name).is_none(),
            "the demo set {name} in the process environment"
        );
    }

    // 1. The plan against an empty store creates all four, verifying nothing.
    let p = summary.plan.summary;
    assert_eq!((p.created, p.failed), (4, 0), "{text}");
    // A plan speaks of intent; a pass of what it did.
    assert!(
        text.contains(
            "\nPlan: 4 to create, 0 to update, 0 to delete, 0 to orphan, 0 unchanged, 0 failing\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n4 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 0 failed\n"),
        "{text}"
    );

    // 2. Apply: four verified, managed rows.
    let a = summary.applied.summary;
    assert_eq!((a.created, a.failed), (4, 0), "{text}");
    assert_eq!(
        labels(&summary.rows_after_apply),
        [
            "Europe Store",
            "Outlet Store",
            "Production Store",
            "Staging Store"
        ]
    );
    for row in &summary.rows_after_apply {
        assert_eq!(row.owner_id.as_deref(), Some("bccreds-demo"));
        assert_eq!(
            row.last_result.as_deref(),
            Some("Verified"),
            "{}",
            row.label
        );
    }

    // 3. The relabelled production credential is updated in place; the rest is untouched.
    let e = summary.edited.summary;
    assert_eq!((e.updated, e.unchanged, e.failed), (1, 3, 0), "{text}");
    assert_eq!(
        labels(&summary.rows_after_edit),
        [
            "Europe Store",
            "Outlet Store",
            EDITED_LABEL,
            "Staging Store"
        ]
    );
    let prod_before = summary
        .rows_after_apply
        .iter()
        .find(|r| r.label == "Production Store")
        .expect("production row");
    let prod_after = summary
        .rows_after_edit
        .iter()
        .find(|r| r.label == EDITED_LABEL)
        .expect("edited row");
    assert_eq!(prod_before.id, prod_after.id, "updated, not recreated");

    // 4. A wrong token: InvalidToken, a clear message, and the stored row exactly as it was.
    assert_eq!(summary.broken_reason, Reason::InvalidToken);
    assert!(
        summary
            .broken_message
            .contains("rejected the access token for store eu4567"),
        "{}",
        summary.broken_message
    );
    let b = summary.broken.summary;
    assert_eq!((b.failed, b.unchanged, b.updated), (1, 3, 0), "{text}");
    // The failed update says that it failed, and what was attempted, naming the credential once.
    assert!(
        text.contains(
            "\nFailed    shop/europe-store (Europe Store): update: BigCommerce rejected the access token for store eu4567 (401)"
        ),
        "{text}"
    );
    assert!(!text.contains("shop/europe-store: "), "{text}");
    assert_eq!(summary.broken_row_before, summary.broken_row_after);
    assert_eq!(summary.broken_row_after.label, "Europe Store");
    assert_eq!(summary.rows_after_break.len(), 4);
    let europe = summary
        .rows_after_break
        .iter()
        .find(|r| r.label == "Europe Store")
        .expect("europe row kept");
    assert_eq!(europe.last_result.as_deref(), Some("InvalidToken"));
    assert!(text.contains("InvalidToken"), "{text}");

    // 5. staging.yaml deleted: Staging's row goes, Outlet's (Orphan) stays, unmanaged.
    let d = summary.deleted.summary;
    assert_eq!((d.deleted, d.orphaned), (1, 1), "{text}");
    assert!(
        text.contains("\nOrphaned  shop/outlet-store (Outlet Store): "),
        "{text}"
    );
    assert!(
        text.contains("\n0 created, 0 updated, 1 deleted, 1 orphaned, 1 unchanged, 1 failed\n"),
        "{text}"
    );
    assert_eq!(
        labels(&summary.rows_after_delete),
        ["Europe Store", "Outlet Store", EDITED_LABEL]
    );
    let outlet = summary
        .rows_after_delete
        .iter()
        .find(|r| r.label == "Outlet Store")
        .expect("outlet kept");
    assert_eq!(outlet.owner_id, None);

    // The demo talked to its simulator, cleaned up and said where it worked.
    assert!(summary.simulator_requests > 0);
    assert!(!summary.temp_dir.as_os_str().is_empty());
    assert!(!summary.temp_dir.exists(), "{}", summary.temp_dir.display());
    assert!(
        text.contains(&summary.temp_dir.display().to_string()),
        "{text}"
    );
    for heading in [
        "== 1. Plan",
        "== 2. Apply",
        "== 3. Edit",
        "== 4. Break",
        "== 5. Delete",
    ] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }
    assert!(
        text.contains("bccreds apply examples/"),
        "what next: {text}"
    );
    assert_no_secret(&text);
}

fn working_directory(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("working directory: "))
        .unwrap_or_else(|| panic!("no working directory line:\n{stdout}"));
    PathBuf::from(line)
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("read dir").next().is_none()
}

#[test]
fn the_binary_runs_from_anywhere_and_leaves_nothing_behind() {
    let cwd = tempfile::tempdir().expect("cwd");
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let output = Command::new(env!("CARGO_BIN_EXE_bccreds"))
        .arg("demo")
        .current_dir(cwd.path())
        .env("TMPDIR", tmp.path())
        .env_remove("BC_STAGING_ACCESS_TOKEN")
        .env_remove("BC_OUTLET_ACCESS_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("run bccreds demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let used = working_directory(&stdout);
    assert!(used.starts_with(tmp.path()), "{}", used.display());
    assert!(!used.exists(), "{} is left behind", used.display());
    assert!(is_empty_dir(tmp.path()), "something is left in TMPDIR");
    assert!(
        is_empty_dir(cwd.path()),
        "something is left in the working directory"
    );
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
}
