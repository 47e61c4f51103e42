//! Options beyond `-a` against the real rsync: hard links, devices, `-c`, `-n`,
//! `--delete` reporting, whole-file, block size, checksum choice, error exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::{RemoteShell, TransferOptions, TransferReport, pull, push};

struct Env {
    dir: PathBuf,
    rsh: PathBuf,
}

fn env(name: &str) -> Env {
    common::rsync_bin();
    let dir = common::scratch(name);
    let rsh = common::local_rsh(&dir);
    Env { dir, rsh }
}

fn shell(e: &Env, protocol: Option<u32>) -> RemoteShell {
    RemoteShell {
        rsh: Some(e.rsh.display().to_string()),
        rsync_path: Some(match protocol {
            Some(p) => format!("/usr/bin/rsync --protocol={p}"),
            None => "/usr/bin/rsync".into(),
        }),
        user: None,
        host: "localhost".into(),
    }
}

fn rsync(
    e: &Env,
    protocol: Option<u32>,
    args: &[&str],
    from: &str,
    to: &str,
) -> (i32, String, String) {
    let mut cmd = Command::new(common::rsync_bin());
    cmd.args(args).arg("-e").arg(&e.rsh);
    cmd.arg(match protocol {
        Some(p) => format!("--rsync-path=/usr/bin/rsync --protocol={p}"),
        None => "--rsync-path=/usr/bin/rsync".into(),
    });
    cmd.arg(from).arg(to);
    common::run(&mut cmd)
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn ok(report: &TransferReport, what: &str) {
    assert!(
        report.error.is_none(),
        "{what}: {:?}\nremote stderr: {}",
        report.error,
        report.remote_stderr
    );
    assert_eq!(
        report.exit_code, 0,
        "{what}: exit code; remote stderr: {}",
        report.remote_stderr
    );
}

fn both_ways(
    name: &str,
    protocols: &[Option<u32>],
    args: &[&str],
    opts: &TransferOptions,
    prepare: fn(&Path),
    with_old: bool,
) {
    for &p in protocols {
        let e = env(&format!("{name}-{}", p.unwrap_or(0)));
        let src = e.dir.join("src");
        prepare(&src);
        for push_mode in [true, false] {
            let tag = if push_mode { "push" } else { "pull" };
            let theirs = e.dir.join(format!("{tag}-rsync"));
            let ours = e.dir.join(format!("{tag}-ours"));
            if with_old {
                common::make_old_version(&theirs);
                common::make_old_version(&ours);
            }
            let report = if push_mode {
                let (code, out, err) = rsync(
                    &e,
                    p,
                    args,
                    &slash(&src),
                    &format!("localhost:{}", slash(&theirs)),
                );
                assert_eq!(code, 0, "rsync {args:?}: {out} {err}");
                push(
                    &shell(&e, p),
                    opts,
                    &[PathBuf::from(slash(&src))],
                    &slash(&ours),
                )
            } else {
                let (code, out, err) = rsync(
                    &e,
                    p,
                    args,
                    &format!("localhost:{}", slash(&src)),
                    &slash(&theirs),
                );
                assert_eq!(code, 0, "rsync {args:?}: {out} {err}");
                pull(
                    &shell(&e, p),
                    opts,
                    &[slash(&src)],
                    &PathBuf::from(slash(&ours)),
                )
            };
            let what = format!("{tag} {args:?} protocol {p:?}");
            ok(&report, &what);
            let method = report
                .params
                .as_ref()
                .and_then(|x| x.compression)
                .map(|m| m.name());
            let expected = match (&opts.compress_choice, opts.negotiates_compression(), p) {
                (Some(c), _, _) => Some(c.as_str()),
                (None, true, Some(q)) if q < 30 => Some("zlib"),
                (None, true, _) => Some("zstd"),
                (None, false, _) => None,
            }
            .filter(|name| {
                // A level can turn compression off (zlib at 0).
                rdsync_wire::compress::CompressionMethod::from_name(name)
                    .and_then(|m| m.level(opts.compress_level))
                    .is_some()
            });
            assert_eq!(method, expected, "{what}: compression method");
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
}

fn tree_with_links(src: &Path) {
    common::make_tree(src);
    common::add_links_and_devices(src);
}

#[test]
fn hard_links_and_devices_both_ways() {
    let opts = TransferOptions {
        hard_links: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "hlinks",
        &[None, Some(30), Some(29), Some(28), Some(27)],
        &["-aH"],
        &opts,
        tree_with_links,
        false,
    );
}

#[test]
fn checksum_mode_both_ways() {
    let opts = TransferOptions {
        checksum: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "csum",
        &[None, Some(30), Some(29), Some(27)],
        &["-ac"],
        &opts,
        common::make_tree,
        true,
    );
}

#[test]
fn whole_file_block_size_and_checksum_choice() {
    let opts = TransferOptions {
        whole_file: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "wholefile",
        &[None],
        &["-aW"],
        &opts,
        common::make_tree,
        true,
    );
    let opts = TransferOptions {
        block_size: Some(1024),
        checksum_seed: Some(-7),
        ..TransferOptions::archive()
    };
    both_ways(
        "blocksize",
        &[None, Some(29)],
        &["-a", "-B1024", "--checksum-seed=-7"],
        &opts,
        common::make_tree,
        true,
    );
    for choice in ["md5", "xxh64", "xxh3", "xxh128", "md4"] {
        let opts = TransferOptions {
            checksum_choice: Some(choice.into()),
            ..TransferOptions::archive()
        };
        let arg = format!("--checksum-choice={choice}");
        let args: Vec<&str> = vec!["-a", arg.as_str()];
        both_ways(
            &format!("choice-{choice}"),
            &[None],
            &args,
            &opts,
            common::make_tree,
            true,
        );
    }
}

#[test]
fn push_delete_reports_deletions_like_rsync() {
    let e = env("push-deleted");
    let src = e.dir.join("src");
    common::make_tree(&src);
    let theirs = e.dir.join("rsync");
    let ours = e.dir.join("ours");
    common::make_old_version(&theirs);
    common::make_old_version(&ours);
    std::fs::create_dir_all(ours.join("olddir/x")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(theirs.join("olddir/x")).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = rsync(
        &e,
        None,
        &["-av", "--delete"],
        &slash(&src),
        &format!("localhost:{}", slash(&theirs)),
    );
    assert_eq!(code, 0);
    let opts = TransferOptions {
        delete: true,
        verbose: 1,
        ..TransferOptions::archive()
    };
    let report = push(
        &shell(&e, None),
        &opts,
        &[PathBuf::from(slash(&src))],
        &slash(&ours),
    );
    ok(&report, "push --delete");
    let mut ours_deleted = report.messages.deleted.clone();
    ours_deleted.sort();
    let mut theirs_deleted: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("deleting "))
        .map(str::to_string)
        .collect();
    theirs_deleted.sort();
    assert!(!theirs_deleted.is_empty(), "rsync deleted nothing: {out}");
    assert_eq!(ours_deleted, theirs_deleted);
    assert_eq!(common::tree_listing(&ours), common::tree_listing(&theirs));
}

#[test]
fn dry_run_changes_nothing() {
    let e = env("dry-run");
    let src = e.dir.join("src");
    common::make_tree(&src);
    for push_mode in [true, false] {
        let dst = e.dir.join(if push_mode { "push" } else { "pull" });
        common::make_old_version(&dst);
        let before = common::tree_listing(&dst);
        let opts = TransferOptions {
            dry_run: true,
            ..TransferOptions::archive()
        };
        let report = if push_mode {
            push(
                &shell(&e, None),
                &opts,
                &[PathBuf::from(slash(&src))],
                &slash(&dst),
            )
        } else {
            pull(
                &shell(&e, None),
                &opts,
                &[slash(&src)],
                &PathBuf::from(slash(&dst)),
            )
        };
        ok(&report, "dry run");
        assert_eq!(
            common::tree_listing(&dst),
            before,
            "dry run modified the destination"
        );
    }
}

#[test]
fn pull_of_a_missing_directory_exits_23_and_shows_the_remote_error() {
    let e = env("missing");
    let missing = e.dir.join("does-not-exist");
    let (code, _, err) = rsync(
        &e,
        None,
        &["-a"],
        &format!("localhost:{}", slash(&missing)),
        &slash(&e.dir.join("r")),
    );
    let report = pull(
        &shell(&e, None),
        &TransferOptions::archive(),
        &[slash(&missing)],
        &e.dir.join("o"),
    );
    assert_eq!(
        report.exit_code, code,
        "exit code differs from rsync's ({err})"
    );
    assert_eq!(report.exit_code, 23);
    assert!(
        report.remote_stderr.contains("change_dir"),
        "remote stderr not captured: {}",
        report.remote_stderr
    );
}

#[test]
fn push_into_an_unwritable_destination_exits_like_rsync() {
    let e = env("unwritable");
    let src = e.dir.join("src");
    common::make_tree(&src);
    let blocker = e.dir.join("file");
    std::fs::write(&blocker, b"x").unwrap_or_else(|e| panic!("{e}"));
    let dest = format!("{}/sub/dst/", blocker.display());
    let (code, _, _) = rsync(
        &e,
        None,
        &["-a"],
        &slash(&src),
        &format!("localhost:{dest}"),
    );
    let report = push(
        &shell(&e, None),
        &TransferOptions::archive(),
        &[PathBuf::from(slash(&src))],
        &dest,
    );
    assert_ne!(code, 0);
    assert_eq!(
        report.exit_code, code,
        "exit code differs from rsync's: {:?} {}",
        report.error, report.remote_stderr
    );
}

#[test]
fn compression_every_method_both_ways() {
    let z = |choice: Option<&str>| TransferOptions {
        compress: choice.is_none(),
        compress_choice: choice.map(str::to_string),
        ..TransferOptions::archive()
    };
    // -z negotiates zstd between 3.2+ peers; below 30 (and without negotiation) it is zlib.
    both_ways(
        "z-auto",
        &[None, Some(30), Some(29), Some(27)],
        &["-az"],
        &z(None),
        common::make_tree,
        true,
    );
    both_ways(
        "z-zlibx",
        &[None],
        &["-a", "--zc=zlibx"],
        &z(Some("zlibx")),
        common::make_tree,
        true,
    );
    both_ways(
        "z-zlib",
        &[None, Some(30)],
        &["-a", "--zc=zlib"],
        &z(Some("zlib")),
        common::make_tree,
        true,
    );
    both_ways(
        "z-zstd",
        &[None],
        &["-a", "--zc=zstd"],
        &z(Some("zstd")),
        common::make_tree,
        true,
    );
    both_ways(
        "z-lz4",
        &[None, Some(30)],
        &["-a", "--zc=lz4"],
        &z(Some("lz4")),
        common::make_tree,
        true,
    );
    // --compress-level: implied compression, per-method clamping, and zlib's level 0 (off).
    // (name, protocols, rsync's args, --zc, -z, --zl)
    type LevelCase<'a> = (
        &'a str,
        &'a [Option<u32>],
        &'a [&'a str],
        Option<&'a str>,
        bool,
        i32,
    );
    let levels: &[LevelCase<'_>] = &[
        (
            "zl-auto",
            &[None, Some(29)],
            &["-a", "--zl=1"],
            None,
            false,
            1,
        ),
        (
            "zl-zstd",
            &[None],
            &["-a", "--zc=zstd", "--zl=19"],
            Some("zstd"),
            false,
            19,
        ),
        (
            "zl-zstd-negative",
            &[None],
            &["-az", "--zl=-5"],
            None,
            true,
            -5,
        ),
        (
            "zl-zlib-9",
            &[None],
            &["-a", "--zc=zlib", "--zl=9"],
            Some("zlib"),
            false,
            9,
        ),
        (
            "zl-zlibx-off",
            &[None],
            &["-a", "--zc=zlibx", "--zl=0"],
            Some("zlibx"),
            false,
            0,
        ),
        (
            "zl-lz4",
            &[None],
            &["-a", "--zc=lz4", "--zl=7"],
            Some("lz4"),
            false,
            7,
        ),
    ];
    for &(name, protocols, args, choice, compress, level) in levels {
        let opts = TransferOptions {
            compress,
            compress_choice: choice.map(str::to_string),
            compress_level: Some(level),
            ..TransferOptions::archive()
        };
        both_ways(name, protocols, args, &opts, common::make_tree, true);
    }
    // Blocks above 64 KiB exercise zlib's history injection, including the protocol-30 quirk.
    let big = TransferOptions {
        block_size: Some(100_000),
        ..z(Some("zlib"))
    };
    both_ways(
        "z-zlib-bigblocks",
        &[None, Some(30)],
        &["-a", "--zc=zlib", "-B100000"],
        &big,
        common::make_tree,
        true,
    );
    let big = TransferOptions {
        block_size: Some(100_000),
        compress: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "z-29-bigblocks",
        &[Some(29)],
        &["-az", "-B100000"],
        &big,
        common::make_tree,
        true,
    );
}

#[test]
fn numeric_ids_update_and_ignore_times() {
    let opts = TransferOptions {
        numeric_ids: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "numeric",
        &[None, Some(29)],
        &["-a", "--numeric-ids"],
        &opts,
        common::make_tree,
        true,
    );
    let opts = TransferOptions {
        ignore_times: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "ignore-times",
        &[None],
        &["-aI"],
        &opts,
        common::make_tree,
        true,
    );
    let opts = TransferOptions {
        update: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "update",
        &[None],
        &["-au"],
        &opts,
        newer_destination_tree,
        true,
    );
}

/// The standard tree, but `a` is older than the destination's copy (for `-u`).
fn newer_destination_tree(src: &Path) {
    common::make_tree(src);
    common::put_file(&src.join("d1/d2/c"), b"older source", 0o644, 1_400_000_000);
}

#[test]
fn excludes_with_delete_keep_excluded_destination_files() {
    fn tree_with_objects(src: &Path) {
        common::make_tree(src);
        common::put_file(&src.join("d1/x.o"), b"object", 0o644, 1_600_000_000);
    }
    fn old_with_objects(dst: &Path) {
        common::make_old_version(dst);
        common::put_file(&dst.join("keep.o"), b"local object", 0o644, 1_500_000_000);
        common::put_file(
            &dst.join("d1/also.o"),
            b"local object",
            0o644,
            1_500_000_000,
        );
    }
    let e = env("exclude-delete");
    let src = e.dir.join("src");
    tree_with_objects(&src);
    let opts = TransferOptions {
        delete: true,
        excludes: vec!["*.o".into()],
        ..TransferOptions::archive()
    };
    for push_mode in [true, false] {
        let theirs = e.dir.join(format!("{push_mode}-rsync"));
        let ours = e.dir.join(format!("{push_mode}-ours"));
        old_with_objects(&theirs);
        old_with_objects(&ours);
        let args = ["-a", "--delete", "--exclude=*.o"];
        let report = if push_mode {
            let (code, out, err) = rsync(
                &e,
                None,
                &args,
                &slash(&src),
                &format!("localhost:{}", slash(&theirs)),
            );
            assert_eq!(code, 0, "{out} {err}");
            push(
                &shell(&e, None),
                &opts,
                &[PathBuf::from(slash(&src))],
                &slash(&ours),
            )
        } else {
            let (code, out, err) = rsync(
                &e,
                None,
                &args,
                &format!("localhost:{}", slash(&src)),
                &slash(&theirs),
            );
            assert_eq!(code, 0, "{out} {err}");
            pull(
                &shell(&e, None),
                &opts,
                &[slash(&src)],
                &PathBuf::from(slash(&ours)),
            )
        };
        ok(&report, "exclude + delete");
        assert!(
            ours.join("keep.o").exists(),
            "an excluded destination file was deleted"
        );
        assert_eq!(
            common::tree_listing(&ours),
            common::tree_listing(&theirs),
            "push={push_mode}"
        );
    }
}

#[test]
fn a_directory_in_the_way_of_a_file_is_replaced_only_with_delete() {
    let e = env("dir-in-the-way");
    let src = e.dir.join("src");
    common::make_tree(&src);
    for (delete, tag) in [(true, "delete"), (false, "nodelete")] {
        let theirs = e.dir.join(format!("{tag}-rsync"));
        let ours = e.dir.join(format!("{tag}-ours"));
        for d in [&theirs, &ours] {
            common::put_file(&d.join("a/inside"), b"x", 0o644, 1_500_000_000);
            common::put_file(&d.join("link/inside"), b"x", 0o644, 1_500_000_000);
        }
        let mut args = vec!["-a"];
        if delete {
            args.push("--delete");
        }
        let (code, out, err) = rsync(
            &e,
            None,
            &args,
            &format!("localhost:{}", slash(&src)),
            &slash(&theirs),
        );
        let opts = TransferOptions {
            delete,
            ..TransferOptions::archive()
        };
        let report = pull(
            &shell(&e, None),
            &opts,
            &[slash(&src)],
            &PathBuf::from(slash(&ours)),
        );
        assert_eq!(
            report.exit_code, code,
            "{tag}: exit differs from rsync ({out} {err}); ours: {:?}",
            report.error
        );
        assert_eq!(
            common::tree_listing(&ours),
            common::tree_listing(&theirs),
            "{tag}: trees differ"
        );
    }
}

#[test]
fn filter_rules_with_anchors_dirs_and_protect_both_ways() {
    use rdsync_engine::filter::{FilterRule, RuleSyntax};
    fn tree(src: &Path) {
        common::make_tree(src);
        common::put_file(&src.join("d1/x.o"), b"object", 0o644, 1_600_000_000);
        common::put_file(&src.join("top.o"), b"object", 0o644, 1_600_000_000);
    }
    fn old(dst: &Path) {
        common::make_old_version(dst);
        common::put_file(&dst.join("keep.me"), b"protected", 0o644, 1_500_000_000);
        common::put_file(
            &dst.join("d1/gone.txt"),
            b"extraneous",
            0o644,
            1_500_000_000,
        );
    }
    let parse = |text: &str, syntax| {
        FilterRule::parse(text.as_bytes(), syntax)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("rule {text:?} does not parse"))
    };
    let filters = vec![
        parse("/top.o", RuleSyntax::Include),
        parse("*.o", RuleSyntax::Exclude),
        parse("d1.x/", RuleSyntax::Exclude),
        parse("P keep*", RuleSyntax::Filter),
    ];
    let args = [
        "-a",
        "--delete",
        "--include=/top.o",
        "--exclude=*.o",
        "--exclude=d1.x/",
        "--filter=P keep*",
    ];
    let opts = TransferOptions {
        delete: true,
        filters,
        ..TransferOptions::archive()
    };
    let e = env("filters");
    let src = e.dir.join("src");
    tree(&src);
    for push_mode in [true, false] {
        for p in [None, Some(29)] {
            let tag = format!("{push_mode}-{}", p.unwrap_or(0));
            let theirs = e.dir.join(format!("{tag}-rsync"));
            let ours = e.dir.join(format!("{tag}-ours"));
            old(&theirs);
            old(&ours);
            let report = if push_mode {
                let (code, out, err) = rsync(
                    &e,
                    p,
                    &args,
                    &slash(&src),
                    &format!("localhost:{}", slash(&theirs)),
                );
                assert_eq!(code, 0, "{out} {err}");
                push(
                    &shell(&e, p),
                    &opts,
                    &[PathBuf::from(slash(&src))],
                    &slash(&ours),
                )
            } else {
                let (code, out, err) = rsync(
                    &e,
                    p,
                    &args,
                    &format!("localhost:{}", slash(&src)),
                    &slash(&theirs),
                );
                assert_eq!(code, 0, "{out} {err}");
                pull(
                    &shell(&e, p),
                    &opts,
                    &[slash(&src)],
                    &PathBuf::from(slash(&ours)),
                )
            };
            ok(&report, &format!("filters {tag}"));
            assert!(
                ours.join("keep.me").exists(),
                "{tag}: protected file deleted"
            );
            assert!(ours.join("top.o").exists(), "{tag}: included file missing");
            assert_eq!(
                common::tree_listing(&ours),
                common::tree_listing(&theirs),
                "filters {tag}"
            );
        }
    }
}

