//! Many files and a large file both ways: no deadlock between our pumps and the
//! server's, bounded buffering, identical results to rsync.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::{RemoteShell, TransferOptions, pull, push};

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn make_volume(root: &Path) {
    for d in 0..20 {
        for f in 0..100 {
            let data = common::noise(500 + (d * 100 + f) % 1500, (d * 100 + f) as u32);
            common::put_file(
                &root.join(format!("dir{d:02}/f{f:03}")),
                &data,
                0o644,
                1_600_000_000 + f as i64,
            );
        }
    }
    common::put_file(
        &root.join("large.bin"),
        &common::noise(12 << 20, 99),
        0o644,
        1_600_000_000,
    );
}

/// The shell running the remote side locally.
fn local_shell(rsh: &std::path::Path) -> RemoteShell {
    RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some("/usr/bin/rsync".into()),
        user: None,
        host: "localhost".into(),
    }
}

/// Runs rsync with `args` from `src` into `theirs`, then us with `opts` into `ours`, pushing
/// or pulling; returns our report.
fn rsync_then_us(
    rsh: &std::path::Path,
    args: &[&str],
    opts: &TransferOptions,
    push_mode: bool,
    src: &std::path::Path,
    theirs: &std::path::Path,
    ours: &std::path::Path,
) -> rdsync_wire::TransferReport {
    let shell = local_shell(rsh);
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(args)
        .arg("-e")
        .arg(rsh)
        .arg("--rsync-path=/usr/bin/rsync");
    if push_mode {
        cmd.arg(slash(src))
            .arg(format!("localhost:{}", slash(theirs)));
    } else {
        cmd.arg(format!("localhost:{}", slash(src)))
            .arg(slash(theirs));
    }
    let (code, _, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    if push_mode {
        push(&shell, opts, &[PathBuf::from(slash(src))], &slash(ours))
    } else {
        pull(&shell, opts, &[slash(src)], &PathBuf::from(slash(ours)))
    }
}

#[test]
fn thousands_of_files_and_a_large_file_both_ways() {
    common::rsync_bin();
    let dir = common::scratch("volume");
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    make_volume(&src);
    for (tag, opts, args) in [
        ("plain", TransferOptions::archive(), vec!["-a"]),
        (
            "zstd",
            TransferOptions {
                compress: true,
                ..TransferOptions::archive()
            },
            vec!["-az"],
        ),
    ] {
        for push_mode in [true, false] {
            let theirs = dir.join(format!("{tag}-{push_mode}-rsync"));
            let ours = dir.join(format!("{tag}-{push_mode}-ours"));
            let report = rsync_then_us(&rsh, &args, &opts, push_mode, &src, &theirs, &ours);
            assert!(
                report.error.is_none(),
                "{tag} push={push_mode}: {:?}",
                report.error
            );
            assert_eq!(report.exit_code, 0);
            assert_eq!(report.transferred.len(), 2001, "{tag} push={push_mode}");
            assert_eq!(
                common::tree_listing(&ours),
                common::tree_listing(&theirs),
                "{tag} push={push_mode}"
            );
        }
    }
}

/// A big file (written behind on a second thread when pulled; 4 KiB blocks, so whole batches
/// of copied blocks end exactly where a literal starts) rebuilt from an older version
/// of itself: scattered edits, an insertion and a deletion, so most of it comes from basis
/// blocks. Both directions must leave exactly what rsync-to-rsync leaves.
#[test]
fn a_large_file_changed_in_places_both_ways() {
    common::rsync_bin();
    let dir = common::scratch("volume-delta");
    let rsh = common::local_rsh(&dir);
    let old = common::noise(16 << 20, 7);
    let mut new = old.clone();
    for at in (1000..new.len()).step_by(3 << 20) {
        new[at] ^= 0x5a;
    }
    new.splice(5_000_000..5_000_000, common::noise(777, 8));
    new.drain(13_000_000..13_000_333);
    let src = dir.join("src");
    common::put_file(&src.join("big.bin"), &new, 0o644, 1_600_000_100);
    let opts = TransferOptions::archive();
    for push_mode in [true, false] {
        let theirs = dir.join(format!("{push_mode}-rsync"));
        let ours = dir.join(format!("{push_mode}-ours"));
        for d in [&theirs, &ours] {
            common::put_file(&d.join("big.bin"), &old, 0o644, 1_500_000_000);
        }
        let report = rsync_then_us(&rsh, &["-a"], &opts, push_mode, &src, &theirs, &ours);
        assert!(
            report.error.is_none(),
            "push={push_mode}: {:?}",
            report.error
        );
        assert_eq!(report.exit_code, 0);
        assert_eq!(std::fs::read(ours.join("big.bin")).unwrap(), new);
        // Rebuilt from the basis, not sent whole.
        assert!(
            report.stats.matched_data > 15 << 20 && report.stats.literal_data < 1 << 20,
            "push={push_mode}: {:?}",
            report.stats
        );
        assert_eq!(
            common::tree_listing(&ours),
            common::tree_listing(&theirs),
            "push={push_mode}"
        );
    }
}
