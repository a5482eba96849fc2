//! `bccreds status`: the conditions a running `watch` daemon reports.

use crate::cli::out::{errln, out};
use clap::Args;

use super::table::{fits, render, render_with_notes, terminal_width, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
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

fn text<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn conditions(credential: &serde_json::Value) -> &[serde_json::Value] {
    credential["conditions"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn condition<'a>(credential: &'a serde_json::Value, type_: &str) -> Option<&'a serde_json::Value> {
    conditions(credential).iter().find(|c| c["type"] == type_)
}

/// `status reason` of one condition, `-` without it.
fn status_and_reason(credential: &serde_json::Value, type_: &str) -> String {
    condition(credential, type_).map_or_else(
        || "-".to_string(),
        |c| {
            format!("{} {}", text(c, "status"), text(c, "reason"))
                .trim()
                .to_string()
        },
    )
}

fn name(credential: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        text(credential, "namespace"),
        text(credential, "name")
    )
}

fn credentials(doc: &serde_json::Value) -> &[serde_json::Value] {
    doc["credentials"].as_array().map_or(&[], Vec::as_slice)
}

/// A transition time at second precision, as it was sent when it does not parse.
fn time(value: &serde_json::Value) -> String {
    let raw = value.as_str().unwrap_or("-");
    chrono::DateTime::parse_from_rfc3339(raw).map_or_else(
        |_| raw.to_string(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        },
    )
}

/// Whether every credential is Ready (true when there is none): what the exit code says. File
/// problems are shown, but a tree without manifests is no failure of a credential.
pub fn all_ready(doc: &serde_json::Value) -> bool {
    credentials(doc)
        .iter()
        .all(|c| condition(c, "Ready").is_some_and(|r| r["status"] == "True"))
}

/// One line per credential: its conditions, and the Ready message in the width left (wrapped),
/// or under the row when too little is left.
fn summary_table(doc: &serde_json::Value, width: usize) -> String {
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
    let rows: Vec<Vec<String>> = credentials(doc)
        .iter()
        .map(|c| {
            let ready = condition(c, "Ready");
            vec![
                name(c),
                text(c, "label").to_string(),
                status_and_reason(c, "Verified"),
                status_and_reason(c, "Stored"),
                ready.map_or("-", |r| text(r, "status")).to_string(),
                ready.map_or("", |r| text(r, "message")).to_string(),
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
fn wide_table(doc: &serde_json::Value) -> String {
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
    for c in credentials(doc) {
        let (name, label) = (name(c), text(c, "label").to_string());
        if conditions(c).is_empty() {
            rows.push(vec![name.clone(), label.clone(), "-".into()]);
        }
        for k in conditions(c) {
            rows.push(vec![
                name.clone(),
                label.clone(),
                text(k, "type").to_string(),
                text(k, "status").to_string(),
                text(k, "reason").to_string(),
                time(&k["lastTransitionTime"]),
                text(k, "message").to_string(),
            ]);
        }
    }
    render(&columns, &rows, usize::MAX)
}

/// The status document as a table and a list of file problems, `width` wide (`--wide`: as
/// wide as the whole messages).
pub fn render_status(doc: &serde_json::Value, width: usize, wide: bool) -> String {
    let mut out = if credentials(doc).is_empty() {
        "No credentials reported.\n".to_string()
    } else if wide {
        wide_table(doc)
    } else {
        summary_table(doc, width)
    };
    if let Some(problems) = doc["problems"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("\nProblems:\n");
        for p in problems {
            let line = format!(
                "{}:{}:{}: {}: {}",
                text(p, "file"),
                p["line"],
                p["column"],
                text(p, "path"),
                text(p, "message")
            );
            out.push_str(&format!("  {}\n", crate::redact::escape_controls(&line)));
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
                response.json::<serde_json::Value>().await.map_err(|e| {
                    Failure::Unreachable(format!(
                        "{shown}: {}",
                        crate::redact::redact_url(&e.to_string())
                    ))
                })
            })
        });
    let fetched = fetched.and_then(|doc| {
        if doc["credentials"].is_array() {
            Ok(doc)
        } else {
            Err(Failure::Unreachable(format!(
                "{shown} did not answer with a status document"
            )))
        }
    });
    match fetched {
        Ok(doc) => {
            match args.output.document(&doc) {
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
