//! `bccreds demo`: the whole flow against the built-in simulator and a temporary store.
//!
//! Everything the demo needs is compiled into the binary (the example manifests, the secret files
//! and the simulator fixture), so it runs from any directory, needs no network beyond loopback
//! and no database server, and removes everything it wrote when it ends, even on error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use sha2::{Digest, Sha256};

use crate::reconcile::{plan_report, OnRevoked, PassReport, Reconciler, ReconcilerConfig, Scan};
use crate::simulator::{Fixture, Simulator};
use crate::source::files;
use crate::store::{Encryption, ListQuery, ListedCredential, Store, StoreOptions};
use crate::validate::ValidateOptions;
use crate::verify::{BigCommerceClient, ClientOptions};

#[derive(Debug, Args)]
pub struct DemoArgs {}

/// The example tree, as `examples/` holds it: (path under the demo's `examples/`, contents).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "production.yaml",
        include_str!("../../examples/production.yaml"),
    ),
    (
        "production-secret.yaml",
        include_str!("../../examples/production-secret.yaml"),
    ),
    ("europe.yaml", include_str!("../../examples/europe.yaml")),
    ("staging.yaml", include_str!("../../examples/staging.yaml")),
    (
        "secrets/europe/access-token",
        include_str!("../../examples/secrets/europe/access-token"),
    ),
    (
        "secrets/europe/client-id",
        include_str!("../../examples/secrets/europe/client-id"),
    ),
    (
        "secrets/europe/client-secret",
        include_str!("../../examples/secrets/europe/client-secret"),
    ),
    (
        "simulator/fixture.yaml",
        include_str!("../../examples/simulator/fixture.yaml"),
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

/// Sets the two variables `staging.yaml` reads, unless they already hold the demo values.
///
/// File-mode scans read `env:` sources from the process environment, and the examples are meant
/// to be shown as they are (env sources included), not rewritten into file sources. So the demo
/// sets the variables in its own process. `std::env::set_var` races only with code reading the
/// environment from other threads at the same moment, so [`run`] calls this before it starts the
/// async runtime, while the process still has a single thread; [`run_demo`] calls it again,
/// which is then a no-op. A caller of [`run_demo`] (a test) should call it first, too.
pub fn set_demo_env() {
    for (name, value) in DEMO_ENV {
        if std::env::var(name).ok().as_deref() != Some(value) {
            std::env::set_var(name, value);
        }
    }
}

/// A directory under the system temp dir, removed (with everything in it) when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create() -> std::io::Result<TempDir> {
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
                eprintln!(
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
    pub broken_reason: String,
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

fn write_files(root: &Path) -> anyhow::Result<()> {
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
fn edit_file(path: &Path, from: &str, to: &str) -> anyhow::Result<()> {
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

fn heading(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== {text}")?;
    writeln!(out)
}

/// Prints a report as `bccreds plan` / `apply` do, into `out`.
fn write_report(out: &mut impl Write, report: &PassReport, scan: &Scan) -> std::io::Result<()> {
    for problem in &scan.problems {
        writeln!(out, "{problem}")?;
    }
    for item in &report.items {
        writeln!(
            out,
            "{:<9} {}/{} ({}): {}",
            item.action, item.namespace, item.name, item.label, item.message
        )?;
    }
    let s = &report.summary;
    writeln!(
        out,
        "{} created, {} updated, {} deleted, {} unchanged, {} failed",
        s.created, s.updated, s.deleted, s.unchanged, s.failed
    )
}

fn write_table(out: &mut impl Write, rows: &[ListedCredential]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No credentials stored.");
    }
    write!(out, "{}", super::list::table(rows, Utc::now(), 80))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn row_facts(store: &Store, label: &str) -> anyhow::Result<RowFacts> {
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

/// The pieces one demo run works with.
struct Demo {
    examples: PathBuf,
    secrets: PathBuf,
    validate: ValidateOptions,
    store: Arc<Store>,
    reconciler: Reconciler<BigCommerceClient>,
}

impl Demo {
    fn scan(&self) -> Scan {
        files::scan(
            std::slice::from_ref(&self.examples),
            &self.validate,
            Some(&self.secrets),
        )
    }

    /// One apply pass, printed; returns the report and the rows after it.
    async fn pass(
        &self,
        out: &mut impl Write,
    ) -> anyhow::Result<(PassReport, Vec<ListedCredential>)> {
        let scan = self.scan();
        let report = self.reconciler.apply(&scan).await?;
        write_report(out, &report, &scan)?;
        let rows = self.store.list(&ListQuery::default()).await?;
        Ok((report, rows))
    }
}

/// Runs the demo, printing for people into `out`; never prints a secret.
///
/// The temporary directory is removed before this returns, whether it succeeds or not.
pub async fn run_demo(out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    set_demo_env();
    let dir = TempDir::create().context("cannot create the demo's temporary directory")?;
    let result = run_in(&dir.path, out).await;
    let temp_dir = dir.path.clone();
    drop(dir);
    let mut summary = result?;
    what_next(out, &temp_dir)?;
    summary.temp_dir = temp_dir;
    Ok(summary)
}

async fn run_in(root: &Path, out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    let examples = root.join("examples");
    let secrets = examples.join("secrets");
    writeln!(
        out,
        "bccreds demo: the whole flow against a simulated BigCommerce and a"
    )?;
    writeln!(
        out,
        "temporary SQLite store. Nothing outside this directory is touched:"
    )?;
    writeln!(out, "  working directory: {}", root.display())?;
    write_files(&examples)?;

    let fixture = Fixture::load(&examples.join("simulator/fixture.yaml"))?;
    let sim = Simulator::start(fixture, "127.0.0.1:0".parse()?)
        .await
        .context("cannot start the BigCommerce simulator")?;
    writeln!(out, "  BigCommerce simulator: {}", sim.base_url())?;
    let result = steps(root, examples, secrets, &sim, out).await;
    let requests = sim.requests().len();
    sim.shutdown().await;
    let mut summary = result?;
    summary.simulator_requests = requests;
    Ok(summary)
}

async fn steps(
    root: &Path,
    examples: PathBuf,
    secrets: PathBuf,
    sim: &Simulator,
    out: &mut impl Write,
) -> anyhow::Result<DemoSummary> {
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
            concurrency: 8,
            reverify_interval: Duration::from_secs(6 * 3600),
            on_revoked: OnRevoked::Keep,
            allow_empty: false,
        },
    );
    let demo = Demo {
        examples,
        secrets,
        validate: ValidateOptions::default(),
        store,
        reconciler,
    };
    let result = run_steps(&demo, out).await;
    demo.store.close().await;
    result
}

async fn run_steps(demo: &Demo, out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    writeln!(
        out,
        "  connector store: sqlite://…/connector.db (secrets encrypted with a key file)"
    )?;
    writeln!(
        out,
        "  manifests: production.yaml (+ its Secret), europe.yaml (file: secrets),"
    )?;
    writeln!(
        out,
        "             staging.yaml (Staging and Outlet, env: secrets; Outlet has deletion-policy Orphan)"
    )?;

    heading(
        out,
        "1. Plan: what `bccreds apply` would do (nothing is verified or written)",
    )?;
    let scan = demo.scan();
    let plan = plan_report(&demo.reconciler.plan(&scan).await?);
    write_report(out, &plan, &scan)?;

    heading(
        out,
        "2. Apply: verify each credential with BigCommerce, then store it",
    )?;
    let (applied, rows_after_apply) = demo.pass(out).await?;
    writeln!(out)?;
    writeln!(out, "`bccreds list` now shows:")?;
    write_table(out, &rows_after_apply)?;

    heading(
        out,
        &format!("3. Edit production.yaml: label `Production Store` -> `{EDITED_LABEL}`"),
    )?;
    edit_file(
        &demo.examples.join("production.yaml"),
        "label: Production Store\n",
        &format!("label: {EDITED_LABEL}\n"),
    )?;
    let (edited, rows_after_edit) = demo.pass(out).await?;
    writeln!(out)?;
    write_table(out, &rows_after_edit)?;

    heading(
        out,
        "4. Break a token: a wrong access token in secrets/europe/access-token",
    )?;
    let europe_label = "Europe Store";
    let broken_row_before = row_facts(&demo.store, europe_label).await?;
    std::fs::write(
        demo.secrets.join("europe/access-token"),
        format!("{WRONG_TOKEN}\n"),
    )
    .context("cannot write the Europe token file")?;
    let (broken, rows_after_break) = demo.pass(out).await?;
    let broken_row_after = row_facts(&demo.store, europe_label).await?;
    let item = broken
        .items
        .iter()
        .find(|i| i.name == "europe-store")
        .context("the pass did not report europe-store")?;
    let (broken_reason, broken_message) = (item.reason.clone(), item.message.clone());
    writeln!(out)?;
    writeln!(
        out,
        "Verification failed ({broken_reason}), so nothing was written:"
    )?;
    let kept = broken_row_before == broken_row_after;
    writeln!(
        out,
        "the stored `{europe_label}` row (id {}) keeps its label, URL and previous token{}.",
        broken_row_after.id,
        if kept { "" } else { " (NOT: it changed!)" }
    )?;
    writeln!(
        out,
        "Its Ready column turns False: the last verification of this manifest failed."
    )?;
    write_table(out, &rows_after_break)?;

    heading(
        out,
        "5. Delete staging.yaml (the Staging and Outlet manifests)",
    )?;
    std::fs::remove_file(demo.examples.join("staging.yaml"))
        .context("cannot delete staging.yaml")?;
    writeln!(
        out,
        "The Europe token is still wrong, so Europe fails again and stays as it was."
    )?;
    let (deleted, rows_after_delete) = demo.pass(out).await?;
    writeln!(out)?;
    writeln!(
        out,
        "Staging's row is gone; Outlet's deletion policy is Orphan, so its row stays, unmanaged:"
    )?;
    write_table(out, &rows_after_delete)?;

    Ok(DemoSummary {
        temp_dir: PathBuf::new(),
        plan,
        applied,
        rows_after_apply,
        edited,
        rows_after_edit,
        broken,
        broken_reason,
        broken_message,
        broken_row_before,
        broken_row_after,
        rows_after_break,
        deleted,
        rows_after_delete,
        simulator_requests: 0,
    })
}

fn what_next(out: &mut impl Write, temp_dir: &Path) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== Done. Removed {}", temp_dir.display())?;
    writeln!(out)?;
    writeln!(out, "Run it yourself, from a checkout:")?;
    writeln!(
        out,
        "  bccreds simulate-bigcommerce --listen 127.0.0.1:8787 --fixture examples/simulator/fixture.yaml &"
    )?;
    writeln!(
        out,
        "  export BC_STAGING_ACCESS_TOKEN=… BC_OUTLET_ACCESS_TOKEN=…   # the demo tokens, see README.md"
    )?;
    writeln!(
        out,
        "  export BCCREDS_BIGCOMMERCE_BASE_URL=http://127.0.0.1:8787 BCCREDS_SECRETS_DIR=examples/secrets"
    )?;
    writeln!(
        out,
        "  bccreds validate examples/                 # schema and rules, no network"
    )?;
    writeln!(
        out,
        "  bccreds plan examples/                     # what apply would do"
    )?;
    writeln!(
        out,
        "  bccreds apply examples/                    # one pass into sqlite://bccreds.db"
    )?;
    writeln!(
        out,
        "  bccreds watch examples/                    # keep reconciling as files change"
    )?;
    writeln!(
        out,
        "  bccreds status                             # per-manifest conditions, from watch"
    )?;
    writeln!(
        out,
        "  bccreds list                               # the credentials page"
    )?;
    writeln!(out, "More: README.md, and `bccreds COMMAND --help`.")
}

pub fn run(_args: &DemoArgs) -> u8 {
    // Before the runtime starts any thread; see `set_demo_env`.
    set_demo_env();
    let Some(runtime) = super::process::runtime() else {
        return super::EXIT_FAILED;
    };
    let mut stdout = std::io::stdout().lock();
    match runtime.block_on(run_demo(&mut stdout)) {
        Ok(_) => super::EXIT_OK,
        Err(e) => {
            let _ = stdout.flush();
            eprintln!("error: the demo failed: {e:#}");
            super::EXIT_FAILED
        }
    }
}
