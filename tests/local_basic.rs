//! `rdsync -a` against the real rsync: first copy, no-change re-sync, changes with
//! `--delete`, dry runs, `-v` and `--stats`.

mod local_support;

use local_support::*;
use std::os::unix::fs::symlink;

/// Changes the source in every way the tests care about.
fn mutate(src: &std::path::Path) {
    write(&src.join("a.txt"), b"hello, changed and longer\n"); // size (hard-linked group)
    write(&src.join("d1/b.txt"), b"BEE\n"); // same size, new mtime below
    set_mtime(&src.join("d1/b.txt"), 1_700_000_000, 1);
    set_mtime(&src.join("with space.txt"), 1_650_000_000, 0); // time only
    chmod(&src.join("script.sh"), 0o700); // perms only
    lchown(&src.join("private"), 77, 88); // owner only
    write(&src.join("added/new.txt"), b"new\n");
    std::fs::remove_file(src.join("empty")).unwrap();
    std::fs::rename(src.join("d1.x/x"), src.join("d1.x/renamed")).unwrap();
    std::fs::remove_dir_all(src.join("d1/d2")).unwrap();
    write(&src.join("d1/d2"), b"was a dir\n"); // dir -> file
    std::fs::remove_file(src.join("-leading-dash")).unwrap();
    std::fs::create_dir(src.join("-leading-dash")).unwrap(); // file -> dir
    std::fs::remove_file(src.join("rel_link")).unwrap();
    symlink("d1/b.txt", src.join("rel_link")).unwrap(); // retarget
    std::fs::hard_link(src.join("script.sh"), src.join("d1/script_hl")).unwrap();
    for p in [
        "added/new.txt",
        "added",
        "d1/d2",
        "-leading-dash",
        "d1.x",
        "d1",
        "rel_link",
        ".",
    ] {
        set_mtime(&src.join(p), 1_610_000_000, 42);
    }
}

