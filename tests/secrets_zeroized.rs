//! Every secret a one-shot command reads is zeroized before the process exits: with
//! `BCCREDS_DEBUG_LIVE_SECRETS=1` the binary reports how many `SecretValue`s are still alive
//! after the command, and a tree whose tokens come from the environment, `file:` sources and a
//! Secret document (one of them rejected by BigCommerce) must leave none, on a cold apply, an
//! unchanged one and a plan.

mod common;

use std::fs;
use std::path::Path;

use bccreds::secret::{live_secrets, SecretValue};
use bccreds::simulator::Simulator;
use common::manifest::{Manifest, Source};

const ENV_TOKEN: &str = "tok-ZEROIZE-env-51c2";
const FILE_TOKEN: &str = "tok-ZEROIZE-file-8a0e";
const DOC_TOKEN: &str = "tok-ZEROIZE-doc-77d3";

async fn simulator() -> Simulator {
    common::simulator(&common::one_store(
        "Demo",
        &[ENV_TOKEN, FILE_TOKEN, DOC_TOKEN],
    ))
    .await
}

/// Four credentials: a token from the environment, one from a `file:` source, one (with a
/// client secret) from a Secret document, and one BigCommerce rejects.
fn tree(root: &Path) {
    let m = root.join("m");
    fs::create_dir_all(&m).expect("mkdir");
    fs::create_dir_all(root.join("s")).expect("mkdir");
    fs::write(root.join("s/token"), FILE_TOKEN).expect("write");
    let files = [
        (
            "env.yaml",
            Manifest::new("env")
                .namespace("shop")
                .token(Source::env("BC_ENV_TOKEN"))
                .render(),
        ),
        (
            "file.yaml",
            Manifest::new("file")
                .namespace("shop")
                .token(Source::file("token"))
                .render(),
        ),
        (
            "doc.yaml",
            Manifest::new("doc")
                .namespace("shop")
                .client_id("client-1")
                .client_secret(Source::secret("bc", "secret"))
                .token(Source::secret("bc", "token"))
                .render(),
        ),
        (
            "bc-secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bc\n  namespace: shop\n\
                 stringData:\n  token: {DOC_TOKEN}\n  secret: client-secret-ZEROIZE\n"
            ),
        ),
        (
            "rejected.yaml",
            Manifest::new("rejected")
                .namespace("shop")
                .token(Source::env("BC_WRONG_TOKEN"))
                .render(),
        ),
    ];
    for (name, text) in files {
        fs::write(m.join(name), text).expect("write");
    }
}

/// `bccreds COMMAND m …` with the live-secret report on: exit code, stdout, stderr.
async fn run(sim: &Simulator, root: &Path, command: &str) -> (Option<i32>, String, String) {
    let mut cmd = common::bccreds();
    cmd.arg(command)
        .arg(root.join("m"))
        .args(["--secrets-dir", &root.join("s").display().to_string()])
        .args([
            "--store",
            &format!("sqlite://{}", root.join("c.db").display()),
        ])
        .args(["--bigcommerce-base-url", &sim.base_url()])
        .env("BC_ENV_TOKEN", ENV_TOKEN)
        .env("BC_WRONG_TOKEN", "tok-ZEROIZE-wrong")
        .env("BCCREDS_DEBUG_LIVE_SECRETS", "1");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("bccreds runs"))
        .await
        .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_apply_zeroizes_every_secret_before_the_process_exits() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path());
    // Each pass read and used every secret: three credentials stored, one rejected.
    let runs = [
        (
            "apply",
            1,
            "3 created, 0 updated, 0 deleted, 0 orphaned, 0 unchanged, 1 failed",
        ),
        (
            "apply",
            1,
            "0 created, 0 updated, 0 deleted, 0 orphaned, 3 unchanged, 1 failed",
        ),
        (
            "plan",
            0,
            "1 to create, 0 to update, 0 to delete, 0 to orphan, 3 unchanged",
        ),
    ];
    for (command, exit, summary) in runs {
        let (code, out, err) = run(&sim, dir.path(), command).await;
        assert_eq!(code, Some(exit), "{command}: {out}{err}");
        assert!(out.contains(summary), "{command}: {out}{err}");
        assert!(
            err.lines().any(|l| l == "live secrets at exit: 0"),
            "{command} left secrets alive (not zeroized) at exit:\n{err}"
        );
    }
}

#[test]
fn the_count_follows_creation_clones_and_drops() {
    // Nothing else in this test process makes secrets (the simulator holds plain strings).
    let before = live_secrets();
    let a = SecretValue::new("tok-count");
    let b = a.clone();
    let c = b.clone().without_trailing_newline();
    assert_eq!(live_secrets(), before + 3);
    drop((a, b));
    assert_eq!(live_secrets(), before + 1);
    std::mem::forget(c);
    assert_eq!(
        live_secrets(),
        before + 1,
        "a forgotten secret stays alive, unzeroized"
    );
}
