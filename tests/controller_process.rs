//! `bccreds controller` as a process, as a pod runs it: `/readyz` and SIGTERM while the API
//! server refuses connections or answers 403 (with and without leader election), and what it
//! logs at default settings, as text and as JSON.

mod common;
mod fake_apiserver;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fake_apiserver::{refused_url, FakeApiServer, Fault};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: bccreds-system\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: not-a-real-token\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

/// A running `bccreds controller`, killed when dropped.
struct Process {
    child: Child,
    listen: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, server: &str, extra: &[&str], base_url: &str) -> Process {
    let listen = free_addr();
    let child = common::bccreds()
        .arg("controller")
        .args(["--listen", &listen.to_string()])
        .args([
            "--store",
            &format!("sqlite://{}", dir.join("s.db").display()),
        ])
        .args(["--bigcommerce-base-url", base_url])
        .args(["--identity", "pod-a", "--lease-namespace", "bccreds-system"])
        .args(extra)
        .env("KUBECONFIG", kubeconfig(dir, server))
        .env(
            "APP_KEY",
            "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .env_remove("RUST_LOG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bccreds controller starts");
    Process { child, listen }
}

/// The status code of `GET path`, 0 when nothing answers.
fn get(addr: SocketAddr, path: &str) -> u16 {
    use std::io::Write;
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return 0;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// SIGTERM, then the time until the process exited and its stderr.
fn terminate(mut p: Process) -> (Duration, Option<i32>, String) {
    // SAFETY: kill(2) on our own child's pid; it has not been waited for, so the pid is its own.
    unsafe {
        libc::kill(p.child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let code = loop {
        if let Some(status) = p.child.try_wait().expect("try_wait") {
            break status.code();
        }
        if sent.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    let mut stderr = String::new();
    if let Some(mut e) = p.child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    (took, code, stderr)
}

/// Not ready for 3 s, then stopped by SIGTERM within 5 s.
fn never_ready_and_stops(dir: &Path, server: &str, extra: &[&str], what: &str) {
    let p = start(dir, server, extra, "http://127.0.0.1:9");
    wait_for(10, "the endpoints", || get(p.listen, "/healthz") == 200);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(
            get(p.listen, "/readyz"),
            503,
            "{what}: ready without an API"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (took, code, stderr) = terminate(p);
    assert!(
        took < Duration::from_secs(5),
        "{what}: SIGTERM took {took:?}\n{stderr}"
    );
    assert_eq!(code, Some(0), "{what}: exit code\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_and_stopping_within_5_s_while_the_api_refuses_or_forbids() {
    let tmp = tempfile::tempdir().expect("tmp");
    let refused = refused_url();
    let api = FakeApiServer::start().await;
    api.set_fault(Fault::Forbidden);
    let forbidden = api.url();
    for (server, what) in [(&refused, "refused"), (&forbidden, "403")] {
        for election in [false, true] {
            let extra: &[&str] = if election {
                &["--leader-election"]
            } else {
                &[]
            };
            let dir = tmp.path().join(format!("{what}-{election}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let (server, what) = (server.clone(), format!("{what}, election {election}"));
            tokio::task::spawn_blocking(move || never_ready_and_stops(&dir, &server, extra, &what))
                .await
                .expect("join");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_logs_name_a_failed_verification_and_nothing_from_other_crates() {
    let sim = common::simulator(&common::one_store("Demo", &["tok-good"])).await;
    let api = FakeApiServer::start().await;
    let secrets: Api<Secret> = Api::namespaced(api.client(), "shop");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "bc", "namespace": "shop"},
        "stringData": {"token": "tok-wrong-secret-value"}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let creds: Api<bccreds::model::BigCommerceCredential> = Api::namespaced(api.client(), "shop");
    let obj = serde_json::from_value(json!({
        "apiVersion": "bigcommerce.unopim.io/v1alpha1", "kind": "BigCommerceCredential",
        "metadata": {"name": "prod", "namespace": "shop"},
        "spec": {
            "label": "Production",
            "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
            "accessToken": {"secretKeyRef": {"name": "bc", "key": "token"}}
        }
    }))
    .expect("credential");
    creds
        .create(&PostParams::default(), &obj)
        .await
        .expect("credential");
    let tmp = tempfile::tempdir().expect("tmp");
    for format in ["text", "json"] {
        let dir = tmp.path().join(format);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (url, base) = (api.url(), sim.base_url());
        let stderr = tokio::task::spawn_blocking(move || {
            let p = start(&dir, &url, &["--log-format", format], &base);
            wait_for(15, "ready", || get(p.listen, "/readyz") == 200);
            // The failed verification happens right after the first list.
            std::thread::sleep(Duration::from_secs(2));
            terminate(p).2
        })
        .await
        .expect("join");
        assert!(!stderr.contains("tok-wrong-secret-value"), "{stderr}");
        let failure = stderr
            .lines()
            .find(|l| l.contains("shop/prod") && l.contains("InvalidToken"));
        assert!(
            failure.is_some(),
            "{format}: no line for the failure:\n{stderr}"
        );
        if format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                let target = v["target"].as_str().unwrap_or("");
                assert!(target.starts_with("bccreds"), "another crate logs: {line}");
            }
            let v: Value = serde_json::from_str(failure.unwrap_or("")).expect("json");
            assert_eq!(v["level"], "WARN");
            assert_eq!(v["reason"], "InvalidToken");
            assert_eq!(v["credential"], "shop/prod");
        } else {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                assert!(line.contains(" bccreds"), "another crate logs: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stops_within_5_s_and_releases_its_lease() {
    let api = FakeApiServer::start().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let url = api.url();
    let dir = tmp.path().to_path_buf();
    let p = tokio::task::spawn_blocking(move || {
        let p = start(&dir, &url, &["--leader-election"], "http://127.0.0.1:9");
        wait_for(15, "ready as the leader", || {
            get(p.listen, "/readyz") == 200
        });
        p
    })
    .await
    .expect("join");
    let holder = |api: &FakeApiServer| {
        api.get("leases", "bccreds-system", "bccreds-leader")
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
    };
    assert_eq!(holder(&api).as_deref(), Some("pod-a"));
    let (took, code, stderr) = tokio::task::spawn_blocking(move || terminate(p))
        .await
        .expect("join");
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}\n{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        holder(&api),
        None,
        "the lease is released for the next replica"
    );
}
