//! The credentials page: a read-only view of the store for the people who used UnoPim's page.
//! The list (`/`) searches, sorts and filters by query parameters, so a URL can be shared and
//! the page works without JavaScript; `/credentials/{id}` shows one credential. Under `watch`
//! and `controller`, `/events` tells open pages when a pass ended. Nothing here can show a
//! secret: rows are read without a key, and `view` reduces secrets to "set" / "not set".

mod query;
mod render;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub use query::{Column, ListQuery, RawQuery, DEFAULT_PER_PAGE, MAX_PER_PAGE};
pub use view::{ConditionView, Detail};

use crate::probe::{Live, Probe, Wanted};
use crate::store::Store;

/// The Content-Security-Policy of every page: only our own stylesheet and script, no inline
/// code, no frames, forms only to ourselves.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; \
connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// How often `/events` looks for a finished pass.
const EVENT_POLL: Duration = Duration::from_millis(500);

/// Open `/events` streams at most: each holds a connection, and the listener's cap
/// (`server::MAX_CONNECTIONS`) must leave room for the kubelet's and Prometheus' requests.
pub const MAX_EVENT_STREAMS: usize = 64;

/// How a page request is let in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageAccess {
    /// Serve it.
    Allowed,
    /// The right `?token=` was given: set this cookie (`name=value; attributes`) and redirect
    /// to the URL without the token.
    SetCookie(String),
    /// Refused, with the status and why.
    Refused(StatusCode, &'static str),
}

/// Who may see the page: the listener's own rules (its token, its names), which the server
/// holds and passes in, so that the page needs nothing else of the server.
pub(crate) trait PageGuard: Send + Sync + 'static {
    /// How a request with `headers` and `?token=` (percent-decoded) is let in.
    fn page(&self, headers: &HeaderMap, query_token: Option<&str>) -> PageAccess;
}

/// What the page handlers share.
#[derive(Clone)]
struct PageState {
    store: Arc<Store>,
    probe: Arc<dyn Probe>,
    access: Arc<dyn PageGuard>,
    streams: Arc<tokio::sync::Semaphore>,
    live_calls: Arc<tokio::sync::Semaphore>,
    store_reads: Arc<tokio::sync::Semaphore>,
}

/// The page routes over `store` (opened without a key), with `probe` for live status and
/// `access` deciding who sees them.
pub(crate) fn router(
    store: Arc<Store>,
    probe: Arc<dyn Probe>,
    access: Arc<dyn PageGuard>,
) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/credentials/{id}", get(detail))
        .route("/events", get(events))
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .with_state(PageState {
            store,
            probe,
            access,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
            live_calls: Arc::new(tokio::sync::Semaphore::new(LIVE_CALLS)),
            store_reads: Arc::new(tokio::sync::Semaphore::new(STORE_READS)),
        })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// An HTML response with the page's security headers.
fn page(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `?partial=`, besides the list's own parameters (`?token=` is read by [`query_token`]).
#[derive(Debug, Default, Deserialize)]
struct Extra {
    partial: Option<String>,
}

/// The `token` parameter of a query string, percent-decoded. A `+` stays a `+` (form decoding
/// would make it a space): tokens never hold spaces, and base64 tokens are full of `+`.
fn query_token(uri: &Uri) -> Option<String> {
    let query = uri.query()?.replace('+', "%2B");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// The response that replaces the page when access is not allowed, or None.
fn guard(state: &PageState, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    match state.access.page(headers, query_token(uri).as_deref()) {
        PageAccess::Allowed => None,
        PageAccess::SetCookie(cookie) => {
            let mut response = (StatusCode::SEE_OTHER, "").into_response();
            let location = without_token(uri);
            if let (Ok(cookie), Ok(location)) = (
                HeaderValue::from_str(&cookie),
                HeaderValue::from_str(&location),
            ) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
                response.headers_mut().insert(header::LOCATION, location);
            }
            Some(response)
        }
        PageAccess::Refused(code, why) => Some(page(code, why.to_string())),
    }
}

/// The request's path and query without its `token` parameter.
fn without_token(uri: &Uri) -> String {
    let kept: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "token")
            .collect();
    if kept.is_empty() {
        return uri.path().to_string();
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("{}?{query}", uri.path())
}

/// Page reads of the store at once, no more than its pool's connections: a burst of page loads
/// waits here, in order, rather than timing out on the pool (a 503) while others hold it.
const STORE_READS: usize = 4;

/// Blocking-pool calls for live status at once: under a burst of page loads the others wait
/// here, instead of each holding a thread of its own.
const LIVE_CALLS: usize = 4;

/// Asks the probe on the blocking pool, as the other endpoints do (a daemon's state may sit
/// behind a lock for a whole pass), for the last pass and `wanted`'s status.
async fn live(state: &PageState, wanted: Option<Wanted>) -> Option<Live> {
    let _permit = state.live_calls.acquire().await.ok()?;
    let probe = state.probe.clone();
    tokio::task::spawn_blocking(move || probe.live(wanted.as_ref()))
        .await
        .ok()
        .flatten()
}

fn store_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!("the credentials page cannot read the store: {e}");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The store cannot be read right now; this page retries when reloaded.".into(),
    )
}

