//! Side-by-side harness: runs `rdsync` and the system `rsync` on the same data in one run,
//! alternating, and reports medians, the median of the per-round ratios rdsync/rsync, and peak
//! RSS.
//!
//! ```text
//! cargo bench --bench side_by_side -- [--rounds N] [--data DIR] [--cases a,b,...]
//! ```
//!
//! Cases: `small_copy`, `small_resync`, `big_copy`, `big_delta`, `mixed_copy`; `push_small`,
//! `pull_small`, `push_delta`, `pull_delta` over pipes to `rsync --server`; `ssh_push_small`,
//! `ssh_pull_big`, `ssh_push_delta` through a real OpenSSH sshd on 127.0.0.1 started with
//! throwaway keys (`rsync -e ssh` against `rdsync --builtin-ssh`). Data lives on
//! tmpfs (`/dev/shm/rdsync-bench` by default) as `shared/docs/baseline.md` advises; before every
//! timed run the harness syncs, prefaults memory (writes and deletes a tmpfs file) and uses a
//! fresh destination name; sources are re-read before each case so they are in the page cache.

mod datasets;
mod measure;
#[path = "../../tests/sshd_support/mod.rs"]
mod sshd_support;
mod verify;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use measure::{Sample, median, run};

const RDSYNC: &str = env!("CARGO_BIN_EXE_rdsync");
const BIG_SIZE: u64 = 1 << 30;

struct Case {
    name: &'static str,
    what: &'static str,
    /// Prepares the fresh destination `dst` and returns the arguments after `-a`.
    prep: fn(&Path, &Path) -> Vec<String>,
    /// The tree to compare the result against.
    expect: fn(&Path) -> PathBuf,
    /// Arguments only rdsync gets (`--builtin-ssh`).
    rdsync_extra: &'static [&'static str],
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn cp_a(src: &Path, dst: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .map(|s| s.success());
    assert!(
        matches!(ok, Ok(true)),
        "cp -a {} {}",
        src.display(),
        dst.display()
    );
}

/// A remote shell that drops the host and runs `rsync --server` locally over pipes.
const PIPE_RSH: &str = "sh -c 'shift; exec \"$@\"' pipe-rsh";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `-e PIPE_RSH` plus the given source and destination.
fn over_pipes(src: String, dst: String, extra: &[&str]) -> Vec<String> {
    let mut v = args(&["-e", PIPE_RSH, "--rsync-path=/usr/bin/rsync"]);
    v.extend(args(extra));
    v.push(src);
    v.push(dst);
    v
}

