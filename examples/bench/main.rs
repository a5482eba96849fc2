//! The benchmark harness for the targets in DESIGN.md ("Performance"). It prints numbers and never
//! asserts them; results go in BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release --example bench -- [--n 10000] [--concurrency 64] [--latency-ms 1]
//! ```
//!
//! It writes N manifests (N distinct stores, tokens as `file:` sources) to a temporary directory,
//! serves a matching fixture from the simulator in this process (every store with a `latencyMs`
//! store fault and a generous quota), and measures, into a temporary SQLite store:
//! a cold apply, an unchanged apply (and the BigCommerce requests it made), one edited file
//! through the real file watcher until the store shows it, idle CPU, and peak RSS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bccreds::daemon::watch_pass;
use bccreds::model::DeletionPolicy;
use bccreds::reconcile::{
    Action, DesiredIndex, OnRevoked, PassReport, Reconciler, ReconcilerConfig, Scan,
};
use bccreds::secret::SecretValue;
use bccreds::simulator::fixture::{CurrencyFixture, Fault, StoreFixture, TokenFixture};
use bccreds::simulator::{Fixture, Simulator};
use bccreds::source::FileSource;
use bccreds::store::{
    CredentialData, Encryption, ListQuery, Ownership, SecretUpdate, Store, StoreOptions,
};
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions, Outcome, Verifier, VerifyRequest};
use bccreds::watch::{TreeWatcher, Trigger, WatchOptions};
use clap::Parser;
use futures_util::stream::{self, StreamExt};

mod peer;

/// The benchmark harness for DESIGN.md's performance targets.
#[derive(Debug, Parser)]
struct Args {
    /// Manifests (each its own store).
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Verifications at once (`--concurrency`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Latency the simulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 1)]
    latency_ms: u64,
    /// The watcher's debounce window, in milliseconds (default: the watcher's default).
    #[arg(long)]
    debounce_ms: Option<u64>,
    /// How many single-file edits to time.
    #[arg(long, default_value_t = 3)]
    edits: usize,
    /// Also time the parts on their own: verification without the store, store writes without
    /// verification (first and last thousand), and the reads of an unchanged pass.
    #[arg(long)]
    breakdown: bool,
    /// Skip the Python peer (examples/peer/peer.py) and its ratios.
    #[arg(long)]
    no_peer: bool,
}

const OWNER: &str = "bench";
const SCOPES: [&str; 3] = [
    "store_v2_information_read_only",
    "store_v2_products_read_only",
    "store_channel_settings_read_only",
];

fn hash(i: usize) -> String {
    format!("b{i:05}")
}

fn label(i: usize) -> String {
    format!("Bench Store {i:05}")
}

fn token(i: usize) -> String {
    format!("bench-access-token-{i:05}")
}

fn manifest(i: usize, label: &str) -> String {
    format!(
        "apiVersion: bigcommerce.unopim.io/v1alpha1
kind: BigCommerceCredential
metadata:
  name: store-{i:05}
  namespace: bench
spec:
  label: {label}
  apiUrl: https://api.bigcommerce.com/stores/{hash}/
  accessToken:
    file: tokens/{hash}
  defaultLocale: en_US
  defaultCurrency: USD
  localeMapping:
    en_US: en
  currencyMapping:
    USD: USD
",
        hash = hash(i)
    )
}

fn manifest_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("store-{i:05}.yaml"))
}

/// Writes the manifests and token files.
fn generate(manifests: &Path, secrets: &Path, n: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(manifests)?;
    std::fs::create_dir_all(secrets.join("tokens"))?;
    for i in 0..n {
        std::fs::write(manifest_path(manifests, i), manifest(i, &label(i)))?;
        std::fs::write(secrets.join("tokens").join(hash(i)), token(i))?;
    }
    Ok(())
}

/// The matching fixture, built in code: at 10,000 stores its YAML would exceed the YAML loader's
/// node budget (100,000 nodes), which `Fixture::load` keeps for hostile input.
fn fixture(n: usize, latency_ms: u64) -> Fixture {
    let stores = (0..n)
        .map(|i| StoreFixture {
            hash: hash(i),
            name: label(i),
            currencies: vec![CurrencyFixture {
                code: "USD".into(),
                name: None,
                enabled: true,
                exchange_rate: None,
            }],
            quota: 1_000_000,
            window_ms: 30_000,
            faults: if latency_ms > 0 {
                vec![Fault {
                    latency_ms,
                    ..Fault::default()
                }]
            } else {
                Vec::new()
            },
            ..StoreFixture::default()
        })
        .collect();
    let tokens = (0..n)
        .map(|i| TokenFixture {
            token: token(i),
            store: hash(i),
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            faults: Vec::new(),
        })
        .collect();
    Fixture {
        stores,
        tokens,
        ..Fixture::default()
    }
}

