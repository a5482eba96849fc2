//! Tests of the fake Kubernetes API server in tests/fake_apiserver/, through raw HTTP and
//! through kube (which is what the controller uses, so kube is what must work).

mod fake_apiserver;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bccreds::model::BigCommerceCredential;
use fake_apiserver::FakeApiServer;
use futures_util::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PartialObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::Resource;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn cred(name: &str, label: &str) -> BigCommerceCredential {
    serde_json::from_value(json!({
        "apiVersion": "bigcommerce.unopim.io/v1alpha1",
        "kind": "BigCommerceCredential",
        "metadata": {"name": name},
        "spec": {"label": label, "apiUrl": "https://api.bigcommerce.com/stores/abc123/"},
    }))
    .expect("a valid credential")
}

fn creds(server: &FakeApiServer) -> Api<BigCommerceCredential> {
    Api::namespaced(server.client(), "default")
}

fn code(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv_of<K: Resource>(obj: &K) -> u64 {
    obj.meta()
        .resource_version
        .as_deref()
        .expect("a resourceVersion")
        .parse()
        .expect("a numeric resourceVersion")
}

/// Polls `check` until it holds, failing the test after [`WAIT`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A stream polled in a background task from the start (watchers are lazy), whose items
/// the test picks from; the task ends with it.
struct Collected<T> {
    rx: mpsc::UnboundedReceiver<T>,
    task: tokio::task::JoinHandle<()>,
}

fn collect<S>(stream: S) -> Collected<S::Item>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    Collected { rx, task }
}

impl<T> Collected<T> {
    /// The next item that `pick` maps to `Some`, failing the test after [`WAIT`].
    async fn next_where<U>(&mut self, what: &str, mut pick: impl FnMut(T) -> Option<U>) -> U {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(item) = self.rx.recv().await {
                if let Some(found) = pick(item) {
                    return Some(found);
                }
            }
            None
        });
        found
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("stream ended before {what}"))
    }
}

impl<T> Drop for Collected<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until `n` watch requests have reached the server.
async fn watches_started(server: &FakeApiServer, n: usize) {
    eventually("watch requests", || {
        server
            .request_log()
            .iter()
            .filter(|l| l.contains("watch=true"))
            .count()
            >= n
    })
    .await;
}

fn http() -> reqwest::Client {
    bccreds::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// Reads newline-delimited JSON from a streaming response.
struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// The next line, or `None` when the stream ends; panics after `within`.
    async fn next(&mut self, within: Duration) -> Option<Value> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=pos).collect();
                    return Some(serde_json::from_slice(&line).expect("a JSON line"));
                }
                match self.resp.chunk().await.expect("reading the watch") {
                    Some(chunk) => self.buf.extend_from_slice(&chunk),
                    None => return None,
                }
            }
        })
        .await
        .expect("timed out waiting for a watch line")
    }
}

async fn raw_watch(server: &FakeApiServer, path_and_query: &str) -> Lines {
    let resp = http()
        .get(format!("{}{path_and_query}", server.url()))
        .send()
        .await
        .expect("watch request");
    assert_eq!(resp.status(), 200);
    Lines {
        resp,
        buf: Vec::new(),
    }
}

