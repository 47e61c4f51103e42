//! Writing into the destination tree as a pulling client: paths confined to the
//! destination (no symlinked parents), temp file + rename, attributes.

use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex};

use rdsync_engine::fs::{DirFd, Root};
use rdsync_engine::local::DestError;

use crate::error::WireError;
use crate::flist::FileEntry;

/// Where received entries go.
#[derive(Debug, Clone)]
pub struct Destination {
    root: PathBuf,
    /// rsync's "mode 2": a single entry written under the destination's own name.
    single: Option<PathBuf>,
    /// The root directory held open: directories beneath it are opened through it
    /// without crossing any symlink (`openat2` with `RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS`, or `O_NOFOLLOW` per component).
    root_fd: Option<Arc<Root>>,
    /// The root directory itself as a [`DirFd`] (what names without a parent live in).
    root_dir: Option<Arc<DirFd>>,
    /// Directories beneath the root held open, most recently used first.
    dirs: Arc<Mutex<DirCache>>,
    /// `--mkpath` created this many directories for this path (rsync's "created N
    /// directories for PATH").
    pub made_path: Option<(usize, Vec<u8>)>,
    /// Whether the destination existed once `--mkpath` had run, before the destination
    /// directory itself was made.
    pub existed: bool,
}

/// Held directories by their name relative to the root.
type DirCache = Vec<(Vec<u8>, Arc<DirFd>)>;

/// An entry's directory held open, and the entry's name in it (one component).
pub type Located = (Arc<DirFd>, Vec<u8>);

/// How many directories [`Destination::locate`] keeps open. The list is sorted, so the
/// files of one directory arrive together: the generator and the receiver each need
/// about one at a time.
const DIR_CACHE_SIZE: usize = 8;

impl Destination {
    /// Decides like `main.c: get_local_name` for `count` received entries (creating
    /// nothing when `dry_run`); with `mkpath`, missing components of `dest` are created
    /// first (`--mkpath`).
    pub fn prepare(
        dest: &Path,
        count: usize,
        first_is_dir: bool,
        dry_run: bool,
        mkpath: bool,
    ) -> Result<Self, WireError> {
        let made_path = if mkpath {
            let bytes = dest.as_os_str().as_bytes();
            rdsync_engine::local::make_dest_path(bytes, count, dry_run).map_err(|e| match e {
                DestError::Mkdir(dir, errno) => WireError::file(
                    Path::new(std::ffi::OsStr::from_bytes(&dir)),
                    std::io::Error::from_raw_os_error(errno.raw_os_error()),
                ),
                other => WireError::file(dest, std::io::Error::other(other.to_string())),
            })?
        } else {
            None
        };
        let existed = std::fs::symlink_metadata(dest).is_ok();
        let mut d = Self::prepare_paths(dest, count, first_is_dir, dry_run)?;
        d.made_path = made_path;
        d.existed = existed;
        let root = DirFd::open_path(d.root.as_os_str().as_bytes())
            .ok()
            .map(Root::from_dir);
        d.root_dir = root
            .as_ref()
            .and_then(|r| r.open_dir(b".").ok())
            .map(Arc::new);
        d.root_fd = root.map(Arc::new);
        Ok(d)
    }

