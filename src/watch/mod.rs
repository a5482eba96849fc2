//! Watching a manifest tree and signalling, debounced, when a rescan is due.
//!
//! Events are hints: the watcher never says what changed, only that the reconciler should scan
//! the tree again and why ([`Trigger`]). It follows the tree the way a rescan does (symlinks
//! followed, `.git` and `..*` skipped), survives the directory being deleted and recreated or
//! swapped through a symlink (Kubernetes ConfigMap volumes, git-sync), and signals a full resync
//! periodically in case an event was missed anyway.

mod debounce;
mod filter;
mod tree;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use notify::{Config, Event, PollWatcher, RecommendedWatcher, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use debounce::{BurstKind, Debouncer, Due};
use filter::Class;
use tree::{Backend, SyncReport, Tree};

/// How the tree is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the last event before a rescan is signalled (default 300 ms).
    pub debounce: Duration,
    /// A full rescan is signalled this often anyway (default 5 min); zero turns it off.
    pub resync_interval: Duration,
    /// `Some(interval)`: poll with notify's `PollWatcher` (NFS and other filesystems without
    /// inotify) instead of inotify; every watched directory's files are read at each poll.
    pub poll: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(300),
            resync_interval: Duration::from_secs(300),
            poll: None,
        }
    }
}

/// Why a rescan is due (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Files or directories in the tree changed.
    Changed,
    /// Events were lost (the kernel's queue overflowed, or the watcher failed): anything may
    /// have changed.
    Overflow,
    /// The resync interval passed.
    Resync,
    /// The watched directory was missing or replaced, and is watched again.
    Recovered,
}

impl Trigger {
    /// A lowercase name, for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Changed => "changed",
            Trigger::Overflow => "overflow",
            Trigger::Resync => "resync",
            Trigger::Recovered => "recovered",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a tree cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The per-user inotify watch limit is reached.
    #[error("cannot watch {path}: the inotify watch limit is reached: raise it with `sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d to keep it), or run with --poll 5s")]
    WatchLimit { path: String },
    /// The per-user inotify instance limit (or the open-file limit) is reached.
    #[error("cannot watch {path}: too many inotify instances or open files: raise `sysctl fs.inotify.max_user_instances=1024` (and in /etc/sysctl.d to keep it) or `ulimit -n`, or run with --poll 5s")]
    InstanceLimit { path: String },
    /// Neither the directory nor its parent exists, so there is nothing to wait on.
    #[error("{path}: no such directory, and its parent does not exist either")]
    Missing { path: String },
    /// The path names something other than a directory.
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    /// A zero poll interval would spin.
    #[error("the poll interval must be longer than zero")]
    ZeroPollInterval,
    /// Any other failure to set up watching.
    #[error("cannot watch {path}: {source}")]
    Notify {
        path: String,
        #[source]
        source: notify::Error,
    },
}

impl WatchError {
    fn from_notify(err: notify::Error, path: &Path) -> WatchError {
        let path = path.display().to_string();
        if is_watch_limit(&err) {
            return WatchError::WatchLimit { path };
        }
        match &err.kind {
            notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::EMFILE) => {
                WatchError::InstanceLimit { path }
            }
            _ => WatchError::Notify { path, source: err },
        }
    }
}

/// Whether notify says the inotify watch limit is reached (it maps ENOSPC itself, mostly).
fn is_watch_limit(err: &notify::Error) -> bool {
    match &err.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(libc::ENOSPC),
        _ => false,
    }
}

type Raw = notify::Result<Event>;

/// A watched manifest tree; [`TreeWatcher::next`] waits for the next debounced rescan trigger.
pub struct TreeWatcher {
    root: PathBuf,
    tree: Arc<Mutex<Tree>>,
    events: mpsc::UnboundedReceiver<Raw>,
    events_closed: bool,
    debouncer: Debouncer,
    probe_every: Duration,
    next_probe: Option<Instant>,
    polling: bool,
    files: filter::Files,
    /// Files named by the events of the burst being debounced; None once anything broader
    /// happened (a directory changed, events were lost).
    pending_paths: Option<BTreeSet<PathBuf>>,
    /// The files of the last trigger, when it was a change of known files only.
    fired_paths: Option<Vec<PathBuf>>,
    #[cfg(test)]
    inject: mpsc::UnboundedSender<Raw>,
}

