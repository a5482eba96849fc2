//! Writes of credential rows, each atomic with its ownership row (reads are in `rows.rs`).

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use sqlx::types::Json;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::rows::Sql;
use super::types::{CredentialData, Ownership, SecretUpdate};
use super::{with_pool, Store, StoreError};

/// Inserts the ownership row of credential `$id` inside transaction `$tx`; a macro because the
/// transaction's type differs per engine.
macro_rules! insert_ownership {
    ($store:expr, $tx:expr, $id:expr, $own:expr) => {{
        let sql = $store.ownership_insert_sql();
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind($id)
            .bind(&$own.owner_id)
            .bind($own.source_key.to_string())
            .bind(&$own.spec_sha256)
            .bind(&$own.secret_sha256)
            .bind($crate::store::ops::naive($own.last_verified_at))
            .bind($own.last_result.map(|r| r.as_str()))
            .bind(&$own.last_message)
            .bind($own.deletion_policy.as_str())
            .bind(&$own.source_path)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use insert_ownership;

/// The statements of a create, made once per transaction.
pub(super) struct CreateSql {
    pub(super) conflict: String,
    pub(super) insert: String,
    pub(super) id: String,
    pub(super) stale: String,
    pub(super) stale_delete: String,
}

/// A create's secrets as stored, and its timestamp.
pub(super) struct Sealed {
    pub(super) client_secret: Option<String>,
    pub(super) token: String,
    pub(super) stamp: NaiveDateTime,
}

/// Inserts one credential and its ownership row inside transaction `$tx`, after the label
/// check; evaluates to the new id. A macro because the transaction's type differs per engine.
macro_rules! create_row {
    ($store:expr, $tx:expr, $sql:expr, $data:expr, $own:expr, $sealed:expr) => {
        async {
            let (store, sql, data, own, sealed) = (&$store, &$sql, $data, $own, &$sealed);
            let existing: Option<(i64, Option<String>, Option<String>)> =
                sqlx::query_as(AssertSqlSafe(sql.conflict.as_str()))
                    .bind(&data.label)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if let Some((_, owner, taken_by)) = existing {
                return Err(StoreError::LabelConflict {
                    label: data.label.clone(),
                    owner,
                    taken_by,
                });
            }
            sqlx::query(AssertSqlSafe(sql.insert.as_str()))
                .bind(&data.label)
                .bind(&data.api_url)
                .bind(&data.client_id)
                .bind(&sealed.client_secret)
                .bind(&sealed.token)
                .bind(data.active)
                .bind(&data.default_locale)
                .bind(&data.default_currency)
                .bind(Json(&data.locale_mapping))
                .bind(Json(&data.currency_mapping))
                .bind(data.store_info.as_ref().map(Json))
                .bind(sealed.stamp)
                .bind(sealed.stamp)
                .execute(&mut *$tx)
                .await?;
            let id: i64 = sqlx::query_scalar(AssertSqlSafe(sql.id.as_str()))
                .bind(&data.label)
                .fetch_one(&mut *$tx)
                .await?;
            store.injected_failure()?;
            let stale: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql.stale.as_str()))
                .bind(&own.owner_id)
                .bind(own.source_key.to_string())
                .bind(id)
                .fetch_all(&mut *$tx)
                .await?;
            for credential_id in stale {
                sqlx::query(AssertSqlSafe(sql.stale_delete.as_str()))
                    .bind(credential_id)
                    .execute(&mut *$tx)
                    .await?;
            }
            insert_ownership!(store, $tx, id, own);
            Ok::<i64, StoreError>(id)
        }
        .await
    };
}
pub(super) use create_row;

/// The credential table's columns a create writes, in its bind order; with `id`, every column
/// bccreds needs (the migration checks an existing table for them).
pub(crate) const WRITTEN_COLUMNS: [&str; 13] = [
    "label",
    "apiUrl",
    "clientId",
    "clientSecret",
    "accessToken",
    "status",
    "defaultLocale",
    "defaultCurrency",
    "localeMapping",
    "currencyMapping",
    "storeInfo",
    "created_at",
    "updated_at",
];

/// Now, to the second, as Laravel's timestamps are.
pub(super) fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(0).unwrap_or(now)
}

