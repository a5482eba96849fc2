//! The listener of the endpoints: our own accept loop over hyper's HTTP/1 connections, with a
//! header-read timeout, an idle timeout, a cap on open connections and a bounded graceful stop.
//!
//! `axum::serve` has none of these, so a few clients that connect and send nothing (or half a
//! request line, a byte at a time) could hold the endpoints forever.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a client may take to send a whole request head (request line and headers). Hyper
/// starts this clock as soon as it waits for a head: at accept, and after every response on a
/// kept-alive connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay open with no request in flight, whatever hyper is doing with
/// it. A request in flight, however long its response streams, is never idle. (Hyper's
/// header-read clock usually closes a silent connection first; this one does not depend on it.)
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the kernel's accept backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a stop lets in-flight requests finish before their connections are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long the listener waits after an accept error that is not about one connection (too many
/// open files), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one "connection cap reached" warning this often.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// The limits of the endpoints' listener; [`Default`] is what `watch` and `controller` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`MAX_CONNECTIONS`]; at least 1.
    pub max_connections: usize,
    /// See [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Accepts and serves connections until `stop` resolves (or its sender is dropped), then stops
/// accepting, asks every connection to finish the request it is serving and close, and drops
/// whatever is still open after `limits.shutdown_grace`.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    mut stop: oneshot::Receiver<()>,
) {
    let cap = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(cap));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut warned_full: Option<Instant> = None;
    loop {
        while connections.try_join_next().is_some() {}
        // At the cap, the loop stops accepting until a connection closes: new connections wait
        // in the kernel's accept backlog (and are served, in order, as slots free up) rather
        // than being accepted and closed at once. Closing at once would not let anyone in
        // sooner, the held slots free up only as the timeouts expire, but it would turn a flood
        // into a busy accept-and-close loop and fail every well-behaved client that arrives
        // during it (a kubelet probe, a Prometheus scrape) instead of delaying it. The backlog
        // is bounded by the kernel; past it, new SYNs are dropped and clients retry.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                    warned_full = Some(Instant::now());
                    tracing::warn!(
                        "{cap} connections are open on the endpoints' listener; new connections \
                         wait until one closes"
                    );
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break, // never closed
                    },
                    _ = &mut stop => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!("the endpoints' listener cannot accept a connection: {e}");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    _ = &mut stop => break,
                }
            }
        };
        connections.spawn(connection(
            stream,
            app.clone(),
            limits,
            closing_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "requests still running after {:?}; dropping them",
            limits.shutdown_grace
        );
        connections.shutdown().await;
    }
}

/// Errors about one connection (it was reset before we accepted it); the listener is fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until the client closes it, hyper gives up on it (the header-read
/// timeout, a malformed request), it is idle for `limits.idle_timeout`, or the server stops.
/// The permit is held for as long as the connection is open.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ServerLimits,
    closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(watch::Sender::new(Activity {
        in_flight: 0,
        since: Instant::now(),
    }));
    let service = Tracked {
        app,
        activity: activity.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let idle = idle(activity.subscribe(), limits.idle_timeout);
    tokio::pin!(idle);
    let stopping = stopped(closing);
    tokio::pin!(stopping);
    let mut graceful = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("an endpoints connection ended: {e}");
                }
                return;
            }
            // No request in flight: dropping the connection loses nothing.
            () = &mut idle => {
                tracing::debug!("closing an idle endpoints connection");
                return;
            }
            // Finish the request in flight, if any, then close; the server's grace period
            // bounds how long that may take.
            () = &mut stopping, if !graceful => {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves once the server stops (or is gone).
async fn stopped(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Whether a request is being served on a connection, and since when that has (not) been so.
#[derive(Clone, Copy, Debug)]
struct Activity {
    in_flight: usize,
    since: Instant,
}

/// Resolves once no request has been in flight for `timeout`. The connection's own sender is
/// alive for as long as this is polled, so `changed` fails only if the connection is gone.
async fn idle(mut activity: watch::Receiver<Activity>, timeout: Duration) {
    loop {
        let now = *activity.borrow_and_update();
        if now.in_flight > 0 {
            if activity.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        tokio::select! {
            changed = activity.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
            }
            () = tokio::time::sleep_until(now.since + timeout) => return,
        }
    }
}

/// Marks a request in flight from the moment hyper hands it over until its response body has
/// been sent (or the request is abandoned).
struct InFlight(Arc<watch::Sender<Activity>>);

impl InFlight {
    fn start(activity: Arc<watch::Sender<Activity>>) -> InFlight {
        activity.send_modify(|a| {
            a.in_flight += 1;
            a.since = Instant::now();
        });
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.since = Instant::now();
        });
    }
}

/// The router as a hyper service whose requests count as activity until their response body is
/// done: a long response (a stream of events) keeps its connection from being idle.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<watch::Sender<Activity>>,
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let guard = InFlight::start(self.activity.clone());
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request).await?;
            Ok(response.map(|inner| TrackedBody {
                inner,
                _in_flight: guard,
            }))
        })
    }
}

/// A response body that holds its request's [`InFlight`] mark until hyper drops it.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_no_request_in_flight_for_the_whole_timeout() {
        let timeout = Duration::from_secs(30);
        let activity = Arc::new(watch::Sender::new(Activity {
            in_flight: 0,
            since: Instant::now(),
        }));
        let started = Instant::now();
        let idle = tokio::spawn(idle(activity.subscribe(), timeout));
        tokio::time::sleep(Duration::from_secs(20)).await;
        // A request arrives and streams its response for a long time: not idle.
        let request = InFlight::start(activity.clone());
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(!idle.is_finished(), "idle while a request was in flight");
        drop(request);
        let done = Instant::now();
        idle.await.unwrap();
        assert_eq!(Instant::now() - done, timeout);
        assert!(Instant::now() - started >= Duration::from_secs(170));
    }

    #[test]
    fn the_defaults_are_the_documented_limits() {
        let limits = ServerLimits::default();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(limits.idle_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_connections, 256);
        assert_eq!(limits.shutdown_grace, Duration::from_secs(2));
    }
}
