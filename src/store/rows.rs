//! How rows are read: the credential and ownership rows as queries return them, decoded into
//! what the store holds (every shape Laravel writes, secrets decrypted, a column that cannot be
//! read named with its row), and the reads of one row by id or label.

use chrono::NaiveDateTime;
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

use super::decode::{self, ColumnError};
use super::types::{Ownership, StoredCredential, StoredData};
use super::{with_pool, Dialect, Store, StoreError};
use crate::model::{DeletionPolicy, Reason, SourceKey};

/// Builds SQL with placeholders numbered in order, as PostgreSQL needs.
pub(crate) struct Sql {
    dialect: Dialect,
    next: usize,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql { dialect, next: 0 }
    }

    /// The next placeholder.
    pub(crate) fn p(&mut self) -> String {
        self.next += 1;
        self.dialect.param(self.next)
    }
}

/// A credential row as the query returns it: every column that Laravel may store in more than
/// one shape arrives as text and is read by `decode`.
pub(crate) struct CredentialRow {
    id: i64,
    label: Result<String, ColumnError>,
    api_url: Result<String, ColumnError>,
    client_id: Option<String>,
    client_secret: Option<String>,
    access_token: String,
    status: bool,
    default_locale: Option<String>,
    default_currency: Option<String>,
    locale_mapping: Option<String>,
    currency_mapping: Option<String>,
    store_info: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// A boolean column, selected through `Dialect::as_flag`.
pub(crate) fn flag<'r, R>(row: &'r R, column: &'r str) -> Result<bool, sqlx::Error>
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    row.try_get::<i64, _>(column).map(|v| v != 0)
}

/// A text column (`label`, `apiUrl`) as text, or why it is not: a hand-edited row may hold bytes
/// there (an SQLite BLOB, a bytea or VARBINARY column), which must fail its own row only.
pub(crate) fn text<'r, R>(
    row: &'r R,
    column: &'r str,
    name: &'static str,
) -> Result<Result<String, ColumnError>, sqlx::Error>
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let not_text = |reason: &str| ColumnError {
        column: name,
        reason: reason.to_string(),
    };
    match row.try_get::<String, _>(column) {
        Ok(text) => Ok(Ok(text)),
        Err(sqlx::Error::ColumnDecode { .. }) => match row.try_get::<Vec<u8>, _>(column) {
            Ok(bytes) => Ok(String::from_utf8(bytes)
                .map_err(|_| not_text("holds bytes that are not UTF-8 text"))),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(Err(not_text("is not text"))),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

impl CredentialRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }
}

