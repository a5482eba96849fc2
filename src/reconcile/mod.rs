//! The reconciler: one pass compares the desired state with the stored state, plans a step per
//! credential, verifies what it must and writes only what verified. File mode and Kubernetes
//! mode both drive this one reconciler; they differ only in where [`Scan`]s come from. A
//! verify-only pass ([`verify_only`]) plans and verifies the same way and writes nothing.

mod conditions;
mod delta;
mod desired;
mod diff;
mod execute;
mod labels;
mod outcome;
#[cfg(test)]
mod outcome_tests;
mod plan;
#[cfg(test)]
mod plan_tests;
mod report;
mod reverify;
mod secret_copies;
mod step;
mod unopim;
mod verification;
mod write;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

pub use conditions::{set_condition, Condition, CredentialStatus, NewCondition, StatusBook};
pub use delta::DesiredIndex;
pub use desired::{
    secret_digest, spec_hash, Coverage, Desired, Entry, EntryDigest, Gone, Invalid, PruneScope,
    Scan, SourceKey,
};
pub use diff::{diff, FieldChange};
pub use plan::{drift, plan, verification_steps, Action, PlanInput};
pub use report::{
    plan_diff_report, plan_report, ItemReport, ItemResult, PassReport, StatusChange, Summary,
};
pub use secret_copies::{refuse_copied_secrets, SecretHolders};
pub use step::{Guard, Head, Held, Owned, Refusal, Step};
pub use unopim::{disabled_among, NamedCodes};
pub use verification::Verification;

use crate::diagnostic::Diagnostic;
use crate::store::{Store, StoreError};
use crate::verify::Verifier;

/// What to do with a stored row whose token BigCommerce has revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnRevoked {
    // Leave the row as it is; status shows Verified=False.
    Keep,
    // Mark the row inactive, so the connector stops offering it.
    Deactivate,
}

/// How a reconciler behaves.
#[derive(Clone, Debug)]
pub struct ReconcilerConfig {
    /// Owner id of the rows this reconciler manages.
    pub owner: String,
    /// Verifications at once.
    pub concurrency: usize,
    /// How old a verification may get before an unchanged credential is verified again.
    pub reverify_interval: Duration,
    /// Revoked tokens: keep or deactivate the row.
    pub on_revoked: OnRevoked,
    /// Allow a pass to delete every row when no manifest is found.
    pub allow_empty: bool,
    /// Delete rows whose manifests are gone (within the scan's scope); `false` deletes nothing.
    pub prune: bool,
}

