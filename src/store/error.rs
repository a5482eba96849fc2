//! Why a store operation failed. Messages never hold a secret, and name the fix where there is
//! one (a wrong key, a label the database folds into another).

use thiserror::Error;

use super::decode::{self, ColumnError};
use super::keyring::{self, KeySource};
use crate::crypto::{DecryptError, KeyError, KeyRing};

/// Why a store operation failed; messages never hold a secret.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The URL names no supported engine.
    #[error("unsupported store URL `{0}`: use sqlite://PATH, mysql://… or postgres://…")]
    Url(String),
    /// The table prefix could inject SQL.
    #[error("table prefix `{0}` may only hold letters, digits and `_` (at most 32)")]
    Prefix(String),
    /// The prefix makes a table or index name longer than the engine allows.
    #[error("table prefix `{prefix}` is too long for this database: its names may have at most {limit} characters, so the prefix at most {max}")]
    PrefixTooLong {
        /// The prefix.
        prefix: String,
        /// The longest prefix that fits.
        max: usize,
        /// The engine's identifier limit.
        limit: usize,
    },
    /// The database cannot be reached.
    #[error("cannot connect to the store at {url}: {}", crate::redact::redact_url(&.source.to_string()))]
    Connect {
        /// The URL, password masked.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("store query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Another row already has this label, as the database compares labels.
    #[error("{}", label_conflict_message(.label, .owner.as_deref(), .taken_by.as_deref()))]
    LabelConflict {
        /// The label.
        label: String,
        /// The owner of the other row, if bccreds manages it.
        owner: Option<String>,
        /// The other row's label as stored, when known.
        taken_by: Option<String>,
    },
    /// The row is not managed by this owner, so it is never changed.
    #[error("credential {id} is not managed by owner `{owner}`; bccreds never changes rows it does not own")]
    NotOwned {
        /// Row id.
        id: i64,
        /// The owner that asked.
        owner: String,
    },
    /// No such row.
    #[error("credential {0} does not exist")]
    NotFound(i64),
    /// A credential cannot be created without a token.
    #[error("an access token is required to create a credential")]
    MissingAccessToken,
    /// The encryption key is unusable.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// A stored secret cannot be decrypted.
    #[error("cannot decrypt column `{column}` of credential {id}: {source}")]
    Decrypt {
        /// Row id.
        id: i64,
        /// `accessToken` or `clientSecret`.
        column: &'static str,
        /// Why.
        source: DecryptError,
    },
    /// A stored row has a column bccreds cannot read (hand-edited, or written by other code).
    #[error("stored credential {id} cannot be read: {problem}")]
    Unreadable {
        /// Row id.
        id: i64,
        /// Which column, and why; never its value.
        problem: decode::ColumnError,
    },
    /// MySQL and PostgreSQL stores are UnoPim's, so they must use UnoPim's APP_KEY.
    #[error("APP_KEY is required for a {0} store, so that UnoPim can decrypt what bccreds writes (or pass --secret-encryption none)")]
    NeedsAppKey(&'static str),
    /// An existing credential table lacks what bccreds needs.
    #[error("the table `{table}` {problem}")]
    Schema {
        /// The table.
        table: String,
        /// What is wrong, naming the column.
        problem: String,
    },
    /// The store's secrets were sealed with a key this process was not given: writing would
    /// re-encrypt rows with a key UnoPim does not have, so nothing is written.
    #[error("{}", keyring::mismatch_message(.recorded.as_deref(), .given, .key_source))]
    KeyMismatch {
        /// The fingerprint the store records (None: none recorded, and no row decrypts).
        recorded: Option<String>,
        /// The keys this process was given, as fingerprints.
        given: KeyRing,
        /// Where the current key came from.
        key_source: KeySource,
    },
    /// Re-encrypting needs a key.
    #[error("rekey needs UnoPim's APP_KEY (and APP_PREVIOUS_KEYS with the old keys), or the SQLite key file")]
    RekeyNeedsKey,
    /// A store opened only to read was asked to write.
    #[error("this store was opened only to read")]
    ReadOnly,
    /// A test asked for a failure between the two writes of one operation.
    #[error("injected failure between the credential write and the ownership write")]
    Injected,
}

/// Why `label` cannot be stored: another row has it. MariaDB's collation compares labels
/// ignoring accents, case and trailing spaces, so a label that bccreds' own check saw as free
/// can be refused there; the message then shows both labels and says why they clash.
fn label_conflict_message(label: &str, owner: Option<&str>, taken_by: Option<&str>) -> String {
    let who = owner.map_or_else(
        || "a credential bccreds does not manage (annotate the manifest with bigcommerce.unopim.io/adopt: \"true\" to take it over)".to_string(),
        |o| format!("a credential managed by owner `{o}`"),
    );
    match taken_by {
        Some(other) if other != label => format!(
            "label `{label}` clashes with `{other}`, which is used by {who}: the two differ only in accents or case (or trailing spaces), which this database ignores when it compares labels"
        ),
        _ => format!("label `{label}` is already used by {who}"),
    }
}

impl StoreError {
    /// The column of a stored row that could not be read, when that is what went wrong.
    pub fn unreadable_column(&self) -> Option<ColumnError> {
        match self {
            StoreError::Unreadable { problem, .. } => Some(problem.clone()),
            StoreError::Decrypt { column, source, .. } => Some(ColumnError {
                column,
                reason: format!("cannot be decrypted ({source})"),
            }),
            _ => None,
        }
    }
}
