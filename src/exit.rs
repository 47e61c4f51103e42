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

/// rsync's description of an exit code (`log.c: rerr_names`).
pub fn describe(code: i32) -> &'static str {
    match code {
        1 => "syntax or usage error",
        2 => "protocol incompatibility",
        3 => "errors selecting input/output files, dirs",
        4 => "requested action not supported",
        5 => "error starting client-server protocol",
        6 => "daemon unable to append to log-file",
        10 => "error in socket IO",
        11 => "error in file IO",
        12 => "error in rsync protocol data stream",
        13 => "errors with program diagnostics",
        14 => "error in IPC code",
        15 => "sibling process crashed",
        16 => "sibling process terminated abnormally",
        19 => "received SIGUSR1",
        20 => "received SIGINT, SIGTERM, or SIGHUP",
        21 => "waitpid() failed",
        22 => "error allocating core memory buffers",
        23 => "some files/attrs were not transferred (see previous errors)",
        24 => "some files vanished before they could be transferred",
        25 => "the --max-delete limit stopped deletions",
        30 => "timeout in data send/receive",
        35 => "timeout waiting for daemon connection",
        124 => "remote shell failed",
        125 => "remote shell killed",
        126 => "remote command could not be run",
        127 => "remote command not found",
        _ => "unexplained error",
    }
}

/// The closing line rsync prints on stderr for a non-zero exit code.
pub fn closing_line(code: i32) -> String {
    let word = if code == VANISHED { "warning" } else { "error" };
    format!("rsync {word}: {} (code {code})", describe(code))
}
