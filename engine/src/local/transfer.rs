//! Copying one file's content into the destination: a temp file renamed into place, or the
//! destination file itself with `--inplace`.

use std::os::fd::AsFd;
use std::sync::Arc;

use crate::fs::{AtomicFile, Attrs, DirFd, FsError, copy_range};

/// One file to copy.
#[derive(Debug)]
pub(crate) struct CopyJob {
    /// Index of the source argument.
    pub source: u32,
    /// Source base directory of the entry's source argument.
    pub src_base: Arc<DirFd>,
    /// Entry name relative to the source base.
    pub src_name: Box<[u8]>,
    /// Destination directory.
    pub dest_dir: Arc<DirFd>,
    /// Name in the destination directory.
    pub dest_name: Vec<u8>,
    /// Size from the file list.
    pub size: u64,
    /// Attributes to apply before the rename.
    pub attrs: Attrs,
    /// Write into the existing file.
    pub inplace: bool,
}

/// Why a copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The source file disappeared.
    Vanished,
    /// Any other failure.
    Io(FsError),
}

/// Runs one copy; returns the number of bytes written.
pub(crate) fn run(job: &CopyJob) -> Result<u64, CopyError> {
    let src = job.src_base.open_read_beneath(&job.src_name).map_err(|e| {
        if e.is_not_found() {
            CopyError::Vanished
        } else {
            CopyError::Io(e)
        }
    })?;
    if job.inplace {
        let dst = match job.dest_dir.open_write_existing(&job.dest_name) {
            Ok(fd) => fd,
            Err(e) if e.is_not_found() => job
                .dest_dir
                .create_exclusive(&job.dest_name, 0o600)
                .map_err(CopyError::Io)?,
            Err(e) => return Err(CopyError::Io(e)),
        };
        let n = copy_range(src.as_fd(), dst.as_fd(), job.size)
            .map_err(|e| CopyError::Io(FsError::new("write", &job.dest_name, e)))?;
        rustix::fs::ftruncate(&dst, n)
            .map_err(|e| CopyError::Io(FsError::new("ftruncate", &job.dest_name, e)))?;
        DirFd::apply_attrs_fd(dst.as_fd(), &job.dest_name, &job.attrs).map_err(CopyError::Io)?;
        return Ok(n);
    }
    let tmp = AtomicFile::create(&job.dest_dir, &job.dest_name).map_err(CopyError::Io)?;
    let n = copy_range(src.as_fd(), tmp.fd(), job.size)
        .map_err(|e| CopyError::Io(FsError::new("write", &job.dest_name, e)))?;
    DirFd::apply_attrs_fd(tmp.fd(), &job.dest_name, &job.attrs).map_err(CopyError::Io)?;
    tmp.commit(&job.dest_name).map_err(CopyError::Io)?;
    Ok(n)
}
