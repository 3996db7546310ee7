//! A full disk on demand: a tmpfs mounted on a folder (root only) and filled until writes fail.

/// A tmpfs mounted on a folder for one test (root only), unmounted on drop.
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` (after saying why) when this process may not mount, unless the test command
    /// demands the test run (`AUDITGATE_REQUIRE_TEST_APP`, set by scripts/test as root).
    pub fn mount(at: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let demanded = std::env::var_os("AUDITGATE_REQUIRE_TEST_APP").is_some()
                && std::env::var("USER").map_or(true, |u| u == "root");
            assert!(!demanded, "cannot mount a tmpfs for the full-disk test");
            eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until a write fails for lack of space.
pub fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_data()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return path,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}
