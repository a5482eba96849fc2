//! `bccreds validate` end to end: examples, exit codes, trees, JSON output and secret safety.

mod common;

use std::fs;
use std::path::Path;

use common::{all_output, run, validate_json};

const HEAD: &str = "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\n";

fn credential(name: &str, label: &str, token: &str) -> String {
    format!(
        "{HEAD}metadata:\n  name: {name}\nspec:\n  label: {label}\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n{token}"
    )
}

#[test]
fn examples_validate() {
    let out = run(&["validate", "examples/"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("valid:"), "{err}");
    assert!(err.contains("5 credentials"), "{err}");
}

#[test]
fn every_example_names_the_schema_for_editors() {
    for entry in fs::read_dir("examples").expect("examples") {
        let path = entry.expect("entry").path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        if !text.contains("kind: BigCommerceCredential") {
            continue;
        }
        for doc in text.split("\n---\n") {
            let modeline = doc
                .lines()
                .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
                .unwrap_or_else(|| panic!("{} lacks the modeline", path.display()));
            let target = path.parent().expect("parent").join(modeline);
            assert!(
                target.is_file(),
                "{} points to missing {}",
                path.display(),
                target.display()
            );
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["validate"]).status.code(), Some(2));
    assert_eq!(
        run(&["validate", "--output", "xml", "examples"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["validate", "--max-file-size", "lots", "examples"])
            .status
            .code(),
        Some(2)
    );
    let missing = run(&["validate", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(all_output(&missing).contains("no/such/dir: no such file or directory"));
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn a_zero_byte_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("empty.yaml");
    fs::write(&file, "").expect("write");
    let (code, diags, _) = validate_json(&[], &file);
    assert_eq!(code, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["column"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(diags[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("file is empty"));
}

#[test]
fn a_directory_symlink_loop_is_reported_not_followed_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).expect("mkdir");
    std::os::unix::fs::symlink(dir.path(), sub.join("back")).expect("symlink");
    fs::write(
        sub.join("ok.yaml"),
        credential("shop", "Shop", "    env: BC_TOKEN\n"),
    )
    .expect("write");
    let (code, diags, _) = validate_json(&[], dir.path());
    assert_eq!(code, 1);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(
        d["file"].as_str().unwrap_or_default().ends_with("sub/back"),
        "{d}"
    );
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap_or_default()
            .contains("symlink loop"),
        "{d}"
    );
}

#[test]
fn duplicates_across_files_fail_both_and_refs_resolve_across_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "    secretKeyRef: {name: bc-shop, key: token}\n";
    fs::write(
        dir.path().join("a.yaml"),
        credential("shop-a", "Main Shop", token),
    )
    .expect("write");
    fs::create_dir(dir.path().join("nested")).expect("mkdir");
    fs::write(
        dir.path().join("nested/b.yml"),
        credential("shop-b", "main shop", token),
    )
    .expect("write");
    fs::write(
        dir.path().join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bc-shop\nstringData:\n  token: abc\n",
    )
    .expect("write");
    fs::write(dir.path().join("notes.txt"), "not yaml: [").expect("write");
    let (code, diags, _) = validate_json(&[], dir.path());
    assert_eq!(code, 1);
    assert_eq!(diags.len(), 2, "{diags:?}");
    for d in &diags {
        assert_eq!(d["path"], "$.spec.label");
        assert_eq!(
            (d["line"].as_u64(), d["column"].as_u64()),
            (Some(6), Some(10))
        );
        assert!(d["message"]
            .as_str()
            .unwrap_or_default()
            .contains("duplicate label"));
    }
}

#[test]
fn other_kinds_are_skipped_with_a_note_in_verbose_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n{}",
        credential("shop", "Shop", "    env: BC_TOKEN\n")
    );
    fs::write(dir.path().join("mixed.yaml"), text).expect("write");
    let quiet = run(&["validate", &dir.path().display().to_string()]);
    assert_eq!(quiet.status.code(), Some(0), "{}", all_output(&quiet));
    assert!(!all_output(&quiet).contains("ConfigMap"));
    let verbose = run(&["validate", "-v", &dir.path().display().to_string()]);
    assert_eq!(verbose.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&verbose.stderr).contains("mixed.yaml:1:1: skipped v1/ConfigMap"),
        "{}",
        all_output(&verbose)
    );
}

#[test]
fn kubernetes_mode_does_not_need_secrets_in_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    fs::write(
        &file,
        credential(
            "shop",
            "Shop",
            "    secretKeyRef: {name: in-cluster, key: t}\n",
        ),
    )
    .expect("write");
    let (code, diags, _) = validate_json(&[], &file);
    assert_eq!(code, 1, "{diags:?}");
    let (code, diags, _) = validate_json(&["--kubernetes"], &file);
    assert_eq!(code, 0, "{diags:?}");
}

