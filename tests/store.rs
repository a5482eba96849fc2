//! One store suite, run against SQLite and, when configured, MariaDB/MySQL and PostgreSQL.

mod store_support;

use std::collections::BTreeMap;

use bccreds::crypto::{AppKey, Encrypter};
use bccreds::secret::SecretValue;
use bccreds::store::{
    CredentialData, Encryption, ListQuery, OwnershipRefresh, SecretUpdate, SortColumn, Store,
    StoreError, StoreOptions,
};
use store_support::{each_engine, ownership as owned_by, TestDb, TEST_APP_KEY};

fn data(label: &str, token: &str) -> CredentialData {
    CredentialData {
        label: label.to_string(),
        api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
        client_id: Some("client-1".into()),
        client_secret: SecretUpdate::Set(SecretValue::new("client-secret-1")),
        access_token: SecretUpdate::Set(SecretValue::new(token)),
        active: true,
        default_locale: Some("en_US".into()),
        default_currency: Some("USD".into()),
        locale_mapping: BTreeMap::from([("en_US".to_string(), "en".to_string())]),
        currency_mapping: BTreeMap::from([("USD".to_string(), "USD".to_string())]),
        store_info: None,
    }
}

/// Inserts a row as UnoPim's credentials page would: no ownership record.
async fn insert_by_hand(db: &TestDb, store: &Store, label: &str) -> i64 {
    let q = |c: &str| db.ident(c);
    db.exec(&format!(
        "INSERT INTO {} ({}, {}, {}, {}) VALUES ('{label}', 'https://api.bigcommerce.com/stores/hand1/', 'hand-made-token', {})",
        q(store.credentials_table()),
        q("label"),
        q("apiUrl"),
        q("accessToken"),
        q("status"),
        db.boolean(true)
    ))
    .await;
    let found = store.find_by_label(label).await;
    // The hand-made token is not a Laravel payload, so reading it must fail to decrypt…
    assert!(
        matches!(found, Err(StoreError::Decrypt { .. })),
        "{found:?}"
    );
    // … and the row is found through list instead.
    let rows = store
        .list(&ListQuery {
            search: Some(label.into()),
            ..ListQuery::default()
        })
        .await
        .expect("list");
    rows.iter()
        .find(|r| r.label == label)
        .expect("hand-made row")
        .id
}

async fn row_dump(db: &TestDb, store: &Store) -> Vec<String> {
    let q = |c: &str| db.ident(c);
    db.strings(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        concat_columns(db, &["label", "apiUrl", "accessToken"]),
        q(store.credentials_table()),
        q("id")
    ))
    .await
}

fn concat_columns(db: &TestDb, cols: &[&str]) -> String {
    let parts: Vec<String> = cols.iter().map(|c| db.ident(c)).collect();
    match db.engine {
        store_support::Engine::MySql => format!("CONCAT_WS('|', {})", parts.join(", ")),
        _ => parts.join(" || '|' || "),
    }
}

