//! Pulls with incremental recursion (`CF_INC_RECURSE`) from the real rsync 3.5.0 and
//! 3.2.7 servers at protocols 30, 31 and 32: a deep and wide tree (more entries than
//! the sender's look-ahead, so lists arrive interleaved with the transfer), empty
//! directories, symlinks, odd names, several owners, hard links across lists; a first
//! copy, a delta after edits, a `--delete` resync with removals in nested directories,
//! `-H`, and `--no-i-r`. Every destination must equal what rsync's own client leaves
//! with the same command, with the same exit code, and the report must show that
//! incremental recursion was used (the compat flag, and one list per directory).

mod common;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::handshake::CF_INC_RECURSE;
use rdsync_wire::{RemoteShell, TransferOptions, pull};

/// Directories in [`make_big_tree`] (each gets a list of its own).
fn count_dirs(root: &Path) -> usize {
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
fn make_big_tree(root: &Path) {
    common::make_tree(root);
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
                    common::put_file(
                        &l.join(format!("f{f:02}")),
                        body.as_bytes(),
                        0o644,
                        1_600_100_000 + i64::from(n),
                    );
                }
            }
            common::put_file(&m.join("at-mid"), b"mid\n", 0o600, 1_600_200_000);
            std::fs::create_dir_all(m.join("empty")).unwrap_or_else(|e| panic!("{e}"));
            std::os::unix::fs::symlink("l0/f00", m.join("to-f00"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for name in odd {
            let p = t.join(std::ffi::OsStr::from_bytes(name));
            common::put_file(&p, name, 0o644, 1_600_300_000);
        }
        // A directory and a file that sort around each other (`d.x` vs `d/`).
        common::put_file(&t.join("d/inner"), b"inner", 0o644, 1_600_300_001);
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
        common::set_mtime(d, 1_600_400_000);
    }
}

/// Hard links inside one directory and across directories that travel in different
/// lists (the follower then carries the first one's index and a full entry).
fn add_hard_links(root: &Path) {
    let link = |a: &str, b: &str| {
        std::fs::hard_link(root.join(a), root.join(b)).unwrap_or_else(|e| panic!("{a}: {e}"))
    };
    link("t00/m0/l0/f01", "t00/m0/l0/hl-same-dir");
    link("t00/m0/l0/f02", "t13/m3/l2/hl-far");
    link("t00/m0/l0/f02", "t07/hl-mid");
    link("a", "t05/m1/hl-top");
    for d in ["t00/m0/l0", "t13/m3/l2", "t07", "t05/m1", "."] {
        common::set_mtime(&root.join(d), 1_600_400_000);
    }
}

/// A destination that needs deletions in nested directories (and a whole stale
/// subtree) and updates.
fn make_stale_dest(root: &Path) {
    common::put_file(&root.join("t03/m2/l1/stale"), b"old", 0o644, 1_500_000_000);
    common::put_file(
        &root.join("t03/m2/l1/f00"),
        b"outdated",
        0o644,
        1_500_000_000,
    );
    common::put_file(&root.join("t09/gone/deep/x"), b"old", 0o644, 1_500_000_000);
    common::put_file(
        &root.join("zz-empty/deeper/junk"),
        b"old",
        0o644,
        1_500_000_000,
    );
    common::put_file(&root.join("stale-top"), b"old", 0o644, 1_500_000_000);
}