#[test]
fn allowed_hosts_can_be_extended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    let text = credential("shop", "Shop", "    env: BC_T\n")
        .replace("api.bigcommerce.com", "api.example.test");
    fs::write(&file, text).expect("write");
    assert_eq!(validate_json(&[], &file).0, 1);
    assert_eq!(
        validate_json(&["--allowed-host", "api.example.test"], &file).0,
        0
    );
}

#[test]
fn env_sources_read_only_allowed_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    let text = credential("shop", "Shop", "    env: BC_T\n") + "  clientId:\n    env: APP_KEY\n";
    fs::write(&file, &text).expect("write");
    let (code, diags, _) = validate_json(&[], &file);
    assert_eq!(code, 1, "{diags:?}");
    let message = diags[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`APP_KEY` is not allowed") && message.contains("--env-allow APP_KEY"),
        "{message}"
    );
    assert_eq!(diags[0]["path"], "$.spec.clientId.env", "{diags:?}");
    // The text form says the same, and the variable's value is never read to say it.
    let out = common::bccreds()
        .args(["validate"])
        .arg(&file)
        .env("APP_KEY", "base64:VALUE-NEVER-PRINTED")
        .output()
        .expect("runs");
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("--env-allow"), "{all}");
    assert!(!all.contains("VALUE-NEVER-PRINTED"), "{all}");
    // --env-allow widens the defaults (by name, by glob, or from the environment) …
    assert_eq!(validate_json(&["--env-allow", "APP_KEY"], &file).0, 0);
    assert_eq!(validate_json(&["--env-allow", "SHOP_*,APP_*"], &file).0, 0);
    let out = common::bccreds()
        .args(["validate"])
        .arg(&file)
        .env("BCCREDS_ENV_ALLOW", "APP_?EY")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    // … and never narrows them: BC_* stays allowed.
    assert_eq!(validate_json(&["--env-allow", "OTHER"], &file).0, 1);
    let bc_only = credential("shop", "Shop", "    env: BIGCOMMERCE_TOKEN\n");
    fs::write(&file, bc_only).expect("write");
    assert_eq!(validate_json(&["--env-allow", "OTHER"], &file).0, 0);
}

#[test]
fn json_output_has_the_documented_fields() {
    let (code, diags, _) =
        validate_json(&[], Path::new("tests/corpus/invalid/18-api-url-http.yaml"));
    assert_eq!(code, 1);
    let keys: Vec<&String> = diags[0].as_object().expect("object").keys().collect();
    assert_eq!(keys, ["column", "file", "line", "message", "path"]);
    let (code, diags, _) = validate_json(&[], Path::new("examples"));
    assert_eq!((code, diags.len()), (0, 0));
}

/// A token that must never appear in any output, in plain and base64 form.
const TOKEN: &str = "tok-LEAKCHECK-7f3a9c2e51d8";
const TOKEN_B64: &str = "dG9rLUxFQUtDSEVDSy03ZjNhOWMyZTUxZDg=";

#[test]
fn no_secret_value_reaches_any_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    // The token pasted inline where a reference belongs, as a label, a key, in a bad URL …
    fs::write(
        p.join("inline.yaml"),
        credential("inline", "Inline", "")
            .replace("  accessToken:\n", &format!("  accessToken: {TOKEN}\n")),
    )
    .expect("w");
    fs::write(
        p.join("client-secret.yaml"),
        credential("cs", "CS", "    env: BC_T\n") + &format!("  clientSecret: {TOKEN}\n"),
    )
    .expect("w");
    fs::write(
        p.join("object.yaml"),
        credential("obj", "Obj", &format!("    value: {TOKEN}\n")),
    )
    .expect("w");
    fs::write(
        p.join("url.yaml"),
        credential("url", "Url", "    env: BC_T\n").replace("abc123/", &format!("abc123/{TOKEN}")),
    )
    .expect("w");
    fs::write(
        p.join("client-id.yaml"),
        credential("cid", "Cid", "    env: BC_T\n") + &format!("  clientId:\n    token: {TOKEN}\n"),
    )
    .expect("w");
    // … and held properly in Secrets, one of them broken.
    fs::write(
        p.join("secrets.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\nstringData:\n  t: {TOKEN}\ndata:\n  b: {TOKEN_B64}\n  bad: {TOKEN}!\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s2\nstringData:\n  n: [{TOKEN}]\n"
        ),
    )
    .expect("w");
    fs::write(
        p.join("ref.yaml"),
        credential("ref", "Ref", "    secretKeyRef: {name: s1, key: nope}\n"),
    )
    .expect("w");
    let dir_arg = p.display().to_string();
    let mut seen = 0;
    for args in [
        vec!["validate", dir_arg.as_str()],
        vec!["validate", "-v", dir_arg.as_str()],
        vec!["validate", "--output", "json", dir_arg.as_str()],
        vec!["validate", "--kubernetes", "-v", dir_arg.as_str()],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1));
        let text = all_output(&out);
        seen += text.lines().count();
        assert!(!text.contains(TOKEN), "token leaked with {args:?}:\n{text}");
        assert!(
            !text.contains(TOKEN_B64),
            "base64 token leaked with {args:?}:\n{text}"
        );
        assert!(
            !text.contains("LEAKCHECK"),
            "token fragment leaked with {args:?}:\n{text}"
        );
    }
    assert!(
        seen > 20,
        "the invalid files must have produced diagnostics"
    );
}

