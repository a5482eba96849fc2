//! `bccreds status`: the conditions a running `watch` daemon reports.

use crate::cli::out::{errln, out};
use clap::Args;

use super::table::{render, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::secret::SecretValue;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Base URL of the daemon's endpoints.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9464",
        env = "BCCREDS_STATUS_URL"
    )]
    url: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    output: Output,
    /// The daemon's --status-token, sent as `Authorization: Bearer TOKEN`. Prefer the
    /// environment variable: a command-line value shows in `ps`.
    #[arg(long, env = "BCCREDS_STATUS_TOKEN", hide_env_values = true, value_parser = status_token_arg)]
    status_token: Option<SecretValue>,
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

fn condition<'a>(credential: &'a serde_json::Value, type_: &str) -> (&'a str, &'a str) {
    credential["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .map_or(("-", ""), |c| {
            (
                c["status"].as_str().unwrap_or("-"),
                c["reason"].as_str().unwrap_or(""),
            )
        })
}

/// The status document as a table and a list of file problems.
pub fn render_status(doc: &serde_json::Value, width: usize) -> String {
    let columns = [
        Column {
            header: "Name",
            shrink: Shrink::End(12),
        },
        Column {
            header: "Label",
            shrink: Shrink::End(10),
        },
        Column {
            header: "Verified",
            shrink: Shrink::End(8),
        },
        Column {
            header: "Stored",
            shrink: Shrink::End(8),
        },
        Column {
            header: "Ready",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Message",
            shrink: Shrink::End(10),
        },
    ];
    let rows: Vec<Vec<String>> = doc["credentials"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let (v, vr) = condition(c, "Verified");
                    let (s, sr) = condition(c, "Stored");
                    let ready = c["conditions"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|x| x["type"] == "Ready"));
                    vec![
                        format!(
                            "{}/{}",
                            c["namespace"].as_str().unwrap_or(""),
                            c["name"].as_str().unwrap_or("")
                        ),
                        c["label"].as_str().unwrap_or("").to_string(),
                        format!("{v} {vr}"),
                        format!("{s} {sr}"),
                        ready
                            .and_then(|r| r["status"].as_str())
                            .unwrap_or("-")
                            .to_string(),
                        ready
                            .and_then(|r| r["message"].as_str())
                            .unwrap_or("")
                            .to_string(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = render(&columns, &rows, width);
    if let Some(problems) = doc["problems"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("\nProblems:\n");
        for p in problems {
            out.push_str(&format!(
                "  {}:{}:{}: {}: {}\n",
                p["file"].as_str().unwrap_or(""),
                p["line"],
                p["column"],
                p["path"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            ));
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
    match fetched {
        Ok(doc) => {
            match args.output.document(&doc) {
                Some(Ok(text)) => out!("{text}"),
                Some(Err(e)) => errln!("error: {e}"),
                None => out!("{}", render_status(&doc, 100)),
            }
            EXIT_OK
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
