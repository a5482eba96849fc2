//! Labels compare differently per engine: MariaDB's collation ignores accents, so "Zürich Store"
//! and "Zurich Store" are one label there and two on SQLite and PostgreSQL. Where the database
//! refuses the second, the message shows both labels and says they differ only in accents or
//! case, instead of claiming the label itself is taken.

mod store_support;

use store_support::{credential, each_engine, ownership, Engine};

#[tokio::test]
async fn a_label_the_database_folds_into_another_says_so() {
    each_engine(|db| async move {
        let e = db.engine;
        let store = db.store("").await;
        store
            .create(&credential("Zürich Store", "tok"), &ownership("gitops", "shop/zh"))
            .await
            .expect("create");
        let second = store
            .create(&credential("Zurich Store", "tok"), &ownership("gitops", "shop/zu"))
            .await;
        let listed = store.list(&Default::default()).await.expect("list");
        match e {
            Engine::MySql => {
                let message = second.expect_err("MariaDB folds accents").to_string();
                assert_eq!(
                    message,
                    "label `Zurich Store` clashes with `Zürich Store`, which is used by a credential managed by owner `gitops`: the two differ only in accents or case (or trailing spaces), which this database ignores when it compares labels"
                );
                assert_eq!(listed.len(), 1, "nothing was written: {listed:?}");
            }
            _ => {
                second.expect("a different label here");
                assert_eq!(listed.len(), 2, "[{e:?}] {listed:?}");
            }
        }
        // The same label is still named plainly.
        let same = store
            .create(&credential("Zürich Store", "tok"), &ownership("gitops", "shop/again"))
            .await
            .expect_err("taken");
        assert_eq!(
            same.to_string(),
            "label `Zürich Store` is already used by a credential managed by owner `gitops`",
            "[{e:?}]"
        );
        store.close().await;
        db
    })
    .await;
}
