//! The ownership table's `secret_sha256` is a keyed fingerprint (HMAC under a key derived from
//! the APP_KEY), not a plain SHA-256 that a database reader could test token guesses against.
//! Values stored by an older bccreds (plain digests) or under a previous APP_KEY are recognised as
//! the same secrets and rewritten without calling BigCommerce.

mod common;
mod store_support;

use std::sync::Arc;

use bccreds::crypto::AppKey;
use bccreds::reconcile::{Entry, PassReport, Scan};
use bccreds::store::{Encryption, Store, StoreOptions};
use common::{Manifest, Source, World};
use store_support::{each_engine, TestDb, TEST_APP_KEY};

const NEW_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn digest(scan: &Scan) -> String {
    match &scan.entries[..] {
        [Entry::Desired(d)] => d.secret_digest.clone(),
        other => panic!("one valid credential expected, got {}", other.len()),
    }
}

async fn stored_fingerprint(db: &TestDb) -> String {
    let sql = format!(
        "SELECT secret_sha256 FROM {}",
        db.ident("bccreds_ownership")
    );
    let rows = db.strings(&sql).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].trim_end().to_string()
}

/// A world on `db` with the one manifest `prod`, whose token is the secret file `prod`.
async fn world(db: &TestDb) -> World {
    let w = World::builder(&common::one_store(
        "Production",
        &["tok-prod-1", "tok-prod-2"],
    ))
    .store(db.store("").await)
    .config(|c| c.concurrency = 2)
    .secret("prod", "tok-prod-1")
    .build()
    .await;
    Manifest::new("prod")
        .label("Production")
        .token(Source::file("prod"))
        .write(w.manifests().join("prod.yaml"));
    w
}

fn counts(r: &PassReport) -> [usize; 3] {
    [r.summary.created, r.summary.updated, r.summary.unchanged]
}

#[tokio::test]
async fn the_stored_fingerprint_is_keyed_and_old_forms_are_rewritten_without_requests() {
    each_engine(|db| async move {
        let w = world(&db).await;
        let first = w.scan();
        let plain = digest(&first);
        let pass = w.rec.apply(&first).await.expect("pass");
        assert_eq!(counts(&pass), [1, 0, 0], "{pass:?}");
        let keyed = stored_fingerprint(&db).await;
        assert_eq!(keyed.len(), 64);
        assert_ne!(keyed, plain, "the plain digest must not be stored");
        assert_eq!(keyed, w.store.fingerprints().current(&plain));

        // A row as an older bccreds left it: the plain digest. Same secret: no verification, and
        // the column is rewritten under the key.
        let ownership = db.ident("bccreds_ownership");
        db.exec(&format!("UPDATE {ownership} SET secret_sha256 = '{plain}'"))
            .await;
        w.sim.clear_requests();
        let pass = w.pass().await;
        assert_eq!(counts(&pass), [0, 0, 1], "{pass:?}");
        assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
        assert_eq!(stored_fingerprint(&db).await, keyed);
        w.store.close().await;

        // APP_KEY rotated, the old key kept in APP_PREVIOUS_KEYS: the same, under the new key.
        let rotated = Arc::new(
            Store::connect(StoreOptions {
                url: db.url.clone(),
                table_prefix: String::new(),
                encryption: Encryption::Key {
                    key: AppKey::parse(NEW_KEY).expect("key"),
                    previous: vec![AppKey::parse(TEST_APP_KEY).expect("key")],
                },
            })
            .await
            .expect("store"),
        );
        let rec = w.reconciler(rotated.clone(), w.client.clone());
        let pass = rec.apply(&w.scan()).await.expect("pass");
        assert_eq!(counts(&pass), [0, 0, 1], "{pass:?}");
        assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
        let under_new = stored_fingerprint(&db).await;
        assert_ne!(under_new, keyed);
        assert_eq!(under_new, rotated.fingerprints().current(&plain));

        // A rotated token is still a change: verified and written.
        w.secret("prod", "tok-prod-2");
        let pass = rec.apply(&w.scan()).await.expect("pass");
        assert_eq!(counts(&pass), [0, 1, 0], "{pass:?}");
        assert!(!w.sim.requests().is_empty(), "the new token was verified");
        assert_ne!(stored_fingerprint(&db).await, under_new);
        rotated.close().await;
        db
    })
    .await;
}

/// After `rekey` the old key can be dropped: the stored secret fingerprints were re-keyed with
/// the rows (whichever secrets a manifest kept), so nothing looks changed and nothing is asked
/// of BigCommerce; without the old key and without a rekey, nothing is written at all.
#[tokio::test]
async fn after_rekey_the_old_key_can_go_without_any_credential_looking_changed() {
    each_engine(|db| async move {
        let w = world(&db).await;
        let kept = Manifest::new("kept").label("Kept").client_id("cid");
        let keeping = kept
            .clone()
            .client_secret(Source::file("secret"))
            .token(Source::file("kept"));
        w.put(&keeping);
        w.secret("kept", "tok-prod-2");
        w.secret("secret", "client-secret");
        let keyed = |key: &str, previous: &[&str]| Encryption::Key {
            key: AppKey::parse(key).expect("key"),
            previous: previous
                .iter()
                .map(|k| AppKey::parse(k).expect("key"))
                .collect(),
        };
        let open = |encryption| {
            Store::connect(StoreOptions {
                url: db.url.clone(),
                table_prefix: String::new(),
                encryption,
            })
        };

        assert_eq!(counts(&w.pass().await), [2, 0, 0]);
        // The second manifest now keeps its stored token and client secret.
        w.put(&kept);
        assert_eq!(counts(&w.pass().await), [0, 1, 1]);
        w.store.close().await;

        // The new key alone is refused before the rekey: the secrets are sealed with the old one.
        let refused = open(keyed(NEW_KEY, &[]))
            .await
            .expect_err("the old key is still needed");
        assert!(
            matches!(refused, bccreds::store::StoreError::KeyMismatch { .. }),
            "{refused}"
        );

        let rotated = open(keyed(NEW_KEY, &[TEST_APP_KEY]))
            .await
            .expect("rotated");
        let report = rotated.rekey("test").await.expect("rekey");
        assert_eq!(
            (report.changed, report.fingerprints, report.unreadable.len()),
            (2, 2, 0),
            "{report:?}"
        );
        rotated.close().await;

        let new_only = Arc::new(open(keyed(NEW_KEY, &[])).await.expect("the new key alone"));
        let rec = w.reconciler(new_only.clone(), w.client.clone());
        w.sim.clear_requests();
        let pass = rec.apply(&w.scan()).await.expect("pass");
        assert_eq!(counts(&pass), [0, 0, 2], "{pass:?}");
        assert!(w.sim.requests().is_empty(), "{:?}", w.sim.requests());
        new_only.close().await;

        // And the old key alone is now the wrong one.
        let old_only = open(keyed(TEST_APP_KEY, &[])).await.expect_err("moved on");
        assert!(
            old_only.to_string().contains("nothing was written"),
            "{old_only}"
        );
        db
    })
    .await;
}
