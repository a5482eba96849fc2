//! The `watch` daemon with real files, a real watcher, the simulator and SQLite: the store
//! follows edits; publishing methods give exactly one update; a vanished directory deletes
//! nothing; failures keep the old row and show in /status.

mod common;

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Manifest, Source, Watch, World};

/// A watch of a test's tree, and the temporary directory that holds the tree.
struct Running {
    watch: Watch,
    _tmp: tempfile::TempDir,
}

impl Deref for Running {
    type Target = Watch;

    fn deref(&self) -> &Watch {
        &self.watch
    }
}

/// A temporary directory with an empty `manifests` tree in it.
fn manifests_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    (tmp, dir)
}

/// `a`, labelled "Alpha", with the good token.
fn alpha() -> Manifest {
    Manifest::new("a")
        .label("Alpha")
        .token(Source::file("good"))
}

/// Watches `watched` (under `tmp`) with the secret files `good` and `bad`.
async fn start(watched: &Path, tmp: tempfile::TempDir) -> Running {
    let world = World::builder(&common::one_store("Demo", &["tok-watch-1"]))
        .owner("watch")
        .secret("good", "tok-watch-1")
        .secret("bad", "tok-watch-wrong")
        .build()
        .await;
    Running {
        watch: Watch::start(world, watched).await,
        _tmp: tmp,
    }
}

impl Running {
    async fn updated(&self) -> f64 {
        self.metric("bccreds_results_total{result=\"updated\"} ")
            .await
    }

    async fn labels(&self) -> Vec<String> {
        self.world.labels().await
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

    async fn stop(self) {
        self.watch.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_create_edit_and_delete() {
    let (tmp, dir) = manifests_dir();
    alpha().write(dir.join("a.yaml"));
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
    let (tmp, dir) = manifests_dir();
    alpha().write(dir.join("a.yaml"));
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
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_told_of_each_pass_and_shows_its_result() {
    let (tmp, dir) = manifests_dir();
    alpha().write(dir.join("a.yaml"));
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
    let (tmp, dir) = manifests_dir();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_invalid_manifest_leaves_the_status_with_its_file() {
    let (tmp, dir) = manifests_dir();
    alpha().write(dir.join("a.yaml"));
    Manifest::new("bad")
        .label("Bad")
        .api_url("http://nope/")
        .token(Source::file("good"))
        .write(dir.join("bad.yaml"));
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Alpha"]).await;
    d.wait_passes(1.0).await;
    let names = |status: &serde_json::Value| -> Vec<String> {
        status["credentials"]
            .as_array()
            .expect("credentials")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(&d.status().await), ["a", "bad"]);

    let before = d.passes().await;
    fs::remove_file(dir.join("bad.yaml")).expect("rm");
    d.wait_passes(before + 1.0).await;
    // As a restart would show it: the failing manifest went with its file.
    assert_eq!(names(&d.status().await), ["a"]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_retried_without_a_resync() {
    let (tmp, dir) = manifests_dir();
    // Every attempt of the first verification fails (four, with the client's retries); then
    // BigCommerce answers again. Resync is an hour away.
    let fixture = format!(
        "stores:\n  - hash: abc123\n    name: Demo\n    faults: [{{path: v2/store, status: 500, times: 4}}]\n\
         tokens:\n  - {{token: tok-watch-1, store: abc123, scopes: {}}}\n",
        common::sim::SCOPES
    );
    let world = World::builder(&fixture)
        .owner("watch")
        .secret("good", "tok-watch-1")
        .build()
        .await;
    Manifest::new("a")
        .label("Alpha")
        .token(Source::file("good"))
        .write(dir.join("a.yaml"));
    let d = Running {
        watch: Watch::start(world, &dir).await,
        _tmp: tmp,
    };
    // The first pass fails Unreachable and says it will be retried; the retry stores it.
    d.wait_labels("the retry after the outage", |l| l == ["Alpha"])
        .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_linked_from_outside_the_tree_is_watched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("manifests");
    let outside = tmp.path().join("outside");
    fs::create_dir(&dir).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    let manifest = |label: &str| Manifest::new("a").label(label).token(Source::file("good"));
    manifest("Alpha").write(outside.join("prod.yaml"));
    std::os::unix::fs::symlink(outside.join("prod.yaml"), dir.join("a.yaml")).expect("link");
    let d = start(&dir, tmp).await;
    d.wait_labels("the first pass", |l| l == ["Alpha"]).await;
    // Edited in place, then saved as editors do (a new file renamed over the target).
    manifest("Alpha 2").write(outside.join("prod.yaml"));
    d.wait_labels("the edit in place", |l| l == ["Alpha 2"])
        .await;
    manifest("Alpha 3").write(outside.join(".prod.yaml.swp"));
    fs::rename(outside.join(".prod.yaml.swp"), outside.join("prod.yaml")).expect("rename");
    d.wait_labels("the saved edit", |l| l == ["Alpha 3"]).await;
    d.stop().await;
}