#[tokio::test]
async fn crud_and_error_codes_through_kube() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let created = api
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    let got = api.get("a").await.unwrap();
    assert_eq!(got.metadata.uid, meta.uid);
    assert_eq!(got.spec.label, "A");

    assert_eq!(
        code(
            api.create(&PostParams::default(), &cred("a", "A"))
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );
    assert_eq!(
        code(api.get("missing").await.unwrap_err()),
        (404, "NotFound".into())
    );
    assert_eq!(
        code(
            api.replace("missing", &PostParams::default(), &cred("missing", "M"))
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    assert_eq!(
        code(
            api.delete("missing", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    assert!(api.get_opt("missing").await.unwrap().is_none());

    api.create(&PostParams::default(), &cred("b", "B"))
        .await
        .unwrap();
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    // Another namespace is another set of objects.
    let other: Api<BigCommerceCredential> = Api::namespaced(server.client(), "other");
    assert!(other
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let all: Api<BigCommerceCredential> = Api::all(server.client());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );

    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(server
        .get("bigcommercecredentials", "default", "a")
        .is_none());
    assert_eq!(code(api.get("a").await.unwrap_err()).0, 404);

    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}})).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(
        code(
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap_err()
        )
        .0,
        409
    );
    let got = secrets.get("s").await.unwrap();
    assert_eq!(got.data.unwrap()["k"].0, b"v");
    assert_eq!(got.type_.as_deref(), Some("Opaque"));
    assert_eq!(got.metadata.generation, None, "Secrets have no generation");
    secrets.delete("s", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(secrets.get("s").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn raw_http_shapes_status_bodies_and_selectors() {
    let server = FakeApiServer::start().await;
    let base = format!(
        "{}/apis/bigcommerce.unopim.io/v1alpha1/namespaces/default/bigcommercecredentials",
        server.url()
    );
    for (name, tier) in [("x", "gold"), ("y", "silver")] {
        let mut body = serde_json::to_value(cred(name, name)).unwrap();
        body["metadata"]["labels"] = json!({"tier": tier});
        let resp = http().post(&base).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 201);
    }
    let list: Value = http()
        .get(&base)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["kind"], "BigCommerceCredentialList");
    assert_eq!(list["apiVersion"], "bigcommerce.unopim.io/v1alpha1");
    assert!(list["metadata"]["resourceVersion"].is_string());
    assert_eq!(list["items"][0]["kind"], "BigCommerceCredential");
    assert_eq!(
        list["items"][0]["apiVersion"],
        "bigcommerce.unopim.io/v1alpha1"
    );
    assert!(list["items"][0]["metadata"]["resourceVersion"].is_string());

    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, expected) in [
        ("labelSelector=tier%3Dgold", vec!["x"]),
        ("labelSelector=tier%21%3Dgold", vec!["y"]),
        ("labelSelector=tier+in+%28silver%2Cbronze%29", vec!["y"]),
        ("labelSelector=tier", vec!["x", "y"]),
        ("labelSelector=%21tier", vec![]),
        ("fieldSelector=metadata.name%3Dy", vec!["y"]),
    ] {
        let list: Value = http()
            .get(format!("{base}?{query}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(names(&list), expected, "{query}");
    }
    let resp = http()
        .get(format!("{base}?fieldSelector=spec.label%3Dx"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = http().get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);
    assert_eq!(
        status["message"],
        "bigcommercecredentials.bigcommerce.unopim.io \"nope\" not found"
    );

    let resp = http()
        .get(format!("{}/apis/example.com/v1/widgets", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Metadata-only list, as kube's metadata watcher asks for it.
    let secrets = format!("{}/api/v1/namespaces/default/secrets", server.url());
    let resp = http()
        .post(&secrets)
        .json(&json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let list: Value = http()
        .get(&secrets)
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "s");
    assert!(list["items"][0].get("data").is_none());
    assert!(server
        .request_log()
        .iter()
        .any(|l| l.starts_with("GET /api/v1/namespaces/default/secrets")));
}

#[tokio::test]
async fn resource_versions_and_conflicting_replace() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let first = api
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    let mut changed = first.clone();
    changed.spec.label = "A2".into();
    let second = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert!(rv_of(&second) > rv_of(&first));
    assert_eq!(
        server.resource_version(),
        rv_of(&second),
        "one global counter"
    );

    // `first` carries a resourceVersion that is no longer current.
    let mut stale = first.clone();
    stale.spec.label = "stale".into();
    assert_eq!(
        code(
            api.replace("a", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    assert_eq!(api.get("a").await.unwrap().spec.label, "A2");

    // Without a resourceVersion, a replace is unconditional.
    stale.metadata.resource_version = None;
    let third = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert_eq!(third.spec.label, "stale");
    assert!(rv_of(&third) > rv_of(&second));

    // A merge patch carrying a stale resourceVersion is a failed precondition too.
    let patch =
        json!({"metadata": {"resourceVersion": rv_of(&first).to_string()}, "spec": {"label": "p"}});
    assert_eq!(
        code(
            api.patch("a", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap_err()
        )
        .0,
        409
    );
}

#[tokio::test]
async fn generation_moves_only_with_spec_and_no_op_writes_are_not_writes() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let created = api
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    let labelled = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata is not spec"
    );
    assert!(rv_of(&labelled) > rv_of(&created));

    let status = api
        .patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"credentialStatus": "Active"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.metadata.generation, Some(1), "status is not spec");

    let spec = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"label": "B"}})),
        )
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));

    // Writing what is already stored changes nothing, not even the resourceVersion.
    let rv = server.resource_version();
    let same = api
        .replace("a", &PostParams::default(), &spec)
        .await
        .unwrap();
    assert_eq!(rv_of(&same), rv_of(&spec));
    let same = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"label": "B"}})),
        )
        .await
        .unwrap();
    assert_eq!(rv_of(&same), rv_of(&spec));
    assert_eq!(server.resource_version(), rv);
    assert_eq!(same.metadata.generation, Some(2));
}

