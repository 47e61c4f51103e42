//! The interop matrix: {rsync 3.5.0, rsync 3.2.7} as the server × protocol {27, 28, 29, 30, 31,
//! default 32} × {push, pull} × {first copy, delta after edits, `--delete` after removals, `-z`
//! with each negotiable compressor, each `--checksum-choice`}.
//!
//! For every cell the real rsync 3.5.0 client runs the same transfer against the same server
//! (rsync-to-rsync), and our client must leave an identical destination tree (content, type,
//! mode, mtime, link target) and end with the same exit code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdsync_wire::{RemoteShell, TransferOptions, pull, push};

/// One column of the matrix: what the destination holds first and which options run.
#[derive(Debug, Clone)]
struct Variant {
    name: String,
    /// Extra rsync arguments after `-a`.
    args: Vec<String>,
    /// Destination starts with an older version of the tree (deltas, deletions).
    old_dest: bool,
    /// Source files removed before the transfer (so `--delete` has work).
    remove: bool,
}

fn variants() -> Vec<Variant> {
    let v = |name: &str, args: &[&str], old_dest: bool, remove: bool| Variant {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        old_dest,
        remove,
    };
    let mut out = vec![
        v("first-copy", &[], false, false),
        v("delta", &[], true, false),
        v("delete", &["--delete"], true, true),
    ];
    for c in ["zstd", "lz4", "zlibx", "zlib"] {
        out.push(v(
            &format!("z-{c}"),
            &["-z", &format!("--compress-choice={c}")],
            true,
            false,
        ));
    }
    for h in ["xxh128", "xxh3", "xxh64", "md5", "md4"] {
        out.push(v(
            &format!("cc-{h}"),
            &[&format!("--checksum-choice={h}")],
            true,
            false,
        ));
    }
    out
}

fn options_for(variant: &Variant) -> TransferOptions {
    let mut o = TransferOptions::archive();
    for a in &variant.args {
        if a == "--delete" {
            o.delete = true;
        } else if a == "-z" {
            o.compress = true;
        } else if let Some(c) = a.strip_prefix("--compress-choice=") {
            o.compress_choice = Some(c.to_string());
        } else if let Some(h) = a.strip_prefix("--checksum-choice=") {
            o.checksum_choice = Some(h.to_string());
        }
    }
    o
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

fn prepare_source(src: &Path, remove: bool) {
    common::make_tree(src);
    if remove {
        std::fs::remove_file(src.join("d1/b")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_file(src.join("mid.bin")).unwrap_or_else(|e| panic!("{e}"));
        common::set_mtime(&src.join("d1"), 1_600_001_100);
        common::set_mtime(src, 1_600_001_300);
    }
}

/// Runs every variant in both directions against `server` at `protocol`.
fn run_row(server: &Path, label: &str, protocol: Option<u32>) {
    common::rsync_bin();
    let rsync_path = match protocol {
        Some(p) => format!("{} --protocol={p}", server.display()),
        None => server.display().to_string(),
    };
    let dir = common::scratch(&format!("matrix-{label}-{}", protocol.unwrap_or(32)));
    let rsh = common::local_rsh(&dir);
    let shell = RemoteShell {
        rsh: Some(rsh.display().to_string()),
        rsync_path: Some(rsync_path.clone()),
        user: None,
        host: "peer".into(),
    };
    let mut failures = Vec::new();
    for variant in variants() {
        let src = dir.join(format!("src-{}", variant.name));
        prepare_source(&src, variant.remove);
        for push_mode in [true, false] {
            let tag = format!(
                "{}-{}",
                variant.name,
                if push_mode { "push" } else { "pull" }
            );
            let theirs = dir.join(format!("{tag}-rsync"));
            let ours = dir.join(format!("{tag}-ours"));
            if variant.old_dest {
                common::make_old_version(&theirs);
                common::make_old_version(&ours);
            }
            let (from, to) = if push_mode {
                (slash(&src), format!("peer:{}", slash(&theirs)))
            } else {
                (format!("peer:{}", slash(&src)), slash(&theirs))
            };
            let mut cmd = Command::new(common::rsync_bin());
            cmd.arg("-a")
                .args(&variant.args)
                .arg("-e")
                .arg(&rsh)
                .arg(format!("--rsync-path={rsync_path}"))
                .arg(&from)
                .arg(&to);
            let (rsync_code, _, rsync_err) = common::run(&mut cmd);
            let opts = options_for(&variant);
            let report = if push_mode {
                push(&shell, &opts, &[PathBuf::from(slash(&src))], &slash(&ours))
            } else {
                pull(&shell, &opts, &[slash(&src)], &PathBuf::from(slash(&ours)))
            };
            let cell = format!("{label} protocol {protocol:?} {tag}");
            if report.exit_code != rsync_code {
                failures.push(format!(
                    "{cell}: exit {} but rsync exited {rsync_code} ({}) — ours: {:?} {}",
                    report.exit_code,
                    rsync_err.trim(),
                    report.error,
                    report.remote_stderr.trim()
                ));
                continue;
            }
            if rsync_code == 0 && !theirs.exists() {
                failures.push(format!("{cell}: rsync made no tree"));
                continue;
            }
            if theirs.exists() || ours.exists() {
                let (a, b) = (tree_or_empty(&theirs), tree_or_empty(&ours));
                if a != b {
                    failures.push(format!(
                        "{cell}: trees differ\nrsync: {a:#?}\nours:  {b:#?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} matrix cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn tree_or_empty(p: &Path) -> Vec<String> {
    if p.exists() {
        common::tree_listing(p)
    } else {
        Vec::new()
    }
}

macro_rules! row {
    ($name:ident, $server:expr, $label:expr, $proto:expr) => {
        #[test]
        fn $name() {
            run_row(&$server, $label, $proto);
        }
    };
}

row!(
    rsync_350_protocol_32,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    None
);
row!(
    rsync_350_protocol_31,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    Some(31)
);
row!(
    rsync_350_protocol_30,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    Some(30)
);
row!(
    rsync_350_protocol_29,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    Some(29)
);
row!(
    rsync_350_protocol_28,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    Some(28)
);
row!(
    rsync_350_protocol_27,
    PathBuf::from("/usr/bin/rsync"),
    "3.5.0",
    Some(27)
);
row!(rsync_327_protocol_32, common::rsync_327(), "3.2.7", None);
row!(
    rsync_327_protocol_31,
    common::rsync_327(),
    "3.2.7",
    Some(31)
);
row!(
    rsync_327_protocol_30,
    common::rsync_327(),
    "3.2.7",
    Some(30)
);
row!(
    rsync_327_protocol_29,
    common::rsync_327(),
    "3.2.7",
    Some(29)
);
row!(
    rsync_327_protocol_28,
    common::rsync_327(),
    "3.2.7",
    Some(28)
);
row!(
    rsync_327_protocol_27,
    common::rsync_327(),
    "3.2.7",
    Some(27)
);
