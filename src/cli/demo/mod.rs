//! `bccreds demo`: the whole flow against the built-in simulator and a temporary store.
//!
//! Everything the demo needs is compiled into the binary (the example manifests, the secret files
//! and the simulator fixture), so it runs from any directory, needs no network beyond loopback
//! and no database server, and removes everything it wrote when it ends, even on error. This
//! file is the narrative; `harness.rs` holds the machinery and the facts tests check.

use crate::cli::out::errln;
mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use crate::simulator::{Fixture, Simulator};
use crate::store::ListedCredential;

pub use harness::{demo_env, DemoSummary, RowFacts, DEMO_ENV, EDITED_LABEL, WRONG_TOKEN};
use harness::{edit_file, row_facts, write_files, Demo, TempDir};

#[derive(Debug, Args)]
pub struct DemoArgs {}

fn heading(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== {text}")?;
    writeln!(out)
}

fn write_table(out: &mut impl Write, rows: &[ListedCredential]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No credentials stored.");
    }
    write!(out, "{}", super::list::table(rows, Utc::now(), 80))
}

/// Runs the demo, printing for people into `out`; never prints a secret.
///
/// The temporary directory is removed before this returns, whether it succeeds or not.
pub async fn run_demo(out: &mut impl Write) -> anyhow::Result<DemoSummary> {
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
    let result = steps(root, &sim, out).await;
    let requests = sim.requests().len();
    sim.shutdown().await;
    let mut summary = result?;
    summary.simulator_requests = requests;
    Ok(summary)
}

async fn steps(root: &Path, sim: &Simulator, out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    let demo = Demo::open(root, sim).await?;
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
    let plan = demo.plan(out).await?;

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
        .find(|i| i.key.name == "europe-store")
        .context("the pass did not report europe-store")?;
    let (broken_reason, broken_message) = (item.reason, item.message.clone());
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
    let Some(runtime) = super::process::runtime() else {
        return super::EXIT_FAILED;
    };
    let mut stdout = super::out::PipeSafe::new(std::io::stdout().lock());
    match runtime.block_on(run_demo(&mut stdout)) {
        Ok(_) => super::EXIT_OK,
        Err(e) => {
            let _ = stdout.flush();
            errln!("error: the demo failed: {e:#}");
            super::EXIT_FAILED
        }
    }
}
