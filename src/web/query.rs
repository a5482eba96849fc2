//! The list page's query string: search, sort and filters, parsed leniently (an unknown value is
//! ignored, as a shared link from an older version should still open), and applied to the rows.
//! Pure, so every combination is tested without a server.

use serde::Deserialize;

use crate::model::ConditionStatus;
use crate::store::{PageQuery, SortColumn};

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
    page: Option<String>,
    per_page: Option<String>,
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
    /// Which page, from 1.
    pub page: u64,
    /// Rows per page, from 1 to [`MAX_PER_PAGE`].
    pub per_page: u64,
}

/// Rows per page unless `per_page=` asks otherwise.
pub const DEFAULT_PER_PAGE: u64 = 50;
/// The most rows one page shows, whatever `per_page=` asks.
pub const MAX_PER_PAGE: u64 = 500;

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            search: String::new(),
            sort: Column::Label,
            descending: false,
            status: None,
            ready: None,
            managed: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
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
            ready: ConditionStatus::ALL
                .iter()
                .copied()
                .find(|s| ready_key(*s) == text(&raw.ready)),
            managed: match text(&raw.managed).as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            page: text(&raw.page)
                .parse::<u64>()
                .ok()
                .filter(|p| *p > 0)
                .unwrap_or(1),
            per_page: text(&raw.per_page)
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map_or(DEFAULT_PER_PAGE, |n| n.min(MAX_PER_PAGE)),
        }
    }

    /// The store's query for this page.
    pub fn to_store(&self) -> PageQuery {
        PageQuery {
            search: self.search.clone(),
            sort: match self.sort {
                Column::Label => SortColumn::Label,
                Column::ApiUrl => SortColumn::ApiUrl,
                Column::Status => SortColumn::Status,
                Column::Ready => SortColumn::Ready,
                Column::ManagedBy => SortColumn::ManagedBy,
                Column::LastVerified => SortColumn::LastVerified,
                Column::Reason => SortColumn::Reason,
            },
            descending: self.descending,
            active: self.status,
            ready: self.ready,
            managed: self.managed,
            offset: (self.page - 1).saturating_mul(self.per_page),
            limit: self.per_page,
        }
    }

    /// The number of pages `matching` rows fill (at least one).
    pub fn pages(&self, matching: u64) -> u64 {
        matching.div_ceil(self.per_page).max(1)
    }

    /// Whether any filter or search is set (so an empty result is "no match").
    pub fn filters(&self) -> bool {
        !self.search.is_empty()
            || self.status.is_some()
            || self.ready.is_some()
            || self.managed.is_some()
    }

    /// This query as a query string, with `sort`/`dir` replaced (a header link), on page 1.
    pub fn href(&self, sort: Column, descending: bool) -> String {
        self.link(sort, descending, 1)
    }

    /// This query as a query string on page `page`.
    pub fn page_href(&self, page: u64) -> String {
        self.link(self.sort, self.descending, page)
    }

    fn link(&self, sort: Column, descending: bool, page: u64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.search.is_empty() {
            pairs.push(("q", self.search.clone()));
        }
        if let Some(active) = self.status {
            pairs.push(("status", if active { "active" } else { "inactive" }.into()));
        }
        if let Some(ready) = self.ready {
            pairs.push(("ready", ready_key(ready)));
        }
        if let Some(managed) = self.managed {
            pairs.push(("managed", if managed { "yes" } else { "no" }.into()));
        }
        pairs.push(("sort", sort.key().into()));
        pairs.push(("dir", if descending { "desc" } else { "asc" }.into()));
        if self.per_page != DEFAULT_PER_PAGE {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        let encoded: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        format!("?{}", encoded.join("&"))
    }
}

/// How `ready=` and the page's classes spell a condition status: its name in lower case, so that
/// a link keeps working whatever case the status is shown in.
pub fn ready_key(status: ConditionStatus) -> String {
    status.as_str().to_ascii_lowercase()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            page: get("page"),
            per_page: get("per_page"),
        }
    }

    #[test]
    fn the_store_is_asked_for_one_page_with_the_filters() {
        let q = query("q=Z%C3%9CRICH&ready=false&managed=no&status=inactive&sort=reason&dir=desc&page=3&per_page=20");
        assert_eq!(
            q.to_store(),
            PageQuery {
                search: "ZÜRICH".into(),
                sort: SortColumn::Reason,
                descending: true,
                active: Some(false),
                ready: Some(ConditionStatus::False),
                managed: Some(false),
                offset: 40,
                limit: 20,
            }
        );
        let first = query("").to_store();
        assert_eq!((first.offset, first.limit), (0, DEFAULT_PER_PAGE));
        // A page size past the cap is the cap; nonsense is the default; pages start at 1.
        for (text, per_page, page) in [
            ("per_page=100000", MAX_PER_PAGE, 1),
            ("per_page=0&page=0", DEFAULT_PER_PAGE, 1),
            ("per_page=-5&page=x", DEFAULT_PER_PAGE, 1),
            ("per_page=7&page=18446744073709551615", 7, u64::MAX),
        ] {
            let q = query(text);
            assert_eq!((q.per_page, q.page), (per_page, page), "{text}");
            let _ = q.to_store();
        }
        assert_eq!(query("per_page=20").pages(0), 1);
        assert_eq!(query("per_page=20").pages(41), 3);
    }

    #[test]
    fn page_links_keep_the_query_and_sorting_starts_over() {
        let q = query("q=a&per_page=20&page=4&sort=ready");
        assert_eq!(q.page_href(5), "?q=a&sort=ready&dir=asc&per_page=20&page=5");
        assert_eq!(q.page_href(1), "?q=a&sort=ready&dir=asc&per_page=20");
        assert_eq!(
            q.href(Column::Label, true),
            "?q=a&sort=label&dir=desc&per_page=20"
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
