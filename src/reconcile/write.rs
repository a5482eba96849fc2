//! The steps that write a row: verify with BigCommerce first, and write only what verified.

use chrono::Utc;

use super::desired::Desired;
use super::execute::Executor;
use super::outcome::{Outcome, Written};
use super::step::Step;
use super::verification::{
    ownership, record_attempt, token_for, verify_with_bigcommerce, Verification,
};
use crate::store::{CredentialData, StoreError, StoredCredential};
use crate::verify::{Outcome as Verdict, VerifiedStore, Verifier};

/// A Create, Adopt, Update or Repair step.
pub(super) async fn write<V: Verifier>(
    exec: &Executor<'_, V>,
    step: &Step,
    desired: &Desired,
) -> Outcome {
    // An adoption compares the manifest with the row as it is now, and verifies the row's own
    // token when the manifest keeps it.
    let adopted = match step {
        Step::Adopt { row, .. } => match exec.store.get(*row).await {
            Ok(Some(found)) => Some(found),
            Ok(None) => return failed(StoreError::NotFound(*row), None),
            Err(e) => return failed(e, None),
        },
        _ => None,
    };
    let token = match token_for(desired, step.stored().or(adopted.as_ref())) {
        Ok(token) => token,
        Err(message) => return Outcome::NoToken(message),
    };
    let (verdict, verification) =
        verify_with_bigcommerce(exec.verifier, desired, token, exec.retried).await;
    let now = Utc::now();
    let Verdict::Verified(verified) = &verdict else {
        // Nothing is stored unless verified; an existing row is kept exactly as it is.
        if let (Some(own), Some(_)) = (step.ownership(), step.stored()) {
            let id = own.credential_id;
            if let Err(e) = record_attempt(exec.owner, exec.store, id, &verification, now).await {
                tracing::warn!(credential = %desired.key, "cannot record the verification: {e}");
            }
        }
        return Outcome::NotVerified(verification);
    };
    store_verified(
        exec,
        step,
        desired,
        adopted.as_ref(),
        verified,
        verification,
    )
    .await
}

/// Writes the credential BigCommerce verified as the step says (`adopted`: the row an adoption
/// takes over, as read before verifying). `labels.rs` calls it again for a write the store
/// refused for its label, once a label another step released may be free.
pub(super) async fn store_verified<V: Verifier>(
    exec: &Executor<'_, V>,
    step: &Step,
    desired: &Desired,
    adopted: Option<&StoredCredential>,
    verified: &VerifiedStore,
    verification: Verification,
) -> Outcome {
    let own = &ownership(
        exec.store.fingerprints(),
        exec.owner,
        step.row_id().unwrap_or_default(),
        desired,
        &verification,
        Utc::now(),
    );
    let mut data: CredentialData = desired.data.clone();
    data.store_info = Some(verified.info.clone());
    let id = own.credential_id;
    let store = exec.store;
    let result = match step {
        Step::Create { .. } => store
            .create(&data, own)
            .await
            .map(|id| (id, Written::Created)),
        Step::Adopt { .. } => {
            // A manifest asking for exactly what is stored (as `bccreds export` writes) adopts
            // the row without writing to it: not even updated_at or storeInfo change.
            let as_stored =
                adopted.is_some_and(|row| desired.data.changed_fields(Some(&row.data)).is_empty());
            let written = if as_stored {
                store.claim(id, &data.label, own).await
            } else {
                store.adopt(id, &data, own).await
            };
            written.map(|()| (id, Written::Adopted { as_stored }))
        }
        Step::Repair { .. } => store
            .repair(id, &data, own)
            .await
            .map(|()| (id, Written::Updated)),
        _ => store
            .update(id, &data, own)
            .await
            .map(|()| (id, Written::Updated)),
    };
    match result {
        Ok((id, how)) => Outcome::Written {
            how,
            id,
            verification,
            store: verified.info.clone(),
            active: data.active,
        },
        Err(e) => failed(e, Some(verification)),
    }
}

fn failed(error: StoreError, verification: Option<Verification>) -> Outcome {
    Outcome::StoreFailed {
        error,
        verification,
    }
}
