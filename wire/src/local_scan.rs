//! Scanning local sources into file-list entries (the client sender's side of
//! `flist.c: send_file_list`), following rsync's trailing-slash rules.

use crate::sender_errors::{IOERR_GENERAL, SenderErrors, SenderFailure, quoted_full_name};
use rdsync_engine::fs::Stat;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rdsync_engine::filter::FilterChain;

use crate::error::WireError;
use crate::flist::{FileEntry, HardLinkInfo, XMIT_TOP_DIR, mode};
use crate::options::TransferOptions;

/// A scanned entry: what goes on the wire plus where it lives locally.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    /// The file-list entry.
    pub entry: FileEntry,
    /// The local path.
    pub path: PathBuf,
}

/// Splits a Linux `st_rdev` into (major, minor) as glibc does.
pub fn split_rdev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Where a listed file is: its path, and (inside a listed directory) that directory's fd
/// and the file's name in it, so that it is examined without walking the whole path again.
struct Located<'a> {
    path: &'a Path,
    at: Option<(std::os::fd::BorrowedFd<'a>, &'a std::ffi::OsStr)>,
}

impl Located<'_> {
    /// `lstat` (or `stat` when `follow`).
    fn stat(&self, follow: bool) -> std::io::Result<Stat> {
        match self.at {
            Some((fd, name)) if !follow => {
                rustix::fs::statat(fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| Stat::from_raw(&st))
                    .map_err(std::io::Error::from)
            }
            _ if follow => std::fs::metadata(self.path).map(|md| Stat::from_metadata(&md)),
            _ => std::fs::symlink_metadata(self.path).map(|md| Stat::from_metadata(&md)),
        }
    }

    /// The target of a symlink.
    fn read_link(&self) -> std::io::Result<Vec<u8>> {
        match self.at {
            Some((fd, name)) => rustix::fs::readlinkat(fd, name, Vec::new())
                .map(|t| t.into_bytes())
                .map_err(std::io::Error::from),
            None => std::fs::read_link(self.path).map(|t| t.into_os_string().into_encoded_bytes()),
        }
    }
}

/// The list entry for the file at `at`, or `None` when it is not sent: a skipped type, or a
/// file that cannot be examined (reported as rsync's sender does, and recorded in `errors`).
fn entry_for(
    name: Vec<u8>,
    at: &Located<'_>,
    opts: &TransferOptions,
    failure: SenderFailure,
    errors: &mut SenderErrors,
) -> Result<Option<FileEntry>, WireError> {
    let path = at.path;
    // -L: a symlink is sent as what it points to.
    let md = match at.stat(opts.copy_links) {
        Ok(md) => md,
        Err(_) if opts.copy_links && at.stat(false).is_ok() => {
            eprintln!("symlink has no referent: {}", quoted_full_name(path));
            errors.io_error |= IOERR_GENERAL;
            return Ok(None);
        }
        Err(e) => {
            errors.record(failure, path, &e);
            return Ok(None);
        }
    };
    let mut e = FileEntry {
        name,
        mode: md.mode,
        size: md.size as i64,
        mtime: md.mtime,
        mtime_nsec: md.mtime_nsec,
        uid: md.uid,
        gid: md.gid,
        ..FileEntry::default()
    };
    if e.is_symlink() {
        if !opts.links {
            return Ok(None); // rsync: "skipping non-regular file"
        }
        let t = match at.read_link() {
            Ok(t) => t,
            Err(err) => {
                errors.record(failure, path, &err);
                return Ok(None);
            }
        };
        e.size = t.len() as i64;
        e.link_target = Some(t);
    } else if e.is_device() {
        if !opts.devices {
            return Ok(None);
        }
        e.rdev = Some(split_rdev(md.rdev));
        e.size = 0;
    } else if e.is_special() {
        if !opts.specials {
            return Ok(None);
        }
        e.size = 0;
    } else if e.is_dir() {
        // Directories carry their st_size.
    } else if !e.is_regular() {
        return Ok(None);
    }
    if opts.hard_links && !e.is_dir() && md.nlink > 1 {
        e.hard_link = Some(HardLinkInfo::DevIno(md.dev as i64, md.ino as i64));
    }
    Ok(Some(e))
}

/// The top-level entry of one source argument.
pub(crate) struct TopEntry {
    /// The entry, with `XMIT_TOP_DIR` on a directory.
    pub local: LocalEntry,
    /// `dir/` (or `.`): the entry is `.` and the directory's contents follow it.
    pub dot_dir: bool,
}

