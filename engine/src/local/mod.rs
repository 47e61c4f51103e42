//! Local sync: `rdsync SRC... DEST` with both sides on this machine, producing the tree rsync
//! produces with the same options.
//!
//! The flow mirrors rsync's generator and receiver in one process: scan the sources in
//! parallel ([`crate::flist::scan_source`]), sort them in rsync's order, then walk the sorted
//! list comparing each entry with the destination (quick check by size and mtime, or by
//! checksum), creating directories, links and special files in order, and copying changed
//! files in parallel batches. Events reach a [`SyncSink`] in rsync's order.

mod checksum;
mod deleter;
mod dest;
mod event;
mod generator;
mod hardlinks;
mod options;
mod stats;
mod transfer;

pub use deleter::{Deletion, delete_extraneous};
pub use dest::{DestError, make_dest_path};
pub use event::{
    DeleteEvent, Item, ItemChanges, Message, MessageKind, ProgressEvent, SyncSink, UpdateType,
};
pub use generator::sync_local;
pub use options::{DeleteTiming, LocalOptions};
pub use stats::{KindCounts, SyncOutcome, SyncStats};
