//! An in-memory Kubernetes API server over HTTP on 127.0.0.1, good enough for kube-runtime
//! (watchers, `Controller`, `finalizer`, events `Recorder`, Lease-based leader election), so
//! that the controller can be tested without a cluster.
//!
//! Served resources are listed in [`resources::RESOURCES`]; paths follow the API conventions:
//! `/api/v1/namespaces/{ns}/{plural}[/{name}[/status]]`, `/api/v1/{plural}`,
//! `/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/status]]`, `/apis/{group}/{version}/{plural}`.
//!
//! What it does as Kubernetes does:
//! - one global resourceVersion counter bumped by every write; `uid`, `creationTimestamp` and
//!   `generation` set by the server; `generation` (custom resources) moves only when something
//!   outside `metadata` and `status` changes; a write that changes nothing is not a write;
//! - 404 NotFound, 409 AlreadyExists, 409 Conflict on a stale `metadata.resourceVersion`
//!   (PUT, and any patch whose result carries one), 422 Invalid, all as `Status` bodies;
//! - lists (`{Kind}List`), `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`) and
//!   `fieldSelector` (`metadata.name`, `metadata.namespace`; `type` for Secrets);
//! - metadata-only lists, gets and watches (`Accept: ...;as=PartialObjectMetadata[List]...`);
//! - watches from a resourceVersion (bounded history of [`store::HISTORY_LIMIT`] events, 410
//!   Expired as an `ERROR` event past it), from "now" with synthetic ADDED events (`resourceVersion`
//!   unset or "0"), streaming lists (`sendInitialEvents=true`, closed by a BOOKMARK annotated
//!   `k8s.io/initial-events-end`), BOOKMARKs every [`http::BOOKMARK_INTERVAL`] while idle,
//!   `timeoutSeconds`, and ADDED/DELETED for objects that move into or out of a selector;
//! - PATCH as JSON patch (with `test`; a failed test is 422), merge patch, strategic merge patch
//!   (415 for custom resources), and server-side apply (`fieldManager` required, may create);
//! - `/status` subresource isolation both ways; finalizers and `deletionTimestamp` (DELETE marks
//!   and, like `markAsDeleting`, bumps a tracked `generation` once; removing the last finalizer
//!   deletes; adding a finalizer while deleting is 422); DeleteOptions preconditions (409);
//!   `dryRun=All`;
//! - Secrets' `stringData` folded into base64 `data`; `data` must be base64.
//!
//! Where it differs from Kubernetes (on purpose, to stay small):
//! - server-side apply is a JSON merge of the applied fields into the object: no managedFields,
//!   no conflicts between field managers (`force` is accepted and ignored), and fields a manager
//!   stops applying are not removed; lists are replaced whole (finalizers included);
//! - strategic merge patch on built-in resources is a plain merge patch (lists replaced whole);
//! - `limit`/`continue` are ignored (one page, no continue token), and so is the
//!   `resourceVersion` of a list or get (always the latest state);
//! - no validation against schemas, no defaulting (except Secret `type: Opaque`), no admission,
//!   no garbage collection of `ownerReferences`, no namespaces lifecycle (any namespace exists);
//! - core `v1` and `events.k8s.io/v1` Events share storage but their fields are not converted;
//! - creating with a `metadata.resourceVersion` is 400 BadRequest; `null`s are dropped everywhere
//!   when storing; a DELETE of an object without finalizers answers with the object itself.

#![allow(dead_code)]

pub mod http;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::http::Shared;
use self::store::Store;

/// A running fake API server; stops when dropped.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FakeApiServer {
    /// Binds 127.0.0.1:0 and serves in a background tokio task.
    pub async fn start() -> FakeApiServer {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            shutdown: stop_rx.clone(),
            kick: watch::channel(0).0,
        });
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let mut signal = stop_rx;
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = signal.wait_for(|stopped| *stopped).await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await;
        });
        FakeApiServer {
            shared,
            addr,
            stop_tx,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client for this server: default namespace "default", no authentication.
    pub fn client(&self) -> kube::Client {
        bccreds::tls::install_crypto_provider();
        let config = kube::Config::new(self.url().parse().expect("a valid URL"));
        kube::Client::try_from(config).expect("a kube client")
    }

    /// Stops serving: no new connections, open watch streams end.
    pub fn stop(self) {
        // Drop does it.
    }

    /// One stored object of `resource` (a plural, e.g. "secrets"); `namespace` "" for cluster-scoped.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let res = resources::by_storage(resource)?;
        self.shared.lock().get(res, namespace, name).cloned()
    }

    /// Stored objects of `resource`, in one namespace or all, ordered by namespace and name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        match resources::by_storage(resource) {
            Some(res) => self.shared.lock().list(res, namespace),
            None => Vec::new(),
        }
    }

    /// "VERB path?query" for every request so far.
    pub fn request_log(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().current_rv()
    }

    /// Forgets the watch history, as an etcd compaction does, and ends open watches (as an
    /// API server restart does) so that clients resume from their last resourceVersion and
    /// get 410 Expired.
    pub fn compact_and_drop_watches(&self) {
        self.shared.lock().compact();
        self.shared.drop_watches();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
        self.task.abort();
    }
}