#[test]
fn the_file_cache_reuses_unchanged_files_and_sees_every_change() {
    use bccreds::source::FileSource;
    use bccreds::validate::ValidateOptions;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = || FileSource::new(vec![dir.path().to_path_buf()], ValidateOptions::default());
    let mut cache = source().cached();
    let labels = |cached: &mut FileSource| -> Vec<String> {
        let report = cached.read().expect("report");
        let uncached = source().read().expect("report");
        assert_eq!(
            report.diagnostics, uncached.diagnostics,
            "cached and fresh results differ"
        );
        let mut l: Vec<String> = report
            .credentials
            .iter()
            .map(|c| c.resource.spec.label.clone())
            .collect();
        l.sort();
        l
    };
    fs::write(
        dir.path().join("a.yaml"),
        credential("a", "Alpha", "    env: BC_T\n"),
    )
    .expect("w");
    fs::write(
        dir.path().join("b.yaml"),
        credential("b", "Beta", "    env: BC_T\n"),
    )
    .expect("w");
    assert_eq!(labels(&mut cache), ["Alpha", "Beta"]);
    assert_eq!(
        labels(&mut cache),
        ["Alpha", "Beta"],
        "served from the cache"
    );
    // Same length, new content: the modification time or inode tells them apart.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(
        dir.path().join("a.yaml"),
        credential("a", "Alphx", "    env: BC_T\n"),
    )
    .expect("w");
    assert_eq!(labels(&mut cache), ["Alphx", "Beta"]);
    // A rename over the file (an editor's save).
    fs::write(
        dir.path().join(".b.tmp"),
        credential("b", "Betx", "    env: BC_T\n"),
    )
    .expect("w");
    fs::rename(dir.path().join(".b.tmp"), dir.path().join("b.yaml")).expect("rename");
    assert_eq!(labels(&mut cache), ["Alphx", "Betx"]);
    fs::remove_file(dir.path().join("a.yaml")).expect("rm");
    assert_eq!(labels(&mut cache), ["Betx"]);
}

#[test]
fn one_bccreds_output_suits_every_command() {
    let case = "tests/corpus/invalid/53-default-locale-english.yaml";
    for (value, starts) in [
        ("yaml", "- file: "),
        ("json", "["),
        ("table", "tests/corpus"),
    ] {
        let out = common::bccreds()
            .args(["validate", case])
            .env("BCCREDS_OUTPUT", value)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{value}: {}", all_output(&out));
        assert!(stdout.starts_with(starts), "{value}: {stdout}");
        assert!(stdout.contains("english"), "{value}: {stdout}");
    }
    for command in [
        &["list", "--store", "sqlite:///nonexistent/none.db"][..],
        &["plan", "examples/"],
    ] {
        let out = common::bccreds()
            .args(command)
            .env("BCCREDS_OUTPUT", "yaml")
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&stdout).is_ok() && !stdout.is_empty(),
            "{command:?}: {}",
            all_output(&out)
        );
    }
}

/// The last stderr line of `bccreds validate PATH`.
fn validate_summary(path: &Path) -> (Option<i32>, String) {
    let out = run(&["validate", &path.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stderr.lines().last().unwrap_or_default().to_string();
    (out.status.code(), last)
}

#[test]
fn the_summary_counts_in_good_grammar_and_counts_invalid_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "    env: BC_TOKEN\n";
    fs::write(dir.path().join("a.yaml"), credential("a", "A", token)).expect("w");
    assert_eq!(
        validate_summary(dir.path()),
        (
            Some(0),
            "valid: 1 file, 1 document: 1 credential, 0 Secrets".to_string()
        )
    );

    // One invalid credential: one problem, and counted among the credentials.
    fs::write(
        dir.path().join("b.yaml"),
        credential("b", "B", token).replace("https://", "http://"),
    )
    .expect("w");
    assert_eq!(
        validate_summary(dir.path()),
        (
            Some(1),
            "invalid: 1 problem in 2 files, 2 documents: 2 credentials (1 invalid), 0 Secrets"
                .to_string()
        )
    );

    // Two more documents in one file: a Secret and a credential whose label clashes with A's.
    fs::write(
        dir.path().join("c.yaml"),
        format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\nstringData:\n  token: x\n",
            credential("c", "A", token)
        ),
    )
    .expect("w");
    let (code, line) = validate_summary(dir.path());
    assert_eq!(code, Some(1), "{line}");
    assert!(
        line.ends_with(" problems in 3 files, 4 documents: 3 credentials (3 invalid), 1 Secret"),
        "{line}"
    );
}
