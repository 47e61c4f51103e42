//! The `rdsync` command with options that run natively over a remote shell (`-e`):
//! no fallback to the system rsync, and the tree rsync makes with the same command line.

mod local_support;

use local_support::*;

/// A remote shell that drops `[-l user] host` and runs the command locally.
fn local_rsh(s: &Scratch) -> String {
    let p = s.join("rsh");
    write(
        &p,
        b"#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then shift 2; fi\nshift\nexec sh -c \"$*\"\n",
    );
    chmod(&p, 0o755);
    p.display().to_string()
}

#[test]
fn remote_options_run_natively_and_match_rsync() {
    require_rsync();
    let s = Scratch::new("remote-cli");
    make_fixture(&s.join("src"));
    write(&s.join("src/.rsync-filter"), b"- *.log\n");
    write(&s.join("src/skip.log"), b"not sent\n");
    fix_times(&s.join("src"), 1_600_000_000);
    let rsh = local_rsh(&s);
    let sets: [&[&str]; 4] = [
        &["-a", "--inplace", "--delete-delay", "-F"],
        &[
            "-a",
            "--partial",
            "--delete-before",
            "--exclude=*.txt",
            "--delete-excluded",
        ],
        &["-a", "--ignore-existing", "--delete-after", "-FF"],
        &["-a", "--existing", "--mkpath", "--delete-during"],
    ];
    for (n, opts) in sets.iter().enumerate() {
        for pull in [false, true] {
            let tag = format!("{n}-{}", if pull { "pull" } else { "push" });
            for side in ["rsync", "rdsync"] {
                let dest = s.join(&format!("{tag}-{side}"));
                write(&dest.join("stale/old"), b"old\n");
                write(&dest.join("skip.log"), b"kept unless deleted\n");
            }
            let run_one = |side: &str| {
                let dest = format!("{}/{tag}-{side}/", s.path.display());
                let src = format!("{}/src/", s.path.display());
                let (from, to) = if pull {
                    (format!("localhost:{src}"), dest)
                } else {
                    (src, format!("localhost:{dest}"))
                };
                let mut args: Vec<&str> = opts.to_vec();
                args.extend(["-e", rsh.as_str(), "--rsync-path=/usr/bin/rsync"]);
                args.extend([from.as_str(), to.as_str()]);
                if side == "rsync" {
                    // Both pull and push with incremental recursion, as rsync does.
                    rsync(&args, &s.path)
                } else {
                    rdsync(&args, &s.path)
                }
            };
            let theirs = run_one("rsync");
            let ours = run_one("rdsync");
            assert_eq!(theirs.code, 0, "rsync {opts:?} {tag}: {theirs:?}");
            assert_eq!(ours.code, 0, "rdsync {opts:?} {tag}: {ours:?}");
            assert!(
                !ours.stderr.contains("not supported natively"),
                "{opts:?} {tag} fell back: {}",
                ours.stderr
            );
            assert_same_tree(
                &snapshot(&s.join(&format!("{tag}-rsync"))),
                &snapshot(&s.join(&format!("{tag}-rdsync"))),
                &format!("{opts:?} {tag}"),
            );
        }
    }
}

/// A remote shell that fails (ssh's 255, a missing remote rsync's 127, …) decides the exit
/// code when it is worse than the "connection unexpectedly closed" (12) that follows, and
/// the closing line names it, as rsync's client does. (rsync only sees the status when the
/// shell has exited by the time it cleans up, so its own runs are retried until it has.)
#[test]
fn a_failing_remote_shell_sets_the_exit_code_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-shell-exit");
    write(&s.join("src/f"), b"data\n");
    let src = format!("{}/src/", s.path.display());
    let dest = format!("{}/dest/", s.path.display());
    for status in [127, 126, 255, 30, 10] {
        let expected = status.max(12);
        let rsh = format!("sh -c 'exit {status}'");
        for (from, to) in [
            (src.clone(), format!("localhost:{dest}")),
            (format!("localhost:{src}"), dest.clone()),
        ] {
            let args = ["-a", "-e", rsh.as_str(), from.as_str(), to.as_str()];
            let ours = rdsync(&args, &s.path);
            assert_eq!(ours.code, expected, "{rsh} {from}: {}", ours.stderr);
            let theirs = (0..30)
                .map(|_| rsync(&args, &s.path))
                .find(|r| r.code == expected)
                .unwrap_or_else(|| panic!("rsync never exited {expected} with {rsh}"));
            let closing = |r: &Run| {
                let last = r.stderr.lines().last().unwrap_or_default().to_string();
                // rsync adds " at FILE(LINE) [ROLE=VERSION]".
                last.split(" at ").next().unwrap_or_default().to_string()
            };
            assert_eq!(closing(&ours), closing(&theirs), "{rsh} {from}");
        }
    }
}

