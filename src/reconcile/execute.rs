//! Running planned steps: verify with bounded concurrency, write only what verified, and say
//! what each step did. A verify-only pass (`bccreds verify`) runs its own steps, which need no
//! store.

use futures_util::stream::{self, StreamExt};

use super::desired::Desired;
use super::outcome::{is_bad_input, remembered, settle, Outcome};
use super::report::ItemReport;
use super::step::{Refusal, Step};
use super::verification::{token_for, verify_with_bigcommerce};
use super::OnRevoked;
use crate::crypto::FingerprintMatch;
use crate::store::{OwnershipRefresh, Store};
use crate::verify::Verifier;

/// What runs steps: a verifier, and the store to write to.
pub(super) struct Executor<'a, V> {
    pub verifier: &'a V,
    pub store: &'a Store,
    pub owner: &'a str,
    pub on_revoked: OnRevoked,
    pub concurrency: usize,
    /// Whether a transient failure will be retried (the daemons), which messages then say.
    pub retried: bool,
}

/// Runs `steps` through `one`, at most `concurrency` at once; items come back ordered by key.
async fn run_all<'a, F, Fut>(steps: Vec<Step>, concurrency: usize, one: F) -> Vec<ItemReport>
where
    F: Fn(Step) -> Fut,
    Fut: std::future::Future<Output = ItemReport> + 'a,
{
    let mut items: Vec<ItemReport> = stream::iter(steps.into_iter().map(one))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items
}

/// Runs the steps of a pass. Releases commit before claims: deletions run first, so that the
/// labels they free are free for the creates and updates that take them; label changes that
/// still wait for each other are settled after the rest (`labels.rs`).
pub(super) async fn run<V: Verifier>(exec: &Executor<'_, V>, steps: Vec<Step>) -> Vec<ItemReport> {
    let (removals, others): (Vec<Step>, Vec<Step>) = steps
        .into_iter()
        .partition(|s| matches!(s, Step::Remove { .. }));
    let mut done = run_each(exec, removals).await;
    done.extend(run_each(exec, others).await);
    super::labels::settle_moves(exec, &mut done).await;
    let mut items: Vec<ItemReport> = done
        .into_iter()
        .map(|(step, outcome)| settle(step, outcome))
        .collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items
}

/// Runs `steps`, at most the executor's concurrency at once.
async fn run_each<V: Verifier>(exec: &Executor<'_, V>, steps: Vec<Step>) -> Vec<(Step, Outcome)> {
    stream::iter(steps.into_iter().map(|step| async move {
        let outcome = run_step(exec, &step).await;
        (step, outcome)
    }))
    .buffer_unordered(exec.concurrency.max(1))
    .collect()
    .await
}

/// Runs the steps of a verify-only pass: only verifications and what needs no store.
pub(super) async fn verify_only<V: Verifier>(
    verifier: &V,
    steps: Vec<Step>,
    concurrency: usize,
) -> Vec<ItemReport> {
    run_all(steps, concurrency, |step| async move {
        let outcome = match &step {
            // `bccreds verify` runs once: nothing retries a transient failure.
            Step::Verify { desired, .. } => check(verifier, desired, false).await,
            Step::NotVerifiable { .. } => Outcome::NotVerifiable,
            // A verify-only plan has no other steps that act; a refusal is only reported.
            _ => Outcome::Refused,
        };
        settle(step, outcome)
    })
    .await
}

async fn run_step<V: Verifier>(exec: &Executor<'_, V>, step: &Step) -> Outcome {
    match step {
        Step::Create { desired, .. }
        | Step::Adopt { desired, .. }
        | Step::Update { desired, .. }
        | Step::Repair { desired, .. } => super::write::write(exec, step, desired).await,
        Step::Reverify { desired, owned, .. } => {
            let outcome = super::reverify::reverify(exec, desired, owned).await;
            bookkeeping(exec, step).await;
            outcome
        }
        Step::Unchanged { desired, owned, .. } => {
            bookkeeping(exec, step).await;
            Outcome::Unchanged {
                remembered: remembered(Some(&owned.ownership)),
                inactive: !owned.row.data.active && desired.data.active,
            }
        }
        Step::Remove { held, policy, .. } => {
            let id = held.ownership.credential_id;
            let result = match policy {
                crate::model::DeletionPolicy::Delete => exec.store.delete(exec.owner, id).await,
                crate::model::DeletionPolicy::Orphan => exec.store.release(exec.owner, id).await,
            };
            match result {
                Ok(()) => Outcome::Removed,
                Err(error) => Outcome::StoreFailed {
                    error,
                    verification: None,
                },
            }
        }
        Step::Keep { .. } => Outcome::Held,
        Step::Fail { .. } => {
            remember_bad_input(exec, step).await;
            Outcome::Refused
        }
        Step::Verify { desired, .. } => check(exec.verifier, desired, exec.retried).await,
        Step::NotVerifiable { .. } => Outcome::NotVerifiable,
    }
}

/// Asks BigCommerce about a manifest and writes nothing.
async fn check<V: Verifier>(verifier: &V, desired: &Desired, retried: bool) -> Outcome {
    match token_for(desired, None) {
        Ok(token) => Outcome::Checked(
            verify_with_bigcommerce(verifier, desired, token, retried)
                .await
                .1,
        ),
        Err(message) => Outcome::NoToken(message),
    }
}

/// Records on the ownership row that the manifest of a stored credential is unusable, so that
/// `list` does not show the row Ready while its manifest is broken; the verification time is
/// left alone, since nothing was verified.
async fn remember_bad_input<V: Verifier>(exec: &Executor<'_, V>, step: &Step) {
    let Step::Fail {
        head,
        refusal: Refusal::Invalid { held: Some(held) },
    } = step
    else {
        return;
    };
    if !is_bad_input(head.reason) || held.ownership.last_result == Some(head.reason) {
        return;
    }
    let id = held.ownership.credential_id;
    if let Err(e) = exec
        .store
        .record_result(exec.owner, id, head.reason.as_str(), &head.message)
        .await
    {
        tracing::warn!(credential = %head.key, "cannot record the result: {e}");
    }
}

/// Brings the ownership row of a step that wrote nothing up to date: where its manifest lives
/// now (rows from before sources were kept, or manifests moved to another file), and secret
/// fingerprints made under a previous APP_KEY or by a version that stored a plain digest.
/// Writes record both themselves.
async fn bookkeeping<V: Verifier>(exec: &Executor<'_, V>, step: &Step) {
    let (Some(desired), Some(own)) = (step.desired(), step.ownership()) else {
        return;
    };
    let fingerprints = exec.store.fingerprints();
    let path = desired
        .source_path
        .as_deref()
        .filter(|p| own.source_path.as_deref() != Some(*p));
    let fingerprint = (fingerprints.check(&own.secret_sha256, &desired.secret_digest)
        == FingerprintMatch::Outdated)
        .then(|| fingerprints.current(&desired.secret_digest));
    if path.is_none() && fingerprint.is_none() {
        return;
    }
    let refresh = OwnershipRefresh {
        source_path: path,
        secret_sha256: fingerprint.as_deref(),
    };
    if let Err(e) = exec
        .store
        .refresh_ownership(exec.owner, own.credential_id, refresh)
        .await
    {
        tracing::warn!(credential = %step.key(), "cannot bring the ownership row up to date: {e}");
    }
}
