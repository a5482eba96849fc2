//! What a verification concluded, and how each conclusion reads as a condition.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::{ConditionStatus, Reason, StoreInfo};

/// The capability proven by `v3/catalog/summary`.
pub const CAPABILITY_PRODUCTS_READ: &str = "products:read";

/// A verified store, as BigCommerce described it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedStore {
    /// Name, domain, hash, language and currency from `v2/store`.
    pub info: StoreInfo,
    /// Currency codes the store offers (enabled ones), from `v2/currencies`.
    pub currencies: Vec<String>,
    /// Locales the store offers: its language, its shopper language and channel locales.
    pub locales: Vec<String>,
    /// What the token was shown to be able to do.
    pub capabilities: Vec<String>,
}

/// One mapping entry whose BigCommerce side the store does not offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingProblem {
    /// `localeMapping` or `currencyMapping`.
    pub mapping: &'static str,
    /// The UnoPim code (the mapping key).
    pub from: String,
    /// The BigCommerce code the store lacks.
    pub to: String,
}

/// The result of verifying one credential with BigCommerce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The token works for this store and every mapping target exists.
    Verified(VerifiedStore),
    /// 401: BigCommerce rejected the access token.
    InvalidToken,
    /// 403: a required scope is missing, or the store hash is wrong.
    Forbidden {
        /// The endpoint that was refused, e.g. `v2/store`.
        endpoint: String,
    },
    /// 404, or `v2/store` answered for another store.
    StoreNotFound,
    /// Mapping targets the store does not offer.
    MappingInvalid {
        /// The store, which did verify.
        store: VerifiedStore,
        /// The offending entries.
        problems: Vec<MappingProblem>,
    },
    /// No usable answer after bounded retries; not a verdict on the credential.
    Unreachable {
        /// What went wrong last, without secrets.
        detail: String,
    },
    /// Still rate limited after bounded retries.
    RateLimited,
}

impl Outcome {
    /// The reason of the `Verified` condition.
    pub fn reason(&self) -> Reason {
        match self {
            Outcome::Verified(_) => Reason::Verified,
            Outcome::InvalidToken => Reason::InvalidToken,
            Outcome::Forbidden { .. } => Reason::Forbidden,
            Outcome::StoreNotFound => Reason::StoreNotFound,
            Outcome::MappingInvalid { .. } => Reason::MappingInvalid,
            Outcome::Unreachable { .. } => Reason::Unreachable,
            Outcome::RateLimited => Reason::RateLimited,
        }
    }

    /// True/False/Unknown: transient failures are no verdict, so existing rows are kept.
    pub fn status(&self) -> ConditionStatus {
        self.reason().verified_status()
    }

    /// Whether the credential may be stored.
    pub fn is_verified(&self) -> bool {
        matches!(self, Outcome::Verified(_))
    }

    /// The store as verified, also for a mapping failure.
    pub fn store(&self) -> Option<&VerifiedStore> {
        match self {
            Outcome::Verified(s) | Outcome::MappingInvalid { store: s, .. } => Some(s),
            _ => None,
        }
    }

    /// A message a user can act on, naming the credential and the store hash; a transient
    /// failure says that it will be retried.
    pub fn message(&self, credential: &str, store_hash: &str) -> String {
        format!("{credential}: {}", self.describe(store_hash, true))
    }

