//! The controller against an API server that behaves as real ones do: every status write is a
//! watch event, Events are series, and the server refuses connections or answers 403. What a
//! real server showed (hot loops, lost status, endless Events, a pod ready without an API) must
//! not happen here.

mod common;
mod fake_apiserver;
mod kube_world;

use std::time::Duration;

use bccreds::controller::SecretAccess;
use bccreds::store::ListQuery;
use fake_apiserver::Fault;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube_world::{eventually, free_addr, ready_now, Options, World};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on the controller's endpoints: (status code, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if conn.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Six healthy credentials `c1`..`c6` (labels "Shop N", stores shop01..shop06), all Ready.
async fn six_healthy(w: &World) {
    for i in 1..=6 {
        let secret = format!("s{i}");
        w.put_secret(&secret, &format!("tok-shop{i:02}")).await;
        w.put_credential(
            &format!("c{i}"),
            &format!("Shop {i}"),
            &format!("shop{i:02}"),
            &secret,
            json!({}),
        )
        .await;
    }
    for i in 1..=6 {
        let name = format!("c{i}");
        eventually(20, &format!("{name} Ready"), || {
            ready_now(w, &name, "True", "Ready")
        })
        .await;
    }
}

fn with_backoff() -> Options {
    Options {
        max_backoff: Duration::from_secs(300),
        ..Options::default()
    }
}

