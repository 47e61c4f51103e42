//! `recv_file_entry`: decoding file-list entries, with rsync's input checks.

use crate::codec::ReadCursor;
use crate::error::{Decoded, WireError};

use super::entry::{FileEntry, HardLinkInfo, mode};
use super::*;

/// One item read from the file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileListItem {
    /// An entry.
    Entry(FileEntry),
    /// The end of the list, with the sender's io_error bits (safe-flist/varint forms).
    End {
        /// io_error bits carried by the end marker.
        io_error: i32,
    },
}

/// The "previous entry" values both sides keep for the whole session.
#[derive(Debug, Clone, Default)]
struct PrevState {
    name: Vec<u8>,
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev_major: u32,
    rdev: (u32, u32),
    dev: i64,
}

/// User and group names that came inline with one entry.
#[derive(Debug, Default)]
struct InlineNames {
    user: Option<Vec<u8>>,
    group: Option<Vec<u8>>,
}

/// At most this many inline user (or group) names are kept for a session.
const MAX_INLINE_NAMES: usize = 1 << 20;

/// Sans-IO file-list decoder. `decode` consumes one item or reports `NeedMore`
/// without changing its state.
#[derive(Debug, Clone)]
pub struct FileListDecoder {
    config: FileListConfig,
    prev: PrevState,
    /// Entries decoded so far in this list (transmission order).
    received: Vec<FileEntry>,
    /// Heap bytes held by the received entries' names, link targets and checksums
    /// (estimated with malloc's chunk overhead).
    heap_bytes: usize,
    /// The index of this list's first entry (incremental recursion numbers lists after
    /// one another; 0 otherwise): hard-link references are absolute.
    ndx_start: usize,
    /// User names sent inline (`XMIT_USER_NAME_FOLLOWS`, incremental recursion).
    inline_users: super::IdList,
    /// Group names sent inline (`XMIT_GROUP_NAME_FOLLOWS`).
    inline_groups: super::IdList,
}

/// The whole file list's allocation budget, like rsync's `--max-alloc` default (1 GiB):
/// the entry array's capacity plus every entry's heap data.
pub const MAX_FILE_LIST_ALLOC: usize = 1 << 30;

/// What one heap buffer of `len` bytes costs, with malloc's header and rounding.
fn heap_cost(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len.saturating_add(8 + 15) & !15).max(32)
    }
}

fn over_budget(entries: usize) -> WireError {
    WireError::Malloc(format!(
        "ERROR: file list too long: exceeded --max-alloc=1G setting after {entries} entries \
         [receiver]"
    ))
}

impl FileListDecoder {
    /// A decoder for a session.
    pub fn new(config: FileListConfig) -> Self {
        FileListDecoder {
            config,
            prev: PrevState::default(),
            received: Vec::new(),
            heap_bytes: 0,
            ndx_start: 0,
            inline_users: Vec::new(),
            inline_groups: Vec::new(),
        }
    }

    /// Starts the next list, whose first entry has index `ndx_start` (incremental
    /// recursion): a hard-link reference below it names an entry of an earlier list,
    /// and such an entry is sent in full.
    pub fn start_list(&mut self, ndx_start: usize) {
        self.ndx_start = ndx_start;
    }

    /// Takes the user and group names sent inline with the entries so far
    /// (`(uid, name)` and `(gid, name)` pairs).
    pub fn take_inline_names(&mut self) -> (super::IdList, super::IdList) {
        (
            std::mem::take(&mut self.inline_users),
            std::mem::take(&mut self.inline_groups),
        )
    }

    /// Entries received so far, in transmission order.
    pub fn entries(&self) -> &[FileEntry] {
        &self.received
    }

    /// Takes the received entries.
    pub fn take_entries(&mut self) -> Vec<FileEntry> {
        self.heap_bytes = 0;
        std::mem::take(&mut self.received)
    }

