//! Files the sender cannot read, reported as rsync's sender reports them (`flist.c:
//! make_file`, `send_directory`, `interpret_stat_error`; `sender.c: send_files`): a message
//! on stderr, the entry left out, and a bit in `io_error` that makes the exit code 23 (an
//! error) or 24 (something vanished) and tells the receiver not to delete.

use std::path::Path;

/// `io_error` bit: a file or directory could not be read (exit code 23).
pub const IOERR_GENERAL: i32 = 1;
/// `io_error` bit: a file or directory vanished while being sent (exit code 24).
pub const IOERR_VANISHED: i32 = 2;

/// What was being done when a source file failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderFailure {
    /// A top-level source could not be examined (`link_stat`; vanishing counts as an error).
    TopLevel,
    /// An entry found in a directory could not be examined (`readlink_stat`).
    Entry,
    /// A directory could not be listed (`opendir`).
    Directory,
    /// A file could not be opened to send its data (`send_files failed to open`).
    Open,
}

/// rsync's `full_fname`: the path made absolute against the current directory, quoted.
pub fn quoted_full_name(path: &Path) -> String {
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("\"{}\"", full.display())
}

/// What the sender's failures add up to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SenderErrors {
    /// rsync's `io_error` bits, sent to the receiver (which then deletes nothing).
    pub io_error: i32,
    /// A failure that makes the exit code 23 without being sent: a missing source
    /// argument omits nothing that exists, so deletions go ahead (`flist.c`).
    pub transfer_error: bool,
}

impl SenderErrors {
    /// Prints rsync's message for `err` while doing `what` with `path` and records it.
    pub fn record(&mut self, what: SenderFailure, path: &Path, err: &std::io::Error) {
        let name = quoted_full_name(path);
        let missing = err.kind() == std::io::ErrorKind::NotFound;
        if missing && what != SenderFailure::TopLevel {
            let noun = if what == SenderFailure::Directory {
                "directory"
            } else {
                "file"
            };
            eprintln!("{noun} has vanished: {name}");
            self.io_error |= IOERR_VANISHED;
            return;
        }
        let text = match err.raw_os_error() {
            Some(n) => rdsync_engine::fs::errno_text(rustix::io::Errno::from_raw_os_error(n)),
            None => err.to_string(),
        };
        match what {
            SenderFailure::TopLevel => eprintln!("rsync: [sender] link_stat {name} failed: {text}"),
            SenderFailure::Entry => {
                eprintln!("rsync: [sender] readlink_stat({name}) failed: {text}")
            }
            SenderFailure::Directory => eprintln!("rsync: [sender] opendir {name} failed: {text}"),
            SenderFailure::Open => {
                eprintln!("rsync: [sender] send_files failed to open {name}: {text}")
            }
        }
        if missing {
            self.transfer_error = true;
        } else {
            self.io_error |= IOERR_GENERAL;
        }
    }

    /// The bits that decide our exit code (23 for an error, 24 for a vanished file).
    pub fn exit_bits(&self) -> i32 {
        self.io_error
            | if self.transfer_error {
                IOERR_GENERAL
            } else {
                0
            }
    }

    /// Adds `other`'s failures.
    pub fn merge(&mut self, other: SenderErrors) {
        self.io_error |= other.io_error;
        self.transfer_error |= other.transfer_error;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_rsync() {
        let gone = std::io::Error::from_raw_os_error(2);
        let denied = std::io::Error::from_raw_os_error(13);
        let p = Path::new("/nowhere/x");
        let after = |what, err: &std::io::Error| {
            let mut e = SenderErrors::default();
            e.record(what, p, err);
            e
        };
        for what in [
            SenderFailure::Entry,
            SenderFailure::Directory,
            SenderFailure::Open,
        ] {
            assert_eq!(after(what, &gone).io_error, IOERR_VANISHED);
            assert_eq!(after(what, &denied).io_error, IOERR_GENERAL);
        }
        // A missing argument: exit 23, but nothing sent that would stop deletions.
        let missing = after(SenderFailure::TopLevel, &gone);
        assert_eq!((missing.io_error, missing.exit_bits()), (0, IOERR_GENERAL));
        assert_eq!(
            after(SenderFailure::TopLevel, &denied).io_error,
            IOERR_GENERAL
        );
        assert_eq!(quoted_full_name(p), "\"/nowhere/x\"");
    }
}
