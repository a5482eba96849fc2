//! The store in a database Laravel also writes: tables made by Laravel's schema builder, rows
//! with `[]` and `null` JSON, migrations re-run after a crash or by many processes at once,
//! long table prefixes, and two owners racing for labels that differ only in case.

mod store_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bccreds::crypto::{AppKey, Encrypter};
use bccreds::secret::SecretValue;
use bccreds::store::{Encryption, ListQuery, Store, StoreError, StoreOptions};
use store_support::{
    credential as data, each_engine, ownership as owned_by, Engine, TestDb, TEST_APP_KEY,
};

/// The DDL Laravel 8's schema builder emits for the connector's migration (`$table->id()`,
/// `string`, `text`, `boolean`, `json`, `timestamps()`), per engine.
fn laravel_table(db: &TestDb, table: &str) -> String {
    let q = |c: &str| db.ident(c);
    let (id, boolean, json, ts, opts) = match db.engine {
        Engine::MySql => (
            "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "TINYINT(1) NOT NULL DEFAULT 1",
            "JSON NULL",
            "TIMESTAMP NULL",
            " DEFAULT CHARACTER SET utf8mb4 COLLATE 'utf8mb4_unicode_ci'",
        ),
        Engine::Postgres => (
            "BIGSERIAL PRIMARY KEY NOT NULL",
            "BOOLEAN NOT NULL DEFAULT '1'",
            "JSON NULL",
            "TIMESTAMP(0) WITHOUT TIME ZONE NULL",
            "",
        ),
        Engine::Sqlite => (
            "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
            "TINYINT(1) NOT NULL DEFAULT '1'",
            "TEXT NULL",
            "DATETIME NULL",
            "",
        ),
    };
    format!(
        "CREATE TABLE {t} ({id_c} {id}, {label} VARCHAR(255) NOT NULL, {api} VARCHAR(255) NOT NULL, {cid} VARCHAR(255) NULL, {cs} TEXT NULL, {tok} TEXT NOT NULL, {st} {boolean}, {dl} VARCHAR(255) NULL, {dc} VARCHAR(255) NULL, {lm} {json}, {cm} {json}, {si} {json}, {ca} {ts}, {ua} {ts}){opts}",
        t = q(table),
        id_c = q("id"),
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
        si = q("storeInfo"),
        ca = q("created_at"),
        ua = q("updated_at"),
    )
}

fn encrypted(token: &str) -> String {
    Encrypter::new(AppKey::parse(TEST_APP_KEY).expect("key"), Vec::new())
        .encrypt(&SecretValue::new(token))
}

