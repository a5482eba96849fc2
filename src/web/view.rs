//! What the pages show, reduced from stored rows and the reconciler's status so that no secret
//! ever reaches a template: secrets become "set" / "not set" here, before rendering.

use chrono::{DateTime, Utc};

use crate::model::{ConditionStatus, ConditionType, Reason};
use crate::probe::{Live, Wanted};
use crate::store::{CredentialFields, Ownership, StoredCredential};

/// One condition row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionView {
    /// `Ready`, `Verified`, `Stored`.
    pub type_: ConditionType,
    /// True/False/Unknown.
    pub status: ConditionStatus,
    /// The reason, as text: the store's last result may name a reason this version does not
    /// know, and the page shows it as it is.
    pub reason: String,
    /// The message.
    pub message: String,
    /// Last transition (or, from the store alone, the last verification).
    pub since: Option<DateTime<Utc>>,
}

/// A row's columns as a page may show them: each secret only as whether it is set (never its
/// value, length or hash).
pub type PageData = CredentialFields<bool, bool>;

/// Everything the detail page shows.
#[derive(Clone, Debug)]
pub struct Detail {
    /// The columns.
    pub data: PageData,
    /// The owning reconciler.
    pub owner: Option<String>,
    /// The manifest: file path, or namespace/name.
    pub source: Option<String>,
    /// Last verification.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// `created_at`.
    pub created_at: Option<DateTime<Utc>>,
    /// `updated_at`.
    pub updated_at: Option<DateTime<Utc>>,
    /// The conditions.
    pub conditions: Vec<ConditionView>,
}

impl Detail {
    /// The detail of `row`, its secrets reduced to whether they are set; conditions from the
    /// reconciler's status where it has one for this row, else from the stored last result.
    pub fn new(row: StoredCredential, own: Option<Ownership>, live: Option<&Live>) -> Detail {
        let StoredCredential {
            id,
            data,
            created_at,
            updated_at,
        } = row;
        // The secrets go before anything else is built from the row.
        let data: PageData = data.map_secrets(
            |secret| secret.is_some_and(|s| !s.is_empty()),
            |token| !token.is_empty(),
        );
        let wanted = Wanted {
            id,
            source_key: own.as_ref().map(|o| o.source_key.clone()),
        };
        let status = live.and_then(|l| l.statuses.iter().find(|s| wanted.matches(s)));
        let conditions = match (status, &own) {
            (Some(s), _) => s
                .conditions
                .iter()
                .map(|c| ConditionView {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason.as_str().to_string(),
                    message: c.message.clone(),
                    since: Some(c.last_transition_time),
                })
                .collect(),
            (None, Some(o)) => vec![stored_ready(o)],
            (None, None) => Vec::new(),
        };
        Detail {
            data,
            owner: own.as_ref().map(|o| o.owner_id.clone()),
            source: own.as_ref().map(|o| match &o.source_path {
                Some(path) => format!("{path} ({})", o.source_key),
                None => o.source_key.to_string(),
            }),
            last_verified_at: own.as_ref().and_then(|o| o.last_verified_at),
            created_at,
            updated_at,
            conditions,
        }
    }
}

/// Ready as the store alone tells it: the last result recorded on the ownership row.
fn stored_ready(own: &Ownership) -> ConditionView {
    let (status, reason) = match own.last_result {
        None => (
            ConditionStatus::Unknown,
            Reason::NotVerified.as_str().to_string(),
        ),
        Some(reason) => (reason.verified_status(), reason.as_str().to_string()),
    };
    ConditionView {
        type_: ConditionType::Ready,
        status,
        reason,
        message: own.last_message.clone().unwrap_or_default(),
        since: own.last_verified_at,
    }
}
