//! `bccreds status`: the conditions a running `watch` daemon reports.

use crate::cli::out::{errln, out};
use clap::Args;

use super::table::{fits, render, render_with_notes, terminal_width, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::model::{ConditionStatus, ConditionType};
use crate::probe::StatusDocument;
use crate::reconcile::{Condition, CredentialStatus};
use crate::secret::SecretValue;

/// What `status --help` ends with.
const AFTER_HELP: &str = "\
Exit codes: 0 every credential is Ready (or there is none), 1 a credential is not Ready or
/status cannot be read, 2 usage error.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct StatusArgs {
    /// Base URL of the daemon's endpoints (`watch` or `controller` --listen).
    #[arg(
        long,
        default_value = "http://127.0.0.1:9464",
        env = "BCCREDS_STATUS_URL",
        help_heading = "Connection"
    )]
    url: String,
    /// The daemon's --status-token, sent as `Authorization: Bearer TOKEN`. Prefer the
    /// environment variable: a command-line value shows in `ps`.
    #[arg(long, env = "BCCREDS_STATUS_TOKEN", hide_env_values = true, value_parser = status_token_arg, help_heading = "Connection")]
    status_token: Option<SecretValue>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT", help_heading = "Output")]
    output: Output,
    /// Every condition (Verified, Stored, Ready) with its status, reason, last transition time
    /// and whole message, one line each.
    #[arg(long, help_heading = "Output")]
    wide: bool,
}

/// `--status-token` as given. It is checked by [`checked_status_token`] rather than here,
/// because clap's errors quote the value they refuse.
pub(crate) fn status_token_arg(value: &str) -> Result<SecretValue, std::convert::Infallible> {
    Ok(SecretValue::new(value))
}

/// `--status-token` without one trailing newline (what a token file or a Secret made with
/// `echo` ends with), or why it cannot be a bearer token. The message never quotes the value.
pub(crate) fn checked_status_token(
    token: Option<&SecretValue>,
) -> Result<Option<SecretValue>, String> {
    let Some(token) = token else {
        return Ok(None);
    };
    let token = token.clone().without_trailing_newline();
    if token.is_empty() {
        return Err("--status-token (BCCREDS_STATUS_TOKEN) is empty".into());
    }
    if !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "--status-token (BCCREDS_STATUS_TOKEN) must be printable ASCII without \
                    spaces: it is sent as `Authorization: Bearer <token>`"
                .into(),
        );
    }
    Ok(Some(token))
}

/// Why `status` printed no table.
enum Failure {
    /// Nothing answered, or the answer was not a status document.
    Unreachable(String),
    /// The daemon refused: no token, or the wrong one.
    Refused(String),
}

