//! The demo's machinery, apart from its narrative: the embedded example tree, a temporary
//! directory that cleans up after itself, the store and reconciler, and the facts tests check.

use crate::cli::out::errln;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::cli::report::{write_problems, write_text};
use crate::reconcile::{plan_report, PassReport, Reconciler, ReconcilerConfig, Scan};
use crate::simulator::Simulator;
use crate::source::{EnvLookup, FileSource};
use crate::store::{Encryption, ListQuery, ListedCredential, Store, StoreOptions};
use crate::validate::ValidateOptions;
use crate::verify::{BigCommerceClient, ClientOptions};

/// The example tree, as `examples/` holds it: (path under the demo's `examples/`, contents).
pub(super) const EXAMPLES: &[(&str, &str)] = &[
    (
        "production.yaml",
        include_str!("../../../examples/production.yaml"),
    ),
    (
        "production-secret.yaml",
        include_str!("../../../examples/production-secret.yaml"),
    ),
    ("europe.yaml", include_str!("../../../examples/europe.yaml")),
    (
        "staging.yaml",
        include_str!("../../../examples/staging.yaml"),
    ),
    (
        "secrets/europe/access-token",
        include_str!("../../../examples/secrets/europe/access-token"),
    ),
    (
        "secrets/europe/client-id",
        include_str!("../../../examples/secrets/europe/client-id"),
    ),
    (
        "secrets/europe/client-secret",
        include_str!("../../../examples/secrets/europe/client-secret"),
    ),
    (
        "simulator/fixture.yaml",
        include_str!("../../../examples/simulator/fixture.yaml"),
    ),
];

/// The variables `staging.yaml` reads its tokens from, with the fixture's demo tokens.
pub const DEMO_ENV: [(&str, &str); 2] = [
    ("BC_STAGING_ACCESS_TOKEN", "demo-staging-access-token"),
    ("BC_OUTLET_ACCESS_TOKEN", "demo-outlet-access-token"),
];

/// The token step 4 writes into `secrets/europe/access-token`; the simulator rejects it.
pub const WRONG_TOKEN: &str = "demo-wrong-europe-access-token";

/// The owner id the demo's reconciler writes.
const OWNER: &str = "bccreds-demo";

/// The label step 3 gives the production credential.
pub const EDITED_LABEL: &str = "Production (US)";

