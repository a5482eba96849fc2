//! The file-mode daemon behind `bccreds watch`: a full pass at start, then a pass on every
//! debounced change, overflow and resync, with health, readiness, metrics and status served
//! over HTTP, and a graceful stop that lets the pass in flight finish its writes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::model::Reason;
use crate::probe::{self, Live, PassStatus, Probe, StatusDocument, Wanted};
use crate::reconcile::{Action, DesiredIndex, PassReport, Reconciler, Scan};
use crate::secret::SecretValue;
use crate::server::{reconciler_metrics, MetricsText, Server, ServerOptions};
use crate::source::FileSource;
use crate::store::StoreError;
use crate::validate::ValidateOptions;
use crate::verify::{BigCommerceClient, Verifier};
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
    /// The bearer token `/status` requires (`--status-token`); without one, `/status` is served
    /// only on a loopback `listen` address.
    pub status_token: Option<SecretValue>,
    /// Names besides localhost that a token-less loopback listener answers (`--status-host`).
    pub status_hosts: Vec<String>,
}

/// What the HTTP endpoints read.
struct State {
    rec: Arc<Reconciler<BigCommerceClient>>,
    client: Arc<BigCommerceClient>,
    first_pass_done: AtomicBool,
    last: Mutex<LastPass>,
    /// Manifest files read and parsed so far (an unchanged file is not read again).
    files_parsed: Arc<AtomicU64>,
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
        StatusDocument {
            credentials: self.rec.statuses(),
            problems: Some(self.rec.problems()),
            last_pass: Some(PassStatus {
                at: last.at,
                trigger: last.trigger.map(str::to_string),
                error: last.error.clone(),
                summary: last.report.as_ref().map(|r| r.summary),
            }),
            leader: None,
        }
        .to_json()
    }

    fn metrics(&self) -> String {
        let mut out = MetricsText::new();
        reconciler_metrics(&mut out, &self.rec, &self.client);
        out.family(
            "bccreds_files_parsed_total",
            "counter",
            "Manifest files read and parsed; a file unchanged since the last pass is not.",
        );
        out.sample(
            "bccreds_files_parsed_total",
            &[],
            self.files_parsed.load(Ordering::Relaxed) as f64,
        );
        out.finish()
    }

    fn live(&self, wanted: Option<&Wanted>) -> Option<Live> {
        let last_pass = {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            last.at.map(|at| probe::LastPass {
                at,
                summary: last
                    .report
                    .as_ref()
                    .map_or_else(|| "no credentials reconciled".into(), |r| r.summary_line()),
                error: last.error.clone(),
            })
        };
        Some(Live {
            last_pass,
            statuses: wanted
                .map_or_else(Vec::new, |w| self.rec.statuses_matching(|s| w.matches(s))),
        })
    }

    fn passes(&self) -> Option<u64> {
        let m = self.rec.metrics();
        Some(m.passes + m.failed_passes)
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
    source: Mutex<FileSource>,
    /// What the last pass saw, so that a change passes over the credentials it touched only.
    index: tokio::sync::Mutex<DesiredIndex>,
}

