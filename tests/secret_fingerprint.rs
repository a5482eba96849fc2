//! The ownership table's `secret_sha256` is a keyed fingerprint (HMAC under a key derived from
//! the APP_KEY), not a plain SHA-256 that a database reader could test token guesses against.
//! Values stored by an older bccreds (plain digests) or under a previous APP_KEY are recognised as
//! the same secrets and rewritten without calling BigCommerce.

mod store_support;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use bccreds::crypto::AppKey;
use bccreds::reconcile::{Entry, OnRevoked, PassReport, Reconciler, ReconcilerConfig, Scan};
use bccreds::simulator::{Fixture, Simulator};
use bccreds::source::FileSource;
use bccreds::store::{Encryption, Store, StoreOptions};
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions};
use store_support::{each_engine, TestDb, TEST_APP_KEY};

const NEW_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production
tokens:
  - token: tok-prod-1
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
  - token: tok-prod-2
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
"#;

const MANIFEST: &str = "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: prod\nspec:\n  label: Production\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    file: prod\n";

fn scan(dir: &std::path::Path) -> Scan {
    FileSource::new(vec![dir.join("m")], ValidateOptions::default())
        .with_secrets_dir(Some(dir.join("secrets")))
        .scan()
}

fn digest(scan: &Scan) -> String {
    match &scan.entries[..] {
        [Entry::Desired(d)] => d.secret_digest.clone(),
        other => panic!("one valid credential expected, got {}", other.len()),
    }
}

fn reconciler(store: Arc<Store>, sim: &Simulator) -> Reconciler<BigCommerceClient> {
    let client = BigCommerceClient::new(&ClientOptions {
        base_url: sim.base_url(),
        ..ClientOptions::default()
    })
    .expect("client");
    Reconciler::new(
        store,
        Arc::new(client),
        ReconcilerConfig {
            owner: "test".into(),
            concurrency: 2,
            reverify_interval: Duration::from_secs(3600),
            on_revoked: OnRevoked::Keep,
            allow_empty: false,
            prune: true,
        },
    )
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

/// The simulator, and a tree with the one manifest `prod` whose token is a `file:` secret.
async fn world() -> (Simulator, tempfile::TempDir) {
    let sim = Simulator::start(
        Fixture::from_yaml(FIXTURE, "t").expect("fixture"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("tmp");
    fs::create_dir_all(dir.path().join("m")).expect("mkdir");
    fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    fs::write(dir.path().join("m/prod.yaml"), MANIFEST).expect("w");
    fs::write(dir.path().join("secrets/prod"), "tok-prod-1").expect("w");
    (sim, dir)
}

fn counts(r: &PassReport) -> [usize; 3] {
    [r.summary.created, r.summary.updated, r.summary.unchanged]
}

#[tokio::test]
async fn the_stored_fingerprint_is_keyed_and_old_forms_are_rewritten_without_requests() {
    each_engine(|db| async move {
        let (sim, dir) = world().await;

        let store = Arc::new(db.store("").await);
        let rec = reconciler(store.clone(), &sim);
        let first = scan(dir.path());
        let plain = digest(&first);
        let pass = rec.apply(&first).await.expect("pass");
        assert_eq!(counts(&pass), [1, 0, 0], "{pass:?}");
        let keyed = stored_fingerprint(&db).await;
        assert_eq!(keyed.len(), 64);
        assert_ne!(keyed, plain, "the plain digest must not be stored");
        assert_eq!(keyed, store.fingerprints().current(&plain));

        // A row as an older bccreds left it: the plain digest. Same secret: no verification, and
        // the column is rewritten under the key.
        let ownership = db.ident("bccreds_ownership");
        db.exec(&format!("UPDATE {ownership} SET secret_sha256 = '{plain}'"))
            .await;
        sim.clear_requests();
        let pass = rec.apply(&scan(dir.path())).await.expect("pass");
        assert_eq!(counts(&pass), [0, 0, 1], "{pass:?}");
        assert!(sim.requests().is_empty(), "{:?}", sim.requests());
        assert_eq!(stored_fingerprint(&db).await, keyed);
        store.close().await;

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
        let rec = reconciler(rotated.clone(), &sim);
        let pass = rec.apply(&scan(dir.path())).await.expect("pass");
        assert_eq!(counts(&pass), [0, 0, 1], "{pass:?}");
        assert!(sim.requests().is_empty(), "{:?}", sim.requests());
        let under_new = stored_fingerprint(&db).await;
        assert_ne!(under_new, keyed);
        assert_eq!(under_new, rotated.fingerprints().current(&plain));

        // A rotated token is still a change: verified and written.
        fs::write(dir.path().join("secrets/prod"), "tok-prod-2").expect("w");
        let pass = rec.apply(&scan(dir.path())).await.expect("pass");
        assert_eq!(counts(&pass), [0, 1, 0], "{pass:?}");
        assert!(!sim.requests().is_empty(), "the new token was verified");
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
    const KEEPING: &str = "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: kept\nspec:\n  label: Kept\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  clientId: cid\n  clientSecret:\n    file: secret\n  accessToken:\n    file: kept\n";
    each_engine(|db| async move {
        let (sim, dir) = world().await;
        fs::write(dir.path().join("m/kept.yaml"), KEEPING).expect("w");
        fs::write(dir.path().join("secrets/kept"), "tok-prod-2").expect("w");
        fs::write(dir.path().join("secrets/secret"), "client-secret").expect("w");
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

        let store = Arc::new(db.store("").await);
        let rec = reconciler(store.clone(), &sim);
        assert_eq!(
            counts(&rec.apply(&scan(dir.path())).await.expect("pass")),
            [2, 0, 0]
        );
        // The second manifest now keeps its stored token and client secret.
        let kept = KEEPING.replace(
            "  clientSecret:\n    file: secret\n  accessToken:\n    file: kept\n",
            "",
        );
        fs::write(dir.path().join("m/kept.yaml"), kept).expect("w");
        assert_eq!(
            counts(&rec.apply(&scan(dir.path())).await.expect("pass")),
            [0, 1, 1]
        );
        store.close().await;

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
        let rec = reconciler(new_only.clone(), &sim);
        sim.clear_requests();
        let pass = rec.apply(&scan(dir.path())).await.expect("pass");
        assert_eq!(counts(&pass), [0, 0, 2], "{pass:?}");
        assert!(sim.requests().is_empty(), "{:?}", sim.requests());
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
