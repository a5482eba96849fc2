//! A loopback BigCommerce API simulator for tests, the demo and users' CI.
//!
//! It serves the store-level endpoints bccreds verifies with from a [`Fixture`], with the
//! gateway's rate limits, token scopes and injected faults, and logs every store request without
//! its token.

mod bodies;
mod check;
mod endpoints;
pub mod fixture;
pub mod generate;
mod graphql;
mod responses;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use check::{FIXTURE_API_VERSION, FIXTURE_KIND};
pub use fixture::{Fixture, FixtureError, FIXTURE_MAX_NODES};
pub use generate::{Generate, MAX_GENERATED_STORES};

use state::Shared;

/// How long [`Simulator::shutdown`] lets in-flight requests (say, a long injected latency) finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it stops serving, like [`Simulator::shutdown`] without waiting.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// One store request the simulator answered; it never holds the access token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    /// 1, 2, 3… in order of arrival.
    pub seq: u64,
    /// Milliseconds since the simulator started, when the request arrived.
    pub at_ms: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The `{hash}` in `/stores/{hash}/…`.
    pub store: String,
    /// The path after `/stores/{hash}/`, without the query: `v2/store`, `graphql`, …
    pub path: String,
    /// The status sent (the injected one for faults); 0 when the connection was dropped.
    pub status: u16,
}

impl Simulator {
    /// Binds `listen` (e.g. 127.0.0.1:0) and serves the fixture in a background tokio task.
    ///
    /// The fixture is served as given; [`Fixture::load`] is what rejects inconsistent fixtures.
    pub async fn start(fixture: Fixture, listen: SocketAddr) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(fixture));
        let app = routes::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // A dropped sender also stops the server, which is what makes Drop work.
            let signal = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!("the BigCommerce simulator stopped: {e}");
            }
        });
        tracing::debug!(%addr, "BigCommerce simulator listening");
        Ok(Simulator {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address, with the real port when 0 was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, usable as `--bigcommerce-base-url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every store request answered so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.requests()
    }

    /// Revokes an access token: later requests with it get 401, as after its API account is
    /// deleted in the BigCommerce control panel.
    pub fn revoke_token(&self, token: &str) {
        self.shared.revoke(token);
    }

    /// Empties the request log; later requests keep counting `seq` from where it was.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Stops accepting connections and waits (up to a few seconds) for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
