//! Helpers shared by the interop tests: the real rsync, scratch dirs, fake remote shells.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The real rsync; panics loudly when missing.
pub fn rsync_bin() -> PathBuf {
    let p = PathBuf::from("/usr/bin/rsync");
    assert!(p.exists(), "/usr/bin/rsync is missing: the wire interop tests need the real rsync 3.5.0");
    p
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("wire-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let mut perm = std::fs::metadata(path).map(|m| m.permissions()).unwrap_or_else(|e| panic!("{e}"));
    perm.set_mode(0o755);
    std::fs::set_permissions(path, perm).unwrap_or_else(|e| panic!("{e}"));
}

/// A remote shell that ignores `[-l user] host` and runs the rest locally through
/// `sh -c`, like ssh would on the remote side.
pub fn local_rsh(dir: &Path) -> PathBuf {
    let p = dir.join("local-rsh");
    script(
        &p,
        "#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then shift 2; fi\nshift\nexec sh -c \"$*\"\n",
    );
    p
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A listing of a tree: path, type, mode, mtime, size and content hash, sorted.
pub fn tree_listing(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{e}"));
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let ft = md.file_type();
            let detail = if ft.is_symlink() {
                format!("link->{}", std::fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default())
            } else if ft.is_file() {
                let data = std::fs::read(&p).unwrap_or_default();
                format!("file size={} sum={:016x}", data.len(), fnv(&data))
            } else if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                format!("special rdev={}", md.rdev())
            };
            let mtime = if ft.is_dir() { String::new() } else { format!(" mtime={}", md.mtime()) };
            out.push(format!("{rel} {detail} mode={:o}{mtime}", md.mode()));
        }
    }
    out.sort();
    out
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
