//! Copying one file's content into the destination: a temp file renamed into place, or the
//! destination file itself with `--inplace`.

use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use rustix::io::Errno;

use crate::checksum::{ChecksumAlgorithm, ChecksumProfile};
use crate::delta::{DeltaError, DeltaGenerator};
use crate::fs::{AtomicFile, Attrs, DirFd, FsError, copy_range, copy_range_cancellable};
use crate::layout::{BlockLayout, LayoutParams};
use crate::patch::{PatchError, Patcher};
use crate::rebuild::rebuild_from_basis;
use crate::signature::Signature;

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
    /// Rebuild from the existing destination file with rsync's delta algorithm.
    pub delta: bool,
    /// Keep a partly written file (as the destination) when the copy is interrupted.
    pub partial: bool,
    /// The run's cancel flag.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Bytes copied so far, for `--progress`.
    pub progress: Option<Arc<AtomicU64>>,
}

/// What a finished copy moved.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CopyStats {
    /// Bytes written from the source ("literal data").
    pub literal: u64,
    /// Bytes reused from the destination's old file ("matched data").
    pub matched: u64,
}

impl CopyJob {
    fn clone_for_retry(&self) -> CopyJob {
        CopyJob {
            source: self.source,
            src_base: Arc::clone(&self.src_base),
            src_name: self.src_name.clone(),
            dest_dir: Arc::clone(&self.dest_dir),
            dest_name: self.dest_name.clone(),
            size: self.size,
            attrs: self.attrs,
            inplace: self.inplace,
            delta: self.delta,
            partial: self.partial,
            cancel: self.cancel.clone(),
            progress: self.progress.clone(),
        }
    }
}

/// Why a copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The source file disappeared.
    Vanished,
    /// The run was cancelled during the copy.
    Interrupted,
    /// The source file exists but could not be opened (rsync's sender reports
    /// `send_files failed to open`).
    SourceOpen(FsError),
    /// Any other failure.
    Io(FsError),
}

/// Runs one copy.
pub(crate) fn run(job: &CopyJob) -> Result<CopyStats, CopyError> {
    let src = job.src_base.open_read_beneath(&job.src_name).map_err(|e| {
        if e.is_not_found() {
            CopyError::Vanished
        } else {
            CopyError::SourceOpen(e)
        }
    })?;
    if job.delta
        && !job.inplace
        && let Ok(basis) = job.dest_dir.open_read(&job.dest_name)
    {
        return run_delta(job, src, basis);
    }
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
        return Ok(CopyStats {
            literal: n,
            matched: 0,
        });
    }
    let tmp = AtomicFile::create(&job.dest_dir, &job.dest_name).map_err(CopyError::Io)?;
    let n = match copy_range_cancellable(
        src.as_fd(),
        tmp.fd(),
        job.size,
        job.cancel.as_deref(),
        job.progress.as_deref(),
    ) {
        Ok(n) => n,
        Err(Errno::INTR) => {
            if job.partial {
                // --partial: what arrived so far becomes the destination file.
                let _ = tmp.commit(&job.dest_name);
            }
            return Err(CopyError::Interrupted);
        }
        Err(e) => return Err(CopyError::Io(FsError::new("write", &job.dest_name, e))),
    };
    DirFd::apply_attrs_fd(tmp.fd(), &job.dest_name, &job.attrs).map_err(CopyError::Io)?;
    tmp.commit(&job.dest_name).map_err(CopyError::Io)?;
    Ok(CopyStats {
        literal: n,
        matched: 0,
    })
}

/// Files at least this big are rebuilt on all cores by [`rebuild_from_basis`], which cuts the
/// source into segments (a block straddling a cut is sent as literal data, so its Matched data
/// can fall short of rsync's by a few blocks). Smaller files take the sequential search, whose
/// matches are exactly rsync's.
const PARALLEL_DELTA_MIN: u64 = 64 << 20;

