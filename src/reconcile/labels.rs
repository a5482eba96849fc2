//! Labels that move between credentials within one pass. Steps run concurrently, so a step may
//! claim a label before the step that releases it has committed: such writes, verified
//! already, are written again once the others have run, round by round while that helps, and
//! the updates still left (a swap, a longer cycle) take their labels together in one
//! transaction.

use chrono::Utc;

use super::execute::Executor;
use super::outcome::{Outcome, Written};
use super::step::Step;
use super::verification::{ownership, Verification};
use super::write::store_verified;
use crate::model::Reason;
use crate::store::{CredentialData, Ownership, StoreError};
use crate::verify::{VerifiedStore, Verifier};

/// A write BigCommerce verified that the store refused only because its label was taken.
fn waiting(step: &Step, outcome: &Outcome) -> Option<(VerifiedStore, Verification)> {
    let Outcome::StoreFailed {
        error: StoreError::LabelConflict { .. },
        verification: Some(v),
    } = outcome
    else {
        return None;
    };
    let writes = matches!(
        step,
        Step::Create { .. } | Step::Update { .. } | Step::Repair { .. }
    );
    let verified = v
        .store
        .clone()
        .filter(|_| writes && v.reason == Reason::Verified)?;
    Some((verified, v.clone()))
}

/// Writes again, one at a time, what waited for a label, until a round writes nothing more;
/// then the updates still waiting go together.
pub(super) async fn settle_moves<V: Verifier>(
    exec: &Executor<'_, V>,
    done: &mut [(Step, Outcome)],
) {
    loop {
        let mut wrote = false;
        for (step, outcome) in done.iter_mut() {
            let Some((verified, verification)) = waiting(step, outcome) else {
                continue;
            };
            let Some(desired) = step.desired() else {
                continue;
            };
            let again = store_verified(exec, step, desired, None, &verified, verification).await;
            wrote |= waiting(step, &again).is_none();
            *outcome = again;
        }
        if !wrote {
            break;
        }
    }
    together(exec, done).await;
}

/// The updates still waiting, in one transaction: each takes a temporary label first, so that
/// they may take each other's. A label held outside them fails them all, as it did alone.
async fn together<V: Verifier>(exec: &Executor<'_, V>, done: &mut [(Step, Outcome)]) {
    let mut rows: Vec<(
        usize,
        i64,
        CredentialData,
        Ownership,
        VerifiedStore,
        Verification,
    )> = Vec::new();
    for (i, (step, outcome)) in done.iter().enumerate() {
        let (Step::Update { desired, owned, .. }, Some((verified, verification))) =
            (step, waiting(step, outcome))
        else {
            continue;
        };
        let id = owned.ownership.credential_id;
        let mut data = desired.data.clone();
        data.store_info = Some(verified.info.clone());
        let fingerprints = exec.store.fingerprints();
        let own = ownership(
            fingerprints,
            exec.owner,
            id,
            desired,
            &verification,
            Utc::now(),
        );
        rows.push((i, id, data, own, verified, verification));
    }
    if rows.len() < 2 {
        return;
    }
    let batch: Vec<(i64, &CredentialData, &Ownership)> = rows
        .iter()
        .map(|(_, id, data, own, ..)| (*id, data, own))
        .collect();
    if let Err(e) = exec.store.update_together(&batch).await {
        tracing::debug!("the waiting label changes could not be made together: {e}");
        return;
    }
    for (i, id, data, _, verified, verification) in rows {
        done[i].1 = Outcome::Written {
            how: Written::Updated,
            id,
            verification,
            store: verified.info,
            active: data.active,
        };
    }
}
