//! One entry of the file list.

use crate::fs::{FileKind, Stat};

/// The name rsync gives the top directory of a `src/` transfer.
pub const ROOT_NAME: &[u8] = b".";

/// One file-list entry: a name relative to the transfer root and the `lstat` fields rsync
/// keeps. About 100 bytes plus the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the transfer root, components separated by `/`; `.` for the root of a
    /// `src/` transfer.
    pub name: Box<[u8]>,
    /// Symlink target, for symlinks.
    pub link_target: Option<Box<[u8]>>,
    /// The `lstat` fields.
    pub stat: Stat,
    /// Index of the source argument this entry came from.
    pub source: u32,
    /// Position in the order the walker read entries (readdir order, parents first); rsync's
    /// transmission order, which decides the leader of a hard-link group.
    pub scan_order: u32,
    /// Whether this is a top-level entry of its source (rsync's `FLAG_TOP_DIR` for dirs).
    pub top: bool,
    /// Whether the contents of this directory are part of the transfer (false for a directory
    /// named without `-r`, rsync's `FLAG_CONTENT_DIR` unset).
    pub content_dir: bool,
}

impl FileEntry {
    /// The kind of object.
    pub fn kind(&self) -> FileKind {
        self.stat.kind()
    }

    /// Whether this entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == FileKind::Dir
    }

    /// The last component of the name.
    pub fn basename(&self) -> &[u8] {
        // `rsplit` always yields at least one piece.
        self.name
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(&self.name)
    }

    /// The directory part of the name (empty for a top-level name).
    pub fn dirname(&self) -> &[u8] {
        match self.name.iter().rposition(|&b| b == b'/') {
            Some(at) => self.name.get(..at).unwrap_or_default(),
            None => b"",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_stays_small() {
        // About 100 bytes per file plus its name.
        assert!(
            std::mem::size_of::<FileEntry>() <= 128,
            "{}",
            std::mem::size_of::<FileEntry>()
        );
    }

    #[test]
    fn name_parts() {
        let mut e = FileEntry {
            name: b"a/b/c".to_vec().into_boxed_slice(),
            link_target: None,
            stat: Stat {
                mode: 0o100644,
                size: 0,
                mtime: 0,
                mtime_nsec: 0,
                uid: 0,
                gid: 0,
                rdev: 0,
                dev: 0,
                ino: 0,
                nlink: 1,
            },
            source: 0,
            scan_order: 0,
            top: false,
            content_dir: true,
        };
        assert_eq!(e.basename(), b"c");
        assert_eq!(e.dirname(), b"a/b");
        e.name = b"top".to_vec().into_boxed_slice();
        assert_eq!(e.dirname(), b"");
        assert!(!e.is_dir());
    }
}
