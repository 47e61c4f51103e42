//! The file list: [`FileEntry`], rsync's sort order ([`compare_names`], [`sort_entries`]) and
//! the source-tree walker ([`scan_source`]).
#![deny(clippy::indexing_slicing)]

mod entry;
mod sort;
mod walk;

pub use entry::{FileEntry, ROOT_NAME};
pub use sort::{compare_entries, compare_names, compare_names_proto28, sort_entries};
pub use walk::{ScanError, ScanOptions, ScanResult, SourceRoot, scan_source};
