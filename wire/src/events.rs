//! What a transfer reports while it runs, at the points where rsync's client logs: an
//! item the generator itemized without a transfer (`maybe_log_item`), the start and end
//! of a file's data (`log_item` before the transfer, `end_progress`), progress within a
//! file, deletions (`log_delete`, or `MSG_DELETED` from the remote generator) and info
//! messages from the peer. Formatting is the caller's job: the wire crate only says what
//! happened, in the order rsync's client would print it.

use rdsync_engine::fs::FileKind;

use crate::flist::FileEntry;
use crate::flist::mode;

/// The parts of a file-list entry a log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInfo {
    /// Relative `/`-separated name, as in the file list (no trailing `/`).
    pub name: Vec<u8>,
    /// File type.
    pub kind: FileKind,
    /// Length in bytes (regular files and symlinks).
    pub size: u64,
    /// Symlink target.
    pub link_target: Option<Vec<u8>>,
}

impl ItemInfo {
    /// The log view of `e`.
    pub fn of(e: &FileEntry) -> Self {
        ItemInfo {
            name: e.name.clone(),
            kind: kind_of(e.mode),
            size: e.size.max(0) as u64,
            link_target: e.link_target.clone(),
        }
    }
}

/// The file type of an `st_mode`.
pub fn kind_of(m: u32) -> FileKind {
    match m & mode::S_IFMT {
        mode::S_IFDIR => FileKind::Dir,
        mode::S_IFLNK => FileKind::Symlink,
        mode::S_IFREG => FileKind::File,
        mode::S_IFCHR | mode::S_IFBLK => FileKind::Device,
        _ => FileKind::Special,
    }
}

/// One thing rsync's client would log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent<'a> {
    /// An item itemized without a data transfer (rsync's `maybe_log_item`): `iflags` are
    /// the 16 wire bits, `xname` the hard-link target the generator sent, if any.
    Item {
        /// The entry.
        item: &'a ItemInfo,
        /// `ITEM_*` flags.
        iflags: u16,
        /// The hard-link target (`ITEM_XNAME_FOLLOWS`).
        xname: Option<&'a [u8]>,
    },
    /// A file's data are about to move (rsync logs the name here).
    TransferStart {
        /// The entry.
        item: &'a ItemInfo,
        /// `ITEM_*` flags of the request.
        iflags: u16,
    },
    /// Bytes of the current file done so far.
    Progress {
        /// Bytes done.
        done: u64,
        /// The file's size.
        size: u64,
    },
    /// A file's data have moved.
    TransferEnd {
        /// The entry.
        item: &'a ItemInfo,
        /// Files transferred so far, this one included (`xfr#`).
        xferred: u64,
        /// Entries after this one in rsync's (incremental-recursion) numbering.
        to_check: u64,
        /// Entries in the list.
        total: u64,
        /// Sum of the sizes of the files transferred so far.
        transferred_size: u64,
        /// Sum of the sizes in the list.
        total_size: u64,
    },
    /// A name was deleted (by us or by the remote generator).
    Deleted {
        /// The relative name, without a trailing `/`.
        name: &'a [u8],
        /// Whether it was a directory.
        is_dir: bool,
    },
    /// The session is set up: how `%i` shows a time change (`log.c`: `t`, or `T` when
    /// times are not preserved or the receiver cannot set a symlink's time).
    Started {
        /// The negotiated protocol (below 30 rsync has no incremental recursion).
        protocol: u32,
        /// `-t`.
        preserve_mtimes: bool,
        /// The receiver sets symlink times (`CF_SYMLINK_TIMES`; always when we receive).
        receiver_symlink_times: bool,
    },
    /// The file list is complete.
    FileList {
        /// Entries in the list.
        files: u64,
        /// Directories among them.
        dirs: u64,
        /// Sum of the sizes of its regular files and symlinks.
        total_size: u64,
    },
    /// We created the destination directory (main.c: `created directory NAME`).
    CreatedDirectory(&'a [u8]),
    /// `--mkpath` created `count` directories for `path` (main.c: `created N
    /// directories for PATH`).
    CreatedPath {
        /// Directories created.
        count: usize,
        /// The path they were created for.
        path: &'a [u8],
    },
    /// An informational message from the peer (`MSG_INFO`), without its newline.
    Info(&'a str),
}

/// Receives the events of a transfer, in order.
pub trait EventSink: Send {
    /// One event.
    fn event(&mut self, event: TransferEvent<'_>);
}

/// A sink slot that is `Debug` (for [`crate::stream::ProtocolStream`]).
#[derive(Default)]
pub struct EventSlot(pub Option<Box<dyn EventSink>>);

impl std::fmt::Debug for EventSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "EventSlot(set)"
        } else {
            "EventSlot(none)"
        })
    }
}

impl EventSlot {
    /// Whether a sink is installed.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Passes `event` to the sink, if any.
    pub fn emit(&mut self, event: TransferEvent<'_>) {
        if let Some(sink) = self.0.as_mut() {
            sink.event(event);
        }
    }
}

/// rsync's file numbering for `to-chk` with incremental recursion (which rsync 3.x's
/// client uses by default): the top-level list first, then each directory's own list
/// in the order the directories appear in the sorted list; within a list, entries keep
/// their sorted order. Returns, per sorted index, its position in that numbering.
pub fn incremental_numbering(entries: &[FileEntry]) -> Vec<u64> {
    // Parent directory of each name ("" for top-level names and ".").
    fn parent(name: &[u8]) -> &[u8] {
        match name.iter().rposition(|c| *c == b'/') {
            Some(p) => name.get(..p).unwrap_or(&[]),
            None => &[],
        }
    }
    let mut members: std::collections::HashMap<&[u8], Vec<usize>> =
        std::collections::HashMap::new();
    let mut order: Vec<&[u8]> = vec![&[]];
    for (i, e) in entries.iter().enumerate() {
        if e.is_dir() && e.name != b"." {
            order.push(&e.name);
        }
        let p = if e.name == b"." {
            &[][..]
        } else {
            parent(&e.name)
        };
        members.entry(p).or_default().push(i);
    }
    let mut numbering = vec![0u64; entries.len()];
    let mut next = 0u64;
    for dir in order {
        for i in members.remove(dir).unwrap_or_default() {
            if let Some(slot) = numbering.get_mut(i) {
                *slot = next;
                next += 1;
            }
        }
    }
    numbering
}
