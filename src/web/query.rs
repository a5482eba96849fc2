//! The list page's query string: search, sort and filters, parsed leniently (an unknown value is
//! ignored, as a shared link from an older version should still open), and applied to the rows.
//! Pure, so every combination is tested without a server.

use std::cmp::Ordering;

use serde::Deserialize;

use crate::model::ConditionStatus;
use crate::store::{fold, ListedCredential};

/// A column of the list, as `sort=` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Label.
    Label,
    /// API URL.
    ApiUrl,
    /// Active/Inactive.
    Status,
    /// Ready.
    Ready,
    /// Managed by.
    ManagedBy,
    /// Last verified.
    LastVerified,
    /// Reason of the last failure.
    Reason,
}

impl Column {
    /// Every column, in the order the table shows them.
    pub const ALL: [Column; 7] = [
        Column::Label,
        Column::ApiUrl,
        Column::Status,
        Column::Ready,
        Column::ManagedBy,
        Column::LastVerified,
        Column::Reason,
    ];

    /// The name in `sort=` and in `data-column`.
    pub fn key(self) -> &'static str {
        match self {
            Column::Label => "label",
            Column::ApiUrl => "apiUrl",
            Column::Status => "status",
            Column::Ready => "ready",
            Column::ManagedBy => "managedBy",
            Column::LastVerified => "lastVerified",
            Column::Reason => "reason",
        }
    }

    /// The header text.
    pub fn title(self) -> &'static str {
        match self {
            Column::Label => "Label",
            Column::ApiUrl => "API URL",
            Column::Status => "Status",
            Column::Ready => "Ready",
            Column::ManagedBy => "Managed by",
            Column::LastVerified => "Last verified",
            Column::Reason => "Last failure",
        }
    }

    fn parse(text: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.key() == text)
    }
}

/// The query string as sent; every field optional and free text.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawQuery {
    q: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    status: Option<String>,
    ready: Option<String>,
    managed: Option<String>,
}

/// What the list shows: the parsed query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Search text (trimmed; empty is none).
    pub search: String,
    /// Sort column.
    pub sort: Column,
    /// Descending.
    pub descending: bool,
    /// `active` / `inactive`.
    pub status: Option<bool>,
    /// `true` / `false` / `unknown`.
    pub ready: Option<ConditionStatus>,
    /// `yes` / `no`.
    pub managed: Option<bool>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            search: String::new(),
            sort: Column::Label,
            descending: false,
            status: None,
            ready: None,
            managed: None,
        }
    }
}

impl ListQuery {
    /// Parses the query string leniently: unknown values count as not given.
    pub fn parse(raw: &RawQuery) -> ListQuery {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
        ListQuery {
            search: text(&raw.q),
            sort: Column::parse(&text(&raw.sort)).unwrap_or(Column::Label),
            descending: text(&raw.dir) == "desc",
            status: match text(&raw.status).as_str() {
                "active" => Some(true),
                "inactive" => Some(false),
                _ => None,
            },
            ready: match text(&raw.ready).as_str() {
                "true" => Some(ConditionStatus::True),
                "false" => Some(ConditionStatus::False),
                "unknown" => Some(ConditionStatus::Unknown),
                _ => None,
            },
            managed: match text(&raw.managed).as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        }
    }

    /// Whether any filter or search is set (so an empty result is "no match").
    pub fn filters(&self) -> bool {
        !self.search.is_empty()
            || self.status.is_some()
            || self.ready.is_some()
            || self.managed.is_some()
    }

    /// This query as a query string, with `sort`/`dir` replaced by `sort_by` (a header link).
    pub fn href(&self, sort: Column, descending: bool) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.search.is_empty() {
            pairs.push(("q", self.search.clone()));
        }
        if let Some(active) = self.status {
            pairs.push(("status", if active { "active" } else { "inactive" }.into()));
        }
        if let Some(ready) = self.ready {
            pairs.push(("ready", ready.as_str().to_lowercase()));
        }
        if let Some(managed) = self.managed {
            pairs.push(("managed", if managed { "yes" } else { "no" }.into()));
        }
        pairs.push(("sort", sort.key().into()));
        pairs.push(("dir", if descending { "desc" } else { "asc" }.into()));
        let encoded: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        format!("?{}", encoded.join("&"))
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The reason of the last failure of a row, or None when it is fine or unmanaged.
pub fn failure(row: &ListedCredential) -> Option<&str> {
    match row.ready() {
        Some(ConditionStatus::True) | None => None,
        _ => row.last_result.as_deref(),
    }
}

/// The rows the query selects, in its order. Search ignores case (Unicode), as `list` does.
pub fn select<'a>(rows: &'a [ListedCredential], q: &ListQuery) -> Vec<&'a ListedCredential> {
    let needle = fold(&q.search);
    let mut out: Vec<&ListedCredential> = rows
        .iter()
        .filter(|r| needle.is_empty() || fold(&r.label).contains(&needle))
        .filter(|r| q.status.is_none_or(|a| r.active == a))
        .filter(|r| q.ready.is_none_or(|s| r.ready() == Some(s)))
        .filter(|r| q.managed.is_none_or(|m| r.owner_id.is_some() == m))
        .collect();
    out.sort_by(|a, b| {
        let order = compare(a, b, q.sort).then_with(|| a.id.cmp(&b.id));
        if q.descending {
            order.reverse()
        } else {
            order
        }
    });
    out
}

