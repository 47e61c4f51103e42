//! Options over a remote shell against the real rsync (3.5.0, and 3.2.7 as the older
//! peer): `--inplace`, `--partial`, `--existing`, `--ignore-existing`, `--mkpath`,
//! `--delete-WHEN`, `--delete-excluded`, `merge`/`dir-merge` rules and `-F`. Each case runs
//! rsync-to-rsync and rdsync-to-rsync with the same options from the same trees, push
//! and pull, and compares the trees, the exit codes and the deletions reported.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_engine::filter::{FilterChain, FilterRule, RuleSyntax};
use rdsync_wire::{DeleteWhen, RemoteShell, TransferOptions, TransferReport, pull, push};

/// Which rsync runs as the server, at which protocol.
#[derive(Clone)]
struct Server {
    rsync_path: String,
    protocol: Option<u32>,
}

fn server(bin: &Path, protocol: Option<u32>) -> Server {
    Server {
        rsync_path: match protocol {
            Some(p) => format!("{} --protocol={p}", bin.display()),
            None => bin.display().to_string(),
        },
        protocol,
    }
}

fn servers() -> Vec<Server> {
    let new = common::rsync_bin();
    vec![
        server(&new, None),
        server(&new, Some(29)),
        server(&common::rsync_327(), None),
    ]
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn shell(rsh: &Path, srv: &Server) -> RemoteShell {
    RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(srv.rsync_path.clone()),
        user: None,
        host: "localhost".into(),
    }
}

/// Runs the real rsync client; returns (exit code, stdout, stderr).
fn rsync(rsh: &Path, srv: &Server, args: &[String], from: &str, to: &str) -> (i32, String, String) {
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(args)
        .arg("-e")
        .arg(rsh)
        .arg(format!("--rsync-path={}", srv.rsync_path))
        .arg(from)
        .arg(to);
    common::run(&mut cmd)
}

fn deletions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("deleting "))
        .map(str::to_string)
        .collect()
}

fn rules(texts: &[&str]) -> Vec<FilterRule> {
    let parsed = texts
        .iter()
        .filter_map(|t| {
            FilterRule::parse(t.as_bytes(), RuleSyntax::Filter)
                .ok()
                .flatten()
        })
        .collect();
    FilterChain::expand_merges(parsed).unwrap_or_else(|e| panic!("merge files: {e}"))
}

/// One comparison: rsync `args` versus our `opts`, from trees made by `src` and `dst`.
struct Case<'a> {
    name: &'a str,
    args: Vec<String>,
    opts: TransferOptions,
    src: &'a dyn Fn(&Path),
    dst: &'a dyn Fn(&Path),
}

/// What one run of one side produced.
struct Outcome {
    code: i32,
    deleted: Vec<String>,
}

fn ours(report: &TransferReport) -> Outcome {
    Outcome {
        code: report.exit_code,
        deleted: report.messages.deleted.clone(),
    }
}