#[tokio::test]
async fn status_subresource_is_isolated_both_ways() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let mut with_status = serde_json::to_value(cred("a", "A")).unwrap();
    with_status["status"] = json!({"credentialStatus": "Active"});
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(with_status.clone()).unwrap(),
        )
        .await
        .unwrap();
    assert!(created.status.is_none(), "create drops status");

    // Status through /status (merge patch); a spec change in the same body is ignored.
    let patched = api
        .patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"label": "ignored"}, "status": {"credentialStatus": "Active"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        patched
            .status
            .as_ref()
            .unwrap()
            .credential_status
            .as_deref(),
        Some("Active")
    );
    assert_eq!(patched.spec.label, "A");

    // Status through /status with server-side apply.
    let applied = api
        .patch_status(
            "a",
            &PatchParams::apply("mgr"),
            &Patch::Apply(json!({
                "apiVersion": "bigcommerce.unopim.io/v1alpha1",
                "kind": "BigCommerceCredential",
                "status": {"credentialStatus": "Inactive", "observedGeneration": 1},
            })),
        )
        .await
        .unwrap();
    let status = applied.status.as_ref().unwrap();
    assert_eq!(status.credential_status.as_deref(), Some("Inactive"));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(applied.metadata.generation, Some(1));

    // Writes to the main resource keep the stored status.
    let mut replace = applied.clone();
    replace.spec.label = "B".into();
    replace.status = None;
    let replaced = api
        .replace("a", &PostParams::default(), &replace)
        .await
        .unwrap();
    assert_eq!(replaced.spec.label, "B");
    assert_eq!(
        replaced
            .status
            .as_ref()
            .unwrap()
            .credential_status
            .as_deref(),
        Some("Inactive")
    );
    let merged = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"credentialStatus": "Changed"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.status.as_ref().unwrap().credential_status.as_deref(),
        Some("Inactive")
    );
    assert_eq!(
        rv_of(&merged),
        rv_of(&replaced),
        "a status-only change on the main resource is no write"
    );
    let stored = server
        .get("bigcommercecredentials", "default", "a")
        .unwrap();
    assert_eq!(stored["status"]["credentialStatus"], "Inactive");
    assert_eq!(stored["metadata"]["generation"], 2);
}

