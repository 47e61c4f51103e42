//! The output of transfers over a remote shell (`-e`), push and pull, against the real
//! rsync 3.5 as the client: the same command with the same trees must print the same
//! stdout (`-v` names, `-i` lines, deletions, `--progress`, the `--stats` block).
//!
//! Each case builds one tree pair (source, destination) in a work directory, copies the
//! whole work directory (`cp -a`, keeping times and hard links) so that rsync and rdsync
//! each start from identical trees at identical relative paths, runs both, and compares
//! their stdout line by line after normalising what depends on time (rates, elapsed
//! times, list times) or on framing (byte totals, list size: both use incremental
//! recursion now, but the clients' byte counts still differ by a few bytes).

mod local_support;

use std::path::Path;
use std::process::Command;

use local_support::{RSYNC, Scratch, require_rsync};

const RDSYNC: &str = env!("CARGO_BIN_EXE_rdsync");

/// The local "remote shell": drops `-l user` and the host, runs the rest with `sh -c`.
fn write_rsh(dir: &Path) {
    let p = dir.join("rsh");
    std::fs::write(
        &p,
        "#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then shift 2; fi\nshift\nexec sh -c \"$*\"\n",
    )
    .unwrap();
    sh(&format!("chmod +x '{}'", p.display()));
}

fn sh(script: &str) {
    let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(st.success(), "{script}");
}

