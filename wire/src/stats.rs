//! Final statistics a server sender writes after its last NDX_DONE (`main.c: handle_stats`).

use crate::codec::ReadCursor;
use crate::error::Decoded;

/// The transfer statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferStats {
    /// Bytes we read from the peer (the server's bytes written).
    pub bytes_received: i64,
    /// Bytes we wrote to the peer (the server's bytes read).
    pub bytes_sent: i64,
    /// Total size of the files in the list.
    pub total_size: i64,
    /// File-list build time in ms (protocol ≥ 29).
    pub flist_build_ms: i64,
    /// File-list transfer time in ms (protocol ≥ 29).
    pub flist_xfer_ms: i64,
    /// Entries in the file list, by kind (`Number of files`).
    pub files: KindCounts,
    /// Items created (`Number of created files`; protocol ≥ 29).
    pub created: KindCounts,
    /// Items deleted (`Number of deleted files`; protocol ≥ 31).
    pub deleted: KindCounts,
    /// Regular files whose data were transferred.
    pub xferred_files: u64,
    /// Sum of the sizes of those files.
    pub transferred_size: u64,
    /// File data sent (push) or received (pull) as literal bytes.
    pub literal_data: u64,
    /// File data rebuilt from the basis.
    pub matched_data: u64,
    /// Bytes of the file list, as rsync counts them (`File list size`).
    pub flist_size: u64,
}

pub use rdsync_engine::local::KindCounts;

impl TransferStats {
    /// Reads the statistics as a client receiver (swapping read/written).
    pub fn decode(c: &mut ReadCursor<'_>, protocol: u32) -> Decoded<Self> {
        let read = |c: &mut ReadCursor<'_>| {
            if protocol >= 30 {
                c.varlong(3)
            } else {
                c.longint()
            }
        };
        let server_read = read(c)?;
        let server_written = read(c)?;
        let total_size = read(c)?;
        let (b, x) = if protocol >= 29 {
            (read(c)?, read(c)?)
        } else {
            (0, 0)
        };
        Ok(TransferStats {
            bytes_received: server_written,
            bytes_sent: server_read,
            total_size,
            flist_build_ms: b,
            flist_xfer_ms: x,
            ..TransferStats::default()
        })
    }
}
