//! Option sets and source/destination forms against the real rsync.

mod local_support;

use local_support::*;

/// Applies changes that exercise the quick check: same size with a new mtime, new content
/// with the old mtime and size, a newer destination file, and a changed big file.
fn mutate_for_quick_check(s: &Scratch, dests: &[&str]) {
    let src = s.join("src");
    // Same size and mtime, different content: only -c/-I notice.
    let md = std::fs::symlink_metadata(src.join("d1/b.txt")).unwrap();
    write(&src.join("d1/b.txt"), b"BEE\n");
    use std::os::unix::fs::MetadataExt;
    set_mtime(&src.join("d1/b.txt"), md.mtime(), md.mtime_nsec());
    // A newer file in the destinations (-u keeps it).
    for d in dests {
        write(&s.join(d).join("with space.txt"), b"newer in dest\n");
        set_mtime(&s.join(d).join("with space.txt"), 1_900_000_000, 0);
    }
    // A changed big file (delta against the destination with --no-whole-file).
    let mut big = std::fs::read(src.join("big.bin")).unwrap();
    for i in (0..big.len()).step_by(700_000) {
        big[i] ^= 0xff;
    }
    big.extend_from_slice(b"tail");
    write(&src.join("big.bin"), &big);
    set_mtime(&src.join("big.bin"), 1_600_000_123, 0);
    write(&src.join("brand_new"), b"new\n");
    set_mtime(&src.join("brand_new"), 1_600_000_000, 0);
    set_mtime(&src, 1_599_000_000, 0);
}

#[test]
fn option_sets_match_rsync() {
    require_rsync();
    let sets: &[&[&str]] = &[
        &["-ri"],
        &["-rlti"],
        &["-ai", "--no-p", "--no-o", "--no-g"],
        &["-ai", "-c"],
        &["-ai", "-c", "--checksum-choice=md5"],
        &["-ai", "--size-only"],
        &["-ai", "--ignore-times"],
        &["-ai", "--existing"],
        &["-ai", "--ignore-existing"],
        &["-aiu"],
        &["-ai", "--inplace"],
        &["-ai", "--no-whole-file"],
        &["-ai", "-W", "--partial"],
        &["-ai", "--numeric-ids"],
        &["-rlptDi"],
        &["-aqi"],
        &["-dti"],
        &["-dlptDi", "--delete"],
    ];
    for (n, opts) in sets.iter().enumerate() {
        let s = Scratch::new("opts");
        make_fixture(&s.join("src"));
        let (a, b) = (format!("dest_rsync_{n}"), format!("dest_rdsync_{n}"));
        compare_runs(&s.path, opts, &["src/"], &a, &b, &format!("first {opts:?}"));
        mutate_for_quick_check(&s, &[&a, &b]);
        compare_runs(
            &s.path,
            opts,
            &["src/"],
            &a,
            &b,
            &format!("update {opts:?}"),
        );
    }
}

#[test]
fn source_and_destination_forms_match_rsync() {
    require_rsync();
    let s = Scratch::new("forms");
    make_fixture(&s.join("src"));
    write(&s.join("other/o.txt"), b"other\n");
    write(&s.join("single.txt"), b"single\n");
    std::fs::create_dir_all(s.join("emptysrc")).unwrap();
    fix_times(&s.join("other"), 1_500_000_000);
    set_mtime(&s.join("single.txt"), 1_500_000_000, 0);
    fix_times(&s.join("emptysrc"), 1_500_000_000);
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&["-ai"], &["src"], "d_noslash"),
        (&["-ai"], &["src/", "other/"], "d_two_contents"),
        (&["-ai"], &["src", "other"], "d_two_dirs"),
        (&["-ai"], &["single.txt"], "d_single_new_name"),
        (&["-ai"], &["single.txt"], "d_single_dir/"),
        (&["-ai"], &["emptysrc/"], "d_empty_contents"),
        (&["-ai"], &["emptysrc"], "d_empty_dir"),
        (&["-ai"], &["single.txt", "other/o.txt"], "d_two_files/"),
        (&["-ai", "--mkpath"], &["single.txt"], "d_mk/a/b/file"),
        (&["-ai", "--mkpath"], &["src/"], "d_mk2/a/b/"),
        (&["-ai"], &["src/d1/", "src/d1.x"], "d_sub"),
    ];
    for (opts, sources, dest) in cases {
        let a = format!("rsync_{dest}");
        let b = format!("rdsync_{dest}");
        compare_runs(
            &s.path,
            opts,
            sources,
            &a,
            &b,
            &format!("{opts:?} {sources:?} {dest}"),
        );
        // A second run changes nothing.
        compare_runs(
            &s.path,
            opts,
            sources,
            &a,
            &b,
            &format!("again {opts:?} {sources:?} {dest}"),
        );
    }
}

