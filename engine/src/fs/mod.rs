//! The destination side of the filesystem: every operation is relative to a held directory fd.
//!
//! * [`Root`] — the destination root; opens sub-directories beneath it and never follows a
//!   symlink on the way (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or a
//!   per-component `O_NOFOLLOW` walk on older kernels).
//! * [`DirFd`] — one open directory and the `*at` operations rsync's generator and receiver
//!   need (stat, mkdir, symlink, mknod, link, unlink, rename, chmod, chown, utimes).
//! * [`AtomicFile`] — a temp file `.name.XXXXXX` in the destination directory, renamed into
//!   place on commit and removed on drop.
//! * [`copy_range`] — whole-file copy with `copy_file_range`, falling back to read/write.
//! * [`Attrs`] — the metadata rsync applies (mode, ownership, mtime in nanoseconds).

mod atomic_file;
mod attrs;
mod copy;
mod dir_fd;
mod error;
mod root;

pub use atomic_file::{AtomicFile, is_temp_name_for};
pub use attrs::{Attrs, FileKind, Stat};
pub use copy::{copy_range, copy_range_cancellable};
pub use dir_fd::DirFd;
pub use error::{FsError, FsResult, errno_text};
pub use root::Root;
