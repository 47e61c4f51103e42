//! Running the system rsync for what rdsync does not handle natively.

use std::ffi::OsString;
use std::process::Command;

/// Where the system rsync lives.
pub const SYSTEM_RSYNC: &str = "/usr/bin/rsync";

/// Runs the system rsync with `args` (without the program name), after a one-line notice on
/// stderr, and returns its exit code.
pub fn run_system_rsync(args: &[OsString], reason: &str) -> i32 {
    eprintln!("rdsync: {reason} is not supported natively; running {SYSTEM_RSYNC} instead");
    match Command::new(SYSTEM_RSYNC).args(args).status() {
        Ok(status) => status.code().unwrap_or(20),
        Err(e) => {
            eprintln!("rdsync: failed to run {SYSTEM_RSYNC}: {e}");
            crate::exit::FILE_IO
        }
    }
}
