//! Reads of the rows an owner manages: all of them (a full pass), or those of some keys (a pass
//! over what changed, and Kubernetes mode's one-object passes).

use std::collections::BTreeMap;

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::rows::{CredentialRow, OwnershipRow, Sql, OWNERSHIP_COLUMNS};
use super::types::{OwnedRows, Ownership, StoredCredential};
use super::{with_pool, Store, StoreError};
use crate::model::SourceKey;

/// Keys per query: well under every engine's limit on placeholders.
const KEYS_PER_QUERY: usize = 500;

impl Store {
    /// Every ownership record of `owner`, with its credential (`None` when the row was deleted
    /// behind bccreds' back); fails if any of the rows cannot be read.
    pub async fn owned(
        &self,
        owner: &str,
    ) -> Result<Vec<(Ownership, Option<StoredCredential>)>, StoreError> {
        let rows = self.owned_rows(owner).await?;
        match rows.unreadable.into_iter().next() {
            Some((id, problem)) => Err(StoreError::Unreadable { id, problem }),
            None => Ok(rows.rows),
        }
    }

    /// Every ownership record of `owner` with its credential; a row that cannot be read is
    /// `None` there and named in `unreadable`, so that it fails alone.
    pub async fn owned_rows(&self, owner: &str) -> Result<OwnedRows, StoreError> {
        self.owned_where(owner, None).await
    }

    /// As [`Store::owned_rows`], for the records of these source keys only: a pass over a few
    /// credentials reads a few rows, however many the owner manages.
    pub async fn owned_rows_for(
        &self,
        owner: &str,
        keys: &[SourceKey],
    ) -> Result<OwnedRows, StoreError> {
        let keys: Vec<String> = keys.iter().map(SourceKey::to_string).collect();
        let mut all = OwnedRows::default();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let some = self.owned_where(owner, Some(chunk)).await?;
            all.rows.extend(some.rows);
            all.unreadable.extend(some.unreadable);
        }
        all.rows.sort_by_key(|(o, _)| o.credential_id);
        Ok(all)
    }

    async fn owned_where(
        &self,
        owner: &str,
        keys: Option<&[String]>,
    ) -> Result<OwnedRows, StoreError> {
        if !self.has_credentials() || !self.has_ownership() || keys.is_some_and(<[_]>::is_empty) {
            return Ok(OwnedRows::default());
        }
        let d = self.dialect;
        let mut params = Sql::new(d);
        let mut filter = format!("owner_id = {}", params.p());
        if let Some(keys) = keys {
            let marks: Vec<String> = keys.iter().map(|_| params.p()).collect();
            filter.push_str(&format!(" AND source_key IN ({})", marks.join(", ")));
        }
        let own_sql = format!(
            "SELECT {OWNERSHIP_COLUMNS}, {} FROM {} WHERE {filter} ORDER BY credential_id",
            self.source_path_column(),
            d.ident(&self.tables.ownership),
        );
        let creds_sql = format!(
            "SELECT {} FROM {} c WHERE c.{} IN (SELECT credential_id FROM {} WHERE {filter})",
            self.credential_columns(),
            d.ident(&self.tables.credentials),
            d.ident("id"),
            d.ident(&self.tables.ownership),
        );
        let keys = keys.unwrap_or_default();
        let (owns, rows): (Vec<OwnershipRow>, Vec<CredentialRow>) = with_pool!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(own_sql.as_str())).bind(owner);
            for k in keys {
                q = q.bind(k);
            }
            let owns = q.fetch_all(pool).await?;
            let mut q = sqlx::query_as(AssertSqlSafe(creds_sql.as_str())).bind(owner);
            for k in keys {
                q = q.bind(k);
            }
            let rows = q.fetch_all(pool).await?;
            (owns, rows)
        });
        let mut creds: BTreeMap<i64, StoredCredential> = BTreeMap::new();
        let mut unreadable = BTreeMap::new();
        for row in rows {
            let id = row.id();
            match self.decode(row) {
                Ok(cred) => {
                    creds.insert(id, cred);
                }
                Err(e) => match e.unreadable_column() {
                    Some(problem) => {
                        unreadable.insert(id, problem);
                    }
                    None => return Err(e),
                },
            }
        }
        let rows = owns
            .into_iter()
            .map(|o| {
                let own = Ownership::from(o);
                let cred = creds.remove(&own.credential_id);
                (own, cred)
            })
            .collect();
        Ok(OwnedRows { rows, unreadable })
    }
}
