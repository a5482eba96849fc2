//! Versioned migrations, run at start; running them again is a no-op.
//!
//! The table prefix is only known at run time, so migrations are rendered per dialect here
//! rather than kept as static files for sqlx's migrator. Every statement is guarded (it checks
//! what it would create before creating it), and the whole run holds a lock (an advisory lock on
//! PostgreSQL, `GET_LOCK` on MySQL, SQLite's write lock), so a kill at any point and any number
//! of processes starting at once end in the same schema.

use super::ops::WRITTEN_COLUMNS;
use super::{with_pool, Dialect, Store, StoreError, Tables};
use crate::model::{MAX_API_URL_CHARS, MAX_CLIENT_ID_CHARS, MAX_LABEL_CHARS, MAX_OWNER_CHARS};
// SQL text in this file is built only from validated table names, quoted identifiers and
// placeholders; every value is bound, so asserting it safe is sound.
use sqlx::AssertSqlSafe;

/// What must not exist yet for a statement to run.
enum Guard {
    /// Runs unconditionally (the statement guards itself, e.g. `IF NOT EXISTS`).
    None,
    /// Skipped when the table has the column.
    Column(String, &'static str),
    /// Skipped when the index exists.
    Index(String),
}

/// The statements of migration `version`, with their guards.
fn migration(version: i64, d: Dialect, t: &Tables) -> Vec<(Guard, String)> {
    migration_sql(version, d, t)
        .into_iter()
        .map(|sql| {
            let guard = match version {
                2 => Guard::Column(t.ownership.clone(), "deletion_policy"),
                3 => Guard::Index(t.label_lower_index()),
                4 if sql.starts_with("CREATE") => Guard::Index(t.label_ci_index()),
                5 => Guard::Column(t.ownership.clone(), "source_path"),
                _ => Guard::None,
            };
            (guard, sql)
        })
        .collect()
}

/// The credential table as UnoPim's migration creates it.
fn credentials_table(d: Dialect, t: &Tables) -> String {
    let q = |name: &str| d.ident(name);
    format!(
        "CREATE TABLE IF NOT EXISTS {creds} (
            {id} {id_type},
            {label} VARCHAR({MAX_LABEL_CHARS}) NOT NULL,
            {api} VARCHAR({MAX_API_URL_CHARS}) NOT NULL,
            {cid} VARCHAR({MAX_CLIENT_ID_CHARS}) NULL,
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
        ts = d.laravel_timestamp_type(),
        unique = q(&format!("{}_label_unique", t.credentials)),
        opts = d.table_options(),
    )
}

/// bccreds' ownership table, beside it.
fn ownership_table(d: Dialect, t: &Tables) -> String {
    let q = |name: &str| d.ident(name);
    format!(
        "CREATE TABLE IF NOT EXISTS {own} (
            credential_id BIGINT NOT NULL PRIMARY KEY,
            owner_id VARCHAR({MAX_OWNER_CHARS}) NOT NULL,
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
    )
}

fn migration_sql(version: i64, d: Dialect, t: &Tables) -> Vec<String> {
    let q = |name: &str| d.ident(name);
    match version {
        1 => vec![credentials_table(d, t), ownership_table(d, t)],
        2 => vec![format!(
            "ALTER TABLE {} ADD COLUMN deletion_policy VARCHAR(16) NOT NULL DEFAULT 'Delete'",
            q(&t.ownership)
        )],
        // Case-insensitive label lookups on every create; MySQL's collation needs no index.
        3 if d != Dialect::MySql => vec![format!(
            "CREATE INDEX {} ON {} (LOWER({}))",
            q(&t.label_lower_index()),
            q(&t.credentials),
            q("label")
        )],
        // Labels unique ignoring case, enforced by the database as MySQL's collation does, so
        // that two writers checking at once cannot both insert.
        4 if d != Dialect::MySql => vec![
            format!(
                "CREATE UNIQUE INDEX {} ON {} (LOWER({}))",
                q(&t.label_ci_index()),
                q(&t.credentials),
                q("label")
            ),
            format!("DROP INDEX IF EXISTS {}", q(&t.label_lower_index())),
        ],
        // The manifest file each row came from, so that a pass prunes only what it scanned.
        // TEXT: a path may be as long as the filesystem allows (4096 bytes on Linux).
        5 => vec![format!(
            "ALTER TABLE {} ADD COLUMN source_path TEXT NULL",
            q(&t.ownership)
        )],
        // What bccreds knows about the store as a whole: the fingerprint of the key its secrets
        // are sealed with, so that a pass with another key refuses to write.
        6 => vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT NULL){}",
            q(&t.settings),
            d.table_options()
        )],
        _ => Vec::new(),
    }
}

/// The newest migration version.
const LATEST: i64 = 6;