/// `VmHWM` and `VmRSS` from /proc/self/status, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// User plus system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn check(report: &PassReport, what: &str) {
    if report.summary.failed > 0 {
        eprintln!(
            "warning: {what}: {} credentials failed, e.g.:",
            report.summary.failed
        );
        for item in report
            .items
            .iter()
            .filter(|i| i.action != Action::Unchanged)
            .take(3)
        {
            eprintln!("  {}: {} {}", item.key, item.reason, item.message);
        }
    }
}

struct Bench {
    manifests: PathBuf,
    store: Arc<Store>,
    rec: Reconciler<BigCommerceClient>,
    source: std::sync::Mutex<FileSource>,
    /// What the last pass saw, as `watch` keeps it.
    index: tokio::sync::Mutex<DesiredIndex>,
}

impl Bench {
    /// Scans as `watch` does: files unchanged since the last pass come from the cache.
    fn scan(&self) -> Scan {
        self.source.lock().unwrap_or_else(|p| p.into_inner()).scan()
    }

    /// scan + apply, timed: (report, scan time, total time). A full pass plans every
    /// credential, as `watch` does at start and resync; otherwise only what changed since the
    /// last pass, as `watch` does on a change.
    async fn pass(&self, full: bool) -> anyhow::Result<(PassReport, Duration, Duration)> {
        let started = Instant::now();
        let scan = self.scan();
        let scanned = started.elapsed();
        ensure!(
            scan.problems.is_empty(),
            "scan problems: {:?}",
            scan.problems
        );
        let mut index = self.index.lock().await;
        let report = self.rec.apply_changes(&scan, &mut index, full).await?;
        Ok((report, scanned, started.elapsed()))
    }

    /// A pass after a change, as `watch` runs it.
    async fn pass_changed(&self, paths: Option<Vec<PathBuf>>) -> anyhow::Result<PassReport> {
        let mut index = self.index.lock().await;
        let (_, result) = watch_pass(&self.source, &self.rec, &mut index, false, paths).await;
        Ok(result?)
    }
}

struct Row {
    what: String,
    measured: String,
    target: &'static str,
}

