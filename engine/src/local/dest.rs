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
}

/// Errors that stop the run before any transfer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DestError {
    /// Several entries but the destination is not a directory (exit 3).
    #[error("ERROR: destination must be a directory when copying more than 1 file")]
    NotADirectory,
    /// The destination's parent does not exist (exit 3).
    #[error("change_dir#3 \"{}\" failed: {}", String::from_utf8_lossy(.0), crate::fs::FsError::new("", b"", *.1).errno_string())]
    ChangeDir(Vec<u8>, Errno),
    /// mkdir of the destination failed (exit 11).
    #[error("mkdir \"{}\" failed: {}", String::from_utf8_lossy(.0), crate::fs::FsError::new("", b"", *.1).errno_string())]
    Mkdir(Vec<u8>, Errno),
}

impl DestError {
    /// rsync's exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            DestError::Mkdir(..) => 11,
            _ => 3,
        }
    }
}

fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    let trimmed = {
        let mut p = path;
        while p.len() > 1 && p.ends_with(b"/") {
            p = &p[..p.len() - 1];
        }
        p
    };
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(at) => (&trimmed[..at], &trimmed[at + 1..]),
        None => (b".", trimmed),
    }
}

fn stat_follow(path: &[u8]) -> Result<crate::fs::Stat, Errno> {
    rustix::fs::stat(path).map(|st| crate::fs::Stat::from_raw(&st))
}

/// Creates every missing directory of `path`; returns how many were created.
fn mkpath(path: &[u8], dry_run: bool) -> Result<usize, DestError> {
    let mut created = 0;
    let mut prefix: Vec<u8> = Vec::new();
    for (i, comp) in path.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(comp);
        if comp.is_empty() || comp == b"." {
            continue;
        }
        match stat_follow(&prefix) {
            Ok(st) if st.kind() == FileKind::Dir => {}
            Ok(_) => return Err(DestError::Mkdir(prefix, Errno::NOTDIR)),
            Err(_) if dry_run => created += 1,
            Err(_) => {
                rustix::fs::mkdir(prefix.as_slice(), rustix::fs::Mode::from_raw_mode(0o755))
                    .map_err(|e| DestError::Mkdir(prefix.clone(), e))?;
                created += 1;
            }
        }
    }
    Ok(created)
}

/// Decides where the sorted `entries` go and creates the destination directory if needed.
pub(crate) fn resolve(
    dest: &[u8],
    entries: &[FileEntry],
    mkpath_opt: bool,
    dry_run: bool,
    sink: &mut dyn SyncSink,
) -> Result<DestPlan, DestError> {
    let dest_arg: &[u8] = if dest.is_empty() { b"." } else { dest };
    let open =
        |p: &[u8]| Root::open(p).map_err(|e: FsError| DestError::ChangeDir(p.to_vec(), e.errno));
    match stat_follow(dest_arg) {
        Ok(st) if st.kind() == FileKind::Dir => {
            return Ok(DestPlan {
                root: Some(open(dest_arg)?),
                rename: None,
                created: false,
            });
        }
        Ok(_) if entries.len() > 1 => return Err(DestError::NotADirectory),
        _ => {}
    }
    let exists = stat_follow(dest_arg).is_ok();
    let trailing_slash = dest_arg.ends_with(b"/");
    let (parent, base) = split_parent(dest_arg);
    if entries.len() > 1 || (trailing_slash && !exists) {
        // Create the destination directory.
        if mkpath_opt {
            let n = mkpath(parent, dry_run)?;
            if n > 0 {
                let noun = if n == 1 { "directory" } else { "directories" };
                sink.message(&super::event::Message {
                    kind: super::event::MessageKind::Info,
                    text: format!("created {n} {noun} for {}", String::from_utf8_lossy(parent)),
                });
            }
        } else if !dry_run || stat_follow(parent).is_ok() {
            match stat_follow(parent) {
                Ok(st) if st.kind() == FileKind::Dir => {}
                Ok(_) => return Err(DestError::ChangeDir(parent.to_vec(), Errno::NOTDIR)),
                Err(e) => return Err(DestError::ChangeDir(parent.to_vec(), e)),
            }
        }
        let shown = {
            let mut s = dest_arg.to_vec();
            while s.len() > 1 && s.ends_with(b"/") {
                s.pop();
            }
            s
        };
        if dry_run {
            sink.created_destination(&shown);
            return Ok(DestPlan {
                root: None,
                rename: None,
                created: true,
            });
        }
        match rustix::fs::mkdir(dest_arg, rustix::fs::Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(DestError::Mkdir(shown, e)),
        }
        sink.created_destination(&shown);
        return Ok(DestPlan {
            root: Some(open(dest_arg)?),
            rename: None,
            created: true,
        });
    }
    // A single entry is written under the destination's name.
    if mkpath_opt {
        let n = mkpath(parent, dry_run)?;
        if n > 0 {
            let noun = if n == 1 { "directory" } else { "directories" };
            sink.message(&super::event::Message {
                kind: super::event::MessageKind::Info,
                text: format!("created {n} {noun} for {}", String::from_utf8_lossy(parent)),
            });
        }
        if dry_run && n > 0 {
            return Ok(DestPlan {
                root: None,
                rename: Some(base.to_vec()),
                created: false,
            });
        }
    }
    match stat_follow(parent) {
        Ok(st) if st.kind() == FileKind::Dir => {}
        Ok(_) => return Err(DestError::ChangeDir(parent.to_vec(), Errno::NOTDIR)),
        Err(e) => return Err(DestError::ChangeDir(parent.to_vec(), e)),
    }
    Ok(DestPlan {
        root: Some(open(parent)?),
        rename: Some(base.to_vec()),
        created: false,
    })
}
