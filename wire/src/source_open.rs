//! Opening the sender's files through a held fd of their directory.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Opens files for reading, keeping the last directory open: rsync's list order groups a
/// directory's files, so a run of them costs one path walk for the directory instead of one
/// per file. Symlinks are followed exactly as a plain open of the whole path follows them.
#[derive(Debug, Default)]
pub(crate) struct SourceOpener {
    dir: Option<(PathBuf, OwnedFd)>,
}

impl SourceOpener {
    /// Opens `path` read-only.
    pub(crate) fn open(&mut self, path: &Path) -> io::Result<File> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return File::open(path);
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let held = match self.dir.take() {
            Some((p, fd)) if p == parent => (p, fd),
            _ => {
                let fd = rustix::fs::open(
                    parent,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                (parent.to_path_buf(), fd)
            }
        };
        let file = rustix::fs::openat(
            &held.1,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        self.dir = Some(held);
        Ok(File::from(file?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn opens_like_a_plain_open() {
        let dir = std::env::temp_dir().join(format!("source-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/one"), b"1").unwrap();
        std::fs::write(dir.join("a/two"), b"2").unwrap();
        std::fs::write(dir.join("top"), b"t").unwrap();
        std::os::unix::fs::symlink("one", dir.join("a/link")).unwrap();
        let mut opener = SourceOpener::default();
        let read = |o: &mut SourceOpener, p: PathBuf| {
            let mut s = String::new();
            o.open(&p)
                .and_then(|mut f| f.read_to_string(&mut s))
                .map(|_| s)
        };
        assert_eq!(read(&mut opener, dir.join("a/one")).unwrap(), "1");
        assert_eq!(read(&mut opener, dir.join("a/two")).unwrap(), "2");
        assert_eq!(read(&mut opener, dir.join("a/link")).unwrap(), "1");
        assert_eq!(read(&mut opener, dir.join("top")).unwrap(), "t");
        let missing = read(&mut opener, dir.join("a/none")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
