//! The `watch` daemon with real files, a real watcher, the simulator and SQLite: the store
//! follows edits; publishing methods give exactly one update; a vanished directory deletes
//! nothing; failures keep the old row and show in /status.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bccreds::daemon::{Daemon, DaemonConfig};
use bccreds::reconcile::{OnRevoked, Reconciler, ReconcilerConfig};
use bccreds::simulator::{Fixture, Simulator};
use bccreds::store::{Encryption, ListQuery, Store, StoreOptions};
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions};
use bccreds::watch::WatchOptions;
use common::{Manifest, Source};

const FIXTURE: &str = "stores:\n  - hash: abc123\n    name: Demo\ntokens:\n  - token: tok-watch-1\n    store: abc123\n    scopes: [store_v2_information_read_only, store_v2_products_read_only]\n";

struct Running {
    sim: Simulator,
    store: Arc<Store>,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _tmp: tempfile::TempDir,
    secrets: PathBuf,
}

async fn start(watched: &Path, tmp: tempfile::TempDir) -> Running {
    let sim = Simulator::start(
        Fixture::from_yaml(FIXTURE, "t").expect("fixture"),
        "127.0.0.1:0".parse().expect("a"),
    )
    .await
    .expect("sim");
    let secrets = tmp.path().join("secrets");
    fs::create_dir_all(&secrets).expect("mkdir");
    fs::write(secrets.join("good"), "tok-watch-1").expect("w");
    fs::write(secrets.join("bad"), "tok-watch-wrong").expect("w");
    let store = Arc::new(
        Store::connect(StoreOptions {
            url: format!("sqlite://{}", tmp.path().join("s.db").display()),
            table_prefix: String::new(),
            encryption: Encryption::KeyFile,
        })
        .await
        .expect("store"),
    );
    let client = Arc::new(
        BigCommerceClient::new(&ClientOptions {
            base_url: sim.base_url(),
            ..ClientOptions::default()
        })
        .expect("client"),
    );
    let rec = Arc::new(Reconciler::new(
        store.clone(),
        client.clone(),
        ReconcilerConfig {
            owner: "watch".into(),
            concurrency: 4,
            reverify_interval: Duration::from_secs(3600),
            on_revoked: OnRevoked::Keep,
            allow_empty: false,
            prune: true,
        },
    ));
    let config = DaemonConfig {
        dir: watched.to_path_buf(),
        validate: ValidateOptions::default(),
        secrets_dir: Some(secrets.clone()),
        watch: WatchOptions {
            debounce: Duration::from_millis(150),
            resync_interval: Duration::from_secs(3600),
            poll: None,
        },
        listen: "127.0.0.1:0".parse().expect("a"),
        status_token: None,
        status_hosts: Vec::new(),
    };
    let daemon = Daemon::bind(&config, rec, client).await.expect("bind");
    let base = format!("http://{}", daemon.addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        daemon
            .run(config, async {
                let _ = rx.await;
            })
            .await
            .expect("daemon runs");
    });
    Running {
        sim,
        store,
        base,
        stop: Some(tx),
        task,
        _tmp: tmp,
        secrets,
    }
}

impl Running {
    async fn get(&self, path: &str) -> (u16, String) {
        bccreds::tls::install_crypto_provider();
        let r = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("endpoint");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    async fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").await.1).expect("json")
    }

