//! Shared helpers for the local-sync tests: fixture trees, running rsync and rdsync, and
//! comparing destination trees and itemized output.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

/// The system rsync the tests compare against.
pub const RSYNC: &str = "/usr/bin/rsync";

/// Panics unless the real rsync is installed: these tests never skip.
pub fn require_rsync() {
    assert!(
        Path::new(RSYNC).exists(),
        "{RSYNC} is missing: the local-sync tests compare against the real rsync"
    );
}

/// A scratch directory removed on drop.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "rdsync-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+rwx")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Sets the mtime of `p` without following a symlink.
pub fn set_mtime(p: &Path, sec: i64, nsec: i64) {
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
        last_modification: Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
    };
    rustix::fs::utimensat(CWD, p, &ts, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

pub fn write(p: &Path, data: &[u8]) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, data).unwrap();
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        CWD,
        p,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Gives every entry under `root` (post-order, so directories last) a distinct fixed mtime,
/// well away from "now", so that results never depend on the second a tool ran in.
pub fn fix_times(root: &Path, base: i64) {
    let mut paths = Vec::new();
    collect(root, &mut paths);
    paths.sort();
    paths.reverse();
    for (i, p) in paths.iter().enumerate() {
        set_mtime(p, base + i as i64 * 37, (i as i64 * 7919) % 1_000_000_000);
    }
    set_mtime(root, base - 1000, 123_456_789);
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            collect(&p, out);
        }
        out.push(p);
    }
}

/// Builds the fixture tree: nested and empty dirs, empty and multi-block files, symlinks of
/// every kind, hard links, a FIFO and a device, odd names, restrictive permissions, old and
/// future mtimes, and foreign ownership.
pub fn make_fixture(src: &Path) {
    std::fs::create_dir_all(src).unwrap();
    write(&src.join("a.txt"), b"hello\n");
    write(&src.join("empty"), b"");
    write(
        &src.join("big.bin"),
        &pseudo_random(3 * 1024 * 1024 + 17, 1),
    );
    write(&src.join("d1/b.txt"), b"bee\n");
    write(&src.join("d1/d2/c.txt"), b"sea\n");
    write(&src.join("d1/d2/d3/deep.txt"), b"deep\n");
    write(&src.join("d1.x/x"), b"x\n");
    std::fs::create_dir_all(src.join("emptydir")).unwrap();
    std::fs::create_dir_all(src.join("d1/emptysub")).unwrap();
    write(&src.join("with space.txt"), b"space\n");
    write(&src.join("ünïcødé"), b"unicode\n");
    write(&src.join("new\nline"), b"newline\n");
    write(&src.join("-leading-dash"), b"dash\n");
    write(&src.join("l".repeat(200)), b"long\n");
    write(&src.join("private"), b"secret\n");
    chmod(&src.join("private"), 0o600);
    write(&src.join("script.sh"), b"#!/bin/sh\n");
    chmod(&src.join("script.sh"), 0o755);
    write(&src.join("locked/inside"), b"in\n");
    chmod(&src.join("locked/inside"), 0o400);
    write(&src.join("owned"), b"owned\n");
    lchown(&src.join("owned"), 1234, 5678);
    symlink("a.txt", src.join("rel_link")).unwrap();
    symlink("/etc/hostname", src.join("abs_link")).unwrap();
    symlink("does/not/exist", src.join("dangling")).unwrap();
    symlink("d1", src.join("dir_link")).unwrap();
    symlink("../a.txt", src.join("d1/up_link")).unwrap();
    lchown(&src.join("rel_link"), 4321, 8765);
    std::fs::hard_link(src.join("a.txt"), src.join("hard_a")).unwrap();
    std::fs::hard_link(src.join("a.txt"), src.join("d1/hard_a2")).unwrap();
    std::fs::hard_link(src.join("d1/b.txt"), src.join("zz_hard_b")).unwrap();
    rustix::fs::mknodat(
        CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        CWD,
        src.join("chardev"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    // Hard links between non-regular files (rsync's hardlink-specials/-symlinks).
    std::fs::hard_link(src.join("fifo"), src.join("d1/fifo_hl")).unwrap();
    std::fs::hard_link(src.join("dangling"), src.join("dangling_hl")).unwrap();
    fix_times(src, 1_600_000_000);
    set_mtime(&src.join("d1.x/x"), 315_532_800, 0); // 1980
    set_mtime(&src.join("empty"), 2_524_608_000, 5); // 2050
    chmod(&src.join("locked"), 0o555);
    chmod(&src.join("d1/d2/d3"), 0o700);
}

/// One node of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub link: Option<Vec<u8>>,
    pub content: Option<u64>,
    /// Other names of the same inode (hard links), sorted.
    pub links: Vec<Vec<u8>>,
}

/// A snapshot of a tree: relative path → node.
pub type Snapshot = BTreeMap<Vec<u8>, Node>;

fn content_hash(p: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let data = std::fs::read(p).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// Takes a snapshot of `root` (the root itself is the entry `.`).
pub fn snapshot(root: &Path) -> Snapshot {
    let mut raw: Vec<(Vec<u8>, std::fs::Metadata, PathBuf)> = Vec::new();
    raw.push((
        b".".to_vec(),
        std::fs::symlink_metadata(root).unwrap(),
        root.to_path_buf(),
    ));
    let root_is_dir = raw[0].1.is_dir();
    let mut stack = if root_is_dir {
        vec![(root.to_path_buf(), Vec::new())]
    } else {
        Vec::new()
    };
    while let Some((dir, rel)) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let mut r: Vec<u8> = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(e.file_name().as_bytes());
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                stack.push((e.path(), r.clone()));
            }
            raw.push((r, md, e.path()));
        }
    }
    let mut by_inode: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    for (r, md, _) in &raw {
        if !md.is_dir() && md.nlink() > 1 {
            by_inode.entry(md.ino()).or_default().push(r.clone());
        }
    }
    let mut out = Snapshot::new();
    for (r, md, p) in raw {
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_fifo() {
            'p'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_socket() {
            's'
        } else {
            'f'
        };
        let mut links: Vec<Vec<u8>> = by_inode
            .get(&md.ino())
            .filter(|_| kind != 'd')
            .cloned()
            .unwrap_or_default();
        links.sort();
        out.insert(
            r,
            Node {
                kind,
                mode: md.mode() & 0o7777,
                size: if kind == 'd' { 0 } else { md.size() },
                mtime: (md.mtime(), md.mtime_nsec()),
                uid: md.uid(),
                gid: md.gid(),
                rdev: md.rdev(),
                link: if kind == 'l' {
                    Some(
                        std::fs::read_link(&p)
                            .unwrap()
                            .as_os_str()
                            .as_bytes()
                            .to_vec(),
                    )
                } else {
                    None
                },
                content: if kind == 'f' {
                    Some(content_hash(&p))
                } else {
                    None
                },
                links,
            },
        );
    }
    out
}

