//! Whole-file copy between two open files: `copy_file_range` in the kernel, falling back to a
//! read/write loop where the filesystem does not support it.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::io::Errno;

/// Copies up to `len` bytes from the current offset of `src` to the current offset of `dst`.
/// Returns the number of bytes copied (less than `len` if the source shrank).
pub fn copy_range(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, len: u64) -> Result<u64, Errno> {
    copy_range_cancellable(src, dst, len, None, None)
}

/// Like [`copy_range`], checking `cancel` between chunks of at most 8 MiB (a raised flag
/// stops the copy with `EINTR`) and adding each chunk to `progress`.
pub fn copy_range_cancellable(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    len: u64,
    cancel: Option<&AtomicBool>,
    progress: Option<&AtomicU64>,
) -> Result<u64, Errno> {
    let chunk: u64 = if cancel.is_some() || progress.is_some() {
        8 << 20
    } else {
        1 << 30
    };
    let mut done = 0u64;
    while done < len {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Errno::INTR);
        }
        let want = (len - done).min(chunk) as usize;
        match rustix::fs::copy_file_range(src, None, dst, None, want) {
            Ok(0) => break,
            Ok(n) => {
                done += n as u64;
                if let Some(p) = progress {
                    p.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Err(Errno::INTR) if !cancel.is_some_and(|c| c.load(Ordering::Relaxed)) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                return copy_by_buffer(src, dst, len - done).map(|n| n + done);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn copy_by_buffer(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, len: u64) -> Result<u64, Errno> {
    let mut reader = std::fs::File::from(src.try_clone_to_owned().map_err(to_errno)?);
    let mut writer = std::fs::File::from(dst.as_fd().try_clone_to_owned().map_err(to_errno)?);
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(to_errno(e)),
        };
        writer.write_all(&buf[..n]).map_err(to_errno)?;
        done += n as u64;
    }
    Ok(done)
}

fn to_errno(e: std::io::Error) -> Errno {
    Errno::from_io_error(&e).unwrap_or(Errno::IO)
}
