//! A reader that goes away (`bccreds plan examples/ | true`, `| head -1`) ends the output, not
//! the command: no panic, no "Broken pipe" message, and the command's own exit code.

mod common;

use std::process::Stdio;

/// Runs bccreds with a stdout whose reading end is already closed; returns (code, stderr).
fn with_closed_stdout(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    with_closed_stdout_at(args, dir, "http://127.0.0.1:9")
}

/// As [`with_closed_stdout`], with BigCommerce at `base_url`.
fn with_closed_stdout_at(
    args: &[&str],
    dir: &std::path::Path,
    base_url: &str,
) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = common::bccreds()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BCCREDS_SECRETS_DIR", "examples/secrets")
        .env("BC_OUTLET_ACCESS_TOKEN", "tok-outlet")
        .env("BC_STAGING_ACCESS_TOKEN", "tok-staging")
        .env(
            "BCCREDS_STORE",
            format!("sqlite://{}", dir.join("s.db").display()),
        )
        .env("BCCREDS_BIGCOMMERCE_BASE_URL", base_url)
        .env("BCCREDS_MAX_RETRIES", "0")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_survives_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    for (args, code) in [
        (&["validate", "examples/"][..], 0),
        (&["validate", "--output", "json", "examples/"][..], 0),
        (&["plan", "examples/"][..], 0),
        (&["plan", "--output", "json", "examples/"][..], 0),
        // No BigCommerce at that address: every verification fails, and says so on stdout.
        (&["verify", "examples/"][..], 1),
        (&["apply", "examples/"][..], 1),
        (&["list"][..], 0),
        (&["list", "--output", "json"][..], 0),
        (&["schema"][..], 0),
        (&["crd"][..], 0),
        (&["--help"][..], 0),
        (&["completions", "bash"][..], 0),
        (&["man"][..], 0),
        // The demo goes on to the end (its own store and simulator) with nobody reading.
        (&["demo"][..], 0),
    ] {
        let (got, stderr) = with_closed_stdout(args, dir.path());
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(got, Some(code), "{args:?}: {stderr}");
    }
}

/// `export` has rows to print here (the examples, applied against the simulator), and its
/// reader is gone before the first line.
#[test]
fn export_survives_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut sim = common::Reaper(
        common::bccreds()
            .args([
                "simulate-bigcommerce",
                "--listen",
                "127.0.0.1:0",
                "--fixture",
                "examples/simulator/fixture.yaml",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("simulator"),
    );
    let url = common::first_line(&mut sim.0).trim().to_string();
    let apply = with_closed_stdout_at(&["apply", "examples/"], dir.path(), &url);
    for (args, code) in [
        (&["export", "--secrets", "none"][..], 0),
        (&["list"][..], 0),
    ] {
        let (got, stderr) = with_closed_stdout_at(args, dir.path(), &url);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(got, Some(code), "{args:?}: {stderr} (apply: {apply:?})");
    }
    // Three examples verify against the fixture (two of the tokens given here are not its);
    // `export` has those three to print.
    let printed = common::bccreds()
        .args(["export", "--secrets", "none"])
        .env(
            "BCCREDS_STORE",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .output()
        .expect("export");
    assert_eq!(apply.0, Some(1), "{}", apply.1);
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert_eq!(
        printed.matches("kind: BigCommerceCredential").count(),
        3,
        "{printed}"
    );
}
