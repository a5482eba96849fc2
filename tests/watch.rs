//! The tree watcher against real files, with real inotify and poll watchers.
//!
//! Every wait is bounded. "Exactly one trigger" is checked by also waiting two debounce windows
//! for a second one that must not come.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use bccreds::watch::{TreeWatcher, Trigger, WatchError, WatchOptions};
use tokio::time::timeout;

const DEBOUNCE: Duration = Duration::from_millis(300);
/// Generous: the machine may be busy compiling.
const WAIT: Duration = Duration::from_secs(10);

fn opts() -> WatchOptions {
    WatchOptions {
        debounce: DEBOUNCE,
        resync_interval: Duration::from_secs(3600),
        poll: None,
    }
}

fn polling() -> WatchOptions {
    WatchOptions {
        poll: Some(Duration::from_millis(100)),
        ..opts()
    }
}

async fn expect(w: &mut TreeWatcher, what: &str) -> Trigger {
    match timeout(WAIT, w.next()).await {
        Ok(trigger) => trigger,
        Err(_) => panic!("no trigger within {WAIT:?} after {what}"),
    }
}

/// No trigger within two debounce windows (and a margin).
async fn expect_quiet(w: &mut TreeWatcher, what: &str) {
    if let Ok(trigger) = timeout(2 * DEBOUNCE + Duration::from_millis(200), w.next()).await {
        panic!("unexpected trigger {trigger:?} after {what}");
    }
}

async fn expect_one(w: &mut TreeWatcher, want: Trigger, what: &str) {
    assert_eq!(expect(w, what).await, want, "after {what}");
    expect_quiet(w, what).await;
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(path, text).unwrap();
}

#[tokio::test]
async fn create_modify_and_delete_anywhere_give_one_trigger_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut w = TreeWatcher::start(root, opts()).unwrap();

    write(root.join("a.yaml"), "v1");
    expect_one(&mut w, Trigger::Changed, "create").await;
    write(root.join("a.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "modify").await;
    fs::remove_file(root.join("a.yaml")).unwrap();
    expect_one(&mut w, Trigger::Changed, "delete").await;

    // A directory created after the start is watched too, once the trigger has come.
    write(root.join("team/deep/b.yml"), "v1");
    expect_one(&mut w, Trigger::Changed, "a new nested directory").await;
    write(root.join("team/deep/b.yml"), "v2");
    expect_one(&mut w, Trigger::Changed, "modify in the new directory").await;
    fs::remove_dir_all(root.join("team")).unwrap();
    expect_one(&mut w, Trigger::Changed, "rm -rf of the directory").await;
}

#[tokio::test]
async fn a_burst_of_many_writes_gives_one_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TreeWatcher::start(dir.path(), opts()).unwrap();
    for d in 0..5 {
        for f in 0..40 {
            write(dir.path().join(format!("d{d}/f{f}.yaml")), "x");
        }
    }
    expect_one(&mut w, Trigger::Changed, "200 files in 5 new directories").await;
}

#[tokio::test]
async fn an_editors_atomic_save_gives_exactly_one_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root.join("x.yaml"), "v1");
    let mut w = TreeWatcher::start(root, opts()).unwrap();

    // vim: swap file, write a temporary, rename it over the file, drop the swap file.
    write(root.join(".x.yaml.swp"), "swap");
    write(root.join("x.yaml.tmp"), "v2");
    fs::rename(root.join("x.yaml.tmp"), root.join("x.yaml")).unwrap();
    fs::remove_file(root.join(".x.yaml.swp")).unwrap();
    expect_one(&mut w, Trigger::Changed, "an atomic save").await;
    assert_eq!(fs::read_to_string(root.join("x.yaml")).unwrap(), "v2");
}

#[tokio::test]
async fn other_files_and_reading_the_tree_do_not_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root.join("a.yaml"), "x");
    write(root.join("sub/b.yaml"), "x");
    let mut w = TreeWatcher::start(root, opts()).unwrap();

    write(root.join("README.md"), "v1");
    write(root.join("README.md"), "v2");
    write(root.join("sub/.b.yaml.swp"), "swap");
    fs::remove_file(root.join("README.md")).unwrap();
    fs::remove_file(root.join("sub/.b.yaml.swp")).unwrap();
    expect_quiet(&mut w, "non-manifest files").await;

    // What a rescan does: list every directory and read every file.
    for _ in 0..3 {
        for path in ["a.yaml", "sub/b.yaml"] {
            fs::read_to_string(root.join(path)).unwrap();
        }
        for d in [root.to_path_buf(), root.join("sub")] {
            fs::read_dir(d).unwrap().for_each(drop);
        }
    }
    expect_quiet(&mut w, "reading the tree").await;
}

