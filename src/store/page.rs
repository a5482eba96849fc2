//! One page of the credentials page's list: filtered, sorted and cut by the database, so that a
//! page of 50 rows reads 50 rows however many are stored. Only a label search reads every row,
//! as a stream that keeps just the page: the search folds case in Rust (see `fold`), alike on
//! every engine, which no engine's SQL does.

use futures_util::TryStreamExt;
// SQL text in this file is built only from validated table names, quoted identifiers, reason
// names of our own enum and placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::decode::ColumnError;
use super::list::ListRow;
use super::rows::Sql;
use super::types::{ListedCredential, SortColumn};
use super::{fold, with_pool, Store, StoreError};
use crate::model::{ConditionStatus, Reason};

/// What one page of the list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// Case-insensitive substring of the label; empty for none.
    pub search: String,
    /// Sort column.
    pub sort: SortColumn,
    /// Descending order.
    pub descending: bool,
    /// Only active (`Some(true)`) or inactive rows.
    pub active: Option<bool>,
    /// Only rows whose Ready is this (unmanaged rows have none).
    pub ready: Option<ConditionStatus>,
    /// Only managed (`Some(true)`) or unmanaged rows.
    pub managed: Option<bool>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to show at most.
    pub limit: u64,
}

/// One page of the list.
#[derive(Debug, Default)]
pub struct Page {
    /// The page's rows, in order.
    pub rows: Vec<ListedCredential>,
    /// How many rows the filters and the search select, on every page.
    pub matching: u64,
    /// How many rows are stored.
    pub stored: u64,
    /// Rows of this page whose label or API URL cannot be read, by id, with why.
    pub unreadable: Vec<(i64, ColumnError)>,
}

