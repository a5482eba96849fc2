//! The file-mode daemon behind `bccreds watch`: a full pass at start, then a pass on every
//! debounced change, overflow and resync, with health, readiness, metrics and status served
//! over HTTP, and a graceful stop that lets the pass in flight finish its writes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::reconcile::{PassReport, Reconciler};
use crate::server::{MetricsText, Probe, Server};
use crate::source::files;
use crate::validate::{FileCache, ValidateOptions};
use crate::verify::BigCommerceClient;
use crate::watch::{TreeWatcher, WatchError, WatchOptions};

/// Where and how the daemon watches.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// The manifest directory.
    pub dir: PathBuf,
    /// Validation options.
    pub validate: ValidateOptions,
    /// Root of `file:` secret sources.
    pub secrets_dir: Option<PathBuf>,
    /// Debounce, resync interval and polling.
    pub watch: WatchOptions,
    /// Address of the HTTP endpoints.
    pub listen: SocketAddr,
}

/// What the HTTP endpoints read.
struct State {
    rec: Arc<Reconciler<BigCommerceClient>>,
    client: Arc<BigCommerceClient>,
    first_pass_done: AtomicBool,
    last: Mutex<LastPass>,
}

#[derive(Default)]
struct LastPass {
    at: Option<DateTime<Utc>>,
    error: Option<String>,
    report: Option<PassReport>,
    trigger: Option<&'static str>,
}

impl Probe for State {
    fn ready(&self) -> Result<(), String> {
        if !self.first_pass_done.load(Ordering::SeqCst) {
            return Err("the first full pass has not completed yet".into());
        }
        match &self.last.lock().unwrap_or_else(|p| p.into_inner()).error {
            Some(e) => Err(format!("the last pass could not use the store: {e}")),
            None => Ok(()),
        }
    }

    fn status(&self) -> serde_json::Value {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        json!({
            "credentials": self.rec.statuses(),
            "problems": self.rec.problems(),
            "lastPass": {
                "at": last.at,
                "trigger": last.trigger,
                "error": last.error,
                "summary": last.report.as_ref().map(|r| r.summary),
            },
        })
    }

    fn metrics(&self) -> String {
        let mut out = MetricsText::new();
        reconciler_metrics(&mut out, &self.rec, &self.client);
        out.finish()
    }
}

/// The reconciler's and the BigCommerce client's counters, for `watch` and `controller` alike.
pub fn reconciler_metrics(
    out: &mut MetricsText,
    rec: &Reconciler<BigCommerceClient>,
    client: &BigCommerceClient,
) {
    let m = rec.metrics();
    out.family("bccreds_passes_total", "counter", "Reconcile passes run.");
    out.sample("bccreds_passes_total", &[], m.passes as f64);
    out.family(
        "bccreds_pass_failures_total",
        "counter",
        "Passes that could not read or write the store.",
    );
    out.sample("bccreds_pass_failures_total", &[], m.failed_passes as f64);
    out.family(
        "bccreds_pass_duration_seconds",
        "summary",
        "Duration of reconcile passes.",
    );
    out.sample("bccreds_pass_duration_seconds_sum", &[], m.pass_seconds_sum);
    out.sample("bccreds_pass_duration_seconds_count", &[], m.passes as f64);
    out.family(
        "bccreds_last_pass_duration_seconds",
        "gauge",
        "Duration of the last pass.",
    );
    out.sample(
        "bccreds_last_pass_duration_seconds",
        &[],
        m.last_pass_seconds,
    );
    out.family(
        "bccreds_results_total",
        "counter",
        "Per-credential results of passes.",
    );
    for result in ["created", "updated", "deleted", "unchanged", "failed"] {
        let n = m.results.get(result).copied().unwrap_or(0);
        out.sample("bccreds_results_total", &[("result", result)], n as f64);
    }
    out.family(
        "bccreds_bigcommerce_requests_total",
        "counter",
        "BigCommerce API requests by HTTP status (0: no response).",
    );
    for (status, n) in client.request_counts() {
        out.sample(
            "bccreds_bigcommerce_requests_total",
            &[("status", &status.to_string())],
            n as f64,
        );
    }
    out.family(
        "bccreds_managed_credentials",
        "gauge",
        "Credentials by Ready condition.",
    );
    let statuses = rec.statuses();
    for ready in ["True", "False", "Unknown"] {
        let n = statuses
            .iter()
            .filter(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == ready)
            })
            .count();
        out.sample("bccreds_managed_credentials", &[("ready", ready)], n as f64);
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The HTTP endpoints could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The tree cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// A running daemon's endpoints, for tests and the CLI.
pub struct Daemon {
    state: Arc<State>,
    server: Server,
    cache: Mutex<FileCache>,
}

impl Daemon {
    /// Binds the endpoints; nothing is watched or reconciled until [`Daemon::run`].
    pub async fn bind(
        config: &DaemonConfig,
        rec: Arc<Reconciler<BigCommerceClient>>,
        client: Arc<BigCommerceClient>,
    ) -> Result<Daemon, DaemonError> {
        let state = Arc::new(State {
            rec,
            client,
            first_pass_done: AtomicBool::new(false),
            last: Mutex::new(LastPass::default()),
        });
        let server = Server::start(config.listen, state.clone())
            .await
            .map_err(|source| DaemonError::Listen {
                addr: config.listen,
                source,
            })?;
        Ok(Daemon {
            state,
            server,
            cache: Mutex::new(FileCache::default()),
        })
    }

    /// The address the endpoints listen on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    async fn pass(&self, config: &DaemonConfig, trigger: &'static str) {
        let scan = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            files::scan_cached(
                std::slice::from_ref(&config.dir),
                &config.validate,
                config.secrets_dir.as_deref(),
                Some(&mut cache),
            )
        };
        let result = self.state.rec.apply(&scan).await;
        let mut last = self.state.last.lock().unwrap_or_else(|p| p.into_inner());
        last.at = Some(Utc::now());
        last.trigger = Some(trigger);
        match result {
            Ok(report) => {
                let s = report.summary;
                tracing::info!(
                    trigger,
                    created = s.created,
                    updated = s.updated,
                    deleted = s.deleted,
                    unchanged = s.unchanged,
                    failed = s.failed,
                    "pass done"
                );
                for problem in &scan.problems {
                    tracing::warn!("{problem}");
                }
                for item in report.items.iter().filter(|i| i.action != "Unchanged") {
                    tracing::info!(credential = %format!("{}/{}", item.namespace, item.name), action = %item.action, reason = %item.reason, "{}", item.message);
                }
                last.error = None;
                last.report = Some(report);
                self.state.first_pass_done.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::error!("pass failed: {e}");
                last.error = Some(e.to_string());
            }
        }
    }

    /// Watches and reconciles until `stop` resolves; a pass in flight always completes first.
    pub async fn run(
        self,
        config: DaemonConfig,
        stop: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let mut watcher = TreeWatcher::start(&config.dir, config.watch.clone())?;
        self.pass(&config, "start").await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                // Passes run here, outside the select, so a stop request waits for them.
                trigger = watcher.next() => self.pass(&config, trigger.as_str()).await,
                () = &mut stop => break,
            }
        }
        tracing::info!("stopping");
        self.server.shutdown().await;
        self.state.rec.store().close().await;
        Ok(())
    }
}
