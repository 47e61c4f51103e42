//! Randomized differential test: random trees (files, directories, symlinks, hard links,
//! FIFOs, odd names and modes) synced with random option sets by rsync and rdsync, then
//! randomly changed and synced again; trees, exit codes and itemized output must agree.

mod local_support;

use local_support::*;
use std::os::unix::fs::symlink;
use std::path::Path;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "a", "b", "x.txt", "y.bin", "-z", "sp ace", "é", "dd", "nl\nx",
];

fn build(r: &mut Rng, dir: &Path, depth: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for _ in 0..r.below(6) {
        let p = dir.join(format!("{}{}", r.pick(NAMES), r.below(3)));
        if p.symlink_metadata().is_ok() {
            continue;
        }
        match r.below(10) {
            0..=4 => {
                let len = *r.pick(&[0usize, 1, 10, 5000, 70_000]);
                let data: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
                write(&p, &data);
                chmod(&p, *r.pick(&[0o644, 0o600, 0o755, 0o400]));
            }
            5 | 6 if depth < 3 => build(r, &p, depth + 1),
            7 => symlink(r.pick(&["a0", "../b1", "/etc/hostname", "nope"]), &p).unwrap(),
            8 => {
                let files: Vec<_> = std::fs::read_dir(dir)
                    .unwrap()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                    .collect();
                if !files.is_empty() {
                    let f = &files[r.below(files.len() as u64) as usize];
                    std::fs::hard_link(f.path(), &p).unwrap();
                }
            }
            _ => {
                let _ = rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &p,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o644),
                    0,
                );
            }
        }
    }
}

fn all_paths(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            all_paths(&p, out);
        }
        out.push(p);
    }
}

fn mutate(r: &mut Rng, src: &Path) {
    let mut paths = Vec::new();
    all_paths(src, &mut paths);
    for _ in 0..=r.below(5) {
        if paths.is_empty() {
            break;
        }
        let p = paths[r.below(paths.len() as u64) as usize].clone();
        let Ok(md) = p.symlink_metadata() else {
            continue;
        };
        let is_dir = md.is_dir();
        let remove = |p: &Path| {
            if is_dir {
                let _ = std::process::Command::new("chmod")
                    .arg("-R")
                    .arg("u+rwx")
                    .arg(p)
                    .status();
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        };
        match r.below(6) {
            0 if md.is_file() => {
                let mut d = std::fs::read(&p).unwrap_or_default();
                d.extend_from_slice(b"more");
                chmod(&p, 0o644);
                write(&p, &d);
            }
            1 => remove(&p),
            2 if is_dir => build(r, &p, 2),
            3 if !md.file_type().is_symlink() => chmod(&p, *r.pick(&[0o700, 0o644, 0o755])),
            4 => {
                remove(&p);
                write(&p, b"replaced");
            }
            _ if md.is_file() => {
                remove(&p);
                write(&p.join("in"), b"x");
            }
            _ => {}
        }
    }
}

#[test]
fn random_trees_and_changes_match_rsync() {
    require_rsync();
    let option_sets: &[&[&str]] = &[
        &["-aHi"],
        &["-aHi", "--delete"],
        &["-ai", "--delete-after", "--exclude=*.txt*"],
        &["-rlti"],
        &["-aHic"],
        &["-aiI", "--inplace"],
        &["-ai", "--no-whole-file"],
        &["-aiu", "--ignore-existing"],
        &["-aHin", "--delete"],
        &["-ai", "--force", "--existing"],
        &["-ai", "--delete", "--delete-excluded", "--exclude=a*"],
    ];
    for seed in 1..=24u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let s = Scratch::new("random");
        let src = s.join("src");
        build(&mut r, &src, 0);
        fix_times(&src, 1_400_000_000 + seed as i64 * 1000);
        let opts = *r.pick(option_sets);
        for step in 0..3 {
            compare_runs(
                &s.path,
                opts,
                &["src/"],
                "dest_rsync",
                "dest_rdsync",
                &format!("seed {seed} step {step} {opts:?}"),
            );
            mutate(&mut r, &src);
            fix_times(&src, 1_450_000_000 + (seed * 10 + step) as i64 * 1000);
        }
    }
}
