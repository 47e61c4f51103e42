//! rdsync-engine: rsync's delta algorithm and the local filesystem side of rdsync.
//!
//! The delta core is pure and synchronous:
//!
//! * [`rolling`] — rsync's weak rolling checksum (`get_checksum1`), rolled in O(1).
//! * [`checksum`] — the strong block and whole-file hashes rsync can negotiate, with the
//!   protocol-dependent seed placement.
//! * [`layout`] — rsync's block-length and strong-sum-length heuristic (`sum_sizes_sqroot`).
//! * [`signature`] — per-block weak and strong sums of a basis file, computed in parallel.
//! * [`delta`] — the match search: turns a new file and a basis signature into literal runs and
//!   block references, as rsync's sender does.
//! * [`patch`] — rebuilds a file from the basis and a token stream, verifying its checksum.
//!
//! The filesystem side ([`fs`], [`flist`], [`filter`]) never follows a symlink out of the
//! destination and never maps a basis file into memory.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod aligned;
pub mod checksum;
pub mod delta;
pub mod filter;
pub mod flist;
pub mod fs;
pub mod layout;
pub mod local;
pub mod patch;
pub mod rebuild;
pub mod rolling;
pub mod signature;
#[cfg(test)]
mod test_support;
mod weak_scan;
pub mod write_behind;
