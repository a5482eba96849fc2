//! The HTTP side: one axum fallback handler that parses the path, and the watch streams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, watch};

use super::fault;
use super::patch::{self, PatchType};
use super::resources::{parse_path, ApiError, Resource, Target};
use super::selector::Selectors;
use super::store::{EventType, Record, Store};

/// How long a watch may be idle before it gets a BOOKMARK (when it allowed them).
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// State shared by the server task, its watch streams and the test's handle.
pub struct Shared {
    pub store: Mutex<Store>,
    /// Becomes `true` when the server stops; open watches end then.
    pub shutdown: watch::Receiver<bool>,
    /// Bumped to end every open watch while the server goes on.
    pub kick: watch::Sender<u64>,
    /// [`Fault::Forbidden`](super::fault::Fault::Forbidden): every request is answered 403.
    pub forbidden: AtomicBool,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A test that panicked while holding the lock must not hide the store from the others.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends every open watch stream, as an API server restart does.
    pub fn drop_watches(&self) {
        self.kick.send_modify(|k| *k += 1);
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(err: &ApiError) -> Response {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &err.to_status())
}

/// The object as served: the apiVersion/kind of the requested resource, or only its metadata
/// when the client asked for `PartialObjectMetadata`.
fn present(res: &Resource, obj: &Value, meta_only: bool) -> Value {
    if meta_only {
        return json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        });
    }
    let mut obj = obj.clone();
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind);
    obj
}

fn header(req: &Request, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The single handler for every request.
pub async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let line = match uri.query() {
        Some(q) => format!("{method} {}?{q}", uri.path()),
        None => format!("{method} {}", uri.path()),
    };
    shared.lock().log.push(line);
    if shared.forbidden.load(Ordering::SeqCst) {
        let watch = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
        return error_response(&fault::forbidden(&method, uri.path(), watch));
    }
    let (accept, content_type) = (
        header(&req, header::ACCEPT),
        header(&req, header::CONTENT_TYPE),
    );
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(body) => body,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading the body: {e}"))),
    };
    let request = Req {
        method,
        path: uri.path().to_string(),
        query,
        accept,
        content_type,
        body,
    };
    match route(&shared, &request) {
        Ok(response) => response,
        Err(err) => error_response(&err),
    }
}

struct Req {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    body: Bytes,
}

impl Req {
    fn flag(&self, name: &str) -> bool {
        matches!(self.query.get(name).map(String::as_str), Some("true" | "1"))
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding the body: {e}")))
    }
}

