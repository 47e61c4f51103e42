//! One open directory and the `*at` operations applied relative to it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, Timespec, Timestamps, UTIME_OMIT};
use rustix::io::Errno;

use super::attrs::{Attrs, FileKind, Stat};
use super::error::{FsError, FsResult};

/// An open directory. All names passed to its methods are single path components: they never
/// contain `/`, so no operation can leave the directory.
#[derive(Debug)]
pub struct DirFd {
    fd: OwnedFd,
}

/// Rejects names that are not a single, ordinary path component.
fn check_component(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        Err(Errno::INVAL)
    } else {
        Ok(())
    }
}

impl DirFd {
    /// Wraps an fd known to be an open directory.
    pub fn from_owned(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// Opens a directory by path (following symlinks, as rsync does for the named roots).
    pub fn open_path(path: &[u8]) -> FsResult<Self> {
        let path_arg: &[u8] = if path.is_empty() { b"." } else { path };
        rfs::open(
            path_arg,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(Self::from_owned)
        .map_err(|e| FsError::new("opendir", path, e))
    }

    /// The underlying fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `lstat` of an entry.
    pub fn lstat(&self, name: &[u8]) -> FsResult<Stat> {
        check_component(name).map_err(|e| FsError::new("lstat", name, e))?;
        rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| Stat::from_raw(&st))
            .map_err(|e| FsError::new("lstat", name, e))
    }

    /// `fstat` of the directory itself.
    pub fn stat_self(&self) -> FsResult<Stat> {
        rfs::fstat(&self.fd)
            .map(|st| Stat::from_raw(&st))
            .map_err(|e| FsError::new("fstat", b".", e))
    }

    /// Opens a sub-directory without following a symlink.
    pub fn open_subdir(&self, name: &[u8]) -> FsResult<DirFd> {
        check_component(name).map_err(|e| FsError::new("opendir", name, e))?;
        rfs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(Self::from_owned)
        .map_err(|e| FsError::new("opendir", name, e))
    }

    /// Opens a regular file for reading without following a symlink.
    pub fn open_read(&self, name: &[u8]) -> FsResult<OwnedFd> {
        check_component(name).map_err(|e| FsError::new("open", name, e))?;
        rfs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| FsError::new("open", name, e))
    }