/// Runs `case` push and pull against `srv`, asserting equal trees, exit codes and
/// deletions; returns the scratch dir (with `push-rsync`, `push-ours`, `pull-rsync`, …).
fn compare(case: &Case<'_>, srv: &Server) -> PathBuf {
    let dir = common::scratch(case.name);
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    (case.src)(&src);
    for push_mode in [true, false] {
        let tag = if push_mode { "push" } else { "pull" };
        let theirs_dir = dir.join(format!("{tag}-rsync"));
        let ours_dir = dir.join(format!("{tag}-ours"));
        (case.dst)(&theirs_dir);
        (case.dst)(&ours_dir);
        // rdsync pushes and pulls with incremental recursion, as rsync does: the
        // reference is rsync doing the same (it matters: with it, --ignore-existing
        // skips deletions after a failed directory; see
        // existing_and_ignore_existing_both_ways).
        let rsync_args = case.args.clone();
        let (code, out, err) = if push_mode {
            rsync(
                &rsh,
                srv,
                &rsync_args,
                &slash(&src),
                &format!("localhost:{}", slash(&theirs_dir)),
            )
        } else {
            rsync(
                &rsh,
                srv,
                &rsync_args,
                &format!("localhost:{}", slash(&src)),
                &slash(&theirs_dir),
            )
        };
        let theirs = Outcome {
            code,
            deleted: deletions(&out),
        };
        let report = if push_mode {
            push(
                &shell(&rsh, srv),
                &case.opts,
                &[PathBuf::from(slash(&src))],
                &slash(&ours_dir),
            )
        } else {
            pull(
                &shell(&rsh, srv),
                &case.opts,
                &[slash(&src)],
                &PathBuf::from(slash(&ours_dir)),
            )
        };
        let mine = ours(&report);
        let what = format!("{} {tag} {:?} via {}", case.name, case.args, srv.rsync_path);
        assert_eq!(
            mine.code, theirs.code,
            "{what}: exit code (ours: {:?}, remote stderr {}; rsync stderr: {err})",
            report.error, report.remote_stderr
        );
        assert_eq!(
            stable(common::tree_listing(&ours_dir)),
            stable(common::tree_listing(&theirs_dir)),
            "{what}: trees differ"
        );
        // Below protocol 29 a receiving server reports deletions as plain text, not
        // MSG_DELETED; only the trees are compared then.
        if !(push_mode && srv.protocol.is_some_and(|p| p < 29)) {
            assert_eq!(mine.deleted, theirs.deleted, "{what}: deletions differ");
        }
    }
    dir
}

