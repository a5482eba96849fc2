//! The credentials page as a query: search, sort and filter; and UnoPim's enabled codes.

use chrono::NaiveDateTime;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::ops::Sql;
use super::types::{ListQuery, ListedCredential, SortColumn, UnoPimCodes};
use super::{dialect::like_pattern, with_pool, Store, StoreError};

#[derive(sqlx::FromRow)]
struct ListRow {
    id: i64,
    label: String,
    api_url: String,
    status: bool,
    owner_id: Option<String>,
    last_result: Option<String>,
    last_verified_at: Option<NaiveDateTime>,
    updated_at: Option<NaiveDateTime>,
}

impl Store {
    /// The stored credentials, as the credentials page lists them; no secret is read.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<ListedCredential>, StoreError> {
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let mut sql = Sql::new(d);
        let mut text = format!(
            "SELECT c.{id} AS id, c.{label} AS label, c.{api} AS api_url, c.{status} AS status, o.owner_id AS owner_id, o.last_result AS last_result, o.last_verified_at AS last_verified_at, c.{updated} AS updated_at FROM {creds} c LEFT JOIN {own} o ON o.credential_id = c.{id}",
            id = q("id"),
            label = q("label"),
            api = q("apiUrl"),
            status = q("status"),
            updated = q("updated_at"),
            creds = q(&self.tables.credentials),
            own = q(&self.tables.ownership),
        );
        let mut filters = Vec::new();
        if query.search.as_deref().is_some_and(|s| !s.is_empty()) {
            filters.push(format!(
                "LOWER(c.{}) LIKE {} ESCAPE '!'",
                q("label"),
                sql.p()
            ));
        }
        if query.active.is_some() {
            filters.push(format!("c.{} = {}", q("status"), sql.p()));
        }
        if !filters.is_empty() {
            text.push_str(" WHERE ");
            text.push_str(&filters.join(" AND "));
        }
        let column = match query.sort {
            SortColumn::Label => "label",
            SortColumn::ApiUrl => "apiUrl",
            SortColumn::Status => "status",
            SortColumn::Updated => "updated_at",
        };
        let dir = if query.descending { "DESC" } else { "ASC" };
        // Labels sort as a person reads them, whatever the engine's collation.
        let key = if column == "label" || column == "apiUrl" {
            format!("LOWER(c.{})", q(column))
        } else {
            format!("c.{}", q(column))
        };
        text.push_str(&format!(" ORDER BY {key} {dir}, c.{} {dir}", q("id")));
        let rows: Vec<ListRow> = with_pool!(self, pool => {
            let mut sqlq = sqlx::query_as(AssertSqlSafe(text.as_str()));
            if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
                sqlq = sqlq.bind(like_pattern(search));
            }
            if let Some(active) = query.active {
                sqlq = sqlq.bind(active);
            }
            sqlq.fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|r| ListedCredential {
                id: r.id,
                label: r.label,
                api_url: r.api_url,
                active: r.status,
                owner_id: r.owner_id,
                last_result: r.last_result,
                last_verified_at: r.last_verified_at.map(|t| t.and_utc()),
                updated_at: r.updated_at.map(|t| t.and_utc()),
            })
            .collect())
    }

    async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
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