#[tokio::test]
async fn patch_flavours() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    api.create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();

    // RFC 6902 with a failing `test`: 422, nothing changes.
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/label", "value": "not A"},
        {"op": "replace", "path": "/spec/label", "value": "B"},
    ]))
    .unwrap();
    assert_eq!(
        code(
            api.patch("a", &PatchParams::default(), &Patch::Json::<()>(failing))
                .await
                .unwrap_err()
        ),
        (422, "Invalid".into())
    );
    assert_eq!(api.get("a").await.unwrap().spec.label, "A");
    let passing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/label", "value": "A"},
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "replace", "path": "/spec/label", "value": "B"},
    ]))
    .unwrap();
    let patched = api
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(passing))
        .await
        .unwrap();
    assert_eq!(patched.spec.label, "B");

    // Strategic merge: unsupported for custom resources, a merge for built-ins.
    let smp = Patch::Strategic(json!({"spec": {"label": "C"}}));
    assert_eq!(
        code(
            api.patch("a", &PatchParams::default(), &smp)
                .await
                .unwrap_err()
        ),
        (415, "UnsupportedMediaType".into())
    );
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
        )
        .await
        .unwrap();
    let s = secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(s.metadata.labels.unwrap()["a"], "b");

    // Server-side apply: needs a field manager, creates a missing object, merges into one.
    let raw = http()
        .patch(format!(
            "{}/apis/bigcommerce.unopim.io/v1alpha1/namespaces/default/bigcommercecredentials/new",
            server.url()
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(serde_json::to_string(&cred("new", "N")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422);
    let created = api
        .patch(
            "new",
            &PatchParams::apply("mgr"),
            &Patch::Apply(cred("new", "N")),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let applied = api
        .patch(
            "new",
            &PatchParams::apply("mgr").force(),
            &Patch::Apply(json!({
                "apiVersion": "bigcommerce.unopim.io/v1alpha1",
                "kind": "BigCommerceCredential",
                "metadata": {"labels": {"team": "pim"}},
                "spec": {"label": "N2"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.label, "N2");
    assert_eq!(
        applied.spec.api_url,
        "https://api.bigcommerce.com/stores/abc123/"
    );
    assert_eq!(applied.metadata.labels.unwrap()["team"], "pim");
    assert_eq!(applied.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_mark_deletion_and_the_last_removal_deletes() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let mut obj = cred("a", "A");
    obj.metadata.finalizers = Some(vec!["x.io/one".into(), "x.io/two".into()]);
    let created = api.create(&PostParams::default(), &obj).await.unwrap();

    let marked = api
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the object, still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    // Kubernetes' markAsDeleting bumps a tracked generation once, when deletion starts.
    assert_eq!(marked.metadata.generation, Some(2));
    assert!(rv_of(&marked) > rv_of(&created));
    assert!(api
        .get("a")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    // Deleting again changes nothing.
    let again = api
        .delete("a", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(rv_of(&again), rv_of(&marked));

    // No new finalizers while deleting.
    let add =
        Patch::Merge(json!({"metadata": {"finalizers": ["x.io/one", "x.io/two", "x.io/three"]}}));
    assert_eq!(
        code(
            api.patch("a", &PatchParams::default(), &add)
                .await
                .unwrap_err()
        )
        .0,
        422
    );

    // Removing one of two keeps the object; removing the last (as kube's finalizer helper does) deletes it.
    let remove = |i: usize, name: &str| -> json_patch::Patch {
        serde_json::from_value(json!([
            {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": name},
            {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
        ]))
        .unwrap()
    };
    // A test against the wrong index fails, as kube's finalizer helper expects.
    assert_eq!(
        code(
            api.patch(
                "a",
                &PatchParams::default(),
                &Patch::Json::<()>(remove(0, "x.io/two"))
            )
            .await
            .unwrap_err()
        )
        .0,
        422
    );
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Json::<()>(remove(0, "x.io/one")),
    )
    .await
    .unwrap();
    assert!(server
        .get("bigcommercecredentials", "default", "a")
        .is_some());
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Json::<()>(remove(0, "x.io/two")),
    )
    .await
    .unwrap();
    assert!(server
        .get("bigcommercecredentials", "default", "a")
        .is_none());
    assert_eq!(code(api.get("a").await.unwrap_err()).0, 404);

    // Without finalizers, DELETE removes at once.
    api.create(&PostParams::default(), &cred("b", "B"))
        .await
        .unwrap();
    api.delete("b", &DeleteParams::default()).await.unwrap();
    assert!(server
        .get("bigcommercecredentials", "default", "b")
        .is_none());
}

#[tokio::test]
async fn kube_watcher_sees_added_modified_deleted() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    api.create(&PostParams::default(), &cred("before", "B"))
        .await
        .unwrap();
    let mut events = collect(watcher(api.clone(), watcher::Config::default()));
    let mut applied = collect(watcher(api.clone(), watcher::Config::default()).applied_objects());
    let initial = events
        .next_where("the initial list", |e| match e.unwrap() {
            watcher::Event::InitApply(o) => o.metadata.name,
            _ => None,
        })
        .await;
    assert_eq!(initial, "before");
    watches_started(&server, 2).await;
    events
        .next_where("InitDone", |e| {
            matches!(e.unwrap(), watcher::Event::InitDone).then_some(())
        })
        .await;

    api.create(&PostParams::default(), &cred("later", "L"))
        .await
        .unwrap();
    let added = events
        .next_where("ADDED", |e| match e.unwrap() {
            watcher::Event::Apply(o) => Some(o),
            _ => None,
        })
        .await;
    assert_eq!(
        (added.metadata.name.as_deref(), added.spec.label.as_str()),
        (Some("later"), "L")
    );

    api.patch(
        "later",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"label": "L2"}})),
    )
    .await
    .unwrap();
    let modified = events
        .next_where("MODIFIED", |e| match e.unwrap() {
            watcher::Event::Apply(o) => Some(o),
            _ => None,
        })
        .await;
    assert_eq!(modified.spec.label, "L2");

    api.delete("later", &DeleteParams::default()).await.unwrap();
    let deleted = events
        .next_where("DELETED", |e| match e.unwrap() {
            watcher::Event::Delete(o) => Some(o),
            _ => None,
        })
        .await;
    assert_eq!(deleted.metadata.name.as_deref(), Some("later"));

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let obj = applied
            .next_where("applied objects", |o| Some(o.unwrap()))
            .await;
        seen.push(format!("{}:{}", obj.metadata.name.unwrap(), obj.spec.label));
    }
    assert_eq!(seen, ["before:B", "later:L", "later:L2"]);
}

#[tokio::test]
#[allow(deprecated)]
async fn metadata_watchers_see_a_secret_created_later() {
    let server = FakeApiServer::start().await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let old_style = collect(
        kube::runtime::metadata_watcher(secrets.clone(), watcher::Config::default())
            .touched_objects(),
    );
    let partial: Api<PartialObjectMeta<Secret>> = Api::namespaced(server.client(), "default");
    let new_style = collect(watcher(partial, watcher::Config::default()).touched_objects());
    // Let both watchers finish their initial (empty) list before the Secret appears.
    watches_started(&server, 2).await;

    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "later", "labels": {"a": "b"}}, "stringData": {"k": "v"}}),
    )
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    for mut stream in [old_style, new_style] {
        let meta = stream
            .next_where("the Secret's metadata", |o| Some(o.unwrap()))
            .await;
        assert_eq!(meta.metadata.name.as_deref(), Some("later"));
        assert_eq!(meta.metadata.labels.unwrap()["a"], "b");
        assert!(meta.metadata.resource_version.is_some());
        assert_eq!(
            meta.types.unwrap().kind,
            "PartialObjectMetadata",
            "a metadata-only watch"
        );
    }
}

