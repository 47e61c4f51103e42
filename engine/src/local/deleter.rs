//! Removal of destination entries that are not in the source (`--delete`).

use std::collections::HashSet;

use crate::filter::FilterChain;
use crate::flist::{FileEntry, compare_names};
use crate::fs::{DirFd, FileKind};

use super::event::DeleteEvent;

/// The basenames of the direct children of the directory entry at `dir_idx` (whose subtree is
/// contiguous after it in the sorted list).
pub(crate) fn source_children(entries: &[FileEntry], dir_idx: usize) -> HashSet<Vec<u8>> {
    let dir_name: &[u8] = if &*entries[dir_idx].name == b"." {
        b""
    } else {
        &entries[dir_idx].name
    };
    let mut out = HashSet::new();
    for e in &entries[dir_idx + 1..] {
        let rel: &[u8] = if dir_name.is_empty() {
            &e.name
        } else if e.name.len() > dir_name.len()
            && e.name.starts_with(dir_name)
            && e.name[dir_name.len()] == b'/'
        {
            &e.name[dir_name.len() + 1..]
        } else {
            // Entries of several sources may interleave; keep scanning top-level ones only
            // for the root, stop at the end of this subtree otherwise.
            if dir_name.is_empty() {
                continue;
            }
            break;
        };
        if !rel.contains(&b'/') {
            out.insert(rel.to_vec());
        }
    }
    out
}

/// What deleting an extraneous entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// The entry was deleted (or would be, in a dry run).
    Deleted(DeleteEvent),
    /// A directory was kept because something protected inside it was kept (rsync: "cannot
    /// delete non-empty directory").
    KeptNonEmpty(Vec<u8>),
}

/// Deletes from `dir` (the destination directory `dir_rel`) every entry not in `keep`,
/// unless protected by the receiver-side filter rules — also inside a deleted directory,
/// which is then kept. Deletions are reported through `report` in rsync's order (reverse
/// sorted, children before their directory).
pub fn delete_extraneous(
    dir: &DirFd,
    dir_rel: &[u8],
    keep: &HashSet<Vec<u8>>,
    filters: &FilterChain,
    dry_run: bool,
    report: &mut dyn FnMut(Deletion),
    on_error: &mut dyn FnMut(String),
) {
    let names = match dir.list() {
        Ok(n) => n,
        Err(e) => {
            on_error(format!("{e}"));
            return;
        }
    };
    let mut extra: Vec<(Vec<u8>, bool)> = Vec::new();
    for name in names {
        if keep.contains(&name) {
            continue;
        }
        let is_dir = dir
            .lstat(&name)
            .map(|s| s.kind() == FileKind::Dir)
            .unwrap_or(false);
        let full = join(dir_rel, &name);
        if filters.is_protected(&full, is_dir) {
            continue;
        }
        extra.push((name, is_dir));
    }
    extra.sort_by(|a, b| compare_names(&a.0, a.1, &b.0, b.1));
    for (name, is_dir) in extra.iter().rev() {
        let full = join(dir_rel, name);
        if let Err(e) = delete_entry(dir, name, &full, *is_dir, filters, dry_run, report) {
            on_error(format!("delete_file: {e}"));
        }
    }
}

/// Deletes the extraneous entry `name` in `dir` (`full` from the destination root) as rsync's
/// `delete_item` does: a directory's contents first, in rsync's order, keeping what the rules
/// protect; a directory left non-empty is kept and reported.
fn delete_entry(
    dir: &DirFd,
    name: &[u8],
    full: &[u8],
    is_dir: bool,
    filters: &FilterChain,
    dry_run: bool,
    report: &mut dyn FnMut(Deletion),
) -> crate::fs::FsResult<bool> {
    if is_dir && !delete_dir_contents(dir, name, full, filters, dry_run, report)? {
        return Ok(false);
    }
    remove_one(dir, name, full, is_dir, dry_run, report)
}