/// A listing with the mtimes of "now" (a directory a deletion touched, one created
/// without -t) made equal: two runs can straddle a second.
fn stable(listing: Vec<String>) -> Vec<String> {
    listing
        .into_iter()
        .map(|l| match l.split_once(" mtime=") {
            Some((head, t)) if t.parse::<i64>().is_ok_and(|t| t > 1_700_000_000) => {
                format!("{head} mtime=now")
            }
            _ => l,
        })
        .collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The standard tree plus object files and filter files.
fn source_tree(src: &Path) {
    common::make_tree(src);
    common::put_file(&src.join("x.o"), b"object", 0o644, 1_600_003_000);
    common::put_file(&src.join("d1/y.o"), b"object y", 0o644, 1_600_003_000);
    common::put_file(&src.join("t.tmp"), b"temp", 0o644, 1_600_003_000);
    common::put_file(&src.join("d1/d2/u.tmp"), b"temp u", 0o644, 1_600_003_000);
    common::put_file(
        &src.join(".rsync-filter"),
        b"- *.tmp\n",
        0o644,
        1_600_003_000,
    );
    common::put_file(
        &src.join("d1/.rsync-filter"),
        b"- b\n",
        0o644,
        1_600_003_000,
    );
    common::set_mtime(&src.join("d1/d2"), 1_600_001_000);
    common::set_mtime(&src.join("d1"), 1_600_001_100);
    common::set_mtime(src, 1_600_001_300);
}

/// An older destination with things to delete: stale files, a stale tree, excluded and
/// protected names, and its own per-directory filter files.
fn old_tree(dst: &Path) {
    common::make_old_version(dst);
    common::put_file(&dst.join("gone/sub/f"), b"gone", 0o644, 1_500_000_000);
    common::put_file(&dst.join("gone/g"), b"gone g", 0o644, 1_500_000_000);
    common::put_file(&dst.join("old.o"), b"old object", 0o644, 1_500_000_000);
    common::put_file(&dst.join("d1/old.o"), b"old object", 0o644, 1_500_000_000);
    common::put_file(&dst.join("keep.tmp"), b"kept?", 0o644, 1_500_000_000);
    common::put_file(&dst.join("d1/d2/v.tmp"), b"kept?", 0o644, 1_500_000_000);
    common::put_file(&dst.join("keepme"), b"protected?", 0o644, 1_500_000_000);
    common::put_file(
        &dst.join(".rsync-filter"),
        b"- *.tmp\nP keepme\n",
        0o644,
        1_500_000_000,
    );
}

#[test]
fn delete_timings_both_ways() {
    let whens = [
        ("--delete", DeleteWhen::Unspecified),
        ("--delete-before", DeleteWhen::Before),
        ("--delete-during", DeleteWhen::During),
        ("--delete-delay", DeleteWhen::Delay),
        ("--delete-after", DeleteWhen::After),
    ];
    let mut n = 0;
    for srv in servers() {
        for (flag, when) in whens {
            let case = Case {
                name: "delete-when",
                args: args(&["-a", "-v", flag, "--exclude=*.o"]),
                opts: TransferOptions {
                    verbose: 1,
                    delete: true,
                    delete_when: when,
                    filters: rules(&["- *.o"]),
                    ..TransferOptions::archive()
                },
                src: &source_tree,
                dst: &old_tree,
            };
            compare(&case, &srv);
            n += 1;
        }
    }
    assert_eq!(n, 15);
}

#[test]
fn delete_excluded_both_ways() {
    let new = common::rsync_bin();
    let mut srvs = servers();
    srvs.push(server(&new, Some(28)));
    for srv in srvs {
        for (extra, when) in [
            (None, DeleteWhen::Unspecified),
            (Some("--delete"), DeleteWhen::Unspecified),
            (Some("--delete-after"), DeleteWhen::After),
        ] {
            let mut a = args(&["-a", "-v", "--exclude=*.o", "--delete-excluded"]);
            a.extend(extra.map(str::to_string));
            let case = Case {
                name: "delete-excluded",
                args: a,
                opts: TransferOptions {
                    verbose: 1,
                    delete: true,
                    delete_when: when,
                    delete_excluded: true,
                    filters: rules(&["- *.o"]),
                    ..TransferOptions::archive()
                },
                src: &source_tree,
                dst: &old_tree,
            };
            compare(&case, &srv);
        }
    }
}

#[test]
fn dir_merge_and_merge_rules_both_ways() {
    let dir = common::scratch("merge-file");
    let merge_file = dir.join("rules");
    std::fs::write(&merge_file, b"- *.o\n+ d1/\n").unwrap_or_else(|e| panic!("{e}"));
    let merge_rule = format!("merge {}", merge_file.display());
    let merge_arg = format!("--filter={merge_rule}");
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (args(&["-F"]), args(&["dir-merge /.rsync-filter"])),
        (
            args(&["-FF"]),
            args(&["dir-merge /.rsync-filter", "- .rsync-filter"]),
        ),
        (
            args(&["--filter=dir-merge,n- .rules", "-F"]),
            args(&["dir-merge,n- .rules", "dir-merge /.rsync-filter"]),
        ),
        (
            args(&["--filter=:e .rsync-filter"]),
            args(&[":e .rsync-filter"]),
        ),
        (vec![merge_arg.clone()], vec![merge_rule.clone()]),
    ];
    let with_rules_file = |src: &Path| {
        source_tree(src);
        common::put_file(&src.join("d1/.rules"), b"d2/\n", 0o644, 1_600_003_000);
        common::set_mtime(&src.join("d1"), 1_600_001_100);
    };
    for srv in servers() {
        for (extra, texts) in &cases {
            for delete in [false, true] {
                let mut a = args(&["-a", "-v"]);
                if delete {
                    a.push("--delete".into());
                }
                a.extend(extra.iter().cloned());
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let case = Case {
                    name: "dir-merge",
                    args: a,
                    opts: TransferOptions {
                        verbose: 1,
                        delete,
                        filters: rules(&texts),
                        ..TransferOptions::archive()
                    },
                    src: &with_rules_file,
                    dst: &old_tree,
                };
                compare(&case, &srv);
            }
        }
    }
}