    /// Appends `e` within the entry cap and the allocation budget. The array grows with
    /// `try_reserve_exact`, never past the budget, so a hostile list ends in an error
    /// (exit 22 over the budget, 2 over the cap), never in an allocation abort.
    fn push_entry(&mut self, e: FileEntry) -> Result<(), WireError> {
        let len = self.received.len();
        if len >= MAX_FILE_LIST_ENTRIES {
            return Err(WireError::protocol("file list too long"));
        }
        let size = std::mem::size_of::<FileEntry>();
        let heap = self
            .heap_bytes
            .saturating_add(heap_cost(e.name.capacity()))
            .saturating_add(
                e.link_target
                    .as_ref()
                    .map_or(0, |t| heap_cost(t.capacity())),
            )
            .saturating_add(e.checksum.as_ref().map_or(0, |c| heap_cost(c.capacity())));
        let cap = self.received.capacity();
        if len == cap {
            let want = len.max(64).min(MAX_FILE_LIST_ENTRIES - len);
            let room = MAX_FILE_LIST_ALLOC.saturating_sub(heap) / size;
            let grow = want.min(room.saturating_sub(len));
            if grow == 0 {
                return Err(over_budget(len));
            }
            self.received.try_reserve_exact(grow).map_err(|err| {
                WireError::Malloc(format!(
                    "ERROR: out of memory in recv_file_list [receiver]: {err}"
                ))
            })?;
        } else if cap.saturating_mul(size).saturating_add(heap) > MAX_FILE_LIST_ALLOC {
            return Err(over_budget(len));
        }
        self.heap_bytes = heap;
        self.received.push(e);
        Ok(())
    }

    /// Decodes one item from `c`. State changes only if the whole item was available.
    pub fn decode(&mut self, c: &mut ReadCursor<'_>) -> Decoded<FileListItem> {
        let mut prev = self.prev.clone();
        let mut names = InlineNames::default();
        let item = self.decode_item(c, &mut prev, &mut names)?;
        self.prev = prev;
        if let FileListItem::Entry(e) = &item {
            self.push_entry(e.clone())?;
            if let Some(n) = names.user {
                if self.inline_users.len() >= MAX_INLINE_NAMES {
                    return Err(WireError::protocol("too many user names in the file list").into());
                }
                self.inline_users.push((e.uid, n));
            }
            if let Some(n) = names.group {
                if self.inline_groups.len() >= MAX_INLINE_NAMES {
                    return Err(WireError::protocol("too many group names in the file list").into());
                }
                self.inline_groups.push((e.gid, n));
            }
        }
        Ok(item)
    }

