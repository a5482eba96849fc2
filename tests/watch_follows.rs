//! `bccreds watch` follows what a file-mode operator changes besides manifests: a rewritten
//! secret file or a mounted Secret's `..data` swap reaches the store within the debounce (resync
//! off); a pass that fails because the database is down is retried until it comes back; and
//! `cd DIR; bccreds watch .` survives DIR being deleted and recreated.

mod common;
mod store_support;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bccreds::store::{Encryption, ListQuery, Store, StoreOptions};
use common::{Manifest, Source, Watch, World};
use store_support::{each_engine, Engine, TestDb, TEST_APP_KEY};

fn fixture() -> String {
    common::one_store("Demo", &["tok-first-1a2b", "tok-second-3c4d"])
}

/// A world for a watch, on `store` (when given) instead of its own SQLite store.
async fn world(store: Option<Store>) -> World {
    let builder = World::builder(&fixture()).owner("watch");
    match store {
        Some(store) => builder.store(store),
        None => builder,
    }
    .build()
    .await
}

/// Seconds until `world`'s store holds `token` for `label`, failing after `secs`.
async fn until_token(world: &World, label: &str, token: &str, secs: u64) -> f64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if world.token_of(label).await.as_deref() == Some(token) {
            return start.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{label} did not get its new token within {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_secret_file_and_a_data_swap_reach_the_store_within_two_seconds() {
    let w = world(None).await;
    let (dir, secrets) = (w.manifests(), w.secrets());
    // A mounted Secret: files are links into `..data`, itself a link to a timestamped directory.
    let mounted = secrets.join("mounted");
    fs::create_dir_all(mounted.join("..2026_01")).expect("mkdir");
    fs::write(mounted.join("..2026_01/token"), "tok-first-1a2b\n").expect("w");
    std::os::unix::fs::symlink("..2026_01", mounted.join("..data")).expect("link");
    std::os::unix::fs::symlink("..data/token", mounted.join("token")).expect("link");
    fs::write(secrets.join("plain"), "tok-first-1a2b").expect("w");
    Manifest::new("plain")
        .token(Source::file("plain"))
        .write(dir.join("a.yaml"));
    Manifest::new("mounted")
        .token(Source::file("mounted/token"))
        .write(dir.join("b.yaml"));
    let d = Watch::start(w, &dir).await;
    until_token(&d.world, "plain", "tok-first-1a2b", 10).await;
    until_token(&d.world, "mounted", "tok-first-1a2b", 10).await;

    fs::write(secrets.join("plain"), "tok-second-3c4d").expect("w");
    let took = until_token(&d.world, "plain", "tok-second-3c4d", 2).await;
    eprintln!("rewritten secret file stored after {took:.2} s");

    // kubelet's update: a new timestamped directory, a temporary link, renamed over `..data`.
    fs::create_dir_all(mounted.join("..2026_02")).expect("mkdir");
    fs::write(mounted.join("..2026_02/token"), "tok-second-3c4d\n").expect("w");
    std::os::unix::fs::symlink("..2026_02", mounted.join("..data_tmp")).expect("link");
    fs::rename(mounted.join("..data_tmp"), mounted.join("..data")).expect("swap");
    fs::remove_dir_all(mounted.join("..2026_01")).expect("rm old");
    let took = until_token(&d.world, "mounted", "tok-second-3c4d", 2).await;
    eprintln!("..data swap stored after {took:.2} s");
    d.stop().await;
}

/// A TCP proxy to a database that the test can take down (every connection cut, new ones
/// dropped at once) and bring back, as a database restart looks to its clients.
struct Proxy {
    port: u16,
    down: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (down, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *rx.borrow() {
                    continue;
                }
                let target = target.clone();
                let mut down = rx.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|d| *d) => {}
                    }
                });
            }
        });
        Proxy { port, down }
    }

    fn set_down(&self, down: bool) {
        let _ = self.down.send(down);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_that_failed_on_a_database_outage_is_retried_when_it_returns() {
    each_engine(|db: TestDb| async move {
        if db.engine == Engine::Sqlite {
            // A SQLite file does not go down; the server engines do.
            return db;
        }
        let mut url = url::Url::parse(&db.url).expect("url");
        let target = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port_or_known_default().expect("port")
        );
        let proxy = Proxy::start(target).await;
        url.set_port(Some(proxy.port)).expect("port");
        let key = bccreds::crypto::AppKey::parse(TEST_APP_KEY).expect("key");
        let store = Store::connect(StoreOptions {
            url: url.to_string(),
            table_prefix: String::new(),
            encryption: Encryption::Key {
                key,
                previous: Vec::new(),
            },
        })
        .await
        .expect("store");
        let w = world(Some(store)).await;
        w.secret("tok", "tok-first-1a2b");
        let dir = w.manifests();
        Manifest::new("alpha")
            .token(Source::file("tok"))
            .write(dir.join("a.yaml"));
        let d = Watch::start(w, &dir).await;
        until_token(&d.world, "alpha", "tok-first-1a2b", 10).await;

        proxy.set_down(true);
        Manifest::new("beta")
            .token(Source::file("tok"))
            .write(dir.join("b.yaml"));
        // Long enough for the pass (and the pool's 10 s wait for a connection) to fail.
        tokio::time::sleep(Duration::from_secs(13)).await;
        proxy.set_down(false);
        let back = Instant::now();
        let took = until_token(&d.world, "beta", "tok-first-1a2b", 5).await;
        eprintln!(
            "[{:?}] beta stored {took:.2} s after the database returned ({:.2} s)",
            db.engine,
            back.elapsed().as_secs_f64()
        );
        d.stop().await;
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_dot_survives_the_directory_being_deleted_and_recreated() {
    let sim = common::simulator(&fixture()).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir: PathBuf = tmp.path().join("m");
    let secrets = tmp.path().join("secrets");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::create_dir_all(&secrets).expect("mkdir");
    fs::write(secrets.join("tok"), "tok-first-1a2b").expect("w");
    Manifest::new("alpha")
        .token(Source::file("tok"))
        .write(dir.join("a.yaml"));
    let db = tmp.path().join("s.db");
    let mut child = common::bccreds()
        .current_dir(&dir)
        .args([
            "watch",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--debounce",
            "150ms",
        ])
        .args(["--resync-interval", "1h"])
        .args(["--secrets-dir", &secrets.display().to_string()])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("watch starts");
    let labels = || async {
        match Store::open_existing(StoreOptions {
            url: format!("sqlite://{}", db.display()),
            table_prefix: String::new(),
            encryption: Encryption::KeyFile,
        })
        .await
        {
            Ok(store) => {
                let l: Vec<String> = store
                    .list(&ListQuery::default())
                    .await
                    .map(|rows| rows.into_iter().map(|r| r.label).collect())
                    .unwrap_or_default();
                store.close().await;
                l
            }
            Err(_) => Vec::new(),
        }
    };
    let wait = |want: Vec<&'static str>| async move {
        let start = Instant::now();
        loop {
            let got = labels().await;
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "waiting for {want:?}, have {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait(vec!["alpha"]).await;
    // A checkout swapped the hard way: the directory goes, and a new one takes its name.
    fs::remove_dir_all(&dir).expect("rm");
    tokio::time::sleep(Duration::from_millis(500)).await;
    fs::create_dir_all(&dir).expect("mkdir");
    Manifest::new("alpha")
        .token(Source::file("tok"))
        .write(dir.join("a.yaml"));
    Manifest::new("beta")
        .token(Source::file("tok"))
        .write(dir.join("b.yaml"));
    wait(vec!["alpha", "beta"]).await;
    let _ = child.kill();
    let _ = child.wait();
}
