//! A delta for two files on the same machine, found by comparing them at a tracked alignment.
//!
//! rsync's block search is built for a basis the sender cannot see: it sums every basis block
//! and looks for those sums at every source offset. When both files are local the bytes can
//! simply be compared. [`AlignedMatcher`] walks one range of the source, comparing it with the
//! basis at the current *shift* (source offset minus basis offset). Equal bytes become basis
//! copies; at the first difference it looks for where the two files line up again, with
//! rsync's rolling checksum over a window of basis blocks around the old alignment, and every
//! candidate is confirmed by comparing bytes. So scattered edits, insertions and deletions
//! cost one read of each file and a comparison, with no strong hashing at all.
//!
//! Every copy it reports has been compared byte for byte, so any output built from its
//! report equals the source whatever the search finds; the search only decides how much is
//! reported as matched. Content that moved further than [`REALIGN_WINDOW`] is reported as
//! literal: callers that care (see `rebuild`) fall back to the full block search when the
//! literal share is high.

use std::io;

use crate::patch::{Basis, read_up_to};
use crate::rolling::RollingChecksum;

/// Bytes of source compared per step.
const CHUNK: usize = 256 << 10;
/// How far (in both directions, in bytes) a realignment looks around the old alignment.
pub const REALIGN_WINDOW: usize = 128 << 10;
/// The length of the basis blocks a realignment looks for.
const ANCHOR: usize = 1 << 10;
/// Bytes compared at a time when looking for the first difference.
const COMPARE_STEP: usize = 4096;

/// Where an aligned delta's output goes.
pub trait AlignedSink {
    /// The next `len` bytes of output equal the basis from `basis_offset`.
    fn copy_range(&mut self, basis_offset: u64, len: u64) -> io::Result<()>;
    /// Like [`copy_range`](Self::copy_range), with those basis bytes at hand in `buf[..len]`.
    /// A sink that writes them itself may take `buf`, leaving another vector in its place
    /// (the matcher only needs its capacity back). By default this is `copy_range`.
    fn copy_from_buffer(
        &mut self,
        basis_offset: u64,
        buf: &mut Vec<u8>,
        len: usize,
    ) -> io::Result<()> {
        let _ = buf;
        self.copy_range(basis_offset, len as u64)
    }
    /// The next bytes of output are `data` (source bytes that match nothing nearby).
    fn literal(&mut self, data: &[u8]) -> io::Result<()>;
}

/// What one range's search found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlignedStats {
    /// Bytes reported as basis copies.
    pub matched_bytes: u64,
    /// Bytes reported as literal.
    pub literal_bytes: u64,
}

/// Why a search stopped early.
#[derive(Debug)]
pub enum AlignedError {
    /// Reading a file or writing the output failed.
    Io(io::Error),
    /// The literal share passed the caller's limit: the files do not line up.
    TooMuchLiteral,
}

impl From<io::Error> for AlignedError {
    fn from(e: io::Error) -> Self {
        AlignedError::Io(e)
    }
}

/// Compares a range of the source with the basis at a tracked alignment.
pub struct AlignedMatcher<'a, S: ?Sized, B: ?Sized> {
    source: &'a S,
    basis: &'a B,
    basis_len: u64,
    /// Give up once literal bytes exceed this share (in 1/256ths) of what has been searched,
    /// after the first [`CHUNK`] bytes.
    max_literal_share: Option<u32>,
    src_buf: Vec<u8>,
    basis_buf: Vec<u8>,
}

impl<'a, S: Basis + ?Sized, B: Basis + ?Sized> AlignedMatcher<'a, S, B> {
    /// A matcher of `source` against `basis` (`basis_len` bytes long).
    pub fn new(source: &'a S, basis: &'a B, basis_len: u64) -> Self {
        Self {
            source,
            basis,
            basis_len,
            max_literal_share: None,
            src_buf: Vec::new(),
            basis_buf: Vec::new(),
        }
    }