    fn decode_item(
        &self,
        c: &mut ReadCursor<'_>,
        prev: &mut PrevState,
        names: &mut InlineNames,
    ) -> Decoded<FileListItem> {
        let cfg = &self.config;
        let proto = cfg.protocol;
        let xflags: u32 = if cfg.varint_flags {
            let f = c.varint()? as u32;
            if f == 0 {
                let io_error = c.varint()?;
                return Ok(FileListItem::End { io_error });
            }
            f
        } else {
            let mut f = u32::from(c.u8()?);
            if f == 0 {
                return Ok(FileListItem::End { io_error: 0 });
            }
            if proto >= 28 && f & XMIT_EXTENDED_FLAGS != 0 {
                f |= u32::from(c.u8()?) << 8;
            }
            if f == (XMIT_EXTENDED_FLAGS | XMIT_IO_ERROR_ENDLIST) {
                if !cfg.safe_flist {
                    return Err(WireError::protocol("Invalid flist flag: 1004").into());
                }
                let io_error = c.varint()?;
                return Ok(FileListItem::End { io_error });
            }
            f
        };

        // Name.
        let l1 = if xflags & XMIT_SAME_NAME != 0 {
            usize::from(c.u8()?)
        } else {
            0
        };
        let l2 = if xflags & XMIT_LONG_NAME != 0 {
            let v = if proto >= 30 { c.varint()? } else { c.i32()? };
            usize::try_from(v)
                .map_err(|_| WireError::protocol(format!("negative name length {v}")))?
        } else {
            usize::from(c.u8()?)
        };
        if l1 > prev.name.len() || l2 >= MAX_PATH_LEN.saturating_sub(l1) {
            return Err(WireError::protocol(format!(
                "overflow: xflags={xflags:#x} l1={l1} l2={l2} in recv_file_entry"
            ))
            .into());
        }
        let mut name = prev.name.get(..l1).unwrap_or(&[]).to_vec();
        name.extend_from_slice(c.take(l2)?);
        check_safe_name(&name)?;
        prev.name = name.clone();

        let mut entry = FileEntry {
            name,
            xflags,
            ..FileEntry::default()
        };

        // Hard-link follower (protocol ≥ 30).
        if proto >= 30 && xflags & XMIT_HLINKED != 0 {
            if !cfg.hard_links {
                return Err(
                    WireError::protocol("hard-link flag in the file list without -H").into(),
                );
            }
            if xflags & XMIT_HLINK_FIRST == 0 {
                let first = c.varint()?;
                let used = self.received.len();
                let end = self.ndx_start + used;
                let first_ndx = usize::try_from(first)
                    .ok()
                    .filter(|f| *f < end)
                    .ok_or_else(|| {
                        WireError::protocol(format!(
                            "hard-link reference out of range: {first} ({end})"
                        ))
                    })?;
                if let Some(at) = first_ndx.checked_sub(self.ndx_start) {
                    let src = self
                        .received
                        .get(at)
                        .ok_or_else(|| WireError::protocol("bad hard-link"))?;
                    entry.size = src.size;
                    entry.mtime = src.mtime;
                    entry.mtime_nsec = src.mtime_nsec;
                    entry.mode = src.mode;
                    entry.uid = src.uid;
                    entry.gid = src.gid;
                    entry.rdev = src.rdev;
                    entry.link_target = src.link_target.clone();
                    entry.checksum = src.checksum.clone();
                    entry.hard_link = Some(HardLinkInfo::Follower(first));
                    prev.mode = src.mode;
                    prev.mtime = src.mtime;
                    prev.uid = src.uid;
                    prev.gid = src.gid;
                    return Ok(FileListItem::Entry(entry));
                }
                // The first of the group is in an earlier list: this entry is sent in full.
                entry.hard_link = Some(HardLinkInfo::Follower(first));
            } else {
                entry.hard_link = Some(HardLinkInfo::First);
            }
        }

        entry.size = if proto >= 30 {
            c.varlong(3)?
        } else {
            c.longint()?
        };
        if entry.size < 0 {
            return Err(WireError::Unsupported(format!(
                "negative file length for {}",
                entry.display_name()
            ))
            .into());
        }
        if xflags & XMIT_SAME_TIME == 0 {
            prev.mtime = if proto >= 30 {
                c.varlong(4)?
            } else {
                i64::from(c.i32()? as u32)
            };
        }
        entry.mtime = prev.mtime;
        if xflags & XMIT_MOD_NSEC != 0 {
            let ns = c.varint()?;
            if !(0..=999_999_999).contains(&ns) {
                return Err(WireError::protocol(format!("invalid modtime_nsec {ns}")).into());
            }
            entry.mtime_nsec = ns as u32;
        }
        if xflags & XMIT_SAME_MODE == 0 {
            let m = c.i32()? as u32;
            if !mode::is_valid_type(m) {
                return Err(WireError::protocol(format!(
                    "invalid mode {m:o} for {}",
                    entry.display_name()
                ))
                .into());
            }
            prev.mode = m;
        }
        entry.mode = prev.mode;
        if (entry.name == b"." || entry.name == b"/.") && !entry.is_dir() {
            return Err(WireError::protocol(format!(
                "ERROR: rejecting non-directory transfer-root entry: {}",
                entry.display_name()
            ))
            .into());
        }
        if cfg.owner && xflags & XMIT_SAME_UID == 0 {
            prev.uid = if proto < 30 {
                c.i32()? as u32
            } else {
                c.varint()? as u32
            };
            if proto >= 30 && xflags & XMIT_USER_NAME_FOLLOWS != 0 {
                let len = usize::from(c.u8()?);
                names.user = Some(c.take(len)?.to_vec());
            }
        }
        entry.uid = prev.uid;
        if cfg.group && xflags & XMIT_SAME_GID == 0 {
            prev.gid = if proto < 30 {
                c.i32()? as u32
            } else {
                c.varint()? as u32
            };
            if proto >= 30 && xflags & XMIT_GROUP_NAME_FOLLOWS != 0 {
                let len = usize::from(c.u8()?);
                names.group = Some(c.take(len)?.to_vec());
            }
        }
        entry.gid = prev.gid;
        if (cfg.devices && entry.is_device()) || (cfg.specials && entry.is_special() && proto < 31)
        {
            if proto < 28 {
                if xflags & XMIT_EXTENDED_FLAGS == 0 {
                    let r = c.i32()? as u32;
                    prev.rdev = ((r >> 8) & 0xfff, (r & 0xff) | ((r >> 12) & 0xfff00));
                }
            } else {
                if xflags & XMIT_SAME_RDEV_MAJOR == 0 {
                    prev.rdev_major = if proto >= 30 {
                        c.varint()? as u32
                    } else {
                        c.i32()? as u32
                    };
                }
                let minor = if proto >= 30 {
                    c.varint()? as u32
                } else if xflags & XMIT_RDEV_MINOR_8_PRE30 != 0 {
                    u32::from(c.u8()?)
                } else {
                    c.i32()? as u32
                };
                prev.rdev = (prev.rdev_major, minor);
            }
            entry.rdev = Some(prev.rdev);
            entry.size = 0;
        }
        if entry.is_symlink() {
            if !cfg.links {
                return Err(WireError::protocol(format!(
                    "symlink {} without -l",
                    entry.display_name()
                ))
                .into());
            }
            let len = if proto >= 30 { c.varint()? } else { c.i32()? };
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l > 0 && *l < MAX_PATH_LEN)
                .ok_or_else(|| {
                    WireError::protocol(format!("invalid symlink length {len} in recv_file_entry"))
                })?;
            entry.link_target = Some(c.take(len)?.to_vec());
        }
        if cfg.hard_links
            && proto < 30
            && (xflags & XMIT_HLINKED != 0 || (proto < 28 && entry.is_regular()))
        {
            if proto < 28 || xflags & XMIT_SAME_DEV_PRE30 == 0 {
                prev.dev = c.longint()?;
            }
            let ino = c.longint()?;
            entry.hard_link = Some(HardLinkInfo::DevIno(prev.dev, ino));
        } else if proto < 30 && xflags & XMIT_HLINKED != 0 && proto >= 28 {
            return Err(WireError::protocol("hard-link flag in the file list without -H").into());
        }
        if let Some(len) = cfg.checksum_len
            && (entry.is_regular() || proto < 28)
        {
            let sum = c.take(len)?;
            if entry.is_regular() {
                entry.checksum = Some(sum.to_vec());
            }
        }
        Ok(FileListItem::Entry(entry))
    }
}

/// Refuses names rsync's receiver refuses: absolute paths, `..` components, NUL bytes.
pub fn check_safe_name(name: &[u8]) -> Result<(), WireError> {
    let shown = || crate::mux::escape_control_chars(name);
    if name.is_empty() {
        return Err(WireError::UnsafePath("(empty name)".into()));
    }
    if name.first() == Some(&b'/') || name.contains(&0) {
        return Err(WireError::UnsafePath(shown()));
    }
    if name.split(|b| *b == b'/').any(|comp| comp == b"..") {
        return Err(WireError::UnsafePath(shown()));
    }
    Ok(())
}
