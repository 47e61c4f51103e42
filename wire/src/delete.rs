//! `--delete` as the pulling client (rsync's generator): which names each directory of
//! the file list keeps, what goes from the destination, and when
//! (`--delete-before`, `-during`, `-delay`, `-after`). Directories are opened from the
//! destination root one component at a time without following symlinks; deletions are
//! made and reported in rsync's order (reverse name order, a directory's contents
//! first), and as in rsync's `delete_dir_contents` a protected name inside a deleted
//! directory stays, and so does the directory.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rdsync_engine::filter::FilterChain;
use rdsync_engine::flist::{compare_names, compare_names_proto28};
use rdsync_engine::fs::{DirFd, FileKind};

use crate::flist::FileEntry;
use crate::options::{DeleteWhen, TransferOptions};

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut v = dir.to_vec();
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

/// The deletion side of one pull.
#[derive(Debug)]
pub(crate) struct PullDeleter {
    /// When deletions happen (after the protocol's default is resolved).
    pub when: DeleteWhen,
    chain: FilterChain,
    delete_excluded: bool,
    dry_run: bool,
    /// Directory name (relative to the root, `""` for the root) → names it keeps.
    keep: HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    /// Below protocol 29 names sort as plain bytes.
    old_sort: bool,
    /// `--delete-delay`: (directory, name, is a directory) found while walking.
    delayed: Vec<(Vec<u8>, Vec<u8>, bool)>,
}

impl PullDeleter {
    /// The deleter for the sorted, de-duplicated list `entries` (`active` marks the
    /// entries kept by `clean_duplicates`).
    pub fn new(
        opts: &TransferOptions,
        protocol: u32,
        entries: &[FileEntry],
        active: &[bool],
    ) -> Self {
        let mut d = PullDeleter {
            when: opts.effective_delete_when(protocol),
            chain: rdsync_engine::filter::FilterChain::new(opts.filter_rules()),
            delete_excluded: opts.delete_excluded,
            dry_run: opts.dry_run,
            keep: HashMap::new(),
            old_sort: protocol < 29,
            delayed: Vec::new(),
        };
        d.add_names(entries, active);
        d
    }

    /// Adds the names of a further (incremental) list: each directory keeps what the
    /// sender listed in it.
    pub fn add_names(&mut self, entries: &[FileEntry], active: &[bool]) {
        for (e, a) in entries.iter().zip(active) {
            if !*a || e.name == b"." {
                continue;
            }
            let name = e.name.strip_suffix(b"/").unwrap_or(&e.name);
            let (parent, base) = match name.iter().rposition(|c| *c == b'/') {
                Some(at) => (
                    name.get(..at).unwrap_or_default(),
                    name.get(at + 1..).unwrap_or_default(),
                ),
                None => (&b""[..], name),
            };
            self.keep
                .entry(parent.to_vec())
                .or_default()
                .insert(base.to_vec());
        }
    }

    /// Whether entry `e` is a directory whose extraneous entries are deleted: a directory
    /// sent with its contents, in a recursive transfer.
    pub fn is_content_dir(e: &FileEntry, opts: &TransferOptions, protocol: u32) -> bool {
        e.is_dir()
            && opts.recursive
            && !(protocol >= 30 && e.xflags & crate::flist::XMIT_NO_CONTENT_DIR != 0)
    }

    /// Deletes what the sender does not have from the destination directory of entry
    /// `e` under `root`; returns the deleted names with their kinds, in rsync's order
    /// (with `--delete-delay` they are only noted, for [`PullDeleter::run_delayed`]).
    /// A directory that is missing has nothing to delete; one that cannot be opened
    /// (`opendir` failing otherwise, e.g. a file kept in its place) is an error.
    pub fn delete_in(
        &mut self,
        root: &Path,
        e: &FileEntry,
    ) -> Result<Vec<(String, FileKind)>, std::io::Error> {
        let rel: &[u8] = if e.name == b"." { b"" } else { &e.name };
        let (dir, chain) = match self.open_dir(root, rel) {
            Ok(opened) => opened,
            Err(errno) if errno == libc::ENOENT => return Ok(Vec::new()),
            Err(errno) => return Err(std::io::Error::from_raw_os_error(errno)),
        };
        let empty = HashSet::new();
        let keep = self.keep.get(rel).unwrap_or(&empty);
        let mut extra = Vec::new();
        for (name, is_dir) in self.children(&dir) {
            if keep.contains(&name) || chain.is_protected(&join(rel, &name), is_dir) {
                continue;
            }
            extra.push((name, is_dir));
        }
        let mut deleted = Vec::new();
        for (name, is_dir) in extra.into_iter().rev() {
            if self.when == DeleteWhen::Delay {
                // Decided now (with the filter files as they are now), done at the end.
                self.delayed.push((rel.to_vec(), name, is_dir));
                continue;
            }
            let full = join(rel, &name);
            self.delete_item(&dir, &name, &full, is_dir, &chain, true, &mut deleted);
        }
        Ok(deleted)
    }