#[tokio::test]
async fn git_internals_do_not_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root.join(".git/HEAD"), "ref: refs/heads/main");
    write(root.join("nested/.git/HEAD"), "ref: refs/heads/main");
    let mut w = TreeWatcher::start(root, opts()).unwrap();

    // What a fetch and checkout do inside .git.
    write(root.join(".git/objects/ab/cdef"), "blob");
    write(root.join(".git/index.lock"), "index");
    fs::rename(root.join(".git/index.lock"), root.join(".git/index")).unwrap();
    write(root.join(".git/refs/heads/main.yaml"), "not a manifest");
    write(root.join("nested/.git/objects/12/3456"), "blob");
    fs::remove_dir_all(root.join(".git/objects/ab")).unwrap();
    expect_quiet(&mut w, "churn inside .git").await;

    write(root.join("a.yaml"), "x");
    expect_one(&mut w, Trigger::Changed, "a manifest next to .git").await;
}

/// Writes a ConfigMap volume update the way the kubelet does (its AtomicWriter).
fn configmap_update(root: &Path, new: &str, old: Option<&str>, files: &[(&str, &str)]) {
    let ts = root.join(new);
    fs::create_dir(&ts).unwrap();
    for (name, text) in files {
        fs::write(ts.join(name), text).unwrap();
    }
    symlink(new, root.join("..data_tmp")).unwrap();
    fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    for (name, _) in files {
        let user = root.join(name);
        if fs::symlink_metadata(&user).is_err() {
            symlink(format!("..data/{name}"), user).unwrap();
        }
    }
    if let Some(old) = old {
        fs::remove_dir_all(root.join(old)).unwrap();
    }
}

#[tokio::test]
async fn a_configmap_symlink_swap_gives_exactly_one_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let first = "..2026_11_26_12_00_00.123";
    let second = "..2026_11_26_12_05_00.456";
    let third = "..2026_11_26_12_10_00.789";
    configmap_update(root, first, None, &[("x.yaml", "v1")]);
    let mut w = TreeWatcher::start(root, opts()).unwrap();

    configmap_update(
        root,
        second,
        Some(first),
        &[("x.yaml", "v2"), ("y.yaml", "v1")],
    );
    expect_one(&mut w, Trigger::Changed, "the ..data swap").await;
    assert_eq!(fs::read_to_string(root.join("x.yaml")).unwrap(), "v2");

    configmap_update(
        root,
        third,
        Some(second),
        &[("x.yaml", "v3"), ("y.yaml", "v2")],
    );
    expect_one(&mut w, Trigger::Changed, "a second ..data swap").await;
}

/// Points `link` at `target` atomically, as git-sync does: a new link renamed over the old one.
fn swap_link(link: &Path, target: &str) {
    let tmp = link.with_file_name("link.tmp");
    symlink(target, &tmp).unwrap();
    fs::rename(&tmp, link).unwrap();
}

