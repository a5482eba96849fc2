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
use fake_apiserver::{FakeApiServer, Fault};
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

    /// Reads until the stream ends, cleanly or with an error (a cut connection); panics
    /// after `within`. Returns whether it ended with an error.
    async fn end(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            loop {
                match self.resp.chunk().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return false,
                    Err(_) => return true,
                }
            }
        })
        .await
        .expect("timed out waiting for the watch to end")
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

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "dg=="}})).unwrap()
}

fn secret_names(list: kube::core::ObjectList<Secret>) -> Vec<String> {
    list.items
        .into_iter()
        .map(|s| s.metadata.name.unwrap())
        .collect()
}

/// Sends one GET over a raw HTTP/1.1 connection (kept alive) and reads the whole response
/// (bodies with a Content-Length only); returns the status line.
async fn raw_http1_get(stream: &mut tokio::net::TcpStream, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        if buf.len() >= end + 4 + length {
            return head.lines().next().unwrap().to_string();
        }
    }
}

/// Whether a watcher error is the API server answering `code`.
fn watcher_api_code(err: &watcher::Error) -> Option<u16> {
    match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_mode_denies_everything_ends_watches_and_recovers() {
    let server = FakeApiServer::start().await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    secrets
        .create(&PostParams::default(), &secret("s"))
        .await
        .unwrap();
    let path = "/api/v1/namespaces/default/secrets";
    let mut raw = raw_watch(
        &server,
        &format!(
            "{path}?watch=true&resourceVersion={}",
            server.resource_version()
        ),
    )
    .await;
    let mut objects = collect(
        watcher(secrets.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects(),
    );
    let first = objects
        .next_where("the stored Secret", |o| Some(o.unwrap()))
        .await;
    assert_eq!(first.metadata.name.as_deref(), Some("s"));
    watches_started(&server, 2).await;

    server.set_fault(Fault::Forbidden);
    assert_eq!(server.fault(), Fault::Forbidden);
    assert!(!raw.end(WAIT).await, "the open watch ends cleanly");
    let err = secrets.list(&ListParams::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a 403 Status, got {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        "secrets is forbidden: User \"system:serviceaccount:bccreds:bccreds\" cannot list \
         resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    let status = match secrets.get("s").await.unwrap_err() {
        kube::Error::Api(status) => status,
        other => panic!("expected a 403 Status, got {other:?}"),
    };
    assert!(
        status.message.starts_with("secrets \"s\" is forbidden: ")
            && status.message.contains("cannot get resource"),
        "{}",
        status.message
    );
    // Watches, writes to /status, Leases and Events: all 403, all with Status bodies.
    for (method, url, needle) in [
        (
            reqwest::Method::GET,
            format!("{}{path}?watch=true", server.url()),
            "cannot watch resource \"secrets\"",
        ),
        (
            reqwest::Method::PATCH,
            format!(
                "{}/apis/bigcommerce.unopim.io/v1alpha1/namespaces/default/bigcommercecredentials/a/status",
                server.url()
            ),
            "bigcommercecredentials.bigcommerce.unopim.io \"a\" is forbidden: User \"system:serviceaccount:bccreds:bccreds\" \
             cannot patch resource \"bigcommercecredentials/status\" in API group \"bigcommerce.unopim.io\" in the namespace \"default\"",
        ),
        (
            reqwest::Method::PUT,
            format!("{}/apis/coordination.k8s.io/v1/namespaces/ops/leases/bccreds", server.url()),
            "cannot update resource \"leases\" in API group \"coordination.k8s.io\"",
        ),
        (
            reqwest::Method::GET,
            format!("{}/apis/bigcommerce.unopim.io/v1alpha1/bigcommercecredentials", server.url()),
            "cannot list resource \"bigcommercecredentials\" in API group \"bigcommerce.unopim.io\" at the cluster scope",
        ),
        (
            reqwest::Method::GET,
            format!("{}/version", server.url()),
            "forbidden: User \"system:serviceaccount:bccreds:bccreds\" cannot get path \"/version\"",
        ),
    ] {
        let resp = http().request(method, &url).json(&json!({})).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["apiVersion"], "v1");
        assert_eq!(body["status"], "Failure");
        assert_eq!(body["reason"], "Forbidden");
        assert_eq!(body["code"], 403);
        assert!(body["details"].is_object());
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    let recorder = Recorder::new(server.client(), "bccreds-test".into());
    let event = KubeEvent {
        type_: EventType::Normal,
        reason: "Verified".into(),
        note: None,
        action: "Verify".into(),
        secondary: None,
    };
    let err = recorder
        .publish(&event, &first.object_ref(&()))
        .await
        .unwrap_err();
    assert_eq!(code(err), (403, "Forbidden".into()));
    // The kube watcher's resumed watch is refused too.
    objects
        .next_where("a 403 from the watcher", |o| match o {
            Err(e) => (watcher_api_code(&e) == Some(403)).then_some(()),
            Ok(o) => panic!("unexpected object {o:?} while forbidden"),
        })
        .await;
    // Denied requests are logged.
    assert!(server.requests_matching("POST /apis/events.k8s.io/v1/namespaces/default/events") >= 1);
    assert!(server.requests_matching("PATCH /apis/bigcommerce.unopim.io") >= 1);

    server.set_fault(Fault::None);
    assert_eq!(
        secret_names(secrets.list(&ListParams::default()).await.unwrap()),
        ["s"]
    );
    secrets
        .create(&PostParams::default(), &secret("t"))
        .await
        .unwrap();
    let second = objects
        .next_where("the Secret created after the fault", |o| {
            o.ok().filter(|o| o.metadata.name.as_deref() == Some("t"))
        })
        .await;
    assert_eq!(second.metadata.name.as_deref(), Some("t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_mode_closes_the_port_cuts_connections_and_serves_again() {
    let server = FakeApiServer::start().await;
    let url = server.url();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    secrets
        .create(&PostParams::default(), &secret("s"))
        .await
        .unwrap();
    let path = "/api/v1/namespaces/default/secrets";
    // A kept-alive connection that has served a request, an open raw watch, a kube watcher.
    let mut kept_alive = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    assert_eq!(
        raw_http1_get(&mut kept_alive, path).await,
        "HTTP/1.1 200 OK"
    );
    let mut raw = raw_watch(
        &server,
        &format!(
            "{path}?watch=true&resourceVersion={}",
            server.resource_version()
        ),
    )
    .await;
    let mut objects = collect(
        watcher(secrets.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects(),
    );
    objects
        .next_where("the stored Secret", |o| Some(o.unwrap()))
        .await;
    watches_started(&server, 2).await;
    let rv = server.resource_version();
    let logged = server.request_log().len();

    server.set_fault(Fault::Refuse);
    assert_eq!(server.fault(), Fault::Refuse);
    let err = tokio::net::TcpStream::connect(server.addr())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(raw.end(WAIT).await, "the watch is cut, not ended");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, {
        use tokio::io::AsyncReadExt;
        kept_alive.read(&mut buf)
    })
    .await
    .expect("the kept-alive connection is closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the kept-alive connection is closed: {read:?}"
    );
    // The same client (its pooled connections were cut) cannot connect: not an API error.
    let err = secrets.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "expected a connection error, got {err:?}"
    );
    let err = objects
        .next_where("a connection error from the watcher", |o| o.err())
        .await;
    assert_eq!(watcher_api_code(&err), None, "{err:?}");
    assert_eq!(server.request_log().len(), logged, "no request got through");

    server.set_fault(Fault::None);
    assert_eq!(server.url(), url);
    assert_eq!(server.resource_version(), rv);
    assert_eq!(
        secret_names(secrets.list(&ListParams::default()).await.unwrap()),
        ["s"]
    );
    let mut raw = raw_watch(&server, &format!("{path}?watch=true&resourceVersion={rv}")).await;
    secrets
        .create(&PostParams::default(), &secret("t"))
        .await
        .unwrap();
    let line = raw.next(WAIT).await.unwrap();
    assert_eq!(line["type"], "ADDED");
    assert_eq!(line["object"]["metadata"]["name"], "t");
    objects
        .next_where("the kube watcher back with the new Secret", |o| {
            o.ok().filter(|o| o.metadata.name.as_deref() == Some("t"))
        })
        .await;

    // Refusing twice, or serving twice, is harmless; the port comes back every time.
    server.set_fault(Fault::Refuse);
    server.set_fault(Fault::Refuse);
    server.set_fault(Fault::Forbidden);
    assert_eq!(
        code(secrets.get("s").await.unwrap_err()),
        (403, "Forbidden".into())
    );
    server.set_fault(Fault::None);
    server.set_fault(Fault::None);
    assert_eq!(
        secrets.get("t").await.unwrap().metadata.name.as_deref(),
        Some("t")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_url_refuses() {
    let url = fake_apiserver::refused_url();
    let addr = url.strip_prefix("http://").unwrap();
    assert!(addr.starts_with("127.0.0.1:"));
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    bccreds::tls::install_crypto_provider();
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let err = Api::<Secret>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "expected a connection error, got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorder_series_patches_one_event_and_distinct_events_are_new_objects() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    let server = FakeApiServer::start().await;
    let obj = creds(&server)
        .create(&PostParams::default(), &cred("a", "A"))
        .await
        .unwrap();
    let regarding = obj.object_ref(&());
    let recorder = Recorder::new(
        server.client(),
        Reporter {
            controller: "bccreds-test".into(),
            instance: Some("pod-a".into()),
        },
    );
    let event = |reason: &str, note: &str| KubeEvent {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Verify".into(),
        secondary: None,
    };
    let path = "/apis/events.k8s.io/v1/namespaces/default/events";
    let mut lines = raw_watch(
        &server,
        &format!(
            "{path}?watch=true&resourceVersion={}",
            server.resource_version()
        ),
    )
    .await;
    let events: Api<K8sEvent> = Api::namespaced(server.client(), "default");

    recorder
        .publish(&event("Verified", "BigCommerce answered"), &regarding)
        .await
        .unwrap();
    let added = lines.next(WAIT).await.unwrap();
    assert_eq!(added["type"], "ADDED");
    assert!(added["object"].get("series").is_none());
    let name = added["object"]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let created = events.get(&name).await.unwrap();

    // The same event again: kube PATCHes (merge patch) the whole cached Event with a series.
    recorder
        .publish(&event("Verified", "BigCommerce answered"), &regarding)
        .await
        .unwrap();
    assert_eq!(server.requests_matching(&format!("PATCH {path}/{name}")), 1);
    assert_eq!(server.requests_matching(&format!("POST {path}")), 1);
    let modified = lines.next(WAIT).await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["metadata"]["name"], name.as_str());
    assert_eq!(modified["object"]["series"]["count"], 2);
    assert!(modified["object"]["series"]["lastObservedTime"].is_string());
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    let series = listed[0].series.as_ref().expect("a series");
    assert_eq!(series.count, 2);
    assert!(rv_of(&listed[0]) > rv_of(&created));
    assert_eq!(listed[0].metadata.uid, created.metadata.uid);
    assert_eq!(listed[0].event_time, created.event_time);

    // The recorder keys a series by type, reason, action, reporter and objects, not by the
    // note: another note continues the series and the stored note stays the first one.
    recorder
        .publish(&event("Verified", "another note"), &regarding)
        .await
        .unwrap();
    let modified = lines.next(WAIT).await.unwrap();
    assert_eq!(modified["object"]["series"]["count"], 3);
    assert_eq!(modified["object"]["note"], "BigCommerce answered");

    // Another reason is another Event object.
    recorder
        .publish(
            &event("VerificationFailed", "BigCommerce answered"),
            &regarding,
        )
        .await
        .unwrap();
    let added = lines.next(WAIT).await.unwrap();
    assert_eq!(added["type"], "ADDED");
    assert_ne!(added["object"]["metadata"]["name"], name.as_str());
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 2);
    let counts: Vec<Option<i32>> = listed
        .iter()
        .map(|e| e.series.as_ref().map(|s| s.count))
        .collect();
    assert!(
        counts.contains(&Some(3)) && counts.contains(&None),
        "{counts:?}"
    );
    assert_eq!(server.requests_matching(&format!("POST {path}")), 2);
    // Both are the same objects through core v1.
    assert_eq!(server.list("events", Some("default")).len(), 2);
}

#[tokio::test]
async fn events_k8s_io_writes_are_validated_as_kubernetes_does() {
    let server = FakeApiServer::start().await;
    let base = format!(
        "{}/apis/events.k8s.io/v1/namespaces/default/events",
        server.url()
    );
    let valid = json!({
        "metadata": {"name": "e1"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "type": "Normal",
        "reason": "Verified",
        "action": "Verify",
        "note": "ok",
        "reportingController": "bccreds",
        "reportingInstance": "pod-a",
        "regarding": {"kind": "Secret", "name": "s", "namespace": "default"},
    });
    let post = |body: Value| http().post(&base).json(&body).send();
    let message = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 422);
        let status: Value = resp.json().await.unwrap();
        assert_eq!(status["reason"], "Invalid");
        status["message"].as_str().unwrap().to_string()
    };

    // A note is limited to 1024 bytes (not characters); reason and action are required.
    let mut long = valid.clone();
    long["note"] = json!("é".repeat(600));
    let msg = message(post(long).await.unwrap()).await;
    assert!(
        msg.contains("message: Invalid value: \"\": can have at most 1024 characters"),
        "{msg}"
    );
    let mut incomplete = valid.clone();
    incomplete.as_object_mut().unwrap().remove("reason");
    incomplete.as_object_mut().unwrap().remove("eventTime");
    let msg = message(post(incomplete).await.unwrap()).await;
    assert!(msg.contains("eventTime: Required value"), "{msg}");
    let mut series = valid.clone();
    series["series"] = json!({"count": 1});
    let msg = message(post(series).await.unwrap()).await;
    assert!(
        msg.contains("series.count") && msg.contains("series.lastObservedTime"),
        "{msg}"
    );
    let mut typed = valid.clone();
    typed["type"] = json!("Info");
    let msg = message(post(typed).await.unwrap()).await;
    assert!(msg.contains("type: Invalid value"), "{msg}");
    assert_eq!(post(valid.clone()).await.unwrap().status(), 201);

    // On update only the series (and metadata) may change.
    let one = format!("{base}/e1");
    let merge = |body: Value| {
        http()
            .patch(&one)
            .header("Content-Type", "application/merge-patch+json")
            .json(&body)
            .send()
    };
    let msg = message(merge(json!({"note": "changed"})).await.unwrap()).await;
    assert!(
        msg.contains("message: Invalid value: \"changed\": field is immutable"),
        "{msg}"
    );
    let msg = message(merge(json!({"series": {"count": 2}})).await.unwrap()).await;
    assert!(
        msg.contains("series.lastObservedTime: Required value"),
        "{msg}"
    );
    let resp = merge(json!({
        "metadata": {"labels": {"x": "y"}},
        "series": {"count": 2, "lastObservedTime": "2025-01-01T00:00:01.000000Z"},
    }))
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        server.get("events", "default", "e1").unwrap()["series"]["count"],
        2
    );

    // Core v1 Events are not held to these rules.
    let resp = http()
        .post(format!("{}/api/v1/namespaces/default/events", server.url()))
        .json(&json!({"metadata": {"name": "legacy"}, "message": "é".repeat(600)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}
