//! Errors as a kubectl user expects them: one `error:` line in which every cause is said once,
//! a hint where one helps, and exit code 2 for mistakes in how bccreds was invoked.

mod common;

use std::process::Output;

use common::{Manifest, Source};

fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::bccreds();
    cmd.current_dir(dir).args(args).env_remove("APP_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs")
}

/// A directory `m` under `dir` with one manifest, whose token comes from `BC_A`.
fn tree(dir: &std::path::Path) -> String {
    let m = dir.join("m");
    std::fs::create_dir_all(&m).expect("mkdir");
    Manifest::new("a")
        .label("A")
        .token(Source::env("BC_A"))
        .write(m.join("a.yaml"));
    m.display().to_string()
}

/// The one error line, checked for form; returns it.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in {stderr}"))
        .to_string();
    assert!(!stderr.contains("Error:"), "{stderr}");
    line
}

fn said_once(line: &str, cause: &str) {
    assert_eq!(line.matches(cause).count(), 1, "{cause} in {line}");
}

#[test]
fn invocation_mistakes_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = tree(tmp.path());
    for (args, env, words) in [
        (
            vec![
                "apply",
                m.as_str(),
                "--store",
                "redis://user:pw-SECRET@cache/0",
            ],
            vec![],
            "unsupported store URL",
        ),
        (
            vec![
                "apply",
                m.as_str(),
                "--store",
                "sqlite://s.db",
                "--table-prefix",
                "bad prefix",
            ],
            vec![],
            "table prefix `bad prefix`",
        ),
        (
            vec![
                "apply",
                m.as_str(),
                "--store",
                "mysql://root@127.0.0.1:1/test",
            ],
            vec![("APP_KEY", "short")],
            "APP_KEY must be",
        ),
        (
            vec![
                "apply",
                m.as_str(),
                "--store",
                "mysql://root@127.0.0.1:1/test",
            ],
            vec![],
            "APP_KEY is required",
        ),
    ] {
        let out = run_in(tmp.path(), &args, &env);
        let line = error_line(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {line}");
        assert!(line.contains(words), "{args:?}: {line}");
        assert!(!line.contains("pw-SECRET"), "{line}");
    }
}

#[test]
fn each_cause_is_said_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let m = tree(tmp.path());
    let out = run_in(
        tmp.path(),
        &["apply", &m, "--store", "sqlite:///nonexistent-dir/x/s.db"],
        &[("BC_A", "tok")],
    );
    let line = error_line(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    said_once(&line, "No such file or directory");

    // A port that is taken: the cause once, and the process ends.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let out = run_in(
        tmp.path(),
        &["watch", &m, "--listen", &addr, "--store", "sqlite://w.db"],
        &[("BC_A", "tok")],
    );
    let line = error_line(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    said_once(&line, "Address already in use");

    if let Ok(url) = std::env::var("BCCREDS_TEST_MYSQL_URL") {
        let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
        let out = run_in(
            tmp.path(),
            &[
                "apply",
                &m,
                "--store",
                &format!("{base}/no_such_database_here"),
            ],
            &[
                ("BC_A", "tok"),
                (
                    "APP_KEY",
                    "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
                ),
            ],
        );
        let line = error_line(&out);
        assert_eq!(out.status.code(), Some(1), "{line}");
        said_once(&line, "Unknown database");
    }
}

#[test]
fn the_controller_outside_a_cluster_says_where_it_looked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run_in(
        tmp.path(),
        &[
            "controller",
            "--store",
            "sqlite://c.db",
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ("HOME", "/nonexistent"),
        ],
    );
    let line = error_line(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    said_once(&line, "No such file or directory");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hint: ") && stderr.contains("KUBECONFIG"),
        "{stderr}"
    );
}