    fn prepare_paths(
        dest: &Path,
        count: usize,
        first_is_dir: bool,
        dry_run: bool,
    ) -> Result<Self, WireError> {
        let trailing = dest.as_os_str().as_bytes().ends_with(b"/");
        match std::fs::metadata(dest) {
            Ok(md) if md.is_dir() => {
                return Ok(Destination {
                    root: dest.to_path_buf(),
                    single: None,
                    root_fd: None,
                    root_dir: None,
                    dirs: Arc::default(),
                    made_path: None,
                    existed: false,
                });
            }
            Ok(_) if count > 1 || trailing || first_is_dir => {
                return Err(WireError::file(
                    dest,
                    std::io::Error::other("destination exists and is not a directory"),
                ));
            }
            _ => {}
        }
        if count > 1 || trailing || first_is_dir {
            if dry_run {
                return Ok(Destination {
                    root: dest.to_path_buf(),
                    single: None,
                    root_fd: None,
                    root_dir: None,
                    dirs: Arc::default(),
                    made_path: None,
                    existed: false,
                });
            }
            std::fs::create_dir(dest).map_err(|e| WireError::file(dest, e))?;
            return Ok(Destination {
                root: dest.to_path_buf(),
                single: None,
                root_fd: None,
                root_dir: None,
                dirs: Arc::default(),
                made_path: None,
                existed: false,
            });
        }
        let parent = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Destination {
            root: parent,
            single: Some(dest.to_path_buf()),
            root_fd: None,
            root_dir: None,
            dirs: Arc::default(),
            made_path: None,
            existed: false,
        })
    }

    /// A stand-in until the file list has arrived and [`Destination::prepare`] ran.
    pub fn placeholder() -> Self {
        Destination {
            root: PathBuf::from("/nonexistent/rdsync-placeholder"),
            single: None,
            root_fd: None,
            root_dir: None,
            dirs: Arc::default(),
            made_path: None,
            existed: false,
        }
    }

    /// Whether entries go into a directory tree (rsync's "mode 1"), not under the
    /// destination's own name.
    pub fn is_tree(&self) -> bool {
        self.single.is_none()
    }

    /// The root directory of the transfer.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local path of an entry by name alone, without looking at the file system
    /// (the name must have passed `check_safe_name`). Only for comparing names; anything
    /// that touches the entry goes through [`Destination::path_of`].
    pub fn joined(&self, name: &[u8]) -> PathBuf {
        if let Some(single) = &self.single {
            return single.clone();
        }
        let mut p = self.root.clone();
        for c in name
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            p.push(std::ffi::OsStr::from_bytes(c));
        }
        p
    }

    /// The local path of an entry, refusing a path whose parents leave the tree through
    /// a symlink.
    pub fn path_of(&self, name: &[u8]) -> Result<PathBuf, WireError> {
        if let Some(single) = &self.single {
            return Ok(single.clone());
        }
        crate::flist::check_safe_name(name)?;
        let mut p = self.root.clone();
        let comps: Vec<&[u8]> = name
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let last = comps.len().saturating_sub(1);
        // Fast path: the parents open as real directories beneath the root with no
        // symlink anywhere (one openat2). Any failure (a symlink, a missing parent, no
        // openat2) falls back to the per-component check, which gives the verdict.
        if last == 0 || self.parent_dir(comps.get(..last).unwrap_or(&[])).is_some() {
            for c in &comps {
                p.push(std::ffi::OsStr::from_bytes(c));
            }
            return Ok(p);
        }
        for (i, c) in comps.iter().enumerate() {
            p.push(std::ffi::OsStr::from_bytes(c));
            if i < last
                && let Ok(md) = std::fs::symlink_metadata(&p)
                && md.file_type().is_symlink()
            {
                return Err(WireError::UnsafePath(format!(
                    "{} (parent is a symlink)",
                    crate::mux::escape_control_chars(name)
                )));
            }
        }
        Ok(p)
    }
}

impl Destination {
    /// The directory entry `name` lives in, held open, and its last component: the
    /// directory was opened beneath the root without crossing a symlink (checked once,
    /// when it was opened, not per entry). `None` when it cannot be opened that way (a
    /// missing or unreadable parent, a symlink, a non-directory, a name without a last
    /// component): the caller then goes by path ([`Destination::path_of`] gives the
    /// verdict on the name).
    pub fn locate(&self, name: &[u8]) -> Result<Option<Located>, WireError> {
        if let Some(single) = &self.single {
            let leaf = single.file_name().map(|n| n.as_bytes().to_vec());
            return Ok(self.root_dir.clone().zip(leaf));
        }
        crate::flist::check_safe_name(name)?;
        let comps: Vec<&[u8]> = name
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let Some((leaf, parents)) = comps.split_last() else {
            return Ok(None);
        };
        Ok(self.parent_dir(parents).map(|d| (d, leaf.to_vec())))
    }

