//! The source-tree walker: reads directories through held fds (never following a symlink
//! below the named source), applies the filter rules, and scans sub-directories in parallel.

use rayon::prelude::*;

use crate::filter::FilterChain;
use crate::fs::{DirFd, FileKind, FsError, Stat};

use super::entry::FileEntry;

/// One source argument, split the way rsync splits it.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    /// The directory that entry names are relative to.
    pub base: Vec<u8>,
    /// The top-level name: `None` for a `src/` source (its contents are sent, with `.` for
    /// `src` itself), `Some(basename)` otherwise.
    pub top: Option<Vec<u8>>,
    /// The argument as the user wrote it (for messages).
    pub arg: Vec<u8>,
}

impl SourceRoot {
    /// Splits a source argument: a trailing `/` (or a final `.` component) sends the contents.
    pub fn parse(arg: &[u8]) -> Self {
        // A trailing slash, or a final `.` or `..`, sends the directory's contents.
        let contents = arg.ends_with(b"/")
            || arg == b"."
            || arg == b".."
            || arg.ends_with(b"/.")
            || arg.ends_with(b"/..")
            || arg.is_empty();
        if contents {
            let base = if arg.is_empty() {
                b".".to_vec()
            } else {
                arg.to_vec()
            };
            return Self {
                base,
                top: None,
                arg: arg.to_vec(),
            };
        }
        // The last component, and what is before its `/` (if any).
        let mut parts = arg.rsplitn(2, |&b| b == b'/');
        let top = parts.next().unwrap_or(arg);
        let base: &[u8] = match parts.next() {
            Some(b"") => b"/",
            Some(dir) => dir,
            None => b".",
        };
        Self {
            base: base.to_vec(),
            top: Some(top.to_vec()),
            arg: arg.to_vec(),
        }
    }
}

/// What the walker includes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Recurse into directories (`-r`).
    pub recursive: bool,
    /// Send a directory named without `-r` as a directory entry (`-d`); otherwise it is
    /// skipped with a message.
    pub dirs: bool,
}

/// A problem met while scanning; the scan goes on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScanError {
    /// A file disappeared between readdir and lstat (rsync exit code 24).
    #[error("file has vanished: \"{}\"", String::from_utf8_lossy(.0))]
    Vanished(Vec<u8>),
    /// An I/O error (exit code 23).
    #[error("{0}")]
    Io(FsError),
    /// A malformed per-directory filter file (fatal, exit code 1, as in rsync).
    #[error("{0}")]
    Filter(crate::filter::FilterError),
    /// A directory was named without `-r`/`-d`.
    #[error("skipping directory {}", String::from_utf8_lossy(.0))]
    SkippedDir(Vec<u8>),
}

/// The result of scanning one source argument.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// The entries, in scan order (not yet sorted).
    pub entries: Vec<FileEntry>,
    /// Non-fatal problems.
    pub errors: Vec<ScanError>,
    /// Whether the source argument itself is missing or unreadable (rsync's `link_stat`
    /// failure, exit code 23).
    pub root_error: Option<FsError>,
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() || dir == b"." {
        name.to_vec()
    } else {
        let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
        v.extend_from_slice(dir);
        v.push(b'/');
        v.extend_from_slice(name);
        v
    }
}

fn make_entry(
    dir: &DirFd,
    name: &[u8],
    rel: Vec<u8>,
    st: Stat,
    source: u32,
    top: bool,
) -> Result<FileEntry, FsError> {
    let link_target = if st.kind() == FileKind::Symlink {
        Some(dir.readlink(name)?.into_boxed_slice())
    } else {
        None
    };
    Ok(FileEntry {
        name: rel.into_boxed_slice(),
        link_target,
        stat: st,
        source,
        scan_order: 0,
        top,
        content_dir: true,
    })
}