impl Default for ReconcilerConfig {
    /// The command line's defaults: owner `bccreds`, 8 verifications at once, re-verify after
    /// 6 h, keep revoked rows, prune, and never delete everything.
    fn default() -> Self {
        ReconcilerConfig {
            owner: "bccreds".into(),
            concurrency: 8,
            reverify_interval: Duration::from_secs(6 * 3600),
            on_revoked: OnRevoked::Keep,
            allow_empty: false,
            prune: true,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Passes run.
    pub passes: u64,
    /// Passes that could not read the store.
    pub failed_passes: u64,
    /// Sum of pass durations, in seconds.
    pub pass_seconds_sum: f64,
    /// Duration of the last pass, in seconds.
    pub last_pass_seconds: f64,
    /// Per-credential results (`created`, `updated`, `deleted`, `orphaned`, `unchanged`,
    /// `failed`).
    pub results: std::collections::BTreeMap<&'static str, u64>,
    /// When the last pass ended, and what it did (for the credentials page).
    pub last_pass: Option<(chrono::DateTime<Utc>, Summary)>,
}

/// A reconciler over one store, with a verifier and the status of every credential it saw.
pub struct Reconciler<V> {
    store: Arc<Store>,
    verifier: Arc<V>,
    config: ReconcilerConfig,
    book: Mutex<StatusBook>,
    problems: Mutex<Vec<Diagnostic>>,
    metrics: Mutex<Metrics>,
    /// Whether a failed pass or a transient failure will be retried (the daemons), which the
    /// messages then say; one-shot commands turn it off.
    retried: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<V: Verifier> Reconciler<V> {
    /// A reconciler writing to `store` and verifying with `verifier`.
    pub fn new(store: Arc<Store>, verifier: Arc<V>, config: ReconcilerConfig) -> Self {
        Reconciler {
            store,
            verifier,
            config,
            book: Mutex::new(StatusBook::default()),
            problems: Mutex::new(Vec::new()),
            metrics: Mutex::new(Metrics::default()),
            retried: true,
        }
    }

    /// A reconciler for one pass of a one-shot command (`apply`, the demo): nothing will retry
    /// a transient failure, so its messages do not say that anything will.
    pub fn one_shot(mut self) -> Self {
        self.retried = false;
        self
    }

    /// The store this reconciler writes to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Plans a pass against the current store, without verifying or writing anything.
    pub async fn plan(&self, scan: &Scan) -> Result<Vec<Step>, StoreError> {
        // A key that does not match the store's would re-seal every row it touched with a key
        // UnoPim does not have: nothing is planned, so nothing is written.
        self.store.check_key().await?;
        // A pass of some entries plans, and so reads, only their rows.
        let rows = if scan.coverage == Coverage::Entries {
            let keys: Vec<SourceKey> = scan.entries.iter().map(|e| e.key().clone()).collect();
            self.store.owned_rows_for(&self.config.owner, &keys).await?
        } else {
            self.store.owned_rows(&self.config.owner).await?
        };
        let crate::store::OwnedRows {
            rows: owned,
            unreadable,
        } = rows;
        // Every stored row is only needed to find label collisions for new credentials.
        let present: std::collections::HashSet<&SourceKey> = owned
            .iter()
            .filter(|(_, row)| row.is_some())
            .map(|(o, _)| &o.source_key)
            .collect();
        let creates = scan
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Desired(_)) && !present.contains(e.key()));
        let mut all_rows = if creates {
            self.store.list(&Default::default()).await?
        } else {
            Vec::new()
        };
        if scan.coverage == Coverage::Entries {
            // The planner leaves this owner's rows out of label collisions by their ids, and
            // only some of them were read: leave them out here, as a full read would.
            all_rows.retain(|r| r.owner_id.as_deref() != Some(self.config.owner.as_str()));
        }
        let codes = self.store.unopim_codes().await?;
        // Only when UnoPim's tables exist beside the credential table is there anything to check.
        let checked;
        let scan = if codes.locales.is_some() || codes.currencies.is_some() {
            checked = Scan {
                entries: unopim::apply_codes(&scan.entries, &codes),
                coverage: scan.coverage,
                scope: scan.scope.clone(),
                problems: scan.problems.clone(),
            };
            &checked
        } else {
            scan
        };
        Ok(plan(&PlanInput {
            scan,
            owned: &owned,
            all_rows: &all_rows,
            unreadable: &unreadable,
            now: Utc::now(),
            reverify_interval: self.config.reverify_interval,
            allow_empty: self.config.allow_empty,
            prune: self.config.prune,
            on_revoked_deactivate: self.config.on_revoked == OnRevoked::Deactivate,
            fingerprints: self.store.fingerprints(),
        }))
    }

    /// Runs one pass: plan, verify, write, and record conditions.
    pub async fn apply(&self, scan: &Scan) -> Result<PassReport, StoreError> {
        let started = Instant::now();
        let steps = match self.plan(scan).await {
            Ok(steps) => steps,
            Err(e) => {
                lock(&self.metrics).failed_passes += 1;
                return Err(e);
            }
        };
        let exec = execute::Executor {
            verifier: &*self.verifier,
            store: &self.store,
            owner: &self.config.owner,
            on_revoked: self.config.on_revoked,
            concurrency: self.config.concurrency,
            retried: self.retried,
        };
        // Boxed as a trait object: the pass's future is deep (steps, label moves, the store's
        // transactions), and every caller's future would otherwise carry its whole type.
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = Vec<ItemReport>> + Send + '_>> =
            Box::pin(execute::run(&exec, steps));
        let items = run.await;
        report::record(&mut lock(&self.book), &items, scan, Utc::now());
        let report = report::pass_report(items);
        if scan.coverage != Coverage::Entries {
            *lock(&self.problems) = scan.problems.clone();
        }
        let mut m = lock(&self.metrics);
        m.passes += 1;
        let secs = started.elapsed().as_secs_f64();
        m.pass_seconds_sum += secs;
        m.last_pass_seconds = secs;
        m.last_pass = Some((Utc::now(), report.summary));
        for result in ItemResult::ALL {
            *m.results.entry(result.as_str()).or_default() += report.summary.count(result) as u64;
        }
        Ok(report)
    }

    /// Runs a pass over the credentials of `scan` that changed since the pass `index` recorded
    /// (all of them when `full`, or when only a full pass will do), then records this one.
    pub async fn apply_changes(
        &self,
        scan: &Scan,
        index: &mut DesiredIndex,
        full: bool,
    ) -> Result<PassReport, StoreError> {
        let delta = if full { None } else { index.changes(scan) };
        let result = self.apply(delta.as_ref().unwrap_or(scan)).await;
        match &result {
            Ok(report) => {
                index.record(scan, report);
                if delta.is_some() {
                    // A pass of some entries leaves problems alone; these are the whole tree's.
                    *lock(&self.problems) = scan.problems.clone();
                }
            }
            // What the failed pass left done is unknown: the next pass is a full one.
            Err(_) => index.clear(),
        }
        result
    }

    /// Runs a pass over `changed`, the entries of the few files a watcher reported (see
    /// `FileSource::scan_changed`), and records it in `index`.
    pub async fn apply_changed_files(
        &self,
        changed: &Scan,
        index: &mut DesiredIndex,
    ) -> Result<PassReport, StoreError> {
        let result = self.apply(changed).await;
        match &result {
            Ok(report) => index.record_entries(changed, report),
            Err(_) => index.clear(),
        }
        result
    }

    /// The conditions of one credential.
    pub fn status_of(&self, key: &SourceKey) -> Option<CredentialStatus> {
        lock(&self.book).get(key).cloned()
    }

    /// Starts the book of a credential from a status reported before (by an earlier process),
    /// unless this reconciler already keeps one.
    pub fn remember_status(&self, status: CredentialStatus) {
        lock(&self.book).insert_if_absent(status);
    }

    /// Conditions of every credential seen in the last passes.
    pub fn statuses(&self) -> Vec<CredentialStatus> {
        lock(&self.book).all()
    }

    /// Conditions of the credentials `wanted` picks, without copying the others.
    pub fn statuses_matching(
        &self,
        wanted: impl Fn(&CredentialStatus) -> bool,
    ) -> Vec<CredentialStatus> {
        lock(&self.book).matching(wanted)
    }

    /// Problems of the last scan not tied to one credential (files that do not parse).
    pub fn problems(&self) -> Vec<Diagnostic> {
        lock(&self.problems).clone()
    }

    /// A copy of the counters.
    pub fn metrics(&self) -> Metrics {
        lock(&self.metrics).clone()
    }
}

/// Plans and verifies `scan` as a pass into an empty store would, and writes nothing: every
/// credential that could be created is verified with BigCommerce (`bccreds verify`).
pub async fn verify_only<V: Verifier>(verifier: &V, scan: &Scan, concurrency: usize) -> PassReport {
    let steps = verification_steps(scan);
    report::pass_report(execute::verify_only(verifier, steps, concurrency).await)
}