/// The big-file delta: segments searched in parallel, matched runs copied by the kernel.
fn run_parallel_delta(
    job: &CopyJob,
    src: &std::fs::File,
    basis: &std::fs::File,
) -> Result<CopyStats, CopyError> {
    let io_err = |op: &'static str, e: std::io::Error| {
        CopyError::Io(FsError::new(
            op,
            &job.dest_name,
            Errno::from_io_error(&e).unwrap_or(Errno::IO),
        ))
    };
    let src_len = src.metadata().map_err(|e| io_err("fstat", e))?.len();
    let tmp = AtomicFile::create(&job.dest_dir, &job.dest_name).map_err(CopyError::Io)?;
    let out = std::fs::File::from(
        tmp.fd()
            .try_clone_to_owned()
            .map_err(|e| io_err("dup", e))?,
    );
    let stats = rebuild_from_basis(basis, src, src_len, &out).map_err(|e| io_err("write", e))?;
    drop(out);
    DirFd::apply_attrs_fd(tmp.fd(), &job.dest_name, &job.attrs).map_err(CopyError::Io)?;
    tmp.commit(&job.dest_name).map_err(CopyError::Io)?;
    Ok(CopyStats {
        literal: stats.literal_bytes,
        matched: stats.matched_bytes,
    })
}

/// Rebuilds the file from the old destination file (the basis) and the source, as rsync's
/// delta transfer does: block sums of the basis, a match search over the source, and a patch
/// into a temp file verified by the whole-file checksum. A mismatch (a short strong sum
/// collided) is retried once with full-length block sums, then falls back to a plain copy.
fn run_delta(job: &CopyJob, src: OwnedFd, basis: OwnedFd) -> Result<CopyStats, CopyError> {
    let io_err = |op: &'static str, e: std::io::Error| {
        CopyError::Io(FsError::new(
            op,
            &job.dest_name,
            Errno::from_io_error(&e).unwrap_or(Errno::IO),
        ))
    };
    let basis = std::fs::File::from(basis);
    let basis_len = basis.metadata().map_err(|e| io_err("fstat", e))?.len();
    if job.size >= PARALLEL_DELTA_MIN {
        return run_parallel_delta(job, &std::fs::File::from(src), &basis);
    }
    let profile = ChecksumProfile::local(ChecksumAlgorithm::Xxh128);
    let digest_len = profile.block.digest_len();
    let mut src = std::fs::File::from(src);
    for params in [
        LayoutParams::first_pass(32, digest_len),
        LayoutParams::redo_pass(32, digest_len),
    ] {
        let layout = BlockLayout::for_file(basis_len, &params);
        let sig = Signature::generate_at(&basis, layout, &profile.block)
            .map_err(|e| io_err("read", std::io::Error::other(e.to_string())))?;
        let generator = DeltaGenerator::new(&sig, profile.block);
        let tmp = AtomicFile::create(&job.dest_dir, &job.dest_name).map_err(CopyError::Io)?;
        let out_fd = tmp
            .fd()
            .try_clone_to_owned()
            .map_err(|e| io_err("dup", e))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(out_fd));
        let mut patcher = Patcher::new(Some(&basis), layout, out, profile.file_hasher());
        src.seek(SeekFrom::Start(0))
            .map_err(|e| io_err("lseek", e))?;
        let outcome = match generator.run(&mut src, profile.file_hasher(), &mut patcher) {
            Ok(o) => o,
            Err(DeltaError::Read(e)) => return Err(io_err("read", e)),
            Err(DeltaError::Sink(e)) => {
                return Err(io_err("write", std::io::Error::other(e.to_string())));
            }
        };
        match patcher.finish(outcome.digest.as_bytes()) {
            Ok((mut out, _)) => {
                out.flush().map_err(|e| io_err("write", e))?;
                drop(out);
                DirFd::apply_attrs_fd(tmp.fd(), &job.dest_name, &job.attrs)
                    .map_err(CopyError::Io)?;
                tmp.commit(&job.dest_name).map_err(CopyError::Io)?;
                return Ok(CopyStats {
                    literal: outcome.stats.literal_bytes,
                    matched: outcome.stats.matched_bytes,
                });
            }
            Err(PatchError::ChecksumMismatch { .. }) => continue,
            Err(e) => return Err(io_err("write", std::io::Error::other(e.to_string()))),
        }
    }
    // Both passes failed verification: copy the file whole.
    src.seek(SeekFrom::Start(0))
        .map_err(|e| io_err("lseek", e))?;
    let plain = CopyJob {
        delta: false,
        ..job.clone_for_retry()
    };
    run(&plain)
}