/// The tree listing plus owner, group and link count of every entry.
fn full_listing(root: &Path) -> Vec<String> {
    let mut lines = common::tree_listing(root);
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

/// Edits for the delta case: changed, grown, shrunk and new files, a removed file and
/// a removed directory.
fn edit_tree(root: &Path) {
    common::put_file(
        &root.join("t01/m0/l0/f03"),
        b"changed body\n",
        0o644,
        1_700_000_000,
    );
    common::put_file(
        &root.join("t02/m1/l2/f04"),
        &common::noise(70_000, 7),
        0o640,
        1_700_000_001,
    );
    common::put_file(
        &root.join("t04/m3/new-file"),
        b"new\n",
        0o600,
        1_700_000_002,
    );
    common::put_file(
        &root.join("t06/new-dir/deep/x"),
        b"x\n",
        0o644,
        1_700_000_003,
    );
    std::fs::remove_file(root.join("t08/m2/l1/f05")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(root.join("t10/m3")).unwrap_or_else(|e| panic!("{e}"));
    for d in [
        "t01/m0/l0",
        "t02/m1/l2",
        "t04/m3",
        "t06",
        "t06/new-dir",
        "t06/new-dir/deep",
        "t08/m2/l1",
        "t10",
    ] {
        common::set_mtime(&root.join(d), 1_600_400_000);
    }
}

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    /// Pull into a copy of the source first, then edit the source.
    delta: bool,
    stale_dest: bool,
    hard_links: bool,
    /// Whether incremental recursion is used with these options.
    incremental: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "first-copy",
        args: &[],
        delta: false,
        stale_dest: false,
        hard_links: false,
        incremental: true,
    },
    Case {
        name: "delta",
        args: &[],
        delta: true,
        stale_dest: false,
        hard_links: false,
        incremental: true,
    },
    Case {
        name: "delete",
        args: &["--delete"],
        delta: true,
        stale_dest: true,
        hard_links: false,
        incremental: true,
    },
    Case {
        name: "hard-links",
        args: &["-H", "--delete"],
        delta: false,
        stale_dest: true,
        hard_links: true,
        incremental: true,
    },
    Case {
        name: "no-i-r",
        args: &["--no-i-r", "--delete"],
        delta: true,
        stale_dest: true,
        hard_links: false,
        incremental: false,
    },
    // rsync's receiving client does not offer incremental recursion with
    // --delete-after; neither do we.
    Case {
        name: "delete-after",
        args: &["--delete-after"],
        delta: false,
        stale_dest: true,
        hard_links: false,
        incremental: false,
    },
];

