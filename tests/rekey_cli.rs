//! `bccreds rekey` after an APP_KEY rotation: this owner's rows decrypt with the new key alone,
//! every other row stays byte for byte, and no secret is printed.

mod common;
mod store_support;

use std::collections::BTreeMap;

use bccreds::crypto::{AppKey, Encrypter};
use bccreds::secret::SecretValue;
use bccreds::store::{CredentialData, Encryption, Ownership, SecretUpdate, Store, StoreOptions};
use store_support::{each_engine, TEST_APP_KEY};

const NEW_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn data(label: &str) -> CredentialData {
    CredentialData {
        label: label.to_string(),
        api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
        client_id: None,
        client_secret: SecretUpdate::Set(SecretValue::new(format!("secret-REKEY-{label}"))),
        access_token: SecretUpdate::Set(SecretValue::new(format!("token-REKEY-{label}"))),
        active: true,
        default_locale: None,
        default_currency: None,
        locale_mapping: BTreeMap::new(),
        currency_mapping: BTreeMap::new(),
        store_info: None,
    }
}

fn owned_by(owner: &str, key: &str) -> Ownership {
    Ownership {
        credential_id: 0,
        owner_id: owner.into(),
        source_key: bccreds::model::SourceKey::stored(key),
        spec_sha256: "a".repeat(64),
        secret_sha256: "b".repeat(64),
        last_verified_at: None,
        last_result: None,
        last_message: None,
        deletion_policy: bccreds::model::DeletionPolicy::Delete,
        source_path: None,
    }
}

async fn store_with(url: &str, key: &str, previous: &[&str]) -> Store {
    Store::connect(StoreOptions {
        url: url.to_string(),
        table_prefix: String::new(),
        encryption: Encryption::Key {
            key: AppKey::parse(key).expect("key"),
            previous: previous
                .iter()
                .map(|k| AppKey::parse(k).expect("key"))
                .collect(),
        },
    })
    .await
    .expect("store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_moves_only_this_owners_rows_to_the_new_key() {
    each_engine(|db| async move {
        let old = store_with(&db.url, TEST_APP_KEY, &[]).await;
        old.create(&data("Mine one"), &owned_by("bccreds", "shop/one")).await.expect("create");
        old.create(&data("Mine two"), &owned_by("bccreds", "shop/two")).await.expect("create");
        old.create(&data("Theirs"), &owned_by("other", "shop/theirs")).await.expect("create");
        old.close().await;
        // A row UnoPim's page made, sealed with the old key, owned by nobody.
        let q = |c: &str| db.ident(c);
        let hand = Encrypter::new(AppKey::parse(TEST_APP_KEY).expect("key"), Vec::new())
            .encrypt(&SecretValue::new("token-REKEY-hand"));
        db.exec(&format!(
            "INSERT INTO {} ({}, {}, {}, {}) VALUES ('Hand made', 'https://api.bigcommerce.com/stores/abc123/', '{hand}', {})",
            q("wk_bigcommerce_credentials"),
            q("label"),
            q("apiUrl"),
            q("accessToken"),
            q("status"),
            db.boolean(true)
        ))
        .await;
        let raw = |label: &'static str| {
            format!(
                "SELECT {} FROM {} WHERE {} = '{label}'",
                q("accessToken"),
                q("wk_bigcommerce_credentials"),
                q("label")
            )
        };
        let (theirs_before, hand_before) = (db.strings(&raw("Theirs")).await, db.strings(&raw("Hand made")).await);

        let url = db.url.clone();
        let run = move || {
            common::bccreds()
                .args(["rekey", "--store", &url])
                .env("APP_KEY", NEW_KEY)
                .env("APP_PREVIOUS_KEYS", TEST_APP_KEY)
                .output()
                .expect("runs")
        };
        let out = tokio::task::spawn_blocking(run.clone()).await.expect("join");
        let text = common::all_output(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("2 re-encrypted with the current key, 0 already current, 0 unreadable"), "{text}");
        assert!(!text.contains("REKEY-"), "a secret was printed: {text}");
        let again = tokio::task::spawn_blocking(run).await.expect("join");
        assert!(common::all_output(&again).contains("0 re-encrypted with the current key, 2 already current"));

        // The new key alone reads this owner's rows; nothing else changed.
        let new = store_with(&db.url, NEW_KEY, &[]).await;
        let mine = new.owned("bccreds").await.expect("decrypts with the new key alone");
        assert_eq!(mine.len(), 2);
        for (_, cred) in &mine {
            let cred = cred.as_ref().expect("row");
            assert_eq!(
                cred.data.access_token.expose(),
                format!("token-REKEY-{}", cred.data.label)
            );
            assert_eq!(
                cred.data.client_secret.as_ref().map(|s| s.expose().to_string()),
                Some(format!("secret-REKEY-{}", cred.data.label))
            );
        }
        assert_eq!(db.strings(&raw("Theirs")).await, theirs_before, "another owner's row changed");
        assert_eq!(db.strings(&raw("Hand made")).await, hand_before, "an unowned row changed");
        new.close().await;
        db
    })
    .await;
}