#[test]
fn push_with_stats_and_delete_accepts_deletion_statistics() {
    // With --stats the server generator sends NDX_DEL_STATS (protocol ≥ 31) between its
    // phase markers and in the goodbye; the client sender must skip it like rsync.
    let opts = TransferOptions {
        delete: true,
        stats: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "stats-delete",
        &[None, Some(30)],
        &["-a", "--delete", "--stats"],
        &opts,
        common::make_tree,
        true,
    );
}

#[test]
fn dirs_without_recursion_both_ways() {
    let opts = TransferOptions {
        dirs: true,
        links: true,
        times: true,
        perms: true,
        ..TransferOptions::default()
    };
    both_ways(
        "dirs",
        &[None, Some(29)],
        &["-dltp"],
        &opts,
        common::make_tree,
        false,
    );
}

#[test]
fn copy_links_both_ways() {
    let opts = TransferOptions {
        copy_links: true,
        ..TransferOptions::archive()
    };
    both_ways(
        "copy-links",
        &[None, Some(29)],
        &["-aL"],
        &opts,
        common::make_tree,
        false,
    );
}

#[test]
fn copy_links_stops_at_a_directory_loop() {
    let e = env("copy-links-loop");
    let src = e.dir.join("src");
    common::make_tree(&src);
    std::os::unix::fs::symlink("..", src.join("d1/up")).unwrap_or_else(|err| panic!("{err}"));
    std::os::unix::fs::symlink(".", src.join("self")).unwrap_or_else(|err| panic!("{err}"));
    let opts = TransferOptions {
        copy_links: true,
        ..TransferOptions::archive()
    };
    let dst = e.dir.join("dst");
    let report = push(
        &shell(&e, None),
        &opts,
        &[PathBuf::from(slash(&src))],
        &slash(&dst),
    );
    ok(&report, "push -L with loops");
    assert!(dst.join("d1/d2/c").exists());
    assert!(
        !dst.join("self").exists() && !dst.join("d1/up").exists(),
        "a loop was followed"
    );
}