fn row(what: impl Into<String>, measured: impl Into<String>, target: &'static str) -> Row {
    Row {
        what: what.into(),
        measured: measured.into(),
        target,
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.n;
    ensure!(n > 0, "--n must be at least 1");
    let dir = tempfile::tempdir()?;
    let manifests = dir.path().join("manifests");
    let secrets = dir.path().join("secrets");
    let started = Instant::now();
    generate(&manifests, &secrets, n)?;
    eprintln!("generated {n} manifests in {}", ms(started.elapsed()));

    let sim = Simulator::start(fixture(n, args.latency_ms), "127.0.0.1:0".parse()?).await?;
    let store = Arc::new(
        Store::connect(StoreOptions {
            url: format!("sqlite://{}", dir.path().join("connector.db").display()),
            table_prefix: String::new(),
            encryption: Encryption::KeyFile,
        })
        .await?,
    );
    let client = Arc::new(BigCommerceClient::new(&ClientOptions {
        base_url: sim.base_url(),
        ..ClientOptions::default()
    })?);
    let rec = Reconciler::new(
        store.clone(),
        client,
        ReconcilerConfig {
            owner: OWNER.into(),
            concurrency: args.concurrency.max(1),
            reverify_interval: Duration::from_secs(6 * 3600),
            on_revoked: OnRevoked::Keep,
            allow_empty: false,
            prune: true,
        },
    );
    let source = FileSource::new(vec![manifests.clone()], ValidateOptions::default())
        .with_secrets_dir(Some(secrets))
        .cached();
    let bench = Bench {
        manifests,
        store,
        rec,
        source: std::sync::Mutex::new(source),
        index: tokio::sync::Mutex::new(DesiredIndex::default()),
    };

    // The watcher starts before the first pass, as `watch` does; its triggers go to a channel
    // with the time they fired.
    let watch_opts = WatchOptions {
        debounce: args
            .debounce_ms
            .map_or(WatchOptions::default().debounce, Duration::from_millis),
        resync_interval: Duration::ZERO,
        poll: None,
    };
    let debounce = watch_opts.debounce;
    let mut watcher = TreeWatcher::start(&bench.manifests, watch_opts)?;
    let (tx, mut triggers) =
        tokio::sync::mpsc::unbounded_channel::<(Trigger, Option<Vec<PathBuf>>, Instant)>();
    let watch_task = tokio::spawn(async move {
        loop {
            let trigger = watcher.next().await;
            let paths = watcher.changed_paths();
            if tx.send((trigger, paths, Instant::now())).is_err() {
                break;
            }
        }
    });
    let (hwm_setup, _) = memory_kib();
    let mut rows = Vec::new();

    // Cold.
    let before = sim.requests().len();
    let (cold, cold_scan, cold_total) = bench.pass(true).await?;
    check(&cold, "cold apply");
    let cold_requests = sim.requests().len() - before;
    ensure!(
        cold.summary.created == n,
        "cold apply created {} of {n}",
        cold.summary.created
    );
    rows.push(row("cold apply (scan + pass)", ms(cold_total), "3 s"));
    rows.push(row("  of which scan", ms(cold_scan), ""));
    rows.push(row(
        "  BigCommerce requests",
        format!("{cold_requests}"),
        "",
    ));
    let (hwm_cold, _) = memory_kib();

    // Unchanged.
    let before = sim.requests().len();
    let (same, same_scan, same_total) = bench.pass(true).await?;
    check(&same, "unchanged apply");
    let same_requests = sim.requests().len() - before;
    ensure!(
        same.summary.unchanged == n,
        "unchanged apply left {} of {n} unchanged",
        same.summary.unchanged
    );
    rows.push(row(
        "unchanged full pass (scan + pass of every credential)",
        ms(same_total),
        "300 ms",
    ));
    rows.push(row("  of which scan", ms(same_scan), ""));
    rows.push(row(
        "  BigCommerce requests",
        format!("{same_requests}"),
        "0",
    ));
    let before = sim.requests().len();
    let (quiet, quiet_scan, quiet_total) = bench.pass(false).await?;
    check(&quiet, "unchanged pass of changes");
    ensure!(
        quiet.items.is_empty(),
        "a pass of changes with nothing changed planned {} credentials",
        quiet.items.len()
    );
    rows.push(row(
        "unchanged pass of changes (scan + pass of what changed)",
        ms(quiet_total),
        "300 ms",
    ));
    rows.push(row("  of which scan", ms(quiet_scan), ""));
    rows.push(row(
        "  BigCommerce requests",
        format!("{}", sim.requests().len() - before),
        "0",
    ));

    // One edited file, through the watcher.
    while triggers.try_recv().is_ok() {}
    let mut from_write = Vec::new();
    let mut from_trigger = Vec::new();
    for k in 0..args.edits {
        let i = (k * 7919) % n;
        let new_label = format!("{} edited {k}", label(i));
        let path = manifest_path(&bench.manifests, i);
        let written = Instant::now();
        std::fs::write(&path, manifest(i, &new_label))?;
        let (trigger, paths, fired) =
            tokio::time::timeout(debounce + Duration::from_secs(10), triggers.recv())
                .await
                .context("no watch trigger within 10 s of the debounce window")?
                .context("the watcher stopped")?;
        let report = bench.pass_changed(paths).await?;
        check(&report, "one-file change");
        ensure!(
            report.items.len() == 1,
            "the pass after one edit planned {} credentials",
            report.items.len()
        );
        let stored = bench.store.find_by_label(&new_label).await?;
        let visible = Instant::now();
        ensure!(
            stored.is_some(),
            "the store does not show `{new_label}` after the pass ({trigger})"
        );
        from_write.push(visible - written);
        from_trigger.push(visible - fired);
        while triggers.try_recv().is_ok() {}
    }
    from_write.sort();
    from_trigger.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    if !from_write.is_empty() {
        let w = median(&from_write);
        rows.push(row(
            format!(
                "one-file change, write to store (median of {})",
                from_write.len()
            ),
            ms(w),
            "",
        ));
        rows.push(row(
            format!("  after the {} debounce window closed", ms(debounce)),
            ms(w.saturating_sub(debounce)),
            "100 ms",
        ));
        rows.push(row(
            "  after the watcher's trigger (rescan + pass)",
            ms(median(&from_trigger)),
            "",
        ));
    }

    // Idle: the watcher waiting, nothing changing.
    let cpu_before = cpu_time();
    let idle = Duration::from_secs(2);
    tokio::time::sleep(idle).await;
    let idle_cpu = cpu_time() - cpu_before;
    rows.push(row(
        format!("idle CPU over {} s (watcher running)", idle.as_secs()),
        format!(
            "{} ({:.2}%)",
            ms(idle_cpu),
            100.0 * idle_cpu.as_secs_f64() / idle.as_secs_f64()
        ),
        "near zero",
    ));

    if args.breakdown {
        breakdown(&args, &bench, &sim, dir.path(), &mut rows).await?;
    }

    let (hwm_bccreds, _) = memory_kib();
    if args.no_peer {
        eprintln!("peer skipped (--no-peer)");
    } else if let Some(why) = peer::unavailable() {
        eprintln!("peer skipped: {why}");
    } else {
        let times = Times {
            cold: cold_total,
            unchanged: same_total,
            edit: from_write
                .get(from_write.len() / 2)
                .map(|w| w.saturating_sub(debounce)),
            hwm_kib: hwm_bccreds,
        };
        peer_rows(&args, &bench, &sim, dir.path(), &times, &mut rows)?;
    }

    let (hwm_end, rss_end) = memory_kib();
    rows.push(row(
        "peak RSS (VmHWM, whole process)",
        mib(hwm_end),
        "64 MiB",
    ));
    rows.push(row(
        "  VmHWM after setup, before the first pass",
        mib(hwm_setup),
        "",
    ));
    rows.push(row("  VmHWM after the cold apply", mib(hwm_cold), ""));
    rows.push(row("  VmRSS at the end", mib(rss_end), ""));

    watch_task.abort();
    bench.store.close().await;
    sim.shutdown().await;

    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!(
        "bccreds bench: {n} manifests ({n} stores), concurrency {}, simulator latency {} ms, SQLite, {} build, {cores} cores",
        args.concurrency,
        args.latency_ms,
        if cfg!(debug_assertions) { "DEBUG (not representative)" } else { "release" },
    );
    println!("the simulator runs in this process: RSS and CPU include it");
    println!();
    let w = rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(0);
    let m = rows
        .iter()
        .map(|r| r.measured.len())
        .max()
        .unwrap_or(0)
        .max(8);
    println!("{:<w$}  {:>m$}  target", "", "measured");
    for r in &rows {
        println!("{:<w$}  {:>m$}  {}", r.what, r.measured, r.target);
    }
    Ok(())
}

/// The parts of a pass on their own, to see where the time goes.
/// bccreds' figures that the peer's are divided by.
struct Times {
    cold: Duration,
    unchanged: Duration,
    /// One edit, after the debounce window closed.
    edit: Option<Duration>,
    hwm_kib: u64,
}

/// Runs the peer cold, unchanged and after one edit, against the same simulator and tree, and
/// adds its figures and the ratios (peer ÷ bccreds; more than 1 means bccreds is faster).
fn peer_rows(
    args: &Args,
    bench: &Bench,
    sim: &Simulator,
    dir: &Path,
    ours: &Times,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let schema = dir.join("peer-schema.json");
    std::fs::write(&schema, bccreds::schema::manifest_schema_json())?;
    let secrets = dir.join("secrets");
    let db = dir.join("peer.db");
    let base_url = sim.base_url();
    let peer = peer::Peer {
        manifests: &bench.manifests,
        secrets: &secrets,
        base_url: &base_url,
        db: &db,
        schema: &schema,
        threads: args.concurrency.max(1),
    };
    let ratio = |theirs: Duration, ours: Duration| {
        format!(
            "{:.1}×",
            theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9)
        )
    };
    let cold = peer.run()?;
    ensure!(
        cold.created as usize == args.n,
        "the peer created {} of {}",
        cold.created,
        args.n
    );
    rows.push(row(
        "peer: cold apply (process wall time)",
        ms(cold.wall),
        "",
    ));
    rows.push(row(
        "  ratio peer ÷ bccreds",
        ratio(cold.wall, ours.cold),
        "≥ 10×",
    ));
    let same = peer.run()?;
    ensure!(
        same.unchanged as usize == args.n,
        "the peer left {} unchanged",
        same.unchanged
    );
    rows.push(row("peer: unchanged apply", ms(same.wall), ""));
    rows.push(row(
        "  its BigCommerce requests",
        same.requests.to_string(),
        "",
    ));
    rows.push(row(
        "  ratio peer ÷ bccreds",
        ratio(same.wall, ours.unchanged),
        "≥ 10×",
    ));
    let i = args.n / 2;
    std::fs::write(
        manifest_path(&bench.manifests, i),
        manifest(i, &format!("{} by the peer", label(i))),
    )?;
    let edit = peer.run()?;
    ensure!(
        edit.updated == 1,
        "the peer updated {} after one edit",
        edit.updated
    );
    rows.push(row(
        "peer: one edited file (a whole run)",
        ms(edit.wall),
        "",
    ));
    if let Some(ours) = ours.edit {
        rows.push(row(
            "  ratio peer ÷ bccreds (after the debounce)",
            ratio(edit.wall, ours),
            "≥ 10×",
        ));
    }
    let peak = cold.max_rss_kib.max(same.max_rss_kib).max(edit.max_rss_kib);
    rows.push(row("peer: peak RSS (its process alone)", mib(peak), ""));
    rows.push(row(
        "  bccreds' VmHWM before the peer (simulator included)",
        mib(ours.hwm_kib),
        "",
    ));
    Ok(())
}