/// Asserts two snapshots are identical, listing every difference.
pub fn assert_same_tree(expected: &Snapshot, actual: &Snapshot, context: &str) {
    let mut diffs = Vec::new();
    let keys: BTreeSet<&Vec<u8>> = expected.keys().chain(actual.keys()).collect();
    for k in keys {
        match (expected.get(k), actual.get(k)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => diffs.push(format!(
                "  {}:\n    rsync:  {a:?}\n    rdsync: {b:?}",
                String::from_utf8_lossy(k)
            )),
        }
    }
    assert!(
        diffs.is_empty(),
        "{context}: trees differ:\n{}",
        diffs.join("\n")
    );
}

/// The output of one run.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program` with `args` in `cwd`, capturing its output.
pub fn run(program: &str, args: &[&OsStr], cwd: &Path) -> Run {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the real rsync with `args` in `cwd`.
pub fn rsync(args: &[&str], cwd: &Path) -> Run {
    let a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    run(RSYNC, &a, cwd)
}

/// Runs rdsync with `args` in `cwd`.
pub fn rdsync(args: &[&str], cwd: &Path) -> Run {
    let a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    run(env!("CARGO_BIN_EXE_rdsync"), &a, cwd)
}

/// Runs `program` (`rsync` or `rdsync`) as the unprivileged user `nobody` when we are
/// root (through util-linux's `setpriv`, which must then exist), else as ourselves: for
/// tests that need a file its owner's mode makes unreadable.
pub fn run_unprivileged(tool: &str, args: &[&str], cwd: &Path) -> Run {
    let program = match tool {
        "rsync" => RSYNC,
        _ => env!("CARGO_BIN_EXE_rdsync"),
    };
    if !rustix::process::geteuid().is_root() {
        let a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        return run(program, &a, cwd);
    }
    assert!(
        Path::new("/usr/bin/setpriv").exists(),
        "/usr/bin/setpriv (util-linux) is missing: needed to run a test unprivileged"
    );
    let mut a: Vec<&OsStr> = ["--reuid=65534", "--regid=65534", "--clear-groups", program]
        .into_iter()
        .map(OsStr::new)
        .collect();
    a.extend(args.iter().map(OsStr::new));
    run("/usr/bin/setpriv", &a, cwd)
}

/// A source tree `src` with two readable files and one, `secret`, of mode 000 (unreadable
/// to [`run_unprivileged`]); returns its path.
pub fn unreadable_fixture(s: &Scratch) -> PathBuf {
    let src = s.join("src");
    write(&src.join("a"), b"readable\n");
    write(&src.join("sub/c"), b"also readable\n");
    write(&src.join("secret"), b"nobody may read this\n");
    chmod(&src.join("secret"), 0o000);
    fix_times(&src, 1_600_000_000);
    src
}

/// Creates the destination `dest`, writable by the user [`run_unprivileged`] runs as.
pub fn unprivileged_dest(dest: &Path) {
    std::fs::create_dir_all(dest).unwrap_or_else(|e| panic!("{e}"));
    if rustix::process::geteuid().is_root() {
        lchown(dest, 65534, 65534);
    }
}

/// Lines of `--stats`/`-v` summaries whose numbers depend on the transport.
fn is_stats_line(l: &str) -> bool {
    [
        "File list",
        "Total bytes",
        "sent ",
        "total size is",
        "Number of",
        "Total file size",
        "Total transferred",
        "Literal data",
        "Matched data",
    ]
    .iter()
    .any(|p| l.starts_with(p))
}

/// The itemized (and other stdout) lines, sorted, with the destination names made equal.
pub fn normalized_lines(out: &str, dest: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.replace(dest, "DEST"))
        .filter(|l| !l.is_empty() && !is_stats_line(l))
        .collect();
    v.sort();
    v
}

