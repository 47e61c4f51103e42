//! Filter rules (`--exclude`, `--include`, `--filter`, `-F`, `--exclude-from`,
//! `--delete-excluded`, protect rules) against the real rsync.

mod local_support;

use local_support::*;

fn fresh(_s: &Scratch, n: usize) -> (String, String) {
    (format!("dest_rsync_{n}"), format!("dest_rdsync_{n}"))
}

#[test]
fn exclude_include_filter_rules_match_rsync() {
    require_rsync();
    let s = Scratch::new("filters");
    make_fixture(&s.join("src"));
    let sets: &[&[&str]] = &[
        &["-aHi", "--exclude=*.txt"],
        &[
            "-aHi",
            "--exclude=/d1/d2/",
            "--exclude=big.bin",
            "--exclude=dir_link",
        ],
        &["-aHi", "--include=*/", "--include=*.txt", "--exclude=*"],
        &["-aHi", "-f", "- d1/**/c.txt", "-f", "+ d1/***", "-f", "- *"],
        &[
            "-aHi",
            "--exclude=d?.x",
            "--exclude=[a-c]*",
            "--exclude=**/d3",
        ],
        &["-aHi", "--filter=-! */", "--filter=+ *"],
        &[
            "-aHi",
            "--exclude=d2/c.txt",
            "--exclude=emptysub/",
            "--exclude",
            "locked",
        ],
        &[
            "-aHi",
            "-f",
            "exclude *.bin",
            "-f",
            "include,! *.sh",
            "-f",
            "-,! *.sh",
        ],
    ];
    for (n, opts) in sets.iter().enumerate() {
        let (a, b) = fresh(&s, n);
        compare_runs(
            &s.path,
            opts,
            &["src/"],
            &a,
            &b,
            &format!("filter set {opts:?}"),
        );
    }
    // The same rules on a source named without a trailing slash (names start with `src/`).
    let (a, b) = fresh(&s, 100);
    compare_runs(
        &s.path,
        &["-ai", "--exclude=/src/d1", "--exclude=src/a.txt"],
        &["src"],
        &a,
        &b,
        "no slash",
    );
}

#[test]
fn merge_files_and_exclude_from_match_rsync() {
    require_rsync();
    let s = Scratch::new("merge");
    let src = s.join("src");
    make_fixture(&src);
    write(
        &src.join(".rsync-filter"),
        b"- *.bin\n- /private\n# comment\n",
    );
    write(
        &src.join("d1/.rsync-filter"),
        b"- b.txt\n+ d2/\n- /d2/c.txt\n",
    );
    write(
        &s.join("excludes"),
        b"# comment\n; other comment\n*.sh\n+ owned\n- own*\n\nd3\n",
    );
    fix_times(&src, 1_600_000_000);
    let sets: &[&[&str]] = &[
        &["-ai", "-F"],
        &["-ai", "-FF"],
        &["-ai", "--exclude-from=excludes"],
        &["-ai", "--include-from=excludes", "--exclude=*.txt"],
        &["-ai", "-f", ": .rsync-filter", "-f", "- fifo"],
        &["-ai", "-f", "merge excludes"],
    ];
    for (n, opts) in sets.iter().enumerate() {
        let (a, b) = fresh(&s, n);
        compare_runs(
            &s.path,
            opts,
            &["src/"],
            &a,
            &b,
            &format!("merge set {opts:?}"),
        );
    }
}

#[test]
fn delete_respects_excludes_and_protect_rules() {
    require_rsync();
    let s = Scratch::new("delfilter");
    make_fixture(&s.join("src"));
    let sets: &[&[&str]] = &[
        &[
            "-ai",
            "--delete",
            "--exclude=*.keep",
            "--exclude=extra_dir/",
        ],
        &[
            "-ai",
            "--delete",
            "--delete-excluded",
            "--exclude=*.keep",
            "--exclude=a.txt",
        ],
        &["-ai", "--delete", "-f", "P /protected*", "-f", "R *.keep"],
        &["-ai", "--delete-after", "--exclude=*.keep"],
        &["-ai", "--delete-before", "--exclude=extra_dir"],
    ];
    for (n, opts) in sets.iter().enumerate() {
        let (a, b) = fresh(&s, n);
        for d in [&a, &b] {
            let dest = s.join(d);
            rsync(&["-a", "src/", d], &s.path);
            write(&dest.join("old.keep"), b"keep me\n");
            write(&dest.join("d1/also.keep"), b"keep me\n");
            write(&dest.join("gone.txt"), b"delete me\n");
            write(&dest.join("protected_file"), b"p\n");
            write(&dest.join("extra_dir/x/y.txt"), b"y\n");
            write(&dest.join("extra_dir/z"), b"z\n");
            // Protected (excluded) inside an extraneous directory: rsync keeps it and its
            // directories ("cannot delete non-empty directory", twice for the nested one).
            // Nothing else is in there, so no directory time changes under the test.
            write(&dest.join("extra_kept/sub/inner.keep"), b"k\n");
            fix_times(&dest, 1_500_000_000);
        }
        compare_runs(
            &s.path,
            opts,
            &["src/"],
            &a,
            &b,
            &format!("delete set {opts:?}"),
        );
    }
}

#[test]
fn delete_reads_per_directory_merge_files_from_the_destination() {
    require_rsync();
    let s = Scratch::new("delmerge");
    let src = s.join("src");
    make_fixture(&src);
    write(&src.join("d1/.rsync-filter"), b"- *.bin\n");
    fix_times(&src, 1_600_000_000);
    for (n, drop_dest_filter) in [(0, false), (1, true)] {
        let (a, b) = fresh(&s, n);
        for d in [&a, &b] {
            let dest = s.join(d);
            rsync(&["-a", "src/", d], &s.path);
            write(
                &dest.join("d1/extra.bin"),
                b"protected by d1/.rsync-filter\n",
            );
            write(&dest.join("extra.bin"), b"not protected\n");
            if drop_dest_filter {
                std::fs::remove_file(dest.join("d1/.rsync-filter")).unwrap();
            }
            fix_times(&dest, 1_500_000_000);
        }
        compare_runs(
            &s.path,
            &["-ai", "--delete", "-F"],
            &["src/"],
            &a,
            &b,
            &format!("merge delete {n}"),
        );
    }
}

#[test]
fn malformed_per_directory_filter_file_stops_like_rsync() {
    require_rsync();
    let s = Scratch::new("badmerge");
    let src = s.join("src");
    make_fixture(&src);
    write(&src.join(".rsync-filter"), b"- *.bin\nnot a rule\n");
    fix_times(&src, 1_600_000_000);
    let (r1, r2) = compare_runs(
        &s.path,
        &["-ai", "-F"],
        &["src/"],
        "dest_rsync",
        "dest_rdsync",
        "bad merge",
    );
    assert_eq!(r1.code, 1);
    let first = |r: &Run| r.stderr.lines().next().unwrap_or("").to_string();
    assert_eq!(first(&r1), first(&r2));
}