fn compare(a: &ListedCredential, b: &ListedCredential, column: Column) -> Ordering {
    // Missing values sort last in ascending order, as `list` sorts them.
    fn last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    match column {
        Column::Label => fold(&a.label).cmp(&fold(&b.label)),
        Column::ApiUrl => a.api_url.cmp(&b.api_url),
        Column::Status => b.active.cmp(&a.active),
        Column::Ready => last(a.ready().map(ready_rank), b.ready().map(ready_rank)),
        Column::ManagedBy => last(a.owner_id.as_ref(), b.owner_id.as_ref()),
        Column::LastVerified => last(a.last_verified_at, b.last_verified_at),
        Column::Reason => last(failure(a), failure(b)),
    }
}

/// False first: what needs attention leads.
fn ready_rank(s: ConditionStatus) -> u8 {
    match s {
        ConditionStatus::False => 0,
        ConditionStatus::True => 1,
        ConditionStatus::Unknown => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, label: &str, owner: Option<&str>, result: Option<&str>) -> ListedCredential {
        ListedCredential {
            id,
            label: label.into(),
            api_url: format!("https://api.bigcommerce.com/stores/s{id}/"),
            active: id % 2 == 1,
            owner_id: owner.map(str::to_string),
            last_result: result.map(str::to_string),
            last_verified_at: None,
            updated_at: None,
        }
    }

    fn query(text: &str) -> ListQuery {
        let raw: RawQuery = serde_urlencoded_like(text);
        ListQuery::parse(&raw)
    }

    fn serde_urlencoded_like(text: &str) -> RawQuery {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        RawQuery {
            q: get("q"),
            sort: get("sort"),
            dir: get("dir"),
            status: get("status"),
            ready: get("ready"),
            managed: get("managed"),
        }
    }

    fn labels(rows: &[&ListedCredential]) -> Vec<String> {
        rows.iter().map(|r| r.label.clone()).collect()
    }

    fn rows() -> Vec<ListedCredential> {
        vec![
            row(1, "Zürich", Some("gitops"), Some("Verified")),
            row(2, "alpha", Some("gitops"), Some("InvalidToken")),
            row(3, "Beta", None, None),
            row(4, "zeta", Some("other"), Some("Unreachable")),
        ]
    }

    #[test]
    fn search_filters_and_sorts_compose() {
        let rows = rows();
        assert_eq!(
            labels(&select(&rows, &query(""))),
            ["alpha", "Beta", "zeta", "Zürich"]
        );
        assert_eq!(labels(&select(&rows, &query("q=Z%C3%9CRICH"))), ["Zürich"]);
        assert_eq!(labels(&select(&rows, &query("ready=false"))), ["alpha"]);
        assert_eq!(labels(&select(&rows, &query("managed=no"))), ["Beta"]);
        assert_eq!(
            labels(&select(&rows, &query("status=active&sort=label&dir=desc"))),
            ["Zürich", "Beta"]
        );
        assert_eq!(
            labels(&select(&rows, &query("sort=ready"))),
            ["alpha", "Zürich", "zeta", "Beta"]
        );
        assert_eq!(
            labels(&select(&rows, &query("sort=reason"))),
            ["alpha", "zeta", "Zürich", "Beta"]
        );
    }

    #[test]
    fn unknown_values_are_ignored_and_links_keep_the_filters() {
        let q = query("sort=evil&dir=sideways&status=maybe&ready=%3Cb%3E&q=+a%26b+");
        assert_eq!(q.sort, Column::Label);
        assert!(!q.descending);
        assert_eq!((q.status, q.ready), (None, None));
        assert_eq!(q.search, "a&b");
        assert_eq!(
            q.href(Column::ApiUrl, true),
            "?q=a%26b&sort=apiUrl&dir=desc"
        );
        let q = query("ready=unknown&managed=yes");
        assert_eq!(
            q.href(Column::Label, false),
            "?ready=unknown&managed=yes&sort=label&dir=asc"
        );
        assert!(q.filters());
        assert!(!query("sort=label").filters());
    }
}
