//! rdsync: a native Rust implementation of rsync's delta algorithm and wire protocol.
pub use rdsync_engine as engine;
pub use rdsync_wire as wire;
