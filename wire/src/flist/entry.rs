//! One file-list entry.

/// Unix file-type bits as they travel on the wire (`ifuncs.h: to_wire_mode`).
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symlink.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;

    /// Whether `m` is one of the seven standard file types.
    pub fn is_valid_type(m: u32) -> bool {
        matches!(
            m & S_IFMT,
            S_IFSOCK | S_IFLNK | S_IFREG | S_IFBLK | S_IFDIR | S_IFCHR | S_IFIFO
        )
    }
}

/// Hard-link identity of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardLinkInfo {
    /// Protocol ≥ 30: the first entry of the group (`XMIT_HLINK_FIRST`).
    First,
    /// Protocol ≥ 30: a later entry naming the first one's transmission index.
    Follower(i32),
    /// Protocol < 30: device and inode numbers.
    DevIno(i64, i64),
}

/// A file as described in the file list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileEntry {
    /// Relative `/`-separated name (bytes, no terminator).
    pub name: Vec<u8>,
    /// `st_mode` with the traditional type bits.
    pub mode: u32,
    /// Length in bytes.
    pub size: i64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds (protocol ≥ 31).
    pub mtime_nsec: u32,
    /// Owner id as sent (before name mapping).
    pub uid: u32,
    /// Group id as sent (before name mapping).
    pub gid: u32,
    /// Device numbers (major, minor) for devices.
    pub rdev: Option<(u32, u32)>,
    /// Symlink target.
    pub link_target: Option<Vec<u8>>,
    /// `-c` whole-file checksum.
    pub checksum: Option<Vec<u8>>,
    /// The XMIT flags seen or to send that matter after decoding (TOP_DIR, NO_CONTENT_DIR).
    pub xflags: u32,
    /// Hard-link data (`-H`).
    pub hard_link: Option<HardLinkInfo>,
}

impl FileEntry {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & mode::S_IFMT == mode::S_IFDIR
    }
    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.mode & mode::S_IFMT == mode::S_IFREG
    }
    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & mode::S_IFMT == mode::S_IFLNK
    }
    /// Whether this is a block or character device.
    pub fn is_device(&self) -> bool {
        matches!(self.mode & mode::S_IFMT, mode::S_IFBLK | mode::S_IFCHR)
    }
    /// Whether this is a FIFO or socket.
    pub fn is_special(&self) -> bool {
        matches!(self.mode & mode::S_IFMT, mode::S_IFIFO | mode::S_IFSOCK)
    }
    /// The name as (lossy) text, for messages.
    pub fn display_name(&self) -> String {
        crate::mux::escape_control_chars(&self.name)
    }
}