/// Scans one source argument into file-list entries.
pub fn scan_source(
    root: &SourceRoot,
    source: u32,
    options: &ScanOptions,
    filters: &FilterChain,
) -> ScanResult {
    let mut result = ScanResult::default();
    match &root.top {
        None => {
            let dir = match DirFd::open_path(&root.base) {
                Ok(d) => d,
                Err(e) => {
                    // rsync reports a missing `src/` as a failed change_dir.
                    let mut shown = root.arg.clone();
                    while shown.len() > 1 && shown.ends_with(b"/") {
                        shown.pop();
                    }
                    result.root_error = Some(FsError::new("change_dir", &shown, e.errno));
                    return result;
                }
            };
            let st = match dir.stat_self() {
                Ok(st) => st,
                Err(e) => {
                    result.root_error = Some(e);
                    return result;
                }
            };
            if !options.recursive && !options.dirs {
                result.errors.push(ScanError::SkippedDir(b".".to_vec()));
                return result;
            }
            result.entries.push(FileEntry {
                name: b".".to_vec().into_boxed_slice(),
                link_target: None,
                stat: st,
                source,
                scan_order: 0,
                top: true,
                content_dir: true,
            });
            {
                // `src/` sends the contents: all of them with -r, one level with -d.
                let chain = filters.for_dir(&dir, b"");
                if let Some(e) = chain.error() {
                    result.errors.push(ScanError::Filter(e.clone()));
                    return result;
                }
                scan_dir(&dir, b"", source, &chain, options.recursive, &mut result);
            }
        }
        Some(top) => {
            let base = match DirFd::open_path(&root.base) {
                Ok(d) => d,
                Err(e) => {
                    result.root_error = Some(FsError::new("link_stat", &root.arg, e.errno));
                    return result;
                }
            };
            let st = match base.lstat(top) {
                Ok(st) => st,
                Err(e) => {
                    result.root_error = Some(FsError::new("link_stat", &root.arg, e.errno));
                    return result;
                }
            };
            let is_dir = st.kind() == FileKind::Dir;
            if filters.is_excluded(top, is_dir) {
                return result;
            }
            if is_dir && !options.recursive && !options.dirs {
                result.errors.push(ScanError::SkippedDir(top.clone()));
                return result;
            }
            match make_entry(&base, top, top.clone(), st, source, true) {
                Ok(mut e) => {
                    e.content_dir = options.recursive;
                    result.entries.push(e);
                }
                Err(e) => {
                    result.errors.push(ScanError::Io(e));
                    return result;
                }
            }
            if is_dir && options.recursive {
                match base.open_subdir(top) {
                    Ok(dir) => {
                        let chain = filters.for_dir(&dir, top);
                        if let Some(e) = chain.error() {
                            result.errors.push(ScanError::Filter(e.clone()));
                            return result;
                        }
                        scan_dir(&dir, top, source, &chain, true, &mut result);
                    }
                    Err(e) => result.errors.push(ScanError::Io(e)),
                }
            }
        }
    }
    for (i, e) in result.entries.iter_mut().enumerate() {
        e.scan_order = u32::try_from(i).unwrap_or(u32::MAX);
    }
    result
}

/// Directories with more names than this are examined in parallel.
const PARALLEL_NAMES: usize = 256;

/// What one directory entry turned out to be.
enum Examined {
    /// Excluded by the filters.
    Skip,
    /// A problem to report.
    Error(ScanError),
    /// A file-list entry.
    Entry(FileEntry),
}

fn examine_name(
    dir: &DirFd,
    rel: &[u8],
    name: &[u8],
    source: u32,
    filters: &FilterChain,
    recurse: bool,
) -> Examined {
    let st = match dir.lstat(name) {
        Ok(st) => st,
        Err(e) if e.is_not_found() => return Examined::Error(ScanError::Vanished(join(rel, name))),
        Err(e) => {
            return Examined::Error(ScanError::Io(FsError::new(
                "readlink_stat",
                &join(rel, name),
                e.errno,
            )));
        }
    };
    let path = join(rel, name);
    let is_dir = st.kind() == FileKind::Dir;
    if filters.is_excluded(&path, is_dir) {
        return Examined::Skip;
    }
    match make_entry(dir, name, path, st, source, false) {
        Ok(mut e) => {
            e.content_dir = recurse || !is_dir;
            Examined::Entry(e)
        }
        Err(e) if e.is_not_found() => Examined::Error(ScanError::Vanished(join(rel, name))),
        Err(e) => Examined::Error(ScanError::Io(e)),
    }
}

fn scan_dir(
    dir: &DirFd,
    rel: &[u8],
    source: u32,
    filters: &FilterChain,
    recurse: bool,
    out: &mut ScanResult,
) {
    let names = match dir.list() {
        Ok(n) => n,
        Err(e) => {
            out.errors
                .push(ScanError::Io(FsError::new("opendir", rel, e.errno)));
            return;
        }
    };
    // Examine the names (lstat, filters, readlink) in parallel for big directories; the
    // results keep readdir order.
    let examine = |name: &Vec<u8>| examine_name(dir, rel, name, source, filters, recurse);
    let examined: Vec<Examined> = if names.len() > PARALLEL_NAMES {
        names.par_iter().with_min_len(64).map(examine).collect()
    } else {
        names.iter().map(examine).collect()
    };
    let mut subdirs: Vec<Vec<u8>> = Vec::new();
    for (name, found) in names.into_iter().zip(examined) {
        match found {
            Examined::Skip => {}
            Examined::Error(e) => out.errors.push(e),
            Examined::Entry(e) => {
                let descend = e.is_dir() && recurse;
                out.entries.push(e);
                if descend {
                    subdirs.push(name);
                }
            }
        }
    }
    let results: Vec<ScanResult> = subdirs
        .par_iter()
        .map(|name| {
            let mut sub = ScanResult::default();
            let path = join(rel, name);
            match dir.open_subdir(name) {
                Ok(subdir) => {
                    let chain = filters.for_dir(&subdir, &path);
                    if let Some(e) = chain.error() {
                        sub.errors.push(ScanError::Filter(e.clone()));
                        return sub;
                    }
                    scan_dir(&subdir, &path, source, &chain, true, &mut sub);
                }
                Err(e) if e.is_not_found() => sub.errors.push(ScanError::Vanished(path)),
                Err(e) => sub
                    .errors
                    .push(ScanError::Io(FsError::new("opendir", &path, e.errno))),
            }
            sub
        })
        .collect();
    for sub in results {
        out.entries.extend(sub.entries);
        out.errors.extend(sub.errors);
    }
}
