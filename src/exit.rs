//! rsync's exit codes and the closing `rsync error: …` line.

/// Syntax or usage error.
pub const SYNTAX: i32 = 1;
/// Errors selecting input/output files, dirs.
pub const FILE_SELECT: i32 = 3;
/// Error in file I/O.
pub const FILE_IO: i32 = 11;
/// Received SIGINT, SIGTERM, or SIGHUP.
pub const SIGNAL: i32 = 20;
/// Some files/attrs were not transferred.
pub const PARTIAL: i32 = 23;
/// Some files vanished before they could be transferred.
pub const VANISHED: i32 = 24;

/// rsync's description of an exit code.
pub fn describe(code: i32) -> &'static str {
    match code {
        1 => "syntax or usage error",
        2 => "protocol incompatibility",
        3 => "errors selecting input/output files, dirs",
        4 => "requested action not supported",
        5 => "error starting client-server protocol",
        11 => "error in file IO",
        12 => "error in rsync protocol data stream",
        20 => "received SIGINT, SIGTERM, or SIGHUP",
        23 => "some files/attrs were not transferred (see previous errors)",
        24 => "some files vanished before they could be transferred",
        25 => "the --max-delete limit stopped deletions",
        _ => "unexplained error",
    }
}

/// The closing line rsync prints on stderr for a non-zero exit code.
pub fn closing_line(code: i32) -> String {
    let word = if code == VANISHED { "warning" } else { "error" };
    format!("rsync {word}: {} (code {code})", describe(code))
}
