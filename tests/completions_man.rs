//! `bccreds completions SHELL` and `bccreds man` are generated from the command definitions, so
//! every subcommand appears in each; and every `--help` fits a screen or two.

mod common;

use common::run;

const SUBCOMMANDS: [&str; 17] = [
    "validate",
    "verify",
    "plan",
    "apply",
    "watch",
    "controller",
    "status",
    "list",
    "export",
    "serve",
    "rekey",
    "simulate-bigcommerce",
    "schema",
    "crd",
    "demo",
    "completions",
    "man",
];

/// The subcommands `bccreds --help` lists, so that a new one cannot slip past these tests.
fn listed_subcommands() -> Vec<String> {
    let text = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    text.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn these_tests_know_every_subcommand() {
    let mut listed = listed_subcommands();
    let mut known: Vec<String> = SUBCOMMANDS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    known.sort();
    assert_eq!(listed, known);
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        // fish spells flags `-l store`, the others `--store`.
        assert!(script.contains("store"), "{shell} completes flags too");
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_cover_every_subcommand() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    // roff escapes hyphens.
    let page = String::from_utf8_lossy(&out.stdout).replace("\\-", "-");
    assert!(
        page.starts_with(".ie") || page.contains(".TH bccreds 1"),
        "{page}"
    );
    for sub in SUBCOMMANDS {
        assert!(page.contains(sub), "bccreds.1 lacks {sub}");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let out = common::bccreds()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
    for sub in SUBCOMMANDS {
        let page = std::fs::read_to_string(dir.path().join(format!("bccreds-{sub}.1")))
            .unwrap_or_else(|e| panic!("bccreds-{sub}.1: {e}"))
            .replace("\\-", "-");
        assert!(page.contains(&format!(".TH bccreds-{sub} 1")), "{page}");
    }
    let apply = std::fs::read_to_string(dir.path().join("bccreds-apply.1")).expect("page");
    assert!(apply.contains("store"), "{apply}");
}

#[test]
fn every_help_is_under_80_lines_and_grouped() {
    let top = run(&["--help"]);
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(text.contains("Exit codes:"), "{text}");
    for sub in SUBCOMMANDS {
        let out = run(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub}");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines = text.lines().count();
        assert!(lines < 80, "{sub} --help is {lines} lines:\n{text}");
    }
    // Each command shows only what it reads.
    for (sub, absent) in [
        ("plan", "--max-retries"),
        ("plan", "--concurrency"),
        ("apply", "--exit-code"),
        ("apply", "--diff"),
        ("list", "--secret-encryption"),
    ] {
        let text = String::from_utf8_lossy(&run(&[sub, "--help"]).stdout).into_owned();
        assert!(!text.contains(absent), "{sub} --help offers {absent}");
    }
    for (sub, heading) in [
        ("apply", "Store:"),
        ("apply", "BigCommerce:"),
        ("watch", "Daemon:"),
        ("controller", "Kubernetes:"),
        ("validate", "Manifests:"),
    ] {
        let text = String::from_utf8_lossy(&run(&[sub, "--help"]).stdout).into_owned();
        assert!(
            text.contains(heading),
            "{sub} --help lacks {heading}:\n{text}"
        );
    }
}