#[tokio::test]
async fn rows_and_tables_made_by_laravel_are_read_adopted_and_updated() {
    each_engine(|db| async move {
        let table = "wk_bigcommerce_credentials";
        db.exec(&laravel_table(&db, table)).await;
        let q = |c: &str| db.ident(c);
        // As Eloquent stores a cleared mapping (`[]`), a never-set one (NULL) and `{}`.
        for (label, lmap, cmap, info) in [
            ("Cleared", "'[]'", "'[]'", "'[]'"),
            ("Never set", "NULL", "NULL", "NULL"),
            ("Object", "'{\"en_US\":\"en\"}'", "'{}'", "'{\"hash\":\"abc123\",\"name\":\"Shop\"}'"),
        ] {
            db.exec(&format!(
                "INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}, {}) VALUES ('{label}', 'https://api.bigcommerce.com/stores/abc123/', '{}', {}, {lmap}, {cmap}, {info}, '2026-11-28 12:00:00', '2026-11-28 12:00:00')",
                q(table),
                q("label"),
                q("apiUrl"),
                q("accessToken"),
                q("status"),
                q("localeMapping"),
                q("currencyMapping"),
                q("storeInfo"),
                q("created_at"),
                q("updated_at"),
                encrypted("hand-token"),
                db.boolean(true),
            ))
            .await;
        }
        let store = db.store("").await;
        let rows = store.list(&ListQuery::default()).await.expect("list reads Laravel's rows");
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["Cleared", "Never set", "Object"]);
        assert!(rows.iter().all(|r| r.active && r.owner_id.is_none()));
        assert_eq!(
            rows[0].updated_at.map(|t| t.to_rfc3339()),
            Some("2026-11-28T12:00:00+00:00".to_string()),
            "TIMESTAMP columns read back as written (UTC sessions)"
        );
        let (cleared, _) = store
            .find_by_label("cleared")
            .await
            .expect("a [] row reads")
            .expect("found");
        assert!(cleared.data.locale_mapping.is_empty());
        assert!(cleared.data.store_info.is_none());
        assert_eq!(cleared.data.access_token.expose(), "hand-token");
        let (object, _) = store.find_by_label("Object").await.expect("read").expect("found");
        assert_eq!(object.data.locale_mapping.get("en_US").map(String::as_str), Some("en"));
        assert_eq!(object.data.store_info.map(|i| i.hash), Some("abc123".to_string()));

        // Adopt, update, and read everything back as one owner's rows.
        let own = owned_by("o", "shop/cleared");
        let mut wanted = data("Cleared", "new-token");
        wanted.locale_mapping = BTreeMap::from([("en_US".into(), "en".into())]);
        store.adopt(cleared.id, &wanted, &own).await.expect("adopt");
        wanted.active = false;
        store.update(cleared.id, &wanted, &own).await.expect("update");
        let owned = store.owned("o").await.expect("owned");
        let row = owned[0].1.as_ref().expect("present");
        assert_eq!((row.data.active, row.data.access_token.expose()), (false, "new-token"));
        // A second, Laravel-style create on the same table gets the next unsigned id.
        let id = store
            .create(&data("Created by bccreds", "t"), &owned_by("o", "shop/new"))
            .await
            .expect("create");
        assert!(id > cleared.id);
        store.delete("o", id).await.expect("delete");
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_child_table_can_reference_the_table_bccreds_creates() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let q = |c: &str| db.ident(c);
        // What `$table->foreignId('credential_id')->constrained('wk_bigcommerce_credentials')`
        // makes: on MySQL the reference must match BIGINT UNSIGNED exactly (errno 150 otherwise).
        let fk_type = match db.engine {
            Engine::MySql => "BIGINT UNSIGNED",
            _ => "BIGINT",
        };
        db.exec(&format!(
            "CREATE TABLE {child} ({id} {fk_type} NOT NULL, CONSTRAINT {fk} FOREIGN KEY ({id}) REFERENCES {parent} ({pid}))",
            child = q("wk_bigcommerce_jobs"),
            id = q("credential_id"),
            fk = q("wk_bigcommerce_jobs_credential_id_foreign"),
            parent = q(store.credentials_table()),
            pid = q("id"),
        ))
        .await;
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn migrations_survive_a_crash_before_they_are_recorded() {
    each_engine(|db| async move {
        let store = db.store("").await;
        store.close().await;
        // As if killed after each migration's statements ran and before its version was recorded.
        db.exec("DELETE FROM bccreds_migrations WHERE version >= 2")
            .await;
        let again = db.store("").await;
        assert_eq!(
            db.strings("SELECT applied_at FROM bccreds_migrations")
                .await
                .len(),
            6,
            "every version recorded once"
        );
        again
            .create(&data("After the crash", "t"), &owned_by("o", "shop/a"))
            .await
            .expect("a working schema");
        again.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn eight_processes_starting_at_once_make_one_schema() {
    each_engine(|db| async move {
        let url = db.url.clone();
        let mut starts = Vec::new();
        for _ in 0..8 {
            let url = url.clone();
            starts.push(tokio::spawn(async move {
                Store::connect(StoreOptions {
                    url,
                    table_prefix: String::new(),
                    encryption: Encryption::Key {
                        key: AppKey::parse(TEST_APP_KEY).expect("key"),
                        previous: Vec::new(),
                    },
                })
                .await
            }));
        }
        for start in starts {
            let store = start.await.expect("join").expect("every start succeeds");
            store.close().await;
        }
        // The version is the primary key: six rows are versions 1 to 6, once each.
        let versions = db
            .strings("SELECT applied_at FROM bccreds_migrations")
            .await;
        assert_eq!(versions.len(), 6, "{versions:?}");
        db
    })
    .await;
}

#[tokio::test]
async fn table_prefixes_too_long_for_the_engine_are_refused_with_the_maximum() {
    each_engine(|db| async move {
        let prefix = "p".repeat(30);
        let result = Store::connect(StoreOptions {
            url: db.url.clone(),
            table_prefix: prefix.clone(),
            encryption: Encryption::None,
        })
        .await;
        match db.engine {
            Engine::Sqlite => result.expect("SQLite has no identifier limit").close().await,
            Engine::MySql | Engine::Postgres => {
                // The longest name is `{prefix}wk_bigcommerce_credentials_label_unique` (39 + prefix).
                let max = if db.engine == Engine::MySql { 25 } else { 24 };
                let err = result.expect_err("too long");
                assert!(
                    matches!(&err, StoreError::PrefixTooLong { max: m, .. } if *m == max),
                    "{err}"
                );
                assert!(err.to_string().contains(&format!("prefix at most {max}")), "{err}");
                // Nothing was created.
                let name = if db.engine == Engine::Postgres {
                    "CAST(table_name AS TEXT)"
                } else {
                    "table_name"
                };
                let tables = db
                    .strings(&format!(
                        "SELECT {name} FROM information_schema.tables WHERE table_name LIKE '{prefix}%'"
                    ))
                    .await;
                assert!(tables.is_empty(), "{tables:?}");
                let fits = Store::connect(StoreOptions {
                    url: db.url.clone(),
                    table_prefix: "p".repeat(max),
                    encryption: Encryption::None,
                })
                .await
                .expect("the maximum fits");
                fits.close().await;
            }
        }
        db
    })
    .await;
}

#[tokio::test]
async fn labels_differing_only_in_case_never_both_land_under_concurrency() {
    each_engine(|db| async move {
        let a = Arc::new(db.store("").await);
        let b = Arc::new(db.store("").await);
        for round in 0..3 {
            let mut tasks = Vec::new();
            for i in 0..150 {
                for (store, owner, label) in [
                    (a.clone(), "owner-a", format!("Race Label {round}-{i}")),
                    (b.clone(), "owner-b", format!("RACE LABEL {round}-{i}")),
                ] {
                    let key = format!("shop/race-{round}-{i}");
                    tasks.push(tokio::spawn(async move {
                        store
                            .create(&data(&label, "t"), &owned_by(owner, &key))
                            .await
                    }));
                }
            }
            for task in tasks {
                match task.await.expect("join") {
                    Ok(_) | Err(StoreError::LabelConflict { .. }) => {}
                    Err(e) => panic!("a racing create failed otherwise: {e}"),
                }
            }
        }
        let labels: Vec<String> = a
            .list(&ListQuery::default())
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.label.to_lowercase())
            .collect();
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(labels.len(), 450, "one of each pair, 3 rounds of 150");
        assert_eq!(unique.len(), labels.len(), "case-duplicates landed");
        a.close().await;
        b.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn opening_a_store_to_read_creates_nothing() {
    each_engine(|db| async move {
        let options = || StoreOptions {
            url: db.url.clone(),
            table_prefix: String::new(),
            encryption: Encryption::Key {
                key: AppKey::parse(TEST_APP_KEY).expect("key"),
                previous: Vec::new(),
            },
        };
        let store = Store::open_existing(options()).await.expect("opens");
        assert!(store.list(&ListQuery::default()).await.expect("list").is_empty());
        assert!(store.owned("o").await.expect("owned").is_empty());
        assert!(matches!(
            store.create(&data("No", "t"), &owned_by("o", "shop/no")).await,
            Err(StoreError::ReadOnly)
        ));
        store.close().await;
        let tables = match db.engine {
            Engine::Sqlite => {
                let file = db.url.trim_start_matches("sqlite://").to_string();
                assert!(
                    !std::path::Path::new(&file).exists(),
                    "the database file was created"
                );
                Vec::new()
            }
            Engine::MySql => {
                db.strings("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
                    .await
            }
            Engine::Postgres => {
                db.strings("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()")
                    .await
            }
        };
        assert!(tables.is_empty(), "tables were created: {tables:?}");
        // A table Laravel made, before bccreds ever wrote here, lists without owners.
        db.exec(&laravel_table(&db, "wk_bigcommerce_credentials")).await;
        db.exec(&format!(
            "INSERT INTO {} ({}, {}, {}, {}) VALUES ('Hand made', 'https://api.bigcommerce.com/stores/abc123/', 't', {})",
            db.ident("wk_bigcommerce_credentials"),
            db.ident("label"),
            db.ident("apiUrl"),
            db.ident("accessToken"),
            db.ident("status"),
            db.boolean(true)
        ))
        .await;
        let store = Store::open_existing(options()).await.expect("opens");
        let rows = store.list(&ListQuery::default()).await.expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].label.as_str(), rows[0].owner_id.as_deref()), ("Hand made", None));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_credential_table_without_what_bccreds_needs_is_refused_by_name() {
    each_engine(|db| async move {
        let q = |c: &str| db.ident(c);
        // A table with a too-short secret column (Laravel's `string()`), and one missing a column.
        db.exec(&laravel_table(&db, "short_wk_bigcommerce_credentials"))
            .await;
        let alter = match db.engine {
            store_support::Engine::MySql => format!(
                "ALTER TABLE {} MODIFY {} VARCHAR(255) NOT NULL",
                q("short_wk_bigcommerce_credentials"),
                q("accessToken")
            ),
            store_support::Engine::Postgres => format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE VARCHAR(255)",
                q("short_wk_bigcommerce_credentials"),
                q("accessToken")
            ),
            // SQLite keeps any length in any column; only a missing column is refused there.
            store_support::Engine::Sqlite => String::new(),
        };
        if !alter.is_empty() {
            db.exec(&alter).await;
            let err = Store::connect(StoreOptions {
                url: db.url.clone(),
                table_prefix: "short_".into(),
                encryption: Encryption::None,
            })
            .await
            .expect_err("too short");
            assert!(
                err.to_string().contains("column `accessToken` is")
                    && err.to_string().contains("make it TEXT"),
                "{err}"
            );
        }
        db.exec(&laravel_table(&db, "gone_wk_bigcommerce_credentials"))
            .await;
        db.exec(&format!(
            "ALTER TABLE {} DROP COLUMN {}",
            q("gone_wk_bigcommerce_credentials"),
            q("storeInfo")
        ))
        .await;
        let err = Store::connect(StoreOptions {
            url: db.url.clone(),
            table_prefix: "gone_".into(),
            encryption: Encryption::None,
        })
        .await
        .expect_err("missing column");
        assert!(
            err.to_string().contains("has no column `storeInfo`"),
            "{err}"
        );
        db
    })
    .await;
}