impl Daemon {
    /// Binds the endpoints; nothing is watched or reconciled until [`Daemon::run`].
    pub async fn bind(
        config: &DaemonConfig,
        rec: Arc<Reconciler<BigCommerceClient>>,
        client: Arc<BigCommerceClient>,
    ) -> Result<Daemon, DaemonError> {
        let source = FileSource::new(vec![config.dir.clone()], config.validate.clone())
            .with_secrets_dir(config.secrets_dir.clone())
            .cached();
        let state = Arc::new(State {
            rec,
            client,
            first_pass_done: AtomicBool::new(false),
            last: Mutex::new(LastPass::default()),
            files_parsed: source.parse_counter().unwrap_or_default(),
        });
        let options = ServerOptions {
            status_token: config.status_token.clone(),
            page_store: Some(state.rec.store().clone()),
            status_hosts: config.status_hosts.clone(),
            ..ServerOptions::default()
        };
        let server = Server::start_with(config.listen, state.clone(), options)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: config.listen,
                source,
            })?;
        Ok(Daemon {
            state,
            server,
            source: Mutex::new(source),
            index: tokio::sync::Mutex::new(DesiredIndex::default()),
        })
    }

    /// The address the endpoints listen on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// One pass; `false` when it could not run (the store failed). A full pass plans every
    /// credential (drift, old verifications, deletions); otherwise only what changed since the
    /// last pass is planned.
    async fn pass(
        &self,
        trigger: &'static str,
        full: bool,
        changed_files: Option<Vec<PathBuf>>,
    ) -> bool {
        let mut index = self.index.lock().await;
        let (scan, result) = watch_pass(
            &self.source,
            &self.state.rec,
            &mut index,
            full,
            changed_files,
        )
        .await;
        drop(index);
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
                for item in report
                    .items
                    .iter()
                    .filter(|i| i.action != Action::Unchanged)
                {
                    tracing::info!(credential = %crate::redact::escape_controls(&item.key.to_string()), action = %item.action, reason = %item.reason, "{}", crate::redact::escape_controls(&item.message));
                }
                // A row the store refused to write, or a verification that reached no verdict
                // (BigCommerce unreachable, rate limited), is retried like a pass that could
                // not start, as its message promises; a verdict is not (BigCommerce would say
                // the same again).
                let retried = report.items.iter().any(|i| {
                    i.reason == Reason::StoreError || (i.failed() && i.reason.is_transient())
                });
                last.error = None;
                last.report = Some(report);
                self.state.first_pass_done.store(true, Ordering::SeqCst);
                !retried
            }
            Err(e) => {
                tracing::error!("pass failed: {e}");
                last.error = Some(e.to_string());
                false
            }
        }
    }

    /// Watches and reconciles until `stop` resolves; a pass in flight always completes first.
    ///
    /// The manifest tree and the secrets directory are both watched: a rotated secret file (or
    /// a mounted Secret's `..data` swap) starts a pass within the debounce. A pass that fails
    /// (the store is down), or that leaves a verification without a verdict (BigCommerce
    /// unreachable or rate limiting), is retried with backoff until one succeeds.
    pub async fn run(
        self,
        config: DaemonConfig,
        stop: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let mut watcher = TreeWatcher::start(&config.dir, config.watch.clone())?;
        let mut secrets = match &config.secrets_dir {
            Some(dir) => Some(TreeWatcher::start_all_files(
                dir,
                WatchOptions {
                    // The manifest watcher's resync covers both.
                    resync_interval: std::time::Duration::ZERO,
                    ..config.watch.clone()
                },
            )?),
            None => None,
        };
        let mut retry = Retry::default();
        retry.after(self.pass("start", true, None).await);
        tokio::pin!(stop);
        loop {
            let due = retry.due;
            tokio::select! {
                // Passes run here, outside the select, so a stop request waits for them.
                trigger = watcher.next() => {
                    // Lost events, a resync or a recovered directory: anything may have
                    // changed, in the tree or in the store.
                    let full = trigger != crate::watch::Trigger::Changed;
                    // With a retry due, the pass must cover what failed, not only the files
                    // that changed.
                    let paths = watcher.changed_paths().filter(|_| retry.due.is_none());
                    retry.after(self.pass(trigger.as_str(), full, paths).await);
                }
                trigger = next_secret(&mut secrets) => {
                    tracing::debug!(%trigger, "secrets changed");
                    let full = trigger != crate::watch::Trigger::Changed;
                    retry.after(self.pass("secrets", full, None).await);
                }
                () = sleep_until(due) => retry.after(self.pass("retry", true, None).await),
                () = &mut stop => break,
            }
        }
        tracing::info!("stopping");
        self.server.shutdown().await;
        self.state.rec.store().close().await;
        Ok(())
    }
}

/// One pass as `watch` runs it, and the scan it planned: over the files the watcher named,
/// read alone when that is enough (and the last full pass went through, so that nothing else
/// is left to do); else over a scan of the whole tree, planning everything when `full` and
/// only what changed since the last pass otherwise.
pub async fn watch_pass<V: Verifier>(
    source: &Mutex<FileSource>,
    rec: &Reconciler<V>,
    index: &mut DesiredIndex,
    full: bool,
    changed_files: Option<Vec<PathBuf>>,
) -> (Scan, Result<PassReport, StoreError>) {
    let changed_files = changed_files.filter(|_| index.is_ready() && !full);
    let (scan, few) = {
        let mut source = source.lock().unwrap_or_else(|p| p.into_inner());
        match changed_files.and_then(|paths| source.scan_changed(&paths)) {
            Some(scan) => (scan, true),
            None => (source.scan(), false),
        }
    };
    let result = if few {
        rec.apply_changed_files(&scan, index).await
    } else {
        rec.apply_changes(&scan, index, full).await
    };
    (scan, result)
}

/// The next trigger of the secrets watcher, or never without one.
async fn next_secret(watcher: &mut Option<TreeWatcher>) -> crate::watch::Trigger {
    match watcher {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// When a failed pass is tried again: 1 s after the first failure, doubling to 60 s.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
    due: Option<tokio::time::Instant>,
}

impl Retry {
    const FIRST: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX: std::time::Duration = std::time::Duration::from_secs(60);

    /// Records a pass's outcome; a success cancels any retry.
    fn after(&mut self, succeeded: bool) {
        if succeeded {
            self.failures = 0;
            self.due = None;
            return;
        }
        let delay = Self::FIRST
            .saturating_mul(1u32 << self.failures.min(6))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        tracing::info!(retry_in = ?delay, "the pass will be retried");
        self.due = Some(tokio::time::Instant::now() + delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_passes_are_retried_from_one_second_doubling_to_a_minute() {
        let mut r = Retry::default();
        let mut delays = Vec::new();
        for _ in 0..9 {
            let before = tokio::time::Instant::now();
            r.after(false);
            let due = r.due.expect("a retry is due");
            delays.push((due - before).as_secs());
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        r.after(true);
        assert_eq!(r.due, None);
        r.after(false);
        assert!(r
            .due
            .is_some_and(|d| d - tokio::time::Instant::now() <= std::time::Duration::from_secs(1)));
    }
}
