//! The instance pid file: `flock`ed for the daemon's lifetime, so two instances of one id can
//! never run at once, and removed only by its owner (rsyncdirector deleted a *foreign* pid file
//! when it refused to start; see bug B2 in the design notes).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use thiserror::Error;

/// An error taking the pid file.
#[derive(Debug, Error)]
pub enum PidFileError {
    /// Another live process holds the lock.
    #[error("another instance is already running (pid file {path} is locked by pid {pid})")]
    AlreadyRunning {
        /// The pid file.
        path: PathBuf,
        /// The content of the file (the holder's pid), or `?`.
        pid: String,
    },
    /// An OS error.
    #[error("pid file {path}: {source}")]
    Io {
        /// The pid file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A held pid file. Dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    /// Creates (if needed) and locks `path`, then writes our pid into it (as upstream: the
    /// decimal pid, no newline).
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io)?;
            if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
                if e == rustix::io::Errno::WOULDBLOCK {
                    let mut s = String::new();
                    let _ = file.read_to_string(&mut s);
                    let pid = if s.trim().is_empty() {
                        "?".into()
                    } else {
                        s.trim().to_string()
                    };
                    return Err(PidFileError::AlreadyRunning {
                        path: path.to_path_buf(),
                        pid,
                    });
                }
                return Err(io(e.into()));
            }
            // The previous owner may have unlinked the file between our open and our lock:
            // then we hold a lock on a dead inode and must start again.
            let ours = file.metadata().map_err(io)?;
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {}
                _ => continue,
            }
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            file.sync_all().map_err(io)?;
            return Ok(PidFile {
                path: path.to_path_buf(),
                file,
            });
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // We still hold the lock, so the file is ours: unlink first, then unlock (on close).
        let _ = std::fs::remove_file(&self.path);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}
