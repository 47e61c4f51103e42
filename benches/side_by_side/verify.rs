//! Checks that a destination tree equals its source: types, sizes, modes, mtimes, content.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba)?;
        let mut nb = 0;
        while nb < na {
            let n = fb.read(&mut bb[nb..na])?;
            if n == 0 {
                return Ok(false);
            }
            nb += n;
        }
        if ba[..na] != bb[..na] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(fb.read(&mut bb[..1])? == 0);
        }
    }
}

/// Compares `dst` against `src` recursively; returns a description of the first difference.
pub fn compare(src: &Path, dst: &Path) -> io::Result<Option<String>> {
    let (ms, md) = (fs::symlink_metadata(src)?, fs::symlink_metadata(dst)?);
    let differs = |what: &str| Ok(Some(format!("{}: {what} differs", dst.display())));
    if ms.file_type() != md.file_type() {
        return differs("type");
    }
    if ms.mode() != md.mode() {
        return differs("mode");
    }
    if ms.is_file() {
        if ms.len() != md.len() {
            return differs("size");
        }
        if ms.mtime() != md.mtime() {
            return differs("mtime");
        }
        if !same_content(src, dst)? {
            return differs("content");
        }
    } else if ms.is_dir() {
        let mut a: Vec<_> = fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        let mut b: Vec<_> = fs::read_dir(dst)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        a.sort();
        b.sort();
        if a != b {
            return differs("directory listing");
        }
        for name in a {
            if let Some(d) = compare(&src.join(&name), &dst.join(&name))? {
                return Ok(Some(d));
            }
        }
    } else if ms.file_type().is_symlink() && fs::read_link(src)? != fs::read_link(dst)? {
        return differs("link target");
    }
    Ok(None)
}

/// Reads every file under `root` so it is in the page cache.
pub fn warm(root: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(root)?;
    if meta.is_file() {
        let mut f = fs::File::open(root)?;
        return io::copy(&mut f, &mut io::sink());
    }
    let mut total = 0;
    if meta.is_dir() {
        for e in fs::read_dir(root)? {
            total += warm(&e?.path())?;
        }
    }
    Ok(total)
}
