//! Whole-file checksums for `-c` (both files are local, so any strong hash decides equality;
//! xxh3-128 is the fastest of the ones rsync negotiates).

use std::io::Read;
use std::os::fd::OwnedFd;

use xxhash_rust::xxh3::Xxh3;

/// Hashes the whole of an open file.
pub(crate) fn file_digest(fd: OwnedFd) -> std::io::Result<u128> {
    let mut file = std::fs::File::from(fd);
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.digest128())
}