const CASES: &[Case] = &[
    Case {
        name: "small_copy",
        what: "first copy, 20,000 files of 1-16 KiB",
        prep: |data, dst| vec![slash(&data.join("small")), slash(dst)],
        expect: |data| data.join("small"),
        rdsync_extra: &[],
    },
    Case {
        name: "small_resync",
        what: "no-change re-sync of the 20,000 files",
        prep: |data, dst| {
            cp_a(&data.join("small"), dst);
            vec![slash(&data.join("small")), slash(dst)]
        },
        expect: |data| data.join("small"),
        rdsync_extra: &[],
    },
    Case {
        name: "big_copy",
        what: "first copy, one 1 GiB file",
        prep: |data, dst| {
            fs::create_dir_all(dst).expect("mkdir");
            vec![data.join("big/big").display().to_string(), slash(dst)]
        },
        expect: |data| data.join("big"),
        rdsync_extra: &[],
    },
    Case {
        name: "big_delta",
        what: "1 GiB file, 0.1 % scattered changes + insertions, --no-whole-file",
        prep: |data, dst| {
            cp_a(&data.join("big"), dst);
            vec![
                "--no-whole-file".into(),
                data.join("bigmod/big").display().to_string(),
                slash(dst),
            ]
        },
        expect: |data| data.join("bigmod"),
        rdsync_extra: &[],
    },
    Case {
        name: "mixed_copy",
        what: "first copy, 400 MiB of a Python install (source-tree mix)",
        prep: |data, dst| vec![slash(&data.join("mixed")), slash(dst)],
        expect: |data| data.join("mixed"),
        rdsync_extra: &[],
    },
    Case {
        name: "push_small",
        what: "push over pipes to rsync --server, 20,000 files",
        prep: |data, dst| {
            over_pipes(
                slash(&data.join("small")),
                format!("localhost:{}", slash(dst)),
                &[],
            )
        },
        expect: |data| data.join("small"),
        rdsync_extra: &[],
    },
    Case {
        name: "pull_small",
        what: "pull over pipes from rsync --server --sender, 20,000 files",
        prep: |data, dst| {
            over_pipes(
                format!("localhost:{}", slash(&data.join("small"))),
                slash(dst),
                &[],
            )
        },
        expect: |data| data.join("small"),
        rdsync_extra: &[],
    },
    Case {
        name: "push_delta",
        what: "push over pipes, 1 GiB file with scattered changes (delta)",
        prep: |data, dst| {
            cp_a(&data.join("big"), dst);
            over_pipes(
                data.join("bigmod/big").display().to_string(),
                format!("localhost:{}", slash(dst)),
                &[],
            )
        },
        expect: |data| data.join("bigmod"),
        rdsync_extra: &[],
    },
    Case {
        name: "pull_delta",
        what: "pull over pipes, 1 GiB file with scattered changes (delta)",
        prep: |data, dst| {
            cp_a(&data.join("big"), dst);
            over_pipes(
                format!("localhost:{}", data.join("bigmod/big").display()),
                slash(dst),
                &[],
            )
        },
        expect: |data| data.join("bigmod"),
        rdsync_extra: &[],
    },
    Case {
        name: "ssh_push_small",
        what: "push over OpenSSH sshd, 20,000 files: rsync -e ssh vs rdsync --builtin-ssh",
        prep: |data, dst| {
            over_ssh(
                slash(&data.join("small")),
                format!("127.0.0.1:{}", slash(dst)),
            )
        },
        expect: |data| data.join("small"),
        rdsync_extra: &["--builtin-ssh"],
    },
    Case {
        name: "ssh_pull_big",
        what: "pull over OpenSSH sshd, 1 GiB first copy: rsync -e ssh vs rdsync --builtin-ssh",
        prep: |data, dst| {
            over_ssh(
                format!("127.0.0.1:{}", slash(&data.join("big"))),
                slash(dst),
            )
        },
        expect: |data| data.join("big"),
        rdsync_extra: &["--builtin-ssh"],
    },
    Case {
        name: "ssh_push_delta",
        what: "push over OpenSSH sshd, 1 GiB delta: rsync -e ssh vs rdsync --builtin-ssh",
        prep: |data, dst| {
            cp_a(&data.join("big"), dst);
            over_ssh(
                data.join("bigmod/big").display().to_string(),
                format!("127.0.0.1:{}", slash(dst)),
            )
        },
        expect: |data| data.join("bigmod"),
        rdsync_extra: &["--builtin-ssh"],
    },
];

/// The `-e` that reaches the harness's sshd (`ssh -F <config>`), set when an `ssh_` case runs.
static SSH_RSH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `-e <ssh to the harness's sshd>` plus the given source and destination.
fn over_ssh(src: String, dst: String) -> Vec<String> {
    let rsh = SSH_RSH.get().expect("sshd started for ssh_ cases").clone();
    vec!["-e".into(), rsh, src, dst]
}

fn ensure_data(data: &Path) {
    let done = data.join(".complete");
    if done.exists() {
        return;
    }
    eprintln!("making datasets in {} ...", data.display());
    fs::create_dir_all(data.join("big")).expect("mkdir");
    fs::create_dir_all(data.join("bigmod")).expect("mkdir");
    datasets::make_small(&data.join("small")).expect("small");
    datasets::make_big(&data.join("big/big"), BIG_SIZE).expect("big");
    datasets::make_big_modified(&data.join("big/big"), &data.join("bigmod/big")).expect("bigmod");
    let python = Path::new("/root/.pyenv/versions/3.11.7/lib/python3.11");
    let python = if python.exists() {
        python
    } else {
        Path::new("/usr/lib/python3")
    };
    datasets::make_mixed(python, &data.join("mixed"), 400 << 20).expect("mixed");
    fs::write(done, b"").expect("marker");
}

/// Writes and deletes a tmpfs file so the next run gets already-backed memory.
fn prefault(scratch: &Path) {
    let _ = Command::new("sync").status();
    let path = scratch.join("prefault");
    let chunk = vec![0x55u8; 8 << 20];
    if let Ok(mut f) = fs::File::create(&path) {
        for _ in 0..128 {
            let _ = f.write_all(&chunk);
        }
    }
    let _ = fs::remove_file(&path);
}