#[tokio::test]
async fn raw_watch_history_bookmarks_timeouts_and_expiry() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let path = "/apis/bigcommerce.unopim.io/v1alpha1/namespaces/default/bigcommercecredentials";
    let a = api
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"label": "A2"}})),
    )
    .await
    .unwrap();

    // From a resourceVersion: only the changes after it, then bookmarks while idle.
    let mut lines = raw_watch(
        &server,
        &format!(
            "{path}?watch=true&resourceVersion={}&allowWatchBookmarks=true",
            rv_of(&a)
        ),
    )
    .await;
    let line = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            line["type"].as_str(),
            line["object"]["spec"]["label"].as_str()
        ),
        (Some("MODIFIED"), Some("A2"))
    );
    assert_eq!(line["object"]["kind"], "BigCommerceCredential");
    let bookmark = lines.next(WAIT).await.unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"]["metadata"]["resourceVersion"],
        server.resource_version().to_string()
    );

    // From "0": synthetic ADDED for the current state; timeoutSeconds ends the stream.
    let mut lines = raw_watch(
        &server,
        &format!("{path}?watch=true&resourceVersion=0&timeoutSeconds=1"),
    )
    .await;
    let line = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            line["type"].as_str(),
            line["object"]["spec"]["label"].as_str()
        ),
        (Some("ADDED"), Some("A2"))
    );
    assert!(
        lines.next(WAIT).await.is_none(),
        "timeoutSeconds ends the watch"
    );

    // Streaming list: initial ADDED events, then the initial-events-end bookmark.
    let mut lines = raw_watch(&server, &format!("{path}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=0")).await;
    assert_eq!(lines.next(WAIT).await.unwrap()["type"], "ADDED");
    let end = lines.next(WAIT).await.unwrap();
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    // A label-filtered watch sees an object leave its selection as DELETED.
    let mut lines = raw_watch(
        &server,
        &format!(
            "{}?watch=true&resourceVersion={}&labelSelector=keep%3Dyes",
            path,
            server.resource_version()
        ),
    )
    .await;
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"keep": "yes"}}})),
    )
    .await
    .unwrap();
    assert_eq!(lines.next(WAIT).await.unwrap()["type"], "ADDED");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"keep": "no"}}})),
    )
    .await
    .unwrap();
    assert_eq!(lines.next(WAIT).await.unwrap()["type"], "DELETED");

    // Past the bounded history: an ERROR event with a 410 Expired Status, then the end.
    let old = server.resource_version();
    for i in 0..=fake_apiserver::store::HISTORY_LIMIT {
        let patch = json!({"spec": {"label": format!("n{i}")}});
        api.patch("a", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }
    let mut lines = raw_watch(&server, &format!("{path}?watch=true&resourceVersion={old}")).await;
    let error = lines.next(WAIT).await.unwrap();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["kind"], "Status");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    assert!(lines.next(WAIT).await.is_none());
    // The most recent part of the history is still there.
    let mut lines = raw_watch(
        &server,
        &format!(
            "{path}?watch=true&resourceVersion={}",
            server.resource_version() - 5
        ),
    )
    .await;
    assert_eq!(
        lines.next(WAIT).await.unwrap()["object"]["spec"]["label"],
        "n996"
    );

    // Stopping the server ends open watches.
    let mut lines = raw_watch(&server, &format!("{path}?watch=true")).await;
    assert_eq!(lines.next(WAIT).await.unwrap()["type"], "ADDED");
    server.stop();
    assert!(lines.next(WAIT).await.is_none(), "stop ends the watch");
}

