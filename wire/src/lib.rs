//! The rsync wire protocol (versions 27–32), sans-IO codecs and role state machines.
//!
//! Entry points: [`session::push`] and [`session::pull`] run a whole transfer against a
//! remote `rsync --server` started through a remote shell ([`rsh::RemoteShell`]).
//! The codecs ([`codec`], [`mux`], [`flist`], [`sum_head`], [`tokens`], [`filter_list`])
//! work on byte buffers and report "need more bytes" instead of blocking.
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
pub mod dest;
pub mod error;
pub mod filter_list;
pub mod flist;
pub mod handshake;
pub mod item_flags;
pub mod local_scan;
pub mod mux;
pub mod options;
pub mod pull;
pub mod push;
pub mod remote_spec;
pub mod role;
pub mod rsh;
pub mod server_args;
pub mod session;
pub mod stats;
pub mod stream;
pub mod sum_head;
pub mod tokens;

pub use connection::Transport;
pub use error::WireError;
pub use options::{Direction, TransferOptions};
pub use rsh::RemoteShell;
pub use session::{TransferReport, pull, pull_over, push, push_over};