/// Requests the controller sent to the API server for the status of `name`.
fn status_writes(w: &World, name: &str) -> usize {
    w.api
        .requests_matching(&format!("/bigcommercecredentials/{name}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_credentials_cost_one_verification_per_backoff_step_and_healthy_ones_none() {
    let w = World::new().await;
    let (stop, task) = w.controller_with("first", with_backoff()).await;
    six_healthy(&w).await;
    w.put_secret("s7", "tok-shop07").await;
    w.put_credential("revoked", "Shop 7", "shop07", "s7", json!({}))
        .await;
    eventually(20, "revoked Ready before revocation", || {
        ready_now(&w, "revoked", "True", "Ready")
    })
    .await;
    assert_eq!(
        w.status("revoked")["capabilities"],
        json!(["products:read"])
    );
    // Verified by BigCommerce, refused by the store: "Shop 1" belongs to c1.
    w.put_secret("s8", "tok-shop08").await;
    w.put_credential("conflict", "Shop 1", "shop08", "s8", json!({}))
        .await;
    eventually(20, "conflict Ready=False LabelConflict", || {
        ready_now(&w, "conflict", "False", "LabelConflict")
    })
    .await;
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");

    // Six hours later the token is revoked; a new controller process takes over.
    w.sim.revoke_token("tok-shop07");
    let rows = w.store.list(&ListQuery::default()).await.expect("list");
    let id = rows.iter().find(|r| r.label == "Shop 7").expect("row").id;
    let old = chrono::Utc::now() - chrono::Duration::hours(7);
    w.store
        .record_verification("k8s", id, "Verified", "verified", old)
        .await
        .expect("age the verification");
    w.sim.clear_requests();
    let writes_before = status_writes(&w, "revoked");
    let events_before = w.events_about("conflict").len();
    let (stop, task) = w.controller_with("second", with_backoff()).await;
    tokio::time::sleep(Duration::from_secs(60)).await;

    let revoked = w.verifications_of("shop07");
    let conflict = w.verifications_of("shop08");
    eprintln!("in 60 s: revoked {revoked}, conflict {conflict} verifications");
    assert!(
        (1..=8).contains(&revoked),
        "revoked: {revoked} verifications in 60 s"
    );
    assert!(
        (1..=8).contains(&conflict),
        "conflict: {conflict} verifications in 60 s"
    );
    for i in 1..=6 {
        assert_eq!(
            w.verifications_of(&format!("shop{i:02}")),
            0,
            "healthy c{i}"
        );
    }
    assert!(ready_now(&w, "revoked", "False", "InvalidToken").await);
    let status = w.status("revoked");
    assert!(
        status["capabilities"].as_array().is_none_or(Vec::is_empty),
        "a revoked token keeps no capabilities: {status}"
    );
    let writes = status_writes(&w, "revoked") - writes_before;
    assert!(
        writes <= revoked,
        "{writes} status writes for {revoked} verifications"
    );

    // One Warning per transition; the conflict's was sent by the first process already.
    let warnings: Vec<Value> = w
        .events_about("revoked")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["reason"], "InvalidToken");
    let count = warnings[0]["series"]["count"].as_u64().unwrap_or(1) as usize;
    assert!(
        count <= revoked,
        "series count {count} > {revoked} verifications"
    );
    assert_eq!(w.events_about("conflict").len(), events_before);
    assert!(w
        .events_about("conflict")
        .iter()
        .any(|e| e["type"] == "Warning" && e["reason"] == "LabelConflict"));
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_one_credential_leaves_the_others_status_byte_for_byte() {
    let w = World::new().await;
    let listen = free_addr();
    let (stop, task) = w
        .controller_with(
            "solo",
            Options {
                listen,
                ..Options::default()
            },
        )
        .await;
    six_healthy(&w).await;
    // Transition times have second precision: let the clock move past them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: Vec<Value> = (1..=6)
        .map(|i| {
            w.api
                .get("bigcommercecredentials", "shop", &format!("c{i}"))
                .expect("object")
        })
        .collect();
    w.creds()
        .patch(
            "c3",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"label": "Shop 3 renamed"}})),
        )
        .await
        .expect("edit c3");
    eventually(10, "c3 updated", || async {
        let s = w.status("c3");
        s["observedGeneration"] == json!(2) && w.labels().await.contains(&"Shop 3 renamed".into())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, old) in before.iter().enumerate() {
        let name = format!("c{}", i + 1);
        let now = w
            .api
            .get("bigcommercecredentials", "shop", &name)
            .expect("object");
        if name == "c3" {
            let ready = |o: &Value| {
                o["status"]["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
                    .expect("Ready")
            };
            assert_eq!(
                ready(&now)["lastTransitionTime"],
                ready(old)["lastTransitionTime"],
                "Ready stayed True: no transition"
            );
            continue;
        }
        assert_eq!(now["status"], old["status"], "{name}'s status changed");
        assert_eq!(
            now["metadata"]["resourceVersion"], old["metadata"]["resourceVersion"],
            "{name} was written"
        );
    }
    let (code, body) = http_get(listen, "/status").await;
    assert_eq!(code, 200, "{body}");
    let status: Value = serde_json::from_str(&body).expect("JSON");
    let names: Vec<&str> = status["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["c1", "c2", "c3", "c4", "c5", "c6"]);
    // The credentials page serves the same book: every row, the last reconcile, and each
    // object's conditions on its detail page.
    let (code, page) = http_get(listen, "/").await;
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("<p id=\"count\">6 of 6 credentials</p>"),
        "{page}"
    );
    assert!(page.contains("<p id=\"last-pass\""), "{page}");
    let id = page
        .split("href=\"/credentials/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a row link")
        .to_string();
    let (code, detail) = http_get(listen, &format!("/credentials/{id}")).await;
    assert_eq!(code, 200, "{detail}");
    assert!(detail.contains("<tr data-type=\"Verified\">"), "{detail}");
    assert!(
        detail.contains("<dt>Source</dt><dd>shop/c"),
        "the source is the object: {detail}"
    );
    let (code, metrics) = http_get(listen, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("bccreds_managed_credentials{ready=\"True\"} 6"),
        "{metrics}"
    );
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_is_secret_not_found_on_every_condition_and_in_the_store() {
    let w = World::new().await;
    let (stop, task) = w.controller("solo", false).await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready", || ready_now(&w, "prod", "True", "Ready")).await;
    let secrets: Api<Secret> = Api::namespaced(w.api.client(), "shop");
    secrets
        .delete("bc", &DeleteParams::default())
        .await
        .expect("delete the Secret");
    eventually(10, "Ready=False SecretNotFound", || {
        ready_now(&w, "prod", "False", "SecretNotFound")
    })
    .await;
    for type_ in ["Verified", "Stored"] {
        let (_, reason) = w.condition("prod", type_).await.expect("condition");
        assert_eq!(reason, "SecretNotFound", "{type_}");
    }
    let warnings: Vec<Value> = w
        .events_about("prod")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["reason"], "SecretNotFound");
    // What `bccreds list` shows as READY comes from the ownership row.
    eventually(5, "the store knows", || async {
        let rows = w.store.list(&ListQuery::default()).await.expect("list");
        rows.iter()
            .any(|r| r.last_result.as_deref() == Some("SecretNotFound"))
    })
    .await;
    // The row itself is kept.
    assert_eq!(w.token_of("Production").await.as_deref(), Some("tok-one"));
    w.put_secret("bc", "tok-one").await;
    eventually(10, "Ready again", || ready_now(&w, "prod", "True", "Ready")).await;
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mode_lists_and_watches_no_secrets_and_still_sees_a_rotation() {
    let w = World::new().await;
    let (stop, task) = w
        .controller_with(
            "solo",
            Options {
                secret_access: SecretAccess::Get,
                secret_recheck_interval: Duration::from_secs(1),
                ..Options::default()
            },
        )
        .await;
    w.put_secret("bc", "tok-one").await;
    w.put_credential("prod", "Production", "abc123", "bc", json!({}))
        .await;
    eventually(10, "Ready", || ready_now(&w, "prod", "True", "Ready")).await;
    w.put_secret("bc", "tok-two").await;
    eventually(5, "the rotated token stored", || async {
        w.token_of("Production").await.as_deref() == Some("tok-two")
    })
    .await;
    let secret_reads: Vec<String> = w
        .api
        .request_log()
        .into_iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/secrets"))
        .collect();
    assert!(!secret_reads.is_empty());
    for line in &secret_reads {
        let path = line.split(['?', ' ']).nth(1).unwrap_or("");
        assert!(
            path.starts_with("/api/v1/namespaces/shop/secrets/"),
            "only gets by name: {line}"
        );
    }
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_api_server() {
    let w = World::new().await;
    let listen = free_addr();
    let (stop, task) = w
        .controller_with(
            "solo",
            Options {
                listen,
                ..Options::default()
            },
        )
        .await;
    eventually(10, "ready", || async {
        http_get(listen, "/readyz").await.0 == 200
    })
    .await;
    for fault in [Fault::Forbidden, Fault::Refuse] {
        w.api.set_fault(fault);
        // Watches are restarted by the client; the failed restart is what /readyz reports.
        eventually(10, &format!("not ready under {fault:?}"), || async {
            http_get(listen, "/readyz").await.0 == 503
        })
        .await;
        w.api.set_fault(Fault::None);
        // The watcher backs off like client-go (0.8 s doubling to 30 s, with jitter) while the
        // fault lasts, so recovery may wait out one full step of that backoff.
        eventually(40, &format!("ready after {fault:?}"), || async {
            http_get(listen, "/readyz").await.0 == 200
        })
        .await;
    }
    let _ = stop.send(());
    task.await.expect("join").expect("clean stop");
}