#[tokio::test]
async fn kube_watcher_recovers_from_410_by_relisting() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let mut objects = collect(watcher(api.clone(), watcher::Config::default()).applied_objects());
    watches_started(&server, 1).await;
    api.create(&PostParams::default(), &cred("one", "1"))
        .await
        .unwrap();
    let first = objects
        .next_where("the first object", |o| Some(o.unwrap()))
        .await;
    assert_eq!(first.metadata.name.as_deref(), Some("one"));
    let lists_before = server
        .request_log()
        .iter()
        .filter(|l| l.starts_with("GET") && !l.contains("watch=true"))
        .count();

    // The watcher's resourceVersion is now compacted away; its watch is cut, it resumes, gets 410.
    server.compact_and_drop_watches();
    api.create(&PostParams::default(), &cred("two", "2"))
        .await
        .unwrap();
    // The 410 itself comes through as an error item; later objects must still come.
    let mut saw_410 = false;
    let second = objects
        .next_where("an object created after the 410", |o| match o {
            Ok(o) => (o.metadata.name.as_deref() == Some("two")).then_some(o),
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                saw_410 = true;
                None
            }
            Err(e) => panic!("unexpected watcher error {e:?}"),
        })
        .await;
    assert_eq!(second.spec.label, "2");
    assert!(saw_410, "the resumed watch got 410 Expired");
    let lists_after = server
        .request_log()
        .iter()
        .filter(|l| l.starts_with("GET") && !l.contains("watch=true"))
        .count();
    assert!(
        lists_after > lists_before,
        "the watcher relisted: {:#?}",
        server.request_log()
    );
}

