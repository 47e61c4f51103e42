//! The same interop checks against rsync 3.2.7 as the server (the older peer).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::{RemoteShell, TransferOptions, pull, push};

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn run_case(name: &str, protocol: Option<u32>, args: &[&str], opts: &TransferOptions, links: bool) {
    common::rsync_bin();
    let server = common::rsync_327();
    let rsync_path = match protocol {
        Some(p) => format!("{} --protocol={p}", server.display()),
        None => server.display().to_string(),
    };
    let dir = common::scratch(name);
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    common::make_tree(&src);
    if links {
        common::add_links_and_devices(&src);
    }
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(rsync_path.clone()),
        user: None,
        host: "old".into(),
    };
    for push_mode in [true, false] {
        let tag = if push_mode { "push" } else { "pull" };
        let theirs = dir.join(format!("{tag}-rsync"));
        let ours = dir.join(format!("{tag}-ours"));
        common::make_old_version(&theirs);
        common::make_old_version(&ours);
        let mut cmd = Command::new(common::rsync_bin());
        cmd.args(args)
            .arg("-e")
            .arg(&rsh)
            .arg(format!("--rsync-path={rsync_path}"));
        let report = if push_mode {
            cmd.arg(slash(&src)).arg(format!("old:{}", slash(&theirs)));
            let (code, out, err) = common::run(&mut cmd);
            assert_eq!(code, 0, "rsync→3.2.7 {args:?}: {out} {err}");
            push(&shell, opts, &[PathBuf::from(slash(&src))], &slash(&ours))
        } else {
            cmd.arg(format!("old:{}", slash(&src))).arg(slash(&theirs));
            let (code, out, err) = common::run(&mut cmd);
            assert_eq!(code, 0, "3.2.7→rsync {args:?}: {out} {err}");
            pull(&shell, opts, &[slash(&src)], &PathBuf::from(slash(&ours)))
        };
        let what = format!("{tag} vs 3.2.7 {args:?} {protocol:?}");
        assert!(
            report.error.is_none(),
            "{what}: {:?} {}",
            report.error,
            report.remote_stderr
        );
        assert_eq!(report.exit_code, 0, "{what}: {}", report.remote_stderr);
        assert_eq!(
            common::tree_listing(&ours),
            common::tree_listing(&theirs),
            "{what}: trees differ"
        );
        assert_eq!(
            common::link_groups(&ours),
            common::link_groups(&theirs),
            "{what}: hard links differ"
        );
    }
}

#[test]
fn archive_delta_delete_against_rsync_327() {
    let opts = TransferOptions {
        delete: true,
        ..TransferOptions::archive()
    };
    for p in [None, Some(30), Some(29), Some(27)] {
        run_case(
            &format!("p327-{}", p.unwrap_or(0)),
            p,
            &["-a", "--delete"],
            &opts,
            false,
        );
    }
}

#[test]
fn hard_links_devices_and_checksums_against_rsync_327() {
    let opts = TransferOptions {
        hard_links: true,
        checksum: true,
        ..TransferOptions::archive()
    };
    for p in [None, Some(29)] {
        run_case(
            &format!("p327-h-{}", p.unwrap_or(0)),
            p,
            &["-aHc"],
            &opts,
            true,
        );
    }
}

#[test]
fn compression_against_rsync_327() {
    let z = TransferOptions {
        compress: true,
        ..TransferOptions::archive()
    };
    for p in [None, Some(30), Some(29)] {
        run_case(
            &format!("p327-z-{}", p.unwrap_or(0)),
            p,
            &["-az"],
            &z,
            false,
        );
    }
    for choice in ["zlib", "zlibx"] {
        let opts = TransferOptions {
            compress_choice: Some(choice.into()),
            ..TransferOptions::archive()
        };
        let arg = format!("--zc={choice}");
        run_case(
            &format!("p327-{choice}"),
            None,
            &["-a", arg.as_str()],
            &opts,
            false,
        );
    }
}
