//! Push and pull against the real `rsync --server` over a local remote shell; the
//! resulting tree (content, mode, mtime, symlinks) must equal what rsync-to-rsync makes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::{RemoteShell, TransferOptions, pull, push};

struct Setup {
    dir: PathBuf,
    rsh: PathBuf,
}

fn setup(name: &str) -> Setup {
    common::rsync_bin();
    let dir = common::scratch(name);
    let rsh = common::local_rsh(&dir);
    Setup { dir, rsh }
}

fn shell(s: &Setup, protocol: Option<u32>) -> RemoteShell {
    RemoteShell {
        rsh: Some(s.rsh.display().to_string()),
        rsync_path: protocol
            .map(|p| format!("/usr/bin/rsync --protocol={p}"))
            .or(Some("/usr/bin/rsync".into())),
        user: None,
        host: "localhost".into(),
    }
}

fn rsync(s: &Setup, protocol: Option<u32>, args: &[&str], from: &str, to: &str) -> i32 {
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(args).arg("-e").arg(&s.rsh);
    match protocol {
        Some(p) => cmd.arg(format!("--rsync-path=/usr/bin/rsync --protocol={p}")),
        None => cmd.arg("--rsync-path=/usr/bin/rsync"),
    };
    cmd.arg(from).arg(to);
    let (code, out, err) = common::run(&mut cmd);
    assert!(
        code == 0 || code == 23 || code == 24,
        "rsync {args:?} {from} {to} failed {code}: {out} {err}"
    );
    code
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn assert_same_tree(theirs: &Path, ours: &Path, what: &str) {
    let a = common::tree_listing(theirs);
    let b = common::tree_listing(ours);
    assert!(!a.is_empty(), "{what}: rsync produced an empty tree");
    assert_eq!(b, a, "{what}: our tree differs from rsync's");
}

fn push_case(protocol: Option<u32>, rsync_args: &[&str], opts: &TransferOptions, with_old: bool) {
    let s = setup(&format!("push-{}", protocol.unwrap_or(0)));
    let src = s.dir.join("src");
    common::make_tree(&src);
    let theirs = s.dir.join("dst-rsync");
    let ours = s.dir.join("dst-ours");
    if with_old {
        common::make_old_version(&theirs);
        common::make_old_version(&ours);
    }
    rsync(
        &s,
        protocol,
        rsync_args,
        &slash(&src),
        &format!("localhost:{}", slash(&theirs)),
    );
    let report = push(
        &shell(&s, protocol),
        opts,
        &[PathBuf::from(slash(&src))],
        &slash(&ours),
    );
    assert!(
        report.error.is_none(),
        "push failed: {:?}\nstderr: {}",
        report.error,
        report.remote_stderr
    );
    assert_eq!(
        report.exit_code, 0,
        "push exit code; stderr: {}",
        report.remote_stderr
    );
    assert_eq!(report.remote_exit, Some(0));
    if let Some(p) = protocol {
        assert_eq!(report.params.as_ref().map(|x| x.protocol), Some(p.min(32)));
    }
    assert!(!report.transferred.is_empty(), "nothing was transferred");
    assert_same_tree(
        &theirs,
        &ours,
        &format!("push proto {protocol:?} {rsync_args:?}"),
    );
}

fn pull_case(protocol: Option<u32>, rsync_args: &[&str], opts: &TransferOptions, with_old: bool) {
    let s = setup(&format!("pull-{}", protocol.unwrap_or(0)));
    let src = s.dir.join("src");
    common::make_tree(&src);
    let theirs = s.dir.join("dst-rsync");
    let ours = s.dir.join("dst-ours");
    if with_old {
        common::make_old_version(&theirs);
        common::make_old_version(&ours);
    }
    rsync(
        &s,
        protocol,
        rsync_args,
        &format!("localhost:{}", slash(&src)),
        &slash(&theirs),
    );
    let report = pull(
        &shell(&s, protocol),
        opts,
        &[slash(&src)],
        &PathBuf::from(slash(&ours)),
    );
    assert!(
        report.error.is_none(),
        "pull failed: {:?}\nstderr: {}",
        report.error,
        report.remote_stderr
    );
    assert_eq!(
        report.exit_code, 0,
        "pull exit code; stderr: {}",
        report.remote_stderr
    );
    assert_eq!(report.remote_exit, Some(0));
    assert!(report.stats.total_size > 0, "statistics were not received");
    if with_old {
        // big.bin and d1/d2/c have old versions: only the changed parts may travel.
        assert!(
            report.stats.bytes_received < 250_000,
            "delta not used: {:?}",
            report.stats
        );
    }
    assert_same_tree(
        &theirs,
        &ours,
        &format!("pull proto {protocol:?} {rsync_args:?}"),
    );
}

#[test]
fn push_archive_new_tree_every_protocol() {
    for p in [None, Some(31), Some(30), Some(29), Some(28), Some(27)] {
        push_case(p, &["-a"], &TransferOptions::archive(), false);
    }
}

#[test]
fn pull_archive_new_tree_every_protocol() {
    for p in [None, Some(31), Some(30), Some(29), Some(28), Some(27)] {
        pull_case(p, &["-a"], &TransferOptions::archive(), false);
    }
}

#[test]
fn push_delta_with_delete() {
    for p in [None, Some(30), Some(29), Some(27)] {
        let opts = TransferOptions {
            delete: true,
            ..TransferOptions::archive()
        };
        push_case(p, &["-a", "--delete"], &opts, true);
    }
}

#[test]
fn pull_delta_with_delete() {
    for p in [None, Some(30), Some(29), Some(27)] {
        let opts = TransferOptions {
            delete: true,
            ..TransferOptions::archive()
        };
        pull_case(p, &["-a", "--delete"], &opts, true);
    }
}