fn route(shared: &Arc<Shared>, req: &Req) -> Result<Response, ApiError> {
    let target = parse_path(&req.path)?;
    let res = target.resource;
    let meta_only = req.accept.contains("as=PartialObjectMetadata");
    let dry_run = req.param("dryRun") == Some("All");
    let ns = target.namespace.clone().unwrap_or_default();
    let not_allowed = || {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    };
    match (&req.method, target.name.as_deref()) {
        (&Method::GET, None) if req.flag("watch") => start_watch(shared, &target, req, meta_only),
        (&Method::GET, None) => {
            let selectors =
                Selectors::parse(res, req.param("labelSelector"), req.param("fieldSelector"))?;
            let store = shared.lock();
            let items: Vec<Value> = store
                .list(res, target.namespace.as_deref())
                .iter()
                .filter(|o| selectors.matches(o))
                .map(|o| present(res, o, meta_only))
                .collect();
            let (kind, api_version) = if meta_only {
                (
                    "PartialObjectMetadataList".to_string(),
                    "meta.k8s.io/v1".to_string(),
                )
            } else {
                (format!("{}List", res.kind), res.api_version())
            };
            let list = json!({
                "kind": kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": store.current_rv().to_string()},
                "items": items,
            });
            Ok(json_response(StatusCode::OK, &list))
        }
        (&Method::GET, Some(name)) => {
            let store = shared.lock();
            let obj = store
                .get(res, &ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(json_response(StatusCode::OK, &present(res, obj, meta_only)))
        }
        (&Method::POST, None) if target.namespace.is_some() || !res.namespaced => {
            let obj = req.json_body()?;
            let created = shared.lock().create(res, &ns, obj, dry_run)?;
            Ok(json_response(
                StatusCode::CREATED,
                &present(res, &created, meta_only),
            ))
        }
        (&Method::PUT, Some(name)) => {
            let obj = req.json_body()?;
            let updated = shared
                .lock()
                .update(res, &ns, name, obj, target.status, dry_run)?;
            Ok(json_response(
                StatusCode::OK,
                &present(res, &updated, meta_only),
            ))
        }
        (&Method::PATCH, Some(name)) => {
            let kind = patch::check(PatchType::from_content_type(&req.content_type), res)?;
            if kind == PatchType::Apply && req.param("fieldManager").is_none() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let mut store = shared.lock();
            let current = store.get(res, &ns, name).cloned();
            match current {
                None if kind == PatchType::Apply && !target.status => {
                    let mut obj = patch::parse_apply(&req.body)?;
                    if obj.pointer("/metadata/name").is_none() {
                        obj["metadata"]["name"] = json!(name);
                    }
                    let created = store.create(res, &ns, obj, dry_run)?;
                    Ok(json_response(
                        StatusCode::CREATED,
                        &present(res, &created, meta_only),
                    ))
                }
                None => Err(ApiError::not_found(res, name)),
                Some(current) => {
                    let new =
                        patch::apply(kind, &present(res, &current, false), &req.body, res, name)?;
                    let updated = store.update(res, &ns, name, new, target.status, dry_run)?;
                    Ok(json_response(
                        StatusCode::OK,
                        &present(res, &updated, meta_only),
                    ))
                }
            }
        }
        (&Method::DELETE, Some(name)) if !target.status => {
            let options = req.json_body()?;
            let dry_run = dry_run
                || options
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.contains(&json!("All")));
            let deleted = shared.lock().delete(res, &ns, name, &options, dry_run)?;
            Ok(json_response(
                StatusCode::OK,
                &present(res, &deleted, meta_only),
            ))
        }
        _ => Err(not_allowed()),
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// What one watch selects, and how it shows objects.
struct WatchFilter {
    res: &'static Resource,
    namespace: Option<String>,
    selectors: Selectors,
    meta_only: bool,
}

impl WatchFilter {
    /// The event this watch sees for a change, if any: a change that moves an object into
    /// the selection is ADDED, one that moves it out is DELETED.
    fn translate(&self, rec: &Record) -> Option<Bytes> {
        if rec.storage != self.res.storage
            || self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != rec.namespace)
        {
            return None;
        }
        let now = self.selectors.matches(&rec.object);
        let before = rec
            .old
            .as_ref()
            .is_none_or(|old| self.selectors.matches(old));
        let kind = match (rec.event, before, now) {
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            (EventType::Added | EventType::Deleted, _, true) => rec.event.as_str(),
            _ => return None,
        };
        Some(event_line(
            kind,
            &present(self.res, &rec.object, self.meta_only),
        ))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let (kind, api_version) = if self.meta_only {
            (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (self.res.kind.to_string(), self.res.api_version())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event_line(
            "BOOKMARK",
            &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}),
        )
    }
}

fn expired(requested: &str, oldest: u64) -> Bytes {
    let err = ApiError::new(
        410,
        "Expired",
        format!("too old resource version: {requested} ({oldest})"),
    );
    event_line("ERROR", &err.to_status())
}

fn start_watch(
    shared: &Arc<Shared>,
    target: &Target,
    req: &Req,
    meta_only: bool,
) -> Result<Response, ApiError> {
    let filter = WatchFilter {
        res: target.resource,
        namespace: target.namespace.clone(),
        selectors: Selectors::parse(
            target.resource,
            req.param("labelSelector"),
            req.param("fieldSelector"),
        )?,
        meta_only,
    };
    let bookmarks = req.flag("allowWatchBookmarks");
    let send_initial = req.flag("sendInitialEvents");
    let timeout = req
        .param("timeoutSeconds")
        .map(|t| {
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))
        })
        .transpose()?
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let requested = req.param("resourceVersion").unwrap_or("0");
    let mut initial = Vec::new();
    let mut close_after_initial = false;
    // Subscribing and reading the history under one lock: nothing is missed or sent twice.
    let (rx, start_rv) = {
        let store = shared.lock();
        let rx = store.subscribe();
        let start = store.current_rv();
        if send_initial || requested == "0" {
            // Synthetic ADDED events for the current state, as Kubernetes sends.
            for obj in store.list(filter.res, filter.namespace.as_deref()) {
                if filter.selectors.matches(&obj) {
                    initial.push(event_line("ADDED", &present(filter.res, &obj, meta_only)));
                }
            }
            if send_initial && bookmarks {
                initial.push(filter.bookmark(start, true));
            }
        } else {
            let from: u64 = requested.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version {requested:?}"))
            })?;
            match store.since(from) {
                Some(records) => initial.extend(records.iter().filter_map(|r| filter.translate(r))),
                None => {
                    initial.push(expired(requested, store.floor()));
                    close_after_initial = true;
                }
            }
        }
        (rx, start)
    };
    let (tx, lines) = mpsc::channel::<Bytes>(64);
    let ends = Ends {
        shutdown: shared.shutdown.clone(),
        kick: shared.kick.subscribe(),
        timeout,
    };
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if !close_after_initial {
            stream_changes(tx, rx, filter, start_rv, bookmarks, ends).await;
        }
    });
    let stream = futures_util::stream::unfold(lines, |mut lines| async move {
        lines
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(line), lines))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a valid response"))
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the server handle is gone: stopped too.
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// What ends a watch besides its client going away.
struct Ends {
    shutdown: watch::Receiver<bool>,
    kick: watch::Receiver<u64>,
    timeout: Duration,
}

async fn stream_changes(
    tx: mpsc::Sender<Bytes>,
    mut rx: broadcast::Receiver<Arc<Record>>,
    filter: WatchFilter,
    mut last_rv: u64,
    bookmarks: bool,
    mut ends: Ends,
) {
    let deadline = tokio::time::sleep(ends.timeout);
    tokio::pin!(deadline);
    loop {
        let line = tokio::select! {
            rec = rx.recv() => match rec {
                Ok(rec) if rec.rv > last_rv => {
                    last_rv = rec.rv;
                    match filter.translate(&rec) {
                        Some(line) => line,
                        None => continue,
                    }
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow a reader: Kubernetes ends such a watch; the client relists.
                    let _ = tx.send(expired(&last_rv.to_string(), last_rv)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(BOOKMARK_INTERVAL), if bookmarks => filter.bookmark(last_rv, false),
            _ = &mut deadline => return,
            _ = stopped(&mut ends.shutdown) => return,
            _ = ends.kick.changed() => return,
            _ = tx.closed() => return,
        };
        if tx.send(line).await.is_err() {
            return;
        }
    }
}