#[test]
fn existing_and_ignore_existing_both_ways() {
    let partial_old = |dst: &Path| {
        old_tree(dst);
        // A file where a directory arrives, and a directory where a file arrives.
        common::put_file(&dst.join("d1.x"), b"file in the way", 0o644, 1_500_000_000);
        std::fs::create_dir_all(dst.join("d1-x")).unwrap_or_else(|e| panic!("{e}"));
    };
    for srv in servers() {
        for (flag, existing, ignore_existing) in [
            ("--existing", true, false),
            ("--ignore-existing", false, true),
        ] {
            for delete in [false, true] {
                let mut a = args(&["-a", "-v", flag]);
                if delete {
                    a.push("--delete".into());
                }
                let case = Case {
                    name: "existing",
                    args: a,
                    opts: TransferOptions {
                        verbose: 1,
                        delete,
                        existing,
                        ignore_existing,
                        ..TransferOptions::archive()
                    },
                    src: &source_tree,
                    dst: &partial_old,
                };
                compare(&case, &srv);
            }
        }
    }
}

#[test]
fn mkpath_creates_the_destination_path_both_ways() {
    let rsync_bin = common::rsync_bin();
    for srv in [server(&rsync_bin, None), server(&common::rsync_327(), None)] {
        let dir = common::scratch("mkpath");
        let rsh = common::local_rsh(&dir);
        let src = dir.join("src");
        source_tree(&src);
        let opts = TransferOptions {
            mkpath: true,
            ..TransferOptions::archive()
        };
        // A tree into a missing a/b/c/, and one file into a missing x/y/ under a new name.
        for (from, to, single) in [
            (slash(&src), "a/b/c/", false),
            (format!("{}/a", src.display()), "x/y/renamed", true),
        ] {
            for push_mode in [true, false] {
                let tag = if push_mode { "push" } else { "pull" };
                let theirs = dir.join(format!("{tag}-rsync"));
                let ours = dir.join(format!("{tag}-ours"));
                std::fs::create_dir_all(&theirs).unwrap_or_else(|e| panic!("{e}"));
                std::fs::create_dir_all(&ours).unwrap_or_else(|e| panic!("{e}"));
                let t_dest = format!("{}/{to}", theirs.display());
                let o_dest = format!("{}/{to}", ours.display());
                let (code, _, err) = if push_mode {
                    rsync(
                        &rsh,
                        &srv,
                        &args(&["-a", "--mkpath"]),
                        &from,
                        &format!("localhost:{t_dest}"),
                    )
                } else {
                    rsync(
                        &rsh,
                        &srv,
                        &args(&["-a", "--mkpath"]),
                        &format!("localhost:{from}"),
                        &t_dest,
                    )
                };
                assert_eq!(code, 0, "rsync --mkpath {tag}: {err}");
                let report = if push_mode {
                    push(&shell(&rsh, &srv), &opts, &[PathBuf::from(&from)], &o_dest)
                } else {
                    pull(
                        &shell(&rsh, &srv),
                        &opts,
                        std::slice::from_ref(&from),
                        &PathBuf::from(&o_dest),
                    )
                };
                assert_eq!(
                    report.exit_code, 0,
                    "ours --mkpath {tag} {to}: {:?} {}",
                    report.error, report.remote_stderr
                );
                let top = to.split('/').next().unwrap_or_default();
                assert_eq!(
                    common::tree_listing(&ours.join(top))
                        .iter()
                        .map(|l| l.split(" mtime=").next().unwrap_or_default().to_string())
                        .collect::<Vec<_>>(),
                    common::tree_listing(&theirs.join(top))
                        .iter()
                        .map(|l| l.split(" mtime=").next().unwrap_or_default().to_string())
                        .collect::<Vec<_>>(),
                    "--mkpath {tag} {to} via {}",
                    srv.rsync_path
                );
                if single {
                    assert!(ours.join(to).is_file(), "{tag}: {to} is the file");
                }
            }
        }
    }
}

/// Inode of every regular file in a tree, by relative path.
fn inodes(root: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for rel in ["big.bin", "d1/d2/c", "a"] {
        if let Ok(md) = std::fs::symlink_metadata(root.join(rel)) {
            out.push((rel.to_string(), md.ino()));
        }
    }
    out
}

