//! The HTTP endpoints of the long-running modes: `/healthz`, `/readyz`, `/metrics`, `/status`
//! and, with a store, the credentials page (`crate::web`).
//!
//! The server knows nothing about manifests; it serves whatever the daemon's or the controller's
//! state reports through [`Probe`], and renders the reconciler's counters for both.
//!
//! The listener (`conn.rs`) bounds what a client can hold: a header-read timeout, an idle
//! timeout and a cap on open connections ([`ServerLimits`]). `/status` (`access.rs`) needs the
//! `--status-token` when one is set, and is refused without one on a listener that is not
//! loopback.

mod access;
mod conn;
pub mod metrics;
mod reconciler_metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use access::{MISDIRECTED, STATUS_REFUSED, STATUS_UNAUTHORIZED};
pub use conn::{ServerLimits, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_GRACE};
pub use metrics::MetricsText;
pub use reconciler_metrics::reconciler_metrics;
// What the server serves is defined beside it, in `crate::probe`, since the page reads it too.
pub use crate::probe::Probe;

use crate::secret::SecretValue;
use access::StatusAccess;

/// The content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// How much longer than the grace period [`Server::shutdown`] waits for the server's own stop
/// before it aborts the server.
const SHUTDOWN_SLACK: Duration = Duration::from_millis(500);

/// How the server listens and who may read `/status`.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Timeouts, the connection cap and the shutdown grace.
    pub limits: ServerLimits,
    /// The bearer token `/status` requires (`--status-token`). Without one, `/status` is served
    /// only on a loopback listener.
    pub status_token: Option<SecretValue>,
    /// The store the credentials page at `/` reads (opened without a key); no page without one.
    pub page_store: Option<Arc<crate::store::Store>>,
    /// Names besides localhost and loopback addresses that a loopback listener without a token
    /// answers `/status` and the page to (`--status-host`); other `Host`s get 421.
    pub status_hosts: Vec<String>,
}