/// A remote shell killed by a signal before the server answers (after our first write): rsync's client keeps
/// its own "connection unexpectedly closed" (12), since on an error exit it reads the
/// shell's status with WEXITSTATUS, which is 0 for a signal; the error names the process
/// that saw the end, and the lines match rsync's (up to rsync's " at FILE(LINE) …").
#[test]
fn a_remote_shell_killed_by_a_signal_leaves_code_12_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-shell-signal");
    write(&s.join("src/f"), b"data\n");
    let src = format!("{}/src/", s.path.display());
    let dest = format!("{}/dest/", s.path.display());
    // The pause lets the client's first write land in the socket before the shell dies:
    // a write to a dead peer is a different error ("write error: Broken pipe", code 10 in
    // rsync), which either tool can hit when the shell dies at once.
    let rsh = "sh -c 'sleep 0.5; kill -TERM $$'";
    for (from, to) in [
        (src.clone(), format!("localhost:{dest}")),
        (format!("localhost:{src}"), dest.clone()),
    ] {
        let args = ["-a", "-e", rsh, from.as_str(), to.as_str()];
        let ours = rdsync(&args, &s.path);
        let theirs = rsync(&args, &s.path);
        assert_eq!(ours.code, 12, "{from}: {}", ours.stderr);
        assert_eq!(theirs.code, 12, "{from}: {}", theirs.stderr);
        assert_eq!(stderr_lines(&ours), stderr_lines(&theirs), "{from}");
    }
}

/// A run's stderr lines up to rsync's " at FILE(LINE) [ROLE=VERSION]", which we do not add.
fn stderr_lines(r: &Run) -> Vec<String> {
    r.stderr
        .lines()
        .map(|l| l.split(" at ").next().unwrap_or_default().to_string())
        .collect()
}

/// A peer that stops reading: a write to it fails with EPIPE. rsync words and codes the
/// failure by when it happens (io.c): a setup write (the protocol version) goes through
/// `safe_write` ("safe_write failed to write 4 bytes to socket: Broken pipe (32)", code
/// 12), a later one through its buffered I/O ("write error: Broken pipe (32)", code 10);
/// the line names the process as rsync's `who_am_i` does. Every stderr line must match
/// rsync's.
#[test]
fn a_peer_that_stops_reading_is_reported_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-epipe");
    write(&s.join("src/f"), b"data\n");
    let src = format!("{}/src/", s.path.display());
    let dest = format!("{}/dest/", s.path.display());
    // A later write: the fake takes the 4 version bytes, closes its stdin, then answers as
    // a protocol-29 server (version 29, seed 7), so the next write must fail.
    let fake = s.join("fake-server");
    write(
        &fake,
        b"#!/bin/sh\nhead -c 4 >/dev/null; exec 0<&-\nprintf '\\035\\000\\000\\000\\007\\000\\000\\000'; sleep 1\n",
    );
    chmod(&fake, 0o755);
    let fake = fake.display().to_string();
    for (from, to) in [
        (src.clone(), format!("localhost:{dest}")),
        (format!("localhost:{src}"), dest.clone()),
    ] {
        let args = ["-a", "--protocol=29", "-e", &fake, &from, &to];
        let (ours, theirs) = (rdsync(&args, &s.path), rsync(&args, &s.path));
        assert_eq!(theirs.code, 10, "rsync {from}: {}", theirs.stderr);
        assert_eq!(ours.code, 10, "{from}: {}", ours.stderr);
        assert!(ours.stderr.contains("] write error: Broken pipe (32)"));
        assert_eq!(stderr_lines(&ours), stderr_lines(&theirs), "{from}");
        // The setup write: a remote shell that exits at once, and a client whose first
        // write is held back 0.3 s (strace's fault injection; threads are not traced) so
        // that it always meets the closed socket, for both tools.
        let delayed = |tool: &str| -> Run {
            let mut a: Vec<&str> = vec![
                "-o",
                "/dev/null",
                "-e",
                "trace=write",
                "-e",
                "inject=write:delay_enter=300000:when=1",
                tool,
            ];
            a.extend(["-a", "-e", "true", &from, &to]);
            let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
            run("strace", &a, &s.path)
        };
        let ours = delayed(env!("CARGO_BIN_EXE_rdsync"));
        let theirs = delayed(RSYNC);
        assert_eq!(theirs.code, 12, "rsync {from}: {}", theirs.stderr);
        assert!(ours.stderr.contains("safe_write failed to write 4 bytes"));
        assert_eq!(ours.code, 12, "{from}: {}", ours.stderr);
        assert_eq!(stderr_lines(&ours), stderr_lines(&theirs), "{from}");
    }
}

