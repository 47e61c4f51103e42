//! The `rdsync` command.
fn main() {}