/// The `Authorization` header for a checked token, marked sensitive.
fn bearer(token: &SecretValue) -> Option<reqwest::header::HeaderValue> {
    let text = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
    let mut value = reqwest::header::HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What 401 and 403 mean, and what to do about them.
fn refusal(shown: &str, code: reqwest::StatusCode, sent_token: bool) -> Option<String> {
    match code {
        reqwest::StatusCode::UNAUTHORIZED if sent_token => Some(format!(
            "{shown} refused the token (401 Unauthorized): pass the --status-token (or \
             BCCREDS_STATUS_TOKEN) the daemon was started with"
        )),
        reqwest::StatusCode::UNAUTHORIZED => Some(format!(
            "{shown} needs a token (401 Unauthorized): pass the daemon's --status-token (or set \
             BCCREDS_STATUS_TOKEN)"
        )),
        reqwest::StatusCode::FORBIDDEN => Some(format!(
            "{shown} does not serve /status without a token on that address (403 Forbidden): \
             start the daemon with --status-token and pass the same --status-token here"
        )),
        _ => None,
    }
}

/// The fewest characters the message column is given beside the others; with less room, each
/// message goes on its own lines under its row.
const MIN_MESSAGE: usize = 30;

fn condition(credential: &CredentialStatus, type_: ConditionType) -> Option<&Condition> {
    credential.conditions.iter().find(|c| c.type_ == type_)
}

/// `status reason` of one condition, `-` without it.
fn status_and_reason(credential: &CredentialStatus, type_: ConditionType) -> String {
    condition(credential, type_)
        .map_or_else(|| "-".to_string(), |c| format!("{} {}", c.status, c.reason))
}

fn name(credential: &CredentialStatus) -> String {
    format!("{}/{}", credential.namespace, credential.name)
}

fn label(credential: &CredentialStatus) -> String {
    credential.label.clone().unwrap_or_default()
}

/// A transition time at second precision.
fn time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `/status` answer read into the types the daemon wrote it from, and kept as it was sent
/// for `--output json|yaml`. A body that is not such a document is an error saying what is wrong
/// and where (serde's message: the document holds no secret).
fn read_status(body: &[u8]) -> Result<(serde_json::Value, StatusDocument), String> {
    let doc = serde_json::from_slice::<StatusDocument>(body).map_err(|e| e.to_string())?;
    let raw = serde_json::from_slice::<serde_json::Value>(body).map_err(|e| e.to_string())?;
    Ok((raw, doc))
}

/// Whether every credential is Ready (true when there is none): what the exit code says. File
/// problems are shown, but a tree without manifests is no failure of a credential.
pub fn all_ready(doc: &StatusDocument) -> bool {
    doc.credentials.iter().all(|c| {
        condition(c, ConditionType::Ready).is_some_and(|r| r.status == ConditionStatus::True)
    })
}

/// One line per credential: its conditions, and the Ready message in the width left (wrapped),
/// or under the row when too little is left.
fn summary_table(doc: &StatusDocument, width: usize) -> String {
    let columns = [
        Column {
            header: "Name",
            shrink: Shrink::End(16),
        },
        Column {
            header: "Label",
            shrink: Shrink::End(10),
        },
        Column {
            header: "Verified",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Stored",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Ready",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Message",
            shrink: Shrink::Wrap(MIN_MESSAGE),
        },
    ];
    let rows: Vec<Vec<String>> = doc
        .credentials
        .iter()
        .map(|c| {
            let ready = condition(c, ConditionType::Ready);
            vec![
                name(c),
                label(c),
                status_and_reason(c, ConditionType::Verified),
                status_and_reason(c, ConditionType::Stored),
                ready.map_or("-", |r| r.status.as_str()).to_string(),
                ready.map_or("", |r| r.message.as_str()).to_string(),
            ]
        })
        .collect();
    if fits(&columns, &rows, width) {
        return render(&columns, &rows, width);
    }
    let (messages, rows): (Vec<String>, Vec<Vec<String>>) = rows
        .into_iter()
        .map(|mut r| (r.pop().unwrap_or_default(), r))
        .unzip();
    render_with_notes(&columns[..columns.len() - 1], &rows, &messages, width)
}

/// One line per condition, nothing cut: `--wide`.
fn wide_table(doc: &StatusDocument) -> String {
    let fixed = |header| Column {
        header,
        shrink: Shrink::Fixed,
    };
    let columns = [
        fixed("Name"),
        fixed("Label"),
        fixed("Condition"),
        fixed("Status"),
        fixed("Reason"),
        fixed("Last transition"),
        fixed("Message"),
    ];
    let mut rows = Vec::new();
    for c in &doc.credentials {
        let (name, label) = (name(c), label(c));
        if c.conditions.is_empty() {
            rows.push(vec![name.clone(), label.clone(), "-".into()]);
        }
        for k in &c.conditions {
            rows.push(vec![
                name.clone(),
                label.clone(),
                k.type_.to_string(),
                k.status.to_string(),
                k.reason.to_string(),
                time(&k.last_transition_time),
                k.message.clone(),
            ]);
        }
    }
    render(&columns, &rows, usize::MAX)
}

/// The status document as a table and a list of file problems, `width` wide (`--wide`: as
/// wide as the whole messages).
pub fn render_status(doc: &StatusDocument, width: usize, wide: bool) -> String {
    let mut out = if doc.credentials.is_empty() {
        "No credentials reported.\n".to_string()
    } else if wide {
        wide_table(doc)
    } else {
        summary_table(doc, width)
    };
    if let Some(problems) = doc.problems.as_ref().filter(|p| !p.is_empty()) {
        out.push_str("\nProblems:\n");
        for p in problems {
            // Diagnostic's Display escapes the file, path and message.
            out.push_str(&format!("  {p}\n"));
        }
    }
    out
}

pub fn run(args: &StatusArgs) -> u8 {
    let token = match checked_status_token(args.status_token.as_ref()) {
        Ok(token) => token,
        Err(e) => {
            errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    crate::tls::install_crypto_provider();
    let url = format!("{}/status", args.url.trim_end_matches('/'));
    // Every message below names the URL; a password in it is never printed.
    let shown = crate::redact::redact_url(&url);
    let unreachable = |e: &dyn std::fmt::Display| {
        Failure::Unreachable(format!(
            "cannot reach {shown}: {}",
            crate::redact::redact_url(&e.to_string())
        ))
    };
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Unreachable(e.to_string()))
        .and_then(|rt| {
            rt.block_on(async {
                // No redirects: the token goes to the URL given, nowhere else.
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| unreachable(&e))?;
                let mut request = client.get(&url);
                if let Some(value) = token.as_ref().and_then(bearer) {
                    request = request.header(reqwest::header::AUTHORIZATION, value);
                }
                let response = request.send().await.map_err(|e| unreachable(&e))?;
                let code = response.status();
                if let Some(refused) = refusal(&shown, code, token.is_some()) {
                    return Err(Failure::Refused(refused));
                }
                if !code.is_success() {
                    return Err(Failure::Unreachable(format!("{shown} answered {code}")));
                }
                response.bytes().await.map_err(|e| {
                    Failure::Unreachable(format!(
                        "{shown}: {}",
                        crate::redact::redact_url(&e.to_string())
                    ))
                })
            })
        });
    let fetched = fetched.and_then(|body| {
        read_status(&body).map_err(|e| {
            Failure::Unreachable(format!(
                "{shown} did not answer with a status document: {e}"
            ))
        })
    });
    match fetched {
        Ok((raw, doc)) => {
            // JSON and YAML print the document as it was sent, fields this version does not
            // know included.
            match args.output.document(&raw) {
                Some(Ok(text)) => out!("{text}"),
                Some(Err(e)) => {
                    errln!("error: {e}");
                    return EXIT_FAILED;
                }
                None => out!("{}", render_status(&doc, terminal_width(), args.wide)),
            }
            if all_ready(&doc) {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(Failure::Refused(e)) => {
            errln!("error: {e}");
            EXIT_FAILED
        }
        Err(Failure::Unreachable(e)) => {
            errln!("error: {e} (is `bccreds watch` running with --listen there?)");
            EXIT_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_token_loses_one_trailing_newline_and_must_fit_a_header() {
        let check = |t: &str| checked_status_token(Some(&SecretValue::new(t)));
        assert_eq!(check("tok-1\n").unwrap().unwrap().expose(), "tok-1");
        assert_eq!(check("tok-1\r\n").unwrap().unwrap().expose(), "tok-1");
        assert!(checked_status_token(None).unwrap().is_none());
        for bad in ["", "\n", "two words", "tab\there", "caf\u{e9}", "a\nb"] {
            let e = check(bad).unwrap_err();
            assert!(e.contains("--status-token"), "{e}");
            assert!(bad.trim().is_empty() || !e.contains(bad), "{e}");
        }
    }

    fn credential(ready: impl serde::Serialize) -> serde_json::Value {
        serde_json::json!({
            "namespace": "shop", "name": "a", "label": "A",
            "conditions": [{
                "type": "Ready", "status": ready, "reason": "UpToDate", "message": "ok",
                "lastTransitionTime": "2026-01-02T03:04:05.5Z",
            }],
        })
    }

    fn read(doc: &serde_json::Value) -> Result<StatusDocument, String> {
        read_status(doc.to_string().as_bytes()).map(|(_, doc)| doc)
    }

    #[test]
    fn the_document_a_daemon_writes_reads_back_as_the_same_types() {
        let written = read(&serde_json::json!({
            "credentials": [credential(ConditionStatus::True)],
            "problems": [{"file": "m/a.yaml", "line": 3, "column": 1, "path": "$.spec",
                          "message": "bad"}],
            "lastPass": {"at": null, "trigger": "start", "error": null, "summary": null},
        }))
        .expect("a status document");
        let (raw, again) = read_status(written.to_json().to_string().as_bytes()).expect("again");
        assert_eq!(again, written);
        assert_eq!(raw, written.to_json());
        let ready = &written.credentials[0].conditions[0];
        assert_eq!(
            (ready.type_, ready.status),
            (ConditionType::Ready, ConditionStatus::True)
        );
        // The controller's document, with its leader flag and no problems.
        let controller = StatusDocument {
            leader: Some(true),
            ..StatusDocument::default()
        };
        assert_eq!(read(&controller.to_json()), Ok(controller));
    }

    #[test]
    fn only_ready_true_is_ready() {
        let doc = |credentials: Vec<serde_json::Value>| {
            read(&serde_json::json!({ "credentials": credentials })).expect("a document")
        };
        assert!(all_ready(&doc(vec![])));
        assert!(all_ready(&doc(vec![
            credential(ConditionStatus::True),
            credential(ConditionStatus::True)
        ])));
        assert!(!all_ready(&doc(vec![
            credential(ConditionStatus::True),
            credential(ConditionStatus::False)
        ])));
        assert!(!all_ready(&doc(vec![credential(ConditionStatus::Unknown)])));
        let pending = serde_json::json!({"namespace": "shop", "name": "b", "conditions": []});
        assert!(!all_ready(&doc(vec![pending])));
    }

    #[test]
    fn a_malformed_document_is_an_error_that_says_what_is_wrong() {
        for (doc, says) in [
            (
                serde_json::json!({"items": []}),
                "missing field `credentials`",
            ),
            (serde_json::json!({"credentials": {}}), "invalid type: map"),
            (
                serde_json::json!({"credentials": [credential("Maybe")]}),
                "unknown variant `Maybe`",
            ),
            (
                serde_json::json!({"credentials": [{"namespace": "shop", "name": "a"}]}),
                "missing field `conditions`",
            ),
        ] {
            let e = read(&doc).expect_err("malformed");
            assert!(e.contains(says), "{doc}: {e}");
            assert!(e.contains("line 1 column"), "{e}");
        }
        let e = read_status(b"<html>").expect_err("not JSON");
        assert!(e.contains("expected value"), "{e}");
    }

    #[test]
    fn refusals_name_the_flag() {
        let url = "http://127.0.0.1:9464/status";
        for (code, sent) in [
            (reqwest::StatusCode::UNAUTHORIZED, false),
            (reqwest::StatusCode::UNAUTHORIZED, true),
            (reqwest::StatusCode::FORBIDDEN, false),
        ] {
            let message = refusal(url, code, sent).expect("a refusal");
            assert!(message.contains("--status-token") && message.contains(url));
        }
        assert!(refusal(url, reqwest::StatusCode::NOT_FOUND, false).is_none());
    }
}
