//! The connector store: the credential table UnoPim's connector reads, and bccreds' ownership
//! records, on SQLite, MySQL/MariaDB or PostgreSQL.
//!
//! One implementation serves the three engines: SQL text comes from [`Dialect`], and every query
//! is compiled once per engine by the `with_pool!` macro, so each runs on its native driver.

mod batch;
mod bookkeeping;
mod decode;
mod dialect;
mod error;
mod keyring;
mod list;
mod migrate;
mod ops;
mod owned;
mod page;
mod rekey;
mod rewrite;
mod rows;
mod types;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::crypto::{AppKey, Encrypter, KeyRing, SecretFingerprints};
use crate::secret::SecretValue;

pub use bookkeeping::OwnershipRefresh;
pub use decode::ColumnError;
pub use dialect::Dialect;
pub use error::StoreError;
pub use keyring::KeySource;
pub use list::{fold, Listing};
pub use migrate::schema_sql;
pub use page::{Page, PageQuery};
pub use rekey::RekeyReport;
pub use types::{
    CredentialData, CredentialFields, ListQuery, ListedCredential, OwnedRows, Ownership,
    SecretUpdate, SortColumn, StoredCredential, StoredData, UnoPimCodes,
};

/// The credential table's name without a prefix.
pub const CREDENTIALS_TABLE: &str = "wk_bigcommerce_credentials";
/// The default store: an SQLite file in the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite://bccreds.db";

/// How secrets are encrypted at rest.
pub enum Encryption {
    /// Plaintext, for connectors that keep it.
    None,
    /// Laravel's encrypter with UnoPim's APP_KEY and previous keys.
    Key {
        /// APP_KEY.
        key: AppKey,
        /// APP_PREVIOUS_KEYS.
        previous: Vec<AppKey>,
    },
    /// A key file beside the SQLite database, created on first use (mode 0600).
    KeyFile,
}

/// Where the store is and how it writes.
pub struct StoreOptions {
    /// `sqlite://PATH`, `mysql://…` or `postgres://…`.
    pub url: String,
    /// UnoPim's `DB_PREFIX`.
    pub table_prefix: String,
    /// Secret encryption.
    pub encryption: Encryption,
}

/// Table names with the prefix applied.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    pub credentials: String,
    pub ownership: String,
    pub migrations: String,
    pub settings: String,
    pub locales: String,
    pub currencies: String,
}

impl Tables {
    pub(crate) fn new(prefix: &str, dialect: Dialect) -> Result<Tables, StoreError> {
        if prefix.len() > 32
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Prefix(prefix.to_string()));
        }
        let tables = Tables {
            credentials: format!("{prefix}{CREDENTIALS_TABLE}"),
            ownership: format!("{prefix}bccreds_ownership"),
            migrations: format!("{prefix}bccreds_migrations"),
            settings: format!("{prefix}bccreds_settings"),
            locales: format!("{prefix}locales"),
            currencies: format!("{prefix}currencies"),
        };
        // Longer names fail on MySQL and are cut short, silently, on PostgreSQL.
        if let Some(limit) = dialect.max_identifier() {
            let longest = tables.identifiers().map(|i| i.len()).max().unwrap_or(0);
            if longest > limit {
                return Err(StoreError::PrefixTooLong {
                    prefix: prefix.to_string(),
                    max: prefix.len() - (longest - limit),
                    limit,
                });
            }
        }
        Ok(tables)
    }

    /// The old, case-insensitive lookup index of labels (migration 3).
    pub(crate) fn label_lower_index(&self) -> String {
        format!("{}_label_lower", self.credentials)
    }

    /// The unique index of labels ignoring case (migration 4).
    pub(crate) fn label_ci_index(&self) -> String {
        format!("{}_label_ci", self.credentials)
    }

    /// Every identifier the migrations create.
    fn identifiers(&self) -> impl Iterator<Item = String> + '_ {
        [
            self.credentials.clone(),
            self.ownership.clone(),
            self.migrations.clone(),
            self.settings.clone(),
            format!("{}_label_unique", self.credentials),
            format!("{}_source_unique", self.ownership),
            self.label_lower_index(),
            self.label_ci_index(),
        ]
        .into_iter()
    }
}

pub(crate) enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, compiling it once per engine.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::MySql($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// A connected, migrated store.
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) dialect: Dialect,
    pub(crate) tables: Tables,
    encrypter: Option<Encrypter>,
    /// Derived from the encrypter's keys once, at open.
    fingerprints: SecretFingerprints,
    /// The fingerprints of the encrypter's keys, compared with the one the store records.
    keys: KeyRing,
    /// Where the current key came from, for messages.
    key_source: KeySource,
    fail_between_writes: AtomicBool,
    /// SQLite's creates waiting to be written together.
    creates: batch::CreateQueue,
    /// Set when opened only to read: which tables exist.
    read_only: Option<Present>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .field("table", &self.tables.credentials)
            .finish()
    }
}