/// The top-level entry for `src` (`dir/` sends `.`, `dir` sends `dir`, a file its
/// basename); `None` when it is not sent (a directory without `-r`/`-d`, a skipped type).
///
/// A source that cannot be examined is reported (rsync's `link_stat … failed`), added to
/// `io_error` and skipped: the other sources are still sent.
pub(crate) fn top_entry(
    src: &Path,
    opts: &TransferOptions,
    errors: &mut SenderErrors,
) -> Result<Option<TopEntry>, WireError> {
    let s = src.as_os_str().as_encoded_bytes();
    let trailing = s.ends_with(b"/");
    let md = match std::fs::symlink_metadata(src) {
        Ok(md) => md,
        Err(e) => {
            errors.record(SenderFailure::TopLevel, src, &e);
            return Ok(None);
        }
    };
    let dot_dir = md.is_dir() && (trailing || s == b"." || s.ends_with(b"/."));
    let top_name: Vec<u8> = if dot_dir {
        b".".to_vec()
    } else {
        let trimmed = s.strip_suffix(b"/").unwrap_or(s);
        trimmed
            .rsplit(|b| *b == b'/')
            .next()
            .unwrap_or(trimmed)
            .to_vec()
    };
    let at = Located {
        path: src,
        at: None,
    };
    let Some(mut top) = entry_for(top_name, &at, opts, SenderFailure::TopLevel, errors)? else {
        return Ok(None);
    };
    if top.is_dir() {
        if !opts.recursive && !opts.dirs {
            return Ok(None); // rsync: "skipping directory"
        }
        top.xflags |= XMIT_TOP_DIR;
    }
    Ok(Some(TopEntry {
        local: LocalEntry {
            entry: top,
            path: src.to_path_buf(),
        },
        dot_dir,
    }))
}

/// The identity (device, inode) of the directory at `path`, following symlinks.
pub(crate) fn dir_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok()
}

/// Scans `sources` in rsync's manner: `dir/` sends `.` and the contents, `dir` sends
/// `dir` and `dir/…`, a file sends its basename. Also returns what could not be read (each
/// reported on stderr and left out).
pub fn scan_sources(
    sources: &[PathBuf],
    opts: &TransferOptions,
) -> Result<(Vec<LocalEntry>, SenderErrors), WireError> {
    let chain = opts.filter_chain();
    let mut out = Vec::new();
    let mut errors = SenderErrors::default();
    for src in sources {
        let Some(TopEntry { local, dot_dir }) = top_entry(src, opts, &mut errors)? else {
            continue;
        };
        let is_dir = local.entry.is_dir();
        let prefix = if dot_dir {
            Vec::new()
        } else {
            local.entry.name.clone()
        };
        out.push(local);
        if is_dir && opts.recursive {
            let mut ancestors: Vec<(u64, u64)> = dir_identity(src).into_iter().collect();
            let chain = dir_chain(&chain, src, &prefix)?;
            let mut walk = Walk {
                opts,
                ancestors: &mut ancestors,
                out: &mut out,
                errors: &mut errors,
            };
            walk.scan_dir(src, &prefix, &chain, true)?;
        } else if is_dir && opts.dirs && dot_dir {
            // -d with `dir/`: the directory's own entries, without recursing; the
            // sub-directories are sent as "no content" directories.
            let chain = dir_chain(&chain, src, &[])?;
            let mut walk = Walk {
                opts,
                ancestors: &mut Vec::new(),
                out: &mut out,
                errors: &mut errors,
            };
            walk.scan_dir(src, &[], &chain, false)?;
        }
    }
    Ok((out, errors))
}

/// One depth-first walk of a source directory.
struct Walk<'a> {
    opts: &'a TransferOptions,
    /// Identities of the directories on the way down (a loop is never entered).
    ancestors: &'a mut Vec<(u64, u64)>,
    out: &'a mut Vec<LocalEntry>,
    errors: &'a mut SenderErrors,
}

impl Walk<'_> {
    fn scan_dir(
        &mut self,
        dir: &Path,
        prefix: &[u8],
        chain: &FilterChain,
        recurse: bool,
    ) -> Result<(), WireError> {
        let start = self.out.len();
        read_dir_level(
            dir,
            prefix,
            self.opts,
            chain,
            recurse,
            self.ancestors,
            self.out,
            self.errors,
        )?;
        if !recurse {
            return Ok(());
        }
        let subdirs: Vec<(PathBuf, Vec<u8>)> = self
            .out
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.entry.is_dir())
            .map(|e| (e.path.clone(), e.entry.name.clone()))
            .collect();
        for (path, name) in subdirs {
            // With -L a symlinked directory may lead back to an ancestor: never descend
            // into a directory that is already on the way down.
            let Some(id) = enter_dir(&path, &name, self.ancestors) else {
                continue;
            };
            if let Some(id) = id {
                self.ancestors.push(id);
            }
            let sub_chain = dir_chain(chain, &path, &name)?;
            let r = self.scan_dir(&path, &name, &sub_chain, true);
            if id.is_some() {
                self.ancestors.pop();
            }
            r?;
        }
        Ok(())
    }
}

