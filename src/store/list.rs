//! The credentials page as a query: search, sort and filter; and UnoPim's enabled codes.

use std::cmp::Ordering;

use chrono::NaiveDateTime;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::decode::ColumnError;
use super::rows::{flag, text, Sql};
use super::types::{ListQuery, ListedCredential, SortColumn, UnoPimCodes};
use super::{with_pool, Store, StoreError};
use crate::model::{ConditionStatus, Reason};

/// A row of the list as the query returns it; `label` and `apiUrl` may not be text in a
/// hand-edited row, which then fails alone.
pub(super) struct ListRow {
    id: i64,
    label: Result<String, ColumnError>,
    api_url: Result<String, ColumnError>,
    status: bool,
    owner_id: Option<String>,
    last_result: Option<String>,
    last_verified_at: Option<NaiveDateTime>,
    updated_at: Option<String>,
}

impl<'r, R> sqlx::FromRow<'r, R> for ListRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    NaiveDateTime: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(ListRow {
            id: row.try_get("id")?,
            label: text(row, "label", "label")?,
            api_url: text(row, "api_url", "apiUrl")?,
            status: flag(row, "status")?,
            owner_id: row.try_get("owner_id")?,
            last_result: row.try_get("last_result")?,
            last_verified_at: row.try_get("last_verified_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl ListRow {
    /// The row's id.
    pub(super) fn id(&self) -> i64 {
        self.id
    }

    /// The listed credential, or the row's id and the column that cannot be read.
    pub(super) fn listed(self) -> Result<ListedCredential, (i64, ColumnError)> {
        let id = self.id;
        Ok(ListedCredential {
            id,
            label: self.label.map_err(|e| (id, e))?,
            api_url: self.api_url.map_err(|e| (id, e))?,
            active: self.status,
            owner_id: self.owner_id,
            last_result: self.last_result,
            last_verified_at: self.last_verified_at.map(|t| t.and_utc()),
            // A timestamp that does not parse is not worth failing a listing for.
            updated_at: super::decode::timestamp("updated_at", self.updated_at.as_deref())
                .unwrap_or_default(),
        })
    }
}

/// The stored credentials a listing read, and the rows it could not.
#[derive(Debug, Default)]
pub struct Listing {
    /// The rows, in the query's order.
    pub rows: Vec<ListedCredential>,
    /// Rows whose label or API URL cannot be read, by id, with the column and why.
    pub unreadable: Vec<(i64, ColumnError)>,
}

impl Store {
    /// `SELECT … FROM credentials c [LEFT JOIN ownership o]`: the columns of a list row.
    pub(super) fn list_select(&self) -> String {
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let updated = d.as_text(&format!("c.{}", q("updated_at")));
        format!(
            "SELECT {id_value} AS id, c.{label} AS label, c.{api} AS api_url, {status} AS status, {owner} FROM {creds} c {join}",
            id_value = d.as_bigint(&format!("c.{}", q("id"))),
            label = q("label"),
            api = q("apiUrl"),
            status = d.as_flag(&format!("c.{}", q("status"))),
            creds = q(&self.tables.credentials),
            // A table Laravel made, before bccreds ever wrote to this database, has no owners.
            owner = if self.has_ownership() {
                format!("o.owner_id AS owner_id, o.last_result AS last_result, o.last_verified_at AS last_verified_at, {updated} AS updated_at")
            } else {
                format!("NULL AS owner_id, NULL AS last_result, NULL AS last_verified_at, {updated} AS updated_at")
            },
            join = if self.has_ownership() {
                format!("LEFT JOIN {} o ON o.credential_id = c.{}", q(&self.tables.ownership), q("id"))
            } else {
                String::new()
            },
        )
    }

    /// The stored credentials, as the credentials page lists them; no secret is read. Rows that
    /// cannot be read are left out (see [`Store::listing`]).
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<ListedCredential>, StoreError> {
        Ok(self.listing(query).await?.rows)
    }

    /// The stored credentials, and the rows whose label or API URL cannot be read (which fail
    /// alone instead of failing the listing).
    pub async fn listing(&self, query: &ListQuery) -> Result<Listing, StoreError> {
        if !self.has_credentials() {
            return Ok(Listing::default());
        }
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let mut sql = Sql::new(d);
        let mut text = self.list_select();
        if query.active.is_some() {
            text.push_str(&format!(" WHERE c.{} = {}", q("status"), sql.p()));
        }
        let column = match query.sort {
            // The ownership columns are sorted below, alike on every engine (which put NULLs
            // first or last as they please); the database orders their ties by label.
            SortColumn::Label
            | SortColumn::Ready
            | SortColumn::ManagedBy
            | SortColumn::LastVerified
            | SortColumn::Reason => "label",
            SortColumn::ApiUrl => "apiUrl",
            SortColumn::Status => "status",
            SortColumn::Updated => "updated_at",
        };
        let dir = if query.descending { "DESC" } else { "ASC" };
        // Labels sort as a person reads them, whatever the engine's collation (and whatever
        // type a hand-altered column has).
        let key = if column == "label" || column == "apiUrl" {
            d.sort_text(&format!("c.{}", q(column)))
        } else {
            format!("c.{}", q(column))
        };
        text.push_str(&format!(" ORDER BY {key} {dir}, c.{} {dir}", q("id")));
        let rows: Vec<ListRow> = with_pool!(self, pool => {
            let mut sqlq = sqlx::query_as(AssertSqlSafe(text.as_str()));
            if let Some(active) = query.active {
                sqlq = sqlq.bind(active);
            }
            sqlq.fetch_all(pool).await?
        });
        // The search is matched here, not in SQL: SQLite's LOWER folds ASCII only and MariaDB's
        // collation ignores accents, so the same search would find different rows per engine.
        let needle = query.search.as_deref().map(fold).unwrap_or_default();
        let mut listing = Listing::default();
        for row in rows {
            match row.listed() {
                Ok(r) if needle.is_empty() || fold(&r.label).contains(&needle) => {
                    listing.rows.push(r)
                }
                Ok(_) => {}
                Err(bad) => listing.unreadable.push(bad),
            }
        }
        sort_by_ownership(&mut listing.rows, query);
        Ok(listing)
    }

    pub(crate) async fn source_path_exists(&self) -> Result<bool, StoreError> {
        let Some(sql) = super::migrate::source_path_sql(self.dialect, &self.tables) else {
            return Ok(false);
        };
        // `SELECT 1` is a different integer type per engine: only whether a row came matters.
        let found = with_pool!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).fetch_optional(pool).await?.is_some());
        Ok(found)
    }

    pub(crate) async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let sql = self.dialect.table_exists_sql();
        let found: Option<i32> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(table).fetch_optional(pool).await?);
        Ok(found.is_some())
    }

    async fn enabled_codes(&self, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        if !self.table_exists(table).await? {
            return Ok(None);
        }
        let d = self.dialect;
        // `status` is tinyint(1) on MySQL and boolean on PostgreSQL; a bare truth test reads both.
        let sql = format!(
            "SELECT DISTINCT {code} FROM {table} WHERE {status} ORDER BY {code}",
            code = d.ident("code"),
            table = d.ident(table),
            status = d.ident("status"),
        );
        let codes: Vec<String> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?);
        Ok(Some(codes))
    }

    /// UnoPim's enabled locale and currency codes, where its tables exist in this database.
    pub async fn unopim_codes(&self) -> Result<UnoPimCodes, StoreError> {
        Ok(UnoPimCodes {
            locales: self.enabled_codes(&self.tables.locales.clone()).await?,
            currencies: self.enabled_codes(&self.tables.currencies.clone()).await?,
        })
    }
}