/// rsync's `delete_dir_contents`: deletes what directory `name` holds, children before their
/// directory; returns whether it is now empty, saying "cannot delete non-empty directory"
/// when it is not. As in rsync, a nested directory is then removed even when its contents
/// said it was not empty (the `rmdir` fails and says so again; a dry run reports it deleted).
fn delete_dir_contents(
    dir: &DirFd,
    name: &[u8],
    full: &[u8],
    filters: &FilterChain,
    dry_run: bool,
    report: &mut dyn FnMut(Deletion),
) -> crate::fs::FsResult<bool> {
    let sub = dir.open_subdir(name)?;
    let children = sorted_children(&sub)?;
    let mut empty = true;
    for (child, child_is_dir) in children.iter().rev() {
        let child_full = join(full, child);
        if filters.is_protected(&child_full, *child_is_dir) {
            empty = false;
            continue;
        }
        if *child_is_dir
            && !delete_dir_contents(&sub, child, &child_full, filters, dry_run, report)?
        {
            empty = false;
        }
        if !remove_one(&sub, child, &child_full, *child_is_dir, dry_run, report)? {
            empty = false;
        }
    }
    if !empty {
        report(Deletion::KeptNonEmpty(full.to_vec()));
    }
    Ok(empty)
}

/// Unlinks a file or removes an (emptied) directory, reporting it; a directory that is not
/// empty is reported as kept. A dry run removes nothing and reports everything deleted.
fn remove_one(
    dir: &DirFd,
    name: &[u8],
    full: &[u8],
    is_dir: bool,
    dry_run: bool,
    report: &mut dyn FnMut(Deletion),
) -> crate::fs::FsResult<bool> {
    let kind = if is_dir {
        FileKind::Dir
    } else {
        dir.lstat(name).map(|s| s.kind()).unwrap_or(FileKind::File)
    };
    if !dry_run {
        let removed = if is_dir {
            dir.rmdir(name)
        } else {
            dir.unlink(name)
        };
        match removed {
            Ok(()) => {}
            Err(e) if is_dir && e.errno == rustix::io::Errno::NOTEMPTY => {
                report(Deletion::KeptNonEmpty(full.to_vec()));
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    report(Deletion::Deleted(DeleteEvent {
        name: full.to_vec(),
        kind,
    }));
    Ok(true)
}

/// Reports what deleting `name` would delete (children first), without deleting.
pub(crate) fn report_tree(
    dir: &DirFd,
    name: &[u8],
    full: &[u8],
    is_dir: bool,
    report: &mut dyn FnMut(DeleteEvent),
) {
    if is_dir {
        if let Ok(sub) = dir.open_subdir(name) {
            let kids = sorted_children(&sub).unwrap_or_default();
            for (k, d) in kids.iter().rev() {
                report_tree(&sub, k, &join(full, k), *d, report);
            }
        }
        report(DeleteEvent {
            name: full.to_vec(),
            kind: FileKind::Dir,
        });
    } else {
        let kind = dir.lstat(name).map(|s| s.kind()).unwrap_or(FileKind::File);
        report(DeleteEvent {
            name: full.to_vec(),
            kind,
        });
    }
}

/// The entries of `dir` with whether each is a directory, in rsync's file-list order.
fn sorted_children(dir: &DirFd) -> crate::fs::FsResult<Vec<(Vec<u8>, bool)>> {
    let mut children: Vec<(Vec<u8>, bool)> = dir
        .list()?
        .into_iter()
        .map(|n| {
            let is_dir = dir
                .lstat(&n)
                .map(|s| s.kind() == FileKind::Dir)
                .unwrap_or(false);
            (n, is_dir)
        })
        .collect();
    children.sort_by(|a, b| compare_names(&a.0, a.1, &b.0, b.1));
    Ok(children)
}

pub(crate) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        let mut v = dir.to_vec();
        if !dir.ends_with(b"/") {
            v.push(b'/');
        }
        v.extend_from_slice(name);
        v
    }
}