#[tokio::test]
async fn create_update_delete_and_read() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let own = owned_by("owner-a", "shop/prod");
        let id = store
            .create(&data("Production", "token-1"), &own)
            .await
            .expect("create");
        let got = store.get(id).await.expect("get").expect("row");
        assert_eq!(got.data.label, "Production");
        assert_eq!(got.data.access_token.expose(), "token-1");
        assert_eq!(
            got.data.client_secret.as_ref().map(|s| s.expose()),
            Some("client-secret-1")
        );
        assert_eq!(
            got.data.locale_mapping.get("en_US").map(String::as_str),
            Some("en")
        );
        assert!(got.created_at.is_some());

        // Keep-current secrets: other columns change, the token stays.
        let mut change = data("Production EU", "ignored");
        change.access_token = SecretUpdate::Keep;
        change.client_secret = SecretUpdate::Keep;
        change.active = false;
        store.update(id, &change, &own).await.expect("update");
        let got = store.get(id).await.expect("get").expect("row");
        assert_eq!(got.data.label, "Production EU");
        assert!(!got.data.active);
        assert_eq!(got.data.access_token.expose(), "token-1");
        assert_eq!(
            got.data.client_secret.as_ref().map(|s| s.expose()),
            Some("client-secret-1")
        );

        store
            .update(id, &data("Production EU", "token-2"), &own)
            .await
            .expect("update token");
        assert_eq!(
            store
                .get(id)
                .await
                .expect("get")
                .expect("row")
                .data
                .access_token
                .expose(),
            "token-2"
        );

        let owned = store.owned("owner-a").await.expect("owned");
        assert_eq!(owned.len(), 1);
        assert_eq!(owned[0].0.source_key.to_string(), "shop/prod");
        assert_eq!(owned[0].1.as_ref().map(|c| c.id), Some(id));

        store.delete("owner-a", id).await.expect("delete");
        assert!(store.get(id).await.expect("get").is_none());
        assert!(store.owned("owner-a").await.expect("owned").is_empty());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn list_searches_sorts_and_filters() {
    each_engine(|db| async move {
        let store = db.store("").await;
        for (label, active, hash) in [
            ("Beta Shop", true, "bbb"),
            ("alpha outlet", false, "ccc"),
            ("Gamma Shop", true, "aaa"),
        ] {
            let mut d = data(label, "t");
            d.active = active;
            d.api_url = format!("https://api.bigcommerce.com/stores/{hash}/");
            store
                .create(&d, &owned_by("o", label))
                .await
                .expect("create");
        }
        let labels = |rows: Vec<bccreds::store::ListedCredential>| {
            rows.into_iter().map(|r| r.label).collect::<Vec<_>>()
        };
        let all = store.list(&ListQuery::default()).await.expect("list");
        assert_eq!(labels(all), ["alpha outlet", "Beta Shop", "Gamma Shop"]);
        let desc = store
            .list(&ListQuery {
                descending: true,
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(labels(desc), ["Gamma Shop", "Beta Shop", "alpha outlet"]);
        let by_url = store
            .list(&ListQuery {
                sort: SortColumn::ApiUrl,
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(labels(by_url), ["Gamma Shop", "Beta Shop", "alpha outlet"]);
        let search = store
            .list(&ListQuery {
                search: Some("SHOP".into()),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(labels(search), ["Beta Shop", "Gamma Shop"]);
        let wildcard = store
            .list(&ListQuery {
                search: Some("%".into()),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert!(wildcard.is_empty(), "`%` is a literal, not a wildcard");
        // Non-ASCII case folding, the same on every engine (SQLite's LOWER folds ASCII only).
        for (label, hash) in [("İzmir Depo", "ddd"), ("ZÜRICH Laden", "eee")] {
            let mut d = data(label, "t");
            d.api_url = format!("https://api.bigcommerce.com/stores/{hash}/");
            store
                .create(&d, &owned_by("o", label))
                .await
                .expect("create");
        }
        for (needle, expected) in [
            ("İzmir", "İzmir Depo"),
            ("izmir", "İzmir Depo"),
            ("IZMIR", "İzmir Depo"),
            ("zürich", "ZÜRICH Laden"),
        ] {
            let found = store
                .list(&ListQuery {
                    search: Some(needle.into()),
                    ..ListQuery::default()
                })
                .await
                .expect("list");
            assert_eq!(labels(found), [expected], "search {needle}");
        }
        let unaccented = store
            .list(&ListQuery {
                search: Some("zurich".into()),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert!(
            unaccented.is_empty(),
            "accents count on every engine, MariaDB's collation aside"
        );
        for label in ["İzmir Depo", "ZÜRICH Laden"] {
            let id = store
                .list(&ListQuery {
                    search: Some(label.into()),
                    ..ListQuery::default()
                })
                .await
                .expect("list")[0]
                .id;
            store.delete("o", id).await.expect("delete");
        }
        let inactive = store
            .list(&ListQuery {
                active: Some(false),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(labels(inactive), ["alpha outlet"]);
        let by_status = store
            .list(&ListQuery {
                sort: SortColumn::Status,
                descending: true,
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(
            by_status.last().map(|r| r.label.as_str()),
            Some("alpha outlet")
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_label_taken_by_an_unowned_row_is_a_conflict_and_changes_nothing() {
    each_engine(|db| async move {
        let store = db.store("").await;
        insert_by_hand(&db, &store, "Hand Made").await;
        let before = row_dump(&db, &store).await;
        let err = store
            .create(&data("hand made", "t"), &owned_by("o", "x/y"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::LabelConflict { owner: None, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("bigcommerce.unopim.io/adopt"),
            "{err}"
        );
        assert_eq!(row_dump(&db, &store).await, before);
        assert!(store.owned("o").await.expect("owned").is_empty());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn an_unowned_row_is_never_updated_or_deleted_but_can_be_adopted() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let id = insert_by_hand(&db, &store, "Hand Made").await;
        let before = row_dump(&db, &store).await;
        let own = owned_by("o", "x/y");
        assert!(matches!(
            store.update(id, &data("Hand Made", "t"), &own).await,
            Err(StoreError::NotOwned { .. })
        ));
        assert!(matches!(
            store.delete("o", id).await,
            Err(StoreError::NotOwned { .. })
        ));
        assert_eq!(row_dump(&db, &store).await, before);

        store
            .adopt(id, &data("Hand Made", "adopted-token"), &own)
            .await
            .expect("adopt");
        let owned = store.owned("o").await.expect("owned");
        assert_eq!(owned.len(), 1);
        assert_eq!(
            owned[0]
                .1
                .as_ref()
                .map(|c| c.data.access_token.expose().to_string()),
            Some("adopted-token".into())
        );
        // Another owner cannot adopt it away.
        let theirs = owned_by("other", "x/y");
        assert!(matches!(
            store.adopt(id, &data("Hand Made", "t"), &theirs).await,
            Err(StoreError::LabelConflict { .. })
        ));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn two_owners_share_a_store_without_touching_each_other() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let a = owned_by("cluster-a", "shop/prod");
        let b = owned_by("cluster-b", "shop/prod");
        let id_a = store.create(&data("A Prod", "ta"), &a).await.expect("a");
        let id_b = store.create(&data("B Prod", "tb"), &b).await.expect("b");
        assert_eq!(store.owned("cluster-a").await.expect("owned").len(), 1);
        assert!(matches!(
            store.delete("cluster-a", id_b).await,
            Err(StoreError::NotOwned { .. })
        ));
        assert!(matches!(
            store.update(id_b, &data("B Prod", "x"), &a).await,
            Err(StoreError::NotOwned { .. })
        ));
        let err = store
            .create(&data("B Prod", "x"), &owned_by("cluster-a", "shop/other"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::LabelConflict { owner: Some(o), .. } if o == "cluster-b"),
            "{err:?}"
        );
        store.delete("cluster-a", id_a).await.expect("own delete");
        assert_eq!(
            store
                .get(id_b)
                .await
                .expect("get")
                .expect("b stays")
                .data
                .access_token
                .expose(),
            "tb"
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn long_tokens_and_unicode_labels_round_trip() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let token: String = (0..4096)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let label = "Boutique Zürich – 東京 🛍️";
        let id = store
            .create(&data(label, &token), &owned_by("o", "u/1"))
            .await
            .expect("create");
        let got = store.get(id).await.expect("get").expect("row");
        assert_eq!(got.data.access_token.expose(), token);
        assert_eq!(got.data.label, label);
        let found = store
            .list(&ListQuery {
                search: Some("zürich".into()),
                ..ListQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(found.len(), 1);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_table_prefix_keeps_tables_apart_and_migrations_run_twice() {
    each_engine(|db| async move {
        let prefixed = db.store("unopim_").await;
        assert_eq!(
            prefixed.credentials_table(),
            "unopim_wk_bigcommerce_credentials"
        );
        prefixed
            .create(&data("Prefixed", "t"), &owned_by("o", "p/1"))
            .await
            .expect("create");
        let plain = db.store("").await;
        assert!(plain
            .list(&ListQuery::default())
            .await
            .expect("list")
            .is_empty());
        let count = db
            .strings(&format!(
                "SELECT {} FROM unopim_wk_bigcommerce_credentials",
                db.ident("label")
            ))
            .await;
        assert_eq!(count, ["Prefixed"]);
        // Connecting again runs the migrations again: a no-op that keeps the data.
        let again = db.store("unopim_").await;
        assert_eq!(
            again.list(&ListQuery::default()).await.expect("list").len(),
            1
        );
        let applied = db
            .strings("SELECT applied_at FROM unopim_bccreds_migrations")
            .await;
        assert_eq!(
            applied.len(),
            6,
            "each migration recorded once: {applied:?}"
        );
        assert!(matches!(
            Store::connect(bccreds::store::StoreOptions {
                url: db.url.clone(),
                table_prefix: "x; DROP TABLE y".into(),
                encryption: bccreds::store::Encryption::None,
            })
            .await,
            Err(StoreError::Prefix(_))
        ));
        for s in [prefixed, plain, again] {
            s.close().await;
        }
        db
    })
    .await;
}

#[tokio::test]
async fn a_failure_between_the_two_writes_leaves_the_previous_state() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let own = owned_by("o", "a/1");
        // Create.
        store.fail_next_write_between_tables();
        assert!(matches!(
            store.create(&data("Atomic", "t1"), &own).await,
            Err(StoreError::Injected)
        ));
        assert!(store
            .list(&ListQuery::default())
            .await
            .expect("list")
            .is_empty());
        assert!(store.owned("o").await.expect("owned").is_empty());
        // Update.
        let id = store
            .create(&data("Atomic", "t1"), &own)
            .await
            .expect("create");
        let before = row_dump(&db, &store).await;
        store.fail_next_write_between_tables();
        let mut changed = owned_by("o", "a/1");
        changed.spec_sha256 = "c".repeat(64);
        assert!(matches!(
            store.update(id, &data("Atomic 2", "t2"), &changed).await,
            Err(StoreError::Injected)
        ));
        assert_eq!(row_dump(&db, &store).await, before);
        assert_eq!(
            store.owned("o").await.expect("owned")[0].0.spec_sha256,
            "a".repeat(64)
        );
        // Delete.
        store.fail_next_write_between_tables();
        assert!(matches!(
            store.delete("o", id).await,
            Err(StoreError::Injected)
        ));
        assert_eq!(row_dump(&db, &store).await, before);
        assert_eq!(store.owned("o").await.expect("owned").len(), 1);
        store.close().await;
        db
    })
    .await;
}

/// Many creates at once (on SQLite they are written together, a few transactions in all):
/// a taken label and a failure between the two writes each fail alone and leave nothing
/// behind, and every other row arrives with its ownership record.
#[tokio::test]
async fn concurrent_creates_fail_alone_and_the_rest_are_written() {
    each_engine(|db| async move {
        let store = db.store("").await;
        insert_by_hand(&db, &store, "Taken").await;
        // The first create is refused before it writes, so the injected failure falls on a
        // create written together with others.
        store.fail_next_write_between_tables();
        let labels: Vec<String> = (0..200)
            .map(|i| match i {
                0 => "taken".to_string(),
                57 => "TAKEN".to_string(),
                _ => format!("Shop {i:03}"),
            })
            .collect();
        let results = futures_util::future::join_all(labels.iter().enumerate().map(|(i, l)| {
            let store = &store;
            async move {
                store
                    .create(
                        &data(l, &format!("t{i}")),
                        &owned_by("o", &format!("a/{i}")),
                    )
                    .await
            }
        }))
        .await;
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::LabelConflict { owner: None, .. })))
            .count();
        let injected = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Injected)))
            .count();
        let created: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(
            (conflicts, injected, created.len()),
            (2, 1, 197),
            "{results:?}"
        );
        let owned = store.owned("o").await.expect("owned");
        assert_eq!(owned.len(), 197);
        for (own, cred) in &owned {
            let cred = cred.as_ref().expect("each record has its row");
            assert_eq!(own.credential_id, cred.id);
            let i: usize = own.source_key.name.parse().expect("key");
            assert_eq!(cred.data.label, labels[i]);
            assert_eq!(cred.data.access_token.expose(), format!("t{i}"));
        }
        // The hand-made row and the 197 created; nothing of the three that failed.
        assert_eq!(
            store.list(&ListQuery::default()).await.expect("list").len(),
            198
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_in_laravel_format() {
    each_engine(|db| async move {
        let store = db.store("").await;
        store
            .create(&data("Encrypted", "plain-token-123"), &owned_by("o", "e/1"))
            .await
            .expect("create");
        let raw = db
            .strings(&format!(
                "SELECT {} FROM {}",
                db.ident("accessToken"),
                db.ident(store.credentials_table())
            ))
            .await;
        assert_eq!(raw.len(), 1);
        assert!(!raw[0].contains("plain-token-123"), "stored in plaintext");
        let encrypter = Encrypter::new(AppKey::parse(TEST_APP_KEY).expect("key"), Vec::new());
        assert_eq!(
            encrypter
                .decrypt(&raw[0])
                .expect("Laravel payload")
                .expose(),
            "plain-token-123"
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_deleted_row_shows_as_dangling_ownership_and_can_be_recreated() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let own = owned_by("o", "d/1");
        let id = store
            .create(&data("Drifted", "t"), &own)
            .await
            .expect("create");
        db.exec(&format!(
            "DELETE FROM {} WHERE {} = {id}",
            db.ident(store.credentials_table()),
            db.ident("id")
        ))
        .await;
        let owned = store.owned("o").await.expect("owned");
        assert_eq!(owned.len(), 1);
        assert!(owned[0].1.is_none(), "the credential row is gone");
        // Recreating replaces the stale record in the same transaction.
        let new_id = store
            .create(&data("Drifted", "t"), &own)
            .await
            .expect("recreate over the stale record");
        assert_ne!(new_id, id);
        let owned = store.owned("o").await.expect("owned");
        assert_eq!(owned.len(), 1, "one record for the manifest");
        assert_eq!(owned[0].0.credential_id, new_id);
        assert_eq!(
            owned[0].1.as_ref().map(|c| c.data.label.as_str()),
            Some("Drifted")
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn unopim_codes_are_the_enabled_rows_of_its_tables() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let codes = store.unopim_codes().await.expect("codes");
        assert_eq!((codes.locales, codes.currencies), (None, None));
        let (id, bool_type) = match db.engine {
            store_support::Engine::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BOOLEAN"),
            store_support::Engine::MySql => ("BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY", "TINYINT(1)"),
            store_support::Engine::Postgres => ("BIGSERIAL PRIMARY KEY", "BOOLEAN"),
        };
        let (t, f) = (db.boolean(true), db.boolean(false));
        db.exec(&format!("CREATE TABLE locales (id {id}, code VARCHAR(255) NOT NULL UNIQUE, status {bool_type} NOT NULL DEFAULT {f}, created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL)")).await;
        db.exec(&format!("CREATE TABLE currencies (id {id}, code VARCHAR(255) NOT NULL, symbol VARCHAR(255) NULL, {} INTEGER NULL, status {bool_type} NOT NULL DEFAULT {f}, created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL)", db.ident("decimal"))).await;
        db.exec(&format!("INSERT INTO locales (code, status) VALUES ('en_US', {t}), ('de_DE', {t}), ('fr_FR', {f}), ('az_Cyrl_AZ', {t})")).await;
        db.exec(&format!("INSERT INTO currencies (code, symbol, status) VALUES ('USD', '$', {t}), ('EUR', 'E', {f}), ('USD', '$', {t}), ('GBP', 'L', {t})")).await;
        let codes = store.unopim_codes().await.expect("codes");
        assert_eq!(codes.locales, Some(vec!["az_Cyrl_AZ".to_string(), "de_DE".into(), "en_US".into()]));
        assert_eq!(codes.currencies, Some(vec!["GBP".to_string(), "USD".into()]));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    let err = Store::connect(bccreds::store::StoreOptions {
        url: "postgres://bccreds:s3cretpw@127.0.0.1:1/nothing".into(),
        table_prefix: String::new(),
        encryption: bccreds::store::Encryption::None,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "cannot connect to the store at postgres://bccreds:****@127.0.0.1:1/nothing"
        ),
        "{err}"
    );
    assert!(!err.contains("s3cretpw"));
    let err = Store::connect(bccreds::store::StoreOptions {
        url: "redis://127.0.0.1".into(),
        table_prefix: String::new(),
        encryption: bccreds::store::Encryption::None,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("unsupported store URL"), "{err}");
}

#[tokio::test]
async fn sqlite_without_a_key_generates_a_private_key_file_and_reuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bccreds.db").display());
    let options = || bccreds::store::StoreOptions {
        url: url.clone(),
        table_prefix: String::new(),
        encryption: bccreds::store::Encryption::KeyFile,
    };
    let store = Store::connect(options()).await.expect("store");
    let id = store
        .create(&data("Keyed", "tok-keyfile"), &owned_by("o", "k/1"))
        .await
        .expect("create");
    store.close().await;
    let key_file = dir.path().join("bccreds.db.key");
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = Store::connect(options()).await.expect("store again");
    let got = again.get(id).await.expect("get").expect("row");
    assert_eq!(got.data.access_token.expose(), "tok-keyfile");
    again.close().await;
}

#[tokio::test]
async fn without_encryption_secrets_are_stored_as_given() {
    each_engine(|db| async move {
        let store = Store::connect(bccreds::store::StoreOptions {
            url: db.url.clone(),
            table_prefix: String::new(),
            encryption: bccreds::store::Encryption::None,
        })
        .await
        .expect("store");
        store
            .create(&data("Plain", "plain-token"), &owned_by("o", "p/1"))
            .await
            .expect("create");
        let raw = db
            .strings(&format!(
                "SELECT {} FROM {}",
                db.ident("accessToken"),
                db.ident(store.credentials_table())
            ))
            .await;
        assert_eq!(raw, ["plain-token"]);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn server_databases_need_unopims_app_key_before_any_connection() {
    for (url, engine) in [
        ("mysql://root@127.0.0.1:1/unopim", "MySQL"),
        ("postgres://postgres@127.0.0.1:1/unopim", "PostgreSQL"),
    ] {
        let err = Store::connect(bccreds::store::StoreOptions {
            url: url.into(),
            table_prefix: String::new(),
            encryption: bccreds::store::Encryption::KeyFile,
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("APP_KEY is required for a {engine} store")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn releasing_a_row_keeps_it_but_ends_its_management() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let mut own = owned_by("o", "r/1");
        own.deletion_policy = bccreds::model::DeletionPolicy::Orphan;
        let id = store
            .create(&data("Released", "t"), &own)
            .await
            .expect("create");
        assert_eq!(
            store.owned("o").await.expect("owned")[0].0.deletion_policy,
            bccreds::model::DeletionPolicy::Orphan
        );
        store.release("other", id).await.expect_err("not theirs");
        store.release("o", id).await.expect("release");
        assert!(store.owned("o").await.expect("owned").is_empty());
        assert!(store.get(id).await.expect("get").is_some(), "the row stays");
        assert!(matches!(
            store.delete("o", id).await,
            Err(StoreError::NotOwned { .. })
        ));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_sources_round_trip_and_a_store_from_before_them_still_reads() {
    each_engine(|db| async move {
        let store = db.store("").await;
        let mut own = owned_by("owner-a", "shop/prod");
        own.source_path = Some("/srv/manifests/prod.yaml".into());
        let id = store
            .create(&data("Production", "token-1"), &own)
            .await
            .expect("create");
        let mut other = owned_by("owner-a", "shop/legacy");
        other.source_path = None;
        store
            .create(&data("Legacy", "token-2"), &other)
            .await
            .expect("create");
        let sources = |rows: &bccreds::store::OwnedRows| {
            let mut s: Vec<(String, Option<String>)> = rows
                .rows
                .iter()
                .map(|(o, _)| (o.source_key.to_string(), o.source_path.clone()))
                .collect();
            s.sort();
            s
        };
        let rows = store.owned_rows("owner-a").await.expect("owned");
        assert_eq!(
            sources(&rows),
            [
                ("shop/legacy".to_string(), None),
                (
                    "shop/prod".to_string(),
                    Some("/srv/manifests/prod.yaml".to_string())
                ),
            ]
        );
        // As long as a path may be: 4096 bytes on Linux.
        let long = format!("/srv/{}/prod.yaml", "d".repeat(4000));
        store
            .refresh_ownership(
                "owner-a",
                id,
                OwnershipRefresh {
                    source_path: Some(&long),
                    ..Default::default()
                },
            )
            .await
            .expect("record");
        // Another owner's record is never touched.
        store
            .refresh_ownership(
                "owner-b",
                id,
                OwnershipRefresh {
                    source_path: Some("/elsewhere.yaml"),
                    ..Default::default()
                },
            )
            .await
            .expect("record");
        let rows = store.owned_rows("owner-a").await.expect("owned");
        assert_eq!(sources(&rows)[1].1.as_deref(), Some(long.as_str()));
        store.close().await;

        // A store that an older bccreds migrated (no source_path column) reads through a
        // read-only store, with every source unknown.
        db.exec(&format!(
            "ALTER TABLE {} DROP COLUMN source_path",
            db.ident("bccreds_ownership")
        ))
        .await;
        let old = Store::open_existing(StoreOptions {
            url: db.url.clone(),
            table_prefix: String::new(),
            encryption: Encryption::Key {
                key: AppKey::parse(TEST_APP_KEY).expect("key"),
                previous: Vec::new(),
            },
        })
        .await
        .expect("opens read-only");
        let rows = old.owned_rows("owner-a").await.expect("owned");
        assert!(rows.rows.iter().all(|(o, _)| o.source_path.is_none()));
        assert_eq!(rows.rows.len(), 2);
        old.close().await;
        db
    })
    .await;
}
