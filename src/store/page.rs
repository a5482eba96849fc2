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
use super::ops::Sql;
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
    /// The `WHERE` of `query`'s filters (the search aside), and whether it binds `active`.
    fn page_filter(&self, query: &PageQuery, sql: &mut Sql) -> String {
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
        if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        }
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
        let lower = |column: &str| d.binary(&format!("LOWER({})", d.as_text(&c(column))));
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

    /// One page of the list: its rows, how many match, and how many are stored.
    pub async fn page(&self, query: &PageQuery) -> Result<Page, StoreError> {
        if !self.has_credentials() {
            return Ok(Page::default());
        }
        let mut sql = Sql::new(self.dialect);
        let filter = self.page_filter(query, &mut sql);
        let base = format!("{}{filter}", self.list_select());
        let count_all = format!(
            "SELECT COUNT(*) FROM {}",
            self.dialect.ident(&self.tables.credentials)
        );
        let stored: i64 = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(count_all.as_str())).fetch_one(pool).await?);
        let mut page = Page {
            stored: u64::try_from(stored).unwrap_or_default(),
            ..Page::default()
        };
        let order = self.page_order(query);
        let needle = fold(query.search.trim());
        if needle.is_empty() {
            let rows_sql = format!("{base}{order} LIMIT {} OFFSET {}", sql.p(), sql.p());
            let count_sql = format!("SELECT COUNT(*) FROM ({base}) matching");
            let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
            let (rows, matching): (Vec<ListRow>, i64) = with_pool!(self, pool => {
                let mut rows = sqlx::query_as(AssertSqlSafe(rows_sql.as_str()));
                let mut count = sqlx::query_scalar(AssertSqlSafe(count_sql.as_str()));
                if let Some(active) = query.active {
                    rows = rows.bind(active);
                    count = count.bind(active);
                }
                let rows = rows.bind(limit).bind(offset).fetch_all(pool).await?;
                (rows, count.fetch_one(pool).await?)
            });
            page.matching = u64::try_from(matching).unwrap_or_default();
            for row in rows {
                match row.listed() {
                    Ok(r) => page.rows.push(r),
                    Err(bad) => page.unreadable.push(bad),
                }
            }
            return Ok(page);
        }
        // A search reads every row the filters select, in order, keeping only this page's.
        let rows_sql = format!("{base}{order}");
        let wanted = query.offset..query.offset.saturating_add(query.limit);
        let keep = |row: ListRow, page: &mut Page| {
            let Ok(listed) = row.listed() else {
                // An unreadable label matches no search.
                return;
            };
            if fold(&listed.label).contains(&needle) {
                if wanted.contains(&page.matching) {
                    page.rows.push(listed);
                }
                page.matching += 1;
            }
        };
        with_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, ListRow>(AssertSqlSafe(rows_sql.as_str()));
            if let Some(active) = query.active {
                q = q.bind(active);
            }
            let mut stream = q.fetch(pool);
            while let Some(row) = stream.try_next().await? {
                keep(row, &mut page);
            }
        });
        Ok(page)
    }
}
