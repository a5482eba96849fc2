//! A 10 MiB answer from the BigCommerce base URL (with or without Content-Length) is refused
//! while it is read: `verify` fails with a clear message and its peak RSS stays under 64 MiB.
//! Peak RSS comes from wait4(2), as in `tests/bounded_input.rs`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

const BODY: usize = 10 << 20;

/// Serves every request a 10 MiB JSON-ish body, chunked or with a Content-Length.
fn flood(chunked: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let head = if chunked {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n")
                };
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let block = vec![b' '; 64 << 10];
                for _ in 0..BODY / block.len() {
                    let sent = if chunked {
                        conn.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                            .and_then(|()| conn.write_all(&block))
                            .and_then(|()| conn.write_all(b"\r\n"))
                    } else {
                        conn.write_all(&block)
                    };
                    if sent.is_err() {
                        return;
                    }
                }
                let _ = conn.write_all(if chunked { b"0\r\n\r\n" } else { b"" });
            });
        }
    });
    format!("http://{addr}")
}

// The child is reaped by wait4(2) below, which std's Child::wait cannot replace: it gives no rusage.
#[allow(clippy::zombie_processes)]
fn verify_measured(base: &str, manifest: &std::path::Path) -> (i32, i64, String) {
    let child = common::bccreds()
        .args([
            "verify",
            "--bigcommerce-base-url",
            base,
            "--max-retries",
            "0",
        ])
        .arg(manifest)
        .env("BC_TOKEN", "tok-flood")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        // SAFETY: kill(2) with a pid we spawned; harmless if it already exited and was reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.expect("stdout"), &mut text).expect("read");
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value to be filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting on our own child; the pointers are valid for the call.
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(libc::WIFEXITED(status), "the child was killed: it hung");
    (libc::WEXITSTATUS(status), usage.ru_maxrss, text)
}

#[test]
fn a_ten_mib_answer_is_refused_with_bounded_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: shop\nspec:\n  label: Shop\n  apiUrl: https://api.bigcommerce.com/stores/abc123/\n  accessToken:\n    env: BC_TOKEN\n",
    )
    .expect("w");
    for chunked in [false, true] {
        let (code, rss_kib, out) = verify_measured(&flood(chunked), &manifest);
        eprintln!("chunked {chunked}: exit {code}, peak RSS {rss_kib} KiB");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("larger than 1024 KiB"), "{out}");
        assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
    }
}