/// The URL with any password replaced, for messages (the one redaction function).
pub use crate::redact::redact_url;

/// One direct connection first: a pool retries a refused connection until its acquire timeout,
/// while the user should hear at once that the database is unreachable.
async fn probe<O>(options: &O) -> Result<(), sqlx::Error>
where
    O: sqlx::ConnectOptions,
    O::Connection: Sized,
{
    let connection = options.connect().await?;
    sqlx::Connection::close(connection).await
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(PathBuf::from(path))
}

/// Refuses a URL no engine takes before anything else is asked of it (such as an APP_KEY).
fn check_scheme(url: &str) -> Result<(), StoreError> {
    const SCHEMES: [&str; 5] = [
        "sqlite:",
        "mysql://",
        "mariadb://",
        "postgres://",
        "postgresql://",
    ];
    if SCHEMES.iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        Err(StoreError::Url(redact_url(url)))
    }
}

/// The key file beside an SQLite database; other engines must use UnoPim's APP_KEY.
fn key_file_of(url: &str) -> Result<PathBuf, StoreError> {
    let Some(path) = sqlite_path(url) else {
        let engine = if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "MySQL"
        };
        return Err(StoreError::NeedsAppKey(engine));
    };
    let mut key_path = path.into_os_string();
    key_path.push(".key");
    Ok(PathBuf::from(key_path))
}

/// Fingerprints keyed like the encrypter; a store without encryption keeps plain digests.
fn fingerprints_of(encrypter: Option<&Encrypter>) -> SecretFingerprints {
    encrypter.map_or_else(SecretFingerprints::unkeyed, SecretFingerprints::keyed)
}

/// The encrypter `encryption` asks for, and where its key came from; `create` lets the SQLite
/// key file be made.
fn encrypter(
    encryption: Encryption,
    url: &str,
    create: bool,
) -> Result<(Option<Encrypter>, KeySource), StoreError> {
    let (key, path) = match encryption {
        Encryption::None => return Ok((None, KeySource::Plaintext)),
        Encryption::Key { key, previous } => {
            return Ok((Some(Encrypter::new(key, previous)), KeySource::AppKey))
        }
        Encryption::KeyFile => {
            let path = key_file_of(url)?;
            let key = if create {
                crate::crypto::load_or_create_key_file(&path)?
            } else {
                // Without its key file, nothing stored with it can be read: an unsaved key makes
                // such rows unreadable rather than plaintext.
                crate::crypto::load_key_file(&path)?.unwrap_or_else(AppKey::generate)
            };
            (key, path)
        }
    };
    Ok((
        Some(Encrypter::new(key, Vec::new())),
        KeySource::KeyFile(path),
    ))
}

/// Switches the database to WAL once; the mode is kept in the file. Switching needs a lock that
/// SQLite refuses at once (without waiting) while another process starts up too, so it retries.
async fn use_wal(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        match sqlx::query("PRAGMA journal_mode = WAL").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(e)
                if attempt < 100
                    && e.as_database_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| c == "5" || c == "6") =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connects a pool; `create` lets SQLite create the file and switch it to WAL, both writes.
