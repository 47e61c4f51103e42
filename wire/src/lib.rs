//! The rsync wire protocol (versions 27–32) as a client of a real `rsync --server`.
//!
//! Layers, bottom up:
//!
//! * **Codecs** ([`codec`], [`mux`], [`flist`], [`sum_head`], [`tokens`], [`compress`],
//!   [`filter_list`], [`stats`]): pure functions and small state objects over byte
//!   buffers; a decoder that runs out of bytes reports "need more" and changes nothing.
//!   Every length or count from the peer is checked against a limit before it allocates.
//! * **[`stream::ProtocolStream`]**: one session's bytes without I/O — multiplex
//!   (de)framing, out-of-band messages, the ndx codecs, `try_read` (`Ok(None)` = feed
//!   more bytes) and framed output.
//! * **Role state machines** ([`handshake::ClientHandshake`], [`push::PushMachine`],
//!   [`pull::PullMachine`]): `advance(&mut ProtocolStream, &mut dyn OutputSink)` runs
//!   until input is needed ([`role::Progress`]). They do the local file work (scan, delta,
//!   patch, rename) through `rdsync_engine`.
//! * **I/O** ([`connection::Connection::drive`] over a [`connection::Transport`];
//!   [`rsh::RemoteShell`] spawns `rsh [-l user] host rsync --server …` with pump threads).
//!
//! Entry points: [`session::push`] / [`session::pull`] (spawn through a remote shell) and
//! [`session::push_over`] / [`session::pull_over`] (any transport, e.g. an SSH channel).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

pub mod codec;
pub mod compress;
pub mod connection;
pub(crate) mod delete;
pub mod dest;
pub mod error;
pub mod events;
pub mod filter_list;
pub mod flist;
pub mod framed_output;
pub mod handshake;
pub mod item_flags;
pub mod local_scan;
pub mod mux;
pub mod options;
pub mod pull;
pub mod pull_lists;
pub mod push;
pub mod push_lists;
pub mod remote_spec;
pub mod remote_stderr;
pub mod role;
pub mod rsh;
pub mod sender_errors;
pub mod server_args;
pub mod session;
mod source_open;
pub mod stats;
pub mod stream;
pub mod sum_head;
pub mod tokens;

pub use connection::Transport;
pub use error::WireError;
pub use options::{DeleteWhen, Direction, TransferOptions};
pub use rsh::RemoteShell;
pub use session::{
    TransferReport, pull, pull_over, pull_over_with_events, pull_with_events, push, push_over,
    push_over_with_events, push_with_events,
};
