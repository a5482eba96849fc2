//! Verifying credentials with BigCommerce: the client, pacing, retries, and the outcome.

mod client;
mod outcome;
mod pacer;
mod retry;
mod sequence;

use std::collections::BTreeMap;
use std::future::Future;

pub use client::{
    check_base_url, BigCommerceClient, CallError, ClientError, ClientOptions, DEFAULT_BASE_URL,
};
pub use outcome::{MappingProblem, Outcome, VerifiedStore, CAPABILITY_PRODUCTS_READ};
pub use pacer::{Pacer, RateLimit};
pub use retry::RetryPolicy;
pub use sequence::mapping_problems;

use crate::secret::SecretValue;

/// What one verification needs: the store, the token and the mappings to check.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// The store hash from the normalised apiUrl.
    pub store_hash: String,
    /// The resolved access token.
    pub token: SecretValue,
    /// UnoPim locale to BigCommerce locale.
    pub locale_mapping: BTreeMap<String, String>,
    /// UnoPim currency to BigCommerce currency.
    pub currency_mapping: BTreeMap<String, String>,
}

/// Something that can verify credentials; the reconciler depends on this, tests may fake it.
pub trait Verifier: Send + Sync {
    /// Verifies one credential.
    fn verify(&self, req: &VerifyRequest) -> impl Future<Output = Outcome> + Send;
}

impl Verifier for BigCommerceClient {
    fn verify(&self, req: &VerifyRequest) -> impl Future<Output = Outcome> + Send {
        sequence::verify(self, req)
    }
}