    /// The message without the credential's name, for lines and conditions that name it
    /// already. `retried` says whether a transient failure (Unreachable, RateLimited) will be
    /// retried: only the daemons retry; a one-shot command says to run it again later.
    pub fn describe(&self, store_hash: &str, retried: bool) -> String {
        let later = if retried {
            "nothing was changed and it will be retried"
        } else {
            "nothing was changed; run the command again later"
        };
        match self {
            Outcome::Verified(store) => {
                let name = store.info.name.as_deref().unwrap_or("(unnamed)");
                format!(
                    "verified with BigCommerce store \"{name}\" ({store_hash}); capabilities: {}",
                    list(&store.capabilities)
                )
            }
            Outcome::InvalidToken => format!(
                "BigCommerce rejected the access token for store {store_hash} (401); check that accessToken holds the Access Token of a store-level API account of this store and that the account still exists"
            ),
            Outcome::Forbidden { endpoint } if endpoint.starts_with("v3/catalog") => format!(
                "the token for store {store_hash} lacks the Products scope (403 on {endpoint}); give the API account Products read-only (import) or modify (export)"
            ),
            Outcome::Forbidden { endpoint } => format!(
                "BigCommerce refused {endpoint} for store {store_hash} (403): the token lacks the Information & Settings scope, or the store hash in apiUrl is wrong"
            ),
            Outcome::StoreNotFound => format!(
                "BigCommerce has no store {store_hash} (404); check the store hash in apiUrl against the API account screen"
            ),
            Outcome::MappingInvalid { store, problems } => {
                let mut msg = format!("store {store_hash} does not offer");
                for (i, p) in problems.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    let _ = write!(msg, "{sep}{} {} -> {}", p.mapping, p.from, p.to);
                }
                if problems.iter().any(|p| p.mapping == "currencyMapping") {
                    let _ = write!(msg, "; the store's currencies: {}", list(&store.currencies));
                }
                if problems.iter().any(|p| p.mapping == "localeMapping") {
                    let _ = write!(msg, "; the store's locales: {}", list(&store.locales));
                }
                msg
            }
            Outcome::Unreachable { detail } => format!(
                "BigCommerce could not be reached for store {store_hash} ({detail}); {later}"
            ),
            Outcome::RateLimited => {
                format!("store {store_hash} stayed rate limited (429) after retries; {later}")
            }
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_outcomes_are_no_verdict() {
        assert_eq!(Outcome::RateLimited.status(), ConditionStatus::Unknown);
        let unreachable = Outcome::Unreachable {
            detail: "HTTP 500".into(),
        };
        assert_eq!(unreachable.status(), ConditionStatus::Unknown);
        assert_eq!(Outcome::InvalidToken.status(), ConditionStatus::False);
        assert_eq!(
            Outcome::Verified(VerifiedStore::default()).status(),
            ConditionStatus::True
        );
    }

    #[test]
    fn messages_name_the_credential_and_the_store() {
        for outcome in [
            Outcome::InvalidToken,
            Outcome::StoreNotFound,
            Outcome::RateLimited,
            Outcome::Forbidden {
                endpoint: "v2/store".into(),
            },
        ] {
            let msg = outcome.message("shop/prod", "abc123");
            assert!(msg.starts_with("shop/prod: "), "{msg}");
            assert!(msg.contains("abc123"), "{msg}");
        }
    }

    #[test]
    fn only_a_daemon_says_that_a_transient_failure_will_be_retried() {
        for outcome in [
            Outcome::RateLimited,
            Outcome::Unreachable {
                detail: "HTTP 503".into(),
            },
        ] {
            let daemon = outcome.describe("abc123", true);
            assert!(
                daemon.ends_with("nothing was changed and it will be retried"),
                "{daemon}"
            );
            let once = outcome.describe("abc123", false);
            assert!(!once.contains("retried"), "{once}");
            assert!(once.ends_with("; run the command again later"), "{once}");
            assert!(!once.contains("shop/prod"), "{once}");
        }
    }

    #[test]
    fn mapping_message_lists_what_the_store_offers() {
        let outcome = Outcome::MappingInvalid {
            store: VerifiedStore {
                currencies: vec!["USD".into(), "EUR".into()],
                ..VerifiedStore::default()
            },
            problems: vec![MappingProblem {
                mapping: "currencyMapping",
                from: "JPY".into(),
                to: "JPY".into(),
            }],
        };
        assert_eq!(
            outcome.message("shop/prod", "abc123"),
            "shop/prod: store abc123 does not offer currencyMapping JPY -> JPY; the store's currencies: USD, EUR"
        );
        assert_eq!(outcome.reason(), Reason::MappingInvalid);
    }
}