impl TreeWatcher {
    /// Starts watching `dir` (recursively, following the manifest tree the way a rescan would).
    ///
    /// Start it before the first full pass, so that nothing changed in between goes unseen. A
    /// directory that does not exist yet (git-sync has not cloned) is waited for when its parent
    /// exists; its arrival is a [`Trigger::Recovered`].
    pub fn start(dir: &Path, opts: WatchOptions) -> Result<TreeWatcher, WatchError> {
        Self::start_for(dir, opts, filter::Files::Manifests)
    }

    /// Starts watching every file under `dir` (a secrets directory, a mounted Secret with its
    /// `..data` swaps), not only manifests.
    pub fn start_all_files(dir: &Path, opts: WatchOptions) -> Result<TreeWatcher, WatchError> {
        Self::start_for(dir, opts, filter::Files::All)
    }

    fn start_for(
        dir: &Path,
        opts: WatchOptions,
        files: filter::Files,
    ) -> Result<TreeWatcher, WatchError> {
        if opts.poll.is_some_and(|p| p.is_zero()) {
            return Err(WatchError::ZeroPollInterval);
        }
        // Not canonicalized: the path may be a symlink whose swap is the update.
        let root = std::path::absolute(dir).map_err(|e| WatchError::Notify {
            path: dir.display().to_string(),
            source: notify::Error::io(e),
        })?;
        let parent = root.parent().map(Path::to_path_buf);
        match fs::metadata(&root) {
            Ok(meta) if !meta.is_dir() => {
                return Err(WatchError::NotADirectory {
                    path: root.display().to_string(),
                })
            }
            Ok(_) => {}
            Err(_) if parent.as_deref().is_some_and(Path::is_dir) => {
                tracing::warn!("{} does not exist yet; waiting for it", root.display());
            }
            Err(_) => {
                return Err(WatchError::Missing {
                    path: root.display().to_string(),
                })
            }
        }

        let (tx, events) = mpsc::unbounded_channel();
        #[cfg(test)]
        let inject = tx.clone();
        // Runs on notify's own thread; the receiver may be gone when we are dropped.
        let handler = move |raw: Raw| {
            let _ = tx.send(raw);
        };
        let backend: Backend = match opts.poll {
            Some(every) => {
                // Polling compares mtimes in whole seconds; contents catch quick rewrites.
                let config = Config::default()
                    .with_poll_interval(every)
                    .with_compare_contents(true);
                Box::new(
                    PollWatcher::new(handler, config)
                        .map_err(|e| WatchError::from_notify(e, &root))?,
                )
            }
            None => Box::new(
                RecommendedWatcher::new(handler, Config::default())
                    .map_err(|e| WatchError::from_notify(e, &root))?,
            ),
        };
        // Only inotify sees a link being swapped in the parent; polling follows the link anyway.
        let watched_parent = if opts.poll.is_none() {
            parent.clone()
        } else {
            None
        };
        let mut tree = Tree::new(root.clone(), watched_parent, backend);
        let report = tree.sync();
        if let Some(e) = report.limit.or(report.root_error) {
            return Err(WatchError::from_notify(e, &root));
        }
        if let (Some(e), Some(parent)) = (report.parent_error, &parent) {
            if tree.root_missing() {
                return Err(WatchError::from_notify(e, parent));
            }
            tracing::warn!(
                "cannot watch {}, so a swap of the link {} is only seen at the next resync: {e}",
                parent.display(),
                root.display()
            );
        }
        tracing::debug!(root = %root.display(), ?opts, "watching");

        Ok(TreeWatcher {
            root,
            tree: Arc::new(Mutex::new(tree)),
            events,
            events_closed: false,
            debouncer: Debouncer::new(opts.debounce, opts.resync_interval, Instant::now()),
            probe_every: opts.poll.unwrap_or(Duration::from_secs(1)),
            next_probe: None,
            polling: opts.poll.is_some(),
            files,
            pending_paths: Some(BTreeSet::new()),
            fired_paths: None,
            #[cfg(test)]
            inject,
        })
    }

    /// The files that the last [`Trigger::Changed`] was about, when they are known: only files
    /// changed (no directory, no lost events). None means anything may have changed.
    pub fn changed_paths(&mut self) -> Option<Vec<PathBuf>> {
        self.fired_paths.take()
    }

