//! Engine choice tests: sync actions whose options are all native run through the real `rdsync`
//! binary, the others through the real system rsync, and the run log, history, metrics and
//! `check-config` say which one ran and why.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use common::{
    Env, control, control_json, http_get, metric, rdsync_bin, require_rsync, run, write_random,
};

/// One entry of a tree, as `-a` must reproduce it.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir {
        mode: u32,
        mtime: i64,
    },
    File {
        mode: u32,
        mtime: i64,
        data: Vec<u8>,
    },
    Link(PathBuf),
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&p).unwrap()));
            } else if m.is_dir() {
                out.insert(
                    rel,
                    Entry::Dir {
                        mode,
                        mtime: m.mtime(),
                    },
                );
                walk(root, &p, out);
            } else {
                out.insert(
                    rel,
                    Entry::File {
                        mode,
                        mtime: m.mtime(),
                        data: std::fs::read(&p).unwrap(),
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A source tree with nested directories, modes, an empty file, a symlink and old mtimes.
/// Returns the total size of its regular files and their number; rsync's "total file size" adds
/// the symlink's target length ([`LINK_LEN`]).
fn make_source(src: &Path) -> (u64, u64) {
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    write_random(&src.join("big.bin"), 200_000);
    write_random(&src.join("sub/mid.bin"), 70_001);
    std::fs::write(src.join("sub/deeper/note.txt"), "hello\n").unwrap();
    std::fs::write(src.join("empty"), "").unwrap();
    let tool = src.join("sub/tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("sub/deeper/note.txt", src.join("link")).unwrap();
    for p in [
        "big.bin",
        "sub/mid.bin",
        "sub/deeper/note.txt",
        "empty",
        "sub/tool.sh",
        "sub/deeper",
        "sub",
    ] {
        let st = std::process::Command::new("touch")
            .args(["-h", "-d", "2021-03-04 05:06:07"])
            .arg(src.join(p))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let total = 200_000 + 70_001 + 6 + 18;
    (total, 5)
}

/// The length of the symlink target `make_source` creates.
const LINK_LEN: u64 = "sub/deeper/note.txt".len() as u64;

fn history_file(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path("state/history.jsonl"))
        .expect("history.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_log(env: &Env, run_id: &str) -> String {
    std::fs::read_to_string(env.path(&format!("state/runs/{run_id}.log"))).expect("run log")
}

#[test]
fn all_native_options_run_rdsync_with_metrics() {
    require_rsync();
    let rdsync = rdsync_bin();
    let env = Env::new();
    let src = env.path("src");
    let (total, files) = make_source(&src);
    let dst = env.path("dst");
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::write(dst.join("stale"), "to be deleted").unwrap();
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: native\n    actions:\n      - {{action: sync, id: tree, source: {src}/, dest: {dst}/, opts: [\"-a\", \"--delete\"]}}\n",
        src = src.display(),
        dst = dst.display()
    ));
    let d = env.start(&cfg);
    let sock = env.socket();
    let o = run(&[
        "trigger",
        "native",
        "--wait",
        "--socket",
        sock.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "trigger --wait failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // The destination is the source, exactly (contents, modes, times, links, deletions).
    assert_eq!(tree(&dst), tree(&src));

    // The history says rdsync ran, with the rdsync binary's command line.
    let runs = control_json(&sock, "/api/v1/runs?job=native&limit=10");
    let r = &runs.as_array().expect("runs")[0];
    assert_eq!(r["result"], "success", "{r:#}");
    let a = &r["actions"][0];
    assert_eq!(a["engine"], "rdsync", "{r:#}");
    assert!(a.get("engine_reason").is_none(), "{r:#}");
    let cmd = a["command"].as_str().unwrap();
    assert!(
        cmd.starts_with(&format!("{} --stats -a --delete ", rdsync.display())),
        "{cmd}"
    );
    assert_eq!(a["stats"]["literal_bytes"], total, "{a:#}");
    assert_eq!(a["stats"]["files_transferred"], files, "{a:#}");

    // The run log names the engine and holds rdsync's own --stats output.
    let (st, log) = control(
        &sock,
        "GET",
        &format!("/api/v1/runs/{}/log", r["run_id"].as_str().unwrap()),
        None,
    )
    .unwrap();
    assert_eq!(st, 200);
    assert!(
        log.contains("action tree: sync with the native rdsync: "),
        "{log}"
    );
    assert!(log.contains("[out] Literal data: 270,025 bytes"), "{log}");
    assert!(!log.contains("system rsync"), "{log}");
    assert!(
        d.log_text()
            .contains("job native action tree: native rdsync"),
        "{}",
        d.log_text()
    );

    // Metrics carry rdsync's transfer numbers.
    let (st, m) = http_get(env.metrics_port(), "/metrics");
    assert_eq!(st, 200);
    let l = ["job=\"native\"", "action=\"tree\"", "director=\"t\""];
    assert_eq!(
        metric(&m, "rdsync_director_sync_literal_bytes_total", &l),
        Some(total as f64),
        "{m}"
    );
    assert_eq!(
        metric(&m, "rdsync_director_sync_files_transferred_total", &l),
        Some(files as f64),
        "{m}"
    );
    assert_eq!(
        metric(&m, "rdsync_director_sync_last_total_file_size_bytes", &l),
        Some((total + LINK_LEN) as f64),
        "{m}"
    );
    let sent = metric(&m, "rdsync_director_sync_bytes_sent_total", &l).expect("bytes sent");
    assert!(sent >= total as f64, "sent {sent}");
    assert!(metric(&m, "rdsync_director_sync_bytes_received_total", &l).unwrap() > 0.0);
}

#[test]
fn a_non_native_option_runs_the_system_rsync_and_says_why() {
    require_rsync();
    rdsync_bin();
    let env = Env::new();
    let src = env.path("src");
    let (total, _) = make_source(&src);
    let dst = env.path("dst");
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: limited\n    actions:\n      - {{action: sync, id: slow, source: {src}/, dest: {dst}/, opts: [\"-a\", \"--bwlimit=100000\"]}}\n",
        src = src.display(),
        dst = dst.display()
    ));
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--once"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("sync with the system rsync (reason: --bwlimit"),
        "{err}"
    );
    assert_eq!(tree(&dst), tree(&src));
    let h = history_file(&env);
    let a = &h.last().unwrap()["actions"][0];
    assert_eq!(a["engine"], "rsync", "{a:#}");
    let reason = a["engine_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("--bwlimit") && reason.contains("not supported natively"),
        "{reason}"
    );
    assert!(
        a["command"]
            .as_str()
            .unwrap()
            .starts_with("rsync --stats -a --bwlimit=100000 "),
        "{a:#}"
    );
    // rsync's own --stats feed the record too.
    assert_eq!(a["stats"]["total_file_size"], total + LINK_LEN, "{a:#}");
    let log = run_log(&env, h.last().unwrap()["run_id"].as_str().unwrap());
    assert!(
        log.contains("[director] action slow: sync with the system rsync (reason: --bwlimit"),
        "{log}"
    );
}

#[test]
fn check_config_shows_the_engine_of_each_action() {
    let rdsync = rdsync_bin();
    let env = Env::new();
    let cfg = env.write_config(
        "jobs:\n  - id: j\n    actions:\n      - {action: sync, id: plain, source: /a/, dest: /b/, opts: [\"-aH\", \"--delete\", \"--exclude '*.tmp'\"]}\n      - {action: sync, id: limited, source: /a/, dest: /b/, opts: [\"-a\", \"--bwlimit=100\"]}\n      - {action: sync, id: globbed, source: \"/a/*\", dest: /b/, opts: [\"-a\"]}\n      - {action: command, id: cmd, command: /bin/true}\n",
    );
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = rdsync.display();
    for want in [
        format!(
            "  action plain [sync (native rdsync)]: {r} --stats -aH --delete --exclude '*.tmp' /a/ /b/\n    engine: native rdsync\n"
        ),
        "  action limited [sync (system rsync)]: rsync --stats -a --bwlimit=100 /a/ /b/\n    engine: system rsync (reason: --bwlimit".to_string(),
        format!(
            "  action globbed [sync (native rdsync)]: bash -c '{r} --stats -a /a/* /b/'\n    engine: native rdsync (decided before bash expands the arguments"
        ),
        "  action cmd [command (argv)]: /bin/true\n".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !out.contains("cmd [command (argv)]: /bin/true\n    engine"),
        "{out}"
    );

    // engine: rsync runs everything with the system rsync.
    let cfg = env.write_config(
        "engine: rsync\njobs:\n  - id: j\n    actions:\n      - {action: sync, id: plain, source: /a/, dest: /b/, opts: [\"-a\"]}\n",
    );
    let out =
        String::from_utf8_lossy(&run(&["check-config", cfg.to_str().unwrap()]).stdout).into_owned();
    assert!(
        out.contains("  action plain [sync (system rsync)]: rsync --stats -a /a/ /b/\n    engine: system rsync (reason: engine: rsync)\n"),
        "{out}"
    );

    // engine: native without an rdsync binary is a configuration error.
    let cfg = env.write_config(
        "engine: native\nrdsync_path: /nonexistent/rdsync\njobs:\n  - id: j\n    actions:\n      - {action: sync, source: /a/, dest: /b/, opts: [\"-a\"]}\n",
    );
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "engine: native, but rdsync_path /nonexistent/rdsync is not an executable file"
        ),
        "{err}"
    );

    // A bad engine name is located.
    let cfg = env.write_config(
        "engine: turbo\njobs:\n  - id: j\n    actions:\n      - {action: command, command: /bin/true}\n",
    );
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("engine: expected auto, native or rsync, got \"turbo\""),
        "{err}"
    );
}

#[test]
fn engine_native_hands_non_native_options_to_rsync_through_rdsync() {
    require_rsync();
    let rdsync = rdsync_bin();
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    let dst = env.path("dst");
    let globbed = env.path("globbed");
    let cfg = env.write_config(&format!(
        "engine: native\nrdsync_path: {r}\njobs:\n  - id: j\n    actions:\n      - {{action: sync, id: limited, source: {src}/, dest: {dst}/, opts: [\"-a\", \"--bwlimit=100000\"]}}\n      - {{action: sync, id: globbed, source: \"{src}/s*\", dest: {globbed}/, opts: [\"-a\"]}}\n",
        r = rdsync.display(),
        src = src.display(),
        dst = dst.display(),
        globbed = globbed.display(),
    ));
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "  action limited [sync (native rdsync)]: {} --stats -a --bwlimit=100000 ",
            rdsync.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("    engine: native rdsync (engine: native; rdsync hands over to /usr/bin/rsync: --bwlimit"),
        "{out}"
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--once"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(tree(&dst), tree(&src));
    // The glob went through bash -c to rdsync: only `sub` matched `s*`.
    assert_eq!(tree(&globbed), {
        let mut t = tree(&src);
        t.retain(|p, _| p.starts_with("sub"));
        t
    });
    let h = history_file(&env);
    let rec = h.last().unwrap();
    // rdsync's own notice is seen: the system rsync did the transfer.
    let a = &rec["actions"][0];
    assert_eq!(a["engine"], "rsync", "{rec:#}");
    assert!(
        a["engine_reason"]
            .as_str()
            .unwrap()
            .starts_with("rdsync handed over: --bwlimit"),
        "{rec:#}"
    );
    assert_eq!(rec["actions"][1]["engine"], "rdsync", "{rec:#}");
    let log = run_log(&env, rec["run_id"].as_str().unwrap());
    assert!(
        log.contains("action limited: rdsync handed over to the system rsync (--bwlimit"),
        "{log}"
    );
    assert!(
        log.contains("is not supported natively; running /usr/bin/rsync instead"),
        "{log}"
    );
}

#[test]
fn a_native_run_is_timed_out_through_its_process_group() {
    require_rsync();
    rdsync_bin();
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    // A remote shell that never answers: rdsync (native push) waits on it until the timeout.
    let rsh = env.path("hang-rsh");
    std::fs::write(&rsh, "#!/bin/sh\nexec sleep 41.75\n").unwrap();
    std::fs::set_permissions(&rsh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = env.write_config(&format!(
        "jobs:\n  - id: hang\n    actions:\n      - {{action: sync, id: push, source: {src}/, dest: \"nohost:/x/\", opts: [\"-a\", \"-e\", \"{rsh}\"], timeout: 1s, kill_grace: 2s}}\n",
        src = src.display(),
        rsh = rsh.display()
    ));
    let t0 = std::time::Instant::now();
    let o = run(&["run", "--config", cfg.to_str().unwrap(), "--once"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "{err}");
    assert!(err.contains("sync with the native rdsync"), "{err}");
    let h = history_file(&env);
    let rec = h.last().unwrap();
    assert_eq!(rec["result"], "timeout", "{rec:#}");
    assert_eq!(rec["actions"][0]["engine"], "rdsync", "{rec:#}");
    assert_eq!(rec["actions"][0]["outcome"], "timeout", "{rec:#}");
    // The whole group went: rdsync and its remote shell.
    common::wait_until(
        std::time::Duration::from_secs(3),
        "the remote shell to be gone",
        || common::pids_with_cmdline("sleep 41.75").is_empty(),
    );
    let log = run_log(&env, rec["run_id"].as_str().unwrap());
    assert!(log.contains("sending SIGTERM to process group"), "{log}");
}
