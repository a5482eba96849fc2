//! `bccreds status`: the conditions a running `watch` daemon reports.

use clap::Args;

use super::table::{render, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK};

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
    crate::tls::install_crypto_provider();
    let url = format!("{}/status", args.url.trim_end_matches('/'));
    // Every message below names the URL; a password in it is never printed.
    let shown = crate::redact::redact_url(&url);
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let response = reqwest::get(&url).await.map_err(|e| {
                    format!(
                        "cannot reach {shown}: {}",
                        crate::redact::redact_url(&e.to_string())
                    )
                })?;
                response
                    .json::<serde_json::Value>()
                    .await
                    .map_err(|e| format!("{shown}: {}", crate::redact::redact_url(&e.to_string())))
            })
        });
    match fetched {
        Ok(doc) => {
            match args.output {
                Output::Json => {
                    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default())
                }
                Output::Text => print!("{}", render_status(&doc, 100)),
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e} (is `bccreds watch` running with --listen there?)");
            EXIT_FAILED
        }
    }
}