#[test]
fn inplace_keeps_the_inode_and_matches_rsync() {
    for srv in servers() {
        for whole in [false, true] {
            let mut a = args(&["-a", "--inplace"]);
            if whole {
                a.push("-W".into());
            }
            let case = Case {
                name: "inplace",
                args: a,
                opts: TransferOptions {
                    inplace: true,
                    whole_file: whole,
                    ..TransferOptions::archive()
                },
                src: &source_tree,
                dst: &|d: &Path| {
                    old_tree(d);
                    // Longer than the new file: the tail must be cut off.
                    common::put_file(&d.join("mid.bin"), &common::noise(9_000, 2), 0o600, 1);
                },
            };
            let out = compare(&case, &srv);
            // The files existed before the run: the same inodes after it.
            let dst = out.join("check");
            old_tree(&dst);
            let before = inodes(&dst);
            let rsh = common::local_rsh(&out);
            let report = pull(
                &shell(&rsh, &srv),
                &case.opts,
                &[slash(&out.join("src"))],
                &PathBuf::from(slash(&dst)),
            );
            assert_eq!(report.exit_code, 0, "{:?}", report.error);
            assert_eq!(inodes(&dst), before, "pull --inplace must keep the inodes");
            let names: Vec<String> = std::fs::read_dir(&dst)
                .unwrap_or_else(|e| panic!("{e}"))
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.') && n != ".rsync-filter")
                .collect();
            assert!(names.is_empty(), "no temp files with --inplace: {names:?}");
        }
    }
}

/// A remote shell that interrupts the transfer mid-file. Push: the server's input is cut
/// after `bytes` (`dd bs=1` passes every byte on at once; `head` would hold the handshake
/// in its stdio buffer). Pull: the server sends at a limited rate (its `--bwlimit`, set
/// in the rsync path) and is stopped with SIGTERM after a second (`timeout`).
fn cutting_rsh(dir: &Path, bytes: usize, pull: bool) -> PathBuf {
    let p = dir.join(if pull { "cut-pull-rsh" } else { "cut-push-rsh" });
    let body = if pull {
        "#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then shift 2; fi\nshift\ntimeout -s TERM 1 sh -c \"exec $*\"\nexit 0\n".to_string()
    } else {
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then shift 2; fi\nshift\ndd bs=1 count={bytes} 2>/dev/null | sh -c \"$*\"\n"
        )
    };
    common::script(&p, &body);
    p
}

