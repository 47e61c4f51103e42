//! A new file written under a temporary name in its destination directory and renamed into
//! place once complete, as rsync's receiver does (`.name.XXXXXX`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;

use super::dir_fd::DirFd;
use super::error::{FsError, FsResult};

/// A temp file in a destination directory. Dropping it without [`AtomicFile::commit`] removes
/// the temp file.
#[derive(Debug)]
pub struct AtomicFile<'d> {
    dir: &'d DirFd,
    temp_name: Vec<u8>,
    fd: OwnedFd,
}

const TEMP_CHARS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest file name Linux filesystems accept.
const NAME_MAX: usize = 255;

fn next_suffix() -> [u8; 6] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // The pid once per process (`getpid` is a system call, and this runs per file).
    static PID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(|| u64::from(std::process::id()));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ nanos
        ^ (pid << 32);
    let mut out = [0u8; 6];
    for slot in &mut out {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        *slot = TEMP_CHARS[(x % 62) as usize];
    }
    out
}

/// The temp-name prefix rsync uses for `name`: `.name.`, with `name` shortened so that the
/// whole temp name fits in `NAME_MAX`.
fn temp_prefix(name: &[u8]) -> Vec<u8> {
    let max_base = NAME_MAX - 8;
    let base = if name.len() > max_base {
        &name[..max_base]
    } else {
        name
    };
    let mut out = Vec::with_capacity(base.len() + 8);
    out.push(b'.');
    out.extend_from_slice(base);
    out.push(b'.');
    out
}

/// Whether `candidate` looks like one of our (or rsync's) temp files for `name`.
pub fn is_temp_name_for(candidate: &[u8], name: &[u8]) -> bool {
    let prefix = temp_prefix(name);
    candidate.len() == prefix.len() + 6
        && candidate.starts_with(&prefix)
        && candidate[prefix.len()..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric())
}

impl<'d> AtomicFile<'d> {
    /// Creates (exclusively, never through a symlink) a new temp file `.name.XXXXXX` for
    /// `name` in `dir` with permission bits `mode`, returning it open for writing and its
    /// name, not tied to a borrow of `dir`: the caller renames or removes it (what an
    /// [`AtomicFile`] does itself).
    pub fn create_detached(dir: &DirFd, name: &[u8], mode: u32) -> FsResult<(OwnedFd, Vec<u8>)> {
        let prefix = temp_prefix(name);
        let mut last = Errno::EXIST;
        for _ in 0..100 {
            let mut temp_name = prefix.clone();
            temp_name.extend_from_slice(&next_suffix());
            match dir.create_exclusive(&temp_name, mode) {
                Ok(fd) => return Ok((fd, temp_name)),
                Err(e) if e.errno == Errno::EXIST => last = e.errno,
                Err(e) => return Err(FsError::new("mkstemp", &e.path, e.errno)),
            }
        }
        Err(FsError::new("mkstemp", &prefix, last))
    }

    /// Creates a new temp file for `name` in `dir`, mode 0600.
    pub fn create(dir: &'d DirFd, name: &[u8]) -> FsResult<Self> {
        let (fd, temp_name) = Self::create_detached(dir, name, 0o600)?;
        Ok(Self { dir, temp_name, fd })
    }

    /// The temp file's name in its directory.
    pub fn temp_name(&self) -> &[u8] {
        &self.temp_name
    }

    /// The open file, for writing.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Renames the temp file over `name` (the fd is closed afterwards).
    pub fn commit(mut self, name: &[u8]) -> FsResult<()> {
        let result = self.dir.rename(&self.temp_name, name);
        if result.is_ok() {
            self.temp_name.clear();
        }
        result
    }
}

impl Drop for AtomicFile<'_> {
    fn drop(&mut self) {
        if !self.temp_name.is_empty() {
            let _ = self.dir.unlink(&self.temp_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("rdsync-fs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::create_dir_all(&p);
        p
    }

    #[test]
    fn temp_names_follow_rsync() {
        assert!(is_temp_name_for(b".a.txt.Ab12Cd", b"a.txt"));
        assert!(!is_temp_name_for(b".a.txt.Ab12C", b"a.txt"));
        assert!(!is_temp_name_for(b".a.txt.Ab-2Cd", b"a.txt"));
        let long = vec![b'x'; 300];
        assert!(temp_prefix(&long).len() + 6 <= NAME_MAX);
    }

    #[test]
    fn commit_renames_and_drop_removes() {
        let p = scratch("atomic");
        let Ok(dir) = DirFd::open_path(p.as_os_str().as_encoded_bytes()) else {
            return;
        };
        {
            let Ok(tmp) = AtomicFile::create(&dir, b"gone") else {
                return;
            };
            assert!(is_temp_name_for(tmp.temp_name(), b"gone"));
        }
        let Ok(tmp) = AtomicFile::create(&dir, b"kept") else {
            return;
        };
        let _ = rustix::io::write(tmp.fd(), b"data");
        assert!(tmp.commit(b"kept").is_ok());
        let names = dir.list().unwrap_or_default();
        assert_eq!(names, vec![b"kept".to_vec()]);
        let _ = std::fs::remove_dir_all(&p);
    }
}
