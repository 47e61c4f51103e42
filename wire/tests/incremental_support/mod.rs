//! The tree both incremental-recursion tests transfer: deep and wide enough that lists
//! arrive interleaved with the transfer, with the odd names, owners, links and stale
//! destination entries each direction must handle.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Directories in [`make_big_tree`] (each gets a list of its own).
pub fn count_dirs(root: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
        {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n += 1;
                stack.push(e.path());
            }
        }
    }
    n
}

/// A tree of about 2,500 entries: 14 top directories, three levels below each, files
/// at every level, empty directories, symlinks, odd names and several owners.
pub fn make_big_tree(root: &Path) {
    crate::common::make_tree(root);
    let odd: [&[u8]; 6] = [
        b"sp ace",
        b"-dash",
        b"new\nline",
        b"caf\xc3\xa9",
        b"d.x",
        b"\xff\xfe",
    ];
    let mut n = 0u32;
    for top in 0..14 {
        let t = root.join(format!("t{top:02}"));
        for mid in 0..4 {
            let m = t.join(format!("m{mid}"));
            for low in 0..3 {
                let l = m.join(format!("l{low}"));
                for f in 0..12 {
                    n += 1;
                    let body = format!("file {top} {mid} {low} {f}\n").repeat((f % 5) as usize);
                    crate::common::put_file(
                        &l.join(format!("f{f:02}")),
                        body.as_bytes(),
                        0o644,
                        1_600_100_000 + i64::from(n),
                    );
                }
            }
            crate::common::put_file(&m.join("at-mid"), b"mid\n", 0o600, 1_600_200_000);
            std::fs::create_dir_all(m.join("empty")).unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink("l0/f00", m.join("to-f00"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for name in odd {
            let p = t.join(std::ffi::OsStr::from_bytes(name));
            crate::common::put_file(&p, name, 0o644, 1_600_300_000);
        }
        // A directory and a file that sort around each other (`d.x` vs `d/`).
        crate::common::put_file(&t.join("d/inner"), b"inner", 0o644, 1_600_300_001);
        std::os::unix::fs::chown(t.join("m1/at-mid"), Some(1), Some(1))
            .unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::chown(t.join("m2/at-mid"), Some(4242), Some(4343))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::create_dir_all(root.join("zz-empty/deeper/deepest")).unwrap_or_else(|e| panic!("{e}"));
    // Directory mtimes last: writing into them changed them.
    let mut dirs = vec![root.to_path_buf()];
    let mut i = 0;
    while let Some(d) = dirs.get(i).cloned() {
        i += 1;
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
        {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    for d in dirs.iter().rev() {
        crate::common::set_mtime(d, 1_600_400_000);
    }
}

/// Hard links inside one directory and across directories that travel in different
/// lists (the follower then carries the first one's index and a full entry).
pub fn add_hard_links(root: &Path) {
    let link = |a: &str, b: &str| {
        std::fs::hard_link(root.join(a), root.join(b)).unwrap_or_else(|e| panic!("{a}: {e}"))
    };
    link("t00/m0/l0/f01", "t00/m0/l0/hl-same-dir");
    link("t00/m0/l0/f02", "t13/m3/l2/hl-far");
    link("t00/m0/l0/f02", "t07/hl-mid");
    link("a", "t05/m1/hl-top");
    for d in ["t00/m0/l0", "t13/m3/l2", "t07", "t05/m1", "."] {
        crate::common::set_mtime(&root.join(d), 1_600_400_000);
    }
}

/// A destination that needs deletions in nested directories (and a whole stale
/// subtree) and updates.
pub fn make_stale_dest(root: &Path) {
    crate::common::put_file(&root.join("t03/m2/l1/stale"), b"old", 0o644, 1_500_000_000);
    crate::common::put_file(
        &root.join("t03/m2/l1/f00"),
        b"outdated",
        0o644,
        1_500_000_000,
    );
    crate::common::put_file(&root.join("t09/gone/deep/x"), b"old", 0o644, 1_500_000_000);
    crate::common::put_file(
        &root.join("zz-empty/deeper/junk"),
        b"old",
        0o644,
        1_500_000_000,
    );
    crate::common::put_file(&root.join("stale-top"), b"old", 0o644, 1_500_000_000);
}

/// The tree listing plus owner, group and link count of every entry.
pub fn full_listing(root: &Path) -> Vec<String> {
    let mut lines = crate::common::tree_listing(root);
    for line in &mut lines {
        let rel = line.split(' ').next().unwrap_or_default().to_string();
        if let Ok(md) = std::fs::symlink_metadata(root.join(&rel)) {
            line.push_str(&format!(" uid={} gid={}", md.uid(), md.gid()));
            if !md.is_dir() {
                line.push_str(&format!(" nlink={}", md.nlink()));
            }
        }
    }
    lines
}

/// `p` with a trailing slash (copy the directory's contents).
pub fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

/// How `ours` differs from `theirs` (rsync's result): entries and metadata, and with
/// `hard_links` the groups of linked names; one message per difference, led by `cell`.
pub fn tree_differences(cell: &str, theirs: &Path, ours: &Path, hard_links: bool) -> Vec<String> {
    let mut found = Vec::new();
    let (a, b) = (full_listing(theirs), full_listing(ours));
    if a != b {
        let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
        let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
        found.push(format!(
            "{cell}: trees differ\nonly rsync's: {only_a:#?}\nonly ours: {only_b:#?}"
        ));
    }
    if hard_links {
        let (a, b) = (
            crate::common::link_groups(theirs),
            crate::common::link_groups(ours),
        );
        if a != b {
            found.push(format!(
                "{cell}: hard-link groups differ\nrsync: {a:?}\nours: {b:?}"
            ));
        }
    }
    found
}