    async fn metric(&self, line_prefix: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(line_prefix)
                    .map(|v| v.trim().parse().unwrap_or(-1.0))
            })
            .unwrap_or(0.0)
    }

    async fn passes(&self) -> f64 {
        self.metric("bccreds_passes_total ").await
    }

    async fn updated(&self) -> f64 {
        self.metric("bccreds_results_total{result=\"updated\"} ")
            .await
    }

    async fn labels(&self) -> Vec<String> {
        self.store
            .list(&ListQuery::default())
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.label)
            .collect()
    }

    /// Waits (bounded) until `check` holds on the store's labels.
    async fn wait_labels(&self, what: &str, check: impl Fn(&[String]) -> bool) {
        for _ in 0..200 {
            if check(&self.labels().await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; labels are {:?}",
            self.labels().await
        );
    }

    /// Waits until `n` passes have run and the debounce window has been quiet after them.
    async fn wait_passes(&self, n: f64) {
        for _ in 0..200 {
            if self.passes().await >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(self.passes().await >= n, "pass {n} never ran");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("stops")
            .expect("no panic");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_create_edit_and_delete() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    Manifest::new("a")
        .label("Alpha")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Alpha"]).await;
    assert_eq!(d.get("/readyz").await.0, 200);
    assert_eq!(d.get("/healthz").await.0, 200);

    // `bccreds status` reads the same document and prints it for people.
    let base = d.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bccreds"))
            .args(["status", "--url", &base])
            .output()
            .expect("status runs")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("NAME"), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("default/a")
                && l.contains("True Verified")
                && l.contains("True Created")),
        "{text}"
    );

    Manifest::new("b")
        .label("Beta")
        .token(Source::file("good"))
        .write(dir.join("b.yaml"));
    d.wait_labels("the new file", |l| l == ["Alpha", "Beta"])
        .await;
    Manifest::new("a")
        .label("Alpha Two")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    d.wait_labels("the edit", |l| l == ["Alpha Two", "Beta"])
        .await;
    fs::remove_file(dir.join("b.yaml")).expect("rm");
    d.wait_labels("the deletion", |l| l == ["Alpha Two"]).await;

    // An editor's save: write a temporary file, then rename it over the manifest.
    d.wait_passes(d.passes().await).await;
    let updated = d.updated().await;
    Manifest::new("a")
        .label("Alpha Saved")
        .token(Source::file("good"))
        .write(dir.join(".a.yaml.swp"));
    fs::rename(dir.join(".a.yaml.swp"), dir.join("a.yaml")).expect("rename");
    d.wait_labels("the editor's save", |l| l == ["Alpha Saved"])
        .await;
    d.wait_passes(d.passes().await).await;
    assert_eq!(
        d.updated().await - updated,
        1.0,
        "exactly one update for the save"
    );

    // A wrong token keeps the old row and shows in /status.
    Manifest::new("a")
        .label("Alpha Three")
        .token(Source::file("bad"))
        .write(dir.join("a.yaml"));
    for _ in 0..200 {
        let s = d.status().await;
        if s["credentials"][0]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["reason"] == "InvalidToken"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = d.status().await;
    let verified = s["credentials"][0]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Verified")
        .cloned()
        .expect("verified");
    assert_eq!(
        (verified["status"].as_str(), verified["reason"].as_str()),
        (Some("False"), Some("InvalidToken")),
        "{s}"
    );
    assert_eq!(d.labels().await, ["Alpha Saved"], "the old row is kept");

    // A file that does not parse keeps the row too, and /status names the line and column.
    fs::write(dir.join("a.yaml"), "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata: {name: a\n").expect("w");
    for _ in 0..200 {
        if d.status().await["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let problem = d.status().await["problems"][0].clone();
    assert!(
        problem["file"]
            .as_str()
            .unwrap_or_default()
            .ends_with("a.yaml"),
        "{problem}"
    );
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(4), Some(1)),
        "{problem}"
    );
    assert_eq!(d.labels().await, ["Alpha Saved"]);
    let _ = d.secrets.clone();
    d.stop().await;
}

fn swap_symlink(link: &Path, target: &Path) {
    let tmp = link.with_file_name(format!(
        "{}_tmp",
        link.file_name().and_then(|n| n.to_str()).unwrap_or("link")
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("symlink");
    fs::rename(&tmp, link).expect("atomic swap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_gitsync_and_editor_saves_each_give_exactly_one_update() {
    // A mounted ConfigMap: ..data -> ..<timestamp>/, and the visible files link through ..data.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("configmap");
    fs::create_dir(&dir).expect("mkdir");
    let v1 = dir.join("..2026_11_26_12_00_00.1");
    fs::create_dir(&v1).expect("mkdir");
    Manifest::new("shop")
        .label("Shop")
        .token(Source::file("good"))
        .write(v1.join("shop.yaml"));
    std::os::unix::fs::symlink("..2026_11_26_12_00_00.1", dir.join("..data")).expect("link");
    std::os::unix::fs::symlink("..data/shop.yaml", dir.join("shop.yaml")).expect("link");
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Shop"]).await;
    d.wait_passes(1.0).await;
    let (passes, updated) = (d.passes().await, d.updated().await);
    let v2 = dir.join("..2026_11_26_12_05_00.2");
    fs::create_dir(&v2).expect("mkdir");
    Manifest::new("shop")
        .label("Shop v2")
        .token(Source::file("good"))
        .write(v2.join("shop.yaml"));
    swap_symlink(&dir.join("..data"), Path::new("..2026_11_26_12_05_00.2"));
    fs::remove_dir_all(&v1).expect("rm old");
    d.wait_labels("the ConfigMap swap", |l| l == ["Shop v2"])
        .await;
    d.wait_passes(passes + 1.0).await;
    assert_eq!(
        d.updated().await - updated,
        1.0,
        "exactly one update for the swap"
    );

    d.stop().await;

    // git-sync: the watched path is a link swapped to a new worktree.
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("git");
    for (tree, label) in [("aaa", "Synced"), ("bbb", "Synced v2")] {
        fs::create_dir_all(root.join(".worktrees").join(tree)).expect("mkdir");
        Manifest::new("shop")
            .label(label)
            .token(Source::file("good"))
            .write(root.join(".worktrees").join(tree).join("shop.yaml"));
    }
    let link = root.join("current");
    std::os::unix::fs::symlink(root.join(".worktrees/aaa"), &link).expect("link");
    let d = start(&link, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Synced"]).await;
    d.wait_passes(1.0).await;
    let updated = d.updated().await;
    swap_symlink(&link, &root.join(".worktrees/bbb"));
    d.wait_labels("the git-sync swap", |l| l == ["Synced v2"])
        .await;
    d.wait_passes(d.passes().await).await;
    assert_eq!(
        d.updated().await - updated,
        1.0,
        "exactly one update for the link swap"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_directory_deletes_nothing_and_is_watched_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    Manifest::new("a")
        .label("Alpha")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Alpha"]).await;
    d.wait_passes(1.0).await;
    let passes = d.passes().await;
    fs::remove_dir_all(&dir).expect("rm");
    d.wait_passes(passes + 1.0).await;
    assert_eq!(
        d.labels().await,
        ["Alpha"],
        "nothing is deleted while the directory is missing"
    );
    // Back, but empty: the empty-set guard holds.
    fs::create_dir(&dir).expect("mkdir");
    d.wait_passes(d.passes().await + 1.0).await;
    assert_eq!(
        d.labels().await,
        ["Alpha"],
        "an empty directory deletes nothing"
    );
    // Back with files: the watch follows again.
    Manifest::new("a")
        .label("Alpha Again")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    d.wait_labels("the recreated directory", |l| l == ["Alpha Again"])
        .await;
    let _ = &d.sim;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_told_of_each_pass_and_shows_its_result() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    Manifest::new("a")
        .label("Alpha")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Alpha"]).await;
    let (code, page) = d.get("/").await;
    assert_eq!(code, 200);
    assert!(page.contains("<body data-live=\"true\">"), "{page}");
    assert!(page.contains("<p id=\"last-pass\""), "{page}");
    assert!(page.contains(">Alpha</a>"), "{page}");

    // An open page hears of the next pass at once, and then shows what it did.
    bccreds::tls::install_crypto_provider();
    let mut events = reqwest::get(format!("{}/events", d.base))
        .await
        .expect("events");
    assert_eq!(
        events.headers()["content-type"].to_str().expect("type"),
        "text/event-stream"
    );
    let edited = std::time::Instant::now();
    Manifest::new("a")
        .label("Alpha Two")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    let mut seen = String::new();
    while !seen.contains("event: pass") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
            .await
            .expect("a pass event within 5 s")
            .expect("stream")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(edited.elapsed() < Duration::from_secs(5));
    let (_, page) = d.get("/").await;
    assert!(page.contains(">Alpha Two</a>"), "{page}");
    assert!(page.contains("1 updated"), "{page}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_parses_only_the_file_that_changed() {
    // Few enough to stay inside the simulated store's request quota.
    const FILES: usize = 12;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    for i in 0..FILES {
        Manifest::new(&format!("m{i}"))
            .label(&format!("M{i:03}"))
            .token(Source::file("good"))
            .write(dir.join(format!("m{i:03}.yaml")));
    }
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l.len() == FILES).await;
    let parsed = "bccreds_files_parsed_total ";
    assert_eq!(d.metric(parsed).await, FILES as f64);

    let unchanged = "bccreds_results_total{result=\"unchanged\"} ";
    let unchanged_before = d.metric(unchanged).await;
    assert_eq!(unchanged_before, 0.0);
    Manifest::new("m7")
        .label("Edited")
        .token(Source::file("good"))
        .write(dir.join("m007.yaml"));
    d.wait_labels("the edit", |l| l.iter().any(|x| x == "Edited"))
        .await;
    assert_eq!(d.metric(parsed).await, FILES as f64 + 1.0);
    // The pass after the edit planned the edited credential alone: the other eleven were
    // neither planned (nothing counted unchanged) nor forgotten by the status.
    let status = d.status().await;
    let summary = &status["lastPass"]["summary"];
    assert_eq!(summary["updated"], 1, "{status}");
    let planned: u64 = [
        "created",
        "updated",
        "deleted",
        "orphaned",
        "unchanged",
        "failed",
    ]
    .iter()
    .map(|k| summary[k].as_u64().expect("a count"))
    .sum();
    assert_eq!(planned, 1, "{status}");
    assert_eq!(d.metric(unchanged).await, unchanged_before);
    assert_eq!(
        status["credentials"].as_array().map(Vec::len),
        Some(FILES),
        "{status}"
    );
    d.stop().await;
}