impl<'r, R> sqlx::FromRow<'r, R> for CredentialRow
where
    R: sqlx::Row,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(CredentialRow {
            id: row.try_get("id")?,
            label: text(row, "label", "label")?,
            api_url: text(row, "api_url", "apiUrl")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
            access_token: row.try_get("access_token")?,
            status: flag(row, "status")?,
            default_locale: row.try_get("default_locale")?,
            default_currency: row.try_get("default_currency")?,
            locale_mapping: row.try_get("locale_mapping")?,
            currency_mapping: row.try_get("currency_mapping")?,
            store_info: row.try_get("store_info")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The ownership columns, named rather than `*`: SQLite's cached statements do not notice
/// columns added by a later migration.
pub(super) const OWNERSHIP_COLUMNS: &str = "credential_id, owner_id, source_key, spec_sha256, secret_sha256, last_verified_at, last_result, last_message, deletion_policy";

#[derive(sqlx::FromRow)]
pub(crate) struct OwnershipRow {
    credential_id: i64,
    owner_id: String,
    source_key: String,
    spec_sha256: String,
    secret_sha256: String,
    last_verified_at: Option<NaiveDateTime>,
    last_result: Option<String>,
    last_message: Option<String>,
    deletion_policy: String,
    source_path: Option<String>,
}

impl From<OwnershipRow> for Ownership {
    fn from(r: OwnershipRow) -> Ownership {
        Ownership {
            credential_id: r.credential_id,
            owner_id: r.owner_id,
            source_key: SourceKey::stored(&r.source_key),
            spec_sha256: r.spec_sha256,
            secret_sha256: r.secret_sha256,
            last_verified_at: r.last_verified_at.map(|t| t.and_utc()),
            last_result: r.last_result.as_deref().and_then(Reason::parse),
            last_message: r.last_message,
            deletion_policy: DeletionPolicy::parse(&r.deletion_policy),
            source_path: r.source_path,
        }
    }
}

impl Store {
    pub(super) fn credential_columns(&self) -> String {
        let d = self.dialect;
        let c = |name: &str| format!("c.{}", d.ident(name));
        let text = |name: &str| d.as_text(&c(name));
        format!(
            "{id} AS id, {label} AS label, {api} AS api_url, {cid} AS client_id, {cs} AS client_secret, {tok} AS access_token, {st} AS status, {dl} AS default_locale, {dc} AS default_currency, {lm} AS locale_mapping, {cm} AS currency_mapping, {si} AS store_info, {ca} AS created_at, {ua} AS updated_at",
            id = d.as_bigint(&c("id")),
            label = c("label"),
            api = c("apiUrl"),
            cid = c("clientId"),
            cs = c("clientSecret"),
            tok = c("accessToken"),
            st = d.as_flag(&c("status")),
            dl = c("defaultLocale"),
            dc = c("defaultCurrency"),
            lm = text("localeMapping"),
            cm = text("currencyMapping"),
            si = text("storeInfo"),
            ca = text("created_at"),
            ua = text("updated_at"),
        )
    }

    pub(super) fn decode(&self, row: CredentialRow) -> Result<StoredCredential, StoreError> {
        let id = row.id;
        let unreadable = |problem: ColumnError| StoreError::Unreadable { id, problem };
        Ok(StoredCredential {
            id,
            data: StoredData {
                label: row.label.map_err(unreadable)?,
                api_url: row.api_url.map_err(unreadable)?,
                client_id: row.client_id,
                client_secret: row
                    .client_secret
                    .map(|s| self.open(id, "clientSecret", &s))
                    .transpose()?,
                access_token: self.open(id, "accessToken", &row.access_token)?,
                active: row.status,
                default_locale: row.default_locale,
                default_currency: row.default_currency,
                locale_mapping: decode::mapping("localeMapping", row.locale_mapping.as_deref())
                    .map_err(unreadable)?,
                currency_mapping: decode::mapping(
                    "currencyMapping",
                    row.currency_mapping.as_deref(),
                )
                .map_err(unreadable)?,
                store_info: decode::store_info(row.store_info.as_deref()),
            },
            created_at: decode::timestamp("created_at", row.created_at.as_deref())
                .map_err(unreadable)?,
            updated_at: decode::timestamp("updated_at", row.updated_at.as_deref())
                .map_err(unreadable)?,
        })
    }

    /// One credential by id.
    pub async fn get(&self, id: i64) -> Result<Option<StoredCredential>, StoreError> {
        if !self.has_credentials() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {} FROM {} c WHERE c.{} = {}",
            self.credential_columns(),
            self.dialect.ident(&self.tables.credentials),
            self.dialect.ident("id"),
            self.dialect.param(1)
        );
        let row: Option<CredentialRow> = with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?);
        row.map(|r| self.decode(r)).transpose()
    }

    /// The credential with this label (compared as MySQL does, ignoring case) and its owner.
    pub async fn find_by_label(
        &self,
        label: &str,
    ) -> Result<Option<(StoredCredential, Option<Ownership>)>, StoreError> {
        if !self.has_credentials() {
            return Ok(None);
        }
        let d = self.dialect;
        let sql = format!(
            "SELECT {} FROM {} c WHERE {}",
            self.credential_columns(),
            d.ident(&self.tables.credentials),
            d.label_equals(&format!("c.{}", d.ident("label")), &d.param(1))
        );
        let row: Option<CredentialRow> = with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(label).fetch_optional(pool).await?);
        let Some(row) = row else { return Ok(None) };
        let cred = self.decode(row)?;
        let own = self.ownership_of(cred.id).await?;
        Ok(Some((cred, own)))
    }

    pub(crate) async fn ownership_of(&self, id: i64) -> Result<Option<Ownership>, StoreError> {
        if !self.has_ownership() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {OWNERSHIP_COLUMNS}, {} FROM {} WHERE credential_id = {}",
            self.source_path_column(),
            self.dialect.ident(&self.tables.ownership),
            self.dialect.param(1)
        );
        let row: Option<OwnershipRow> = with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?);
        Ok(row.map(Ownership::from))
    }

    /// `source_path`, or a NULL in its place in a store read before migration 5 ran.
    pub(super) fn source_path_column(&self) -> &'static str {
        if self.has_source_path() {
            "source_path"
        } else {
            "NULL AS source_path"
        }
    }
}
