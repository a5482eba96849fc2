//! The credentials page under load, as the issue that paged it measured it: N stored rows, the
//! real `bccreds serve` in its own process, and P parallel loads of a page, repeated R times.
//! It prints status codes, latencies, page sizes and the server's peak RSS (`VmHWM`), and
//! asserts nothing; the figures go in BENCHMARKS.md.
//!
//! ```sh
//! cargo build --release --bin bccreds --example page_load
//! ./target/release/examples/page_load [--rows 20000] [--parallel 250] [--rounds 4]
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bccreds::crypto::AppKey;
use bccreds::model::DeletionPolicy;
use bccreds::secret::SecretValue;
use bccreds::store::{CredentialData, Encryption, Ownership, SecretUpdate, Store, StoreOptions};
use clap::Parser;
use futures_util::stream::{self, StreamExt};

#[derive(Debug, Parser)]
struct Args {
    /// Rows in the store.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Loads in flight at once.
    #[arg(long, default_value_t = 250)]
    parallel: usize,
    /// Times each page is loaded `parallel` times.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// The bccreds binary to serve with.
    #[arg(long, default_value = "target/release/bccreds")]
    bccreds: PathBuf,
    /// Keep the store in this directory (filled once, reused by later runs) for profiling.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Fills a fresh SQLite store with `n` rows, most of them managed, some failing.
async fn fill(url: &str, n: usize) -> anyhow::Result<()> {
    let store = Store::connect(StoreOptions {
        url: url.to_string(),
        table_prefix: String::new(),
        encryption: Encryption::Key {
            key: AppKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?,
            previous: Vec::new(),
        },
    })
    .await?;
    let store = std::sync::Arc::new(store);
    stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let data = CredentialData {
                    label: format!("Shop {i:05} {}", ["Europe", "US", "Outlet"][i % 3]),
                    api_url: format!("https://api.bigcommerce.com/stores/s{i:05}/"),
                    client_id: Some(format!("client-{i}")),
                    client_secret: SecretUpdate::Keep,
                    access_token: SecretUpdate::Set(SecretValue::new(format!("tok-{i}"))),
                    active: i % 7 != 0,
                    default_locale: Some("en_US".into()),
                    default_currency: Some("USD".into()),
                    locale_mapping: [("en_US".to_string(), "en".to_string())].into(),
                    currency_mapping: [("USD".to_string(), "USD".to_string())].into(),
                    store_info: None,
                };
                let own = Ownership {
                    credential_id: 0,
                    owner_id: "gitops".into(),
                    source_key: bccreds::model::SourceKey::new("shop", format!("s{i}")),
                    spec_sha256: "a".repeat(64),
                    secret_sha256: "b".repeat(64),
                    last_verified_at: Some(chrono::Utc::now()),
                    last_result: Some(if i % 11 == 0 {
                        bccreds::model::Reason::InvalidToken
                    } else {
                        bccreds::model::Reason::Verified
                    }),
                    last_message: Some("ok".into()),
                    deletion_policy: DeletionPolicy::Delete,
                    source_path: None,
                };
                store.create(&data, &own).await.map(drop)
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    store.close().await;
    Ok(())
}

/// `VmHWM` of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bccreds::tls::install_crypto_provider();
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let db = dir.join("store.db");
    let url = format!("sqlite://{}", db.display());
    if !db.exists() {
        let started = Instant::now();
        fill(&url, args.rows).await?;
        println!(
            "filled {} rows in {:.1} s",
            args.rows,
            started.elapsed().as_secs_f64()
        );
    }

    let mut child = Command::new(&args.bccreds)
        .args(["serve", "--store", &url, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", args.bccreds.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().context("serve exited")??;
        if let Some(rest) = line.strip_prefix("bccreds serving the credentials page on ") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let pid = child.id();
    println!(
        "serving on {base}; at start: {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(0.0)
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()?;
    println!(
        "{:<34} {:>6} {:>22} {:>8} {:>8} {:>8} {:>10}",
        "page", "loads", "status codes", "p50 ms", "p99 ms", "max ms", "bytes"
    );
    for path in [
        "/",
        "/?sort=ready&dir=desc",
        "/?page=400",
        "/?q=outlet&page=20",
        "/?status=inactive&ready=false&sort=lastVerified",
        "/?per_page=500",
    ] {
        let mut codes: BTreeMap<u16, usize> = BTreeMap::new();
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..args.rounds {
            let results: Vec<(u16, Duration, usize)> = stream::iter(0..args.parallel)
                .map(|_| {
                    let client = client.clone();
                    let url = format!("{base}{path}");
                    async move {
                        let t = Instant::now();
                        match client.get(&url).send().await {
                            Ok(r) => {
                                let code = r.status().as_u16();
                                let len = r.bytes().await.map(|b| b.len()).unwrap_or(0);
                                (code, t.elapsed(), len)
                            }
                            Err(_) => (0, t.elapsed(), 0),
                        }
                    }
                })
                .buffer_unordered(args.parallel)
                .collect()
                .await;
            for (code, time, len) in results {
                *codes.entry(code).or_default() += 1;
                times.push(time);
                bytes = bytes.max(len);
            }
        }
        times.sort();
        let codes: Vec<String> = codes.iter().map(|(c, n)| format!("{n}×{c}")).collect();
        println!(
            "{:<34} {:>6} {:>22} {:>8.1} {:>8.1} {:>8.1} {:>10}",
            path,
            times.len(),
            codes.join(" "),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            bytes
        );
    }
    println!(
        "bccreds serve peak RSS (VmHWM): {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(0.0)
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