async fn list(
    State(state): State<PageState>,
    Query(raw): Query<RawQuery>,
    Query(extra): Query<Extra>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refused) = guard(&state, &headers, &uri) {
        return refused;
    }
    let q = ListQuery::parse(&raw);
    // Only the page is read: the database filters, sorts and cuts it.
    let read = state.store_reads.acquire().await;
    let rows = state.store.page(&q.to_store()).await;
    drop(read);
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return store_error(e),
    };
    if extra.partial.as_deref() == Some("results") {
        return page(StatusCode::OK, render::results(&rows, &q).into_string());
    }
    let live = live(&state, None).await;
    let body = render::list_page(&rows, &q, live.as_ref());
    page(StatusCode::OK, body)
}

async fn detail(
    State(state): State<PageState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refused) = guard(&state, &headers, &uri) {
        return refused;
    }
    let Ok(number) = id.parse::<i64>() else {
        return page(StatusCode::NOT_FOUND, render::not_found_page(&id));
    };
    let read = state.store_reads.acquire().await;
    let found = state.store.get_with_owner(number).await;
    drop(read);
    let found = match found {
        Ok(found) => found,
        // A row that cannot be read fails alone: the others' pages still work.
        Err(e) => match e.unreadable_column() {
            Some(problem) => {
                let body = render::unreadable_page(number, &problem.to_string());
                return page(StatusCode::INTERNAL_SERVER_ERROR, body);
            }
            None => return store_error(e),
        },
    };
    let Some((row, own)) = found else {
        return page(StatusCode::NOT_FOUND, render::not_found_page(&id));
    };
    let wanted = Wanted {
        id: number,
        source_key: own.as_ref().map(|o| o.source_key.clone()),
    };
    let live = live(&state, Some(wanted)).await;
    let detail = Detail::new(row, own, live.as_ref());
    let body = render::detail_page(&detail, live.as_ref());
    page(StatusCode::OK, body)
}

/// Server-sent events: `pass` whenever the reconciler finished another pass. Without a
/// reconciler (`serve`) the stream only keeps itself alive.
async fn events(State(state): State<PageState>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refused) = guard(&state, &headers, &uri) {
        return refused;
    }
    // Past the cap a page still works; it only stops following passes (and says why).
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many pages follow the passes already; reload this one later.".into(),
        );
    };
    let probe = state.probe.clone();
    let passes = |p: Arc<dyn Probe>| async move {
        tokio::task::spawn_blocking(move || p.passes())
            .await
            .ok()
            .flatten()
    };
    let first = passes(probe.clone()).await;
    // The permit travels with the stream's state and is given back when the page goes away.
    let stream = futures_util::stream::unfold(
        (probe, first, permit),
        move |(probe, seen, permit)| async move {
            loop {
                tokio::time::sleep(EVENT_POLL).await;
                let now = passes(probe.clone()).await;
                if now != seen {
                    let event = Event::default()
                        .event("pass")
                        .data(now.unwrap_or_default().to_string());
                    return Some((
                        Ok::<_, std::convert::Infallible>(event),
                        (probe, now, permit),
                    ));
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
