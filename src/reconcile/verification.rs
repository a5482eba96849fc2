//! One credential's verification with BigCommerce: the request, what came of it, the token it
//! uses, and what the ownership row records of it.

use chrono::Utc;

use super::desired::Desired;
use crate::crypto::SecretFingerprints;
use crate::model::{ConditionStatus, Reason};
use crate::secret::SecretValue;
use crate::store::{Ownership, SecretUpdate, Store, StoreError, StoredCredential};
use crate::verify::{Outcome, VerifiedStore, Verifier, VerifyRequest};

/// What BigCommerce said about one credential in a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The store hash asked about.
    pub store_hash: String,
    /// The Verified condition's status.
    pub status: ConditionStatus,
    /// The outcome's reason.
    pub reason: Reason,
    /// The outcome's message.
    pub message: String,
    /// The store as BigCommerce described it, where it answered.
    pub store: Option<VerifiedStore>,
}

/// Asks BigCommerce about one desired credential: the one place both `apply` and `verify` reach.
/// The message does not name the credential (every line and condition that shows it does);
/// `retried` says whether a transient failure will be retried.
pub(super) async fn verify_with_bigcommerce<V: Verifier>(
    verifier: &V,
    desired: &Desired,
    token: SecretValue,
    retried: bool,
) -> (Outcome, Verification) {
    let outcome = verifier
        .verify(&VerifyRequest {
            store_hash: desired.store_hash.clone(),
            token,
            locale_mapping: desired.data.locale_mapping.clone(),
            currency_mapping: desired.data.currency_mapping.clone(),
        })
        .await;
    let verification = Verification {
        store_hash: desired.store_hash.clone(),
        status: outcome.status(),
        reason: outcome.reason(),
        message: outcome.describe(&desired.store_hash, retried),
        store: outcome.store().cloned(),
    };
    (outcome, verification)
}

/// The token to verify with: the manifest's, or the stored one when the manifest keeps it
/// (`stored` is the row the step concerns, or the row an adoption takes over).
pub(super) fn token_for(
    desired: &Desired,
    stored: Option<&StoredCredential>,
) -> Result<SecretValue, String> {
    if let SecretUpdate::Set(v) = &desired.data.access_token {
        return Ok(v.clone());
    }
    match stored {
        Some(stored) => Ok(stored.data.access_token.clone()),
        None => Err("an accessToken is required to create a credential".into()),
    }
}

/// Records a verification that wrote no row on its ownership record. An attempt that reached no
/// verdict (Unreachable, RateLimited) records its result but keeps the time of the last
/// verification, so that `list` does not show a credential as just verified.
pub(super) async fn record_attempt(
    owner: &str,
    store: &Store,
    id: i64,
    verification: &Verification,
    now: chrono::DateTime<Utc>,
) -> Result<(), StoreError> {
    let (result, message) = (verification.reason.as_str(), &verification.message);
    if verification.reason.is_transient() {
        store.record_result(owner, id, result, message).await
    } else {
        store
            .record_verification(owner, id, result, message, now)
            .await
    }
}

/// The ownership record of a row written for `desired` after `verification`.
pub(super) fn ownership(
    fingerprints: &SecretFingerprints,
    owner: &str,
    id: i64,
    desired: &Desired,
    verification: &Verification,
    now: chrono::DateTime<Utc>,
) -> Ownership {
    Ownership {
        credential_id: id,
        owner_id: owner.to_string(),
        source_key: desired.key.clone(),
        spec_sha256: desired.spec_sha256.clone(),
        secret_sha256: fingerprints.current(&desired.secret_digest),
        last_verified_at: Some(now),
        last_result: Some(verification.reason),
        last_message: Some(verification.message.clone()),
        deletion_policy: desired.policy,
        source_path: desired.source_path.clone(),
    }
}