#[tokio::test]
async fn a_git_sync_link_inside_the_tree_is_followed_across_a_swap() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base.join("worktrees/sha1/x.yaml"), "v1");
    let root = base.join("m");
    fs::create_dir(&root).unwrap();
    symlink("../worktrees/sha1", root.join("current")).unwrap();
    let mut w = TreeWatcher::start(&root, opts()).unwrap();

    // The new worktree is outside the watched tree: only the swap itself is seen.
    write(base.join("worktrees/sha2/x.yaml"), "v2");
    write(base.join("worktrees/sha2/sub/y.yaml"), "v1");
    swap_link(&root.join("current"), "../worktrees/sha2");
    expect_one(&mut w, Trigger::Changed, "the link swap").await;

    // The watch follows the link to the new worktree, and has left the old one.
    write(base.join("worktrees/sha2/sub/y.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "a change in the new worktree").await;
    write(base.join("worktrees/sha1/x.yaml"), "stale");
    fs::remove_dir_all(base.join("worktrees/sha1")).unwrap();
    expect_quiet(&mut w, "removing the old worktree").await;
}

#[tokio::test]
async fn a_watched_path_that_is_itself_a_swapped_link_is_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(base.join(".git/HEAD"), "ref: refs/heads/main");
    write(base.join(".worktrees/sha1/x.yaml"), "v1");
    let root = base.join("current");
    symlink(".worktrees/sha1", &root).unwrap();
    let mut w = TreeWatcher::start(&root, opts()).unwrap();

    write(base.join(".worktrees/sha2/x.yaml"), "v2");
    write(base.join(".worktrees/sha2/sub/y.yaml"), "v1");
    write(base.join(".git/objects/ab/cdef"), "blob");
    swap_link(&root, ".worktrees/sha2");
    fs::remove_dir_all(base.join(".worktrees/sha1")).unwrap();
    expect_one(&mut w, Trigger::Changed, "swapping the watched link").await;

    write(base.join(".worktrees/sha2/sub/y.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "a change below the new target").await;
    write(base.join(".git/index"), "index");
    write(base.join("notes.yaml"), "a sibling of the watched link");
    expect_quiet(&mut w, "changes beside the watched link").await;

    // A swap that leaves the old worktree in place: only the new target is watched after it.
    write(base.join(".worktrees/sha3/sub/y.yaml"), "v1");
    swap_link(&root, ".worktrees/sha3");
    expect_one(&mut w, Trigger::Changed, "a swap keeping the old worktree").await;
    write(base.join(".worktrees/sha3/sub/y.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "a change below the newest target").await;
    write(base.join(".worktrees/sha2/sub/y.yaml"), "stale");
    expect_quiet(&mut w, "a change in the previous worktree").await;
}

#[tokio::test]
async fn a_deleted_and_later_recreated_directory_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    write(root.join("sub/a.yaml"), "v1");
    let mut w = TreeWatcher::start(&root, opts()).unwrap();

    fs::remove_dir_all(&root).unwrap();
    // The reconciler decides what a missing tree means; the watcher just goes on.
    assert_eq!(expect(&mut w, "rm -rf").await, Trigger::Changed);
    expect_quiet(&mut w, "the directory staying away").await;

    write(root.join("sub/a.yaml"), "v2");
    expect_one(&mut w, Trigger::Recovered, "the directory coming back").await;
    write(root.join("sub/a.yaml"), "v3");
    expect_one(&mut w, Trigger::Changed, "a change in the recreated tree").await;
}

#[tokio::test]
async fn a_directory_deleted_and_recreated_at_once_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    write(root.join("a.yaml"), "v1");
    let mut w = TreeWatcher::start(&root, opts()).unwrap();

    fs::remove_dir_all(&root).unwrap();
    fs::create_dir(&root).unwrap();
    write(root.join("a.yaml"), "v2");
    write(root.join("sub/b.yaml"), "v1");
    expect_one(&mut w, Trigger::Recovered, "rm -rf, mkdir, write").await;
    write(root.join("sub/b.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "a change in the recreated tree").await;
}

#[tokio::test]
async fn a_directory_missing_at_start_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not-cloned-yet");
    let mut w = TreeWatcher::start(&root, opts()).unwrap();
    expect_quiet(&mut w, "nothing happening").await;

    write(root.join("a.yaml"), "v1");
    expect_one(&mut w, Trigger::Recovered, "the directory appearing").await;
    write(root.join("a.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "a change in it").await;
}

#[test]
fn start_refuses_what_cannot_be_watched() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no/such/dir");
    let err = TreeWatcher::start(&nowhere, opts()).unwrap_err();
    assert!(matches!(err, WatchError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir"));

    write(dir.path().join("file.yaml"), "x");
    let err = TreeWatcher::start(&dir.path().join("file.yaml"), opts()).unwrap_err();
    assert!(matches!(err, WatchError::NotADirectory { .. }), "{err:?}");

    let zero = WatchOptions {
        poll: Some(Duration::ZERO),
        ..opts()
    };
    let err = TreeWatcher::start(dir.path(), zero).unwrap_err();
    assert!(matches!(err, WatchError::ZeroPollInterval), "{err:?}");
}

#[tokio::test]
async fn a_resync_is_signalled_when_nothing_happens() {
    let dir = tempfile::tempdir().unwrap();
    let quick = WatchOptions {
        debounce: Duration::from_millis(50),
        resync_interval: Duration::from_millis(400),
        poll: None,
    };
    let mut w = TreeWatcher::start(dir.path(), quick).unwrap();
    assert_eq!(expect(&mut w, "idling").await, Trigger::Resync);
    assert_eq!(expect(&mut w, "idling again").await, Trigger::Resync);
}

#[tokio::test]
async fn polling_sees_create_modify_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut w = TreeWatcher::start(root, polling()).unwrap();

    write(root.join("a.yaml"), "v1");
    expect_one(&mut w, Trigger::Changed, "create").await;
    // Within the same second as the create: mtimes alone would miss it.
    write(root.join("a.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "modify").await;
    fs::remove_file(root.join("a.yaml")).unwrap();
    expect_one(&mut w, Trigger::Changed, "delete").await;

    write(root.join("sub/b.yaml"), "v1");
    expect_one(&mut w, Trigger::Changed, "a new directory").await;
    write(root.join("sub/b.yaml"), "v2");
    expect_one(&mut w, Trigger::Changed, "modify in the new directory").await;
    write(root.join(".git/index"), "index");
    expect_quiet(&mut w, "churn inside .git").await;
}

#[tokio::test]
async fn polling_recovers_a_deleted_and_recreated_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("m");
    write(root.join("a.yaml"), "v1");
    let mut w = TreeWatcher::start(&root, polling()).unwrap();

    fs::remove_dir_all(&root).unwrap();
    assert_eq!(expect(&mut w, "rm -rf").await, Trigger::Changed);
    expect_quiet(&mut w, "the directory staying away").await;
    write(root.join("a.yaml"), "v2");
    expect_one(&mut w, Trigger::Recovered, "the directory coming back").await;
    write(root.join("a.yaml"), "v3");
    expect_one(&mut w, Trigger::Changed, "a change in the recreated tree").await;
}

/// CPU time of the calling thread, which runs `next()` in a current-thread runtime.
fn thread_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0);
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[tokio::test]
async fn waiting_idle_uses_no_cpu() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path().join("a.yaml"), "x");
    let mut w = TreeWatcher::start(dir.path(), opts()).unwrap();
    let before = thread_cpu();
    assert!(timeout(Duration::from_millis(1500), w.next())
        .await
        .is_err());
    let used = thread_cpu() - before;
    assert!(
        used < Duration::from_millis(50),
        "{used:?} of CPU while idle"
    );
}
