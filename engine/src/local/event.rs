//! What a local sync reports, in rsync's order.

use crate::fs::FileKind;

/// The first letter of an itemized line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    /// `>`: content received (copied).
    Received,
    /// `c`: created or changed locally (dirs, links, devices, specials).
    Created,
    /// `h`: a hard link to another item.
    HardLink,
    /// `.`: not updated, only attributes may change.
    Unchanged,
}

/// Which attributes differ (rsync's `cstpog` columns), or a new item (`+++++++++`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemChanges {
    /// The item did not exist before.
    pub new: bool,
    /// `c`: checksum (with `-c`) or link target / device number differs.
    pub checksum: bool,
    /// `s`: size differs.
    pub size: bool,
    /// `t`: modification time differs.
    pub time: bool,
    /// `T`: time will be set to the transfer time (times not preserved).
    pub time_now: bool,
    /// `p`: permissions differ.
    pub perms: bool,
    /// `o`: owner differs.
    pub owner: bool,
    /// `g`: group differs.
    pub group: bool,
}

impl ItemChanges {
    /// Whether any attribute column is set.
    pub fn any(&self) -> bool {
        self.new
            || self.checksum
            || self.size
            || self.time
            || self.time_now
            || self.perms
            || self.owner
            || self.group
    }
}

/// One itemized change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The name as rsync prints it (relative to the destination; dirs without the `/`).
    pub name: Vec<u8>,
    /// The kind of object.
    pub kind: FileKind,
    /// The update letter.
    pub update: UpdateType,
    /// The attribute columns.
    pub changes: ItemChanges,
    /// Symlink target (printed as ` -> target`).
    pub link_target: Option<Vec<u8>>,
    /// Hard-link target (printed as ` => target`).
    pub hardlink_to: Option<Vec<u8>>,
    /// Whether the item's content was transferred (counts as a transferred file).
    pub transferred: bool,
}

/// A deletion (`*deleting   name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEvent {
    /// The name relative to the destination.
    pub name: Vec<u8>,
    /// The kind of the deleted object.
    pub kind: FileKind,
}

/// Severity of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Informational (stdout).
    Info,
    /// A warning or non-fatal error (stderr).
    Error,
}

/// A line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Severity.
    pub kind: MessageKind,
    /// The text, without the trailing newline.
    pub text: String,
}

/// Progress of one file copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    /// The file name.
    pub name: Vec<u8>,
    /// Bytes of this file done.
    pub done: u64,
    /// Size of this file.
    pub size: u64,
    /// Whether the file is complete.
    pub finished: bool,
    /// Entries after this one still to be checked (rsync's `to-chk`).
    pub to_check: u64,
    /// Entries in the file list.
    pub total: u64,
}

/// Receives a sync's events, in rsync's order, on one thread at a time.
pub trait SyncSink {
    /// The file list is complete: `files` entries, `total_size` bytes.
    fn list_ready(&mut self, _files: u64, _total_size: u64) {}
    /// `created directory DEST`.
    fn created_destination(&mut self, _name: &[u8]) {}
    /// `created N directories for PATH` (`--mkpath`).
    fn created_path(&mut self, _count: usize, _path: &[u8]) {}
    /// An itemized change (called for every examined item; unchanged ones have no changes).
    fn item(&mut self, _item: &Item) {}
    /// A deletion.
    fn deleted(&mut self, _event: &DeleteEvent) {}
    /// A message.
    fn message(&mut self, _message: &Message) {}
    /// A file was copied (progress is reported when it completes).
    fn progress(&mut self, _event: &ProgressEvent) {}
}
