//! The HTTP handlers: the admin endpoints and the store request pipeline (unknown store, faults,
//! rate limit, token, scope, then the endpoint).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::bodies;
use super::endpoints::Endpoint;
use super::graphql::{self, GraphQlRequest};
use super::responses::{outside_not_found, status_code, Reply};
use super::state::{RateStatus, Shared, StoreRef, DEFAULT_QUOTA, DEFAULT_WINDOW_MS};
use super::LoggedRequest;

/// GraphQL queries are small; anything bigger is not a query bccreds sends.
const MAX_GRAPHQL_BODY: usize = 64 * 1024;

/// The simulator's routes over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__admin/requests", get(admin_log).delete(admin_clear))
        .fallback(any_request)
        .with_state(shared)
}

async fn admin_log(State(sim): State<Arc<Shared>>) -> Json<Vec<LoggedRequest>> {
    Json(sim.requests())
}

async fn admin_clear(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

/// `/stores/{hash}/{path}` split into the hash and the path; `None` outside `/stores/`.
fn split_store_path(uri_path: &str) -> Option<(&str, &str)> {
    let rest = uri_path.strip_prefix("/stores/")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// One parsed store request; the token stays here and is never logged.
struct StoreRequest<'a> {
    method: Method,
    hash: &'a str,
    path: &'a str,
    token: Option<String>,
    query: Option<&'a str>,
}

/// Adds its entry to the log when dropped, so that a request whose client gave up (say, during
/// an injected latency) is logged too, with status 0, when hyper drops the handler.
struct LogOnDrop {
    sim: Arc<Shared>,
    entry: LoggedRequest,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.sim.record(self.entry.clone());
    }
}

async fn any_request(State(sim): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some((hash, path)) = split_store_path(parts.uri.path()) else {
        return outside_not_found();
    };
    let (seq, at_ms) = sim.arrive();
    let mut log = LogOnDrop {
        entry: LoggedRequest {
            seq,
            at_ms,
            method: parts.method.to_string(),
            store: hash.to_string(),
            path: path.to_string(),
            status: 0,
        },
        sim: Arc::clone(&sim),
    };
    let request = StoreRequest {
        method: parts.method.clone(),
        hash,
        path,
        token: parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        query: parts.uri.query(),
    };
    let reply = handle(&sim, &request, body).await;
    log.entry.status = reply.logged_status();
    tracing::debug!(
        seq,
        method = %request.method,
        store = hash,
        path,
        status = log.entry.status,
        "simulated request"
    );
    drop(log);
    reply.into_response()
}

/// The pipeline, in the gateway's order: unknown store, faults, rate limit, token, scope, endpoint.
async fn handle(sim: &Shared, req: &StoreRequest<'_>, body: Body) -> Reply {
    let Some(store) = sim.store(req.hash) else {
        let status = if sim.fixture().unknown_store_status == 403 {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        return Reply::error(status, RateStatus::fresh(DEFAULT_QUOTA, DEFAULT_WINDOW_MS));
    };
    let token = req
        .token
        .as_deref()
        .and_then(|t| sim.token_index(t, req.hash));

    if let Some(fault) = sim.take_fault(store, token, req.path) {
        if fault.latency_ms > 0 {
            tokio::time::sleep(fault.latency()).await;
        }
        if fault.drop_connection {
            return Reply::Drop;
        }
        if let Some(status) = fault.status {
            // Injected answers stand in for the platform failing, so they use no quota.
            let rate = sim.peek(store);
            let status = status_code(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                let reset_ms = fault.reset_ms.unwrap_or(rate.reset_ms);
                return Reply::limited(RateStatus { reset_ms, ..rate });
            }
            return Reply::error(status, rate);
        }
    }

    let rate = match sim.admit(store) {
        Ok(rate) => rate,
        Err(limited) => return Reply::limited(limited),
    };
    let Some(token) = token else {
        return Reply::error(StatusCode::UNAUTHORIZED, rate);
    };
    let Some(endpoint) = Endpoint::parse(req.path) else {
        return Reply::error(StatusCode::NOT_FOUND, rate);
    };
    if !endpoint.allowed(sim.scopes(token), &req.method) {
        return Reply::error(StatusCode::FORBIDDEN, rate);
    }
    serve(store, endpoint, req, body, rate).await
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Step 6: the endpoint's body.
async fn serve(
    store: StoreRef<'_>,
    endpoint: Endpoint,
    req: &StoreRequest<'_>,
    body: Body,
    rate: RateStatus,
) -> Reply {
    let s = store.store;
    let wanted = if endpoint == Endpoint::GraphQl {
        req.method == Method::POST
    } else {
        req.method == Method::GET || req.method == Method::HEAD
    };
    if !wanted {
        return Reply::error(StatusCode::METHOD_NOT_ALLOWED, rate);
    }
    match endpoint {
        Endpoint::Store => Reply::ok(bodies::store(s, store.index), rate),
        Endpoint::Time => Reply::ok(bodies::time(unix_seconds()), rate),
        Endpoint::Currencies => {
            let (page, limit) = bodies::paging(req.query);
            match bodies::currencies_page(s, page, limit) {
                Some(list) => Reply::ok(list, rate),
                None => Reply::no_content(rate),
            }
        }
        Endpoint::Locale => Reply::ok(bodies::locale(s), rate),
        Endpoint::Channels => Reply::ok(bodies::channels_list(s), rate),
        Endpoint::Channel(id) => match bodies::channel(s, id) {
            Some(c) => Reply::ok(bodies::channel_single(&c), rate),
            None => Reply::error(StatusCode::NOT_FOUND, rate),
        },
        Endpoint::CurrencyAssignments(id) => match bodies::channel(s, id) {
            Some(c) => Reply::ok(bodies::currency_assignments(&c), rate),
            None => Reply::error(StatusCode::NOT_FOUND, rate),
        },
        Endpoint::CatalogSummary => Reply::ok(bodies::catalog_summary(s), rate),
        Endpoint::GraphQl => graphql_reply(store, body, rate).await,
    }
}

async fn graphql_reply(store: StoreRef<'_>, body: Body, rate: RateStatus) -> Reply {
    let bad =
        |message: &str| Reply::json(StatusCode::BAD_REQUEST, &graphql::error_body(message), rate);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_GRAPHQL_BODY).await else {
        return bad("the request body could not be read or is too large");
    };
    let Ok(request) = serde_json::from_slice::<GraphQlRequest>(&bytes) else {
        return bad("the body must be JSON with a `query` string");
    };
    let id = graphql::channel_id(&request.query, request.variables.as_ref());
    match bodies::channel(store.store, id) {
        Some(c) => Reply::ok(graphql::locales_body(&c.locales), rate),
        None => Reply::ok(
            graphql::error_body(&format!("channel bc/store/channel/{id} does not exist")),
            rate,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::split_store_path;

    #[test]
    fn store_paths_split_into_hash_and_path() {
        assert_eq!(
            split_store_path("/stores/abc/v2/store"),
            Some(("abc", "v2/store"))
        );
        assert_eq!(split_store_path("/stores/abc"), Some(("abc", "")));
        assert_eq!(split_store_path("/stores/"), Some(("", "")));
        assert_eq!(split_store_path("/store/abc/v2/store"), None);
        assert_eq!(split_store_path("/"), None);
    }
}
