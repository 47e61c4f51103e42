//! Where the entries go (rsync's `main.c: get_local_name`).

use rustix::io::Errno;

use crate::flist::FileEntry;
use crate::fs::{FileKind, FsError, Root};

use super::event::SyncSink;

/// The resolved destination.
#[derive(Debug)]
pub(crate) struct DestPlan {
    /// The directory entries are written into; `None` during a dry run when it does not exist.
    pub root: Option<Root>,
    /// The single entry is written under this name instead of its own ("mode 2").
    pub rename: Option<Vec<u8>>,
    /// The destination directory was created by this run.
    pub created: bool,
    /// The absolute path of the root (for messages).
    pub root_abs: Vec<u8>,
}

/// Errors that stop the run before any transfer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DestError {
    /// Several entries but the destination is not a directory (exit 3).
    #[error("ERROR: destination must be a directory when copying more than 1 file")]
    NotADirectory,
    /// A directory entry over an existing non-directory (exit 3).
    #[error("ERROR: cannot overwrite non-directory with a directory")]
    DirOverFile,
    /// A trailing-slash destination that exists as a non-directory (exit 1).
    #[error("ERROR: destination path is not a directory")]
    PathNotDirectory,
    /// The destination cannot be examined (exit 3).
    #[error("ERROR: cannot stat destination \"{}\": {}", String::from_utf8_lossy(.0), errno_text(*.1))]
    Stat(Vec<u8>, Errno),
    /// The destination's parent cannot be entered (exit 3).
    #[error("change_dir#3 \"{}\" failed: {}", String::from_utf8_lossy(.0), errno_text(*.1))]
    ChangeDir(Vec<u8>, Errno),
    /// A per-directory filter file is malformed (exit 1); the text is rsync's message.
    #[error("{0}")]
    FilterFile(String),
    /// mkdir of the destination failed (exit 11).
    #[error("mkdir \"{}\" failed: {}", String::from_utf8_lossy(.0), errno_text(*.1))]
    Mkdir(Vec<u8>, Errno),
}

impl DestError {
    /// rsync's exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            DestError::Mkdir(..) => 11,
            DestError::PathNotDirectory | DestError::FilterFile(_) => 1,
            _ => 3,
        }
    }
}

fn errno_text(e: Errno) -> String {
    crate::fs::FsError::new("", b"", e).errno_string()
}

/// rsync's `full_fname`: the path made absolute against the current directory.
pub(crate) fn full_name(path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let mut out = std::env::current_dir()
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default();
    let mut rest = path;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    if !rest.is_empty() && rest != b"." {
        out.push(b'/');
        out.extend_from_slice(rest);
    }
    out
}

fn stat_follow(path: &[u8]) -> Result<crate::fs::Stat, Errno> {
    rustix::fs::stat(path).map(|st| crate::fs::Stat::from_raw(&st))
}

/// Creates the missing directories of `path` (all of it, or without its last component when
/// `drop_name`); returns how many were created.
fn make_path(path: &[u8], drop_name: bool, dry_run: bool) -> Result<usize, DestError> {
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let keep = if drop_name {
        comps.len().saturating_sub(1)
    } else {
        comps.len()
    };
    let mut created = 0;
    let mut prefix: Vec<u8> = Vec::new();
    for (i, comp) in comps.iter().take(keep).enumerate() {
        if i > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(comp);
        if comp.is_empty() || *comp == b"." || *comp == b".." {
            continue;
        }
        match stat_follow(&prefix) {
            Ok(st) if st.kind() == FileKind::Dir => {}
            Ok(_) => return Err(DestError::Mkdir(full_name(&prefix), Errno::NOTDIR)),
            Err(_) if dry_run => created += 1,
            Err(_) => {
                rustix::fs::mkdir(prefix.as_slice(), rustix::fs::Mode::from_raw_mode(0o777))
                    .map_err(|e| DestError::Mkdir(full_name(&prefix), e))?;
                created += 1;
            }
        }
    }
    Ok(created)
}

