//! `rdsync --builtin-ssh`: the built-in SSH client (russh) against a real OpenSSH sshd on
//! 127.0.0.1 and the real `rsync --server` behind it, compared with `rsync -e ssh` — the
//! trees it makes, and what it prints and exits with when the connection cannot be made.

mod sshd_support;

use sshd_support::{
    Sshd, new_key, put_file, rdsync, rdsync_rounds_match_rsync, rsync, rsync_expecting,
    run_with_env, scratch, slash, ssh_keygen,
};

/// Stderr lines without rsync's " at FILE(LINE) [ROLE=VERSION]" and OpenSSH's "\r".
fn lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.split(" at ").next().unwrap_or_default().to_string()
        })
        .collect()
}

/// A scratch directory named after `name` holding `src/f` with `content`; returns the
/// directory and `src/` as a source argument.
fn source_tree(name: &str, content: &[u8]) -> (std::path::PathBuf, String) {
    let dir = scratch(name);
    put_file(&dir.join("src/f"), content, 0o644, 1_600_000_000);
    let src = slash(&dir.join("src"));
    (dir, src)
}

/// Copies `src` to `{host}:{dest}-theirs` with `rsync -a -e RSH` and to `…-ours` with
/// `rdsync --builtin-ssh`; both must exit with `expected` and print the same lines.
fn both_like_rsync(what: &str, rsh: &str, src: &str, host: &str, dest: &str, expected: i32) {
    let theirs_dest = format!("{host}:{dest}-theirs/");
    let ours_dest = format!("{host}:{dest}-ours/");
    let (their_code, _, their_err) =
        rsync_expecting(expected, &["-a", "-e", rsh, src, &theirs_dest], &[]);
    let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", rsh, src, &ours_dest]);
    assert_eq!(their_code, expected, "{what}: rsync -e ssh: {their_err}");
    assert_eq!(code, expected, "{what}: {err}");
    assert_eq!(lines(&err), lines(&their_err), "{what}");
}

/// Push and pull, first copy and delta with `--delete`, over `--builtin-ssh`: the trees
/// equal what `rsync -e ssh` makes; a 24 MiB file meets the SSH windows' flow control.
#[test]
fn builtin_ssh_pushes_and_pulls_like_rsync_over_openssh() {
    let sshd = Sshd::start();
    rdsync_rounds_match_rsync(&sshd, "ssh-builtin", &["--builtin-ssh"], true);
}

