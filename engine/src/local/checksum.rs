//! Whole-file checksums for `-c` (both files are local, so any strong hash decides equality;
//! xxh3-128 is the fastest of the ones rsync negotiates).

use std::cell::RefCell;
use std::io::Read;
use std::os::fd::OwnedFd;

use xxhash_rust::xxh3::Xxh3;

const BUF_LEN: usize = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Hashes the whole of an open file.
pub(crate) fn file_digest(fd: OwnedFd) -> std::io::Result<u128> {
    let mut file = std::fs::File::from(fd);
    let mut hasher = Xxh3::new();
    BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < BUF_LEN {
            buf.resize(BUF_LEN, 0);
        }
        loop {
            let n = match file.read(&mut buf[..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
        }
        Ok(hasher.digest128())
    })
}