/// Whether the options preserve modification times (`-t`, or `-a`, not negated).
pub fn preserves_times(opts: &[&str]) -> bool {
    let mut on = false;
    for o in opts {
        if *o == "--times" || *o == "--archive" {
            on = true;
        } else if *o == "--no-times" || *o == "--no-t" {
            on = false;
        } else if o.starts_with('-') && !o.starts_with("--") && (o.contains('a') || o.contains('t'))
        {
            on = true;
        }
    }
    on
}

/// Runs rsync into `dest_rsync` and rdsync into `dest_rdsync` with the same options and
/// source arguments (all relative to `cwd`), then checks exit codes, trees and itemized
/// output are the same. Returns both runs.
pub fn compare_runs(
    cwd: &Path,
    opts: &[&str],
    sources: &[&str],
    dest_rsync: &str,
    dest_rdsync: &str,
    context: &str,
) -> (Run, Run) {
    let mut a: Vec<&str> = opts.to_vec();
    a.extend_from_slice(sources);
    let mut ra = a.clone();
    ra.push(dest_rsync);
    let mut rb = a;
    rb.push(dest_rdsync);
    let r1 = rsync(&ra, cwd);
    let r2 = rdsync(&rb, cwd);
    assert_eq!(
        r1.code, r2.code,
        "{context}: exit codes differ\nrsync: {r1:?}\nrdsync: {r2:?}"
    );
    let d1 = dest_rsync.trim_end_matches('/');
    let d2 = dest_rdsync.trim_end_matches('/');
    let top = |d: &str| d.split('/').next().unwrap_or(d).to_string();
    assert_eq!(
        normalized_lines(&r1.stdout, &top(d1)),
        normalized_lines(&r2.stdout, &top(d2)),
        "{context}: output differs\nrsync:\n{}\nrdsync:\n{}",
        r1.stdout,
        r2.stdout
    );
    let p1 = cwd.join(d1);
    let p2 = cwd.join(d2);
    if p1.exists() || p2.exists() {
        let (mut s1, mut s2) = (snapshot(&p1), snapshot(&p2));
        if !preserves_times(opts) {
            for snap in [&mut s1, &mut s2] {
                for node in snap.values_mut() {
                    if node.kind != 'l' {
                        node.mtime = (0, 0);
                    }
                }
            }
        }
        // A destination that is not itself a transferred entry has "now" as its mtime.
        if sources.iter().all(|src| !src.ends_with('/')) {
            for snap in [&mut s1, &mut s2] {
                if let Some(root) = snap.get_mut(b".".as_slice()) {
                    root.mtime = (0, 0);
                }
            }
        }
        assert_same_tree(&s1, &s2, context);
    }
    (r1, r2)
}
