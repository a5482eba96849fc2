//! The README's walkthrough, run as written: its ```sh walkthrough block runs in bash (-e, so
//! every command must succeed) in a fresh directory holding a copy of examples/, with this
//! build's `bccreds` first on PATH.

mod common;

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn the_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let block = readme
        .split("```sh walkthrough\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README has a ```sh walkthrough block");
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(Path::new("examples"), &dir.path().join("examples"));
    copy_dir(Path::new("schemas"), &dir.path().join("schemas"));
    let bin = Path::new(env!("CARGO_BIN_EXE_bccreds"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The simulator runs in the background; the trap stops it however the script ends.
    let script = format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n{block}\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("APP_KEY")
        .env_remove("BCCREDS_OUTPUT")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the walkthrough failed:\n{stdout}\n{stderr}"
    );
    // What the README says each step shows.
    assert!(stderr.contains("valid:"), "{stderr}");
    for label in ["Production Store", "Staging Store", "Europe Store"] {
        assert!(stdout.contains(label), "list shows {label}:\n{stdout}");
    }
    assert!(
        stdout.contains("label: Europe Store"),
        "the yaml search:\n{stdout}"
    );
    for token in ["demo-staging-access-token", "demo-outlet-access-token"] {
        assert!(
            !stdout.contains(token) && !stderr.contains(token),
            "{token} leaked"
        );
    }
}
