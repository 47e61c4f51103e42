//! Pushes with incremental recursion (`CF_INC_RECURSE`) to the real rsync 3.5.0 and 3.2.7
//! servers at protocols 30, 31 and 32: a deep and wide tree (more entries than the
//! sender's look-ahead, so lists go out interleaved with the transfer), empty
//! directories, symlinks, odd names, several owners, hard links across lists; a first
//! copy, a `--delete` resync and `-H`. Every destination must equal what rsync's own
//! client leaves, and the report must show that incremental recursion was negotiated
//! (the compat flag, and one list per directory). Options that make the server decline
//! it (`--delete-after`, protocol 29) still work with a single list.

mod common;
mod incremental_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use incremental_support::{
    add_hard_links, count_dirs, full_listing, make_big_tree, make_stale_dest, slash,
    tree_differences,
};
use rdsync_wire::handshake::CF_INC_RECURSE;
use rdsync_wire::{RemoteShell, TransferOptions, TransferReport, push};

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    stale_dest: bool,
    hard_links: bool,
    /// Whether the server accepts incremental recursion with these options.
    incremental: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "first-copy",
        args: &[],
        stale_dest: false,
        hard_links: false,
        incremental: true,
    },
    Case {
        name: "delete",
        args: &["--delete"],
        stale_dest: true,
        hard_links: false,
        incremental: true,
    },
    Case {
        name: "hard-links",
        args: &["-H", "--delete"],
        stale_dest: true,
        hard_links: true,
        incremental: true,
    },
    // The receiving server declines incremental recursion with --delete-after.
    Case {
        name: "delete-after",
        args: &["--delete-after"],
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
            "-H" => o.hard_links = true,
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn run_server(server: &Path, label: &str, protocol: Option<u32>) {
    let dir = common::scratch(&format!("incr-{label}-{}", protocol.unwrap_or(32)));
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
        if case.stale_dest {
            make_stale_dest(&theirs);
            make_stale_dest(&ours);
        }
        let mut cmd = Command::new(common::rsync_bin());
        cmd.arg("-a")
            .args(case.args)
            .arg("-e")
            .arg(&rsh)
            .arg(format!("--rsync-path={remote}"))
            .arg(slash(&src))
            .arg(format!("peer:{}", slash(&theirs)));
        let (code, _, err) = common::run(&mut cmd);
        assert_eq!(code, 0, "rsync itself failed: {err}");
        let report = push(
            &shell,
            &options(case, protocol),
            &[PathBuf::from(slash(&src))],
            &slash(&ours),
        );
        let cell = format!("{label} protocol {protocol:?} {}", case.name);
        if report.exit_code != 0 {
            failures.push(format!(
                "{cell}: exit {}: {:?} {}",
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
        if report.file_lists_sent != want_lists {
            failures.push(format!(
                "{cell}: {} file lists sent, expected {want_lists}",
                report.file_lists_sent
            ));
        }
        failures.extend(tree_differences(&cell, &theirs, &ours, case.hard_links));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rsync_350_protocol_32() {
    run_server(&common::rsync_bin(), "3.5.0", None);
}

#[test]
fn rsync_350_protocol_31() {
    run_server(&common::rsync_bin(), "3.5.0", Some(31));
}

#[test]
fn rsync_350_protocol_30() {
    run_server(&common::rsync_bin(), "3.5.0", Some(30));
}

#[test]
fn rsync_327_protocol_32() {
    run_server(&common::rsync_327(), "3.2.7", None);
}

#[test]
fn rsync_327_protocol_31() {
    run_server(&common::rsync_327(), "3.2.7", Some(31));
}

#[test]
fn rsync_327_protocol_30() {
    run_server(&common::rsync_327(), "3.2.7", Some(30));
}

/// Below protocol 30 there is no incremental recursion: one list, same tree.
#[test]
fn protocol_29_sends_one_list() {
    let dir = common::scratch("incr-29");
    let rsh = common::local_rsh(&dir);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(format!("{} --protocol=29", common::rsync_bin().display())),
        user: None,
        host: "peer".into(),
    };
    let src = dir.join("src");
    make_big_tree(&src);
    let ours = dir.join("ours");
    let report = push(
        &shell,
        &TransferOptions::archive(),
        &[PathBuf::from(slash(&src))],
        &slash(&ours),
    );
    assert_eq!(report.exit_code, 0, "{:?}", report.error);
    assert_eq!(report.file_lists_sent, 1);
    assert_eq!(common::tree_listing(&src), common::tree_listing(&ours));
}

/// Several sources, `dir` without a slash (its contents come in a later list) and
/// directories of the same name in two sources (sent together in one list).
#[test]
fn several_sources_with_a_shared_directory_name() {
    let dir = common::scratch("incr-multi");
    let rsh = common::local_rsh(&dir);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(common::rsync_bin().display().to_string()),
        user: None,
        host: "peer".into(),
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (root, tag) in [(&a, "a"), (&b, "b")] {
        common::put_file(&root.join("shared/x"), tag.as_bytes(), 0o644, 1_600_000_000);
        common::put_file(
            &root.join(format!("shared/only-{tag}/y")),
            tag.as_bytes(),
            0o644,
            1_600_000_000,
        );
        common::put_file(&root.join(format!("top-{tag}")), b"t", 0o644, 1_600_000_000);
        common::set_mtime(&root.join(format!("shared/only-{tag}")), 1_600_000_500);
        common::set_mtime(&root.join("shared"), 1_600_000_500);
    }
    common::put_file(&dir.join("single/inner/z"), b"z", 0o644, 1_600_000_000);
    common::set_mtime(&dir.join("single/inner"), 1_600_000_500);
    common::set_mtime(&dir.join("single"), 1_600_000_500);
    let sources = [
        slash(&a),
        slash(&b),
        dir.join("single").display().to_string(),
    ];
    let theirs = dir.join("theirs");
    let ours = dir.join("ours");
    let mut cmd = Command::new(common::rsync_bin());
    cmd.arg("-a")
        .arg("-e")
        .arg(&rsh)
        .args(&sources)
        .arg(format!("peer:{}", slash(&theirs)));
    let (code, _, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    let srcs: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
    let report = push(&shell, &TransferOptions::archive(), &srcs, &slash(&ours));
    assert_eq!(
        report.exit_code, 0,
        "{:?} {}",
        report.error, report.remote_stderr
    );
    let compat = report.params.as_ref().map_or(0, |p| p.compat_flags);
    assert_ne!(compat & CF_INC_RECURSE, 0);
    assert_eq!(full_listing(&theirs), full_listing(&ours));
}

/// Deletes a source directory once the first list has gone out, before its own list is
/// scanned (with incremental recursion that happens during the transfer).
struct DeleteAfterFirstList {
    victim: PathBuf,
    /// Put a regular file where the directory was.
    replace_with_file: bool,
    done: bool,
}

impl rdsync_wire::events::EventSink for DeleteAfterFirstList {
    fn event(&mut self, event: rdsync_wire::events::TransferEvent<'_>) {
        if !self.done && matches!(event, rdsync_wire::events::TransferEvent::FileList { .. }) {
            self.done = true;
            std::fs::remove_dir_all(&self.victim).unwrap();
            if self.replace_with_file {
                std::fs::write(&self.victim, b"a file now\n").unwrap();
            }
        }
    }
}

/// Pushes `src/kept/f` and `src/gone/g` with `--delete` over a destination holding
/// `kept/stale`, while `gone` is removed (or turned into a file) once the first list is out.
fn push_while_a_directory_goes(tag: &str, replace_with_file: bool) -> (PathBuf, TransferReport) {
    let dir = common::scratch(tag);
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    common::put_file(&src.join("kept/f"), b"kept\n", 0o644, 1_600_000_000);
    common::put_file(&src.join("gone/g"), b"gone\n", 0o644, 1_600_000_000);
    let ours = dir.join("ours");
    common::put_file(&ours.join("kept/stale"), b"stale\n", 0o644, 1_600_000_000);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(common::rsync_bin().display().to_string()),
        user: None,
        host: "peer".into(),
    };
    let opts = TransferOptions {
        delete: true,
        ..TransferOptions::archive()
    };
    let report = rdsync_wire::push_with_events(
        &shell,
        &opts,
        &[PathBuf::from(slash(&src))],
        &slash(&ours),
        Some(Box::new(DeleteAfterFirstList {
            victim: src.join("gone"),
            replace_with_file,
            done: false,
        })),
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(
        report.file_lists_sent > 1,
        "incremental recursion was not used"
    );
    assert_eq!(std::fs::read(ours.join("kept/f")).unwrap(), b"kept\n");
    assert!(
        ours.join("gone").is_dir(),
        "the listed directory is still made"
    );
    assert!(!ours.join("gone/g").exists());
    (ours, report)
}

/// A directory that vanishes before its list is sent is reported as rsync's sender
/// reports it ("directory has vanished"), the rest is still sent, and the exit code is 24.
/// A vanished file does not stop the receiver's `--delete` (only IOERR_GENERAL does,
/// `generator.c: delete_in_dir`), so the stale file goes as it would with rsync.
#[test]
fn a_directory_vanishing_mid_transfer_is_24() {
    let (ours, report) = push_while_a_directory_goes("incr-vanish", false);
    assert_eq!(report.exit_code, 24);
    assert!(!ours.join("kept/stale").exists(), "--delete stopped");
    assert!(
        !report.remote_stderr.contains("IO error encountered"),
        "{}",
        report.remote_stderr
    );
}

/// A directory that cannot be listed (here: turned into a file) is an error: exit 23, and
/// the io_error travels with the list (IOERR_GENERAL, which makes a receiver skip
/// deletions from then on).
#[test]
fn a_directory_that_cannot_be_listed_is_23() {
    let (_, report) = push_while_a_directory_goes("incr-unlistable", true);
    assert_eq!(report.exit_code, 23);
}
