//! Pulls with incremental recursion (`CF_INC_RECURSE`) from the real rsync 3.5.0 and
//! 3.2.7 servers at protocols 30, 31 and 32: a deep and wide tree (more entries than
//! the sender's look-ahead, so lists arrive interleaved with the transfer), empty
//! directories, symlinks, odd names, several owners, hard links across lists; a first
//! copy, a delta after edits, a `--delete` resync with removals in nested directories,
//! `-H`, and `--no-i-r`. Every destination must equal what rsync's own client leaves
//! with the same command, with the same exit code, and the report must show that
//! incremental recursion was used (the compat flag, and one list per directory).

mod common;
mod incremental_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use incremental_support::{
    add_hard_links, count_dirs, full_listing, make_big_tree, make_stale_dest, slash,
    tree_differences,
};
use rdsync_wire::handshake::CF_INC_RECURSE;
use rdsync_wire::{RemoteShell, TransferOptions, pull};

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
        failures.extend(tree_differences(&cell, &theirs, &ours, case.hard_links));
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

/// "File list size" counts every list, as flist.c adds each list's bytes: with
/// incremental recursion it is of the order of the one list `--no-i-r` receives (rsync's
/// own figure varies with how its reads fall; it counted the first list alone before).
#[test]
fn file_list_size_counts_every_list() {
    let dir = common::scratch("incr-pull-flist-size");
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    make_big_tree(&src);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(common::rsync_bin().display().to_string()),
        user: None,
        host: "peer".into(),
    };
    let mut sizes = Vec::new();
    for no_inc in [false, true] {
        let mut o = TransferOptions::archive();
        o.no_inc_recursive = no_inc;
        let ours = dir.join(format!("ours-{no_inc}"));
        let report = pull(&shell, &o, &[slash(&src)], &PathBuf::from(slash(&ours)));
        assert_eq!(report.exit_code, 0, "{:?}", report.error);
        assert_eq!(report.file_lists_received > 1, !no_inc);
        sizes.push(report.stats.flist_size);
    }
    let (incremental, single) = (sizes[0], sizes[1]);
    assert!(
        incremental * 2 > single && incremental < single * 2,
        "file list size {incremental} with incremental recursion, {single} without"
    );
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
