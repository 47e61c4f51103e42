//! End to end over a real OpenSSH sshd on 127.0.0.1: rdsync's client (the wire crate, with
//! `ssh` as the remote shell) against the real `rsync --server` on the far side of sshd, compared
//! with what rsync-to-rsync over the same sshd makes.

mod sshd_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync::wire::{RemoteShell, TransferOptions, pull, push};
use sshd_support::{Sshd, put_file, scratch, tree_listing};

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn make_tree(root: &Path) {
    put_file(
        &root.join("a.txt"),
        b"hello over ssh\n",
        0o644,
        1_600_000_000,
    );
    put_file(
        &root.join("big.bin"),
        &noise(700_000, 1),
        0o600,
        1_600_000_100,
    );
    put_file(
        &root.join("dir/nested/file with space"),
        b"x",
        0o755,
        1_500_000_000,
    );
    put_file(&root.join("dir/empty"), b"", 0o640, 1_700_000_000);
    std::fs::create_dir_all(root.join("emptydir")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap_or_else(|e| panic!("{e}"));
}

fn edit_tree(root: &Path) {
    let mut big = noise(700_000, 1);
    big[350_000..350_100].fill(7);
    big.splice(1000..1000, b"inserted".iter().copied());
    put_file(&root.join("big.bin"), &big, 0o600, 1_600_000_200);
    std::fs::remove_file(root.join("dir/empty")).unwrap_or_else(|e| panic!("{e}"));
    put_file(&root.join("new.txt"), b"new file\n", 0o644, 1_650_000_000);
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn rsync_over_ssh(sshd: &Sshd, args: &[&str], from: &str, to: &str) {
    let out = Command::new("/usr/bin/rsync")
        .args(args)
        .arg("-e")
        .arg(&sshd.rsh)
        .arg(from)
        .arg(to)
        .output()
        .unwrap_or_else(|e| panic!("rsync: {e}"));
    assert!(
        out.status.success(),
        "rsync {args:?} {from} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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

/// Runs the `rdsync` command; returns (exit code, stdout, stderr).
fn rdsync(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rdsync"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rdsync: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_rdsync_command_pushes_and_pulls_natively_over_sshd() {
    let sshd = Sshd::start();
    let dir = scratch("ssh-cli");
    let src = dir.join("src");
    make_tree(&src);
    let (theirs, ours) = (dir.join("theirs"), dir.join("ours"));
    let (theirs_pull, ours_pull) = (dir.join("theirs-pull"), dir.join("ours-pull"));
    for round in ["first copy", "delta and --delete"] {
        let mut args = vec!["-a", "--stats"];
        if round != "first copy" {
            edit_tree(&src);
            args.push("--delete");
        }
        let remote = |p: &Path| format!("127.0.0.1:{}", slash(p));
        rsync_over_ssh(&sshd, &args, &slash(&src), &remote(&theirs));
        rsync_over_ssh(&sshd, &args, &remote(&src), &slash(&theirs_pull));
        for (from, to) in [
            (slash(&src), remote(&ours)),
            (remote(&src), slash(&ours_pull)),
        ] {
            let mut argv = args.clone();
            argv.extend(["-e", &sshd.rsh, &from, &to]);
            let (code, out, err) = rdsync(&argv);
            assert_eq!(code, 0, "{round}: rdsync {argv:?}: {out}\n{err}");
            assert!(
                !err.contains("running /usr/bin/rsync instead"),
                "{round}: fell back to system rsync: {err}"
            );
            assert!(out.contains("total size is"), "{round}: no summary: {out}");
        }
        assert_eq!(
            tree_listing(&ours),
            tree_listing(&theirs),
            "{round}: push trees differ"
        );
        assert_eq!(
            tree_listing(&ours_pull),
            tree_listing(&theirs_pull),
            "{round}: pull trees differ"
        );
    }
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
