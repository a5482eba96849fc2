//! Writes to an owned row's ownership record alone, for passes that verify nothing: the last
//! result of an unusable manifest, where a manifest lives now, and re-keyed secret fingerprints.

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

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
}
