//! What a running process tells its endpoints: readiness, the `/status` document, metrics, and
//! what the credentials page adds from a live reconciler.
//!
//! `server` serves it and `web` renders it; `daemon.rs`, `controller/` and `cli/serve.rs`
//! implement [`Probe`]; `bccreds status` reads the [`StatusDocument`] back. It lives apart from
//! both `server` and `web` so that neither needs the other's internals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::model::SourceKey;
use crate::reconcile::{CredentialStatus, Summary};

/// What the endpoints serve; implemented by the daemon's and the controller's state.
pub trait Probe: Send + Sync + 'static {
    /// Ready: the first full pass has completed and the store is reachable.
    fn ready(&self) -> Result<(), String>;
    /// Per-manifest conditions as a JSON document (a [`StatusDocument`]).
    fn status(&self) -> serde_json::Value;
    /// Prometheus text exposition (format 0.0.4).
    fn metrics(&self) -> String;
    /// What the credentials page adds from a running reconciler (the last pass, and the status
    /// of the credential `wanted` names, if any); None without one (`serve`).
    fn live(&self, wanted: Option<&Wanted>) -> Option<Live> {
        let _ = wanted;
        None
    }
    /// A number that changes whenever a pass ends, for the page's events; None without one.
    fn passes(&self) -> Option<u64> {
        None
    }
}

/// The `/status` document, as `watch`, `controller` and `serve` write it and `bccreds status`
/// reads it. The fields a mode does not have are left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDocument {
    /// Every credential's conditions.
    pub credentials: Vec<CredentialStatus>,
    /// Manifests the last scan could not read (`watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<Diagnostic>>,
    /// The last pass (`watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<PassStatus>,
    /// Whether this replica holds the lease (`controller`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
}

impl StatusDocument {
    /// The document as JSON, for [`Probe::status`].
    pub fn to_json(&self) -> serde_json::Value {
        // Invariant: every field serialises infallibly (plain structs, string-keyed maps), so the
        // fallback is never taken; it keeps a broken derive from panicking a probe.
        serde_json::to_value(self).unwrap_or_else(|e| {
            tracing::error!("the status document does not serialise: {e}");
            serde_json::Value::Null
        })
    }
}

/// `watch`'s last pass in the status document; every field null until there was one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PassStatus {
    /// When it ended.
    pub at: Option<DateTime<Utc>>,
    /// What started it (`start`, `change`, `resync` …).
    pub trigger: Option<String>,
    /// Why it could not complete, if it could not.
    pub error: Option<String>,
    /// Its counts.
    pub summary: Option<Summary>,
}

/// The last pass of a reconciler, as the page headline shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LastPass {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// `3 created, 0 updated, …`.
    pub summary: String,
    /// Why it could not complete, if it could not.
    pub error: Option<String>,
}

/// The credential whose status a detail page shows: its row, and its manifest's key when
/// bccreds manages it.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// The row.
    pub id: i64,
    /// Its manifest.
    pub source_key: Option<SourceKey>,
}

impl Wanted {
    /// Whether `status` is this credential's.
    pub fn matches(&self, status: &CredentialStatus) -> bool {
        status.credential_id == Some(self.id)
            || self
                .source_key
                .as_ref()
                .is_some_and(|k| k.namespace == status.namespace && k.name == status.name)
    }
}

/// What a running reconciler adds to the pages.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// The last pass, once there was one.
    pub last_pass: Option<LastPass>,
    /// The status of the credential a detail page asked for (none for the list).
    pub statuses: Vec<CredentialStatus>,
}