#[tokio::test]
async fn secret_string_data_becomes_base64_data() {
    let server = FakeApiServer::start().await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s"},
        "data": {"keep": "a2VlcA=="},
        "stringData": {"token": "t0ken", "keep": "over"},
    }))
    .unwrap();
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert!(created.string_data.is_none());
    let stored = server.get("secrets", "default", "s").unwrap();
    assert_eq!(
        stored["data"],
        json!({"keep": "b3Zlcg==", "token": "dDBrZW4="})
    );
    assert!(stored.get("stringData").is_none());

    let update: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"new": "n"}}))
            .unwrap();
    let replaced = secrets
        .replace("s", &PostParams::default(), &update)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap().keys().collect::<Vec<_>>(), ["new"]);

    let raw = http()
        .post(format!(
            "{}/api/v1/namespaces/default/secrets",
            server.url()
        ))
        .json(&json!({"metadata": {"name": "bad"}, "data": {"k": "not base64!"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422);
}

#[tokio::test]
async fn lease_get_create_replace_and_stale_conflict() {
    let server = FakeApiServer::start().await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "ops");
    assert_eq!(code(leases.get("bccreds").await.unwrap_err()).0, 404);
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "bccreds", "namespace": "ops"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "renewTime": "2025-01-01T00:00:00.000000Z"},
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(
        code(
            leases
                .create(&PostParams::default(), &lease)
                .await
                .unwrap_err()
        )
        .0,
        409
    );

    let mut renewed = leases.get("bccreds").await.unwrap();
    renewed.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    let replaced = leases
        .replace("bccreds", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.unwrap().holder_identity.as_deref(),
        Some("pod-b")
    );

    // A replica that read the lease before pod-b's write loses.
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("pod-c".into());
    assert_eq!(
        code(
            leases
                .replace("bccreds", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    assert_eq!(
        server.get("leases", "ops", "bccreds").unwrap()["spec"]["holderIdentity"],
        "pod-b"
    );
}

#[tokio::test]
async fn events_recorder_creates_then_patches_an_event() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let obj = api
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    let recorder = Recorder::new(
        server.client(),
        Reporter {
            controller: "bccreds-test".into(),
            instance: Some("pod-a".into()),
        },
    );
    let event = || KubeEvent {
        type_: EventType::Normal,
        reason: "Verified".into(),
        note: Some("BigCommerce answered".into()),
        action: "Verify".into(),
        secondary: None,
    };
    recorder
        .publish(&event(), &obj.object_ref(&()))
        .await
        .unwrap();
    let events = server.list("events", Some("default"));
    assert_eq!(events.len(), 1);
    let stored = &events[0];
    assert_eq!(stored["apiVersion"], "events.k8s.io/v1");
    assert_eq!(stored["reason"], "Verified");
    assert_eq!(stored["regarding"]["name"], "a");
    assert_eq!(stored["regarding"]["kind"], "BigCommerceCredential");
    assert_eq!(stored["reportingController"], "bccreds-test");
    assert!(server
        .request_log()
        .iter()
        .any(|l| l.starts_with("POST /apis/events.k8s.io/v1/namespaces/default/events")));

    // The same event again within the cache window becomes a series (a merge patch).
    recorder
        .publish(&event(), &obj.object_ref(&()))
        .await
        .unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(server.client(), "default");
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].series.as_ref().map(|s| s.count), Some(2));
}

