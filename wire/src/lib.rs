//! The rsync wire protocol (versions 27–32), sans-IO codecs and role state machines.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod codec;
pub mod connection;
pub mod error;
pub mod flist;
pub mod handshake;
pub mod mux;
pub mod options;
pub mod rsh;
pub mod server_args;

pub use error::WireError;
