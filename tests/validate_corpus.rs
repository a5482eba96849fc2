//! The corpus of invalid manifests under tests/corpus/invalid.
//!
//! Each file states what `bccreds validate` must report about it, in comments:
//! `# expect: LINE:COL JSON.PATH | words of the message` (one line per diagnostic, all of them)
//! and optionally `# args: FLAGS`. Every case must exit 1 and report exactly those diagnostics.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug)]
struct Expected {
    line: u64,
    column: u64,
    path: String,
    words: String,
}

fn parse_case(file: &Path) -> (Vec<String>, Vec<Expected>) {
    let text = String::from_utf8_lossy(&fs::read(file).expect("readable case")).into_owned();
    let mut args = Vec::new();
    let mut expected = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# args:") {
            args.extend(rest.split_whitespace().map(str::to_string));
        }
        if let Some(rest) = line.strip_prefix("# expect:") {
            let (loc_path, words) = rest.split_once(" | ").expect("`LOC PATH | words`");
            let (loc, path) = loc_path.trim().split_once(' ').expect("`LINE:COL PATH`");
            let (l, c) = loc.split_once(':').expect("LINE:COL");
            expected.push(Expected {
                line: l.parse().expect("line"),
                column: c.parse().expect("column"),
                path: path.to_string(),
                words: words.trim().to_string(),
            });
        }
    }
    (args, expected)
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/invalid");
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_has_at_least_thirty_distinct_cases() {
    let files = cases();
    assert!(files.len() >= 30, "only {} cases", files.len());
    let mut bodies: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).expect("read")).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), files.len(), "two corpus files are identical");
}

#[test]
fn every_invalid_manifest_reports_its_exact_location_and_message() {
    let mut failures = Vec::new();
    for file in cases() {
        let (args, expected) = parse_case(&file);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let rel = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("inside the crate")
            .to_path_buf();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, diags, _) = common::validate_json(&arg_refs, &rel);
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if code != 1 {
            failures.push(format!("{name}: exit code {code}, want 1"));
        }
        if diags.len() != expected.len() {
            failures.push(format!(
                "{name}: {} diagnostics, want {}: {diags:?}",
                diags.len(),
                expected.len()
            ));
            continue;
        }
        for (got, want) in diags.iter().zip(&expected) {
            let ok = got["line"] == want.line
                && got["column"] == want.column
                && got["path"] == want.path.as_str()
                && got["file"] == rel.display().to_string().as_str()
                && got["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&want.words));
            if !ok {
                failures.push(format!("{name}: got {got}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn text_output_uses_file_line_column_path_message() {
    let out = common::run(&["validate", "tests/corpus/invalid/18-api-url-http.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tests/corpus/invalid/18-api-url-http.yaml:7:11: $.spec.apiUrl: apiUrl must use https, not http\n"
    );
}
