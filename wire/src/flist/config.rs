//! What shapes the file-list encoding of a session.

use crate::handshake::SessionParams;
use crate::options::TransferOptions;

/// Session facts both sides of the file list agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileListConfig {
    /// Negotiated protocol.
    pub protocol: u32,
    /// `CF_VARINT_FLIST_FLAGS`.
    pub varint_flags: bool,
    /// io_error in the end marker.
    pub safe_flist: bool,
    /// `CF_ID0_NAMES`.
    pub id0_names: bool,
    /// `-l`.
    pub links: bool,
    /// `-o`.
    pub owner: bool,
    /// `-g`.
    pub group: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `--numeric-ids` (no id lists).
    pub numeric_ids: bool,
    /// `-c`: length of the file-list checksum.
    pub checksum_len: Option<usize>,
}

impl FileListConfig {
    /// The configuration for a session.
    pub fn new(params: &SessionParams, opts: &TransferOptions, checksum_len: usize) -> Self {
        FileListConfig {
            protocol: params.protocol,
            varint_flags: params.varint_flist_flags(),
            safe_flist: params.safe_flist(),
            id0_names: params.id0_names(),
            links: opts.links,
            owner: opts.owner,
            group: opts.group,
            devices: opts.devices,
            specials: opts.specials,
            hard_links: opts.hard_links,
            numeric_ids: opts.numeric_ids,
            checksum_len: opts.checksum.then_some(checksum_len),
        }
    }
}
