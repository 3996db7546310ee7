//! Issue 16, finding 10: ledger segments were 0644 (sealed 0444) in 0755 folders, so every local
//! user could read the audit data (customer names, amounts, the policy). The writer's files are
//! owner-only (0600, sealed segments 0400) and its folders 0700 whatever the umask, and opening a
//! ledger left with looser modes tightens them and says so.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use auditgate_ledger::{Ledger, LedgerOptions};
use common::{call, key, segment_paths, small_segments};

/// Set in the copy of this test binary that runs under `umask 000`: the ledger folder to write.
const UMASK_CHILD: &str = "AUDITGATE_TEST_UMASK_CHILD";

/// Every path under `dir` (itself included) with its mode, not following symlinks.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.push((path, mode, meta.is_dir()));
    }
    out
}

/// Every folder under `dir` is 0700 and no file grants anything to group or others.
fn assert_private(dir: &Path) {
    let loose: Vec<String> = modes(dir)
        .into_iter()
        .filter(|&(_, mode, is_dir)| {
            if is_dir {
                mode != 0o700
            } else {
                mode & 0o077 != 0
            }
        })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "readable by others: {loose:#?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A ledger that has sealed segments, saved heads and an index, written, closed, reopened and
/// appended to.
fn write_ledger(dir: &Path) {
    let l = Ledger::create(dir, key(1), small_segments()).unwrap();
    for i in 0..60 {
        l.append(call(i)).unwrap();
    }
    l.sync_index();
    l.close();
    let (l, _) = Ledger::open(dir, key(1), small_segments()).unwrap();
    l.append(call(60)).unwrap();
    l.sync_index();
    l.close();
}

#[test]
fn ledger_files_are_private_whatever_the_umask() {
    if let Some(dir) = std::env::var_os(UMASK_CHILD) {
        write_ledger(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    // The umask is per process and a test cannot set its own without unsafe code: run this
    // test again in a child started under `umask 000`, and check what it left.
    let child = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ledger_files_are_private_whatever_the_umask",
            "--test-threads=1",
        ])
        .env(UMASK_CHILD, &dir)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the child writing the ledger failed: {}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );

    let segments = segment_paths(&dir);
    assert!(segments.len() > 2, "no sealed segment: {segments:?}");
    assert!(
        std::fs::read_dir(dir.join("heads")).unwrap().count() > 0,
        "no saved head"
    );
    assert!(dir.join("index").is_dir(), "no index");
    assert_private(&dir);
    let (active, sealed) = segments.split_last().unwrap();
    for s in sealed {
        assert_eq!(mode(s), 0o400, "sealed {}", s.display());
    }
    assert_eq!(mode(active), 0o600, "active {}", active.display());
}

#[test]
fn an_open_tightens_a_ledger_left_readable_by_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    write_ledger(&dir);
    // What earlier versions left: folders 0755, files 0644, sealed segments 0444.
    for (path, mode, is_dir) in modes(&dir) {
        let loose = if is_dir { 0o755 } else { mode | 0o044 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let (l, report) = Ledger::open(&dir, key(1), LedgerOptions::default()).unwrap();
    l.close();
    assert_private(&dir);
    let tightened = &report.tightened;
    for expected in [dir.clone(), dir.join("segments"), dir.join("heads")]
        .into_iter()
        .chain(segment_paths(&dir))
    {
        assert!(
            tightened.contains(&expected),
            "{} not reported in {tightened:?}",
            expected.display()
        );
    }
    let segments = segment_paths(&dir);
    assert_eq!(
        mode(&segments[0]),
        0o400,
        "a sealed segment stays read-only"
    );

    // A ledger already private is left alone and nothing is reported.
    let (l, report) = Ledger::open(&dir, key(1), LedgerOptions::default()).unwrap();
    l.close();
    assert!(report.tightened.is_empty(), "{:?}", report.tightened);
}
