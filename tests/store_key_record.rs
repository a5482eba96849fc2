//! Two processes starting at once on a fresh store with different APP_KEYs (a rollout with a
//! typo in one replica's values): exactly one records its key, and the other refuses to run,
//! instead of both writing rows that only one key reads. Repeated on fresh tables, on every
//! engine.

mod store_support;

use bccreds::crypto::AppKey;
use bccreds::store::{Encryption, Store, StoreError, StoreOptions};
use store_support::{credential, each_engine, ownership, TEST_APP_KEY};

const OTHER_KEY: &str = "base64:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

async fn connect(url: String, prefix: String, key: &'static str) -> Result<Store, StoreError> {
    Store::connect(StoreOptions {
        url,
        table_prefix: prefix,
        encryption: Encryption::Key {
            key: AppKey::parse(key).expect("key"),
            previous: Vec::new(),
        },
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_starts_with_different_keys_leave_one_key_recorded() {
    each_engine(|db| async move {
        let e = db.engine;
        for round in 0..5 {
            let prefix = format!("r{round}_");
            let a = tokio::spawn(connect(db.url.clone(), prefix.clone(), TEST_APP_KEY));
            let b = tokio::spawn(connect(db.url.clone(), prefix.clone(), OTHER_KEY));
            let (a, b) = (a.await.expect("join"), b.await.expect("join"));
            let (winner, loser_key) = match (a, b) {
                (Ok(store), Err(StoreError::KeyMismatch { .. })) => (store, OTHER_KEY),
                (Err(StoreError::KeyMismatch { .. }), Ok(store)) => (store, TEST_APP_KEY),
                (a, b) => panic!(
                    "[{e:?}] round {round}: exactly one start must win, got {:?} and {:?}",
                    a.map(drop),
                    b.map(drop)
                ),
            };
            winner
                .create(&credential("Shop", "tok"), &ownership("o", "shop/a"))
                .await
                .expect("the winner writes");
            winner.close().await;
            // The loser stays refused, now that a row is sealed with the winner's key.
            let again = connect(db.url.clone(), prefix, loser_key).await;
            assert!(
                matches!(again, Err(StoreError::KeyMismatch { .. })),
                "[{e:?}] round {round}"
            );
        }
        db
    })
    .await;
}
