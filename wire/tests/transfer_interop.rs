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

fn rsync_stdout(s: &Setup, protocol: Option<u32>, args: &[&str], from: &str, to: &str) -> String {
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(args).arg("-e").arg(&s.rsh);
    match protocol {
        Some(p) => cmd.arg(format!("--rsync-path=/usr/bin/rsync --protocol={p}")),
        None => cmd.arg("--rsync-path=/usr/bin/rsync"),
    };
    cmd.arg(from).arg(to);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "rsync {args:?} {from} {to} failed: {out} {err}");
    out
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
    assert!(
        report.stats.total_size > 300_000,
        "push statistics: {:?}",
        report.stats
    );
    if with_old {
        assert!(
            report.stats.bytes_sent < 250_000,
            "push delta not used: {:?}",
            report.stats
        );
    }
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
    let mut verbose_args = rsync_args.to_vec();
    verbose_args.push("-v");
    let out = rsync_stdout(
        &s,
        protocol,
        &verbose_args,
        &format!("localhost:{}", slash(&src)),
        &slash(&theirs),
    );
    let mut rsync_deleted: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("deleting "))
        .map(str::to_string)
        .collect();
    rsync_deleted.sort();
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
    let mut our_deleted = report.messages.deleted.clone();
    our_deleted.sort();
    assert_eq!(
        our_deleted, rsync_deleted,
        "pull deletions differ from rsync's"
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

#[test]
fn single_files_and_several_sources_land_where_rsync_puts_them() {
    let s = setup("shapes");
    let src = s.dir.join("src");
    common::make_tree(&src);
    let a = src.join("a").display().to_string();
    let d1 = src.join("d1").display().to_string(); // no slash: the directory itself
    let opts = TransferOptions::archive();
    // Pull one file to a new name, one file into a directory, two sources into a directory.
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![a.clone()], "renamed"),
        (vec![a.clone()], "intodir/"),
        (vec![a.clone(), d1.clone()], "two/"),
    ];
    for (i, (sources, dest)) in cases.iter().enumerate() {
        let theirs = s.dir.join(format!("pull-rsync-{i}"));
        let ours = s.dir.join(format!("pull-ours-{i}"));
        std::fs::create_dir_all(&theirs).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&ours).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(common::rsync_bin());
        cmd.arg("-a")
            .arg("-e")
            .arg(&s.rsh)
            .arg("--rsync-path=/usr/bin/rsync");
        for (j, src) in sources.iter().enumerate() {
            cmd.arg(if j == 0 {
                format!("localhost:{src}")
            } else {
                format!(":{src}")
            });
        }
        cmd.arg(
            theirs.join(dest).display().to_string() + if dest.ends_with('/') { "/" } else { "" },
        );
        let (code, out, err) = common::run(&mut cmd);
        assert_eq!(code, 0, "rsync: {out} {err}");
        let mut target = ours.join(dest).display().to_string();
        if dest.ends_with('/') {
            target.push('/');
        }
        let report = pull(&shell(&s, None), &opts, sources, Path::new(&target));
        assert!(
            report.error.is_none(),
            "pull {sources:?} → {dest}: {:?}",
            report.error
        );
        assert_eq!(report.exit_code, 0);
        // A destination directory created for the transfer gets "now" as its mtime on
        // both sides: compare what is inside it.
        let (t, o) = if dest.ends_with('/') {
            (theirs.join(dest), ours.join(dest))
        } else {
            (theirs, ours)
        };
        assert_same_tree(&t, &o, &format!("pull {sources:?} → {dest}"));
    }
    // Push two sources into a directory.
    let theirs = s.dir.join("push-rsync");
    let ours = s.dir.join("push-ours");
    rsync(
        &s,
        None,
        &["-a"],
        &a,
        &format!("localhost:{}", slash(&theirs)),
    );
    rsync(
        &s,
        None,
        &["-a"],
        &d1,
        &format!("localhost:{}", slash(&theirs)),
    );
    let report = push(
        &shell(&s, None),
        &opts,
        &[PathBuf::from(&a), PathBuf::from(&d1)],
        &slash(&ours),
    );
    assert!(
        report.error.is_none(),
        "push two sources: {:?} {}",
        report.error,
        report.remote_stderr
    );
    assert_eq!(report.exit_code, 0);
    assert_same_tree(&theirs, &ours, "push two sources");
}
