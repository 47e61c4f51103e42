//! The error type of filesystem operations: the failed call, the path and the errno.

use rustix::io::Errno;

/// A failed filesystem call, with what rsync prints about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op} \"{}\" failed: {}", String::from_utf8_lossy(path), errno_text(*errno))]
pub struct FsError {
    /// The operation in rsync's words (`mkdir`, `rename`, `open`, `link_stat`, …).
    pub op: &'static str,
    /// The path the operation was applied to, relative to the root it was applied in.
    pub path: Vec<u8>,
    /// The OS error.
    pub errno: Errno,
}

/// Result of a filesystem operation.
pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    /// Builds an error for `op` on `path`.
    pub fn new(op: &'static str, path: &[u8], errno: Errno) -> Self {
        Self {
            op,
            path: path.to_vec(),
            errno,
        }
    }

    /// rsync's rendering of the errno, e.g. `No such file or directory (2)`.
    pub fn errno_string(&self) -> String {
        errno_text(self.errno)
    }

    /// Whether the object did not exist (`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        self.errno == Errno::NOENT
    }
}

/// rsync's rendering of an errno: `strerror(e) (e)`, e.g. `No such file or directory (2)`.
pub fn errno_text(errno: Errno) -> String {
    let raw = errno.raw_os_error();
    let text = std::io::Error::from_raw_os_error(raw).to_string();
    let msg = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    format!("{msg} ({raw})")
}
