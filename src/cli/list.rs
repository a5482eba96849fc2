//! `bccreds list`: the credentials page in the terminal.

use crate::cli::out::{errln, out};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::options::StoreReadArgs;
use super::table::{render, terminal_width, Column, Shrink};
use super::{Output, EXIT_FAILED, EXIT_OK};
use crate::model::ConditionStatus;
use crate::store::{ListQuery, ListedCredential, Listing, SortColumn};

/// The columns `--sort` takes: the ones the table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    /// Label.
    Label,
    /// API URL.
    #[value(name = "apiUrl", alias = "api-url")]
    ApiUrl,
    /// Active/Inactive.
    Status,
    /// False, True, Unknown; unmanaged rows last.
    Ready,
    /// The owning reconciler (--owner); unmanaged rows last.
    #[value(name = "managedBy", aliases = ["managed-by", "managed", "owner"])]
    ManagedBy,
    /// Oldest verification first; never verified last.
    #[value(name = "lastVerified", alias = "last-verified")]
    LastVerified,
    /// Last update of the row (not a column; kept for scripts).
    #[value(hide = true)]
    Updated,
}

/// `--status`, as the table prints it or in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    // Plain comments: a doc comment here would be a possible value's help, which makes clap
    // print the long, spread-out layout for the whole of `--help`.
    Active,
    Inactive,
}

impl StatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only labels containing this text, ignoring case.
    #[arg(long, help_heading = "Filter/Sort")]
    search: Option<String>,
    /// Column to sort by.
    #[arg(long, value_enum, ignore_case = true, default_value_t = SortBy::Label, help_heading = "Filter/Sort")]
    sort: SortBy,
    /// Sort in descending order.
    #[arg(long, help_heading = "Filter/Sort")]
    desc: bool,
    /// Only active or only inactive credentials (as printed, Active/Inactive, works too).
    #[arg(long, value_enum, ignore_case = true, help_heading = "Filter/Sort")]
    status: Option<StatusFilter>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "BCCREDS_OUTPUT", help_heading = "Output")]
    output: Output,
    #[command(flatten)]
    store: StoreReadArgs,
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

fn item(row: &ListedCredential) -> ListItem {
    ListItem {
        label: row.label.clone(),
        api_url: row.api_url.clone(),
        status: if row.active { "Active" } else { "Inactive" },
        managed: row.owner_id.is_some(),
        managed_by: row.owner_id.clone(),
        ready: row.ready(),
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

/// The table, at most `width` wide. The label is cut last: the other columns give it their
/// room first, and the API URL keeps its host while it can.
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

/// What to say when nothing is listed: that the store is empty, or that nothing matched.
fn nothing_listed(query: &ListQuery, status: Option<StatusFilter>, stored: usize) -> String {
    let mut filters = Vec::new();
    if let Some(search) = query.search.as_deref() {
        filters.push(format!(
            "--search \"{}\"",
            crate::redact::escape_controls(search)
        ));
    }
    if let Some(status) = status {
        filters.push(format!("--status {}", status.as_str()));
    }
    if stored == 0 || filters.is_empty() {
        return "No credentials stored.\n".to_string();
    }
    format!(
        "No credentials match {} ({stored} stored).\n",
        filters.join(" ")
    )
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
            SortBy::Ready => SortColumn::Ready,
            SortBy::ManagedBy => SortColumn::ManagedBy,
            SortBy::LastVerified => SortColumn::LastVerified,
            SortBy::Updated => SortColumn::Updated,
        },
        descending: args.desc,
        active: args.status.map(|s| s == StatusFilter::Active),
    };
    let text = args.output == Output::Text;
    let listed = runtime.block_on(async {
        let store = args.store.open_existing().await?;
        let mut listing = store.listing(&query).await;
        // How many are stored, only to say that a filter matched none of them.
        let mut stored = 0;
        if text
            && listing.as_ref().is_ok_and(|l| l.rows.is_empty())
            && query != ListQuery::default()
        {
            match store.list(&ListQuery::default()).await {
                Ok(all) => stored = all.len(),
                Err(e) => listing = Err(e),
            }
        }
        store.close().await;
        listing.map(|l| (l, stored)).map_err(anyhow::Error::from)
    });
    let (Listing { rows, unreadable }, stored) = match listed {
        Ok(listed) => listed,
        Err(e) => return super::errors::report(&e),
    };
    // A row that cannot be read fails alone: the others are listed, and it is named.
    for (id, problem) in &unreadable {
        errln!("error: stored credential {id} cannot be read: {problem}; it is not listed");
    }
    let code = if unreadable.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    let items: Vec<ListItem> = rows.iter().map(item).collect();
    let printed = match args.output.document(&items) {
        Some(doc) => doc,
        None if rows.is_empty() => Ok(nothing_listed(&query, args.status, stored)),
        None => Ok(table(&rows, Utc::now(), terminal_width())),
    };
    match printed {
        Ok(text) => {
            out!("{text}");
            code
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
            row("a", Some("o"), Some("Verified")).ready(),
            Some(ConditionStatus::True)
        );
        assert_eq!(
            row("a", Some("o"), Some("InvalidToken")).ready(),
            Some(ConditionStatus::False)
        );
        assert_eq!(
            row("a", Some("o"), Some("Unreachable")).ready(),
            Some(ConditionStatus::Unknown)
        );
        assert_eq!(
            row("a", Some("o"), None).ready(),
            Some(ConditionStatus::Unknown)
        );
        assert_eq!(row("a", None, None).ready(), None);
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
        assert!(out.contains("/stores/abc123"), "{out}");
        // Wide enough, everything is whole, the URL with its scheme.
        let out = table(&rows, now, 200);
        assert!(
            out.contains("Production Store of the European Union  https://api.bigcommerce.com/stores/abc123/  Active"),
            "{out}"
        );
    }

    #[test]
    fn an_empty_listing_says_whether_a_filter_matched_nothing() {
        let search = ListQuery {
            search: Some("x\u{1b}]".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            nothing_listed(&search, None, 3),
            "No credentials match --search \"x\\e]\" (3 stored).\n"
        );
        assert_eq!(
            nothing_listed(&search, Some(StatusFilter::Inactive), 1),
            "No credentials match --search \"x\\e]\" --status inactive (1 stored).\n"
        );
        assert_eq!(
            nothing_listed(&ListQuery::default(), None, 0),
            "No credentials stored.\n"
        );
        assert_eq!(nothing_listed(&search, None, 0), "No credentials stored.\n");
    }
}
