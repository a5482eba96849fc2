//! The endpoints' listener under hostile clients: connections that send nothing or half a
//! request are closed within the (shortened) timeouts, connections over the cap wait without
//! stopping `/healthz` for good, a request in flight is never cut as idle, and `/status` is
//! never served unauthenticated off loopback. Also the real binary: the warning line of a
//! network-reachable listener, the token never printed, and `bccreds status` with and without
//! the token.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bccreds::secret::SecretValue;
use bccreds::server::{Probe, Server, ServerLimits, ServerOptions, STATUS_REFUSED};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for anything that should happen "soon" on a loaded machine.
const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "tok-status-7f3a9c1e5b";

struct Fake {
    /// How long `/metrics` takes: a request in flight that long must not count as idle.
    metrics_delay: Duration,
}

impl Probe for Fake {
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({"credentials": [{
            "namespace": "shop", "name": "eu", "label": "EU store",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "ok",
                            "lastTransitionTime": "2026-01-02T03:04:05Z"}],
        }]})
    }

    fn metrics(&self) -> String {
        std::thread::sleep(self.metrics_delay);
        "bccreds_passes_total 1\n".to_string()
    }
}

fn limits(header: u64, idle: u64, cap: usize) -> ServerLimits {
    ServerLimits {
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        max_connections: cap,
        shutdown_grace: Duration::from_millis(500),
    }
}

async fn start_on(listen: &str, limits: ServerLimits, token: Option<&str>) -> Server {
    Server::start_with(
        listen.parse().unwrap(),
        Arc::new(Fake {
            metrics_delay: Duration::from_millis(1500),
        }),
        ServerOptions {
            limits,
            status_token: token.map(SecretValue::new),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("the server starts")
}

/// Where a client reaches a server bound to `0.0.0.0` or `127.0.0.1`.
fn local(server: &Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.addr().port()))
}

/// One request on a fresh connection: status code, headers (lowercase names) and body.
async fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String, String) {
    get_as(addr, "localhost", path, auth).await
}

/// [`get`] with `Host: host`.
async fn get_as(
    addr: SocketAddr,
    host: &str,
    path: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    parse(&raw)
}

fn parse(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (code, head.to_ascii_lowercase(), body.to_string())
}

