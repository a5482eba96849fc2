//! Re-encrypting an owner's secrets with the current APP_KEY after a key rotation, so that
//! readers without previous-keys support (older Laravel versions) can decrypt them.

use std::collections::BTreeMap;

// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::{with_pool, ColumnError, Store, StoreError};

/// What a rekey did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Rows whose secrets were re-encrypted with the current key.
    pub changed: usize,
    /// Rows whose secrets already were.
    pub current: usize,
    /// Rows left as they were because a secret decrypts with no known key, by id.
    pub unreadable: BTreeMap<i64, ColumnError>,
}

impl Store {
    /// Re-encrypts the secrets of the rows `owner` manages with the current key, one
    /// transaction per row; rows of other owners and unowned rows are never read or written.
    pub async fn rekey(&self, owner: &str) -> Result<RekeyReport, StoreError> {
        self.writable()?;
        let Some(encrypter) = &self.encrypter else {
            return Err(StoreError::RekeyNeedsKey);
        };
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let ids_sql = format!(
            "SELECT credential_id FROM {} WHERE owner_id = {} ORDER BY credential_id",
            q(&self.tables.ownership),
            d.param(1)
        );
        // The ownership check sits in the same statement as the read, inside the transaction.
        let read_sql = format!(
            "SELECT c.{tok}, c.{cs} FROM {creds} c JOIN {own} o ON o.credential_id = c.{id} WHERE c.{id} = {} AND o.owner_id = {}",
            d.param(1),
            d.param(2),
            tok = q("accessToken"),
            cs = q("clientSecret"),
            creds = q(&self.tables.credentials),
            own = q(&self.tables.ownership),
            id = q("id"),
        );
        let write_sql = format!(
            "UPDATE {} SET {} = {}, {} = {} WHERE {} = {}",
            q(&self.tables.credentials),
            q("accessToken"),
            d.param(1),
            q("clientSecret"),
            d.param(2),
            q("id"),
            d.param(3)
        );
        let ids: Vec<i64> = with_pool!(self, pool => sqlx::query_scalar(AssertSqlSafe(ids_sql.as_str())).bind(owner).fetch_all(pool).await?);
        let mut report = RekeyReport::default();
        for id in ids {
            // Re-seals one payload: `Ok(None)` when it already uses the current key.
            let reseal = |column: &'static str, payload: &str| {
                if encrypter.is_current(payload) {
                    return Ok(None);
                }
                encrypter
                    .decrypt(payload)
                    .map(|plain| Some(encrypter.encrypt(&plain)))
                    .map_err(|e| ColumnError {
                        column,
                        reason: format!("cannot be decrypted with any key ({e})"),
                    })
            };
            let outcome: Result<Option<bool>, StoreError> = with_pool!(self, pool => { async {
                let mut tx = pool.begin_with(d.begin_sql()).await?;
                let row: Option<(String, Option<String>)> = sqlx::query_as(AssertSqlSafe(read_sql.as_str()))
                    .bind(id)
                    .bind(owner)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((token, secret)) = row else {
                    // Deleted since the ids were read: nothing to re-encrypt.
                    return Ok(None);
                };
                let new_token = match reseal("accessToken", &token) {
                    Ok(t) => t,
                    Err(problem) => return Err(StoreError::Unreadable { id, problem }),
                };
                let new_secret = match secret.as_deref().map(|s| reseal("clientSecret", s)).transpose() {
                    Ok(s) => s.flatten(),
                    Err(problem) => return Err(StoreError::Unreadable { id, problem }),
                };
                if new_token.is_none() && new_secret.is_none() {
                    return Ok(Some(false));
                }
                sqlx::query(AssertSqlSafe(write_sql.as_str()))
                    .bind(new_token.unwrap_or(token))
                    .bind(new_secret.or(secret))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(true))
            }.await });
            match outcome {
                Ok(Some(true)) => report.changed += 1,
                Ok(Some(false)) => report.current += 1,
                Ok(None) => {}
                Err(StoreError::Unreadable { id, problem }) => {
                    report.unreadable.insert(id, problem);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