pub(super) fn naive(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(|t| t.naive_utc().with_nanosecond(0).unwrap_or(t.naive_utc()))
}

impl Store {
    /// SQL finding another row with the same label (its id, owner and label as stored); MySQL
    /// compares case-insensitively, so all do.
    pub(super) fn conflict_sql(&self, excluding: bool) -> String {
        let d = self.dialect;
        let mut sql = Sql::new(d);
        let mut text = format!(
            "SELECT {id_value}, o.owner_id, {label} FROM {creds} c LEFT JOIN {own} o ON o.credential_id = c.{id} WHERE {matches}",
            id_value = d.as_bigint(&format!("c.{}", d.ident("id"))),
            label = d.as_text(&format!("c.{}", d.ident("label"))),
            id = d.ident("id"),
            creds = d.ident(&self.tables.credentials),
            own = d.ident(&self.tables.ownership),
            matches = d.label_equals(&format!("c.{}", d.ident("label")), &sql.p()),
        );
        if excluding {
            text.push_str(&format!(" AND c.{} <> {}", d.ident("id"), sql.p()));
        }
        text
    }

    /// Creates a credential and its ownership row. On SQLite, creates that arrive while
    /// another commits are written together in the next transaction (`batch.rs`).
    pub async fn create(&self, data: &CredentialData, own: &Ownership) -> Result<i64, StoreError> {
        self.writable()?;
        if matches!(data.access_token, SecretUpdate::Keep) {
            return Err(StoreError::MissingAccessToken);
        }
        if let super::Pool::Sqlite(pool) = &self.pool {
            return self.create_batched(pool, data, own).await;
        }
        self.create_one(data, own).await
    }

    /// Creates one credential and its ownership row, in a transaction of its own.
    pub(super) async fn create_one(
        &self,
        data: &CredentialData,
        own: &Ownership,
    ) -> Result<i64, StoreError> {
        let sql = self.create_sql();
        let sealed = self.sealed(data)?;
        let result = with_pool!(self, pool => {
            async {
                let mut tx = pool.begin_with(self.dialect.begin_sql()).await?;
                let id = create_row!(self, tx, sql, data, own, sealed)?;
                tx.commit().await?;
                Ok(id)
            }
            .await
        });
        self.label_taken(result, &data.label).await
    }

    /// The statements of a create.
    pub(super) fn create_sql(&self) -> CreateSql {
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let creds = q(&self.tables.credentials);
        let mut sql = Sql::new(d);
        let columns = WRITTEN_COLUMNS;
        let insert = format!(
            "INSERT INTO {creds} ({}) VALUES ({})",
            columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
            columns
                .iter()
                .map(|_| sql.p())
                .collect::<Vec<_>>()
                .join(", "),
        );
        let id = format!(
            "SELECT {} FROM {creds} WHERE {} = {}",
            d.as_bigint(&q("id")),
            q("label"),
            d.param(1)
        );
        let own_table = q(&self.tables.ownership);
        // Ownership records whose row is gone (deleted in UnoPim's page) are stale: the one of
        // this manifest, and any that names the id the new row gets. They are found with a
        // plain read and deleted by key, so that concurrent creates take no gap locks on MySQL.
        let stale = format!(
            "SELECT o.credential_id FROM {own_table} o LEFT JOIN {creds} c ON c.{id} = o.credential_id WHERE (o.owner_id = {} AND o.source_key = {} AND c.{id} IS NULL) OR o.credential_id = {}",
            d.param(1),
            d.param(2),
            d.param(3),
            id = q("id"),
        );
        let stale_delete = format!(
            "DELETE FROM {own_table} WHERE credential_id = {}",
            d.param(1)
        );
        CreateSql {
            conflict: self.conflict_sql(false),
            insert,
            id,
            stale,
            stale_delete,
        }
    }

