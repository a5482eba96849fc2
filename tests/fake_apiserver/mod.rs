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
//! - Secrets' `stringData` folded into base64 `data`; `data` must be base64;
//! - Events written through `events.k8s.io/v1` are validated as Kubernetes validates them
//!   ([`events`]): on create `eventTime`, `type` (Normal/Warning), `reason`, `action`,
//!   `reportingController` and `reportingInstance` are required, `note` is at most 1024 bytes,
//!   the `deprecated*` fields must be unset; on update only `series` (count >= 2,
//!   `lastObservedTime` required) and metadata may change, everything else is immutable
//!   (422 Invalid). kube's `Recorder` creates an Event (POST) on the first publish and, when
//!   the same event (same type, reason, action, reporter, regarding and related objects: the
//!   note is not part of the key) is published again, sends
//!   `PATCH /apis/events.k8s.io/v1/namespaces/{ns}/events/{name}` with a merge patch
//!   (`application/merge-patch+json`) of its whole cached Event, `series` (count,
//!   lastObservedTime) set: the stored Event gets the series and a new resourceVersion, and
//!   watches see a MODIFIED event; another reason (or type, or action) is a new Event.
//!
//! Fault modes, switched at runtime with [`FakeApiServer::set_fault`]; the port, the stored
//! objects, the resourceVersion counter, the watch history and the request log survive them:
//! - [`Fault::Forbidden`]: every request (lists, gets, watches, writes, `/status`, Leases,
//!   Events, non-resource paths) is answered 403 with the `Status` RBAC gives
//!   (`secrets is forbidden: User "system:serviceaccount:bccreds:bccreds" cannot list resource
//!   "secrets" in API group "" in the namespace "default"`, `details` with name/group/kind) and
//!   still logged; open watches end (cleanly, as on an API server restart), so clients find
//!   out on their next request;
//! - [`Fault::Refuse`]: the listening socket is closed, so connecting gets ECONNREFUSED, and
//!   every open connection (kept-alive ones and watch streams) is cut abruptly, as when the
//!   API server dies: a watch ends with a body error, not a clean end;
//! - [`Fault::None`]: serves again on the same 127.0.0.1 port (re-bound with SO_REUSEADDR).
//!
//! Each listening socket is one serving generation ([`fault::Generation`]) whose accepted
//! connections fail every read and write once it is killed, so hyper drops them. [`refused_url`]
//! gives a URL where nothing listens, for clients that must never connect.
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
//! - core `v1` and `events.k8s.io/v1` Events share storage but their fields are not converted,
//!   and Events written through core `v1` are not validated;
//! - RBAC is all or nothing ([`Fault::Forbidden`]), and a real API server would go on
//!   streaming a watch opened before a permission was revoked;
//! - creating with a `metadata.resourceVersion` is 400 BadRequest; `null`s are dropped everywhere
//!   when storing; a DELETE of an object without finalizers answers with the object itself.

#![allow(dead_code)]

pub mod events;
pub mod fault;
pub mod http;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;

use self::fault::Generation;
// Not every test crate that includes this module uses them.
#[allow(unused_imports)]
pub use self::fault::{refused_url, Fault};
use self::http::Shared;
use self::store::Store;

/// A running fake API server; stops when dropped.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    app: axum::Router,
    stop_tx: watch::Sender<bool>,
    state: Mutex<State>,
}

struct State {
    fault: Fault,
    /// The listener and connections being served; `None` while refusing.
    serving: Option<Generation>,
}

impl FakeApiServer {
    /// Binds 127.0.0.1:0 and serves in a background tokio task.
    pub async fn start() -> FakeApiServer {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            shutdown: stop_rx,
            kick: watch::channel(0).0,
            forbidden: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared.clone());
        let listener =
            fault::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let serving = Generation::serve(listener, app.clone());
        FakeApiServer {
            shared,
            addr,
            app,
            stop_tx,
            state: Mutex::new(State {
                fault: Fault::None,
                serving: Some(serving),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT`; the same in every fault mode.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served (or refused) on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube client for this server: default namespace "default", no authentication.
    pub fn client(&self) -> kube::Client {
        bccreds::tls::install_crypto_provider();
        let config = kube::Config::new(self.url().parse().expect("a valid URL"));
        kube::Client::try_from(config).expect("a kube client")
    }

    /// Switches the fault mode; stored objects, the resourceVersion counter, the watch
    /// history and the request log are kept. On return: under [`Fault::Forbidden`] every
    /// new request is 403 and open watches are being ended; under [`Fault::Refuse`] the port
    /// refuses connections and open connections are being cut; back under [`Fault::None`]
    /// the same port serves again.
    pub fn set_fault(&self, fault: Fault) {
        let mut state = self.state();
        self.shared
            .forbidden
            .store(fault == Fault::Forbidden, Ordering::SeqCst);
        match fault {
            Fault::Refuse => {
                if let Some(serving) = state.serving.take() {
                    serving.kill();
                }
            }
            Fault::None | Fault::Forbidden => {
                if state.serving.is_none() {
                    let listener = fault::rebind(self.addr);
                    state.serving = Some(Generation::serve(listener, self.app.clone()));
                }
            }
        }
        if fault == Fault::Forbidden {
            // After the flag, so that watches that resume are answered 403. (Under Refuse,
            // cutting the connections ends the watches.)
            self.shared.drop_watches();
        }
        state.fault = fault;
    }

    /// The current fault mode.
    pub fn fault(&self) -> Fault {
        self.state().fault
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

    /// "VERB path?query" for every request so far (403s included).
    pub fn request_log(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }

    /// How many lines of [`Self::request_log`] contain `needle`.
    pub fn requests_matching(&self, needle: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|l| l.contains(needle))
            .count()
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
        if let Some(serving) = self.state().serving.take() {
            serving.close();
        }
    }
}
