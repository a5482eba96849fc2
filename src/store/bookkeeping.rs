//! Writes to an ownership record alone, never to the credential row: the last result of an
//! unusable manifest, where a manifest lives now, re-keyed secret fingerprints, and the claim
//! of a row adopted exactly as it is.

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::ops::insert_ownership;
use super::types::Ownership;
use super::{with_pool, Store, StoreError};

/// What [`Store::refresh_ownership`] sets; `None` keeps the stored value.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnershipRefresh<'a> {
    /// The manifest file the row comes from now.
    pub source_path: Option<&'a str>,
    /// The secret fingerprint under the current key, for the same secrets.
    pub secret_sha256: Option<&'a str>,
}

impl Store {
    /// Records the last result of an owned row without a verification (its manifest is unusable),
    /// keeping the time of the last verification.
    pub async fn record_result(
        &self,
        owner: &str,
        id: i64,
        result: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        let sql = format!(
            "UPDATE {} SET last_result = {}, last_message = {} WHERE credential_id = {} AND owner_id = {}",
            d.ident(&self.tables.ownership),
            d.param(1), d.param(2), d.param(3), d.param(4)
        );
        with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(result)
                .bind(message)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Brings this owner's ownership record of row `id` up to date without touching the row or
    /// the verification it records.
    pub async fn refresh_ownership(
        &self,
        owner: &str,
        id: i64,
        refresh: OwnershipRefresh<'_>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        // COALESCE keeps a column whose new value is NULL (not asked for).
        let sql = format!(
            "UPDATE {} SET source_path = COALESCE({}, source_path), secret_sha256 = COALESCE({}, secret_sha256) WHERE credential_id = {} AND owner_id = {}",
            d.ident(&self.tables.ownership),
            d.param(1),
            d.param(2),
            d.param(3),
            d.param(4)
        );
        with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(refresh.source_path)
                .bind(refresh.secret_sha256)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Takes over row `id`, which nobody manages, without writing to it: the manifest asks for
    /// exactly what is stored, so adoption leaves every byte of the row as UnoPim wrote it.
    pub async fn claim(&self, id: i64, label: &str, own: &Ownership) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        let owner_sql = format!(
            "SELECT owner_id FROM {} WHERE credential_id = {}",
            d.ident(&self.tables.ownership),
            d.param(1)
        );
        let row_sql = format!(
            "SELECT {} FROM {} WHERE {} = {}",
            d.as_bigint(&d.ident("id")),
            d.ident(&self.tables.credentials),
            d.ident("id"),
            d.param(1)
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin_with(d.begin_sql()).await?;
            let owner: Option<String> = sqlx::query_scalar(AssertSqlSafe(owner_sql.as_str()))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(other) = owner {
                return Err(StoreError::LabelConflict { label: label.to_string(), owner: Some(other), taken_by: None });
            }
            let exists: Option<i64> = sqlx::query_scalar(AssertSqlSafe(row_sql.as_str()))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(id));
            }
            insert_ownership!(self, tx, id, own);
            tx.commit().await?;
            Ok(())
        })
    }
}
