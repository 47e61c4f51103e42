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

/// Deletes from `dir` (the destination directory `dir_rel`) every entry not in `keep`,
/// unless protected by the receiver-side filter rules. Deletions are reported through
/// `report` in rsync's order (reverse sorted, children before their directory).
pub fn delete_extraneous(
    dir: &DirFd,
    dir_rel: &[u8],
    keep: &HashSet<Vec<u8>>,
    filters: &FilterChain,
    dry_run: bool,
    report: &mut dyn FnMut(DeleteEvent),
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
        if dry_run {
            report_tree(dir, name, &full, *is_dir, report);
            continue;
        }
        let mut cb = |rel: &[u8], kind: FileKind| {
            report(DeleteEvent {
                name: join(dir_rel, rel),
                kind,
            });
        };
        if let Err(e) = dir.remove_tree(name, &mut cb) {
            on_error(format!("delete_file: {e}"));
        }
    }
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
            let mut kids: Vec<(Vec<u8>, bool)> = sub
                .list()
                .unwrap_or_default()
                .into_iter()
                .map(|n| {
                    let d = sub
                        .lstat(&n)
                        .map(|s| s.kind() == FileKind::Dir)
                        .unwrap_or(false);
                    (n, d)
                })
                .collect();
            kids.sort_by(|a, b| compare_names(&a.0, a.1, &b.0, b.1));
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

pub(crate) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        let mut v = dir.to_vec();
        v.push(b'/');
        v.extend_from_slice(name);
        v
    }
}
