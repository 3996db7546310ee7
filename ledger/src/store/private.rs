//! Owner-only files and folders (issue 16, finding 10): the ledger holds what agents sent and
//! got back (customer names, amounts) and the policy, so nothing of it is for group or others.
//!
//! Folders are created 0700 and files 0600 by mode at creation, so no umask can widen them (a
//! umask only clears bits) and no other user can open one between its creation and a later
//! `chmod`. What was created before (earlier versions made segments 0644, sealed 0444, in 0755
//! folders) or by a library that takes the umask (sled) is tightened afterwards with [`tighten`].

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A path whose mode could not be read or made owner-only.
#[derive(Debug, Error)]
#[error("{path}: cannot make it owner-only: {source}")]
pub struct TightenError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Mode of a folder the ledger creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a file the ledger creates (a sealed segment then becomes 0400).
pub const FILE_MODE: u32 = 0o600;
/// The bits that grant something to group or others.
const NOT_OWNER: u32 = 0o077;

/// `mkdir -p` with every folder it creates 0700; folders already there are left as they are.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Options that create a file 0600 (the caller adds `create_new`, `append`, ...).
pub fn file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Writes `bytes` to `path`, replacing its contents; the file ends 0600 even if it existed with
/// a looser mode.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    tighten_open(&file)?;
    file.write_all(bytes)
}

/// Clears the group and other bits of an open file, if any are set.
fn tighten_open(file: &File) -> io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & NOT_OWNER != 0 {
        file.set_permissions(fs::Permissions::from_mode(mode & !NOT_OWNER))?;
    }
    Ok(())
}

/// Makes `root` and everything under it owner-only: a folder that grants group or others
/// anything becomes 0700, a file loses its group and other bits (0644 → 0600, 0444 → 0400).
/// Symbolic links are neither followed nor changed. Returns the paths it changed, sorted.
pub fn tighten(root: &Path) -> Result<Vec<PathBuf>, TightenError> {
    let mut changed = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let failed = |source| TightenError {
            path: path.clone(),
            source,
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Removed since its folder was listed (sled replaces its snapshot files).
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(e)),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & NOT_OWNER != 0 {
            let private = if meta.is_dir() {
                DIR_MODE
            } else {
                mode & !NOT_OWNER
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(private)).map_err(failed)?;
            changed.push(path.clone());
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(failed)? {
                todo.push(entry.map_err(failed)?.path());
            }
        }
    }
    changed.sort();
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn tighten_clears_group_and_other_bits_and_reports_what_it_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("l");
        create_dir_all(&root.join("a/b")).unwrap();
        for (name, m) in [
            ("f", 0o644),
            ("sealed", 0o444),
            ("a/ok", 0o600),
            ("a/b/g", 0o666),
        ] {
            fs::write(root.join(name), b"x").unwrap();
            set(&root.join(name), m);
        }
        set(&root.join("a"), 0o755);
        std::os::unix::fs::symlink("/etc/hostname", root.join("link")).unwrap();
        let changed = tighten(&root).unwrap();
        let names: Vec<String> = changed
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a", "a/b/g", "f", "sealed"]);
        assert_eq!(mode(&root.join("a")), 0o700);
        assert_eq!(mode(&root.join("f")), 0o600);
        assert_eq!(mode(&root.join("sealed")), 0o400);
        assert_eq!(mode(&root.join("a/b/g")), 0o600);
        assert!(tighten(&root).unwrap().is_empty(), "nothing left to change");
    }

    #[test]
    fn write_leaves_a_private_file_even_over_a_loose_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("head");
        write(&path, b"one").unwrap();
        assert_eq!(mode(&path), 0o600);
        set(&path, 0o644);
        write(&path, b"two").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"two");
    }
}
