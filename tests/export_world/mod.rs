//! The world of the `bccreds export` tests: rows UnoPim's page made by hand (inserted with
//! plain SQL, sealed with the test APP_KEY), a simulator that knows their stores, and the
//! binary run against them with every output checked for the rows' secrets.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use bccreds::crypto::{AppKey, Encrypter};
use bccreds::secret::SecretValue;
use bccreds::simulator::Simulator;

use crate::store_support::{Engine, TestDb, TEST_APP_KEY};

pub const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production Store
    currencies: [{code: USD}]
    channels: [{id: 1, name: Main, currencies: [USD], locales: [en, fr]}]
  - hash: eu4567
    name: Europe Store
    currency: EUR
    currencies: [{code: EUR}]
    channels: [{id: 1, name: Europe, currencies: [EUR], locales: [de]}]
tokens:
  - token: tok-EXPORT-LEAK-prod
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]
  - token: tok-EXPORT-LEAK-eu
    store: eu4567
    scopes: [store_v2_information_read_only, store_v2_products_read_only, store_channel_settings_read_only]
"#;

/// Every secret value the rows hold: none may appear in any output.
pub const SECRETS: [&str; 3] = [
    "tok-EXPORT-LEAK-prod",
    "tok-EXPORT-LEAK-eu",
    "cs-EXPORT-LEAK-secret",
];

/// A hand-made row as UnoPim's page writes it.
#[derive(Clone)]
pub struct HandRow {
    pub label: String,
    pub api_url: String,
    pub token: &'static str,
    /// Client id and client secret.
    pub client: Option<(&'static str, &'static str)>,
    pub active: bool,
    /// Default locale and currency.
    pub defaults: Option<(&'static str, &'static str)>,
    /// Mapping columns, as JSON text.
    pub locales: &'static str,
    pub currencies: &'static str,
}

/// A plain active row of store `hash`, without mappings (`[]`, as Laravel writes them).
pub fn hand(label: &str, hash: &str, token: &'static str) -> HandRow {
    HandRow {
        label: label.to_string(),
        api_url: format!("https://api.bigcommerce.com/stores/{hash}/"),
        token,
        client: None,
        active: true,
        defaults: None,
        locales: "[]",
        currencies: "[]",
    }
}

pub fn rows() -> Vec<HandRow> {
    vec![
        HandRow {
            client: Some(("client-prod", "cs-EXPORT-LEAK-secret")),
            defaults: Some(("en_US", "USD")),
            locales: r#"{"en_US":"en","fr_FR":"fr"}"#,
            currencies: r#"{"USD":"USD"}"#,
            ..hand("Production Store", "abc123", "tok-EXPORT-LEAK-prod")
        },
        HandRow {
            active: false,
            ..hand("Shop EU", "eu4567", "tok-EXPORT-LEAK-eu")
        },
        // Slugs to `shop-eu` as well: it gets a name of its own.
        HandRow {
            locales: r#"{"de_DE":"de"}"#,
            currencies: r#"{"EUR":"EUR"}"#,
            ..hand("shop-eu", "eu4567", "tok-EXPORT-LEAK-eu")
        },
    ]
}

pub const COLUMNS: [&str; 14] = [
    "id",
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

/// The simulator serving the export fixture.
pub async fn simulator() -> Simulator {
    crate::common::simulator(FIXTURE).await
}

pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Inserts `rows` into the migrated credentials table with plain SQL, as UnoPim would.
pub async fn insert_by_hand(db: &TestDb, rows: &[HandRow]) {
    let enc = Encrypter::new(AppKey::parse(TEST_APP_KEY).expect("key"), Vec::new());
    let q = |c: &str| db.ident(c);
    for r in rows {
        let nullable = |v: Option<&str>| v.map_or("NULL".to_string(), quote);
        let sql = format!(
            "INSERT INTO {t} ({label}, {api}, {cid}, {cs}, {tok}, {st}, {dl}, {dc}, {lm}, {cm}, {ca}, {ua}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '2025-03-04 05:06:07', '2025-03-04 05:06:07')",
            quote(&r.label),
            quote(&r.api_url),
            nullable(r.client.map(|c| c.0)),
            nullable(r.client.map(|c| enc.encrypt(&SecretValue::new(c.1))).as_deref()),
            quote(&enc.encrypt(&SecretValue::new(r.token))),
            db.boolean(r.active),
            nullable(r.defaults.map(|d| d.0)),
            nullable(r.defaults.map(|d| d.1)),
            quote(r.locales),
            quote(r.currencies),
            t = q(bccreds::store::CREDENTIALS_TABLE),
            label = q("label"),
            api = q("apiUrl"),
            cid = q("clientId"),
            cs = q("clientSecret"),
            tok = q("accessToken"),
            st = q("status"),
            dl = q("defaultLocale"),
            dc = q("defaultCurrency"),
            lm = q("localeMapping"),
            cm = q("currencyMapping"),
            ca = q("created_at"),
            ua = q("updated_at"),
        );
        db.exec(&sql).await;
    }
}

/// Every column of every row, as the database prints it.
pub async fn snapshot(db: &TestDb) -> Vec<Vec<String>> {
    let text = if db.engine == Engine::MySql {
        "CHAR"
    } else {
        "TEXT"
    };
    let mut out = Vec::new();
    for c in COLUMNS {
        out.push(
            db.strings(&format!(
                "SELECT COALESCE(CAST({col} AS {text}), '<null>') FROM {t} ORDER BY {id}",
                col = db.ident(c),
                t = db.ident(bccreds::store::CREDENTIALS_TABLE),
                id = db.ident("id"),
            ))
            .await,
        );
    }
    out
}

pub async fn bccreds(db: &TestDb, sim: &Simulator, args: &[&str]) -> Output {
    let mut cmd = crate::common::bccreds();
    cmd.args(args).args(["--store", &db.url]);
    if matches!(args[0], "export" | "plan" | "apply") {
        cmd.env("APP_KEY", TEST_APP_KEY);
    }
    if args[0] == "apply" {
        cmd.args(["--bigcommerce-base-url", &sim.base_url()]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("join");
    let all = crate::common::all_output(&out);
    for secret in SECRETS {
        assert!(!all.contains(secret), "{args:?} printed a secret: {all}");
    }
    out
}

pub fn ok(out: &Output) -> String {
    let text = crate::common::all_output(out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

pub fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A SQLite store in its own directory, migrated, with `rows` made by hand.
pub async fn sqlite_with(rows: &[HandRow]) -> TestDb {
    let db = crate::store_support::sqlite().await;
    db.store("").await.close().await;
    insert_by_hand(&db, rows).await;
    db
}

pub fn names_in(dir: &Path) -> Vec<String> {
    files(dir)
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

pub fn files_if_any(dir: &Path) -> Vec<PathBuf> {
    if dir.exists() {
        files(dir)
    } else {
        Vec::new()
    }
}
