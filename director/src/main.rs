//! The `rdsync-director` daemon binary.
fn main() {}