impl Store {
    /// One credential by id with its ownership record, for the credentials page.
    pub async fn get_with_owner(
        &self,
        id: i64,
    ) -> Result<Option<(super::StoredCredential, Option<super::Ownership>)>, StoreError> {
        let Some(row) = self.get(id).await? else {
            return Ok(None);
        };
        let own = self.ownership_of(id).await?;
        Ok(Some((row, own)))
    }
}

impl ListedCredential {
    /// The reason of the last failure, or None when the row is Ready or not managed.
    pub fn failure(&self) -> Option<&str> {
        match self.ready() {
            Some(ConditionStatus::True) | None => None,
            _ => self.last_result.as_deref(),
        }
    }

    /// Ready as `list` shows it: `None` for a row bccreds does not manage, Unknown before the
    /// first verification or after one without a verdict, else what the last verification says.
    pub fn ready(&self) -> Option<ConditionStatus> {
        self.owner_id.as_ref()?;
        Some(match self.last_result.as_deref() {
            None => ConditionStatus::Unknown,
            Some(text) => {
                Reason::parse(text).map_or(ConditionStatus::False, Reason::verified_status)
            }
        })
    }
}

/// Sorts rows (already in label order) by a column of the ownership record: values in order,
/// rows without one last, the whole order reversed by `--desc`. The sort is stable, so ties keep
/// the label order.
fn sort_by_ownership(rows: &mut [ListedCredential], query: &ListQuery) {
    fn missing_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let compare: fn(&ListedCredential, &ListedCredential) -> Ordering = match query.sort {
        // As printed: False, True, Unknown.
        SortColumn::Ready => |a, b| {
            missing_last(
                a.ready().map(ConditionStatus::as_str),
                b.ready().map(ConditionStatus::as_str),
            )
        },
        SortColumn::ManagedBy => |a, b| {
            missing_last(
                a.owner_id.as_deref().map(fold),
                b.owner_id.as_deref().map(fold),
            )
        },
        SortColumn::LastVerified => |a, b| missing_last(a.last_verified_at, b.last_verified_at),
        SortColumn::Reason => |a, b| missing_last(a.failure(), b.failure()),
        SortColumn::Label | SortColumn::ApiUrl | SortColumn::Status | SortColumn::Updated => return,
    };
    if query.descending {
        // The database already reversed the label order of the ties.
        rows.sort_by(|a, b| compare(b, a));
    } else {
        rows.sort_by(compare);
    }
}

/// Text folded for a case-insensitive search, alike on every engine: Unicode lowercase, with the
/// combining dot that lowercasing `İ` leaves removed, so `İzmir`, `IZMIR` and `izmir` meet.
pub fn fold(text: &str) -> String {
    text.to_lowercase().replace('\u{307}', "")
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn search_folding_is_unicode_aware() {
        for (label, search) in [
            ("İzmir Store", "İzmir"),
            ("İzmir Store", "izmir"),
            ("İzmir Store", "IZMIR"),
            ("Boutique ZÜRICH", "zürich"),
            ("ΣΟΦΙΑ", "σοφια"),
            ("50% off!", "50% OFF"),
        ] {
            assert!(fold(label).contains(&fold(search)), "{label} / {search}");
        }
        assert!(
            !fold("Zurich").contains(&fold("zürich")),
            "accents still count"
        );
        assert!(!fold("Prod").contains(&fold("%")), "no wildcards");
    }
}