#[test]
fn archive_copy_resync_and_delete_match_rsync() {
    require_rsync();
    let s = Scratch::new("basic");
    make_fixture(&s.join("src"));
    let opts = ["-aHi"];
    compare_runs(
        &s.path,
        &opts,
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "first copy",
    );
    // A no-change re-sync prints nothing and changes nothing.
    let before = snapshot(&s.join("dest_rdsync"));
    let (r1, r2) = compare_runs(
        &s.path,
        &opts,
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "no-change",
    );
    assert_eq!(r1.stdout, "");
    assert_eq!(r2.stdout, "");
    assert_same_tree(
        &before,
        &snapshot(&s.join("dest_rdsync")),
        "no-change re-sync touched files",
    );
    // Changes, re-synced with --delete.
    mutate(&s.join("src"));
    compare_runs(
        &s.path,
        &["-aHi", "--delete"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "delete",
    );
    compare_runs(
        &s.path,
        &["-aHi", "--delete"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "delete again",
    );
}

#[test]
fn dry_run_changes_nothing_and_reports_like_rsync() {
    require_rsync();
    let s = Scratch::new("dry");
    make_fixture(&s.join("src"));
    // Into a missing destination.
    compare_runs(
        &s.path,
        &["-aHin"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "dry run, new dest",
    );
    assert!(!s.join("dest_rdsync").exists());
    // Into an existing, outdated destination.
    rsync(&["-aH", "src/", "dest_rsync"], &s.path);
    rsync(&["-aH", "src/", "dest_rdsync"], &s.path);
    mutate(&s.join("src"));
    let before = snapshot(&s.join("dest_rdsync"));
    compare_runs(
        &s.path,
        &["-aHin", "--delete"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "dry run",
    );
    assert_same_tree(
        &before,
        &snapshot(&s.join("dest_rdsync")),
        "dry run modified the destination",
    );
}

#[test]
fn verbose_and_stats_match_rsync() {
    require_rsync();
    let s = Scratch::new("stats");
    make_fixture(&s.join("src"));
    let r1 = rsync(&["-aH", "--stats", "src/", "dest_rsync"], &s.path);
    let r2 = rdsync(&["-aH", "--stats", "src/", "dest_rdsync"], &s.path);
    assert_eq!(r1.code, 0);
    assert_eq!(r2.code, 0);
    let wanted = [
        "Number of files:",
        "Number of created files:",
        "Number of deleted files:",
        "Number of regular files transferred:",
        "Total file size:",
        "Total transferred file size:",
        "Literal data:",
        "Matched data:",
    ];
    for prefix in wanted {
        let pick = |out: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_string)
        };
        assert_eq!(pick(&r1.stdout), pick(&r2.stdout), "stats line {prefix}");
    }
    let shape = |out: &str| {
        out.lines()
            .map(|l| {
                l.split(':')
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&r1.stdout), shape(&r2.stdout), "stats layout");
    // -v: the names listed (not the byte counts) are rsync's.
    mutate(&s.join("src"));
    let r1 = rsync(&["-aHv", "--delete", "src/", "dest_rsync"], &s.path);
    let r2 = rdsync(&["-aHv", "--delete", "src/", "dest_rdsync"], &s.path);
    let names = |out: &str| {
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with("sent ") && !l.starts_with("total size"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&r1.stdout),
        names(&r2.stdout),
        "-v output\n{}\n{}",
        r1.stdout,
        r2.stdout
    );
    assert_same_tree(
        &snapshot(&s.join("dest_rsync")),
        &snapshot(&s.join("dest_rdsync")),
        "-v",
    );
}

#[test]
fn relinking_and_unchanged_items_match_rsync() {
    require_rsync();
    let s = Scratch::new("relink");
    make_fixture(&s.join("src"));
    // Destinations made without -H: the hard links are separate files there.
    rsync(&["-a", "src/", "dest_rsync"], &s.path);
    rsync(&["-a", "src/", "dest_rdsync"], &s.path);
    compare_runs(
        &s.path,
        &["-aHi"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "relink",
    );
    // -ii lists unchanged items too.
    compare_runs(
        &s.path,
        &["-aHii"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "-ii",
    );
}

#[test]
fn progress_names_match_rsync() {
    require_rsync();
    let s = Scratch::new("progress");
    make_fixture(&s.join("src"));
    let r1 = rsync(&["-aH", "--progress", "src/", "dest_rsync"], &s.path);
    let r2 = rdsync(&["-aH", "--progress", "src/", "dest_rdsync"], &s.path);
    assert_eq!(r1.code, r2.code);
    let names = |out: &str, dest: &str| {
        let mut v: Vec<String> = out
            .split(['\n', '\r'])
            .filter(|l| !l.is_empty() && !l.starts_with(' '))
            .map(|l| l.replace(dest, "DEST"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&r1.stdout, "dest_rsync"),
        names(&r2.stdout, "dest_rdsync")
    );
    // Every transferred file has a final progress line ending in the file counts.
    let finals = |out: &str| out.matches("(xfr#").count();
    assert_eq!(finals(&r1.stdout), finals(&r2.stdout));
    assert_same_tree(
        &snapshot(&s.join("dest_rsync")),
        &snapshot(&s.join("dest_rdsync")),
        "progress",
    );
}

#[test]
fn big_flat_directory_matches_rsync() {
    require_rsync();
    let s = Scratch::new("flat");
    let src = s.join("src");
    for i in 0..700 {
        write(&src.join(format!("f{i:04}")), format!("{i}\n").as_bytes());
        if i % 50 == 0 {
            std::os::unix::fs::symlink(format!("f{i:04}"), src.join(format!("l{i:04}"))).unwrap();
            std::fs::hard_link(src.join(format!("f{i:04}")), src.join(format!("h{i:04}"))).unwrap();
        }
    }
    fix_times(&src, 1_600_000_000);
    let opts = ["-aHi", "--exclude=f01*"];
    compare_runs(
        &s.path,
        &opts,
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "flat",
    );
    std::fs::remove_file(src.join("f0500")).unwrap();
    write(&src.join("f0600"), b"changed\n");
    fix_times(&src, 1_600_100_000);
    compare_runs(
        &s.path,
        &["-aHi", "--delete", "--exclude=f01*"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "flat delete",
    );
}