#[test]
fn partial_keeps_a_cut_transfer_like_rsync() {
    let fast = server(&common::rsync_bin(), None);
    let slow = Server {
        rsync_path: format!("{} --bwlimit=2000", common::rsync_bin().display()),
        protocol: None,
    };
    let dir = common::scratch("partial");
    let src = dir.join("src");
    let data = common::noise(4_000_000, 9);
    common::put_file(&src.join("huge"), &data, 0o640, 1_600_000_000);
    for partial in [true, false] {
        for push_mode in [true, false] {
            let tag = format!(
                "{}-{}",
                if push_mode { "push" } else { "pull" },
                if partial { "partial" } else { "plain" }
            );
            let rsh = cutting_rsh(&dir, 600_000, !push_mode);
            let srv = if push_mode { &fast } else { &slow };
            let theirs = dir.join(format!("{tag}-rsync"));
            let ours = dir.join(format!("{tag}-ours"));
            std::fs::create_dir_all(&theirs).unwrap_or_else(|e| panic!("{e}"));
            std::fs::create_dir_all(&ours).unwrap_or_else(|e| panic!("{e}"));
            let mut a = args(&["-a"]);
            if partial {
                a.push("--partial".into());
            }
            let opts = TransferOptions {
                partial,
                ..TransferOptions::archive()
            };
            let (code, report) = if push_mode {
                let (code, _, _) = rsync(
                    &rsh,
                    srv,
                    &a,
                    &slash(&src),
                    &format!("localhost:{}", slash(&theirs)),
                );
                let report = push(
                    &shell(&rsh, srv),
                    &opts,
                    &[PathBuf::from(slash(&src))],
                    &slash(&ours),
                );
                (code, report)
            } else {
                let (code, _, _) = rsync(
                    &rsh,
                    srv,
                    &a,
                    &format!("localhost:{}", slash(&src)),
                    &slash(&theirs),
                );
                let report = pull(
                    &shell(&rsh, srv),
                    &opts,
                    &[slash(&src)],
                    &PathBuf::from(slash(&ours)),
                );
                (code, report)
            };
            if push_mode {
                // Where the stream breaks decides between rsync's socket (10) and protocol
                // stream (12) errors, for rsync as for us: both are a broken connection.
                assert!([10, 12].contains(&code), "{tag}: rsync exit {code}");
                assert!(
                    [10, 12].contains(&report.exit_code),
                    "{tag}: exit code {} ({:?}, {})",
                    report.exit_code,
                    report.error,
                    report.remote_stderr
                );
            } else {
                // The remote shell exits 0, so the broken stream (12) is the exit code
                // (rsync takes the worse of the two when the shell has already exited).
                assert_eq!(code, 12, "{tag}: rsync exit code");
                assert_eq!(
                    report.exit_code, code,
                    "{tag}: exit code ({:?}, {})",
                    report.error, report.remote_stderr
                );
            }
            // No temp file is left either way; with --partial the received prefix is
            // kept under the file's name with mtime 0, as rsync keeps it.
            for (side, root) in [("rsync", &theirs), ("ours", &ours)] {
                let names: Vec<String> = std::fs::read_dir(root)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                if partial {
                    assert_eq!(names, vec!["huge".to_string()], "{tag} {side}");
                    let kept = std::fs::read(root.join("huge")).unwrap_or_default();
                    assert!(
                        !kept.is_empty() && kept.len() < data.len(),
                        "{tag} {side}: partial size {}",
                        kept.len()
                    );
                    assert!(
                        data.starts_with(&kept),
                        "{tag} {side}: a prefix of the source"
                    );
                    let md = std::fs::metadata(root.join("huge")).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(md.mtime(), 0, "{tag} {side}: mtime of a partial file");
                    assert_eq!(md.mode() & 0o7777, 0o640, "{tag} {side}: mode");
                } else {
                    assert!(names.is_empty(), "{tag} {side}: nothing kept: {names:?}");
                }
            }
        }
    }
}

#[test]
fn inplace_pull_never_writes_through_a_symlink() {
    let srv = server(&common::rsync_bin(), None);
    let dir = common::scratch("inplace-symlink");
    let rsh = common::local_rsh(&dir);
    let src = dir.join("src");
    source_tree(&src);
    let outside = dir.join("outside");
    common::put_file(&outside.join("target"), b"must stay", 0o644, 1_000);
    common::put_file(&outside.join("b"), b"must stay too", 0o644, 1_000);
    let planted = |dst: &Path| {
        old_tree(dst);
        // The destination file name and a parent directory are symlinks out of the tree.
        std::fs::remove_file(dst.join("a")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(outside.join("target"), dst.join("a"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_dir_all(dst.join("d1")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&outside, dst.join("d1")).unwrap_or_else(|e| panic!("{e}"));
    };
    let theirs = dir.join("rsync");
    let ours = dir.join("ours");
    planted(&theirs);
    planted(&ours);
    let a = args(&["-a", "--inplace"]);
    let (code, _, err) = rsync(
        &rsh,
        &srv,
        &a,
        &format!("localhost:{}", slash(&src)),
        &slash(&theirs),
    );
    let before = common::tree_listing(&outside);
    let opts = TransferOptions {
        inplace: true,
        ..TransferOptions::archive()
    };
    let report = pull(
        &shell(&rsh, &srv),
        &opts,
        &[slash(&src)],
        &PathBuf::from(slash(&ours)),
    );
    assert_eq!(
        common::tree_listing(&outside),
        before,
        "nothing written outside"
    );
    assert_eq!(
        std::fs::read(outside.join("target")).unwrap_or_default(),
        b"must stay"
    );
    assert_eq!(
        report.exit_code, code,
        "exit code: {:?} / rsync: {err}",
        report.error
    );
    assert_eq!(
        common::tree_listing(&ours),
        common::tree_listing(&theirs),
        "trees differ"
    );
}
