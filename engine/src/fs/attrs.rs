//! File kinds, the subset of `struct stat` rsync looks at, and the attributes it applies.

/// The type of a filesystem object, as rsync distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character or block device.
    Device,
    /// A FIFO or a socket.
    Special,
}

impl FileKind {
    /// Classifies a raw `st_mode`.
    pub fn from_mode(mode: u32) -> Self {
        match mode & 0o170000 {
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 | 0o060000 => FileKind::Device,
            0o010000 | 0o140000 => FileKind::Special,
            _ => FileKind::File,
        }
    }
}

/// The fields of `lstat` that rsync compares and preserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for devices.
    pub rdev: u64,
    /// Device of the filesystem holding the object.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
}

impl Stat {
    /// Converts rustix's `stat`.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_raw(st: &rustix::fs::Stat) -> Self {
        Self {
            mode: st.st_mode as u32,
            size: st.st_size.max(0) as u64,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            rdev: st.st_rdev as u64,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
        }
    }

    /// Converts the standard library's metadata (from a path-based lookup).
    pub fn from_metadata(md: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            mode: md.mode(),
            size: md.size(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec() as u32,
            uid: md.uid(),
            gid: md.gid(),
            rdev: md.rdev(),
            dev: md.dev(),
            ino: md.ino(),
            nlink: md.nlink(),
        }
    }

    /// The kind of object.
    pub fn kind(&self) -> FileKind {
        FileKind::from_mode(self.mode)
    }

    /// Permission bits (including setuid/setgid/sticky).
    pub fn perms(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == FileKind::Dir
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind() == FileKind::File
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.kind() == FileKind::Symlink
    }
}

/// Metadata to apply to a destination object; `None` fields are left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits to set.
    pub perms: Option<u32>,
    /// Owner to set.
    pub uid: Option<u32>,
    /// Group to set.
    pub gid: Option<u32>,
    /// Modification time (seconds, nanoseconds) to set; atime is left as it is.
    pub mtime: Option<(i64, u32)>,
}
