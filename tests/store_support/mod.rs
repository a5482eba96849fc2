//! Runs one store scenario against every configured backend, each in a database of its own.
//!
//! SQLite always runs; MySQL/MariaDB and PostgreSQL run when `BCCREDS_TEST_MYSQL_URL` /
//! `BCCREDS_TEST_POSTGRES_URL` are set (as `.ci/run` does), and say so when skipped.
#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use bccreds::crypto::AppKey;
use bccreds::secret::SecretValue;
use bccreds::store::{CredentialData, Encryption, Ownership, SecretUpdate, Store, StoreOptions};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::AssertSqlSafe;

/// A fixed APP_KEY for tests, so raw columns can be decrypted independently.
pub const TEST_APP_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Which engine a test database runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    MySql,
    Postgres,
}

/// A fresh database on one engine, dropped when the scenario ends.
pub struct TestDb {
    pub engine: Engine,
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static SKIP_NOTE: Once = Once::new();

fn unique_name() -> String {
    format!(
        "bccreds_t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        fastrand::u32(..)
    )
}

/// The URL with its path (database name) replaced.
fn with_database(url: &str, db: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("test database URL");
    parsed.set_path(&format!("/{db}"));
    parsed.to_string()
}

impl TestDb {
    async fn create(engine: Engine, admin_url: Option<String>) -> TestDb {
        let name = unique_name();
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                TestDb {
                    engine,
                    url,
                    admin_url: None,
                    name,
                    _dir: Some(dir),
                }
            }
            Engine::MySql | Engine::Postgres => {
                let admin = admin_url.expect("admin url");
                let create = format!("CREATE DATABASE {name}");
                if engine == Engine::MySql {
                    let pool = MySqlPool::connect(&admin).await.expect("MySQL reachable");
                    sqlx::query(AssertSqlSafe(create))
                        .execute(&pool)
                        .await
                        .expect("create db");
                    pool.close().await;
                } else {
                    let pool = PgPool::connect(&admin).await.expect("PostgreSQL reachable");
                    sqlx::query(AssertSqlSafe(create))
                        .execute(&pool)
                        .await
                        .expect("create db");
                    pool.close().await;
                }
                let url = with_database(&admin, &name);
                TestDb {
                    engine,
                    url,
                    admin_url: Some(admin),
                    name,
                    _dir: None,
                }
            }
        }
    }

    async fn drop_db(&self) {
        let Some(admin) = &self.admin_url else { return };
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        match self.engine {
            Engine::MySql => {
                if let Ok(pool) = MySqlPool::connect(admin).await {
                    let _ = sqlx::query(AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            }
            Engine::Postgres => {
                if let Ok(pool) = PgPool::connect(admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!("{sql} WITH (FORCE)")))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            }
            Engine::Sqlite => {}
        }
    }

    /// A store on this database with the test APP_KEY and `prefix`.
    pub async fn store(&self, prefix: &str) -> Store {
        Store::connect(StoreOptions {
            url: self.url.clone(),
            table_prefix: prefix.to_string(),
            encryption: Encryption::Key {
                key: AppKey::parse(TEST_APP_KEY).expect("key"),
                previous: Vec::new(),
            },
        })
        .await
        .expect("store connects")
    }

    /// Runs raw SQL (`?` placeholders are not supported: inline test values).
    pub async fn exec(&self, sql: &str) {
        match self.engine {
            Engine::Sqlite => {
                let pool = self.sqlite().await;
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
            }
            Engine::MySql => {
                let pool = MySqlPool::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
            }
            Engine::Postgres => {
                let pool = PgPool::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
            }
        }
    }

    /// The first column of every row of `sql`, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        match self.engine {
            Engine::Sqlite => {
                let pool = self.sqlite().await;
                let v = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
                v
            }
            Engine::MySql => {
                let pool = MySqlPool::connect(&self.url).await.expect("connect");
                let v = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
                v
            }
            Engine::Postgres => {
                let pool = PgPool::connect(&self.url).await.expect("connect");
                let v = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&pool)
                    .await
                    .expect(sql);
                pool.close().await;
                v
            }
        }
    }

    async fn sqlite(&self) -> SqlitePool {
        // Laravel may create the database before bccreds does.
        let opts = SqliteConnectOptions::from_str(&self.url)
            .expect("url")
            .create_if_missing(true);
        SqlitePool::connect_with(opts).await.expect("connect")
    }

    /// An identifier quoted for this engine.
    pub fn ident(&self, name: &str) -> String {
        match self.engine {
            Engine::MySql => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    /// Boolean literal for this engine.
    pub fn boolean(&self, value: bool) -> &'static str {
        match (self.engine, value) {
            (Engine::Postgres, true) => "TRUE",
            (Engine::Postgres, false) => "FALSE",
            (_, true) => "1",
            (_, false) => "0",
        }
    }
}

/// The engines to run: SQLite always, the others when their URL is set.
pub fn engines() -> Vec<(Engine, Option<String>)> {
    let mut out = vec![(Engine::Sqlite, None)];
    let mut skipped = Vec::new();
    for (engine, var) in [
        (Engine::MySql, "BCCREDS_TEST_MYSQL_URL"),
        (Engine::Postgres, "BCCREDS_TEST_POSTGRES_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => out.push((engine, Some(url))),
            _ => skipped.push(var),
        }
    }
    if !skipped.is_empty() {
        SKIP_NOTE.call_once(|| {
            // Written past the test harness's capture so that a plain `cargo test` shows it.
            let _ = writeln!(
                std::io::stderr(),
                "note: store tests ran on SQLite only; skipped the engines of {} (unset)",
                skipped.join(" and ")
            );
        });
    }
    out
}

/// A fresh SQLite database, for tests about something other than the engine.
pub async fn sqlite() -> TestDb {
    TestDb::create(Engine::Sqlite, None).await
}

/// Runs `scenario` once per engine, each on a fresh database, and drops the databases after.
pub async fn each_engine<F, Fut>(scenario: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = TestDb>,
{
    for (engine, admin) in engines() {
        let db = TestDb::create(engine, admin).await;
        let db = scenario(db).await;
        db.drop_db().await;
    }
}

/// A credential of store abc123 with `label` and `token`, no mappings.
pub fn credential(label: &str, token: &str) -> CredentialData {
    CredentialData {
        label: label.to_string(),
        api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
        client_id: None,
        client_secret: SecretUpdate::Keep,
        access_token: SecretUpdate::Set(SecretValue::new(token)),
        active: true,
        default_locale: None,
        default_currency: None,
        locale_mapping: Default::default(),
        currency_mapping: Default::default(),
        store_info: None,
    }
}

/// `owner`'s ownership record of the manifest `key`, last verified successfully.
pub fn ownership(owner: &str, key: &str) -> Ownership {
    Ownership {
        credential_id: 0,
        owner_id: owner.to_string(),
        source_key: bccreds::model::SourceKey::stored(key),
        spec_sha256: "a".repeat(64),
        secret_sha256: "b".repeat(64),
        last_verified_at: None,
        last_result: Some(bccreds::model::Reason::Verified),
        last_message: None,
        deletion_policy: bccreds::model::DeletionPolicy::Delete,
        source_path: None,
    }
}