    /// The watched directory, made absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Waits for the next debounced rescan trigger. Many raw events within the debounce window give ONE trigger.
    ///
    /// Cancel-safe: a trigger due when the future is dropped is given by the next call.
    pub async fn next(&mut self) -> Trigger {
        loop {
            let now = Instant::now();
            if let Some(due) = self.debouncer.due(now) {
                return self.fire(due).await;
            }
            let deadline = earliest(self.debouncer.deadline(), self.probe_deadline(now));
            tokio::select! {
                // Drain what is queued before deciding that the window went quiet.
                biased;
                raw = self.events.recv(), if !self.events_closed => match raw {
                    Some(raw) => self.on_raw(raw),
                    None => {
                        self.events_closed = true;
                        tracing::error!("the file watcher stopped; only the periodic resync is left");
                    }
                },
                () = tokio::time::sleep_until(deadline.unwrap_or(now)), if deadline.is_some() => {
                    self.on_probe_timer();
                }
            }
        }
    }

    fn on_raw(&mut self, raw: Raw) {
        let now = Instant::now();
        let event = match raw {
            Ok(event) => event,
            Err(err) => return self.on_error(err, now),
        };
        let class = {
            let mut tree = lock(&self.tree);
            let class = filter::classify_files(&event, tree.root(), &*tree, self.files);
            // After classifying: the filter asks whether a removed path was a watched directory.
            tree.note(&event);
            if class == Class::Overflow {
                tree.forget_all();
            }
            class
        };
        match class {
            Class::Ignore => {
                tracing::trace!(kind = ?event.kind, paths = ?event.paths, "watch: ignored event");
            }
            Class::Changed { structural } => {
                tracing::debug!(kind = ?event.kind, paths = ?event.paths, structural, "watch: event");
                match (&mut self.pending_paths, structural) {
                    (Some(paths), false) => paths.extend(event.paths.iter().cloned()),
                    _ => self.pending_paths = None,
                }
                self.debouncer.event(now, BurstKind::Changed, structural);
            }
            Class::Overflow => {
                self.pending_paths = None;
                tracing::warn!("file events were lost (queue overflow); rescanning everything");
                self.debouncer.event(now, BurstKind::Overflow, true);
            }
        }
    }

    fn on_error(&mut self, err: notify::Error, now: Instant) {
        // Whatever the error, which files it hid is unknown.
        self.pending_paths = None;
        match &err.kind {
            _ if is_watch_limit(&err) => {
                let path = err
                    .paths
                    .first()
                    .unwrap_or(&self.root)
                    .display()
                    .to_string();
                tracing::error!("{}", WatchError::WatchLimit { path });
                self.debouncer.event(now, BurstKind::Overflow, true);
            }
            notify::ErrorKind::PathNotFound | notify::ErrorKind::WatchNotFound => {
                tracing::trace!("watch: {err}");
            }
            // The poller reports vanished and unreadable paths at every poll; the removals
            // themselves arrive as events.
            notify::ErrorKind::Io(_) if self.polling => tracing::debug!("watch: {err}"),
            _ => {
                tracing::warn!("file watch error, rescanning to be safe: {err}");
                self.debouncer.event(now, BurstKind::Overflow, true);
            }
        }
    }

    /// While the root is missing and no parent watch would see it return, look for it.
    fn probe_deadline(&mut self, now: Instant) -> Option<Instant> {
        if lock(&self.tree).needs_probe() {
            Some(*self.next_probe.get_or_insert(now + self.probe_every))
        } else {
            self.next_probe = None;
            None
        }
    }

    fn on_probe_timer(&mut self) {
        let now = Instant::now();
        if self.next_probe.is_some_and(|at| now >= at) {
            self.next_probe = None;
            if self.root.is_dir() {
                self.pending_paths = None;
                self.debouncer.event(now, BurstKind::Changed, true);
            }
        }
    }

    async fn fire(&mut self, due: Due) -> Trigger {
        let (kind, structural) = match due {
            Due::Burst { kind, structural } => (Some(kind), structural),
            Due::Resync => (None, true),
        };
        if structural {
            // Walking a large tree and adding watches blocks; keep it off the runtime's threads.
            // The tree stays behind its lock, so a cancelled call loses nothing.
            let tree = Arc::clone(&self.tree);
            match tokio::task::spawn_blocking(move || lock(&tree).sync()).await {
                Ok(report) => self.log_report(report),
                Err(e) => tracing::error!("re-establishing the watches failed: {e}"),
            }
        }
        let recovered = lock(&self.tree).take_recovered();
        self.debouncer.fired(Instant::now());
        let paths = self.pending_paths.replace(BTreeSet::new());
        self.fired_paths = match (structural, recovered, kind) {
            (false, false, Some(BurstKind::Changed)) => paths.map(|p| p.into_iter().collect()),
            _ => None,
        };
        let trigger = match (recovered, kind) {
            (true, _) => Trigger::Recovered,
            (false, Some(BurstKind::Overflow)) => Trigger::Overflow,
            (false, Some(BurstKind::Changed)) => Trigger::Changed,
            (false, None) => Trigger::Resync,
        };
        tracing::debug!(%trigger, "watch: rescan due");
        trigger
    }