async fn open_pool(url: &str, create: bool) -> Result<(Pool, Dialect), StoreError> {
    let connect_err = |source| StoreError::Connect {
        url: redact_url(url),
        source,
    };
    let acquire = Duration::from_secs(10);
    if url == "sqlite::memory:" {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .map_err(connect_err)?;
        return Ok((Pool::Sqlite(pool), Dialect::Sqlite));
    }
    if let Some(path) = sqlite_path(url) {
        let mut options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(connect_err)?
            .create_if_missing(create)
            .busy_timeout(Duration::from_secs(10));
        if create {
            // With WAL, NORMAL keeps the database consistent on a crash and saves an fsync
            // per commit; only the last commits before a power cut can be lost.
            options = options.synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        if create {
            use_wal(&pool).await.map_err(connect_err)?;
        }
        Ok((Pool::Sqlite(pool), Dialect::Sqlite))
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        // UTC sessions: Laravel's TIMESTAMP columns then hold what bccreds writes.
        let options = MySqlConnectOptions::from_str(url)
            .map_err(connect_err)?
            .timezone(Some("+00:00".to_string()));
        probe(&options).await.map_err(connect_err)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok((Pool::MySql(pool), Dialect::MySql))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(connect_err)?;
        probe(&options).await.map_err(connect_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(acquire)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok((Pool::Postgres(pool), Dialect::Postgres))
    } else {
        Err(StoreError::Url(redact_url(url)))
    }
}

/// Which of bccreds' tables a store opened only to read found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Present {
    credentials: bool,
    ownership: bool,
    source_path: bool,
    settings: bool,
}

impl Store {
    /// Connects, runs migrations and sets up encryption.
    pub async fn connect(opts: StoreOptions) -> Result<Store, StoreError> {
        let url = opts.url.as_str();
        check_scheme(url)?;
        let tables = Tables::new(&opts.table_prefix, Dialect::of_url(url))?;
        // Decided before connecting, so a missing key is reported without touching the database.
        let (encrypter, key_source) = encrypter(opts.encryption, url, true)?;
        let (pool, dialect) = open_pool(url, true).await?;
        let store = Store {
            pool,
            dialect,
            tables,
            fingerprints: fingerprints_of(encrypter.as_ref()),
            keys: KeyRing::of(encrypter.as_ref()),
            key_source,
            encrypter,
            fail_between_writes: AtomicBool::new(false),
            creates: Default::default(),
            read_only: None,
        };
        store.migrate().await?;
        store.settle_key().await?;
        Ok(store)
    }

    /// Opens a store only to read it (`list`, `plan`): nothing is created or migrated, neither
    /// a database file, a table nor a key file. A store that does not exist yet reads as empty.
    pub async fn open_existing(opts: StoreOptions) -> Result<Store, StoreError> {
        let url = opts.url.as_str();
        check_scheme(url)?;
        let tables = Tables::new(&opts.table_prefix, Dialect::of_url(url))?;
        let (encrypter, key_source) = encrypter(opts.encryption, url, false)?;
        let absent = sqlite_path(url).is_some_and(|path| !path.exists());
        let (pool, dialect) = if absent {
            // An empty in-memory database stands in for the one that does not exist.
            open_pool("sqlite::memory:", false).await?
        } else {
            open_pool(url, false).await?
        };
        let mut store = Store {
            pool,
            dialect,
            tables,
            fingerprints: fingerprints_of(encrypter.as_ref()),
            keys: KeyRing::of(encrypter.as_ref()),
            key_source,
            encrypter,
            fail_between_writes: AtomicBool::new(false),
            creates: Default::default(),
            read_only: Some(Present::default()),
        };
        let ownership = store.table_exists(&store.tables.ownership).await?;
        let source_path = ownership && store.source_path_exists().await?;
        let present = Present {
            credentials: store.table_exists(&store.tables.credentials).await?,
            ownership,
            source_path,
            settings: store.table_exists(&store.tables.settings).await?,
        };
        store.read_only = Some(present);
        Ok(store)
    }

    /// Refuses to write through a store opened only to read.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self.read_only {
            Some(_) => Err(StoreError::ReadOnly),
            None => Ok(()),
        }
    }

    /// Whether the credential table exists; always true for a migrated store.
    pub(crate) fn has_credentials(&self) -> bool {
        self.read_only.is_none_or(|p| p.credentials)
    }

    /// Whether the ownership table exists; always true for a migrated store.
    pub(crate) fn has_ownership(&self) -> bool {
        self.read_only.is_none_or(|p| p.ownership)
    }

    /// Whether the settings table exists; always true for a migrated store.
    pub(crate) fn has_settings(&self) -> bool {
        self.read_only.is_none_or(|p| p.settings)
    }

    /// Whether the ownership table has `source_path`; always true for a migrated store.
    pub(crate) fn has_source_path(&self) -> bool {
        self.read_only.is_none_or(|p| p.source_path)
    }

    /// Which engine this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The credential table's full name.
    pub fn credentials_table(&self) -> &str {
        &self.tables.credentials
    }

    /// Makes the next write fail after the credential write and before the ownership write.
    ///
    /// For atomicity tests; it proves that such a failure rolls the whole operation back.
    pub fn fail_next_write_between_tables(&self) {
        self.fail_between_writes.store(true, Ordering::SeqCst);
    }

    fn injected_failure(&self) -> Result<(), StoreError> {
        if self.fail_between_writes.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Injected);
        }
        Ok(())
    }

    /// How secret fingerprints are made and recognised in this store.
    pub fn fingerprints(&self) -> &SecretFingerprints {
        &self.fingerprints
    }

    fn seal(&self, value: &SecretValue) -> String {
        match &self.encrypter {
            Some(e) => e.encrypt(value),
            None => value.expose().to_string(),
        }
    }

    fn open(&self, id: i64, column: &'static str, stored: &str) -> Result<SecretValue, StoreError> {
        match &self.encrypter {
            Some(e) => {
                e.decrypt(stored)
                    .map_err(|source| StoreError::Decrypt { id, column, source })
            }
            None => Ok(SecretValue::new(stored)),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}
