//! A local delta transfer on all cores: rebuild a destination file from its old version (the
//! basis) and the new source, with both files on this machine.
//!
//! The output of a delta is byte for byte the source, so a piece of the source starting at
//! offset `a` rebuilds the output starting at `a` too. [`rebuild_from_basis`] therefore cuts
//! the source into segments and runs the match search on each in parallel (a match that would
//! straddle a cut is found as literal data instead, which costs a little transfer efficiency
//! and nothing else). Literal runs are written with `pwrite`; runs of matched basis blocks are
//! copied by the kernel with `copy_file_range`, so matched data never passes through user
//! space. Block sums use full-length XXH3-128 strong sums, which makes a false block match as
//! unlikely as a collision of the whole-file checksum rsync would otherwise verify.
//!
//! The basis is read with positioned reads, never mapped: another process may truncate it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use crate::checksum::{ChecksumAlgorithm, ChecksumProfile};
use crate::delta::{DeltaError, DeltaGenerator, DeltaSink, DeltaStats};
use crate::layout::{BlockLayout, LayoutParams};
use crate::signature::Signature;

/// Source bytes per parallel segment (at least this many; fewer segments for small files).
const MIN_SEGMENT: u64 = 32 << 20;

/// Reads `file[start..end)` sequentially with positioned reads.
struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Writes one segment of the output: literals by `pwrite`, block runs by `copy_file_range`.
struct SegmentWriter<'a> {
    basis: &'a File,
    out: &'a File,
    layout: BlockLayout,
    /// Where the next output byte goes.
    offset: u64,
    /// A pending run of consecutive basis blocks: (first basis offset, length).
    run: Option<(u64, u64)>,
}

impl SegmentWriter<'_> {
    fn flush_run(&mut self) -> io::Result<()> {
        let Some((mut from, mut len)) = self.run.take() else {
            return Ok(());
        };
        while len > 0 {
            let mut src_off = from;
            let mut dst_off = self.offset;
            let n = rustix::fs::copy_file_range(
                self.basis,
                Some(&mut src_off),
                self.out,
                Some(&mut dst_off),
                len.min(1 << 30) as usize,
            )
            .map_err(io::Error::from)?;
            if n == 0 {
                // The basis shrank under us: report it instead of writing a short file.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "basis file shrank during the transfer",
                ));
            }
            from += n as u64;
            len -= n as u64;
            self.offset += n as u64;
        }
        Ok(())
    }
}

impl DeltaSink for SegmentWriter<'_> {
    type Error = io::Error;

    fn literal(&mut self, data: &[u8]) -> io::Result<()> {
        self.flush_run()?;
        self.out.write_all_at(data, self.offset)?;
        self.offset += data.len() as u64;
        Ok(())
    }

    fn copy(&mut self, index: u64) -> io::Result<()> {
        let start = self.layout.block_offset(index);
        let len = u64::from(self.layout.block_size(index));
        match &mut self.run {
            Some((from, run_len)) if *from + *run_len == start => *run_len += len,
            _ => {
                self.flush_run()?;
                self.run = Some((start, len));
            }
        }
        Ok(())
    }
}

/// Makes `out` (an empty file, normally a temp file beside the destination) a copy of the
/// first `src_len` bytes of `src`, reusing the blocks of `basis` that the source still
/// contains. Returns how many bytes were literal and how many came from the basis.
pub fn rebuild_from_basis(
    basis: &File,
    src: &File,
    src_len: u64,
    out: &File,
) -> io::Result<DeltaStats> {
    let basis_len = basis.metadata()?.len();
    let profile = ChecksumProfile::local(ChecksumAlgorithm::Xxh128);
    let params = LayoutParams::redo_pass(32, profile.block.digest_len());
    let layout = BlockLayout::for_file(basis_len, &params);
    let sig = Signature::generate(
        RangeReader {
            file: basis,
            pos: 0,
            end: basis_len,
        },
        layout,
        &profile.block,
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    let generator = DeltaGenerator::new(&sig, profile.block);
    out.set_len(src_len)?;

    let threads = rayon::current_num_threads().max(1) as u64;
    let segments = (src_len / MIN_SEGMENT).clamp(1, threads * 2);
    let seg_len = src_len.div_ceil(segments).max(1);
    let stats: io::Result<Vec<DeltaStats>> = (0..segments)
        .into_par_iter()
        .map(|i| {
            let start = i * seg_len;
            let end = (start + seg_len).min(src_len);
            let mut writer = SegmentWriter {
                basis,
                out,
                layout,
                offset: start,
                run: None,
            };
            let reader = RangeReader {
                file: src,
                pos: start,
                end,
            };
            let stats = generator
                .run_unhashed(reader, &mut writer)
                .map_err(|e| match e {
                    DeltaError::Read(e) | DeltaError::Sink(e) => e,
                })?;
            writer.flush_run()?;
            if writer.offset != end {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "source file changed size during the transfer",
                ));
            }
            Ok(stats)
        })
        .collect();
    Ok(stats?
        .into_iter()
        .fold(DeltaStats::default(), |a, b| DeltaStats {
            literal_bytes: a.literal_bytes + b.literal_bytes,
            matched_bytes: a.matched_bytes + b.matched_bytes,
            matched_blocks: a.matched_blocks + b.matched_blocks,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(dir: &std::path::Path, name: &str, data: &[u8]) -> File {
        let path = dir.join(name);
        let mut f = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        f.write_all(data).unwrap();
        f
    }

    fn noise(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn rebuilds_across_segments_with_edits() {
        let dir = std::env::temp_dir().join(format!("rebuild-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let basis_data = noise(70 << 20, 1);
        let mut new = basis_data.clone();
        for at in (12_345..new.len() - 10_000).step_by(3 << 20) {
            new[at..at + 5000].iter_mut().for_each(|b| *b ^= 0xa5);
        }
        new.splice(40 << 20..40 << 20, noise(7777, 2));
        new.drain(10 << 20..(10 << 20) + 3333);
        let basis = file_with(&dir, "basis", &basis_data);
        let src = file_with(&dir, "src", &new);
        let out = file_with(&dir, "out", b"");
        let stats = rebuild_from_basis(&basis, &src, new.len() as u64, &out).unwrap();
        let rebuilt = std::fs::read(dir.join("out")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(rebuilt == new, "rebuilt file differs");
        assert_eq!(stats.literal_bytes + stats.matched_bytes, new.len() as u64);
        assert!(stats.matched_bytes > new.len() as u64 * 9 / 10, "{stats:?}");
    }

    #[test]
    fn empty_and_tiny_files() {
        let dir = std::env::temp_dir().join(format!("rebuild-tiny-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (b, n) in [
            (&b""[..], &b"abc"[..]),
            (b"abc", b""),
            (b"hello world", b"hello there world"),
        ] {
            let basis = file_with(&dir, "basis", b);
            let src = file_with(&dir, "src", n);
            let out = file_with(&dir, "out", b"");
            rebuild_from_basis(&basis, &src, n.len() as u64, &out).unwrap();
            assert_eq!(std::fs::read(dir.join("out")).unwrap(), n);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