    fn log_report(&self, report: SyncReport) {
        if let Some(e) = report.limit {
            let path = e
                .paths
                .first()
                .cloned()
                .unwrap_or_else(|| self.root.clone());
            tracing::error!(
                "{}; directories below are not watched",
                WatchError::from_notify(e, &path)
            );
        }
        if let Some(e) = report.root_error {
            tracing::warn!("cannot watch {}: {e}", self.root.display());
        }
        if let Some(e) = report.parent_error {
            tracing::debug!("cannot watch the parent of {}: {e}", self.root.display());
        }
    }
}

impl fmt::Debug for TreeWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeWatcher")
            .field("root", &self.root)
            .field("polling", &self.polling)
            .finish_non_exhaustive()
    }
}

/// A panic inside a sync leaves a stale set of watches, which the next sync repairs; so a
/// poisoned lock is still good to use.
fn lock(tree: &Mutex<Tree>) -> MutexGuard<'_, Tree> {
    tree.lock().unwrap_or_else(PoisonError::into_inner)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{EventKind, Flag};
    use std::io;
    use tokio::time::timeout;

    #[test]
    fn the_watch_limit_explains_the_fix_in_one_line() {
        let from_notify = WatchError::from_notify(
            notify::Error::new(notify::ErrorKind::MaxFilesWatch),
            Path::new("/m"),
        );
        let from_errno = WatchError::from_notify(
            notify::Error::io(io::Error::from_raw_os_error(libc::ENOSPC)),
            Path::new("/m"),
        );
        for err in [from_notify, from_errno] {
            let msg = err.to_string();
            assert!(matches!(err, WatchError::WatchLimit { .. }), "{err:?}");
            assert!(!msg.contains('\n'));
            assert!(msg.starts_with("cannot watch /m: the inotify watch limit is reached"));
            assert!(msg.contains("sysctl fs.inotify.max_user_watches=524288"));
            assert!(msg.contains("--poll"));
        }
    }

    #[test]
    fn the_instance_limit_and_other_errors_keep_their_cause() {
        let instances = WatchError::from_notify(
            notify::Error::io(io::Error::from_raw_os_error(libc::EMFILE)),
            Path::new("/m"),
        );
        assert!(instances
            .to_string()
            .contains("fs.inotify.max_user_instances"));
        let other = WatchError::from_notify(
            notify::Error::io(io::Error::from_raw_os_error(libc::EACCES)),
            Path::new("/m"),
        );
        assert!(matches!(other, WatchError::Notify { .. }));
        assert!(std::error::Error::source(&other).is_some());
    }

    fn quick() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(100),
            ..WatchOptions::default()
        }
    }

    #[tokio::test]
    async fn an_overflow_is_signalled_as_such_and_watching_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let mut w = TreeWatcher::start(dir.path(), quick()).unwrap();
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        w.inject.send(Ok(overflow)).unwrap();
        let got = timeout(Duration::from_secs(5), w.next()).await.unwrap();
        assert_eq!(got, Trigger::Overflow);

        // Every watch was dropped and added again: a change below is still seen.
        fs::write(dir.path().join("sub/a.yaml"), "x").unwrap();
        let got = timeout(Duration::from_secs(5), w.next()).await.unwrap();
        assert_eq!(got, Trigger::Changed);
    }

    #[tokio::test]
    async fn a_watcher_error_asks_for_a_rescan() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TreeWatcher::start(dir.path(), quick()).unwrap();
        w.inject
            .send(Err(notify::Error::generic("inotify read failed")))
            .unwrap();
        let got = timeout(Duration::from_secs(5), w.next()).await.unwrap();
        assert_eq!(got, Trigger::Overflow);
    }

    #[tokio::test]
    async fn a_cancelled_next_loses_no_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TreeWatcher::start(dir.path(), quick()).unwrap();
        fs::write(dir.path().join("a.yaml"), "x").unwrap();
        // Dropped mid-window, before the debounce has passed.
        assert!(timeout(Duration::from_millis(20), w.next()).await.is_err());
        let got = timeout(Duration::from_secs(5), w.next()).await.unwrap();
        assert_eq!(got, Trigger::Changed);
    }
}
