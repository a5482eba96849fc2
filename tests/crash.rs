//! kill -9 at random points of `bccreds apply`, from the first migration to the last write, on
//! every engine: the next run converges, and the store is consistent (every managed row has its
//! ownership record and the reverse, every secret decrypts, no half-written row).

mod common;
mod store_support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bccreds::simulator::Simulator;
use bccreds::store::ListQuery;
use common::{Manifest, Source};
use store_support::{each_engine, TEST_APP_KEY};

const CREDENTIALS: usize = 8;
const KILLS: usize = 30;
const TOKEN: &str = "tok-crash-0c1d";

/// Credential `i` as `round` labels it, its token the secret file `tok`.
fn shop(i: usize, round: usize) -> Manifest {
    Manifest::new(&format!("shop-{i}"))
        .namespace("shop")
        .label(&format!("Shop {i} round {round}"))
        .token(Source::file("tok"))
        .locale_mapping(&[("en_US", "en")])
}

/// Writes the manifests of `round`: every label changes, and one manifest in three is absent
/// in odd rounds, so each run has creates, updates and deletes to be killed in.
fn write_round(dir: &Path, round: usize) {
    for i in 0..CREDENTIALS {
        let path = dir.join(format!("shop-{i}.yaml"));
        if round % 2 == 1 && i % 3 == 0 {
            let _ = fs::remove_file(&path);
        } else {
            shop(i, round).write(&path);
        }
    }
}

fn apply(sim: &Simulator, manifests: &Path, secrets: &Path, url: &str) -> std::process::Command {
    let mut cmd = common::bccreds();
    cmd.arg("apply")
        .arg(manifests)
        .args(["--secrets-dir", &secrets.display().to_string()])
        .args(["--store", url])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .args(["--reverify-interval", "0s"])
        .env("APP_KEY", TEST_APP_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

async fn simulator() -> Simulator {
    common::simulator(&common::one_store("Shop", &[TOKEN])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_applies_converge_to_a_consistent_store() {
    let sim = simulator().await;
    let sim = &sim;
    each_engine(|db| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let (manifests, secrets) = (dir.path().join("m"), dir.path().join("s"));
        fs::create_dir_all(&manifests).expect("mkdir");
        fs::create_dir_all(&secrets).expect("mkdir");
        fs::write(secrets.join("tok"), TOKEN).expect("token");
        let mut killed_mid_run = 0;
        for round in 0..KILLS {
            write_round(&manifests, round);
            let mut child = apply(sim, &manifests, &secrets, &db.url)
                .spawn()
                .expect("spawn");
            // Early rounds die in connecting and migrating, later ones among the writes.
            let delay = fastrand::u64(0..(20 + 10 * round as u64).min(250));
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if child.try_wait().expect("poll").is_none() {
                killed_mid_run += 1;
            }
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join");
        }
        assert!(
            killed_mid_run >= KILLS / 2,
            "only {killed_mid_run} kills hit a running apply"
        );
        // The next run converges.
        let final_round = KILLS;
        write_round(&manifests, final_round);
        let out = tokio::task::spawn_blocking({
            let mut cmd = apply(sim, &manifests, &secrets, &db.url);
            move || cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output()
        })
        .await
        .expect("join")
        .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));

        let store = db.store("").await;
        let rows = store.owned_rows("bccreds").await.expect("owned rows");
        assert!(
            rows.unreadable.is_empty(),
            "unreadable rows: {:?}",
            rows.unreadable
        );
        assert_eq!(rows.rows.len(), CREDENTIALS, "one record per manifest");
        for (own, cred) in &rows.rows {
            let cred = cred
                .as_ref()
                .unwrap_or_else(|| panic!("record {} has no credential row", own.source_key));
            assert_eq!(
                cred.data.access_token.expose(),
                TOKEN,
                "the secret decrypts"
            );
            assert!(cred.data.label.ends_with(&format!("round {final_round}")));
        }
        let listed = store.list(&ListQuery::default()).await.expect("list");
        assert_eq!(
            listed.len(),
            CREDENTIALS,
            "no row without its record: {listed:?}"
        );
        assert!(listed
            .iter()
            .all(|r| r.owner_id.as_deref() == Some("bccreds")));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_killed_at_random_points_finish_on_the_next_start() {
    let sim = simulator().await;
    let sim = &sim;
    each_engine(|db| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let (manifests, secrets) = (dir.path().join("m"), dir.path().join("s"));
        fs::create_dir_all(&manifests).expect("mkdir");
        fs::create_dir_all(&secrets).expect("mkdir");
        fs::write(secrets.join("tok"), TOKEN).expect("token");
        shop(0, 0).write(manifests.join("shop.yaml"));
        // Each round migrates its own tables from nothing (a prefix per round) and is killed
        // somewhere between starting and finishing.
        for round in 0..KILLS {
            let mut cmd = apply(sim, &manifests, &secrets, &db.url);
            let mut child = cmd
                .args(["--table-prefix", &format!("k{round}_")])
                .spawn()
                .expect("spawn");
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..60))).await;
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join");
        }
        for round in 0..KILLS {
            let prefix = format!("k{round}_");
            let out = tokio::task::spawn_blocking({
                let mut cmd = apply(sim, &manifests, &secrets, &db.url);
                cmd.args(["--table-prefix", &prefix]);
                move || cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output()
            })
            .await
            .expect("join")
            .expect("runs");
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                common::all_output(&out)
            );
            let store = db.store(&prefix).await;
            let rows = store.owned("bccreds").await.expect("consistent");
            assert_eq!(rows.len(), 1, "round {round}");
            assert!(rows[0].1.is_some(), "round {round}");
            store.close().await;
        }
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_applying_at_once_on_a_fresh_database_all_succeed() {
    let sim = simulator().await;
    let sim = &sim;
    each_engine(|db| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = dir.path().join("s");
        fs::create_dir_all(&secrets).expect("mkdir");
        fs::write(secrets.join("tok"), TOKEN).expect("token");
        let mut children = Vec::new();
        for i in 0..8 {
            let manifests = dir.path().join(format!("m{i}"));
            fs::create_dir_all(&manifests).expect("mkdir");
            shop(i, 0).write(manifests.join("shop.yaml"));
            let mut cmd = apply(sim, &manifests, &secrets, &db.url);
            cmd.args(["--owner", &format!("owner-{i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            children.push(cmd.spawn().expect("spawn"));
        }
        for child in children {
            let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await
                .expect("join")
                .expect("waits");
            assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
        }
        let store = db.store("").await;
        assert_eq!(
            store.list(&ListQuery::default()).await.expect("list").len(),
            8
        );
        store.close().await;
        assert_eq!(
            db.strings("SELECT applied_at FROM bccreds_migrations")
                .await
                .len(),
            6,
            "one schema, each migration recorded once"
        );
        db
    })
    .await;
}