    /// The secrets of `data` sealed for the store, and the time to stamp the row with.
    pub(super) fn sealed(&self, data: &CredentialData) -> Result<Sealed, StoreError> {
        let SecretUpdate::Set(token) = &data.access_token else {
            return Err(StoreError::MissingAccessToken);
        };
        Ok(Sealed {
            client_secret: match &data.client_secret {
                SecretUpdate::Set(v) => Some(self.seal(v)),
                SecretUpdate::Keep => None,
            },
            token: self.seal(token),
            stamp: now(),
        })
    }

    /// Turns the database's refusal of a second row with the same label (two writers at once)
    /// into the conflict a pre-check would have reported.
    pub(super) async fn label_taken<T>(
        &self,
        result: Result<T, StoreError>,
        label: &str,
    ) -> Result<T, StoreError> {
        let Err(StoreError::Database(e)) = &result else {
            return result;
        };
        if !e
            .as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return result;
        }
        let conflict = self.conflict_sql(false);
        let existing: Option<(i64, Option<String>, Option<String>)> = with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(conflict.as_str())).bind(label).fetch_optional(pool).await?);
        match existing {
            Some((_, owner, taken_by)) => Err(StoreError::LabelConflict {
                label: label.to_string(),
                owner,
                taken_by,
            }),
            None => result,
        }
    }

    /// Deletes a credential this owner manages, with its ownership row.
    pub async fn delete(&self, owner: &str, id: i64) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        let own_table = d.ident(&self.tables.ownership);
        let owner_sql = format!(
            "SELECT owner_id FROM {own_table} WHERE credential_id = {}",
            d.param(1)
        );
        let delete_cred = format!(
            "DELETE FROM {} WHERE {} = {}",
            d.ident(&self.tables.credentials),
            d.ident("id"),
            d.param(1)
        );
        let delete_own = format!(
            "DELETE FROM {own_table} WHERE credential_id = {}",
            d.param(1)
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin_with(self.dialect.begin_sql()).await?;
            let current: Option<String> = sqlx::query_scalar(AssertSqlSafe(owner_sql.as_str())).bind(id).fetch_optional(&mut *tx).await?;
            if current.as_deref() != Some(owner) {
                return Err(StoreError::NotOwned { id, owner: owner.to_string() });
            }
            sqlx::query(AssertSqlSafe(delete_cred.as_str())).bind(id).execute(&mut *tx).await?;
            self.injected_failure()?;
            sqlx::query(AssertSqlSafe(delete_own.as_str())).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Stops managing a row without deleting it (deletion policy `Orphan`).
    pub async fn release(&self, owner: &str, id: i64) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        let sql = format!(
            "DELETE FROM {} WHERE credential_id = {} AND owner_id = {}",
            d.ident(&self.tables.ownership),
            d.param(1),
            d.param(2)
        );
        let done = with_pool!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(id).bind(owner).execute(pool).await?.rows_affected());
        if done == 0 {
            return Err(StoreError::NotOwned {
                id,
                owner: owner.to_string(),
            });
        }
        Ok(())
    }

    /// Records a verification result on an owned row without touching the credential.
    pub async fn record_verification(
        &self,
        owner: &str,
        id: i64,
        result: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let d = self.dialect;
        let sql = format!(
            "UPDATE {} SET last_verified_at = {}, last_result = {}, last_message = {} WHERE credential_id = {} AND owner_id = {}",
            d.ident(&self.tables.ownership),
            d.param(1), d.param(2), d.param(3), d.param(4), d.param(5)
        );
        with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(naive(Some(at)))
                .bind(result)
                .bind(message)
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    pub(crate) fn ownership_insert_sql(&self) -> String {
        let d = self.dialect;
        format!(
            "INSERT INTO {} (credential_id, owner_id, source_key, spec_sha256, secret_sha256, last_verified_at, last_result, last_message, deletion_policy, source_path) VALUES ({})",
            d.ident(&self.tables.ownership),
            d.params(1, 10)
        )
    }
}