    /// Stops with [`AlignedError::TooMuchLiteral`] once more than `share` (0..=256, in
    /// 1/256ths) of the searched bytes are literal.
    pub fn give_up_above(mut self, share: u32) -> Self {
        self.max_literal_share = Some(share);
        self
    }

    /// Reports source bytes `start..end` to `sink` as copies and literals, in order.
    pub fn run(
        &mut self,
        start: u64,
        end: u64,
        sink: &mut impl AlignedSink,
    ) -> Result<AlignedStats, AlignedError> {
        let mut stats = AlignedStats::default();
        // Basis offset = source offset - shift.
        let mut shift: i64 = 0;
        let mut pos = start;
        // A realignment that made no progress (it can only repeat if the basis changes under
        // us); a second one at the same offset is treated as finding nothing.
        let mut stalled_at = None;
        while pos < end {
            let n = (end - pos).min(CHUNK as u64) as usize;
            self.read_source(pos, n)?;
            let equal = self.equal_prefix(pos, shift, n)?;
            if equal > 0 {
                sink.copy_from_buffer((pos as i64 - shift) as u64, &mut self.basis_buf, equal)?;
                stats.matched_bytes += equal as u64;
            }
            let differs_at = pos + equal as u64;
            if equal == n {
                pos = differs_at;
                continue;
            }
            let found = match self.realign(differs_at, end, shift)? {
                Some((next, _)) if next == differs_at && stalled_at == Some(differs_at) => None,
                other => other,
            };
            stalled_at = found
                .filter(|&(next, _)| next == differs_at)
                .map(|(n, _)| n);
            let (next, new_shift) = match found {
                Some(found) => found,
                // Nothing lines up nearby: the window is literal; try the old alignment after it.
                None => ((differs_at + REALIGN_WINDOW as u64).min(end), shift),
            };
            self.emit_literal(differs_at, next, sink)?;
            stats.literal_bytes += next - differs_at;
            shift = new_shift;
            pos = next;
            if let Some(share) = self.max_literal_share {
                let searched = pos - start;
                if searched > CHUNK as u64
                    && u128::from(stats.literal_bytes) * 256
                        > u128::from(searched) * u128::from(share)
                {
                    return Err(AlignedError::TooMuchLiteral);
                }
            }
        }
        Ok(stats)
    }

    /// How many bytes of `src_buf[..n]` (the source from `pos`) equal the basis at `shift`;
    /// leaves the basis bytes compared at the start of `basis_buf`.
    fn equal_prefix(&mut self, pos: u64, shift: i64, n: usize) -> io::Result<usize> {
        let at = pos as i64 - shift;
        if at < 0 || at as u64 >= self.basis_len {
            return Ok(0);
        }
        let at = at as u64;
        let want = (self.basis_len - at).min(n as u64) as usize;
        // A basis that shrank under us simply compares shorter.
        let got = read_up_to(self.basis, room(&mut self.basis_buf, want), at)?;
        let a = &self.src_buf[..got];
        let b = &self.basis_buf[..got];
        let mut i = 0;
        while i < got {
            let step = COMPARE_STEP.min(got - i);
            if a[i..i + step] != b[i..i + step] {
                let first = a[i..i + step]
                    .iter()
                    .zip(&b[i..i + step])
                    .position(|(x, y)| x != y)
                    .unwrap_or(step);
                return Ok(i + first);
            }
            i += step;
        }
        Ok(got)
    }

