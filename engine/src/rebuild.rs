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

/// One positioned write of the output, produced by a segment's search and carried out by the
/// single writer thread.
enum WriteOp {
    /// Literal bytes of the source at `offset`.
    Literal { offset: u64, data: Vec<u8> },
    /// `len` bytes of the basis from `from` to `offset`.
    Copy { from: u64, offset: u64, len: u64 },
}

/// Literal bytes gathered before they are handed to the writer.
const LITERAL_BATCH: usize = 1 << 20;
/// Basis bytes one copy request may cover (bounded so the writer interleaves segments).
const COPY_BATCH: u64 = 16 << 20;
/// Write requests in flight between the searches and the writer.
const QUEUE_DEPTH: usize = 64;

/// Turns one segment's delta into write requests: literals are gathered into batches, runs of
/// consecutive basis blocks into one copy.
struct SegmentOps<'a> {
    queue: &'a crossbeam_channel::Sender<WriteOp>,
    layout: BlockLayout,
    /// Where the next output byte goes.
    offset: u64,
    /// Pending literal bytes, to be written at `offset - literal.len()`.
    literal: Vec<u8>,
    /// A pending run of consecutive basis blocks: (first basis offset, length), to be written
    /// at `offset - len`.
    run: Option<(u64, u64)>,
}

impl SegmentOps<'_> {
    fn send(&self, op: WriteOp) -> io::Result<()> {
        self.queue
            .send(op)
            .map_err(|_| io::Error::other("the output writer stopped"))
    }

    fn flush_literal(&mut self) -> io::Result<()> {
        if self.literal.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.literal);
        let offset = self.offset - data.len() as u64;
        self.send(WriteOp::Literal { offset, data })
    }

    fn flush_run(&mut self) -> io::Result<()> {
        match self.run.take() {
            Some((from, len)) => self.send(WriteOp::Copy {
                from,
                offset: self.offset - len,
                len,
            }),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.flush_literal()?;
        self.flush_run()
    }
}

impl DeltaSink for SegmentOps<'_> {
    type Error = io::Error;

    fn literal(&mut self, data: &[u8]) -> io::Result<()> {
        self.flush_run()?;
        if self.literal.capacity() == 0 {
            self.literal.reserve(LITERAL_BATCH.max(data.len()));
        }
        self.literal.extend_from_slice(data);
        self.offset += data.len() as u64;
        if self.literal.len() >= LITERAL_BATCH {
            self.flush_literal()?;
        }
        Ok(())
    }

    fn copy(&mut self, index: u64) -> io::Result<()> {
        self.flush_literal()?;
        let start = self.layout.block_offset(index);
        let len = u64::from(self.layout.block_size(index));
        match &mut self.run {
            Some((from, run_len)) if *from + *run_len == start && *run_len < COPY_BATCH => {
                *run_len += len
            }
            _ => {
                self.flush_run()?;
                self.run = Some((start, len));
            }
        }
        self.offset += len;
        Ok(())
    }
}

/// Copies `len` bytes of `basis` from `from` to `out` at `offset`, in the kernel.
fn copy_basis(
    basis: &File,
    out: &File,
    mut from: u64,
    mut offset: u64,
    mut len: u64,
) -> io::Result<()> {
    while len > 0 {
        let (mut src_off, mut dst_off) = (from, offset);
        let n = rustix::fs::copy_file_range(
            basis,
            Some(&mut src_off),
            out,
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
        offset += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// Carries out write requests until every search has finished. One thread does all writes:
/// writers of one file serialize on its inode lock anyway, and a second one would only spin.
fn write_all_ops(
    queue: crossbeam_channel::Receiver<WriteOp>,
    basis: &File,
    out: &File,
) -> io::Result<()> {
    for op in queue {
        match op {
            WriteOp::Literal { offset, data } => out.write_all_at(&data, offset)?,
            WriteOp::Copy { from, offset, len } => copy_basis(basis, out, from, offset, len)?,
        }
    }
    Ok(())
}

/// Sums the basis, then searches the source's segments in parallel, queueing their writes.
fn search_segments(
    basis: &File,
    basis_len: u64,
    src: &File,
    src_len: u64,
    queue: &crossbeam_channel::Sender<WriteOp>,
) -> io::Result<Vec<DeltaStats>> {
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
    let threads = rayon::current_num_threads().max(1) as u64;
    let segments = (src_len / MIN_SEGMENT).clamp(1, threads * 2);
    let seg_len = src_len.div_ceil(segments).max(1);
    (0..segments)
        .into_par_iter()
        .map(|i| {
            let start = i * seg_len;
            let end = (start + seg_len).min(src_len);
            let mut ops = SegmentOps {
                queue,
                layout,
                offset: start,
                literal: Vec::new(),
                run: None,
            };
            let reader = RangeReader {
                file: src,
                pos: start,
                end,
            };
            let stats = generator
                .run_unhashed(reader, &mut ops)
                .map_err(|e| match e {
                    DeltaError::Read(e) | DeltaError::Sink(e) => e,
                })?;
            ops.finish()?;
            if ops.offset != end {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "source file changed size during the transfer",
                ));
            }
            Ok(stats)
        })
        .collect()
}

/// Makes `out` (an empty file, normally a temp file beside the destination) a copy of the
/// first `src_len` bytes of `src`, reusing the blocks of `basis` that the source still
/// contains. Returns how many bytes were literal and how many came from the basis.
///
/// The match search runs on all cores, one segment of the source each; a single writer thread
/// applies their output (literal bytes by `pwrite`, basis runs by `copy_file_range`) while
/// they search.
pub fn rebuild_from_basis(
    basis: &File,
    src: &File,
    src_len: u64,
    out: &File,
) -> io::Result<DeltaStats> {
    let basis_len = basis.metadata()?.len();
    out.set_len(src_len)?;
    let (queue, requests) = crossbeam_channel::bounded(QUEUE_DEPTH);
    let (written, stats) = std::thread::scope(|scope| {
        // The writer reserves the output's space while the basis is being summed, so its
        // writes later land in allocated pages (on tmpfs that halves their cost).
        let writer = scope.spawn(move || {
            let _ = rustix::fs::fallocate(out, rustix::fs::FallocateFlags::empty(), 0, src_len);
            write_all_ops(requests, basis, out)
        });
        let stats = search_segments(basis, basis_len, src, src_len, &queue);
        drop(queue);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output writer panicked")));
        (written, stats)
    });
    // The writer's own error explains a search's "writer stopped".
    written?;
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
