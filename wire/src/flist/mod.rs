//! The file list (`flist.c`, `uidlist.c`): entries, their wire encoding per protocol,
//! the uid/gid name lists, and rsync's sort order.

mod config;
mod decode;
mod encode;
mod entry;
mod idlist;
mod sort;

pub use config::FileListConfig;
pub use decode::check_safe_name;
pub use decode::{FileListDecoder, FileListItem};
pub use encode::FileListEncoder;
pub use entry::{FileEntry, HardLinkInfo, mode};
pub use idlist::{IdList, IdNames, decode_id_list, encode_id_list};
pub use sort::{clean_duplicates, compare_names, sort_file_list};

/// `XMIT_TOP_DIR`.
pub const XMIT_TOP_DIR: u32 = 1 << 0;
/// `XMIT_SAME_MODE`.
pub const XMIT_SAME_MODE: u32 = 1 << 1;
/// `XMIT_EXTENDED_FLAGS` (≥ 28) / `XMIT_SAME_RDEV_pre28`.
pub const XMIT_EXTENDED_FLAGS: u32 = 1 << 2;
/// `XMIT_SAME_UID`.
pub const XMIT_SAME_UID: u32 = 1 << 3;
/// `XMIT_SAME_GID`.
pub const XMIT_SAME_GID: u32 = 1 << 4;
/// `XMIT_SAME_NAME`.
pub const XMIT_SAME_NAME: u32 = 1 << 5;
/// `XMIT_LONG_NAME`.
pub const XMIT_LONG_NAME: u32 = 1 << 6;
/// `XMIT_SAME_TIME`.
pub const XMIT_SAME_TIME: u32 = 1 << 7;
/// `XMIT_SAME_RDEV_MAJOR` (devices) / `XMIT_NO_CONTENT_DIR` (directories, ≥ 30).
pub const XMIT_SAME_RDEV_MAJOR: u32 = 1 << 8;
/// `XMIT_NO_CONTENT_DIR`.
pub const XMIT_NO_CONTENT_DIR: u32 = 1 << 8;
/// `XMIT_HLINKED`.
pub const XMIT_HLINKED: u32 = 1 << 9;
/// `XMIT_SAME_DEV_pre30` / `XMIT_USER_NAME_FOLLOWS`.
pub const XMIT_SAME_DEV_PRE30: u32 = 1 << 10;
/// `XMIT_USER_NAME_FOLLOWS` (≥ 30).
pub const XMIT_USER_NAME_FOLLOWS: u32 = 1 << 10;
/// `XMIT_RDEV_MINOR_8_pre30` / `XMIT_GROUP_NAME_FOLLOWS`.
pub const XMIT_RDEV_MINOR_8_PRE30: u32 = 1 << 11;
/// `XMIT_GROUP_NAME_FOLLOWS` (≥ 30).
pub const XMIT_GROUP_NAME_FOLLOWS: u32 = 1 << 11;
/// `XMIT_HLINK_FIRST` / `XMIT_IO_ERROR_ENDLIST`.
pub const XMIT_HLINK_FIRST: u32 = 1 << 12;
/// `XMIT_IO_ERROR_ENDLIST`.
pub const XMIT_IO_ERROR_ENDLIST: u32 = 1 << 12;
/// `XMIT_MOD_NSEC`.
pub const XMIT_MOD_NSEC: u32 = 1 << 13;

/// `MAXPATHLEN` on Linux: the longest name we accept.
pub const MAX_PATH_LEN: usize = 4096;
/// The most entries we accept in one file list.
pub const MAX_FILE_LIST_ENTRIES: usize = 8 * 1024 * 1024;