    /// Looks for the first source offset in `from..` (within [`REALIGN_WINDOW`]) where a basis
    /// block near the old alignment starts again; returns it and the new shift.
    fn realign(&mut self, from: u64, end: u64, shift: i64) -> io::Result<Option<(u64, i64)>> {
        let center = from as i64 - shift;
        let lo = (center - REALIGN_WINDOW as i64).clamp(0, self.basis_len as i64) as u64;
        let hi = (center + (REALIGN_WINDOW + ANCHOR) as i64).clamp(0, self.basis_len as i64) as u64;
        let src_hi = (from + (REALIGN_WINDOW + ANCHOR) as u64).min(end);
        if hi - lo < ANCHOR as u64 || src_hi - from < ANCHOR as u64 {
            return Ok(None);
        }
        let got = read_up_to(
            self.basis,
            room(&mut self.basis_buf, (hi - lo) as usize),
            lo,
        )?;
        let src_n = (src_hi - from) as usize;
        self.read_source(from, src_n)?;
        let window = &self.basis_buf[..got];

        // The basis blocks of the window, by weak sum.
        let mut blocks: Vec<(u32, u32)> = window
            .chunks_exact(ANCHOR)
            .enumerate()
            .map(|(i, block)| (RollingChecksum::new(block).digest(), (i * ANCHOR) as u32))
            .collect();
        if blocks.is_empty() {
            return Ok(None);
        }
        blocks.sort_unstable();
        let mut filter = vec![0u64; 1024];
        let bit = |weak: u32| ((weak ^ (weak >> 16)) & 0xffff) as usize;
        for &(weak, _) in &blocks {
            filter[bit(weak) / 64] |= 1 << (bit(weak) % 64);
        }

        let src = &self.src_buf[..src_n];
        let mut rolling = RollingChecksum::new(&src[..ANCHOR]);
        let mut p = 0usize;
        loop {
            let weak = rolling.digest();
            if filter[bit(weak) / 64] & (1 << (bit(weak) % 64)) != 0 {
                let first = blocks.partition_point(|&(w, _)| w < weak);
                for &(w, off) in &blocks[first..] {
                    if w != weak {
                        break;
                    }
                    let off = off as usize;
                    if src[p..p + ANCHOR] == window[off..off + ANCHOR] {
                        let at = from + p as u64;
                        return Ok(Some((at, at as i64 - (lo + off as u64) as i64)));
                    }
                }
            }
            if p + ANCHOR >= src.len() {
                return Ok(None);
            }
            rolling.roll(src[p], src[p + ANCHOR]);
            p += 1;
        }
    }

    /// Fills `src_buf[..n]` with the source from `at`.
    fn read_source(&mut self, at: u64, n: usize) -> io::Result<()> {
        read_exact_at(
            self.source,
            room(&mut self.src_buf, n),
            at,
            "source file shrank",
        )
    }