    /// `--delete-delay`, at the end of the transfer: deletes what was found while walking.
    pub fn run_delayed(&mut self, root: &Path) -> Vec<(String, FileKind)> {
        let mut deleted = Vec::new();
        for (rel, name, is_dir) in std::mem::take(&mut self.delayed) {
            if let Ok((dir, chain)) = self.open_dir(root, &rel) {
                let full = join(&rel, &name);
                self.delete_item(&dir, &name, &full, is_dir, &chain, true, &mut deleted);
            }
        }
        deleted
    }

    /// The entries of `dir` with whether each is a directory, in rsync's name order.
    fn children(&self, dir: &DirFd) -> Vec<(Vec<u8>, bool)> {
        let mut names: Vec<(Vec<u8>, bool)> = dir
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|n| {
                let is_dir = dir.lstat(&n).is_ok_and(|s| s.kind() == FileKind::Dir);
                (n, is_dir)
            })
            .collect();
        if self.old_sort {
            names.sort_by(|a, b| compare_names_proto28(&a.0, &b.0));
        } else {
            names.sort_by(|a, b| compare_names(&a.0, a.1, &b.0, b.1));
        }
        names
    }

    /// rsync's `delete_item`: removes `name` (at `full` below the root) from `dir`, a
    /// directory's unprotected contents first; returns whether it is gone. `top`: the
    /// first call, which (as rsync) keeps quiet about a directory left non-empty.
    #[allow(clippy::too_many_arguments)]
    fn delete_item(
        &self,
        dir: &DirFd,
        name: &[u8],
        full: &[u8],
        is_dir: bool,
        chain: &FilterChain,
        top: bool,
        deleted: &mut Vec<(String, FileKind)>,
    ) -> bool {
        if is_dir {
            let Ok(sub) = dir.open_subdir(name) else {
                return false;
            };
            let mut sub_chain = if chain.has_dir_merge() {
                chain.for_dir(&sub, full)
            } else {
                chain.clone()
            };
            if self.delete_excluded && chain.has_dir_merge() {
                sub_chain = sub_chain.into_delete_excluded();
            }
            let mut emptied = true;
            for (child, child_is_dir) in self.children(&sub).iter().rev() {
                let child_full = join(full, child);
                if sub_chain.is_protected(&child_full, *child_is_dir) {
                    emptied = false;
                    continue;
                }
                emptied &= self.delete_item(
                    &sub,
                    child,
                    &child_full,
                    *child_is_dir,
                    &sub_chain,
                    false,
                    deleted,
                );
            }
            if !emptied && (top || self.dry_run) {
                return false;
            }
        }
        let kind = if is_dir {
            FileKind::Dir
        } else {
            dir.lstat(name)
                .map(|st| st.kind())
                .unwrap_or(FileKind::File)
        };
        if !self.dry_run {
            let removed = if is_dir {
                dir.rmdir(name)
            } else {
                dir.unlink(name)
            };
            if let Err(e) = removed {
                if is_dir && e.errno.raw_os_error() == libc::ENOTEMPTY {
                    println!(
                        "cannot delete non-empty directory: {}",
                        String::from_utf8_lossy(full)
                    );
                } else if e.errno.raw_os_error() != libc::ENOENT {
                    eprintln!("rsync: delete_file: {e}");
                }
                return false;
            }
        }
        deleted.push((String::from_utf8_lossy(full).into_owned(), kind));
        true
    }

    /// Opens the destination directory `rel` below `root` without following symlinks,
    /// with the receiver's rules in force there (per-directory merge files are read from
    /// the destination, as rsync's receiver does).
    fn open_dir(&self, root: &Path, rel: &[u8]) -> Result<(DirFd, FilterChain), i32> {
        let errno = |e: rdsync_engine::fs::FsError| e.errno.raw_os_error();
        let mut dir = DirFd::open_path(root.as_os_str().as_bytes()).map_err(errno)?;
        let merge = self.chain.has_dir_merge();
        let mut chain = if merge {
            self.chain.for_dir(&dir, b"")
        } else {
            self.chain.clone()
        };
        let mut prefix: Vec<u8> = Vec::new();
        for comp in rel
            .split(|c| *c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            dir = dir.open_subdir(comp).map_err(errno)?;
            if merge {
                chain = chain.for_dir(&dir, &prefix);
            }
        }
        if self.delete_excluded {
            chain = chain.into_delete_excluded();
        }
        Ok((dir, chain))
    }
}