/// Reads `env:` sources as the demo's process would if those two variables were set, without
/// touching the process environment (which other threads may be reading).
pub fn demo_env() -> EnvLookup {
    Arc::new(|name: &str| {
        DEMO_ENV
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
}

/// A directory under the system temp dir, removed (with everything in it) when dropped.
pub(super) struct TempDir {
    pub(super) path: PathBuf,
}

impl TempDir {
    pub(super) fn create() -> std::io::Result<TempDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut attempt = 0u32;
        loop {
            let path = base.join(format!(
                "bccreds-demo-{}-{nanos:08x}{attempt}",
                std::process::id()
            ));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errln!(
                    "warning: could not remove the demo directory {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

/// What a stored row looked like, without its secrets (the token only as a sha256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowFacts {
    /// Row id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// API URL.
    pub api_url: String,
    /// sha256 (hex) of the decrypted access token.
    pub token_sha256: String,
    /// `updated_at`.
    pub updated_at: Option<chrono::DateTime<Utc>>,
}

/// The facts of a demo run, for tests.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    /// The temporary directory the demo worked in (gone by the time this is returned).
    pub temp_dir: PathBuf,
    /// Step 1: the plan against the empty store.
    pub plan: PassReport,
    /// Step 2: the first apply, and the rows after it.
    pub applied: PassReport,
    /// Rows after step 2.
    pub rows_after_apply: Vec<ListedCredential>,
    /// Step 3: the pass after relabelling the production credential.
    pub edited: PassReport,
    /// Rows after step 3.
    pub rows_after_edit: Vec<ListedCredential>,
    /// Step 4: the pass with a wrong Europe token.
    pub broken: PassReport,
    /// Step 4: the Europe item's reason (`InvalidToken`).
    pub broken_reason: crate::model::Reason,
    /// Step 4: the Europe item's message.
    pub broken_message: String,
    /// Step 4: the Europe row before and after the failed pass.
    pub broken_row_before: RowFacts,
    /// See `broken_row_before`.
    pub broken_row_after: RowFacts,
    /// Rows after step 4.
    pub rows_after_break: Vec<ListedCredential>,
    /// Step 5: the pass after deleting `staging.yaml`.
    pub deleted: PassReport,
    /// Rows after step 5.
    pub rows_after_delete: Vec<ListedCredential>,
    /// Requests the simulator answered in the whole demo.
    pub simulator_requests: usize,
}

pub(super) fn write_files(root: &Path) -> anyhow::Result<()> {
    for (rel, text) in EXAMPLES {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Replaces `from` by `to` in a file, failing if `from` is not there.
pub(super) fn edit_file(path: &Path, from: &str, to: &str) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        text.contains(from),
        "{} does not contain the text to edit",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) async fn row_facts(store: &Store, label: &str) -> anyhow::Result<RowFacts> {
    let (row, _) = store
        .find_by_label(label)
        .await?
        .with_context(|| format!("no stored row labelled `{label}`"))?;
    Ok(RowFacts {
        id: row.id,
        label: row.data.label,
        api_url: row.data.api_url,
        token_sha256: sha256_hex(row.data.access_token.expose().as_bytes()),
        updated_at: row.updated_at,
    })
}

/// The pieces one demo run works with: the example tree, its store and its reconciler.
pub(super) struct Demo {
    pub(super) examples: PathBuf,
    pub(super) secrets: PathBuf,
    pub(super) store: Arc<Store>,
    reconciler: Reconciler<BigCommerceClient>,
}

impl Demo {
    /// A SQLite store under `root` and a reconciler verifying with `sim`.
    pub(super) async fn open(root: &Path, sim: &Simulator) -> anyhow::Result<Demo> {
        let examples = root.join("examples");
        let secrets = examples.join("secrets");
        let db = root.join("connector.db");
        let store = Arc::new(
            Store::connect(StoreOptions {
                url: format!("sqlite://{}", db.display()),
                table_prefix: String::new(),
                encryption: Encryption::KeyFile,
            })
            .await?,
        );
        let client = Arc::new(BigCommerceClient::new(&ClientOptions {
            base_url: sim.base_url(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        })?);
        let reconciler = Reconciler::new(
            store.clone(),
            client,
            ReconcilerConfig {
                owner: OWNER.into(),
                ..ReconcilerConfig::default()
            },
        )
        .one_shot();
        Ok(Demo {
            examples,
            secrets,
            store,
            reconciler,
        })
    }

    /// The example tree as the file source reads it, with the demo's variables.
    pub(super) fn scan(&self) -> Scan {
        FileSource::new(vec![self.examples.clone()], ValidateOptions::default())
            .with_secrets_dir(Some(self.secrets.clone()))
            .with_env(demo_env())
            .scan()
    }

    /// The plan against the current store, printed.
    pub(super) async fn plan(&self, out: &mut impl Write) -> anyhow::Result<PassReport> {
        let scan = self.scan();
        let plan = plan_report(&self.reconciler.plan(&scan).await?);
        write_problems(out, &scan.problems)?;
        write_text(out, &plan, true)?;
        Ok(plan)
    }

    /// One apply pass, printed; returns the report and the rows after it.
    pub(super) async fn pass(
        &self,
        out: &mut impl Write,
    ) -> anyhow::Result<(PassReport, Vec<ListedCredential>)> {
        let scan = self.scan();
        let report = self.reconciler.apply(&scan).await?;
        write_problems(out, &scan.problems)?;
        write_text(out, &report, true)?;
        let rows = self.store.list(&ListQuery::default()).await?;
        Ok((report, rows))
    }
}
