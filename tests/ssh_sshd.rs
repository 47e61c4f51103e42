//! End to end over a real OpenSSH sshd on 127.0.0.1: rdsync's client (the wire crate, with
//! `ssh` as the remote shell) against the real `rsync --server` on the far side of sshd, compared
//! with what rsync-to-rsync over the same sshd makes.

mod sshd_support;

use std::path::{Path, PathBuf};

use rdsync::wire::{RemoteShell, TransferOptions, pull, push};
use sshd_support::{
    Sshd, edit_tree, make_tree, rdsync, rdsync_rounds_match_rsync, rsync_over_ssh, scratch, slash,
    tree_listing,
};

fn shell(sshd: &Sshd) -> RemoteShell {
    RemoteShell {
        rsh: Some(sshd.rsh.clone()),
        rsync_path: None,
        user: None,
        host: "127.0.0.1".into(),
    }
}

/// Asserts a clean transfer, then that our tree equals rsync's.
fn assert_round(round: &str, report: &rdsync::wire::TransferReport, ours: &Path, theirs: &Path) {
    assert!(
        report.error.is_none() && report.exit_code == 0,
        "{round}: transfer failed: {:?} (exit {}), remote stderr: {}",
        report.error,
        report.exit_code,
        report.remote_stderr
    );
    assert_eq!(report.remote_exit, Some(0), "{round}");
    assert_eq!(
        tree_listing(ours),
        tree_listing(theirs),
        "{round}: trees differ"
    );
}

fn delete_opts() -> TransferOptions {
    TransferOptions {
        delete: true,
        ..TransferOptions::archive()
    }
}

#[test]
fn push_over_real_sshd_matches_rsync() {
    let sshd = Sshd::start();
    let dir = scratch("ssh-push");
    let src = dir.join("src");
    make_tree(&src);
    let (theirs, ours) = (dir.join("theirs"), dir.join("ours"));

    for (round, opts, args) in [
        ("first copy", TransferOptions::archive(), vec!["-a"]),
        ("delta and --delete", delete_opts(), vec!["-a", "--delete"]),
    ] {
        if round != "first copy" {
            edit_tree(&src);
        }
        rsync_over_ssh(
            &sshd,
            &args,
            &slash(&src),
            &format!("127.0.0.1:{}", slash(&theirs)),
        );
        let report = push(
            &shell(&sshd),
            &opts,
            &[PathBuf::from(slash(&src))],
            &slash(&ours),
        );
        assert_round(round, &report, &ours, &theirs);
    }
    assert!(
        !ours.join("dir/empty").exists(),
        "--delete removed the file"
    );
}

#[test]
fn pull_over_real_sshd_matches_rsync() {
    let sshd = Sshd::start();
    let dir = scratch("ssh-pull");
    let src = dir.join("src");
    make_tree(&src);
    let (theirs, ours) = (dir.join("theirs"), dir.join("ours"));

    for (round, opts, args) in [
        ("first copy", TransferOptions::archive(), vec!["-a"]),
        ("delta and --delete", delete_opts(), vec!["-a", "--delete"]),
    ] {
        if round != "first copy" {
            edit_tree(&src);
        }
        let remote = format!("127.0.0.1:{}", slash(&src));
        rsync_over_ssh(&sshd, &args, &remote, &slash(&theirs));
        let report = pull(
            &shell(&sshd),
            &opts,
            &[slash(&src)],
            &PathBuf::from(slash(&ours)),
        );
        assert_round(round, &report, &ours, &theirs);
    }
}

#[test]
fn the_rdsync_command_pushes_and_pulls_natively_over_sshd() {
    let sshd = Sshd::start();
    rdsync_rounds_match_rsync(&sshd, "ssh-cli", &[], false);
}

#[test]
fn remote_argument_errors_match_rsync() {
    let (code, _, err) = rdsync(&["-a", "h1:a", "h2:b"]);
    assert_eq!(code, 1, "both remote is a syntax error: {err}");
    assert!(err.contains("cannot both be remote"), "{err}");
    let (code, _, err) = rdsync(&["-a", "-e", "ssh", "--", "./a", "-oProxyCommand=x:b"]);
    assert_eq!(code, 1, "a host starting with '-' must be refused: {err}");
    assert!(err.contains("invalid remote host name"), "{err}");
    assert!(!err.contains("running /usr/bin/rsync"), "{err}");
}