    /// Opens the regular file at the relative path `rel` (several components) beneath this
    /// directory for reading, following no symlink on the way.
    pub fn open_read_beneath(&self, rel: &[u8]) -> FsResult<OwnedFd> {
        if !rel.contains(&b'/') {
            return self.open_read(rel);
        }
        match rfs::openat2(
            &self.fd,
            rel,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            rfs::ResolveFlags::BENEATH | rfs::ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) => Ok(fd),
            Err(Errno::NOSYS) => {
                let mut comps = rel
                    .split(|&b| b == b'/')
                    .filter(|c| !c.is_empty())
                    .peekable();
                let mut dir: Option<DirFd> = None;
                while let Some(c) = comps.next() {
                    let here = dir.as_ref().unwrap_or(self);
                    if comps.peek().is_none() {
                        return here.open_read(c);
                    }
                    dir = Some(here.open_subdir(c)?);
                }
                Err(FsError::new("open", rel, Errno::INVAL))
            }
            Err(e) => Err(FsError::new("open", rel, e)),
        }
    }

    /// Opens an existing regular file for writing in place (`--inplace`), without following a
    /// symlink.
    pub fn open_write_existing(&self, name: &[u8]) -> FsResult<OwnedFd> {
        check_component(name).map_err(|e| FsError::new("open", name, e))?;
        rfs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| FsError::new("open", name, e))
    }

    /// Creates (exclusively) a new regular file for writing with the given mode.
    pub fn create_exclusive(&self, name: &[u8], mode: u32) -> FsResult<OwnedFd> {
        check_component(name).map_err(|e| FsError::new("open", name, e))?;
        rfs::openat(
            &self.fd,
            name,
            OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| FsError::new("open", name, e))
    }

    /// Lists the names in the directory (without `.` and `..`), in readdir order.
    pub fn list(&self) -> FsResult<Vec<Vec<u8>>> {
        let mut dir =
            rfs::Dir::read_from(&self.fd).map_err(|e| FsError::new("opendir", b".", e))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| FsError::new("readdir", b".", e))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                out.push(name.to_vec());
            }
        }
        Ok(out)
    }

    /// Creates a directory.
    pub fn mkdir(&self, name: &[u8], mode: u32) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("mkdir", name, e))?;
        rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))
            .map_err(|e| FsError::new("mkdir", name, e))
    }

    /// Creates a symlink `name -> target`.
    pub fn symlink(&self, target: &[u8], name: &[u8]) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("symlink", name, e))?;
        rfs::symlinkat(target, &self.fd, name).map_err(|e| FsError::new("symlink", name, e))
    }

    /// Reads a symlink's target.
    pub fn readlink(&self, name: &[u8]) -> FsResult<Vec<u8>> {
        check_component(name).map_err(|e| FsError::new("readlink", name, e))?;
        rfs::readlinkat(&self.fd, name, Vec::new())
            .map(|c| c.into_bytes())
            .map_err(|e| FsError::new("readlink", name, e))
    }

    /// Creates a device node, FIFO or socket with the full `st_mode` and `rdev`.
    pub fn mknod(&self, name: &[u8], mode: u32, rdev: u64) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("mknod", name, e))?;
        let file_type = rfs::FileType::from_raw_mode(mode);
        rfs::mknodat(
            &self.fd,
            name,
            file_type,
            Mode::from_raw_mode(mode & 0o7777),
            rdev,
        )
        .map_err(|e| FsError::new("mknod", name, e))
    }

    /// Makes `name` a hard link to `target` (in `target_dir`), never following symlinks.
    pub fn link_from(&self, target_dir: &DirFd, target: &[u8], name: &[u8]) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("link", name, e))?;
        check_component(target).map_err(|e| FsError::new("link", target, e))?;
        rfs::linkat(&target_dir.fd, target, &self.fd, name, AtFlags::empty())
            .map_err(|e| FsError::new("link", name, e))
    }

    /// Removes a non-directory.
    pub fn unlink(&self, name: &[u8]) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("unlink", name, e))?;
        rfs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(|e| FsError::new("unlink", name, e))
    }

    /// Removes an empty directory.
    pub fn rmdir(&self, name: &[u8]) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("rmdir", name, e))?;
        rfs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)
            .map_err(|e| FsError::new("rmdir", name, e))
    }

    /// Renames `from` to `to`, both in this directory.
    pub fn rename(&self, from: &[u8], to: &[u8]) -> FsResult<()> {
        check_component(from).map_err(|e| FsError::new("rename", from, e))?;
        check_component(to).map_err(|e| FsError::new("rename", to, e))?;
        rfs::renameat(&self.fd, from, &self.fd, to).map_err(|e| FsError::new("rename", to, e))
    }

    /// Removes whatever `name` is; directories are removed with all their contents. Calls
    /// `on_delete(relative_name, kind)` for each removed object, children before parents, in
    /// reverse name order within a directory (as rsync reports them).
    pub fn remove_tree(
        &self,
        name: &[u8],
        on_delete: &mut dyn FnMut(&[u8], FileKind),
    ) -> FsResult<()> {
        let st = self.lstat(name)?;
        if st.kind() == FileKind::Dir {
            let sub = self.open_subdir(name)?;
            let mut children: Vec<(Vec<u8>, bool)> = Vec::new();
            for child in sub.list()? {
                let is_dir = sub
                    .lstat(&child)
                    .map(|s| s.kind() == FileKind::Dir)
                    .unwrap_or(false);
                children.push((child, is_dir));
            }
            children.sort_by(|a, b| crate::flist::compare_names(&a.0, a.1, &b.0, b.1));
            for (child, _) in children.iter().rev() {
                let mut nested = |rel: &[u8], kind: FileKind| {
                    let mut full = name.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(rel);
                    on_delete(&full, kind);
                };
                sub.remove_tree(child, &mut nested)?;
            }
            drop(sub);
            self.rmdir(name)?;
            on_delete(name, FileKind::Dir);
        } else {
            self.unlink(name)?;
            on_delete(name, st.kind());
        }
        Ok(())
    }

    /// Applies `attrs` to an entry without following a symlink (permissions are never applied
    /// to symlinks: Linux cannot).
    pub fn apply_attrs(&self, name: &[u8], kind: FileKind, attrs: &Attrs) -> FsResult<()> {
        check_component(name).map_err(|e| FsError::new("chmod", name, e))?;
        if attrs.uid.is_some() || attrs.gid.is_some() {
            rfs::chownat(
                &self.fd,
                name,
                attrs.uid.map(rfs::Uid::from_raw),
                attrs.gid.map(rfs::Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| FsError::new("lchown", name, e))?;
        }
        if let Some(perms) = attrs.perms
            && kind != FileKind::Symlink
        {
            rfs::chmodat(&self.fd, name, Mode::from_raw_mode(perms), AtFlags::empty())
                .map_err(|e| FsError::new("chmod", name, e))?;
        }
        if let Some((sec, nsec)) = attrs.mtime {
            let times = Timestamps {
                last_access: Timespec {
                    tv_sec: 0,
                    tv_nsec: UTIME_OMIT,
                },
                last_modification: Timespec {
                    tv_sec: sec,
                    tv_nsec: nsec.into(),
                },
            };
            rfs::utimensat(&self.fd, name, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| FsError::new("utimensat", name, e))?;
        }
        Ok(())
    }

    /// Applies `attrs` to an open file.
    pub fn apply_attrs_fd(fd: BorrowedFd<'_>, name: &[u8], attrs: &Attrs) -> FsResult<()> {
        if attrs.uid.is_some() || attrs.gid.is_some() {
            rfs::fchown(
                fd,
                attrs.uid.map(rfs::Uid::from_raw),
                attrs.gid.map(rfs::Gid::from_raw),
            )
            .map_err(|e| FsError::new("fchown", name, e))?;
        }
        if let Some(perms) = attrs.perms {
            rfs::fchmod(fd, Mode::from_raw_mode(perms))
                .map_err(|e| FsError::new("fchmod", name, e))?;
        }
        if let Some((sec, nsec)) = attrs.mtime {
            let times = Timestamps {
                last_access: Timespec {
                    tv_sec: 0,
                    tv_nsec: UTIME_OMIT,
                },
                last_modification: Timespec {
                    tv_sec: sec,
                    tv_nsec: nsec.into(),
                },
            };
            rfs::futimens(fd, &times).map_err(|e| FsError::new("futimens", name, e))?;
        }
        Ok(())
    }
}