/// Ready as a number, in the order the list sorts it (False first, then True, then Unknown),
/// computed by SQL as [`ListedCredential::ready`] computes it; NULL for an unmanaged row.
fn ready_rank(owned: bool) -> String {
    if !owned {
        return "NULL".to_string();
    }
    let names = |status: ConditionStatus| {
        Reason::ALL
            .iter()
            .filter(|r| r.verified_status() == status)
            .map(|r| format!("'{}'", r.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "CASE WHEN o.owner_id IS NULL THEN NULL WHEN o.last_result IS NULL THEN 2 WHEN o.last_result IN ({}) THEN 1 WHEN o.last_result IN ({}) THEN 2 ELSE 0 END",
        names(ConditionStatus::True),
        names(ConditionStatus::Unknown)
    )
}

fn rank_of(status: ConditionStatus) -> u8 {
    match status {
        ConditionStatus::False => 0,
        ConditionStatus::True => 1,
        ConditionStatus::Unknown => 2,
    }
}

impl Store {
    /// A condition that selects exactly the rows whose folded label contains `needle` (bound
    /// as one parameter), where SQL can say so: on SQLite for a needle of ASCII characters.
    /// SQLite's LOWER folds ASCII only, and the only characters whose lowercase holds an ASCII
    /// letter are `İ` (i and a combining dot, which `fold` drops) and the Kelvin sign (k).
    fn exact_search(&self, needle: &str, sql: &mut Sql) -> Option<String> {
        if self.dialect != super::Dialect::Sqlite || !needle.is_ascii() {
            return None;
        }
        Some(format!(
            "instr(replace(replace(replace(LOWER(c.{}), char(304), 'i'), char(8490), 'k'), char(775), ''), {}) > 0",
            self.dialect.ident("label"),
            sql.p()
        ))
    }

    /// The `WHERE` of `query`'s filters, and whether it holds the label search too (which it
    /// does where SQL can search exactly, see [`Store::exact_search`]). It binds `active`, then
    /// the needle.
    fn page_filter(&self, query: &PageQuery, needle: &str, sql: &mut Sql) -> (String, bool) {
        let d = self.dialect;
        let owned = self.has_ownership();
        let mut filters = Vec::new();
        if query.active.is_some() {
            filters.push(format!("c.{} = {}", d.ident("status"), sql.p()));
        }
        match (query.managed, owned) {
            (Some(true), true) => filters.push("o.owner_id IS NOT NULL".into()),
            (Some(false), true) => filters.push("o.owner_id IS NULL".into()),
            (Some(true), false) => filters.push("1 = 0".into()),
            _ => {}
        }
        if let Some(ready) = query.ready {
            filters.push(format!("({}) = {}", ready_rank(owned), rank_of(ready)));
        }
        let searched = if needle.is_empty() {
            false
        } else if let Some(condition) = self.exact_search(needle, sql) {
            filters.push(condition);
            true
        } else {
            false
        };
        let text = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        (text, searched)
    }

    /// The `ORDER BY` of `query`: its column with rows lacking a value last, then the id, all
    /// reversed when descending.
    fn page_order(&self, query: &PageQuery) -> String {
        let d = self.dialect;
        let c = |name: &str| format!("c.{}", d.ident(name));
        let owned = self.has_ownership();
        // Text sorts by its bytes, lowercased, on every engine (not by each one's collation).
        let last = |expr: String| vec![format!("({expr}) IS NULL"), expr];
        let last_text = |expr: String| vec![format!("({expr}) IS NULL"), d.binary(&expr)];
        let lower = |column: &str| d.sort_text(&c(column));
        let keys = match query.sort {
            SortColumn::Label => vec![lower("label")],
            SortColumn::ApiUrl => vec![lower("apiUrl")],
            // Active first.
            SortColumn::Status => vec![format!("1 - {}", d.as_flag(&c("status")))],
            SortColumn::Ready => last(ready_rank(owned)),
            SortColumn::ManagedBy if owned => last_text("o.owner_id".into()),
            SortColumn::LastVerified if owned => last("o.last_verified_at".into()),
            SortColumn::Reason if owned => last_text(format!(
                "CASE WHEN ({}) IN (0, 2) THEN o.last_result END",
                ready_rank(true)
            )),
            SortColumn::ManagedBy | SortColumn::LastVerified | SortColumn::Reason => Vec::new(),
            SortColumn::Updated => vec![c("updated_at")],
        };
        let dir = if query.descending { " DESC" } else { "" };
        let mut order: Vec<String> = keys.into_iter().map(|k| format!("{k}{dir}")).collect();
        order.push(format!("{}{dir}", c("id")));
        format!(" ORDER BY {}", order.join(", "))
    }

    /// `FROM credentials c [LEFT JOIN ownership o]`, as the list reads it.
    fn page_from(&self) -> String {
        let d = self.dialect;
        let mut from = format!(" FROM {} c", d.ident(&self.tables.credentials));
        if self.has_ownership() {
            from.push_str(&format!(
                " LEFT JOIN {} o ON o.credential_id = c.{}",
                d.ident(&self.tables.ownership),
                d.ident("id")
            ));
        }
        from
    }

    /// One page of the list: its rows, how many match, and how many are stored.
    pub async fn page(&self, query: &PageQuery) -> Result<Page, StoreError> {
        if !self.has_credentials() {
            return Ok(Page::default());
        }
        let d = self.dialect;
        let mut sql = Sql::new(d);
        let needle = fold(query.search.trim());
        let (filter, searched) = self.page_filter(query, &needle, &mut sql);
        let order = self.page_order(query);
        let count_all = format!("SELECT COUNT(*) FROM {}", d.ident(&self.tables.credentials));
        let stored: i64 = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(count_all.as_str())).fetch_one(pool).await?);
        let mut page = Page {
            stored: u64::try_from(stored).unwrap_or_default(),
            ..Page::default()
        };
        if !needle.is_empty() && !searched {
            return self
                .search_page(query, &filter, &order, &needle, page)
                .await;
        }
        let searched = searched.then_some(needle.as_str());
        let rows_sql = format!(
            "{}{filter}{order} LIMIT {} OFFSET {}",
            self.list_select(),
            sql.p(),
            sql.p()
        );
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let rows: Vec<ListRow> = with_pool!(self, pool => {
            let mut rows = sqlx::query_as(AssertSqlSafe(rows_sql.as_str()));
            if let Some(active) = query.active {
                rows = rows.bind(active);
            }
            if let Some(needle) = searched {
                rows = rows.bind(needle);
            }
            rows.bind(limit).bind(offset).fetch_all(pool).await?
        });
        page.matching = if filter.is_empty() {
            page.stored
        } else {
            let count_sql = format!("SELECT COUNT(*){}{filter}", self.page_from());
            let matching: i64 = with_pool!(self, pool => {
                let mut count = sqlx::query_scalar(AssertSqlSafe(count_sql.as_str()));
                if let Some(active) = query.active {
                    count = count.bind(active);
                }
                if let Some(needle) = searched {
                    count = count.bind(needle);
                }
                count.fetch_one(pool).await?
            });
            u64::try_from(matching).unwrap_or_default()
        };
        for row in rows {
            match row.listed() {
                Ok(r) => page.rows.push(r),
                Err(bad) => page.unreadable.push(bad),
            }
        }
        Ok(page)
    }

    /// A page of a label search: the ids and labels the filters select are read in order (a
    /// narrow stream, kept only for the page's ids), then the page's rows alone.
    async fn search_page(
        &self,
        query: &PageQuery,
        filter: &str,
        order: &str,
        needle: &str,
        mut page: Page,
    ) -> Result<Page, StoreError> {
        let d = self.dialect;
        let labels_sql = format!(
            "SELECT {} AS id, c.{} AS label{}{filter}{order}",
            d.as_bigint(&format!("c.{}", d.ident("id"))),
            d.ident("label"),
            self.page_from()
        );
        let wanted = query.offset..query.offset.saturating_add(query.limit);
        let mut ids = Vec::new();
        with_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, IdLabel>(AssertSqlSafe(labels_sql.as_str()));
            if let Some(active) = query.active {
                q = q.bind(active);
            }
            let mut stream = q.fetch(pool);
            while let Some(IdLabel { id, label }) = stream.try_next().await? {
                // An unreadable label matches no search.
                if label.is_ok_and(|l| fold(&l).contains(needle)) {
                    if wanted.contains(&page.matching) {
                        ids.push(id);
                    }
                    page.matching += 1;
                }
            }
        });
        if ids.is_empty() {
            return Ok(page);
        }
        let mut sql = Sql::new(d);
        let marks: Vec<String> = ids.iter().map(|_| sql.p()).collect();
        let rows_sql = format!(
            "{} WHERE c.{} IN ({})",
            self.list_select(),
            d.ident("id"),
            marks.join(", ")
        );
        let rows: Vec<ListRow> = with_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(rows_sql.as_str()));
            for id in &ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        });
        let mut by_id: std::collections::HashMap<i64, ListRow> =
            rows.into_iter().map(|r| (r.id(), r)).collect();
        // In the order the first read found them; a row deleted in between is left out.
        for id in ids {
            match by_id.remove(&id).map(ListRow::listed) {
                Some(Ok(r)) => page.rows.push(r),
                Some(Err(bad)) => page.unreadable.push(bad),
                None => {}
            }
        }
        Ok(page)
    }
}

/// An id and a label, as a search reads every row.
struct IdLabel {
    id: i64,
    label: Result<String, ColumnError>,
}

impl<'r, R> sqlx::FromRow<'r, R> for IdLabel
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(IdLabel {
            id: row.try_get("id")?,
            label: super::rows::text(row, "label", "label")?,
        })
    }
}