/// Whether to descend into the directory `path` (named `name` in the list) below
/// `ancestors`: `None` (with rsync's message) for a directory loop or an overlong name,
/// else the directory's identity, if it can be read.
pub(crate) fn enter_dir(
    path: &Path,
    name: &[u8],
    ancestors: &[(u64, u64)],
) -> Option<Option<(u64, u64)>> {
    let id = dir_identity(path);
    if id.is_some_and(|id| ancestors.contains(&id)) || name.len() >= crate::flist::MAX_PATH_LEN {
        eprintln!("skipping directory loop: {}", path.display());
        return None;
    }
    Some(id)
}

/// The entries of one directory level (`flist.c: send_directory` without recursing):
/// names below `prefix`, filtered by `chain`, in name order. With `recurse` the
/// sub-directories are content directories (and one leading back to `ancestors` is
/// skipped); without it they are sent as "no content" directories. A directory that
/// cannot be read, or an entry that cannot be examined, is reported and added to
/// `io_error`, as rsync's sender does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_dir_level(
    dir: &Path,
    prefix: &[u8],
    opts: &TransferOptions,
    chain: &FilterChain,
    recurse: bool,
    ancestors: &[(u64, u64)],
    out: &mut Vec<LocalEntry>,
    errors: &mut SenderErrors,
) -> Result<(), WireError> {
    // The directory entry's type (d_type) tells a directory without a stat call.
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) => {
            errors.record(SenderFailure::Directory, dir, &e);
            return Ok(());
        }
    };
    // The entries are examined relative to the directory (no walk of the whole path).
    let dir_fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok();
    let mut names: Vec<_> = listing
        .filter_map(Result::ok)
        .map(|d| (d.file_name(), d.file_type().ok()))
        .collect();
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (n, file_type) in names {
        let nb = n.as_encoded_bytes();
        let mut name = prefix.to_vec();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(nb);
        let is_dir = if opts.copy_links {
            std::fs::metadata(dir.join(&n)).is_ok_and(|m| m.is_dir())
        } else {
            match file_type {
                Some(t) => t.is_dir(),
                None => std::fs::symlink_metadata(dir.join(&n)).is_ok_and(|m| m.is_dir()),
            }
        };
        if chain.is_excluded(&name, is_dir) {
            continue;
        }
        let path = dir.join(&n);
        let at = Located {
            path: &path,
            at: dir_fd
                .as_ref()
                .map(|fd| (std::os::fd::AsFd::as_fd(fd), n.as_os_str())),
        };
        if let Some(mut e) = entry_for(name, &at, opts, SenderFailure::Entry, errors)? {
            if e.is_dir() && recurse {
                let id = std::fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
                if id.is_some_and(|id| ancestors.contains(&id)) {
                    eprintln!("skipping directory loop: {}", path.display());
                    continue;
                }
            }
            if e.is_dir() && !recurse {
                e.xflags |= crate::flist::XMIT_NO_CONTENT_DIR;
            }
            out.push(LocalEntry { entry: e, path });
        }
    }
    Ok(())
}

/// The rules in force in the source directory `dir` (`rel` below the transfer root):
/// with `dir-merge` rules, the chain reads that directory's merge files, as rsync's
/// sender does; a malformed one stops the transfer (exit 1, like rsync).
pub(crate) fn dir_chain(
    chain: &FilterChain,
    dir: &Path,
    rel: &[u8],
) -> Result<FilterChain, WireError> {
    if !chain.has_dir_merge() {
        return Ok(chain.clone());
    }
    let Ok(fd) = rdsync_engine::fs::DirFd::open_path(dir.as_os_str().as_encoded_bytes()) else {
        return Ok(chain.clone());
    };
    let sub = chain.for_dir(&fd, rel);
    if let Some(e) = sub.error() {
        return Err(WireError::Syntax(e.to_string()));
    }
    Ok(sub)
}

/// Whether `m` is a directory mode.
pub fn is_dir_mode(m: u32) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}
