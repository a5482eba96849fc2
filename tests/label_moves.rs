//! Labels that move between credentials in one pass: a chain of label changes, a rename of
//! `metadata.name` alone (which keeps the row and its id), and a swap all land in one pass on
//! every engine, whatever order the steps run in.

mod common;
mod store_support;

use bccreds::reconcile::{PassReport, ReconcilerConfig};
use common::{Manifest, Source, World};
use store_support::{each_engine, TestDb};

/// A world whose tables carry `prefix`, beside others on the same database.
async fn world(db: &TestDb, prefix: &str, concurrency: usize) -> World {
    World::builder(&common::one_store("Demo", &["tok-a", "tok-b"]))
        .store(db.store(prefix).await)
        .config(|c: &mut ReconcilerConfig| c.concurrency = concurrency)
        .secret("a", "tok-a")
        .secret("b", "tok-b")
        .build()
        .await
}

fn credential(name: &str, label: &str, token: &str) -> Manifest {
    Manifest::new(name)
        .namespace("shop")
        .label(label)
        .token(Source::file(token))
}

fn counts(r: &PassReport) -> [usize; 4] {
    let s = r.summary;
    [s.created, s.updated, s.deleted, s.failed]
}

/// The store's labels, by the manifest name that manages each.
async fn labels(w: &World) -> Vec<String> {
    let mut labels = w.labels().await;
    labels.sort();
    labels
}

#[tokio::test]
async fn a_chain_of_label_changes_lands_in_one_pass() {
    each_engine(|db| async move {
        // One at a time, a (which must wait for b) runs first; eight at a time, they race.
        for concurrency in [1, 8] {
            let w = world(&db, &format!("c{concurrency}_"), concurrency).await;
            w.put(&credential("a", "Alpha", "a"));
            w.put(&credential("b", "Beta", "b"));
            assert_eq!(counts(&w.pass().await), [2, 0, 0, 0]);
            w.put(&credential("a", "Beta", "a"));
            w.put(&credential("b", "Gamma", "b"));
            let moved = w.pass().await;
            assert_eq!(counts(&moved), [0, 2, 0, 0], "{moved:?}");
            assert_eq!(labels(&w).await, ["Beta", "Gamma"]);
        }
        db
    })
    .await;
}

#[tokio::test]
async fn renaming_metadata_name_alone_moves_the_credential_in_one_pass() {
    each_engine(|db| async move {
        let w = world(&db, "", 1).await;
        w.put(&credential("a", "Alpha", "a"));
        assert_eq!(counts(&w.pass().await), [1, 0, 0, 0]);
        let id = |rows: Vec<bccreds::store::ListedCredential>| {
            rows.iter().map(|r| r.id).collect::<Vec<_>>()
        };
        let before = id(w.store.list(&Default::default()).await.expect("list"));
        w.remove("a.yaml");
        w.put(&credential("a2", "Alpha", "a"));
        let renamed = w.pass().await;
        // The new name takes the row over: the connector's references to its id still hold.
        assert_eq!(counts(&renamed), [0, 1, 0, 0], "{renamed:?}");
        assert_eq!(labels(&w).await, ["Alpha"]);
        assert_eq!(
            id(w.store.list(&Default::default()).await.expect("list")),
            before
        );
        let names: Vec<String> = w.rec.statuses().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a2"]);
        let again = w.pass().await;
        assert_eq!(again.summary.unchanged, 1, "{again:?}");
        db
    })
    .await;
}

#[tokio::test]
async fn a_swap_of_two_labels_lands_in_one_pass() {
    each_engine(|db| async move {
        let w = world(&db, "", 8).await;
        w.put(&credential("a", "Alpha", "a"));
        w.put(&credential("b", "Beta", "b"));
        assert_eq!(counts(&w.pass().await), [2, 0, 0, 0]);
        w.put(&credential("a", "Beta", "a"));
        w.put(&credential("b", "Alpha", "b"));
        let swapped = w.pass().await;
        assert_eq!(counts(&swapped), [0, 2, 0, 0], "{swapped:?}");
        assert_eq!(w.token_of("Beta").await.as_deref(), Some("tok-a"));
        assert_eq!(w.token_of("Alpha").await.as_deref(), Some("tok-b"));
        let again = w.pass().await;
        assert_eq!(again.summary.unchanged, 2, "{again:?}");
        db
    })
    .await;
}