/// `--mkpath` as rsync's `get_local_name` does it, for a destination `dest` that receives
/// `total` entries: when `dest` does not exist and has a slash (or several entries go into
/// it), creates its missing directories — all of it when it ends in a slash or receives
/// several entries, else all but its last component. Returns how many were created
/// (counted, not made, in a dry run) and the path rsync names in
/// `created N directories for PATH`; `None` when nothing was missing.
pub fn make_dest_path(
    dest: &[u8],
    total: usize,
    dry_run: bool,
) -> Result<Option<(usize, Vec<u8>)>, DestError> {
    let cp = dest.iter().rposition(|&b| b == b'/');
    let trailing_slash = cp == Some(dest.len().saturating_sub(1));
    if stat_follow(dest).is_ok() || (cp.is_none() && total <= 1) {
        return Ok(None);
    }
    let n = make_path(dest, total <= 1 || trailing_slash, dry_run)?;
    if n == 0 {
        return Ok(None);
    }
    let shown = match cp {
        Some(at) if total == 1 || trailing_slash => &dest[..at],
        _ => dest,
    };
    Ok(Some((n, shown.to_vec())))
}

/// Decides where the sorted `entries` go (rsync's `get_local_name`) and creates the
/// destination directory if needed.
pub(crate) fn resolve(
    dest: &[u8],
    entries: &[FileEntry],
    mkpath_opt: bool,
    dry_run: bool,
    sink: &mut dyn SyncSink,
) -> Result<DestPlan, DestError> {
    let dest_path: &[u8] = if dest.is_empty() { b"." } else { dest };
    let total = entries.len();
    let cp = dest_path.iter().rposition(|&b| b == b'/');
    let trailing_slash = cp == Some(dest_path.len() - 1);
    let open =
        |p: &[u8]| Root::open(p).map_err(|e: FsError| DestError::ChangeDir(full_name(p), e.errno));
    let mut st = stat_follow(dest_path);
    let mut mkpath_pending = false;
    if mkpath_opt
        && st.is_err()
        && let Some((n, shown)) = make_dest_path(dest_path, total, dry_run)?
    {
        sink.created_path(n, &shown);
        if dry_run {
            mkpath_pending = true;
        }
        st = stat_follow(dest_path);
    }
    match st {
        Ok(st) if st.kind() == FileKind::Dir => {
            return Ok(DestPlan {
                root: Some(open(dest_path)?),
                rename: None,
                created: false,
                root_abs: full_name(dest_path),
            });
        }
        Ok(_) if total > 1 => return Err(DestError::NotADirectory),
        Ok(_) if entries.first().is_some_and(|e| e.is_dir()) => return Err(DestError::DirOverFile),
        Ok(_) => {}
        Err(Errno::NOENT) => {}
        Err(e) => return Err(DestError::Stat(full_name(dest_path), e)),
    }
    let exists = st.is_ok();
    if total > 1 || trailing_slash {
        let mut trimmed = dest_path.to_vec();
        while trimmed.len() > 1 && trimmed.ends_with(b"/") {
            trimmed.pop();
        }
        if exists {
            return Err(DestError::PathNotDirectory);
        }
        if !dry_run {
            rustix::fs::mkdir(trimmed.as_slice(), rustix::fs::Mode::from_raw_mode(0o777))
                .map_err(|e| DestError::Mkdir(full_name(&trimmed), e))?;
        }
        sink.created_destination(&trimmed);
        if dry_run {
            return Ok(DestPlan {
                root: None,
                rename: None,
                created: true,
                root_abs: full_name(&trimmed),
            });
        }
        return Ok(DestPlan {
            root: Some(open(&trimmed)?),
            rename: None,
            created: true,
            root_abs: full_name(&trimmed),
        });
    }
    // A single entry is written under the destination's name ("mode 2").
    let (parent, base): (&[u8], &[u8]) = match cp {
        None => (b".", dest_path),
        Some(0) => (b"/", &dest_path[1..]),
        Some(at) => (&dest_path[..at], &dest_path[at + 1..]),
    };
    if dry_run && (mkpath_pending || (mkpath_opt && stat_follow(parent).is_err())) {
        return Ok(DestPlan {
            root: None,
            rename: Some(base.to_vec()),
            created: false,
            root_abs: full_name(parent),
        });
    }
    Ok(DestPlan {
        root: Some(open(parent)?),
        rename: Some(base.to_vec()),
        created: false,
        root_abs: full_name(parent),
    })
}