fn options(case: &Case, protocol: Option<u32>) -> TransferOptions {
    let mut o = TransferOptions::archive();
    o.protocol = protocol;
    for a in case.args {
        match *a {
            "--delete" => o.delete = true,
            "--delete-after" => {
                o.delete = true;
                o.delete_when = rdsync_wire::options::DeleteWhen::After;
            }
            "--no-i-r" => o.no_inc_recursive = true,
            "-H" => o.hard_links = true,
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

/// rsync's own pull of `src` into `dest`; its exit code.
fn rsync_pull(rsh: &Path, remote: &str, args: &[&str], src: &Path, dest: &Path) -> i32 {
    let mut cmd = Command::new(common::rsync_bin());
    cmd.arg("-a")
        .args(args)
        .arg("-e")
        .arg(rsh)
        .arg(format!("--rsync-path={remote}"))
        .arg(format!("peer:{}", slash(src)))
        .arg(slash(dest));
    let (code, _, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "rsync itself failed: {err}");
    code
}

fn run_server(server: &Path, label: &str, protocol: Option<u32>) {
    let dir = common::scratch(&format!("incr-pull-{label}-{}", protocol.unwrap_or(32)));
    let rsh = common::local_rsh(&dir);
    let remote = match protocol {
        Some(p) => format!("{} --protocol={p}", server.display()),
        None => server.display().to_string(),
    };
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(remote.clone()),
        user: None,
        host: "peer".into(),
    };
    let mut failures = Vec::new();
    for case in CASES {
        let src = dir.join(format!("src-{}", case.name));
        make_big_tree(&src);
        if case.hard_links {
            add_hard_links(&src);
        }
        let theirs = dir.join(format!("{}-rsync", case.name));
        let ours = dir.join(format!("{}-ours", case.name));
        if case.delta {
            // Both destinations start as rsync's copy of the unedited tree.
            for d in [&theirs, &ours] {
                rsync_pull(&rsh, &remote, &[], &src, d);
            }
            edit_tree(&src);
        }
        if case.stale_dest {
            make_stale_dest(&theirs);
            make_stale_dest(&ours);
        }
        let code = rsync_pull(&rsh, &remote, case.args, &src, &theirs);
        let report = pull(
            &shell,
            &options(case, protocol),
            &[slash(&src)],
            &PathBuf::from(slash(&ours)),
        );
        let cell = format!("{label} protocol {protocol:?} {}", case.name);
        if report.exit_code != code {
            failures.push(format!(
                "{cell}: exit {} (rsync {code}): {:?} {}",
                report.exit_code,
                report.error,
                report.remote_stderr.trim()
            ));
            continue;
        }
        let compat = report.params.as_ref().map_or(0, |p| p.compat_flags);
        let negotiated = compat & CF_INC_RECURSE != 0;
        if negotiated != case.incremental {
            failures.push(format!(
                "{cell}: incremental recursion negotiated: {negotiated} (compat {compat:#x})"
            ));
        }
        let want_lists = if case.incremental {
            count_dirs(&src) + 1
        } else {
            1
        };
        if report.file_lists_received != want_lists {
            failures.push(format!(
                "{cell}: {} file lists received, expected {want_lists}",
                report.file_lists_received
            ));
        }
        let (a, b) = (full_listing(&theirs), full_listing(&ours));
        if a != b {
            let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
            let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
            failures.push(format!(
                "{cell}: trees differ\nonly rsync's: {only_a:#?}\nonly ours: {only_b:#?}"
            ));
        }
        if case.hard_links && common::link_groups(&theirs) != common::link_groups(&ours) {
            failures.push(format!(
                "{cell}: hard-link groups differ\nrsync: {:?}\nours: {:?}",
                common::link_groups(&theirs),
                common::link_groups(&ours)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rsync_350_protocol_32() {
    run_server(&common::rsync_bin(), "350", None);
}

#[test]
fn rsync_350_protocol_31() {
    run_server(&common::rsync_bin(), "350", Some(31));
}

#[test]
fn rsync_350_protocol_30() {
    run_server(&common::rsync_bin(), "350", Some(30));
}

#[test]
fn rsync_327_protocol_32() {
    run_server(&common::rsync_327(), "327", None);
}

#[test]
fn rsync_327_protocol_31() {
    run_server(&common::rsync_327(), "327", Some(31));
}

#[test]
fn rsync_327_protocol_30() {
    run_server(&common::rsync_327(), "327", Some(30));
}

/// Protocol 29 has no incremental recursion: one list, as before.
#[test]
fn protocol_29_receives_one_list() {
    let dir = common::scratch("incr-pull-29");
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    make_big_tree(&src);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(common::rsync_bin().display().to_string()),
        user: None,
        host: "peer".into(),
    };
    let mut o = TransferOptions::archive();
    o.protocol = Some(29);
    let ours = dir.join("ours");
    let report = pull(&shell, &o, &[slash(&src)], &PathBuf::from(slash(&ours)));
    assert_eq!(report.exit_code, 0, "{:?}", report.error);
    assert_eq!(report.file_lists_received, 1);
    assert_eq!(full_listing(&src), full_listing(&ours));
}

/// A source named without a trailing slash: the first list holds only the directory
/// itself, whose contents come as the next list.
#[test]
fn a_source_without_a_slash_arrives_as_its_own_list() {
    let dir = common::scratch("incr-pull-noslash");
    let rsh = common::local_rsh(&dir);
    let src = dir.join("tree");
    make_big_tree(&src);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(common::rsync_bin().display().to_string()),
        user: None,
        host: "peer".into(),
    };
    let theirs = dir.join("theirs");
    let ours = dir.join("ours");
    for d in [&theirs, &ours] {
        make_stale_dest(&d.join("tree"));
    }
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(["-a", "--delete", "-e"])
        .arg(&rsh)
        .arg(format!("peer:{}", src.display()))
        .arg(slash(&theirs));
    let (code, _, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    let mut o = TransferOptions::archive();
    o.delete = true;
    let report = pull(
        &shell,
        &o,
        &[src.display().to_string()],
        &PathBuf::from(slash(&ours)),
    );
    assert_eq!(report.exit_code, 0, "{:?}", report.error);
    assert_eq!(report.file_lists_received, count_dirs(&src) + 2);
    assert_eq!(full_listing(&theirs), full_listing(&ours));
}
