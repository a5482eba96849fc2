//! Hostile input returns quickly with bounded memory: a YAML alias bomb and deep nesting.
//!
//! Each child's own CPU time and peak RSS come from wait4(2), so other tests running at the same
//! time do not blur the numbers; a watchdog kills a child that hangs.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

struct Usage {
    code: i32,
    cpu: Duration,
    max_rss_kib: i64,
    stdout: String,
}

// The child is reaped by wait4(2) below, which std's Child::wait cannot replace: it gives no rusage.
#[allow(clippy::zombie_processes)]
fn run_measured(file: &Path) -> Usage {
    let child = common::bccreds()
        .args(["validate", "--output", "json"])
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        // SAFETY: kill(2) with a pid we spawned; harmless if it already exited and was reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut stdout = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read stdout");
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value to be filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting on our own child; the pointers are valid for the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    drop(watchdog);
    assert!(
        libc::WIFEXITED(status),
        "child was killed: it hung or crashed"
    );
    let cpu = Duration::from_secs(usage.ru_utime.tv_sec as u64 + usage.ru_stime.tv_sec as u64)
        + Duration::from_micros(usage.ru_utime.tv_usec as u64 + usage.ru_stime.tv_usec as u64);
    Usage {
        code: libc::WEXITSTATUS(status),
        cpu,
        max_rss_kib: usage.ru_maxrss,
        stdout: text,
    }
}

fn assert_bounded(name: &str, text: &str, want: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(name);
    fs::write(&file, text).expect("write");
    let usage = run_measured(&file);
    eprintln!(
        "{name}: {:?} CPU, {} KiB peak RSS",
        usage.cpu, usage.max_rss_kib
    );
    assert_eq!(usage.code, 1, "{}", usage.stdout);
    assert!(usage.stdout.contains(want), "{}", usage.stdout);
    assert!(
        usage.cpu < Duration::from_secs(1),
        "took {:?} of CPU",
        usage.cpu
    );
    assert!(
        usage.max_rss_kib < 64 * 1024,
        "peak RSS {} KiB",
        usage.max_rss_kib
    );
}

#[test]
fn billion_laughs_is_refused_quickly_in_bounded_memory() {
    // Ten levels of ten aliases: 10^10 nodes if expanded.
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    assert_bounded("bomb.yaml", &text, "YAML bomb");
}

#[test]
fn deep_flow_nesting_near_the_size_limit_is_refused_quickly() {
    let depth = 500_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_bounded("deep-flow.yaml", &text, "nesting is deeper than the limit");
}

#[test]
fn deep_block_nesting_is_refused_quickly() {
    let text: String = (0..1_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    assert_bounded("deep-block.yaml", &text, "nesting is deeper than the limit");
}

#[test]
fn a_huge_file_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("huge.yaml");
    let f = fs::File::create(&file).expect("create");
    f.set_len(512 * 1024 * 1024).expect("sparse 512 MiB file");
    let usage = run_measured(&file);
    assert_eq!(usage.code, 1);
    assert!(
        usage
            .stdout
            .contains("larger than the limit of 1048576 bytes"),
        "{}",
        usage.stdout
    );
    assert!(
        usage.max_rss_kib < 64 * 1024,
        "peak RSS {} KiB",
        usage.max_rss_kib
    );
}