/// `rekey` reads each row under a lock: an update that rotates the token while rekey runs is
/// never written over with the old token. The update is held in a slow trigger, so that rekey
/// reads the row while the update has not committed yet (the window of a lost update).
/// SQLite has no such window: a write transaction holds the whole database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rekey_never_undoes_an_update_that_commits_while_it_runs() {
    use store_support::Engine;
    each_engine(|db| async move {
        if db.engine == Engine::Sqlite {
            return db;
        }
        let old = store_with(&db.url, TEST_APP_KEY, &[]).await;
        let own = owned_by("bccreds", "shop/one");
        let id = old.create(&data("Mine"), &own).await.expect("create");
        old.close().await;
        // Updates that set clientId 'slow' sleep 2 s after taking the row's lock.
        match db.engine {
            Engine::MySql => {
                db.exec("CREATE TRIGGER slow_update BEFORE UPDATE ON wk_bigcommerce_credentials FOR EACH ROW BEGIN IF NEW.clientId = 'slow' THEN SET @slept = SLEEP(2); END IF; END")
                    .await
            }
            _ => {
                db.exec("CREATE FUNCTION slow_update() RETURNS trigger AS $$ BEGIN IF NEW.\"clientId\" = 'slow' THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$ LANGUAGE plpgsql; CREATE TRIGGER slow_update BEFORE UPDATE ON wk_bigcommerce_credentials FOR EACH ROW EXECUTE FUNCTION slow_update()")
                    .await
            }
        }
        let sleeping = match db.engine {
            Engine::MySql => "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep' AND DB = DATABASE()",
            _ => "SELECT CAST(COUNT(*) AS TEXT) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()",
        };

        // An apply under the rotated key rotates the token; rekey runs while it sleeps.
        let applier = store_with(&db.url, NEW_KEY, &[TEST_APP_KEY]).await;
        let rekeyer = store_with(&db.url, NEW_KEY, &[TEST_APP_KEY]).await;
        let mut rotated = data("Mine");
        rotated.client_id = Some("slow".into());
        rotated.access_token = SecretUpdate::Set(SecretValue::new("token-REKEY-rotated"));
        let update = tokio::spawn(async move {
            let done = applier.update(id, &rotated, &own).await;
            applier.close().await;
            done
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while db.strings(sleeping).await != ["1"] {
            assert!(std::time::Instant::now() < deadline, "the update never reached its trigger");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let report = rekeyer.rekey("bccreds").await.expect("rekey");
        update.await.expect("join").expect("the update commits");
        assert!(report.unreadable.is_empty(), "{report:?}");

        let check = store_with(&db.url, NEW_KEY, &[]).await;
        let rows = check.owned("bccreds").await.expect("readable with the new key");
        let token = rows[0].1.as_ref().expect("row").data.access_token.expose().to_string();
        assert_eq!(token, "token-REKEY-rotated", "[{:?}] rekey undid the update", db.engine);
        check.close().await;
        rekeyer.close().await;
        db
    })
    .await;
}