/// Reads (and drops) whatever the server sends until it closes the connection; how long that
/// took, or `None` if it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// Reads one response (head and a Content-Length body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before a whole response: {raw:?}");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("a whole response in time");
    parse(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_idle_and_half_sent_connections_are_closed_and_healthz_still_answers() {
    let header = Duration::from_millis(2500);
    let server = start_on("127.0.0.1:0", limits(2500, 4000, 256), None).await;
    let addr = local(&server);

    // 70 connections that send nothing and 30 that send half a request head.
    let mut held = Vec::new();
    for i in 0..100 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        if i % 10 < 3 {
            stream
                .write_all(b"GET /status HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .await
                .expect("half a head");
        }
        held.push(tokio::spawn(async move {
            closed_within(&mut stream, WAIT).await
        }));
    }
    let connected = Instant::now();

    // The listener still serves while all of them are held...
    let (code, _, body) = get(addr, "/healthz", None).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert!(
        connected.elapsed() < header && held.iter().all(|h| !h.is_finished()),
        "the held connections were closed before /healthz was asked ({:?})",
        connected.elapsed()
    );

    // ...and every one of them is closed by the server after the header-read timeout.
    for (i, task) in held.into_iter().enumerate() {
        let after = task.await.unwrap();
        let after = after.unwrap_or_else(|| panic!("connection {i} still open after {WAIT:?}"));
        assert!(
            after >= header.mul_f32(0.9),
            "connection {i} was closed after {after:?}, before the header-read timeout"
        );
    }
    assert!(connected.elapsed() < header + Duration::from_secs(5));
    let (code, _, _) = get(addr, "/healthz", None).await;
    assert_eq!(code, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_by_the_idle_timeout() {
    // The header-read timeout is out of the way: only the idle timeout can close these.
    let idle = Duration::from_millis(800);
    let server = start_on("127.0.0.1:0", limits(60_000, 800, 256), None).await;
    let addr = local(&server);

    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let after = closed_within(&mut silent, WAIT).await.expect("closed");
    assert!(after >= idle.mul_f32(0.9), "closed after {after:?}");

    // A kept-alive connection is idle from the end of its last response.
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_response(&mut kept).await.0, 200);
    let after = closed_within(&mut kept, WAIT).await.expect("closed");
    assert!(after >= idle.mul_f32(0.8), "closed after {after:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_a_byte_at_a_time_is_cut_at_the_header_read_timeout() {
    let server = start_on("127.0.0.1:0", limits(1000, 60_000, 256), None).await;
    let addr = local(&server);
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = None;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cut = match cut {
        Some(at) => at,
        None => {
            // Every byte went into the socket buffer; the server must have closed it meanwhile.
            closed_within(&mut slow, Duration::from_millis(10)).await;
            panic!("a head sent over {:?} was accepted", started.elapsed());
        }
    };
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(5),
        "cut after {cut:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_in_flight_is_not_idle() {
    // /metrics takes 1.5 s; both timeouts are much shorter and must not cut it.
    let server = start_on("127.0.0.1:0", limits(300, 300, 256), None).await;
    let addr = local(&server);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let (code, _, body) = read_response(&mut stream).await;
    assert_eq!((code, body.as_str()), (200, "bccreds_passes_total 1\n"));
    assert!(started.elapsed() >= Duration::from_millis(1400));
    // Once answered, the connection is idle and closed.
    closed_within(&mut stream, WAIT)
        .await
        .expect("closed once idle");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_and_healthz_answers_once_held_ones_time_out() {
    let idle = Duration::from_millis(1500);
    let server = start_on("127.0.0.1:0", limits(1500, 1500, 4), None).await;
    let addr = local(&server);

    // Twelve clients that send nothing: four are served (and held), eight wait in the backlog.
    let mut held = Vec::new();
    for _ in 0..12 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        held.push(tokio::spawn(async move {
            closed_within(&mut stream, WAIT * 2).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();

    // A request over the cap is not answered while the cap is full...
    let mut over = TcpStream::connect(addr)
        .await
        .expect("the backlog takes it");
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), over.read(&mut byte)).await;
    assert!(early.is_err(), "answered over the cap: {early:?}");

    // ...and is answered once the held ones have timed out (three rounds of four).
    let (code, _, body) = read_response(&mut over).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    let waited = started.elapsed();
    assert!(
        waited >= idle.mul_f32(0.8),
        "answered after {waited:?}, before any held connection timed out"
    );
    for task in held {
        assert!(
            task.await.unwrap().is_some(),
            "a held connection stayed open"
        );
    }
    // Every slot came back.
    let answers = futures_util::future::join_all(
        (0..4).map(|_| async move { get(addr, "/healthz", None).await.0 }),
    )
    .await;
    assert_eq!(answers, [200; 4]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_bounds_the_rest_by_the_grace() {
    let server = start_on("127.0.0.1:0", limits(60_000, 60_000, 256), None).await;
    let addr = local(&server);
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    // Grace 500 ms: the /metrics request (1.5 s) and the half head are dropped after it.
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "shutdown took {took:?}"
    );
    for mut stream in idle.into_iter().chain([half, slow]) {
        closed_within(&mut stream, Duration::from_secs(2))
            .await
            .expect("closed by shutdown");
    }
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");

    // A dropped server is bounded by the same grace: nobody awaits it, yet a half head is not
    // held until its (one minute) header-read timeout.
    let server = start_on("127.0.0.1:0", limits(60_000, 60_000, 256), None).await;
    let mut half = TcpStream::connect(local(&server)).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(server);
    let after = closed_within(&mut half, Duration::from_secs(5))
        .await
        .expect("closed after the grace");
    assert!(
        after >= Duration::from_millis(450),
        "closed after {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_off_loopback_needs_a_token_and_the_other_endpoints_stay_open() {
    // No token, reachable from the network: /status is refused with the flag to set.
    let open = start_on("0.0.0.0:0", ServerLimits::default(), None).await;
    let addr = local(&open);
    let (code, head, body) = get(addr, "/status", None).await;
    assert_eq!((code, body.as_str()), (403, STATUS_REFUSED));
    assert!(body.contains("--status-token") && body.trim_end().lines().count() == 1);
    assert!(head.contains("content-type: text/plain"), "{head}");
    let (code, _, _) = get(addr, "/status", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(code, 403, "no token is configured, so none is accepted");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(addr, path, None).await.0, 200, "{path}");
    }
    open.shutdown().await;

    // With a token: 401 without it or with a wrong one, 200 with it.
    let guarded = start_on("0.0.0.0:0", ServerLimits::default(), Some(TOKEN)).await;
    let addr = local(&guarded);
    for auth in [
        None,
        Some("Bearer wrong".to_string()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_string()),
    ] {
        let (code, head, body) = get(addr, "/status", auth.as_deref()).await;
        assert_eq!(code, 401, "{auth:?}");
        assert!(head.contains("\r\nwww-authenticate: bearer"), "{head}");
        assert!(!body.contains(TOKEN), "{body}");
    }
    let (code, _, body) = get(addr, "/status", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(doc["credentials"][0]["name"], "eu");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(addr, path, None).await.0, 200, "{path}");
    }
    guarded.shutdown().await;

    // On loopback, /status is served without a token as before, and needs it when one is set.
    // Only for loopback names: a page that rebinds its own name to 127.0.0.1 gets 421.
    let local_open = start_on("127.0.0.1:0", ServerLimits::default(), None).await;
    assert_eq!(get(local(&local_open), "/status", None).await.0, 200);
    let addr = local(&local_open);
    let (code, _, body) = get_as(addr, "rebind.attacker.example", "/status", None).await;
    assert_eq!((code, body.as_str()), (421, bccreds::server::MISDIRECTED));
    assert_eq!(
        get_as(addr, "rebind.attacker.example", "/healthz", None)
            .await
            .0,
        200
    );
    local_open.shutdown().await;
    let local_guarded = start_on("127.0.0.1:0", ServerLimits::default(), Some(TOKEN)).await;
    assert_eq!(get(local(&local_guarded), "/status", None).await.0, 401);
    local_guarded.shutdown().await;
}

/// Runs `bccreds status ARGS…` (off the async runtime): exit code, stdout, stderr.
async fn status_cli(args: Vec<String>, env_token: Option<&str>) -> (i32, String, String) {
    let env_token = env_token.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut cmd = common::bccreds();
        cmd.arg("status").args(&args).env_remove("RUST_LOG");
        if let Some(token) = env_token {
            cmd.env("BCCREDS_STATUS_TOKEN", token);
        }
        let out = cmd.output().expect("bccreds status runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bccreds_status_sends_the_token_and_names_the_flag_when_refused() {
    let guarded = start_on("0.0.0.0:0", ServerLimits::default(), Some(TOKEN)).await;
    let url = format!("http://{}", local(&guarded));

    let (code, out, err) = status_cli(vec!["--url".into(), url.clone()], None).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("401") && err.contains("--status-token"),
        "{err}"
    );

    let wrong = vec![
        "--url".into(),
        url.clone(),
        "--status-token".into(),
        "not-the-token".into(),
    ];
    let (code, out, err) = status_cli(wrong, None).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("refused the token") && err.contains("--status-token"),
        "{err}"
    );
    assert!(!err.contains("not-the-token"), "{err}");

    let right = vec![
        "--url".into(),
        url.clone(),
        "--status-token".into(),
        TOKEN.into(),
    ];
    let (code, out, err) = status_cli(right, None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shop/eu"), "{out}");
    assert!(!format!("{out}{err}").contains(TOKEN));

    // From the environment, with the newline a Secret made with `echo` carries.
    let (code, out, err) = status_cli(
        vec!["--url".into(), url.clone()],
        Some(&format!("{TOKEN}\n")),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shop/eu"), "{out}");
    guarded.shutdown().await;

    // A network listener without a token: 403, and the message says what to set.
    let refused = start_on("0.0.0.0:0", ServerLimits::default(), None).await;
    let url = format!("http://{}", local(&refused));
    let (code, out, err) = status_cli(vec!["--url".into(), url], Some(TOKEN)).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("403") && err.contains("--status-token"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains(TOKEN));
    refused.shutdown().await;
}

#[test]
fn a_token_that_cannot_be_a_bearer_token_is_a_usage_error_that_does_not_quote_it() {
    for (command, token) in [
        ("watch", ""),
        ("watch", "tok with spaces-91ac"),
        ("controller", "tok\twith-tab-91ac"),
        ("status", "tok\u{e9}-91ac"),
    ] {
        let mut cmd = common::bccreds();
        cmd.arg(command);
        if command == "watch" {
            cmd.arg("manifests-that-do-not-exist");
        }
        let out = cmd
            .args(["--status-token", token])
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        let text = common::all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{command} {token:?}: {text}");
        assert!(text.contains("--status-token"), "{text}");
        if !token.is_empty() {
            assert!(!text.contains(token), "{command} printed the token: {text}");
        }
    }
    // `--help` names the variable but never shows its value.
    for command in ["watch", "controller", "status"] {
        let out = common::bccreds()
            .args([command, "--help"])
            .env("BCCREDS_STATUS_TOKEN", TOKEN)
            .output()
            .expect("runs");
        let text = common::all_output(&out);
        assert!(text.contains("BCCREDS_STATUS_TOKEN"), "{command}: {text}");
        assert!(!text.contains(TOKEN), "{command} --help printed the token");
    }
}

#[test]
fn watch_on_a_network_address_warns_guards_status_and_never_prints_the_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let manifests = tmp.path().join("manifests");
    std::fs::create_dir(&manifests).expect("mkdir");
    let mut child = common::bccreds()
        .current_dir(tmp.path())
        .args(["watch", "manifests", "--listen", "0.0.0.0:0"])
        .args(["--status-token", TOKEN])
        .args(["--store", "sqlite://s.db"])
        .args(["--bigcommerce-base-url", "http://127.0.0.1:9"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    // "bccreds watching DIR (endpoints on http://0.0.0.0:PORT)"
    let deadline = Instant::now() + WAIT;
    let port: u16 = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("watch announces its endpoints");
        if let Some(rest) = line.split("(endpoints on http://").nth(1) {
            let addr: SocketAddr = rest.trim_end_matches(')').parse().expect("an address");
            assert!(addr.ip().is_unspecified(), "{line}");
            break addr.port();
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            assert_eq!(get(addr, "/healthz", None).await.0, 200);
            assert_eq!(get(addr, "/metrics", None).await.0, 200);
            assert_eq!(get(addr, "/status", None).await.0, 401);
            let (code, _, body) = get(addr, "/status", Some(&format!("Bearer {TOKEN}"))).await;
            assert_eq!(code, 200, "{body}");
            assert!(body.contains("\"credentials\""), "{body}");
            let url = format!("http://{addr}");
            let (code, out, err) = status_cli(vec!["--url".into(), url.clone()], None).await;
            assert_eq!(code, 1, "{out}{err}");
            assert!(err.contains("--status-token"), "{err}");
            let (code, out, err) = status_cli(vec!["--url".into(), url], Some(TOKEN)).await;
            assert_eq!(code, 0, "{out}{err}");
            assert!(!format!("{out}{err}").contains(TOKEN));
        })
    }));

    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().expect("wait");
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("stdout");
    let stderr = reader.join().expect("stderr reader");
    if let Err(panic) = outcome {
        eprintln!("watch's stderr:\n{stderr}");
        std::panic::resume_unwind(panic);
    }
    assert!(status.success(), "watch exited with {status}: {stderr}");
    let warning: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("reachable from the network"))
        .collect();
    assert_eq!(warning.len(), 1, "one warning line: {stderr}");
    assert!(
        warning[0].contains("WARN") && warning[0].contains("--status-token"),
        "{}",
        warning[0]
    );
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "watch printed the token:\n{stdout}{stderr}"
    );
}

#[test]
fn watch_on_loopback_does_not_warn() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("m")).expect("mkdir");
    let mut child = common::bccreds()
        .current_dir(tmp.path())
        .args(["watch", "m", "--listen", "127.0.0.1:0"])
        .args(["--store", "sqlite://s.db"])
        .args(["--bigcommerce-base-url", "http://127.0.0.1:9"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("(endpoints on http://") {
            break;
        }
    }
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    for line in lines {
        seen.push_str(&line.unwrap_or_default());
        seen.push('\n');
    }
    child.wait().expect("wait");
    assert!(seen.contains("(endpoints on http://127.0.0.1:"), "{seen}");
    assert!(!seen.contains("reachable from the network"), "{seen}");
}
