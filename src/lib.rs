//! rdsync: a native Rust implementation of rsync's delta algorithm and wire protocol.
//!
//! The library API of the `rdsync` command:
//!
//! * [`parse_args`] turns rsync-style arguments into [`Options`] (or says to fall back to the
//!   system rsync);
//! * [`sync_local`] runs a local `SRC... DEST` sync with those options, reporting through any
//!   [`engine::local::SyncSink`];
//! * [`run_cli`] is the whole command: parse, sync, print, exit code.
pub use rdsync_engine as engine;
pub use rdsync_wire as wire;

pub mod cli;
pub mod exit;
pub mod fallback;
pub mod output;
pub mod remote;
mod run;

pub use cli::{Options, ParseOutcome, UsageError, parse_args};
pub use run::{Dispatch, SyncError, dispatch, run_cli, sync_local, sync_local_cancellable};
