//! Versioned migrations, run at start; running them again is a no-op.
//!
//! The table prefix is only known at run time, so migrations are rendered per dialect here
//! rather than kept as static files for sqlx's migrator.

use super::{with_pool, Dialect, Store, StoreError, Tables};
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

/// The statements of migration `version`.
fn migration(version: i64, d: Dialect, t: &Tables) -> Vec<String> {
    let q = |name: &str| d.ident(name);
    match version {
        1 => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {creds} (
                    {id} {id_type},
                    {label} VARCHAR(255) NOT NULL,
                    {api} VARCHAR(500) NOT NULL,
                    {cid} VARCHAR(255) NULL,
                    {csecret} TEXT NULL,
                    {token} TEXT NOT NULL,
                    {status} {bool} NOT NULL DEFAULT {yes},
                    {dlocale} VARCHAR(32) NULL,
                    {dcurrency} VARCHAR(3) NULL,
                    {lmap} {json} NULL,
                    {cmap} {json} NULL,
                    {info} {json} NULL,
                    {created} {ts} NULL,
                    {updated} {ts} NULL,
                    CONSTRAINT {unique} UNIQUE ({label})
                ){opts}",
                creds = q(&t.credentials),
                id = q("id"),
                id_type = d.id_column(),
                label = q("label"),
                api = q("apiUrl"),
                cid = q("clientId"),
                csecret = q("clientSecret"),
                token = q("accessToken"),
                status = q("status"),
                bool = d.bool_type(),
                yes = d.true_literal(),
                dlocale = q("defaultLocale"),
                dcurrency = q("defaultCurrency"),
                lmap = q("localeMapping"),
                cmap = q("currencyMapping"),
                info = q("storeInfo"),
                json = d.json_type(),
                created = q("created_at"),
                updated = q("updated_at"),
                ts = d.timestamp_type(),
                unique = q(&format!("{}_label_unique", t.credentials)),
                opts = d.table_options(),
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {own} (
                    credential_id BIGINT NOT NULL PRIMARY KEY,
                    owner_id VARCHAR(255) NOT NULL,
                    source_key VARCHAR(320) NOT NULL,
                    spec_sha256 CHAR(64) NOT NULL,
                    secret_sha256 CHAR(64) NOT NULL,
                    last_verified_at {ts} NULL,
                    last_result VARCHAR(64) NULL,
                    last_message TEXT NULL,
                    CONSTRAINT {unique} UNIQUE (owner_id, source_key)
                ){opts}",
                own = q(&t.ownership),
                ts = d.timestamp_type(),
                unique = q(&format!("{}_source_unique", t.ownership)),
                opts = d.table_options(),
            ),
        ],
        2 => vec![format!(
            "ALTER TABLE {} ADD COLUMN deletion_policy VARCHAR(16) NOT NULL DEFAULT 'Delete'",
            q(&t.ownership)
        )],
        // Case-insensitive label lookups on every create; MySQL's collation needs no index.
        3 if d != Dialect::MySql => vec![format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (LOWER({}))",
            q(&format!("{}_label_lower", t.credentials)),
            q(&t.credentials),
            q("label")
        )],
        _ => Vec::new(),
    }
}

/// The newest migration version.
const LATEST: i64 = 3;

/// Every migration's SQL for `dialect`, as checked in under `schemas/` for reference.
pub fn schema_sql(dialect: Dialect, prefix: &str) -> Result<String, StoreError> {
    let tables = Tables::new(prefix)?;
    let mut out = format!(
        "-- The connector store on {dialect:?}, as bccreds' migrations create it (generated; do not edit).\n"
    );
    for version in 1..=LATEST {
        out.push_str(&format!("\n-- migration {version}\n"));
        for statement in migration(version, dialect, &tables) {
            let lines: Vec<&str> = statement.lines().map(str::trim_end).collect();
            // Statements are indented for the source code; reindent them for reading.
            let body: Vec<String> = lines
                .iter()
                .map(|l| {
                    let t = l.trim_start();
                    if t.starts_with(')') || l == &lines[0] {
                        t.to_string()
                    } else {
                        format!("    {t}")
                    }
                })
                .collect();
            out.push_str(&body.join("\n"));
            out.push_str(";\n");
        }
    }
    Ok(out)
}

impl Store {
    /// Applies every migration not yet recorded in the migrations table.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let d = self.dialect;
        let table = d.ident(&self.tables.migrations);
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (version BIGINT NOT NULL PRIMARY KEY, applied_at VARCHAR(40) NOT NULL){}",
            d.table_options()
        );
        let applied_sql = format!("SELECT version FROM {table}");
        let record_sql = format!(
            "INSERT INTO {table} (version, applied_at) VALUES ({})",
            d.params(1, 2)
        );
        with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(create.as_str())).execute(pool).await?;
            let applied: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(applied_sql.as_str())).fetch_all(pool).await?;
            for version in 1..=LATEST {
                if applied.contains(&version) {
                    continue;
                }
                // MySQL commits DDL implicitly; every statement is idempotent, so a crash
                // between them is repaired by running the migration again.
                for statement in migration(version, d, &self.tables) {
                    sqlx::query(AssertSqlSafe(statement.as_str())).execute(pool).await?;
                }
                let recorded = sqlx::query(AssertSqlSafe(record_sql.as_str()))
                    .bind(version)
                    .bind(chrono::Utc::now().to_rfc3339())
                    .execute(pool)
                    .await;
                // Another bccreds starting at the same moment may have recorded it first.
                if let Err(e) = recorded {
                    let again: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(applied_sql.as_str())).fetch_all(pool).await?;
                    if !again.contains(&version) {
                        return Err(e.into());
                    }
                }
            }
            Ok(())
        })
    }
}
