//! Helpers shared by the interop tests: the real rsync, scratch dirs, fake remote shells.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// rsync 3.2.7, unpacked beside the system rsync by tools/test.sh (or `RDSYNC_RSYNC_327`);
/// panics loudly when missing.
pub fn rsync_327() -> PathBuf {
    let p = std::env::var_os("RDSYNC_RSYNC_327")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/peers/rsync-3.2.7/usr/bin/rsync")
        });
    assert!(
        p.exists(),
        "rsync 3.2.7 is missing at {} (set RDSYNC_RSYNC_327 or run tools/test.sh, which unpacks it)",
        p.display()
    );
    p
}

/// The real rsync; panics loudly when missing.
pub fn rsync_bin() -> PathBuf {
    let p = PathBuf::from("/usr/bin/rsync");
    assert!(
        p.exists(),
        "/usr/bin/rsync is missing: the wire interop tests need the real rsync 3.5.0"
    );
    p
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = scratch_root().join(format!("wire-{name}-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// This test process's scratch root, `target/tmp/wire-PID`. The first call removes the
/// roots of earlier test processes that no longer run (tests keep their trees for
/// inspection after a failure, but not forever).
fn scratch_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let stale = name
                    .strip_prefix("wire-")
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                if stale {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        base.join(format!("wire-{}", std::process::id()))
    })
    .clone()
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let mut perm = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|e| panic!("{e}"));
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
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
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
                format!(
                    "link->{}",
                    std::fs::read_link(&p)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default()
                )
            } else if ft.is_file() {
                let data = std::fs::read(&p).unwrap_or_default();
                format!("file size={} sum={:016x}", data.len(), fnv(&data))
            } else if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                format!("special rdev={}", md.rdev())
            };
            let mtime = format!(" mtime={}", md.mtime());
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

/// Deterministic pseudo-random bytes (covering all byte values).
pub fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 3) as u8
        })
        .collect()
}

/// Writes a file and sets its mode and mtime.
pub fn put_file(path: &Path, data: &[u8], mode: u32, mtime: i64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = filetime::FileTime::from_unix_time(mtime, 0);
    filetime::set_file_times(path, t, t).unwrap_or_else(|e| panic!("{e}"));
}

/// Sets a directory's mtime.
pub fn set_mtime(path: &Path, mtime: i64) {
    let t = filetime::FileTime::from_unix_time(mtime, 0);
    filetime::set_symlink_file_times(path, t, t).unwrap_or_else(|e| panic!("{e}"));
}

/// The standard source tree: sort-sensitive names, high bytes, empty and large files,
/// symlinks, nested directories, fixed mtimes and modes.
pub fn make_tree(root: &Path) {
    use std::os::unix::ffi::OsStrExt;
    std::fs::create_dir_all(root).unwrap_or_else(|e| panic!("{e}"));
    put_file(&root.join("a"), b"hello\n", 0o644, 1_600_000_000);
    put_file(&root.join("Z upper"), b"upper", 0o600, 1_600_000_100);
    put_file(&root.join("empty"), b"", 0o644, 1_600_000_200);
    put_file(
        &root.join("big.bin"),
        &noise(300_000, 1),
        0o755,
        1_600_000_300,
    );
    put_file(
        &root.join("mid.bin"),
        &noise(5_000, 2),
        0o640,
        1_600_000_301,
    );
    put_file(&root.join("d1/b"), b"in d1", 0o644, 1_600_000_400);
    put_file(
        &root.join("d1/d2/c"),
        &noise(70_000, 3),
        0o644,
        1_600_000_500,
    );
    put_file(&root.join("d1.x/x"), b"dot x", 0o644, 1_600_000_600);
    put_file(&root.join("d1-x"), b"dash x", 0o644, 1_600_000_700);
    let high = root.join(std::ffi::OsStr::from_bytes(b"caf\xc3\xa9 \xff"));
    put_file(&high, b"high bytes", 0o644, 1_600_000_800);
    std::os::unix::fs::symlink("d1/b", root.join("link")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("../a", root.join("d1/sl")).unwrap_or_else(|e| panic!("{e}"));
    set_mtime(&root.join("link"), 1_600_000_900);
    set_mtime(&root.join("d1/sl"), 1_600_000_901);
    for (d, t) in [
        ("d1/d2", 1_600_001_000),
        ("d1", 1_600_001_100),
        ("d1.x", 1_600_001_200),
    ] {
        set_mtime(&root.join(d), t);
    }
    set_mtime(root, 1_600_001_300);
}

/// An older version of the tree in a destination, so that deltas are exercised.
pub fn make_old_version(root: &Path) {
    std::fs::create_dir_all(root.join("d1/d2")).unwrap_or_else(|e| panic!("{e}"));
    let mut big = noise(300_000, 1);
    for b in big.iter_mut().skip(100_000).take(3000) {
        *b = b.wrapping_add(1);
    }
    big.truncate(290_000);
    put_file(&root.join("big.bin"), &big, 0o644, 1_500_000_000);
    let mut c = noise(70_000, 3);
    c.splice(30_000..30_000, b"inserted".iter().copied());
    put_file(&root.join("d1/d2/c"), &c, 0o644, 1_500_000_000);
    put_file(&root.join("a"), b"hello\n", 0o644, 1_600_000_000);
    put_file(&root.join("stale"), b"to delete", 0o644, 1_500_000_000);
    put_file(&root.join("d1/stale2"), b"to delete", 0o644, 1_500_000_000);
}

/// Adds hard links, a FIFO and device nodes (the tests run as root) to a tree.
pub fn add_links_and_devices(root: &Path) {
    std::fs::hard_link(root.join("mid.bin"), root.join("hl_a")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::hard_link(root.join("mid.bin"), root.join("d1/hl_b"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::hard_link(root.join("a"), root.join("d1.x/hl_c")).unwrap_or_else(|e| panic!("{e}"));
    let ok = Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mkfifo failed");
    let ok = Command::new("mknod")
        .arg(root.join("chr"))
        .args(["c", "1", "3"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mknod c failed (tests must run as root)");
    let ok = Command::new("mknod")
        .arg(root.join("d1/blk"))
        .args(["b", "7", "300"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mknod b failed");
    for p in ["fifo", "chr", "d1/blk"] {
        set_mtime(&root.join(p), 1_600_002_000);
    }
    set_mtime(&root.join("d1"), 1_600_001_100);
    set_mtime(&root.join("d1.x"), 1_600_001_200);
    set_mtime(root, 1_600_001_300);
}

/// Groups of paths that share an inode, for comparing hard-link structure.
pub fn link_groups(root: &Path) -> Vec<Vec<String>> {
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;
    let mut by_ino: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
        {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{e}"));
            if md.is_dir() {
                stack.push(p);
            } else if md.nlink() > 1 {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                by_ino.entry(md.ino()).or_default().push(rel);
            }
        }
    }
    let mut groups: Vec<Vec<String>> = by_ino
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    groups.sort();
    groups
}