/// What `rsync -e 'ssh …'` prints when ssh cannot get through — ssh's own message, then
/// rsync's "connection unexpectedly closed" and closing line — and its exit code (ssh's
/// 255, or the remote shell's 127) are what `rdsync --builtin-ssh` prints and exits with.
#[test]
fn builtin_ssh_failures_read_like_rsync_over_openssh() {
    let sshd = Sshd::start();
    let (dir, src) = source_tree("ssh-builtin-fail", b"data\n");
    let dest = format!("127.0.0.1:{}", slash(&dir.join("dest")));
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("empty_known_hosts"), b"").unwrap_or_else(|e| panic!("{e}"));
    let other_key = dir.join("other_key");
    new_key(&other_key, "ed25519", "");
    let d = sshd.dir.display();
    // A known_hosts file that records another key for the server (after a comment, so
    // the line number OpenSSH names is tested), and one that revokes the server's key.
    let other_pub = std::fs::read_to_string(dir.join("other_key.pub")).unwrap_or_default();
    let host_pub = std::fs::read_to_string(sshd.dir.join("host_key.pub")).unwrap_or_default();
    let name = format!("[127.0.0.1]:{}", sshd.port);
    std::fs::write(
        dir.join("changed_known_hosts"),
        format!("# rotated\n\n{name} {other_pub}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("revoked_known_hosts"),
        format!("{name} {host_pub}@revoked * {host_pub}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Everything on the command line, no config file: what -F /dev/null leaves.
    let bare = |extra: &str| {
        format!(
            "ssh -F /dev/null -p {} -l {} -o BatchMode=yes -o IdentitiesOnly=yes \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR {extra}",
            sshd.port, sshd.user
        )
    };
    let cases = [
        (
            "connection refused",
            format!("{} -p {closed_port}", sshd.rsh),
            None,
        ),
        (
            "unknown host key",
            bare(&format!(
                "-i {d}/client_key -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                dir.join("empty_known_hosts").display()
            )),
            None,
        ),
        (
            "changed host key",
            bare(&format!(
                "-i {d}/client_key -o UserKnownHostsFile={}",
                dir.join("changed_known_hosts").display()
            )),
            None,
        ),
        (
            "revoked host key",
            bare(&format!(
                "-i {d}/client_key -o UserKnownHostsFile={}",
                dir.join("revoked_known_hosts").display()
            )),
            None,
        ),
        (
            "key not accepted",
            bare(&format!(
                "-i {} -o UserKnownHostsFile={d}/known_hosts",
                other_key.display()
            )),
            None,
        ),
        (
            "remote rsync missing",
            sshd.rsh.clone(),
            Some("--rsync-path=/nonexistent/rsync"),
        ),
    ];
    let expected_codes = [255, 255, 255, 255, 255, 127];
    for ((what, rsh, extra), expected) in cases.into_iter().zip(expected_codes) {
        let mut args = vec!["-a", "-e", rsh.as_str()];
        args.extend(extra);
        args.extend([src.as_str(), dest.as_str()]);
        let mut ours = vec!["--builtin-ssh"];
        ours.extend(&args);
        let (code, _, err) = rdsync(&ours);
        // The built-in client always has ssh's status; rsync only when ssh exits first.
        let (their_code, _, their_err) = rsync_expecting(expected, &args, &[]);
        assert_eq!(code, expected, "{what}: {err}");
        assert_eq!(code, their_code, "{what}: ours {err}\nrsync's {their_err}");
        assert_eq!(lines(&err), lines(&their_err), "{what}");
    }
}

/// `StrictHostKeyChecking=accept-new` records the server's key in the known_hosts file
/// (as OpenSSH does) and the next connection finds it there; `-c` picks the cipher.
#[test]
fn accept_new_records_the_host_key() {
    let sshd = Sshd::start_logging("DEBUG1");
    let dir = scratch("ssh-builtin-learn");
    put_file(&dir.join("src/f"), b"data\n", 0o644, 1_600_000_000);
    let known = dir.join("learned_known_hosts");
    // With a cipher other than the default, which the server must then agree to.
    let rsh = format!(
        "{} -c aes128-ctr -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
        sshd.rsh,
        known.display()
    );
    let src = slash(&dir.join("src"));
    let dest = format!("127.0.0.1:{}", slash(&dir.join("dest")));
    let args = ["--builtin-ssh", "-a", "-e", rsh.as_str(), &src, &dest];
    let (code, _, err) = rdsync(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Permanently added '[127.0.0.1]:"), "{err}");
    assert_eq!(
        sshd.negotiated_ciphers().last().map(String::as_str),
        Some("aes128-ctr")
    );
    let host_key = std::fs::read_to_string(sshd.dir.join("host_key.pub")).unwrap_or_default();
    let key_fields: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let recorded = std::fs::read_to_string(&known).unwrap_or_default();
    let want = format!("[127.0.0.1]:{} {}", sshd.port, key_fields.join(" "));
    assert!(
        recorded.lines().any(|l| l.trim() == want),
        "{recorded:?} lacks {want:?}"
    );
    let (code, _, err) = rdsync(&args);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Permanently added"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("dest/f")).unwrap_or_default(),
        b"data\n"
    );
}

/// known_hosts files as OpenSSH reads and writes them: patterns with wildcards and
/// negation, tabs and comments, hashed names, several keys for one host, a server whose
/// only known key is not of the preferred type; a name recorded
/// under `HashKnownHosts yes` is hashed and OpenSSH finds it; `StrictHostKeyChecking no`
/// goes on past a changed key with OpenSSH's warnings and records nothing.
#[test]
fn known_hosts_files_are_read_and_written_like_openssh() {
    let sshd = Sshd::start();
    let (dir, src) = source_tree("ssh-builtin-known-hosts", b"data\n");
    let host_pub = std::fs::read_to_string(sshd.dir.join("host_key.pub")).unwrap_or_default();
    let other_key = dir.join("other_key");
    new_key(&other_key, "ed25519", "");
    let other_pub = std::fs::read_to_string(dir.join("other_key.pub")).unwrap_or_default();
    let port = sshd.port;
    let name = format!("[127.0.0.1]:{port}");
    let rsh = |known: &std::path::Path, strict: &str| {
        format!(
            "ssh -F /dev/null -p {port} -l {} -o BatchMode=yes -o IdentitiesOnly=yes \
             -i {}/client_key -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
             -o StrictHostKeyChecking={strict} -o UserKnownHostsFile={}",
            sshd.user,
            sshd.dir.display(),
            known.display()
        )
    };
    let run_both = |what: &str, known: &std::path::Path, strict: &str, want: i32| {
        let rsh = rsh(known, strict);
        let dest = format!("127.0.0.1:{}", slash(&dir.join(format!("dest-{what}"))));
        let args = ["-a", "-e", rsh.as_str(), src.as_str(), dest.as_str()];
        let theirs = rsync_expecting(want, &args, &[]);
        let mut ours_args = vec!["--builtin-ssh"];
        ours_args.extend(args);
        let ours = rdsync(&ours_args);
        (ours, theirs)
    };
    let ecdsa_pub =
        std::fs::read_to_string(sshd.dir.join("host_key_ecdsa.pub")).unwrap_or_default();
    let tabbed = host_pub.replacen(' ', "\t", 1);
    let cases = [
        (
            "patterns",
            format!("# a comment\n\n[127.0.0.?]:{port},!nothere\t{tabbed}"),
            0,
        ),
        ("negated", format!("[127.0.0.*]:*,!{name} {host_pub}"), 255),
        (
            "second-key",
            format!("{name} {other_pub}{name} {host_pub}"),
            0,
        ),
        ("hashed", format!("{name} {host_pub}"), 0),
        // Only the server's other (ECDSA) key is known: it must be the one asked for.
        ("other-type", format!("{name} {ecdsa_pub}"), 0),
    ];
    for (what, text, expected) in cases {
        let known = dir.join(format!("known_hosts-{what}"));
        std::fs::write(&known, text).unwrap_or_else(|e| panic!("{e}"));
        if what == "hashed" {
            ssh_keygen(&dir, &["-H", "-f", &known.display().to_string()]);
            let text = std::fs::read_to_string(&known).unwrap_or_default();
            assert!(text.starts_with("|1|"), "{text}");
        }
        let ((code, _, err), (their_code, _, their_err)) = run_both(what, &known, "yes", expected);
        assert_eq!(their_code, expected, "{what}: rsync -e ssh: {their_err}");
        assert_eq!(code, expected, "{what}: {err}");
        assert_eq!(lines(&err), lines(&their_err), "{what}");
    }

    // HashKnownHosts yes: the learned name is hashed, and OpenSSH finds it.
    let learned = dir.join("known_hosts-learned");
    let rsh_learn = format!("{} -o HashKnownHosts=yes", rsh(&learned, "accept-new"));
    let dest = format!("127.0.0.1:{}", slash(&dir.join("dest-learned")));
    let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", &rsh_learn, &src, &dest]);
    assert_eq!(code, 0, "{err}");
    let recorded = std::fs::read_to_string(&learned).unwrap_or_default();
    assert!(
        recorded.starts_with("|1|") && !recorded.contains("127.0.0.1"),
        "{recorded}"
    );
    // ssh-keygen -F fails when OpenSSH does not find the name.
    ssh_keygen(&dir, &["-F", &name, "-f", &learned.display().to_string()]);
    let (their_code, _, their_err) = rsync(&["-a", "-e", &rsh(&learned, "yes"), &src, &dest]);
    assert_eq!(their_code, 0, "{their_err}");

    // StrictHostKeyChecking no past a changed key: both go on, warn alike, record nothing.
    let changed = dir.join("known_hosts-changed");
    let text = format!("{name} {other_pub}");
    std::fs::write(&changed, &text).unwrap_or_else(|e| panic!("{e}"));
    let ((code, _, err), (their_code, _, their_err)) = run_both("changed", &changed, "no", 0);
    assert_eq!(
        (code, their_code),
        (0, 0),
        "ours: {err}\nrsync's: {their_err}"
    );
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{err}"
    );
    assert_eq!(lines(&err), lines(&their_err));
    assert_eq!(std::fs::read_to_string(&changed).unwrap_or_default(), text);
}

/// Without `-F` the system's /etc/ssh/ssh_config is read after the user's, as by ssh:
/// Debian's (an `Include`, `SendEnv`, `GSSAPIAuthentication`, `HashKnownHosts yes`) is
/// accepted, and a key learned under `accept-new` is recorded hashed or plain exactly as
/// OpenSSH records it.
#[test]
fn the_system_ssh_config_is_read_like_openssh() {
    let sshd = Sshd::start();
    let (dir, src) = source_tree("ssh-builtin-system-config", b"data\n");
    assert!(
        std::path::Path::new("/etc/ssh/ssh_config").exists(),
        "/etc/ssh/ssh_config is missing (Debian package openssh-client)"
    );
    let rsh = |known: &str| {
        format!(
            "ssh -p {} -l {} -i {}/client_key -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}/{known} \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR",
            sshd.port,
            sshd.user,
            sshd.dir.display(),
            dir.display()
        )
    };
    let dest = |n: &str| format!("127.0.0.1:{}", slash(&dir.join(n)));
    let (their_code, _, their_err) = rsync(&["-a", "-e", &rsh("theirs"), &src, &dest("d1")]);
    assert_eq!(their_code, 0, "{their_err}");
    let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", &rsh("ours"), &src, &dest("d2")]);
    assert_eq!(code, 0, "{err}");
    let theirs = std::fs::read_to_string(dir.join("theirs")).unwrap_or_default();
    let ours = std::fs::read_to_string(dir.join("ours")).unwrap_or_default();
    assert_eq!(theirs.lines().count(), 1, "{theirs}");
    assert_eq!(ours.lines().count(), 1, "{ours}");
    assert_eq!(
        ours.starts_with("|1|"),
        theirs.starts_with("|1|"),
        "OpenSSH recorded {theirs:?}, we recorded {ours:?}"
    );
    // The rest of the line (key type and key) is the same.
    let key = |l: &str| {
        l.split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(key(&ours), key(&theirs));
}

/// `-J` (one hop and two) and a `ProxyCommand` (OpenSSH's own `ssh -W`) reach the server
/// the way `ssh` does: the transfers equal rsync's, and sshd logs as many forwarded
/// (direct-tcpip) connections for our run as for OpenSSH's.
#[test]
fn proxy_jump_and_proxy_command_reach_the_server_like_openssh() {
    let sshd = Sshd::start_logging("DEBUG1");
    let (dir, src) = source_tree("ssh-builtin-proxy", b"through a jump\n");
    let forwarded = || {
        std::fs::read_to_string(sshd.dir.join("sshd.log"))
            .unwrap_or_default()
            .matches("server_request_direct_tcpip")
            .count()
    };
    let cfg = sshd.dir.join("ssh_config");
    let cases = [
        ("jump", format!("{} -J jumphost", sshd.rsh), 1),
        ("two-hops", format!("{} -J hop1,hop2", sshd.rsh), 2),
        (
            "command",
            format!(
                "{} -o 'ProxyCommand=ssh -F {} -W %h:%p jumphost'",
                sshd.rsh,
                cfg.display()
            ),
            1,
        ),
    ];
    for (what, rsh, hops) in cases {
        let dest = |who: &str| format!("127.0.0.1:{}", slash(&dir.join(format!("{who}-{what}"))));
        let before = forwarded();
        let (their_code, _, their_err) = rsync(&["-a", "-e", &rsh, &src, &dest("theirs")]);
        assert_eq!(their_code, 0, "{what}: rsync -e ssh: {their_err}");
        let middle = forwarded();
        let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", &rsh, &src, &dest("ours")]);
        assert_eq!(code, 0, "{what}: {err}");
        let after = forwarded();
        assert_eq!(
            middle - before,
            hops,
            "{what}: OpenSSH's forwarded connections"
        );
        assert_eq!(after - middle, hops, "{what}: our forwarded connections");
        for who in ["theirs", "ours"] {
            assert_eq!(
                std::fs::read(dir.join(format!("{who}-{what}/f"))).unwrap_or_default(),
                b"through a jump\n",
                "{what}: {who}"
            );
        }
    }
}

/// An encrypted identity file, as OpenSSH handles one: the passphrase is asked for with its
/// prompt (here through `SSH_ASKPASS`, `SSH_ASKPASS_REQUIRE=force`) only for a key the server
/// accepts, a wrong one up to three times before giving up, and never under `BatchMode`.
/// The prompts asked, the exit codes and the messages equal those of `rsync -e ssh`.
#[test]
fn encrypted_keys_are_unlocked_like_openssh() {
    let sshd = Sshd::start();
    let (dir, src) = source_tree("ssh-builtin-passphrase", b"data\n");
    for (key, passphrase) in [("enc_key", "open sesame"), ("stranger_key", "other")] {
        new_key(&dir.join(key), "ed25519", passphrase);
    }
    // The server accepts enc_key only; stranger_key is offered first and must not be asked.
    let accepted = std::fs::read_to_string(dir.join("enc_key.pub")).unwrap_or_default();
    let mut keys = std::fs::read_to_string(sshd.dir.join("authorized_keys")).unwrap_or_default();
    keys.push_str(&accepted);
    std::fs::write(sshd.dir.join("authorized_keys"), keys).unwrap_or_else(|e| panic!("{e}"));
    let askpass = dir.join("askpass");
    std::fs::write(
        &askpass,
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$PROMPTS\"\nprintf '%s\\n' \"$ANSWER\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let d = dir.display();
    let askpass = askpass.display().to_string();
    for (what, answer, batch, expected) in [
        ("right", "open sesame", "no", 0),
        ("wrong", "nope", "no", 255),
        ("batch", "open sesame", "yes", 255),
    ] {
        let rsh = format!(
            "ssh -F /dev/null -p {} -l {} -o IdentitiesOnly=yes -o BatchMode={batch} \
             -i {d}/stranger_key -i {d}/enc_key -o UserKnownHostsFile={}/known_hosts \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR",
            sshd.port,
            sshd.user,
            sshd.dir.display()
        );
        let mut runs = Vec::new();
        for who in ["theirs", "ours"] {
            let prompts = dir.join(format!("prompts-{what}-{who}"));
            let prompts_text = prompts.display().to_string();
            let dest = format!(
                "127.0.0.1:{}",
                slash(&dir.join(format!("dest-{what}-{who}")))
            );
            let mut args = vec!["-a", "-e", rsh.as_str(), src.as_str(), dest.as_str()];
            let program = if who == "ours" {
                args.insert(0, "--builtin-ssh");
                env!("CARGO_BIN_EXE_rdsync")
            } else {
                "/usr/bin/rsync"
            };
            let env = [
                ("SSH_ASKPASS", askpass.as_str()),
                ("SSH_ASKPASS_REQUIRE", "force"),
                ("ANSWER", answer),
                ("PROMPTS", prompts_text.as_str()),
            ];
            // rsync reports ssh's 255 only when ssh exits first: repeat its failing runs
            // (each with a fresh prompt log) until it does.
            let mut run = (-1, Vec::new(), String::new());
            for _ in 0..30 {
                let _ = std::fs::remove_file(&prompts);
                let (code, _, err) = run_with_env(program, &args, &env);
                let asked = std::fs::read_to_string(&prompts).unwrap_or_default();
                run = (code, lines(&err), asked);
                // Our client is run once: it always has ssh's status.
                if code == expected || who == "ours" {
                    break;
                }
            }
            runs.push(run);
        }
        let (theirs, ours) = (&runs[0], &runs[1]);
        assert_eq!(theirs.0, expected, "{what}: rsync -e ssh: {:?}", theirs.1);
        assert_eq!(ours, theirs, "{what}: ours, then rsync's");
    }
    let prompt = format!("Enter passphrase for key '{d}/enc_key': \n");
    let asked = std::fs::read_to_string(dir.join("prompts-wrong-ours")).unwrap_or_default();
    assert_eq!(asked, prompt.repeat(3));
}

/// `Match` sections as ssh evaluates them — `originalhost`, `host` after the `HostName`
/// they set, `exec`, `all` — pick the port, user and key: with the flag file present the
/// login works, without it `Match all` names a user the server refuses, for both clients.
#[test]
fn match_sections_choose_like_openssh() {
    let sshd = Sshd::start();
    let (dir, src) = source_tree("ssh-builtin-match", b"matched\n");
    let d = sshd.dir.display();
    let flag = dir.join("flag");
    let cfg = dir.join("config");
    std::fs::write(
        &cfg,
        format!(
            "Match originalhost viamatch\n  HostName 127.0.0.1\n  Port {}\n\
             Match host 127.0.0.1 exec \"test -f {}\"\n  User {}\n  IdentityFile {d}/client_key\n\
             Match all\n  User nobody-here\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n\
             \x20 BatchMode yes\n  UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking yes\n  LogLevel ERROR\n",
            sshd.port,
            flag.display(),
            sshd.user
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rsh = format!("ssh -F {}", cfg.display());
    for (what, with_flag, expected) in [("flag", true, 0), ("no-flag", false, 255)] {
        if with_flag {
            std::fs::write(&flag, b"").unwrap_or_else(|e| panic!("{e}"));
        } else {
            let _ = std::fs::remove_file(&flag);
        }
        let dest = dir.join(what).display().to_string();
        both_like_rsync(what, &rsh, &src, "viamatch", &dest, expected);
    }
    assert_eq!(
        std::fs::read(dir.join("flag-ours/f")).unwrap_or_default(),
        b"matched\n"
    );
}

/// A server with a host certificate (signed by a CA made here for 127.0.0.1): accepted
/// through an `@cert-authority` line; a certificate that does not name the host, or an
/// authority nobody recorded, leaves the plain key to be checked (OpenSSH's downgrade);
/// a revoked authority is refused. Codes and messages equal `rsync -e ssh`'s.
#[test]
fn host_certificates_are_checked_like_openssh() {
    let sshd = Sshd::start_with("INFO", |dir| {
        new_key(&dir.join("ca"), "ed25519", "");
        new_key(&dir.join("other_ca"), "ed25519", "");
        let sign = "-q -s ca -I test-host -h -n 127.0.0.1 host_key.pub";
        ssh_keygen(dir, &sign.split(' ').collect::<Vec<_>>());
        format!("HostCertificate {}/host_key-cert.pub\n", dir.display())
    });
    let (dir, src) = source_tree("ssh-builtin-host-cert", b"certified\n");
    let read = |name: &str| std::fs::read_to_string(sshd.dir.join(name)).unwrap_or_default();
    let (ca, other_ca, host_pub) = (read("ca.pub"), read("other_ca.pub"), read("host_key.pub"));
    let port = sshd.port;
    let cases = [
        (
            "authority",
            "127.0.0.1",
            format!("@cert-authority * {ca}"),
            0,
        ),
        // localhost is not a principal of the certificate: the plain key is unknown.
        (
            "principal",
            "localhost",
            format!("@cert-authority * {ca}"),
            255,
        ),
        (
            "other-authority",
            "127.0.0.1",
            format!("@cert-authority * {other_ca}[127.0.0.1]:{port} {host_pub}"),
            0,
        ),
        (
            "revoked-authority",
            "127.0.0.1",
            format!("@cert-authority * {ca}@revoked * {ca}"),
            255,
        ),
    ];
    for (what, host, known, expected) in cases {
        let known_file = dir.join(format!("known_hosts-{what}"));
        std::fs::write(&known_file, known).unwrap_or_else(|e| panic!("{e}"));
        let rsh = format!(
            "ssh -F /dev/null -p {port} -l {} -i {}/client_key -o IdentitiesOnly=yes \
             -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR",
            sshd.user,
            sshd.dir.display(),
            known_file.display()
        );
        let dest = dir.join(what).display().to_string();
        both_like_rsync(what, &rsh, &src, host, &dest, expected);
    }
}

/// `-C` and `Compression yes` ask for zlib (`zlib@openssh.com`), as ssh does; without them
/// the connection is not compressed: sshd's log shows the same choice for both clients.
#[test]
fn compression_is_asked_for_like_openssh() {
    let sshd = Sshd::start_logging("DEBUG1");
    let (dir, src) = source_tree("ssh-builtin-compression", b"squeeze me\n");
    for (what, extra) in [
        ("plain", ""),
        ("dash-c", " -C"),
        ("option", " -o Compression=yes"),
    ] {
        let rsh = format!("{}{extra}", sshd.rsh);
        let dest = |who: &str| format!("127.0.0.1:{}", slash(&dir.join(format!("{who}-{what}"))));
        let (their_code, _, their_err) = rsync(&["-a", "-e", &rsh, &src, &dest("theirs")]);
        assert_eq!(their_code, 0, "{what}: {their_err}");
        let theirs = sshd.negotiated_compressions().last().cloned();
        let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", &rsh, &src, &dest("ours")]);
        assert_eq!(code, 0, "{what}: {err}");
        let ours = sshd.negotiated_compressions().last().cloned();
        let want = if extra.is_empty() {
            "none"
        } else {
            "zlib@openssh.com"
        };
        assert_eq!(theirs.as_deref(), Some(want), "{what}: OpenSSH");
        assert_eq!(ours.as_deref(), Some(want), "{what}: ours");
    }
}

/// What the built-in client cannot do is a usage error (exit 1) before anything is
/// dialled: a remote shell that is not ssh, an ssh option it cannot honour, and an rsync
/// option that would hand the command to the system rsync (which has no such client).
#[test]
fn builtin_ssh_refuses_what_it_cannot_honour() {
    let (_, src) = source_tree("ssh-builtin-usage", b"data\n");
    let dest = "127.0.0.1:/nonexistent-dest/";
    for (extra, says) in [
        (vec!["-e", "rsh"], "the remote shell \"rsh\""),
        (vec!["-e", "ssh -W h:9 -p 9"], "ssh option -W"),
        (
            vec!["-e", "ssh -o RemoteCommand=x -p 9"],
            "ssh option -o remotecommand",
        ),
        (
            vec!["-e", "ssh -p 9", "--fuzzy"],
            "--fuzzy is not supported natively",
        ),
    ] {
        let mut args = vec!["--builtin-ssh", "-a"];
        args.extend(&extra);
        args.extend([src.as_str(), dest]);
        let (code, _, err) = rdsync(&args);
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(!err.contains("connect to host"), "{extra:?} dialled: {err}");
        assert!(!err.contains("running /usr/bin/rsync"), "{extra:?}: {err}");
    }
}

/// Keys held by an ssh-agent (`$SSH_AUTH_SOCK`) are offered, as OpenSSH offers them, and
/// not under `IdentitiesOnly yes`.
#[test]
fn builtin_ssh_authenticates_with_the_agent() {
    let sshd = Sshd::start();
    let dir = scratch("ssh-builtin-agent");
    put_file(&dir.join("src/f"), b"agent\n", 0o644, 1_600_000_000);
    // A home without keys: only the agent can authenticate.
    std::fs::create_dir_all(dir.join("home")).unwrap_or_else(|e| panic!("{e}"));
    let socket = dir.join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("ssh-agent: {e}"));
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(sshd.dir.join("client_key"))
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap_or_else(|e| panic!("ssh-add: {e}"));
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let src = slash(&dir.join("src"));
    let dest = format!("127.0.0.1:{}", slash(&dir.join("dest")));
    for (only, expect) in [("no", 0), ("yes", 255)] {
        let rsh = format!(
            "ssh -F /dev/null -p {} -l {} -o IdentitiesOnly={only} -o UserKnownHostsFile={}/known_hosts",
            sshd.port,
            sshd.user,
            sshd.dir.display()
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdsync"))
            .args(["--builtin-ssh", "-a", "-e", &rsh, &src, &dest])
            .env("SSH_AUTH_SOCK", &socket)
            .env("HOME", dir.join("home"))
            .output()
            .unwrap_or_else(|e| panic!("rdsync: {e}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(expect),
            "IdentitiesOnly={only}: {err}"
        );
        if expect != 0 {
            assert!(err.contains("Permission denied (publickey)."), "{err}");
        }
    }
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(
        std::fs::read(dir.join("dest/f")).unwrap_or_default(),
        b"agent\n"
    );
}

/// With no cipher named, the built-in client puts AES-GCM first where the CPU has AES and
/// carry-less multiply instructions (about twice chacha20-poly1305's speed on both ends),
/// and keeps OpenSSH's chacha20-poly1305 first elsewhere; `rsync -e ssh` here negotiates
/// OpenSSH's default.
#[test]
fn the_default_cipher_follows_the_hardware() {
    let sshd = Sshd::start_logging("DEBUG1");
    let (dir, src) = source_tree("ssh-builtin-cipher", b"data\n");
    let dest = format!("127.0.0.1:{}", slash(&dir.join("dest")));
    let (code, _, err) = rdsync(&["--builtin-ssh", "-a", "-e", &sshd.rsh, &src, &dest]);
    assert_eq!(code, 0, "{err}");
    #[cfg(target_arch = "x86_64")]
    let hardware = std::arch::is_x86_feature_detected!("aes")
        && std::arch::is_x86_feature_detected!("pclmulqdq");
    #[cfg(not(target_arch = "x86_64"))]
    let hardware = false;
    let want = if hardware {
        "aes256-gcm@openssh.com"
    } else {
        "chacha20-poly1305@openssh.com"
    };
    assert_eq!(
        sshd.negotiated_ciphers().last().map(String::as_str),
        Some(want)
    );
}