/// A running HTTP server. Dropping it stops serving, like [`Server::shutdown`] without waiting.
pub struct Server {
    addr: SocketAddr,
    grace: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` and serves in a background tokio task, with the default limits and no
    /// status token.
    pub async fn start(listen: SocketAddr, probe: Arc<dyn Probe>) -> std::io::Result<Server> {
        Server::start_with(listen, probe, ServerOptions::default()).await
    }

    /// Binds `listen` and serves in a background tokio task.
    ///
    /// A listener whose address is not loopback (`0.0.0.0` and `::` included) is logged with a
    /// warning: it is reachable from the network, and `/status` then needs the token (or is
    /// refused without one).
    pub async fn start_with(
        listen: SocketAddr,
        probe: Arc<dyn Probe>,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let loopback = addr.ip().to_canonical().is_loopback();
        let protected = options.status_token.is_some();
        let access = Arc::new(StatusAccess::new(
            options.status_token,
            loopback,
            addr.port(),
            &options.status_hosts,
        ));
        let mut app = router(probe.clone(), access.clone());
        let page = options.page_store.is_some();
        if let Some(store) = options.page_store {
            app = app.merge(crate::web::router(store, probe, access));
        }
        let limits = options.limits;
        // A dropped sender also stops the server, which is what makes Drop work.
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(conn::serve(listener, app, limits, stopped));
        let what = if page {
            "the credentials page at /, "
        } else {
            ""
        };
        tracing::info!("serving {what}/healthz, /readyz, /metrics and /status on http://{addr}");
        if !loopback {
            if protected {
                tracing::warn!(
                    "the endpoints on http://{addr} are reachable from the network (not a \
                     loopback address); /status and the page require the --status-token, \
                     /healthz, /readyz and /metrics are open"
                );
            } else {
                tracing::warn!(
                    "the endpoints on http://{addr} are reachable from the network (not a \
                     loopback address); /status and the page are not protected by a token, so \
                     they are refused (403) until --status-token is set; /healthz, /readyz and \
                     /metrics are open"
                );
            }
        }
        Ok(Server {
            addr,
            grace: limits.shutdown_grace,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address, with the real port when 0 was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and lets in-flight requests finish for the grace period
    /// ([`SHUTDOWN_GRACE`] by default); connections still open then are dropped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // The server enforces the grace itself (that is what bounds a dropped Server too);
            // this only guards against a server task that does not stop.
            if tokio::time::timeout(self.grace + SHUTDOWN_SLACK, &mut task)
                .await
                .is_err()
            {
                tracing::warn!("the endpoints did not stop in time; dropping them");
                task.abort();
            }
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Shared = Arc<dyn Probe>;

/// What the handlers share: the probe, and the guard of `/status`.
#[derive(Clone)]
struct AppState {
    probe: Shared,
    access: Arc<StatusAccess>,
}

impl FromRef<AppState> for Shared {
    fn from_ref(state: &AppState) -> Shared {
        state.probe.clone()
    }
}

fn router(probe: Shared, access: Arc<StatusAccess>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .fallback(not_found)
        .with_state(AppState { probe, access })
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok".to_string())
}

async fn readyz(State(probe): State<Shared>) -> Response {
    match ask(probe, |p| p.ready()).await {
        Ok(Ok(())) => text(StatusCode::OK, "ok".to_string()),
        Ok(Err(reason)) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
        Err(failed) => failed,
    }
}

async fn metrics(State(probe): State<Shared>) -> Response {
    match ask(probe, |p| p.metrics()).await {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(failed) => failed,
    }
}

async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = state.access.refusal(&headers) {
        return refused;
    }
    match ask(state.probe, |p| p.status()).await {
        Ok(doc) => (StatusCode::OK, Json(doc)).into_response(),
        Err(failed) => failed,
    }
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found".to_string())
}

/// Calls the probe on the blocking pool: the daemon's state may sit behind a lock held for a
/// whole pass, and a waiting probe must not stall the runtime the server shares with it.
async fn ask<T: Send + 'static>(
    probe: Shared,
    call: impl FnOnce(&dyn Probe) -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(move || call(probe.as_ref()))
        .await
        .map_err(|e| {
            tracing::error!("a health or metrics probe failed: {e}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the probe failed".to_string(),
            )
        })
}

fn text(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Fake {
        ready: AtomicBool,
        panics: bool,
    }

    impl Probe for Fake {
        fn ready(&self) -> Result<(), String> {
            if self.ready.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("the first pass has not completed".to_string())
            }
        }
        fn status(&self) -> serde_json::Value {
            serde_json::json!({"items": []})
        }
        fn metrics(&self) -> String {
            if self.panics {
                panic!("probe bug");
            }
            "up 1\n".to_string()
        }
    }

    fn fake(ready: bool, panics: bool) -> State<Shared> {
        State(Arc::new(Fake {
            ready: AtomicBool::new(ready),
            panics,
        }))
    }

    fn app(access: StatusAccess) -> State<AppState> {
        State(AppState {
            probe: fake(true, false).0,
            access: Arc::new(access),
        })
    }

    async fn parts(response: Response) -> (StatusCode, String, String) {
        let code = response.status();
        let kind = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, kind, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn handlers_answer_with_their_status_and_content_type() {
        let ok = |body: &str| {
            (
                StatusCode::OK,
                TEXT_CONTENT_TYPE.to_string(),
                body.to_string(),
            )
        };
        assert_eq!(parts(healthz().await).await, ok("ok"));
        assert_eq!(parts(readyz(fake(true, false)).await).await, ok("ok"));
        assert_eq!(
            parts(metrics(fake(true, false)).await).await,
            (StatusCode::OK, METRICS_CONTENT_TYPE.into(), "up 1\n".into())
        );
        let (code, kind, body) = parts(
            status(
                app(StatusAccess::Open { hosts: Vec::new() }),
                HeaderMap::new(),
            )
            .await,
        )
        .await;
        assert_eq!((code, kind.as_str()), (StatusCode::OK, "application/json"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"items": []})
        );
        let (code, _, body) = parts(not_found().await).await;
        assert_eq!((code, body.as_str()), (StatusCode::NOT_FOUND, "not found"));
    }

    #[tokio::test]
    async fn not_ready_is_503_with_the_reason() {
        assert_eq!(
            parts(readyz(fake(false, false)).await).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT_CONTENT_TYPE.into(),
                "the first pass has not completed".into()
            )
        );
    }

    #[tokio::test]
    async fn a_panicking_probe_gives_500_not_a_dead_task() {
        let (code, _, body) = parts(metrics(fake(true, true)).await).await;
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "the probe failed")
        );
    }

    #[tokio::test]
    async fn status_is_guarded_before_the_probe_is_asked() {
        let (code, _, body) =
            parts(status(app(StatusAccess::Refused), HeaderMap::new()).await).await;
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::FORBIDDEN, STATUS_REFUSED)
        );
        let token = StatusAccess::new(Some(SecretValue::new("tok")), true, 1, &[]);
        let (code, _, _) = parts(status(app(token.clone()), HeaderMap::new()).await).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        let (code, _, _) = parts(status(app(token), headers).await).await;
        assert_eq!(code, StatusCode::OK);
    }
}
