//! `bccreds controller` against the fake API server, the simulator and SQLite: finalizers,
//! status, Events, Secret rotation, deletion, unreachable BigCommerce and leader election.

mod common;
mod fake_apiserver;
mod kube_world;

use std::time::Duration;

use bccreds::controller::FINALIZER;
use kube::api::DeleteParams;
use kube_world::{eventually, ready_now, World};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_verifies_stores_and_reports_ready() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready=True", || ready_now(&w, "prod", "True", "Ready")).await;
    let obj = w
        .api
        .get("bigcommercecredentials", "shop", "prod")
        .expect("object");
    assert_eq!(obj["metadata"]["finalizers"], json!([FINALIZER]));
    assert_eq!(
        obj["status"]["observedGeneration"],
        obj["metadata"]["generation"]
    );
    assert_eq!(obj["status"]["credentialStatus"], "Active");
    assert_eq!(obj["status"]["store"]["name"], "Demo");
    assert!(obj["status"]["credentialId"].as_i64().is_some());
    assert_eq!(w.labels().await, ["Production"]);
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_not_stored_and_raises_a_warning_event() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("bc", "tok-wrong").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready=False InvalidToken", || {
        ready_now(&w, "prod", "False", "InvalidToken")
    })
    .await;
    assert!(w.labels().await.is_empty(), "nothing stored");
    eventually(10, "a Warning event", || async {
        let events: Vec<Value> = [w.api.list("events", Some("shop"))].concat();
        events
            .iter()
            .any(|e| (e["type"] == "Warning") && e["reason"] == "InvalidToken")
    })
    .await;
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_rotation_and_a_late_secret_are_reconciled_within_seconds() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    // The Secret arrives after the credential.
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "a pending status", || async {
        w.condition("prod", "Ready")
            .await
            .is_some_and(|(s, _)| s != "True")
    })
    .await;
    w.put_secret("bc", "tok-one").await;
    eventually(5, "the late Secret to be used", || {
        ready_now(&w, "prod", "True", "Ready")
    })
    .await;
    assert_eq!(w.token_of("Production").await.as_deref(), Some("tok-one"));

    w.put_secret("bc", "tok-two").await;
    eventually(5, "the rotated token in the store", || async {
        w.token_of("Production").await.as_deref() == Some("tok-two")
    })
    .await;

    w.sim.revoke_token("tok-doomed");
    w.put_secret("bc", "tok-doomed").await;
    eventually(
        5,
        "Verified=False after rotating to a revoked token",
        || async {
            w.condition("prod", "Verified")
                .await
                .is_some_and(|(s, r)| s == "False" && r == "InvalidToken")
        },
    )
    .await;
    assert_eq!(
        w.token_of("Production").await.as_deref(),
        Some("tok-two"),
        "the row is unchanged"
    );
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_removes_the_row_and_the_finalizer_unless_orphaned() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("gone", "Gone", "abc123", "bc", json!({}))
        .await;
    w.put_credential(
        "kept",
        "Kept",
        "abc123",
        "bc",
        json!({"bigcommerce.unopim.io/deletion-policy": "Orphan"}),
    )
    .await;
    eventually(10, "both stored", || async { w.labels().await.len() == 2 }).await;
    eventually(10, "finalizers", || async {
        ["gone", "kept"].iter().all(|n| {
            w.api
                .get("bigcommercecredentials", "shop", n)
                .is_some_and(|o| o["metadata"]["finalizers"] == json!([FINALIZER]))
        })
    })
    .await;
    for name in ["gone", "kept"] {
        w.creds()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    eventually(10, "the objects to go", || async {
        w.api
            .get("bigcommercecredentials", "shop", "gone")
            .is_none()
            && w.api
                .get("bigcommercecredentials", "shop", "kept")
                .is_none()
    })
    .await;
    assert_eq!(
        w.labels().await,
        ["Kept"],
        "the deleted credential's row is gone; the orphan stays"
    );
    assert!(
        w.store.owned("k8s").await.expect("owned").is_empty(),
        "the orphan is no longer managed"
    );
    // Deletions go through the planner: the same reasons, messages and counters as file mode.
    let rec = w
        .rec
        .lock()
        .expect("lock")
        .clone()
        .expect("a controller ran");
    // The orphan is released, not deleted: counted apart.
    assert_eq!(rec.metrics().results.get("deleted"), Some(&1));
    assert_eq!(rec.metrics().results.get("orphaned"), Some(&1));
    assert!(
        rec.statuses().is_empty(),
        "deleted objects keep no status: {:?}",
        rec.statuses()
    );
    let events = w.api.list("events", Some("shop"));
    for (reason, note) in [
        ("Deleted", "the manifest is gone: the row is deleted"),
        (
            "Orphaned",
            "the manifest is gone and its deletion policy is Orphan: the row is kept and no longer managed",
        ),
    ] {
        assert!(
            events
                .iter()
                .any(|e| e["reason"] == reason && e["note"] == note),
            "no {reason} event saying {note:?}: {events:?}"
        );
    }
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_the_store_refuses_keeps_the_finalizer_until_it_succeeds() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("held", "Held", "abc123", "bc", json!({}))
        .await;
    eventually(10, "stored", || async { w.labels().await.len() == 1 }).await;
    // The database refuses deletes of credential rows, as a locked or read-only one would.
    let pool = sqlx::SqlitePool::connect(&w.store_url).await.expect("pool");
    let table = w.store.credentials_table().to_string();
    // The table name is the store's own, not input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER refuse_delete BEFORE DELETE ON \"{table}\" BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )))
    .execute(&pool)
    .await
    .expect("trigger");
    w.creds()
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let obj = w
        .api
        .get("bigcommercecredentials", "shop", "held")
        .expect("the object waits for its row to go");
    assert_eq!(obj["metadata"]["finalizers"], json!([FINALIZER]));
    assert_eq!(w.labels().await, ["Held"]);
    sqlx::query("DROP TRIGGER refuse_delete")
        .execute(&pool)
        .await
        .expect("drop trigger");
    eventually(10, "the object and its row to go", || async {
        w.api
            .get("bigcommercecredentials", "shop", "held")
            .is_none()
            && w.labels().await.is_empty()
    })
    .await;
    pool.close().await;
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bigcommerce_is_unknown_retried_and_never_written() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("down", "tok-down").await;
    w.put_credential("down", "Down", "down99", "down", json!({}))
        .await;
    eventually(10, "Ready=Unknown Unreachable", || {
        ready_now(&w, "down", "Unknown", "Unreachable")
    })
    .await;
    let first = w.sim.requests().len();
    eventually(10, "a retry with backoff", || async {
        w.sim.requests().len() > first
    })
    .await;
    assert!(w.labels().await.is_empty(), "never a store write");
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_the_other_takes_over() {
    let w = World::new().await;
    let (stop_a, task_a) = w.controller("replica-a", true).await;
    eventually(10, "replica-a to lead", || async {
        w.api
            .get("leases", "default", "bccreds-leader")
            .is_some_and(|l| l["spec"]["holderIdentity"] == "replica-a")
    })
    .await;
    let (stop_b, task_b) = w.controller("replica-b", true).await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready=True", || ready_now(&w, "prod", "True", "Ready")).await;
    let holder = w
        .api
        .get("leases", "default", "bccreds-leader")
        .expect("lease")["spec"]["holderIdentity"]
        .clone();
    assert_eq!(holder, "replica-a", "the follower did not take the lease");
    let events = w.api.list("events", Some("shop"));
    assert!(
        events.iter().all(|e| !e.to_string().contains("replica-b")),
        "the follower wrote nothing: {events:?}"
    );

    let _ = stop_a.send(());
    task_a.await.expect("join").expect("clean stop");
    let started = tokio::time::Instant::now();
    eventually(
        4,
        "replica-b to take over within the lease duration",
        || async {
            w.api
                .get("leases", "default", "bccreds-leader")
                .is_some_and(|l| l["spec"]["holderIdentity"] == "replica-b")
        },
    )
    .await;
    assert!(started.elapsed() <= Duration::from_secs(4));
    // The new leader reconciles changes.
    w.put_credential("second", "Second", "abc123", "bc", json!({}))
        .await;
    eventually(
        10,
        "the new leader to store the second credential",
        || async { w.labels().await.len() == 2 },
    )
    .await;
    let _ = stop_b.send(());
    task_b.await.expect("join").expect("clean stop");
}