#[derive(Debug)]
struct TestError(String);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestError {}

#[derive(Default)]
struct Counts(Mutex<HashMap<String, usize>>);

impl Counts {
    fn bump(&self, key: String) {
        *self.0.lock().unwrap().entry(key).or_default() += 1;
    }

    fn get(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

/// Runs `controller` until the returned guard drops.
fn spawn_controller(controller: impl Future<Output = ()> + Send + 'static) -> impl Drop {
    struct Abort(tokio::task::JoinHandle<()>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    Abort(tokio::spawn(controller))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_created_and_updated_objects() {
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    let counts = Arc::new(Counts::default());
    async fn reconcile(
        obj: Arc<BigCommerceCredential>,
        counts: Arc<Counts>,
    ) -> Result<Action, TestError> {
        counts.bump(format!(
            "{}@{}",
            obj.metadata.name.clone().unwrap(),
            obj.spec.label
        ));
        Ok(Action::await_change())
    }
    let run = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(100)),
            counts.clone(),
        )
        .for_each(|_| async {});
    let _guard = spawn_controller(run);
    // Let the controller's watcher start before the object exists.
    eventually("the controller's watch", || {
        server
            .request_log()
            .iter()
            .any(|l| l.contains("watch=true"))
    })
    .await;

    api.create(&PostParams::default(), &cred("a", "first"))
        .await
        .unwrap();
    eventually("a reconcile of the new object", || {
        counts.get("a@first") >= 1
    })
    .await;
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"label": "second"}})),
    )
    .await
    .unwrap();
    eventually("a reconcile of the updated object", || {
        counts.get("a@second") >= 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_finalizer_adds_then_cleans_up_and_the_object_goes() {
    const FINALIZER: &str = "bigcommerce.unopim.io/test-cleanup";
    let server = FakeApiServer::start().await;
    let api = creds(&server);
    struct Ctx {
        api: Api<BigCommerceCredential>,
        counts: Counts,
    }
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        counts: Counts::default(),
    });
    async fn reconcile(
        obj: Arc<BigCommerceCredential>,
        ctx: Arc<Ctx>,
    ) -> Result<Action, kube::runtime::finalizer::Error<TestError>> {
        let counts = ctx.clone();
        finalizer(&ctx.api, FINALIZER, obj, |event| async move {
            match event {
                FinalizerEvent::Apply(_) => counts.counts.bump("apply".into()),
                FinalizerEvent::Cleanup(_) => counts.counts.bump("cleanup".into()),
            }
            Ok::<_, TestError>(Action::await_change())
        })
        .await
    }
    let run = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(100)),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let _guard = spawn_controller(run);

    api.create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    eventually("the finalizer added and Apply called", || {
        let finalizers = server
            .get("bigcommercecredentials", "default", "a")
            .map(|o| o["metadata"]["finalizers"].clone());
        finalizers == Some(json!([FINALIZER])) && ctx.counts.get("apply") >= 1
    })
    .await;
    assert_eq!(ctx.counts.get("cleanup"), 0);

    api.delete("a", &DeleteParams::default()).await.unwrap();
    eventually("cleanup called and the object gone", || {
        ctx.counts.get("cleanup") == 1
            && server
                .get("bigcommercecredentials", "default", "a")
                .is_none()
    })
    .await;
}
