//! `bccreds status` against a served status document: the table fits COLUMNS and keeps the
//! whole message, `--wide` shows every condition, JSON and YAML, and the exit code says whether
//! everything is Ready.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bccreds::server::{Probe, Server};
use serde_json::{json, Value};

const REJECTED: &str = "BigCommerce rejected the access token of shop/outlet for store out321 \
                        (401 Unauthorized): check the accessToken Secret bc-outlet, key \
                        access-token, and that the API account was not deleted";

/// Serves whatever document it holds at `/status`.
struct Fake(Mutex<Value>);

impl Probe for Fake {
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    fn status(&self) -> Value {
        self.0.lock().unwrap().clone()
    }

    fn metrics(&self) -> String {
        String::new()
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-02T03:04:05.123456Z",
    })
}

fn production() -> Value {
    json!({
        "namespace": "shop", "name": "production", "label": "Production Store",
        "conditions": [
            condition("Verified", "True", "Verified", "store abc123 answered as Production"),
            condition("Stored", "True", "UpToDate", "row 7 is up to date"),
            condition("Ready", "True", "UpToDate", "verified and stored"),
        ],
    })
}

fn outlet() -> Value {
    json!({
        "namespace": "shop", "name": "outlet", "label": "Outlet",
        "conditions": [
            condition("Verified", "False", "InvalidToken", REJECTED),
            condition("Stored", "True", "UpToDate", "the stored row is kept as it was"),
            condition("Ready", "False", "InvalidToken", REJECTED),
        ],
    })
}

async fn serve(doc: Value) -> Server {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Server::start(listen, Arc::new(Fake(Mutex::new(doc))))
        .await
        .expect("the server starts")
}

/// `bccreds status --url SERVER ARGS…` with COLUMNS set: exit code, stdout, stderr.
async fn status(server: &Server, columns: usize, args: &[&str]) -> (i32, String, String) {
    let mut cmd = common::bccreds();
    cmd.args(["status", "--url", &format!("http://{}", server.addr())])
        .args(args)
        .env("COLUMNS", columns.to_string())
        .env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("bccreds status runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The words of `text` in order, whatever the line breaks and padding between them.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_fits_columns_and_keeps_the_whole_message() {
    let server = serve(json!({"credentials": [outlet(), production()], "problems": []})).await;
    for columns in [80, 100, 200, 300] {
        let (code, out, err) = status(&server, columns, &[]).await;
        assert_eq!(code, 1, "Ready=False exits 1 at {columns}: {out}{err}");
        assert!(out.starts_with("NAME"), "{out}");
        for line in out.lines() {
            assert!(
                line.chars().count() <= columns,
                "wider than {columns}: {line:?}\n{out}"
            );
        }
        // Nothing of the message is cut, however it is wrapped.
        assert!(words(&out).contains(REJECTED), "{columns}:\n{out}");
        let row = out
            .lines()
            .find(|l| l.starts_with("shop/outlet"))
            .expect("a row");
        assert!(
            row.contains("False InvalidToken") && row.contains("True UpToDate"),
            "{row}"
        );
    }
    // With room, the message starts on its row, beside the conditions.
    let (_, out, _) = status(&server, 300, &[]).await;
    let row = out
        .lines()
        .find(|l| l.starts_with("shop/outlet"))
        .expect("a row");
    assert!(row.ends_with(REJECTED), "{out}");
    let (_, out, _) = status(&server, 120, &[]).await;
    let row = out
        .lines()
        .find(|l| l.starts_with("shop/outlet"))
        .expect("a row");
    assert!(
        row.contains("BigCommerce rejected the access token"),
        "{out}"
    );
    assert!(
        out.lines().count() > 3,
        "the message wraps onto more lines: {out}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_says_whether_everything_is_ready() {
    let server = serve(json!({"credentials": [production()], "problems": []})).await;
    let (code, out, err) = status(&server, 80, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shop/production"), "{out}");
    server.shutdown().await;

    let server = serve(json!({"credentials": [], "problems": []})).await;
    let (code, out, err) = status(&server, 80, &[]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "No credentials reported.\n"),
        "{err}"
    );
    server.shutdown().await;

    // No Ready condition yet (the first pass has not reached it): not Ready.
    let pending = json!({"namespace": "shop", "name": "new", "conditions": []});
    let server = serve(json!({"credentials": [production(), pending]})).await;
    let (code, out, _) = status(&server, 80, &[]).await;
    assert_eq!(code, 1, "{out}");
    server.shutdown().await;

    // A manifest that does not parse is a problem, shown escaped; the credentials decide the
    // exit code.
    let problem = json!({
        "file": "m/bad\u{1b}[31m.yaml", "line": 3, "column": 1, "path": "$.spec",
        "message": "unknown field `colour`",
    });
    let server = serve(json!({"credentials": [production()], "problems": [problem]})).await;
    let (code, out, _) = status(&server, 80, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Problems:\n  m/bad\\e[31m.yaml:3:1: $.spec: unknown field `colour`"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "{out}");
    server.shutdown().await;

    // Something that is not a status document is an error, not "everything is ready".
    let server = serve(json!({"items": []})).await;
    let (code, out, err) = status(&server, 80, &[]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not answer with a status document"), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_shows_every_condition_with_reason_status_time_and_whole_message() {
    let server = serve(json!({"credentials": [outlet(), production()]})).await;
    let (code, out, err) = status(&server, 80, &["--wide"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<String> = out.lines().map(words).collect();
    assert_eq!(
        lines[0],
        "NAME LABEL CONDITION STATUS REASON LAST TRANSITION MESSAGE"
    );
    assert_eq!(lines.len(), 7, "{out}");
    assert_eq!(
        lines[1],
        format!("shop/outlet Outlet Verified False InvalidToken 2026-01-02T03:04:05Z {REJECTED}")
    );
    assert_eq!(
        lines[2],
        "shop/outlet Outlet Stored True UpToDate 2026-01-02T03:04:05Z the stored row is kept as it was"
    );
    assert_eq!(
        lines[3],
        format!("shop/outlet Outlet Ready False InvalidToken 2026-01-02T03:04:05Z {REJECTED}")
    );
    assert!(
        lines[6].starts_with("shop/production Production Store Ready True UpToDate"),
        "{out}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_and_json_print_the_document() {
    let doc = json!({"credentials": [outlet()], "problems": []});
    let server = serve(doc.clone()).await;
    let (code, out, err) = status(&server, 80, &["--output", "yaml"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let parsed: Value = serde_yaml_ng::from_str(&out).expect("YAML");
    assert_eq!(parsed, doc, "{out}");
    assert!(out.contains("reason: InvalidToken"), "{out}");
    let (code, out, _) = status(&server, 80, &["--output", "json"]).await;
    assert_eq!(code, 1);
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON"), doc);
    server.shutdown().await;
}

#[test]
fn help_is_grouped_and_documents_the_exit_codes() {
    let out = common::run(&["status", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.lines().count() < 80, "{help}");
    for heading in ["\nConnection:\n", "\nOutput:\n"] {
        assert!(help.contains(heading), "no {heading:?} in:\n{help}");
    }
    assert!(help.contains("--wide"), "{help}");
    assert!(
        words(&help).contains("1 a credential is not Ready"),
        "{help}"
    );
}
