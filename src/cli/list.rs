//! `bccreds list`: the credentials page in the terminal.

use crate::cli::out::{errln, out};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::options::StoreArgs;
use super::table::{render, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK};
use crate::model::{ConditionStatus, Reason};
use crate::store::{ListQuery, ListedCredential, SortColumn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    Label,
    #[value(name = "apiUrl", alias = "api-url")]
    ApiUrl,
    Status,
    Updated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Active,
    Inactive,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Case-insensitive part of the label.
    #[arg(long)]
    search: Option<String>,
    /// Column to sort by.
    #[arg(long, value_enum, default_value_t = SortBy::Label)]
    sort: SortBy,
    /// Sort in descending order.
    #[arg(long)]
    desc: bool,
    /// Only active or only inactive credentials.
    #[arg(long, value_enum)]
    status: Option<StatusFilter>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT")]
    output: Output,
    #[command(flatten)]
    store: StoreArgs,
}

/// One credential as `--output json|yaml` prints it; never a secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListItem {
    label: String,
    api_url: String,
    status: &'static str,
    managed: bool,
    managed_by: Option<String>,
    ready: Option<ConditionStatus>,
    last_verified: Option<DateTime<Utc>>,
}

/// Ready as a condition status, from the last verification's reason.
fn ready(row: &ListedCredential) -> Option<ConditionStatus> {
    row.owner_id.as_ref()?;
    Some(match row.last_result.as_deref() {
        // Never verified yet.
        None => ConditionStatus::Unknown,
        Some(text) => Reason::parse(text).map_or(ConditionStatus::False, Reason::verified_status),
    })
}

fn item(row: &ListedCredential) -> ListItem {
    ListItem {
        label: row.label.clone(),
        api_url: row.api_url.clone(),
        status: if row.active { "Active" } else { "Inactive" },
        managed: row.owner_id.is_some(),
        managed_by: row.owner_id.clone(),
        ready: ready(row),
        last_verified: row.last_verified_at,
    }
}

/// "3m ago" style age, as kubectl prints it.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// The table, at most `width` wide.
pub fn table(rows: &[ListedCredential], now: DateTime<Utc>, width: usize) -> String {
    let columns = [
        Column {
            header: "Label",
            shrink: Shrink::End(12),
        },
        Column {
            header: "API URL",
            shrink: Shrink::Url(16),
        },
        Column {
            header: "Status",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Ready",
            shrink: Shrink::Fixed,
        },
        Column {
            header: "Managed by",
            shrink: Shrink::End(10),
        },
        Column {
            header: "Last verified",
            shrink: Shrink::Fixed,
        },
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let i = item(r);
            vec![
                i.label,
                i.api_url,
                i.status.to_string(),
                i.ready.map_or("-", ConditionStatus::as_str).to_string(),
                i.managed_by.unwrap_or_else(|| "-".into()),
                i.last_verified.map_or_else(|| "-".into(), |t| age(t, now)),
            ]
        })
        .collect();
    render(&columns, &cells, width)
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &usize| *w >= 40)
        .unwrap_or(80)
}

pub fn run(args: &ListArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let query = ListQuery {
        search: args.search.clone(),
        sort: match args.sort {
            SortBy::Label => SortColumn::Label,
            SortBy::ApiUrl => SortColumn::ApiUrl,
            SortBy::Status => SortColumn::Status,
            SortBy::Updated => SortColumn::Updated,
        },
        descending: args.desc,
        active: args.status.map(|s| s == StatusFilter::Active),
    };
    let rows = runtime.block_on(async {
        let store = args.store.open_existing_without_secrets().await?;
        let rows = store.list(&query).await;
        store.close().await;
        rows.map_err(anyhow::Error::from)
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            errln!("error: {e:#}");
            return EXIT_FAILED;
        }
    };
    let items: Vec<ListItem> = rows.iter().map(item).collect();
    let printed = match args.output.document(&items) {
        Some(doc) => doc,
        None if rows.is_empty() => Ok("No credentials stored.\n".to_string()),
        None => Ok(table(&rows, Utc::now(), terminal_width())),
    };
    match printed {
        Ok(text) => {
            out!("{text}");
            EXIT_OK
        }
        Err(e) => {
            errln!("error: {e}");
            EXIT_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(label: &str, owner: Option<&str>, result: Option<&str>) -> ListedCredential {
        ListedCredential {
            id: 1,
            label: label.into(),
            api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
            active: true,
            owner_id: owner.map(str::to_string),
            last_result: result.map(str::to_string),
            last_verified_at: Some(Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()),
            updated_at: None,
        }
    }

    #[test]
    fn ready_follows_the_last_verification() {
        assert_eq!(
            ready(&row("a", Some("o"), Some("Verified"))),
            Some(ConditionStatus::True)
        );
        assert_eq!(
            ready(&row("a", Some("o"), Some("InvalidToken"))),
            Some(ConditionStatus::False)
        );
        assert_eq!(
            ready(&row("a", Some("o"), Some("Unreachable"))),
            Some(ConditionStatus::Unknown)
        );
        assert_eq!(
            ready(&row("a", Some("o"), None)),
            Some(ConditionStatus::Unknown)
        );
        assert_eq!(ready(&row("a", None, None)), None);
    }

    #[test]
    fn the_table_fits_80_columns() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 5, 0).unwrap();
        let rows = vec![
            row(
                "Production Store of the European Union",
                Some("gitops-prod"),
                Some("Verified"),
            ),
            row("Hand made", None, None),
        ];
        let out = table(&rows, now, 80);
        for line in out.lines() {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
        assert!(out.contains("5m ago"), "{out}");
        assert!(out.contains("stores/abc123/"), "{out}");
    }
}
