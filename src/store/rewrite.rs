//! Rewrites of existing rows (update, repair, adoption), each atomic with its ownership row;
//! several rows at once when they take each other's labels.

use sqlx::types::Json;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::ops::{insert_ownership, naive, now};
use super::rows::Sql;
use super::types::{CredentialData, Ownership, SecretUpdate};
use super::{with_pool, Store, StoreError};

/// Rewrites one prepared row inside transaction `$tx`: the owner and label checks, the row and
/// its ownership record; a macro for the same reason as `insert_ownership`.
macro_rules! rewrite_row {
    ($store:expr, $tx:expr, $stamp:expr, $kind:expr, $row:expr) => {{
        let (id, data, own, sql) = ($row.id, $row.data, $row.own, &$row.sql);
        let owner: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql.owner.as_str()))
            .bind(id)
            .fetch_optional(&mut *$tx)
            .await?;
        may_rewrite($kind, owner.as_deref(), own, &data.label, id)?;
        let existing: Option<(i64, Option<String>, Option<String>)> =
            sqlx::query_as(AssertSqlSafe(sql.conflict.as_str()))
                .bind(&data.label)
                .bind(id)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some((_, other, taken_by)) = existing {
            return Err(StoreError::LabelConflict {
                label: data.label.clone(),
                owner: other,
                taken_by,
            });
        }
        let mut query = sqlx::query(AssertSqlSafe(sql.update.as_str()))
            .bind(&data.label)
            .bind(&data.api_url)
            .bind(&data.client_id);
        for sealed in $row.client_secret.iter().chain($row.token.iter()) {
            query = query.bind(sealed);
        }
        query = query
            .bind(data.active)
            .bind(&data.default_locale)
            .bind(&data.default_currency)
            .bind(Json(&data.locale_mapping))
            .bind(Json(&data.currency_mapping))
            .bind($stamp);
        if let Some(info) = &data.store_info {
            query = query.bind(Json(info));
        }
        if $kind == Rewrite::Repair {
            query = query.bind($stamp);
        }
        let done = query.bind(id).execute(&mut *$tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id));
        }
        $store.injected_failure()?;
        if owner.is_none() {
            insert_ownership!($store, $tx, id, own);
        } else {
            sqlx::query(AssertSqlSafe(sql.update_own.as_str()))
                .bind(own.source_key.to_string())
                .bind(&own.spec_sha256)
                .bind(&own.secret_sha256)
                .bind(naive(own.last_verified_at))
                .bind(own.last_result.map(|r| r.as_str()))
                .bind(&own.last_message)
                .bind(own.deletion_policy.as_str())
                .bind(&own.source_path)
                .bind(id)
                .bind(&own.owner_id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// What a rewrite of an existing row is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// A row this owner manages.
    Update,
    /// A row nobody manages yet.
    Adopt,
    /// A row this owner manages that could not be read.
    Repair,
}

impl Store {
    /// Updates a credential this owner manages, keeping secrets marked `Keep`.
    pub async fn update(
        &self,
        id: i64,
        data: &CredentialData,
        own: &Ownership,
    ) -> Result<(), StoreError> {
        self.rewrite(id, data, own, Rewrite::Update).await
    }

    /// Overwrites a row this owner manages that could not be read: an update that also
    /// restamps `created_at`, the one column an update leaves alone.
    pub async fn repair(
        &self,
        id: i64,
        data: &CredentialData,
        own: &Ownership,
    ) -> Result<(), StoreError> {
        self.rewrite(id, data, own, Rewrite::Repair).await
    }

    /// Takes over an existing row nobody manages, as `bigcommerce.unopim.io/adopt` asks.
    pub async fn adopt(
        &self,
        id: i64,
        data: &CredentialData,
        own: &Ownership,
    ) -> Result<(), StoreError> {
        self.rewrite(id, data, own, Rewrite::Adopt).await
    }

    async fn rewrite(
        &self,
        id: i64,
        data: &CredentialData,
        own: &Ownership,
        kind: Rewrite,
    ) -> Result<(), StoreError> {
        self.rewrite_rows(&[(id, data, own)], kind).await
    }

    /// Rewrites rows this owner manages in one transaction, all or none. With several, each
    /// first takes a temporary label, so that they may take each other's labels (a swap);
    /// nobody else ever sees the temporary labels.
    pub async fn update_together(
        &self,
        rows: &[(i64, &CredentialData, &Ownership)],
    ) -> Result<(), StoreError> {
        self.rewrite_rows(rows, Rewrite::Update).await
    }

    async fn rewrite_rows(
        &self,
        rows: &[(i64, &CredentialData, &Ownership)],
        kind: Rewrite,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let Some((_, first, _)) = rows.first() else {
            return Ok(());
        };
        let prepared: Vec<Prepared> = rows
            .iter()
            .map(|(id, data, own)| self.prepare(*id, data, own, kind))
            .collect();
        let park = self.park_sql();
        let stamp = now();
        let result = with_pool!(self, pool => { async {
            let mut tx = pool.begin_with(self.dialect.begin_sql()).await?;
            if prepared.len() > 1 {
                for row in &prepared {
                    sqlx::query(AssertSqlSafe(park.as_str()))
                        .bind(format!("\u{1}bccreds moving {}", row.id))
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for row in &prepared {
                rewrite_row!(self, tx, stamp, kind, row);
            }
            tx.commit().await?;
            Ok(())
        }.await });
        self.label_taken(result, &first.label).await
    }

    /// One row's rewrite, ready to run: its statements and its sealed secrets.
    fn prepare<'a>(
        &self,
        id: i64,
        data: &'a CredentialData,
        own: &'a Ownership,
        kind: Rewrite,
    ) -> Prepared<'a> {
        let seal = |u: &SecretUpdate| match u {
            SecretUpdate::Set(v) => Some(self.seal(v)),
            SecretUpdate::Keep => None,
        };
        Prepared {
            id,
            data,
            own,
            client_secret: seal(&data.client_secret),
            token: seal(&data.access_token),
            sql: self.rewrite_sql(data, kind),
        }
    }

    /// Moves a row's label out of the way, inside a rewrite of several rows.
    fn park_sql(&self) -> String {
        let d = self.dialect;
        format!(
            "UPDATE {} SET {} = {} WHERE {} = {}",
            d.ident(&self.tables.credentials),
            d.ident("label"),
            d.param(1),
            d.ident("id"),
            d.param(2)
        )
    }

    /// The statements of a rewrite: the row's columns (secrets only where set), its owner, the
    /// label check and the ownership row.
    fn rewrite_sql(&self, data: &CredentialData, kind: Rewrite) -> RewriteSql {
        let d = self.dialect;
        let q = |c: &str| d.ident(c);
        let mut sql = Sql::new(d);
        let mut columns = vec!["label", "apiUrl", "clientId"];
        if matches!(data.client_secret, SecretUpdate::Set(_)) {
            columns.push("clientSecret");
        }
        if matches!(data.access_token, SecretUpdate::Set(_)) {
            columns.push("accessToken");
        }
        columns.extend([
            "status",
            "defaultLocale",
            "defaultCurrency",
            "localeMapping",
            "currencyMapping",
            "updated_at",
        ]);
        if data.store_info.is_some() {
            columns.push("storeInfo");
        }
        if kind == Rewrite::Repair {
            columns.push("created_at");
        }
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = {}", q(c), sql.p()))
            .collect();
        let own_sets: Vec<String> = [
            "source_key",
            "spec_sha256",
            "secret_sha256",
            "last_verified_at",
            "last_result",
            "last_message",
            "deletion_policy",
            "source_path",
        ]
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = {}", d.param(i + 1)))
        .collect();
        RewriteSql {
            update: format!(
                "UPDATE {} SET {} WHERE {} = {}",
                q(&self.tables.credentials),
                sets.join(", "),
                q("id"),
                sql.p()
            ),
            owner: format!(
                "SELECT owner_id FROM {} WHERE credential_id = {}",
                q(&self.tables.ownership),
                d.param(1)
            ),
            conflict: self.conflict_sql(true),
            update_own: format!(
                "UPDATE {} SET {} WHERE credential_id = {} AND owner_id = {}",
                q(&self.tables.ownership),
                own_sets.join(", "),
                d.param(9),
                d.param(10)
            ),
        }
    }
}

/// The statements of one rewrite.
struct RewriteSql {
    update: String,
    owner: String,
    conflict: String,
    update_own: String,
}

/// Whether `own` may rewrite row `id`, which `owner` manages (`None`: nobody): an update needs
/// the row to be its own, an adoption a row nobody else manages.
fn may_rewrite(
    kind: Rewrite,
    owner: Option<&str>,
    own: &Ownership,
    label: &str,
    id: i64,
) -> Result<(), StoreError> {
    match (kind == Rewrite::Adopt, owner) {
        (false, Some(o)) if o == own.owner_id => Ok(()),
        (true, None) => Ok(()),
        (true, Some(o)) if o != own.owner_id => Err(StoreError::LabelConflict {
            label: label.to_string(),
            owner: Some(o.to_string()),
            taken_by: None,
        }),
        (true, Some(_)) => Ok(()),
        _ => Err(StoreError::NotOwned {
            id,
            owner: own.owner_id.clone(),
        }),
    }
}

/// One row of a rewrite, ready to run.
struct Prepared<'a> {
    id: i64,
    data: &'a CredentialData,
    own: &'a Ownership,
    client_secret: Option<String>,
    token: Option<String>,
    sql: RewriteSql,
}