async fn breakdown(
    args: &Args,
    bench: &Bench,
    sim: &Simulator,
    dir: &Path,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let n = args.n;
    let concurrency = args.concurrency.max(1);

    // The reads of an unchanged pass.
    let t = Instant::now();
    let owned = bench.store.owned(OWNER).await?;
    rows.push(row(
        format!(
            "[breakdown] store.owned() ({} rows, decrypted)",
            owned.len()
        ),
        ms(t.elapsed()),
        "",
    ));
    drop(owned);
    let t = Instant::now();
    let listed = bench.store.list(&ListQuery::default()).await?;
    rows.push(row(
        format!("[breakdown] store.list() ({} rows)", listed.len()),
        ms(t.elapsed()),
        "",
    ));
    drop(listed);
    let scan = bench.scan();
    let t = Instant::now();
    let steps = bench.rec.plan(&scan).await?;
    rows.push(row(
        format!("[breakdown] reconciler.plan() ({} steps)", steps.len()),
        ms(t.elapsed()),
        "",
    ));
    drop(steps);

    // Verification alone: the client against the simulator, no store.
    let client = BigCommerceClient::new(&ClientOptions {
        base_url: sim.base_url(),
        ..ClientOptions::default()
    })?;
    let t = Instant::now();
    let verified = stream::iter(0..n)
        .map(|i| {
            let client = &client;
            async move {
                let req = VerifyRequest {
                    store_hash: hash(i),
                    token: SecretValue::new(token(i)),
                    locale_mapping: [("en_US".to_string(), "en".to_string())].into(),
                    currency_mapping: [("USD".to_string(), "USD".to_string())].into(),
                };
                matches!(client.verify(&req).await, Outcome::Verified(_))
            }
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    rows.push(row(
        format!("[breakdown] {n} verifications alone ({verified} verified)"),
        ms(t.elapsed()),
        "",
    ));

    // Store writes alone: creates into a fresh store, timed per thousand.
    let store = Store::connect(StoreOptions {
        url: format!("sqlite://{}", dir.join("writes-only.db").display()),
        table_prefix: String::new(),
        encryption: Encryption::KeyFile,
    })
    .await?;
    let t = Instant::now();
    let done: Vec<(usize, Duration)> = stream::iter(0..n)
        .map(|i| {
            let store = &store;
            async move {
                let data = CredentialData {
                    label: label(i),
                    api_url: format!("https://api.bigcommerce.com/stores/{}/", hash(i)),
                    client_id: None,
                    client_secret: SecretUpdate::Keep,
                    access_token: SecretUpdate::Set(SecretValue::new(token(i))),
                    active: true,
                    default_locale: Some("en_US".into()),
                    default_currency: Some("USD".into()),
                    locale_mapping: [("en_US".to_string(), "en".to_string())].into(),
                    currency_mapping: [("USD".to_string(), "USD".to_string())].into(),
                    store_info: None,
                };
                let own = Ownership {
                    credential_id: 0,
                    owner_id: OWNER.into(),
                    source_key: bccreds::model::SourceKey::stored(&format!("bench/store-{i:05}")),
                    spec_sha256: String::new(),
                    secret_sha256: String::new(),
                    last_verified_at: None,
                    last_result: None,
                    last_message: None,
                    deletion_policy: DeletionPolicy::Delete,
                    source_path: None,
                };
                let result = store.create(&data, &own).await;
                if let Err(e) = &result {
                    eprintln!("warning: create {i}: {e}");
                }
                (i, t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let total = t.elapsed();
    let mut finished: Vec<Duration> = done.into_iter().map(|(_, at)| at).collect();
    finished.sort();
    rows.push(row(
        format!("[breakdown] {n} store creates alone"),
        ms(total),
        "",
    ));
    let k = n.min(1000);
    if n >= 2 * k && k > 0 {
        let first = finished[k - 1];
        let last = finished[n - 1] - finished[n - 1 - k];
        rows.push(row(
            format!("[breakdown]   first {k} creates"),
            ms(first),
            "",
        ));
        rows.push(row(format!("[breakdown]   last {k} creates"), ms(last), ""));
    }
    store.close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}