/// `--mkpath -v` says what it created ("created N directories for PATH") exactly as rsync
/// does, pulling and pushing, for a destination with and without a trailing slash, and in
/// a dry run (which creates nothing).
#[test]
fn mkpath_reports_the_directories_it_created_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-mkpath");
    write(&s.join("src/f"), b"data\n");
    write(&s.join("src/sub/g"), b"more\n");
    fix_times(&s.join("src"), 1_600_000_000);
    let rsh = local_rsh(&s);
    let created = |out: &str, side: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("created "))
            .map(|l| l.replace(side, "SIDE"))
            .collect()
    };
    for dest in ["deep/a/b/", "deep/a/b", "deep/"] {
        for dry in [false, true] {
            for pull in [false, true] {
                let tag = format!("{dest} dry={dry} pull={pull}");
                let mut outs = Vec::new();
                for side in ["rsync", "rdsync"] {
                    let base = format!("{}/{side}", s.path.display());
                    let target = format!("{base}/{dest}");
                    let src = format!("{}/src/", s.path.display());
                    let (from, to) = if pull {
                        (format!("localhost:{src}"), target)
                    } else {
                        (src, format!("localhost:{target}"))
                    };
                    let mut args = vec!["-av", "--mkpath", "-e", rsh.as_str()];
                    if dry {
                        args.push("-n");
                    }
                    args.extend([from.as_str(), to.as_str()]);
                    let run = if side == "rsync" {
                        rsync(&args, &s.path)
                    } else {
                        rdsync(&args, &s.path)
                    };
                    assert_eq!(run.code, 0, "{side} {tag}: {}", run.stderr);
                    outs.push(created(&run.stdout, &base));
                    assert_eq!(
                        s.join(&format!("{side}/deep")).exists(),
                        !dry,
                        "{side} {tag}"
                    );
                }
                assert!(!outs[0].is_empty(), "rsync said nothing for {tag}");
                assert_eq!(outs[1], outs[0], "{tag}");
                if !dry {
                    // The directories made on the way have the current time; what the
                    // transfer filled is compared.
                    assert_same_tree(
                        &snapshot(&s.join(&format!("rsync/{dest}"))),
                        &snapshot(&s.join(&format!("rdsync/{dest}"))),
                        &tag,
                    );
                }
                for side in ["rsync", "rdsync"] {
                    let _ = std::fs::remove_dir_all(s.join(&format!("{side}/deep")));
                }
            }
        }
    }
}

/// A source argument that does not exist is reported as rsync reports it, the other
/// sources are still sent (and `--delete` still runs: nothing existing was left out), and
/// the exit code is 23 — pushing, at every protocol.
#[test]
fn a_missing_source_argument_is_23_and_the_rest_is_sent_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-missing-arg");
    make_fixture(&s.join("src"));
    fix_times(&s.join("src"), 1_600_000_000);
    let rsh = local_rsh(&s);
    let missing = format!("{}/no-such-source", s.path.display());
    let src = format!("{}/src", s.path.display());
    for protocol in ["29", "30", "31", "32"] {
        let mut lines = Vec::new();
        for side in ["rsync", "rdsync"] {
            let dest = s.join(&format!("{side}-{protocol}"));
            write(&dest.join("src/stale"), b"extraneous\n");
            let to = format!("localhost:{}/", dest.display());
            let proto = format!("--protocol={protocol}");
            let args = [
                "-a",
                "--delete",
                proto.as_str(),
                "-e",
                rsh.as_str(),
                missing.as_str(),
                src.as_str(),
                to.as_str(),
            ];
            let run = if side == "rsync" {
                rsync(&args, &s.path)
            } else {
                rdsync(&args, &s.path)
            };
            assert_eq!(run.code, 23, "{side} {protocol}: {}", run.stderr);
            lines.push(run.stderr.lines().next().unwrap_or_default().to_string());
        }
        assert_eq!(lines[1], lines[0], "protocol {protocol}");
        assert_same_tree(
            &snapshot(&s.join(&format!("rsync-{protocol}/src"))),
            &snapshot(&s.join(&format!("rdsync-{protocol}/src"))),
            &format!("protocol {protocol}"),
        );
    }
}

/// `-c` with a source file that cannot be read: rsync lists it with an all-zero checksum
/// (checksum.c: file_checksum), fails to open it when sending ("send_files failed to
/// open"), sends everything else and exits 23. Both tools run unprivileged, so that a
/// mode-000 file is unreadable.
#[test]
fn an_unreadable_source_with_checksums_is_23_and_the_rest_is_sent_like_rsync() {
    require_rsync();
    let s = Scratch::new("remote-unreadable-c");
    let src = unreadable_fixture(&s);
    let rsh = local_rsh(&s);
    let mut lines = Vec::new();
    for side in ["rsync", "rdsync"] {
        let dest = s.join(side);
        unprivileged_dest(&dest);
        let to = format!("localhost:{}/", dest.display());
        let from = format!("{}/", src.display());
        let args = ["-rtc", "-e", rsh.as_str(), from.as_str(), to.as_str()];
        let run = run_unprivileged(side, &args, &s.path);
        assert_eq!(run.code, 23, "{side}: {}", run.stderr);
        let mut err: Vec<String> = run
            .stderr
            .lines()
            .filter(|l| l.contains("secret"))
            .map(str::to_string)
            .collect();
        err.sort();
        lines.push(err);
    }
    assert!(!lines[0].is_empty(), "rsync reported the unreadable file");
    assert_eq!(lines[1], lines[0]);
    let theirs = snapshot(&s.join("rsync"));
    assert_same_tree(
        &theirs,
        &snapshot(&s.join("rdsync")),
        "-c with an unreadable file",
    );
    assert!(s.join("rdsync/sub/c").exists() && !s.join("rdsync/secret").exists());
}