#[test]
fn errors_and_exit_codes_match_rsync() {
    require_rsync();
    let s = Scratch::new("errors");
    make_fixture(&s.join("src"));
    write(&s.join("single.txt"), b"single\n");
    write(&s.join("afile"), b"f\n");
    let cases: &[(&[&str], &str)] = &[
        (&["-a", "missing_src/", "dest"], "missing source"),
        (
            &["-a", "src/", "missing_src", "dest2"],
            "one missing source",
        ),
        (
            &["-a", "single.txt", "src/", "afile"],
            "several files into a file",
        ),
        (&["-a", "single.txt", "no/such/dir/"], "missing parent"),
        (&["-a", "--exclude"], "missing argument"),
        (&["-a", "--filter=x y", "src/", "d3"], "bad filter rule"),
        (&["-a", "--no-such-option", "src/", "d4"], "unknown option"),
        (
            &["-a", "--exclude-from=nonexistent", "src/", "d5"],
            "missing exclude file",
        ),
        (
            &["-a", "--checksum-choice=bogus", "src/", "d6"],
            "bad checksum name",
        ),
    ];
    for (args, what) in cases {
        let r1 = rsync(args, &s.path);
        let r2 = rdsync(args, &s.path);
        assert_eq!(
            r1.code, r2.code,
            "{what}: exit code\nrsync: {r1:?}\nrdsync: {r2:?}"
        );
        // The first error line names the same problem.
        let first = |r: &Run| r.stderr.lines().next().unwrap_or("").to_string();
        if !what.contains("unknown option") {
            let key = |l: String| l.split(" failed").next().unwrap_or("").to_string();
            assert_eq!(
                key(first(&r1)),
                key(first(&r2)),
                "{what}: message\n{r1:?}\n{r2:?}"
            );
        }
    }
}

#[test]
fn delta_transfer_stats_match_rsync() {
    require_rsync();
    let s = Scratch::new("delta");
    make_fixture(&s.join("src"));
    rsync(&["-a", "src/", "dest_rsync"], &s.path);
    rsync(&["-a", "src/", "dest_rdsync"], &s.path);
    // Overwrite, insert and delete bytes in the big file.
    let mut big = std::fs::read(s.join("src/big.bin")).unwrap();
    big[100_000..100_010].copy_from_slice(b"0123456789");
    big.splice(1_500_000..1_500_000, b"inserted bytes".iter().copied());
    big.drain(2_500_000..2_500_333);
    write(&s.join("src/big.bin"), &big);
    set_mtime(&s.join("src/big.bin"), 1_650_000_000, 0);
    set_mtime(&s.join("src"), 1_599_000_000, 0);
    let (r1, r2) = compare_runs(
        &s.path,
        &["-ai", "--no-whole-file", "--stats"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "delta",
    );
    for prefix in [
        "Literal data:",
        "Matched data:",
        "Total transferred file size:",
    ] {
        let pick = |out: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_string)
        };
        assert_eq!(pick(&r1.stdout), pick(&r2.stdout), "{prefix}");
    }
}

#[test]
fn unsupported_options_fall_back_to_rsync_with_a_notice() {
    require_rsync();
    let s = Scratch::new("fallback");
    make_fixture(&s.join("src"));
    // -x (--one-file-system) is not handled natively: the system rsync runs instead.
    let (r1, r2) = compare_runs(
        &s.path,
        &["-aHix"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "fallback",
    );
    assert_eq!(r1.stderr, "");
    assert!(r2.stderr.contains("not supported natively"), "{r2:?}");
    assert_eq!(r2.stderr.lines().count(), 1, "one notice line: {r2:?}");
}

#[test]
fn non_empty_directory_in_the_way_matches_rsync() {
    require_rsync();
    let s = Scratch::new("makeway");
    write(&s.join("src/x"), b"file now\n");
    write(&s.join("src/y"), b"file now\n");
    fix_times(&s.join("src"), 1_600_000_000);
    for (n, opts) in [
        &["-ai"][..],
        &["-ai", "--force"][..],
        &["-ai", "--delete"][..],
    ]
    .iter()
    .enumerate()
    {
        let (a, b) = (format!("dest_rsync_{n}"), format!("dest_rdsync_{n}"));
        for d in [&a, &b] {
            write(&s.join(d).join("x/sub/f"), b"in the way\n");
            std::fs::create_dir_all(s.join(d).join("y")).unwrap();
            fix_times(&s.join(d), 1_500_000_000);
        }
        let (r1, r2) = compare_runs(&s.path, opts, &["src/"], &a, &b, &format!("{opts:?}"));
        assert_eq!(
            r1.stderr.lines().next(),
            r2.stderr.lines().next(),
            "{opts:?}"
        );
    }
}

/// A source file that cannot be opened (unprivileged run, mode 000): reported with
/// rsync's sender message, everything else copied, exit 23 — with and without `-c`
/// (whose checksum of that file is all zeros, checksum.c).
#[test]
fn an_unreadable_source_file_is_23_and_reported_like_rsync() {
    require_rsync();
    let s = Scratch::new("local-unreadable");
    let src = unreadable_fixture(&s);
    for opts in ["-rt", "-rtc"] {
        let mut lines = Vec::new();
        for side in ["rsync", "rdsync"] {
            let dest = s.join(&format!("{side}{opts}"));
            unprivileged_dest(&dest);
            let from = format!("{}/", src.display());
            let to = format!("{}/", dest.display());
            let run = run_unprivileged(side, &[opts, from.as_str(), to.as_str()], &s.path);
            assert_eq!(run.code, 23, "{side} {opts}: {}", run.stderr);
            lines.push(run.stderr.lines().next().unwrap_or_default().to_string());
        }
        assert!(
            lines[0].contains("send_files failed to open"),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], lines[0], "{opts}");
        assert_same_tree(
            &snapshot(&s.join(&format!("rsync{opts}"))),
            &snapshot(&s.join(&format!("rdsync{opts}"))),
            opts,
        );
    }
}