#[test]
fn compression_levels_change_what_is_sent() {
    let e = env("zl-bytes");
    let src = e.dir.join("src");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("{e}"));
    // 2 MiB of compressible text.
    let text: Vec<u8> = (0..2 << 20)
        .map(|i: u32| {
            b"the quick brown fox jumps over the lazy dog "[(i % 44) as usize]
                ^ (i / 4096 % 2) as u8
        })
        .collect();
    std::fs::write(src.join("text"), &text).unwrap_or_else(|e| panic!("{e}"));
    let sent = |choice: &str, level: i32| {
        let dest = e.dir.join(format!("dst-{choice}-{level}"));
        let report = push(
            &shell(&e, None),
            &TransferOptions {
                compress_choice: Some(choice.to_string()),
                compress_level: Some(level),
                ..TransferOptions::archive()
            },
            &[PathBuf::from(slash(&src))],
            &slash(&dest),
        );
        ok(&report, &format!("{choice} level {level}"));
        let copied = std::fs::read(dest.join("text")).unwrap_or_else(|e| panic!("{e}"));
        assert!(copied == text, "{choice} level {level}: content differs");
        report.stats.bytes_sent
    };
    let (zlib_off, zlib_1, zlib_9) = (sent("zlib", 0), sent("zlib", 1), sent("zlib", 9));
    assert!(
        zlib_off > text.len() as i64,
        "level 0 must turn zlib off: {zlib_off}"
    );
    assert!(
        zlib_9 < zlib_1 && zlib_1 < text.len() as i64 / 4,
        "{zlib_1} {zlib_9}"
    );
    let (zstd_1, zstd_19) = (sent("zstd", 1), sent("zstd", 19));
    assert!(
        zstd_19 < zstd_1,
        "zstd 19 ({zstd_19}) must beat zstd 1 ({zstd_1})"
    );
}