/// Runs `sh -c script` in `dir`.
fn sh_in(dir: &Path, script: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

/// A source tree: files (one of 200 KiB), nested dirs, a symlink, a hard link pair.
fn make_source(work: &Path) {
    sh_in(
        work,
        "mkdir -p src/d1/d2 src/e src/empty && printf 'hello\\n' > src/a && \
         head -c 204800 /dev/urandom > src/big && printf 'x\\n' > src/d1/f && \
         printf 'y\\n' > src/d1/d2/g && printf 'z\\n' > src/e/z && ln -s a src/la && \
         ln -s d1/d2 src/ldir && ln src/a src/hl && : > src/zero && \
         touch -d '2020-01-02 03:04:05' src/a src/big src/d1/f src/d1/d2/g src/e/z src/zero && \
         touch -h -d '2020-01-02 03:04:05' src/la src/ldir && \
         touch -d '2020-01-02 03:04:05' src/d1/d2 src/d1 src/e src/empty src",
    );
}

/// Changes to the destination `dst` after a first copy: edited, touched, chmodded,
/// extra files and dirs (for `--delete`), a changed symlink.
fn edit_destination(work: &Path) {
    sh_in(
        work,
        "printf 'changed\\n' >> dst/a && touch -d '2001-01-01' dst/d1/f && \
         chmod 600 dst/e/z && mkdir -p dst/gone/sub && printf q > dst/gone/sub/q && \
         printf r > dst/zz && printf s > dst/d1/extra && rm dst/la && ln -s big dst/la && \
         head -c 1000 /dev/urandom >> dst/big && touch -d '2020-01-02 03:04:05' dst/big",
    );
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    Push,
    Pull,
}

/// Runs `tool` in `work` with `opts`, as a push (`src/ h:dst/`) or a pull
/// (`h:src/ dst/`); returns stdout (stderr must be empty, the exit code 0).
fn run(tool: &str, work: &Path, opts: &[&str], dir: Dir) -> String {
    let mut cmd = Command::new(tool);
    cmd.current_dir(work).args(opts).args(["-e", "./rsh"]);
    match dir {
        Dir::Push => cmd.args(["src/", "h:dst/"]),
        Dir::Pull => cmd.args(["h:src/", "dst/"]),
    };
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stderr.is_empty(),
        "{tool} {opts:?} {dir:?}: exit {:?}, stderr:\n{stderr}",
        out.status.code()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces each maximal run of digits, commas and dots that forms a number with `#`.
fn hide_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() || (in_num && (ch == ',' || ch == '.')) {
            if !in_num {
                out.push('#');
                in_num = true;
            }
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out
}

/// What may differ between two correct runs: rates and times everywhere, list times,
/// and the byte totals and list size (framing; see the module comment).
fn normalise(stdout: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for raw in stdout.split('\n') {
        let line = if raw.contains('\r') {
            // A progress line: "\r<bytes> <pct>% <rate> <time>  \r... (xfr#N, to-chk=M/T)".
            raw.split('\r')
                .map(|seg| {
                    let mut words: Vec<String> =
                        seg.split_whitespace().map(str::to_string).collect();
                    for w in words.iter_mut() {
                        if w.ends_with("B/s") || (w.contains(':') && !w.contains("chk")) {
                            *w = "~".into();
                        }
                    }
                    words.join(" ")
                })
                .collect::<Vec<_>>()
                .join(" | ")
        } else if raw.starts_with("File list generation time:")
            || raw.starts_with("File list transfer time:")
            || raw.starts_with("File list size:")
            || raw.starts_with("Total bytes sent:")
            || raw.starts_with("Total bytes received:")
            || raw.starts_with("sent ")
        {
            hide_numbers(raw)
        } else if let Some(i) = raw.find("  speedup is ") {
            format!("{}  speedup is #", &raw[..i])
        } else {
            raw.to_string()
        };
        lines.push(line);
    }
    lines
}

/// Deletion lines apart from the rest, each in order. Where a deletion line falls among
/// the item lines depends on timing even between two runs of rsync: the generator's
/// deletions and its itemized items reach the printing process by different paths
/// (`MSG_DELETED` ahead of buffered data in a push; the generator's own output against
/// the receiver's forwarded messages in rsync's pull).
fn split_deletions(lines: Vec<String>) -> (Vec<String>, Vec<String>) {
    lines
        .into_iter()
        .partition(|l| !(l.starts_with("deleting ") || l.starts_with("*deleting ")))
}

/// One comparison: a fresh work dir from `setup`, copied for each tool, the same
/// command run by both, stdout compared.
fn compare(opts: &[&str], dir: Dir, setup: &dyn Fn(&Path)) {
    require_rsync();
    let scratch = Scratch::new("remote-output");
    let a = scratch.join("a");
    std::fs::create_dir_all(&a).unwrap();
    write_rsh(&a);
    setup(&a);
    sh(&format!(
        "cp -a '{}' '{}'",
        a.display(),
        scratch.join("b").display()
    ));
    let theirs = run(RSYNC, &a, opts, dir);
    let ours = run(RDSYNC, &scratch.join("b"), opts, dir);
    let (t, o) = (
        split_deletions(normalise(&theirs)),
        split_deletions(normalise(&ours)),
    );
    assert_eq!(
        o, t,
        "{opts:?} {dir:?}: stdout differs from rsync's\n--- rsync:\n{theirs}\n--- rdsync:\n{ours}"
    );
}

/// Source only: the first copy creates `dst`.
fn first_copy(work: &Path) {
    make_source(work);
}

/// Source and an edited destination (first copied by rsync itself).
fn resync(work: &Path) {
    make_source(work);
    sh_in(work, &format!("{RSYNC} -aH src/ dst/"));
    edit_destination(work);
}

/// Source and an up-to-date destination.
fn unchanged(work: &Path) {
    make_source(work);
    sh_in(work, &format!("{RSYNC} -aH src/ dst/"));
}

fn both(opts: &[&str], setup: &dyn Fn(&Path)) {
    compare(opts, Dir::Push, setup);
    compare(opts, Dir::Pull, setup);
}

#[test]
fn verbose_first_copy() {
    both(&["-a", "-v"], &first_copy);
}

#[test]
fn verbose_resync_with_delete() {
    both(&["-a", "-v", "--delete"], &resync);
}

#[test]
fn itemize_first_copy() {
    both(&["-a", "-i"], &first_copy);
}

#[test]
fn itemize_resync_with_delete() {
    both(&["-a", "-i", "--delete"], &resync);
}

#[test]
fn itemize_unchanged_tree() {
    both(&["-a", "-i"], &unchanged);
}

#[test]
fn double_itemize_unchanged_tree() {
    both(&["-a", "-ii"], &unchanged);
}

#[test]
fn stats_first_copy() {
    both(&["-a", "--stats"], &first_copy);
}

#[test]
fn stats_resync_with_delete() {
    both(&["-a", "--stats", "--delete", "-v"], &resync);
}

#[test]
fn progress_first_copy() {
    both(&["-a", "--progress"], &first_copy);
}

#[test]
fn progress_resync_itemized() {
    both(&["-a", "-i", "--progress", "--delete"], &resync);
}

#[test]
fn hard_links_push() {
    compare(&["-aH", "-i", "--stats"], Dir::Push, &first_copy);
    compare(&["-aH", "-v", "--delete"], Dir::Push, &resync);
}

#[test]
fn checksum_itemized() {
    both(&["-a", "-c", "-i"], &resync);
}

#[test]
fn hard_links_pull() {
    compare(&["-aH", "-i", "--stats"], Dir::Pull, &first_copy);
    compare(&["-aH", "-v", "--delete"], Dir::Pull, &resync);
}

#[test]
fn dry_run_itemized() {
    both(&["-a", "-n", "-i", "--delete"], &resync);
    both(&["-a", "-n", "-v", "--stats"], &first_copy);
}

#[test]
fn progress2_first_copy() {
    both(&["-a", "--info=progress2"], &first_copy);
}

#[test]
fn older_protocols_itemized() {
    both(&["-a", "-i", "--delete", "--protocol=30"], &resync);
    both(
        &["-a", "-i", "--delete", "--stats", "--protocol=29"],
        &resync,
    );
}

#[test]
fn compressed_verbose_stats() {
    both(&["-az", "-v", "--stats"], &resync);
}

#[test]
fn without_times_itemized() {
    both(&["-rlp", "-i"], &resync);
}

#[test]
fn hard_links_itemized_resync() {
    both(&["-aH", "-i", "--stats"], &resync);
    both(&["-aH", "-ii"], &unchanged);
}

#[test]
fn protocol_28_verbose() {
    both(&["-a", "-v", "--delete", "--protocol=28"], &resync);
}

#[test]
fn quiet_and_verbose_progress() {
    both(&["-a", "-q", "--stats"], &resync);
    both(&["-a", "-v", "--progress", "--delete"], &resync);
}