    /// The directory `parents` (components below the root), from the cache or opened
    /// now beneath the root without crossing any symlink.
    fn parent_dir(&self, parents: &[&[u8]]) -> Option<Arc<DirFd>> {
        if parents.is_empty() {
            return self.root_dir.clone();
        }
        let root = self.root_fd.as_ref()?;
        let rel = parents.join(&b'/');
        let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = dirs.iter().position(|(n, _)| *n == rel) {
            let hit = dirs.remove(at);
            let dir = Arc::clone(&hit.1);
            dirs.insert(0, hit);
            return Some(dir);
        }
        let dir = Arc::new(root.open_dir(&rel).ok()?);
        dirs.truncate(DIR_CACHE_SIZE - 1);
        dirs.insert(0, (rel, Arc::clone(&dir)));
        Some(dir)
    }

    /// Closes the held directories: called whenever something in the tree is removed
    /// or replaced, so that a directory is looked up (and checked) afresh after that.
    pub fn forget_dirs(&self) {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Opens the destination file itself for `--inplace`: created if missing (mode 0600
/// until its attributes are set), never through a symlink, never anything but a
/// regular file (a FIFO or device planted there is refused, not opened for writing).
pub fn open_in_place(target: &Path) -> Result<File, WireError> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| WireError::file(target, e))?;
    let md = f.metadata().map_err(|e| WireError::file(target, e))?;
    if !md.is_file() {
        return Err(WireError::file(
            target,
            std::io::Error::other("not a regular file"),
        ));
    }
    // Back to blocking writes (O_NONBLOCK only guarded the open).
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// A temp file next to `target`, opened for writing.
pub fn create_temp(target: &Path, mode: u32) -> Result<(File, PathBuf), WireError> {
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = target
        .file_name()
        .map(|b| b.as_bytes().to_vec())
        .unwrap_or_default();
    for attempt in 0..100u32 {
        let mut name = b".".to_vec();
        name.extend_from_slice(&base);
        name.extend_from_slice(format!(".{}{attempt}", std::process::id()).as_bytes());
        let tmp = dir.join(std::ffi::OsStr::from_bytes(&name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777 | 0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(WireError::file(&tmp, e)),
        }
    }
    Err(WireError::file(
        target,
        std::io::Error::other("cannot create a temp file"),
    ))
}

/// Ownership mapping for received entries.
#[derive(Debug, Clone, Default)]
pub struct OwnerMap {
    /// Map owners (`-o`, and we are root).
    pub map_uid: bool,
    /// Map groups (`-g`).
    pub map_gid: bool,
    /// Sender uid → local uid.
    pub uids: std::collections::HashMap<u32, u32>,
    /// Sender gid → local gid.
    pub gids: std::collections::HashMap<u32, u32>,
}

impl OwnerMap {
    /// The local owner and group to give `e` (`None` where that id is not preserved).
    fn ids(&self, e: &FileEntry) -> (Option<u32>, Option<u32>) {
        let uid = self
            .map_uid
            .then(|| *self.uids.get(&e.uid).unwrap_or(&e.uid));
        let gid = self
            .map_gid
            .then(|| *self.gids.get(&e.gid).unwrap_or(&e.gid));
        (uid, gid)
    }

    /// Applies owner/group to `path` (not following symlinks). Failures are ignored
    /// like rsync does for a non-root receiver.
    pub fn apply(&self, path: &Path, e: &FileEntry) {
        let (uid, gid) = self.ids(e);
        if uid.is_some() || gid.is_some() {
            let _ = std::os::unix::fs::lchown(path, uid, gid);
        }
    }
}

impl OwnerMap {
    /// [`OwnerMap::apply`] through an open file (`fchown`): no path walk.
    pub fn apply_file(&self, file: &File, e: &FileEntry) {
        let (uid, gid) = self.ids(e);
        if uid.is_some() || gid.is_some() {
            let _ = std::os::unix::fs::fchown(file, uid, gid);
        }
    }
}

/// [`apply_attrs`] for a regular file through its open descriptor (`fchmod`,
/// `futimens`): no path walk; `path` only names it in errors.
pub fn apply_file_attrs(
    file: &File,
    path: &Path,
    e: &FileEntry,
    perms: bool,
    times: bool,
) -> Result<(), WireError> {
    if perms {
        file.set_permissions(std::fs::Permissions::from_mode(e.mode & 0o7777))
            .map_err(|err| WireError::file(path, err))?;
    }
    if times {
        let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
        filetime::set_file_handle_times(file, Some(t), Some(t))
            .map_err(|err| WireError::file(path, err))?;
    }
    Ok(())
}

/// Sets permissions (not on symlinks) and mtime as the options ask.
pub fn apply_attrs(path: &Path, e: &FileEntry, perms: bool, times: bool) -> Result<(), WireError> {
    if perms && !e.is_symlink() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode & 0o7777))
            .map_err(|err| WireError::file(path, err))?;
    }
    if times {
        let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
        // utimensat(AT_SYMLINK_NOFOLLOW): never opens the file (a FIFO would block).
        let r = filetime::set_symlink_file_times(path, t, t);
        if !e.is_symlink() {
            r.map_err(|err| WireError::file(path, err))?;
        }
    }
    Ok(())
}

