//! Special files where a secret file is expected: a FIFO, a socket, a character device or a
//! directory under `--secrets-dir` gives a clear error at once in `verify`, `apply` and `watch`,
//! and never hangs the process (before, opening a FIFO blocked `watch` forever, SIGTERM included).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{Manifest, Source};

const KINDS: [&str; 4] = ["fifo", "socket", "chardev", "dir"];

/// Makes `secrets/<kind>` a special file of that kind and a manifest `m/<kind>.yaml` using it.
/// Returns false when this machine cannot make one (mknod needs root), after saying so.
fn special(root: &Path, kind: &str, keep: &mut Vec<std::os::unix::net::UnixListener>) -> bool {
    let (m, secrets) = (root.join("m"), root.join("secrets"));
    fs::create_dir_all(&m).expect("mkdir");
    fs::create_dir_all(&secrets).expect("mkdir");
    let path = secrets.join(kind);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    match kind {
        // SAFETY (both): libc calls with a valid NUL-terminated path.
        "fifo" => assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0),
        "chardev" => {
            // The same device numbers as /dev/null: reading it would give an empty secret.
            let dev = libc::makedev(1, 3);
            if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } != 0 {
                eprintln!("note: skipping the character device: mknod needs root here");
                return false;
            }
        }
        "socket" => keep.push(std::os::unix::net::UnixListener::bind(&path).expect("socket")),
        _ => fs::create_dir(&path).expect("mkdir"),
    }
    Manifest::new(kind)
        .token(Source::file(kind))
        .write(m.join(format!("{kind}.yaml")));
    true
}

/// Runs bccreds in `root`; a run still going after 10 s (blocked on a FIFO) is killed.
fn run(root: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = common::bccreds()
        .current_dir(root)
        .args(args)
        .args(["--secrets-dir", "secrets"])
        .args(["--bigcommerce-base-url", "http://127.0.0.1:9"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("output"), started.elapsed())
}

#[test]
fn verify_and_apply_refuse_special_secret_files_at_once() {
    for kind in KINDS {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut listeners = Vec::new();
        if !special(tmp.path(), kind, &mut listeners) {
            continue;
        }
        for command in ["verify", "apply"] {
            let mut args = vec![command, "m"];
            if command == "apply" {
                args.extend(["--store", "sqlite://s.db"]);
            }
            let (out, took) = run(tmp.path(), &args);
            let text = common::all_output(&out);
            assert_eq!(out.status.code(), Some(1), "{kind} {command}: {text}");
            // A liveness bound (a blocked open never returns), not a performance figure.
            assert!(
                took < Duration::from_secs(5),
                "{kind} {command} took {took:?}"
            );
            assert!(
                text.contains("not a regular file"),
                "{kind} {command}: {text}"
            );
        }
    }
}

#[test]
fn watch_reports_every_special_secret_file_and_still_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut listeners = Vec::new();
    let made: Vec<&str> = KINDS
        .into_iter()
        .filter(|kind| special(tmp.path(), kind, &mut listeners))
        .collect();
    let mut child = common::bccreds()
        .current_dir(tmp.path())
        .args([
            "watch",
            "m",
            "--secrets-dir",
            "secrets",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--store", "sqlite://s.db"])
        .args(["--bigcommerce-base-url", "http://127.0.0.1:9"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts");
    // The first pass must finish (and log the refusals) instead of blocking on the FIFO.
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.is_some(), "watch did not stop on SIGTERM:\n{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(5), "{stderr}");
    for (kind, what) in [
        ("fifo", "a FIFO"),
        ("socket", "a socket"),
        ("chardev", "a character device"),
        ("dir", "a directory"),
    ] {
        if made.contains(&kind) {
            assert!(
                stderr.contains(&format!("it is {what}, not a regular file")),
                "the {kind} refusal is logged:\n{stderr}"
            );
        }
    }
}

/// A FIFO, a socket or a device in place of a manifest hides whatever manifest was there: the
/// scan is incomplete, `apply` says why and exits 1, and no row is deleted or orphaned, whether
/// the special file is met while walking the tree or named on the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_special_file_in_place_of_a_manifest_deletes_nothing() {
    let sim = common::simulator(&common::one_store("Shop", &["tok-special"])).await;
    let base = sim.base_url();
    let labels = |root: &Path| {
        let out = common::bccreds()
            .current_dir(root)
            .args(["list", "--store", "sqlite://s.db", "--output", "json"])
            .output()
            .expect("list");
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut labels: Vec<String> = rows
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["label"].as_str().unwrap_or_default().to_string())
            .collect();
        labels.sort();
        labels
    };
    for kind in ["fifo", "socket", "chardev"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let (m, secrets) = (root.join("m"), root.join("secrets"));
        fs::create_dir_all(&m).expect("mkdir");
        fs::create_dir_all(&secrets).expect("mkdir");
        fs::write(secrets.join("tok"), "tok-special").expect("w");
        for name in ["kept", "hidden"] {
            Manifest::new(name)
                .token(Source::file("tok"))
                .write(m.join(format!("{name}.yaml")));
        }
        let apply = |path: &str| {
            let base = base.clone();
            let root = root.to_path_buf();
            let path = path.to_string();
            std::thread::spawn(move || {
                common::bccreds()
                    .current_dir(root)
                    .args(["apply", &path, "--store", "sqlite://s.db"])
                    .args(["--secrets-dir", "secrets", "--bigcommerce-base-url", &base])
                    .output()
                    .expect("apply")
            })
            .join()
            .expect("join")
        };
        let out = apply("m");
        assert_eq!(out.status.code(), Some(0), "{}", common::all_output(&out));
        assert_eq!(labels(root), ["hidden", "kept"]);

        // hidden.yaml becomes a special file.
        let hidden = m.join("hidden.yaml");
        fs::remove_file(&hidden).expect("rm");
        let c = std::ffi::CString::new(hidden.as_os_str().as_encoded_bytes()).expect("path");
        let mut listeners = Vec::new();
        let what = match kind {
            // SAFETY (both): libc calls with a valid NUL-terminated path.
            "fifo" => {
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
                "a FIFO"
            }
            "socket" => {
                listeners.push(std::os::unix::net::UnixListener::bind(&hidden).expect("socket"));
                "a socket"
            }
            _ => {
                let dev = libc::makedev(1, 3);
                if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } != 0 {
                    eprintln!("note: skipping the character device: mknod needs root here");
                    continue;
                }
                "a character device"
            }
        };
        for path in ["m", "m/hidden.yaml"] {
            let out = apply(path);
            let text = common::all_output(&out);
            assert_eq!(out.status.code(), Some(1), "{kind} via {path}: {text}");
            assert!(
                text.contains("hidden.yaml")
                    && text.contains(&format!("it is {what}, not a regular file")),
                "{kind} via {path}: {text}"
            );
            assert!(
                !text.contains("deleted") || text.contains("0 deleted"),
                "{text}"
            );
            assert_eq!(
                labels(root),
                ["hidden", "kept"],
                "{kind} via {path}: {text}"
            );
        }
    }
}
