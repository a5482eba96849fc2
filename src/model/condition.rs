//! The typed vocabulary of status: condition types, condition statuses and CamelCase reasons.
//! The reconciler, the controller, the daemon and the commands all speak these enums; only
//! serialisation turns them into text.

use serde::{Deserialize, Serialize};

/// Defines a unit enum whose variant names are its text, with `as_str`, `parse` and `ALL`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name as written in conditions, reports and the store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }

            /// Reads a name back (from the store or JSON); `None` for anything unknown.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

named_enum! {
    /// The status of a condition, as Kubernetes defines it.
    ConditionStatus {
        /// The condition holds.
        True,
        /// The condition does not hold: a verdict against the credential.
        False,
        /// Nothing is known yet, or the last attempt gave no verdict.
        Unknown,
    }
}

named_enum! {
    /// The conditions bccreds reports on every credential.
    ConditionType {
        /// BigCommerce accepted the token for the store and every mapping target.
        Verified,
        /// The connector store holds the credential as the manifest wants it.
        Stored,
        /// Verified and Stored.
        Ready,
    }
}

named_enum! {
    /// Why a step was planned, what a step did, or why a condition has its status.
    Reason {
        // Verification outcomes.
        /// BigCommerce verified the token, the store and the mappings.
        Verified,
        /// BigCommerce rejected the access token (401).
        InvalidToken,
        /// BigCommerce refused a call (403): a missing scope or a wrong store hash.
        Forbidden,
        /// BigCommerce has no such store (404).
        StoreNotFound,
        /// Mapping targets the store does not offer.
        MappingInvalid,
        /// BigCommerce could not be reached; no verdict.
        Unreachable,
        /// BigCommerce kept answering 429; no verdict.
        RateLimited,
        // Planning.
        /// A new credential: verify and create.
        New,
        /// The manifest or a secret changed: verify and update.
        Changed,
        /// The stored row was changed outside bccreds: verify and restore.
        Drift,
        /// An unowned row with the label exists and the manifest asks to adopt it.
        Adopt,
        /// Unchanged, but the last verification failed.
        LastVerificationFailed,
        /// Unchanged, but the last verification is older than the re-verify interval.
        ReverifyDue,
        /// Part of the source could not be read, so nothing is deleted.
        IncompleteScan,
        /// No manifests were found while rows are managed.
        EmptySetGuard,
        /// The manifest does not pass validation (the reason on every condition alike).
        InvalidSpec,
        /// A secret could not be resolved, or none was given where one is required (the reason
        /// on every condition alike).
        SecretNotFound,
        /// The label is used by a row bccreds may not touch.
        LabelConflict,
        /// The stored row has a column bccreds cannot read (a rotated key, a hand edit).
        StoredRowUnreadable,
        // Results.
        /// A row was created.
        Created,
        /// A row was updated.
        Updated,
        /// An unowned row was taken over.
        Adopted,
        /// The row was marked inactive because BigCommerce revoked its token.
        Deactivated,
        /// The row was deleted.
        Deleted,
        /// The row was released, kept unmanaged.
        Orphaned,
        /// The stored row matches the manifest.
        UpToDate,
        /// Nothing was verified, so nothing is known.
        NotVerified,
        /// Nothing was stored, since verification failed.
        NotStored,
        /// The row belongs to another owner.
        NotOwned,
        /// The store failed.
        StoreError,
        /// Not reconciled yet.
        Pending,
        /// Verified and stored.
        Ready,
        /// A step had nothing to work with; a bug.
        Internal,
    }
}

impl Reason {
    /// Verdicts that mean the token no longer works for the store.
    pub fn is_revocation(self) -> bool {
        matches!(
            self,
            Reason::InvalidToken | Reason::Forbidden | Reason::StoreNotFound
        )
    }

    /// Verification outcomes that are no verdict on the credential.
    pub fn is_transient(self) -> bool {
        matches!(self, Reason::Unreachable | Reason::RateLimited)
    }

    /// The Verified condition's status after a verification with this outcome: True when
    /// verified, Unknown when there was no verdict, False otherwise.
    pub fn verified_status(self) -> ConditionStatus {
        match self {
            Reason::Verified => ConditionStatus::True,
            r if r.is_transient() => ConditionStatus::Unknown,
            _ => ConditionStatus::False,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(*reason));
            let json = serde_json::to_string(reason).expect("json");
            assert_eq!(json, format!("\"{reason}\""));
        }
        for status in ConditionStatus::ALL {
            let json = serde_json::to_string(status).expect("json");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(Reason::parse("NoSuchReason"), None);
        assert_eq!(ConditionType::parse("Ready"), Some(ConditionType::Ready));
    }

    #[test]
    fn revocations_and_transient_outcomes_are_told_apart() {
        assert!(Reason::InvalidToken.is_revocation());
        assert!(!Reason::Unreachable.is_revocation());
        assert!(Reason::RateLimited.is_transient());
        assert!(!Reason::InvalidToken.is_transient());
        assert_eq!(Reason::Verified.verified_status(), ConditionStatus::True);
        assert_eq!(
            Reason::RateLimited.verified_status(),
            ConditionStatus::Unknown
        );
        assert_eq!(Reason::Forbidden.verified_status(), ConditionStatus::False);
    }
}
