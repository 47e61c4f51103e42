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
pub use encode::{FileListEncoder, InlineNames};
pub use entry::{FileEntry, HardLinkInfo, mode};
pub use idlist::{
    IdList, IdListItem, IdNames, decode_id_list, decode_id_list_item, encode_id_list, push_id_item,
};
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

#[cfg(test)]
mod round_trip_tests {
    use super::*;
    use crate::codec::ReadCursor;
    use proptest::prelude::*;

    fn arb_entry() -> impl Strategy<Value = FileEntry> {
        (
            proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'/'), Just(0xc3u8), Just(b'.')],
                1..300,
            ),
            0u8..4,
            0i64..(1i64 << 40),
            0i64..(1i64 << 33),
            0u32..1_000_000_000,
            0u32..70_000,
            0u32..70_000,
            (0u32..300, 0u32..70_000),
        )
            .prop_map(|(raw, kind, size, mtime, nsec, uid, gid, rdev)| {
                let name: Vec<u8> = raw
                    .split(|b| *b == b'/')
                    .filter(|c| !c.is_empty() && *c != b"." && *c != b"..")
                    .collect::<Vec<_>>()
                    .join(&b'/');
                let name = if name.is_empty() { b"x".to_vec() } else { name };
                let mut e = FileEntry {
                    name,
                    size,
                    mtime,
                    mtime_nsec: nsec,
                    uid,
                    gid,
                    ..FileEntry::default()
                };
                match kind {
                    0 => e.mode = mode::S_IFREG | 0o644,
                    1 => {
                        e.mode = mode::S_IFDIR | 0o755;
                    }
                    2 => {
                        e.mode = mode::S_IFLNK | 0o777;
                        e.link_target = Some(b"target/x".to_vec());
                        e.size = 8;
                    }
                    _ => {
                        e.mode = mode::S_IFCHR | 0o600;
                        e.rdev = Some(rdev);
                        e.size = 0;
                    }
                }
                e
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn entries_round_trip_in_every_protocol(entries in proptest::collection::vec(arb_entry(), 1..30), proto in 27u32..=32, varint in any::<bool>()) {
            let config = FileListConfig {
                protocol: proto,
                varint_flags: varint && proto >= 30,
                safe_flist: proto >= 31,
                id0_names: true,
                links: true,
                owner: true,
                group: true,
                devices: true,
                specials: true,
                hard_links: false,
                numeric_ids: false,
                checksum_len: None,
            };
            let mut out = Vec::new();
            let mut enc = FileListEncoder::new(config);
            for e in &entries {
                prop_assert!(enc.encode(&mut out, e).is_ok());
            }
            enc.encode_end(&mut out, 0);
            let mut dec = FileListDecoder::new(config);
            let mut c = ReadCursor::new(&out);
            for e in &entries {
                let got = dec.decode(&mut c);
                prop_assert!(matches!(got, Ok(FileListItem::Entry(_))), "decode failed: {:?}", got);
                let Ok(FileListItem::Entry(g)) = got else { continue };
                prop_assert_eq!(&g.name, &e.name);
                prop_assert_eq!(g.mode, e.mode);
                prop_assert_eq!(g.size, if e.is_device() { 0 } else { e.size });
                // Protocols below 30 carry 32-bit unsigned mtimes; 31+ carry nanoseconds.
                if proto >= 30 {
                    prop_assert_eq!(g.mtime, e.mtime);
                }
                if proto >= 31 {
                    prop_assert_eq!(g.mtime_nsec, e.mtime_nsec);
                }
                prop_assert_eq!(g.uid, e.uid);
                prop_assert_eq!(g.gid, e.gid);
                prop_assert_eq!(&g.link_target, &e.link_target);
                if e.is_device() && proto >= 28 {
                    prop_assert_eq!(g.rdev, e.rdev);
                }
            }
            let end_ok = matches!(dec.decode(&mut c), Ok(FileListItem::End { io_error: 0 }));
            prop_assert!(end_ok);
            prop_assert_eq!(c.remaining(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512), proto in 27u32..=32) {
            let config = FileListConfig {
                protocol: proto, varint_flags: proto >= 30, safe_flist: true, id0_names: true, links: true,
                owner: true, group: true, devices: true, specials: true, hard_links: true, numeric_ids: false,
                checksum_len: Some(16),
            };
            let mut dec = FileListDecoder::new(config);
            let mut c = ReadCursor::new(&data);
            while let Ok(FileListItem::Entry(_)) = dec.decode(&mut c) {}
        }
    }
}
