//! The destination root: a held directory fd that nothing can escape.

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::dir_fd::DirFd;
use super::error::{FsError, FsResult};

/// The destination root directory. Sub-directories are opened beneath it without following
/// any symlink, so nothing is ever created through a link that points elsewhere.
#[derive(Debug)]
pub struct Root {
    dir: DirFd,
}

impl Root {
    /// Opens the destination root by path. The path itself may contain symlinks (the user
    /// named it); everything beneath it is confined.
    pub fn open(path: &[u8]) -> FsResult<Self> {
        DirFd::open_path(path).map(|dir| Self { dir })
    }

    /// Wraps an already open directory.
    pub fn from_dir(dir: DirFd) -> Self {
        Self { dir }
    }

    /// The root directory itself.
    pub fn dir(&self) -> &DirFd {
        &self.dir
    }

    /// Opens the directory at `rel` (components separated by `/`, relative to the root;
    /// empty or `.` for the root itself). Fails with `ELOOP`/`ENOTDIR`/`EXDEV` if any component
    /// is a symlink or the path would leave the root.
    pub fn open_dir(&self, rel: &[u8]) -> FsResult<DirFd> {
        if rel.is_empty() || rel == b"." {
            return rfs::openat(
                self.dir.fd(),
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(DirFd::from_owned)
            .map_err(|e| FsError::new("opendir", rel, e));
        }
        if rel.split(|&b| b == b'/').any(|c| c == b"..") || rel.first() == Some(&b'/') {
            return Err(FsError::new("opendir", rel, Errno::XDEV));
        }
        match rfs::openat2(
            self.dir.fd(),
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => Ok(DirFd::from_owned(fd)),
            Err(Errno::NOSYS) => self.open_dir_by_components(rel),
            Err(e) => Err(FsError::new("opendir", rel, e)),
        }
    }

    fn open_dir_by_components(&self, rel: &[u8]) -> FsResult<DirFd> {
        let mut current: Option<DirFd> = None;
        for comp in rel
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            let next = match &current {
                None => self.dir.open_subdir(comp),
                Some(d) => d.open_subdir(comp),
            }
            .map_err(|e| FsError::new("opendir", rel, e.errno))?;
            current = Some(next);
        }
        match current {
            Some(d) => Ok(d),
            None => self.open_dir(b"."),
        }
    }
}