    /// Sends source bytes `from..to` as literal data.
    fn emit_literal(&mut self, from: u64, to: u64, sink: &mut impl AlignedSink) -> io::Result<()> {
        let mut at = from;
        while at < to {
            let n = (to - at).min(CHUNK as u64) as usize;
            self.read_source(at, n)?;
            sink.literal(&self.src_buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}

/// The first `n` bytes of `buf`, growing it if needed (never shrinking, so a reused buffer is
/// not cleared again).
fn room(buf: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    &mut buf[..n]
}

/// Fills `buf` from `offset`, or fails with `what` if the file ends first.
fn read_exact_at<F: Basis + ?Sized>(
    file: &F,
    buf: &mut [u8],
    offset: u64,
    what: &'static str,
) -> io::Result<()> {
    if read_up_to(file, buf, offset)? < buf.len() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::noise;

    /// Rebuilds the output from a matcher's report, checking each copy against the basis.
    #[derive(Default)]
    struct Rebuilt {
        out: Vec<u8>,
        basis: Vec<u8>,
    }

    impl AlignedSink for Rebuilt {
        fn copy_range(&mut self, at: u64, len: u64) -> io::Result<()> {
            let (at, len) = (at as usize, len as usize);
            let slice = self.basis[at..at + len].to_vec();
            self.out.extend_from_slice(&slice);
            Ok(())
        }
        fn literal(&mut self, data: &[u8]) -> io::Result<()> {
            self.out.extend_from_slice(data);
            Ok(())
        }
    }

    fn rebuild(basis: &[u8], source: &[u8]) -> (Vec<u8>, AlignedStats) {
        let mut sink = Rebuilt {
            out: Vec::new(),
            basis: basis.to_vec(),
        };
        let stats = AlignedMatcher::new(source, basis, basis.len() as u64)
            .run(0, source.len() as u64, &mut sink)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        (sink.out, stats)
    }

    #[test]
    fn edits_insertions_and_deletions_line_up_again() {
        let basis = noise(5 << 20, 7);
        let mut source = basis.clone();
        for at in (10_000..source.len() - 10_000).step_by(300_000) {
            source[at..at + 3000].iter_mut().for_each(|b| *b ^= 0x5a);
        }
        source.splice(2 << 20..2 << 20, noise(7777, 3));
        source.drain(3 << 20..(3 << 20) + 5555);
        source.splice(4 << 20..4 << 20, noise(100_000, 4));
        let (out, stats) = rebuild(&basis, &source);
        assert!(out == source, "rebuilt output differs");
        assert_eq!(
            stats.matched_bytes + stats.literal_bytes,
            source.len() as u64
        );
        // Literal: the edits and the insertions, plus at most one anchor per realignment.
        assert!(stats.literal_bytes < 200_000, "{stats:?}");
    }

    #[test]
    fn unrelated_and_moved_data_is_literal_but_correct() {
        let basis = noise(3 << 20, 1);
        let mut moved = basis[1 << 20..].to_vec();
        moved.extend_from_slice(&basis[..1 << 20]);
        for source in [noise(3 << 20, 2), moved, Vec::new(), basis[..100].to_vec()] {
            let (out, stats) = rebuild(&basis, &source);
            assert!(out == source);
            assert_eq!(
                stats.matched_bytes + stats.literal_bytes,
                source.len() as u64
            );
        }
        let (out, stats) = rebuild(&[], &basis);
        assert!(out == basis);
        assert_eq!(stats.literal_bytes, basis.len() as u64);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the edits, the report rebuilds the source exactly.
        #[test]
        fn any_edits_rebuild_the_source(
            seed in 0u64..1000,
            len in 0usize..600_000,
            edits in proptest::collection::vec((0usize..600_000, 0usize..5000, 0u8..3), 0..12),
        ) {
            let basis = noise(len, seed + 1);
            let mut source = basis.clone();
            for (at, n, kind) in edits {
                let at = at.min(source.len());
                let end = (at + n).min(source.len());
                match kind {
                    0 => source[at..end].iter_mut().for_each(|b| *b = b.wrapping_add(1)),
                    1 => { source.splice(at..at, noise(n, seed + at as u64)); }
                    _ => { source.drain(at..end); }
                }
            }
            let (out, stats) = rebuild(&basis, &source);
            proptest::prop_assert!(out == source);
            proptest::prop_assert_eq!(stats.matched_bytes + stats.literal_bytes, source.len() as u64);
        }
    }

    #[test]
    fn gives_up_when_nothing_lines_up() {
        let basis = noise(4 << 20, 1);
        let source = noise(4 << 20, 2);
        let mut sink = Rebuilt::default();
        let r = AlignedMatcher::new(&source[..], &basis[..], basis.len() as u64)
            .give_up_above(64)
            .run(0, source.len() as u64, &mut sink);
        assert!(matches!(r, Err(AlignedError::TooMuchLiteral)));
    }

    #[test]
    fn a_range_in_the_middle_is_rebuilt_alone() {
        let basis = noise(3 << 20, 9);
        let mut source = basis.clone();
        source.splice(1000..1000, noise(333, 5));
        let mut sink = Rebuilt {
            out: Vec::new(),
            basis: basis.clone(),
        };
        let (start, end) = (1 << 20, 2 << 20);
        let stats = AlignedMatcher::new(&source[..], &basis[..], basis.len() as u64)
            .run(start, end, &mut sink)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert!(sink.out == source[start as usize..end as usize]);
        assert!(
            stats.matched_bytes > (1 << 20) - 2 * ANCHOR as u64,
            "{stats:?}"
        );
    }
}