/// Every migration's SQL for `dialect`, as checked in under `schemas/` for reference.
pub fn schema_sql(dialect: Dialect, prefix: &str) -> Result<String, StoreError> {
    let tables = Tables::new(prefix, dialect)?;
    let mut out = format!(
        "-- The connector store on {dialect:?}, as bccreds' migrations create it (generated; do not edit).\n"
    );
    for version in 1..=LATEST {
        out.push_str(&format!("\n-- migration {version}\n"));
        for (_, statement) in migration(version, dialect, &tables) {
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

/// SQL that finds the ownership table's `source_path` column (a row means it exists), for
/// stores opened read-only before migration 5 ran.
pub(crate) fn source_path_sql(d: Dialect, t: &Tables) -> Option<String> {
    guard_sql(d, &Guard::Column(t.ownership.clone(), "source_path"))
}

/// SQL that finds what `guard` names (a row means it exists); `None` when nothing is guarded.
fn guard_sql(d: Dialect, guard: &Guard) -> Option<String> {
    // Table, column and index names are validated identifiers, so quoting them as literals is
    // safe; binding would need a different parameter type per engine.
    Some(match (guard, d) {
        (Guard::None, _) => return None,
        (Guard::Column(table, column), Dialect::Sqlite) => {
            format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'")
        }
        (Guard::Column(table, column), Dialect::MySql) => format!(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}' AND column_name = '{column}'"
        ),
        (Guard::Column(table, column), Dialect::Postgres) => format!(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
        ),
        (Guard::Index(name), Dialect::Sqlite) => {
            format!("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = '{name}'")
        }
        (Guard::Index(name), Dialect::MySql) => format!(
            "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = '{name}'"
        ),
        (Guard::Index(name), Dialect::Postgres) => format!(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = '{name}'"
        ),
    })
}

/// The statements that take and release the migration lock of these tables.
fn lock_sql(d: Dialect, t: &Tables) -> (String, String) {
    let name = &t.migrations;
    match d {
        // BEGIN IMMEDIATE takes SQLite's write lock; its DDL is transactional, so a kill rolls
        // the whole run back.
        Dialect::Sqlite => ("BEGIN IMMEDIATE".into(), "COMMIT".into()),
        Dialect::MySql => (
            format!("SELECT GET_LOCK('{name}', 120)"),
            format!("SELECT RELEASE_LOCK('{name}')"),
        ),
        Dialect::Postgres => {
            // A stable 63-bit key from the table name: the lock is per prefix.
            let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            }) >> 1;
            (
                format!("SELECT pg_advisory_lock({key})"),
                format!("SELECT pg_advisory_unlock({key})"),
            )
        }
    }
}

impl Store {
    /// Applies every migration not yet recorded in the migrations table, under the lock, then
    /// checks the credential table's columns.
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
        let (lock, unlock) = lock_sql(d, &self.tables);
        with_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            sqlx::query(AssertSqlSafe(lock.as_str())).execute(&mut *conn).await?;
            let result: Result<(), StoreError> = async {
                sqlx::query(AssertSqlSafe(create.as_str())).execute(&mut *conn).await?;
                let applied: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(applied_sql.as_str())).fetch_all(&mut *conn).await?;
                for version in 1..=LATEST {
                    if applied.contains(&version) {
                        continue;
                    }
                    for (guard, statement) in migration(version, d, &self.tables) {
                        if let Some(check) = guard_sql(d, &guard) {
                            let found = sqlx::query(AssertSqlSafe(check.as_str())).fetch_optional(&mut *conn).await?;
                            if found.is_some() {
                                continue;
                            }
                        }
                        sqlx::query(AssertSqlSafe(statement.as_str())).execute(&mut *conn).await?;
                    }
                    sqlx::query(AssertSqlSafe(record_sql.as_str()))
                        .bind(version)
                        .bind(chrono::Utc::now().to_rfc3339())
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }
            .await;
            let release = if result.is_ok() || d != Dialect::Sqlite { unlock.as_str() } else { "ROLLBACK" };
            if sqlx::query(AssertSqlSafe(release)).execute(&mut *conn).await.is_err() {
                // A connection that may still hold the lock must not go back to the pool.
                drop(conn.detach());
            }
            result
        })?;
        self.check_credential_columns().await
    }

    /// The credential table may have been made by the connector's own Laravel migration: every
    /// column bccreds uses must be there, and secrets need room for an encrypted payload.
    async fn check_credential_columns(&self) -> Result<(), StoreError> {
        let d = self.dialect;
        let table = &self.tables.credentials;
        // The table name is a validated identifier, quoted here as a literal.
        let sql = match d {
            Dialect::Sqlite => format!("SELECT name, type, NULL FROM pragma_table_info('{table}')"),
            Dialect::MySql => format!(
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(character_maximum_length AS SIGNED) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
            Dialect::Postgres => format!(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), CAST(character_maximum_length AS BIGINT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        let columns: Vec<(String, String, Option<i64>)> = with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?);
        for needed in std::iter::once("id").chain(WRITTEN_COLUMNS) {
            let Some((_, kind, length)) = columns.iter().find(|(name, _, _)| name == needed) else {
                return Err(StoreError::Schema {
                    table: table.clone(),
                    problem: format!("has no column `{needed}`, which bccreds needs"),
                });
            };
            let secret = matches!(needed, "accessToken" | "clientSecret");
            // An encrypted payload of a token runs to some 250 characters, more for long ones.
            if secret && length.is_some_and(|n| n < 1000) {
                return Err(StoreError::Schema {
                    table: table.clone(),
                    problem: format!(
                        "column `{needed}` is {kind}({}), too short for an encrypted secret; make it TEXT",
                        length.unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