/// Removes whatever non-directory is at `path` (and an empty or full directory if
/// `allow_dir`).
pub fn remove_existing(path: &Path, allow_dir: bool) -> Result<(), WireError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(md) if md.is_dir() => {
            if allow_dir {
                std::fs::remove_dir_all(path).map_err(|e| WireError::file(path, e))
            } else {
                Ok(())
            }
        }
        Ok(_) => std::fs::remove_file(path).map_err(|e| WireError::file(path, e)),
    }
}

/// Creates a device node, FIFO or socket.
pub fn make_special(path: &Path, e: &FileEntry) -> Result<(), WireError> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| WireError::UnsafePath(path.display().to_string()))?;
    let (major, minor) = e.rdev.unwrap_or((0, 0));
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a valid NUL-terminated path; mknod has no memory-safety preconditions.
    let rc = unsafe { libc::mknod(c.as_ptr(), e.mode as libc::mode_t, dev) };
    if rc != 0 {
        return Err(WireError::file(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("rdsync-dest-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn directories_are_held_once_and_looked_up_afresh_when_forgotten() {
        let base = scratch("locate");
        let root = base.join("dest");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub/lnk")).unwrap();
        let d = Destination::prepare(&root, 3, true, false, false).unwrap();

        let (dir, leaf) = d.locate(b"sub/x").unwrap().expect("sub is held");
        assert_eq!(leaf, b"x");
        let (again, _) = d.locate(b"./sub//y").unwrap().expect("sub again");
        assert!(Arc::ptr_eq(&dir, &again), "the held fd is reused");
        assert!(d.locate(b"sub/deeper/z").unwrap().is_some());
        let (_, top) = d.locate(b"top").unwrap().expect("the root");
        assert_eq!(top, b"top");

        // Never through a symlink, nor for a name without a last component.
        assert!(d.locate(b"sub/lnk/x").unwrap().is_none());
        assert!(matches!(
            d.path_of(b"sub/lnk/x"),
            Err(WireError::UnsafePath(_))
        ));
        assert!(d.locate(b".").unwrap().is_none());
        assert!(d.locate(b"../x").is_err());

        // `sub` swapped for a symlink to outside: once forgotten, it is not held again.
        std::fs::rename(root.join("sub"), base.join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
        d.forget_dirs();
        assert!(d.locate(b"sub/x").unwrap().is_none());
        assert!(matches!(d.path_of(b"sub/x"), Err(WireError::UnsafePath(_))));
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_cache_stays_small() {
        let base = scratch("cache");
        for i in 0..(DIR_CACHE_SIZE * 2) {
            std::fs::create_dir_all(base.join(format!("d{i}"))).unwrap();
        }
        let d = Destination::prepare(&base, 3, true, false, false).unwrap();
        for i in 0..(DIR_CACHE_SIZE * 2) {
            assert!(d.locate(format!("d{i}/f").as_bytes()).unwrap().is_some());
        }
        assert_eq!(d.dirs.lock().unwrap().len(), DIR_CACHE_SIZE);
        let _ = std::fs::remove_dir_all(&base);
    }
}