struct Stats {
    rsync: Vec<Sample>,
    rdsync: Vec<Sample>,
}

fn secs(s: &[Sample]) -> Vec<f64> {
    s.iter().map(|x| x.wall.as_secs_f64()).collect()
}

fn fmt_times(s: &[Sample]) -> String {
    let mut v = secs(s);
    let m = median(&mut v);
    format!("{m:.3} ({:.3}–{:.3})", v[0], v[v.len() - 1])
}

fn main() {
    let mut rounds = 5usize;
    let mut data = PathBuf::from("/dev/shm/rdsync-bench");
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            "--data" => data = PathBuf::from(args.next().expect("--data DIR")),
            "--cases" => {
                only = Some(
                    args.next()
                        .expect("--cases LIST")
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    ensure_data(&data);
    let scratch = data.join("runs");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).expect("scratch");

    let mut report = String::from(
        "| case | rsync s, median (min–max) | rdsync s, median (min–max) | median ratio rdsync/rsync | CPU s rsync / rdsync | peak RSS rsync / rdsync (MiB) |\n|---|---|---|---|---|---|\n",
    );
    let mut serial = 0u32;
    // A real OpenSSH sshd on 127.0.0.1 with throwaway keys, for the ssh_ cases.
    let wanted = |c: &Case| only.as_ref().is_none_or(|o| o.iter().any(|n| n == c.name));
    let _sshd = CASES
        .iter()
        .any(|c| c.name.starts_with("ssh_") && wanted(c))
        .then(|| {
            let sshd = sshd_support::Sshd::start();
            let _ = SSH_RSH.set(sshd.rsh.clone());
            sshd
        });
    for case in CASES {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == case.name))
        {
            continue;
        }
        eprintln!("== {} ({}), {} rounds", case.name, case.what, rounds);
        let mut stats = Stats {
            rsync: vec![],
            rdsync: vec![],
        };
        for round in 0..=rounds {
            verify::warm(&data).expect("warm");
            for tool in ["rsync", "rdsync"] {
                serial += 1;
                let dst = scratch.join(format!("{}-{tool}-{serial}", case.name));
                let rest = (case.prep)(&data, &dst);
                prefault(&scratch);
                let mut cmd = Command::new(if tool == "rsync" { "rsync" } else { RDSYNC });
                cmd.arg("-a");
                if tool == "rdsync" {
                    cmd.args(case.rdsync_extra);
                }
                cmd.args(&rest);
                let sample = run(&mut cmd).unwrap_or_else(|e| panic!("{tool}: {e}"));
                if round == 0 {
                    // The untimed warm-up round checks the result.
                    if let Some(diff) =
                        verify::compare(&(case.expect)(&data), &dst).expect("compare")
                    {
                        panic!("{tool} produced a different tree: {diff}");
                    }
                } else if tool == "rsync" {
                    stats.rsync.push(sample);
                } else {
                    stats.rdsync.push(sample);
                }
                let _ = fs::remove_dir_all(&dst);
            }
        }
        let mut ratios: Vec<f64> = stats
            .rdsync
            .iter()
            .zip(&stats.rsync)
            .map(|(a, b)| a.wall.as_secs_f64() / b.wall.as_secs_f64())
            .collect();
        let ratio = median(&mut ratios);
        let cpu = |s: &[Sample]| {
            let mut v: Vec<f64> = s.iter().map(|x| x.cpu.as_secs_f64()).collect();
            median(&mut v)
        };
        let rss = |s: &[Sample]| s.iter().map(|x| x.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let line = format!(
            "| {} — {} | {} | {} | **{ratio:.2}** | {:.2} / {:.2} | {:.0} / {:.0} |\n",
            case.name,
            case.what,
            fmt_times(&stats.rsync),
            fmt_times(&stats.rdsync),
            cpu(&stats.rsync),
            cpu(&stats.rdsync),
            rss(&stats.rsync),
            rss(&stats.rdsync),
        );
        eprint!("{line}");
        report.push_str(&line);
    }
    println!("\n{report}");
    let _ = fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/side-by-side.md"),
        &report,
    );
}
