//! The benchmark datasets of `shared/docs/baseline.md`, made deterministically.
//!
//! * `small`: 20,000 files of 1–16 KiB (½ code-like text, ¼ incompressible, ¼
//!   semi-compressible) in 2,380 directories, depth 3, fanout 13, fixed mtimes, 3 % mode 0755.
//! * `big`: one 1 GiB pseudo-random file.
//! * `big-modified`: `big` with 262 overwritten runs of 2–6 KiB, 8 insertions and 8 deletions at
//!   offsets that are not block-aligned.
//! * `mixed`: the first 400 MiB (sorted walk) of this machine's Python standard library.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A small, fast, deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

const WORDS: &[&str] = &[
    "fn", "let", "mut", "self", "return", "match", "if", "else", "for", "while", "struct", "impl",
    "pub", "use", "crate", "value", "buffer", "index", "error", "result", "Some", "None", "Ok",
    "Err", "len", "data", "file", "path", "block", "sum", "=", "+", "{", "}", "(", ")", ";",
];

fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let w = WORDS[rng.range(0, WORDS.len() as u64) as usize];
        out.extend_from_slice(w.as_bytes());
        out.push(if rng.range(0, 9) == 0 { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

fn semi(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    for b in out.iter_mut() {
        *b &= 0x0f;
    }
    out
}

const FIXED_MTIME: u64 = 1_700_000_000;

fn set_mtime(path: &Path, secs: u64) -> io::Result<()> {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    File::options()
        .write(true)
        .open(path)?
        .set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
}

/// Builds the `small` tree under `root`.
pub fn make_small(root: &Path) -> io::Result<()> {
    let mut rng = Rng::new(1);
    let mut leaves = Vec::new();
    for a in 0..13 {
        for b in 0..13 {
            for c in 0..13 {
                leaves.push(root.join(format!("d{a:02}/d{b:02}/d{c:02}")));
            }
        }
    }
    for leaf in &leaves {
        fs::create_dir_all(leaf)?;
    }
    for i in 0..20_000usize {
        let dir = &leaves[i % leaves.len()];
        let len = rng.range(1024, 16 * 1024 + 1) as usize;
        let data = match i % 4 {
            0 | 1 => text(&mut rng, len),
            2 => {
                let mut v = vec![0u8; len];
                rng.fill(&mut v);
                v
            }
            _ => semi(&mut rng, len),
        };
        let path = dir.join(format!("f{i:05}.dat"));
        fs::write(&path, &data)?;
        if rng.range(0, 100) < 3 {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        } else {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        }
        set_mtime(&path, FIXED_MTIME + i as u64)?;
    }
    Ok(())
}

/// Writes the 1 GiB `big` file.
pub fn make_big(path: &Path, size: u64) -> io::Result<()> {
    let mut rng = Rng::new(2);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    w.flush()?;
    drop(w);
    set_mtime(path, FIXED_MTIME)
}

/// Writes `big-modified`: scattered overwrites (0.1 %), 8 insertions and 8 deletions.
pub fn make_big_modified(big: &Path, out: &Path) -> io::Result<()> {
    let mut data = fs::read(big)?;
    let mut rng = Rng::new(3);
    let n = data.len() as u64;
    for _ in 0..262 {
        let len = rng.range(2048, 6 * 1024) as usize;
        let at = rng.range(0, n - len as u64) as usize;
        rng.fill(&mut data[at..at + len]);
    }
    for _ in 0..8 {
        let at = rng.range(1, data.len() as u64 - 10_000) as usize | 1;
        let len = rng.range(4000, 10_000) as usize;
        let mut piece = vec![0u8; len];
        rng.fill(&mut piece);
        data.splice(at..at, piece);
        let at = rng.range(1, data.len() as u64 - 10_000) as usize | 1;
        let len = rng.range(2000, 6000) as usize;
        data.drain(at..at + len);
    }
    fs::write(out, &data)?;
    set_mtime(out, FIXED_MTIME + 10)
}

/// Copies the first `limit` bytes (sorted walk) of a source tree such as the Python stdlib.
pub fn make_mixed(from: &Path, to: &Path, limit: u64) -> io::Result<()> {
    let mut budget = limit;
    copy_sorted(from, to, &mut budget)
}

fn copy_sorted(from: &Path, to: &Path, budget: &mut u64) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let mut names: Vec<PathBuf> = fs::read_dir(from)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for path in names {
        if *budget == 0 {
            break;
        }
        let Some(name) = path.file_name() else {
            continue;
        };
        let target = to.join(name);
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            copy_sorted(&path, &target, budget)?;
        } else if meta.is_file() {
            fs::copy(&path, &target)?;
            *budget = budget.saturating_sub(meta.len());
        }
    }
    Ok(())
}
