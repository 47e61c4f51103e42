//! The match search: rsync's sender side of the delta algorithm (`match.c`).
//!
//! A [`DeltaGenerator`] indexes a basis [`Signature`]; [`DeltaGenerator::run`] then reads the
//! new file once, rolls the weak checksum over it, and reports literal runs and matched basis
//! blocks to a [`DeltaSink`] in file order, returning the whole-file checksum.
//!
//! Differences from rsync that the receiver cannot observe: weak sums are looked up through a
//! bitmap filter and an open-addressing table instead of a 16-bit tag table, and candidates
//! with equal weak sums are kept sorted by strong sum and found by binary search, so the work
//! per offset stays bounded however many blocks share a weak sum (rsync 3.5 caps its chain
//! walk for the same reason). Like rsync, the block right after the previous match is
//! preferred when it matches, so runs of consecutive blocks come out as runs.

use std::io::{self, Read};

use crate::checksum::{BlockHasher, FileHasher, StrongDigest};
use crate::rolling::RollingChecksum;
use crate::signature::{Signature, read_full};
use crate::weak_scan::{WeakFilter, scan};

/// Pending literal data is handed to the sink once it reaches this many bytes.
pub const LITERAL_FLUSH: usize = 256 << 10;
/// Bytes read from the new file per refill (plus room for one window).
const READ_CHUNK: usize = 256 << 10;
/// The first read buffer, before it grows towards [`READ_CHUNK`] for big files.
const INITIAL_CHUNK: usize = 64 << 10;
/// Filter bits per basis block: about 1 false positive per this many probes.
const FILTER_BITS_PER_BLOCK: usize = 256;

/// Receives the delta of a file, in file order.
pub trait DeltaSink {
    /// The sink's own error type.
    type Error;
    /// Bytes of the new file that match no basis block.
    fn literal(&mut self, data: &[u8]) -> Result<(), Self::Error>;
    /// The next bytes of the new file equal basis block `index`.
    fn copy(&mut self, index: u64) -> Result<(), Self::Error>;
}

/// Errors while computing a delta.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError<E> {
    /// Reading the new file failed.
    #[error("reading the source file: {0}")]
    Read(#[source] io::Error),
    /// The sink refused a token.
    #[error("delta sink: {0}")]
    Sink(E),
}

/// What a delta run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeltaStats {
    /// Bytes sent as literal data.
    pub literal_bytes: u64,
    /// Bytes covered by basis blocks.
    pub matched_bytes: u64,
    /// Number of block references.
    pub matched_blocks: u64,
}

/// The result of [`DeltaGenerator::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaOutcome {
    /// The whole-file checksum of the new file.
    pub digest: StrongDigest,
    /// Literal and matched byte counts.
    pub stats: DeltaStats,
}

/// A lookup structure over a signature's blocks: weak sum → candidates sorted by strong sum.
struct BlockIndex {
    /// A clear bit means "no block has this weak sum".
    filter: WeakFilter,
    /// Open-addressing table of (weak, start, len) groups into `order`; `len == 0` is empty.
    slots: Vec<Slot>,
    slot_shift: u32,
    /// Block indexes grouped by weak sum; within a group sorted by (size, strong, index).
    order: Vec<u32>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    weak: u32,
    start: u32,
    len: u32,
}

#[inline(always)]
fn mix(weak: u32) -> u32 {
    weak.wrapping_mul(0x9e37_79b1)
}

impl BlockIndex {
    fn new(sig: &Signature) -> Self {
        let count = sig.len();
        let layout = sig.layout();
        let mut order: Vec<u32> = (0..count as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            sig.weak(a)
                .cmp(&sig.weak(b))
                .then_with(|| {
                    layout
                        .block_size(a as u64)
                        .cmp(&layout.block_size(b as u64))
                })
                .then_with(|| sig.strong(a).cmp(sig.strong(b)))
                .then_with(|| a.cmp(&b))
        });

        let mut filter = WeakFilter::with_capacity(count, FILTER_BITS_PER_BLOCK);

        let slot_count = (count.max(1) * 2).next_power_of_two().max(16);
        let slot_shift = 32 - slot_count.trailing_zeros();
        let mut slots = vec![Slot::default(); slot_count];
        let mask = slot_count - 1;

        let mut i = 0;
        while i < order.len() {
            let weak = sig.weak(order[i] as usize);
            let mut j = i + 1;
            while j < order.len() && sig.weak(order[j] as usize) == weak {
                j += 1;
            }
            filter.insert(weak);
            let mut s = (mix(weak) >> slot_shift) as usize;
            while slots[s].len != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = Slot {
                weak,
                start: i as u32,
                len: (j - i) as u32,
            };
            i = j;
        }
        Self {
            filter,
            slots,
            slot_shift,
            order,
        }
    }

    #[inline(always)]
    fn may_contain(&self, weak: u32) -> bool {
        self.filter.may_contain(weak)
    }

    /// The candidates whose weak sum is `weak`.
    fn group(&self, weak: u32) -> &[u32] {
        let mask = self.slots.len() - 1;
        let mut s = (mix(weak) >> self.slot_shift) as usize;
        loop {
            let slot = self.slots[s];
            if slot.len == 0 {
                return &[];
            }
            if slot.weak == weak {
                return &self.order[slot.start as usize..(slot.start + slot.len) as usize];
            }
            s = (s + 1) & mask;
        }
    }
}

/// Computes deltas of new files against one basis signature.
pub struct DeltaGenerator<'a> {
    sig: &'a Signature,
    hasher: BlockHasher,
    index: BlockIndex,
    /// The new file's expected length, when known: a small file gets a buffer its size.
    size_hint: Option<u64>,
}

impl<'a> DeltaGenerator<'a> {
    /// Indexes `sig`, whose strong sums were made with `hasher`.
    pub fn new(sig: &'a Signature, hasher: BlockHasher) -> Self {
        Self {
            sig,
            hasher,
            index: BlockIndex::new(sig),
            size_hint: None,
        }
    }

    /// Tells the search how long the new file is expected to be, so a small file is not
    /// given (and cleared) a full-size read buffer. Any length still works.
    pub fn with_size_hint(mut self, len: u64) -> Self {
        self.size_hint = Some(len);
        self
    }

    /// Finds the basis block matching `window` (weak sum `weak`), preferring `want`.
    fn find(&self, weak: u32, window: &[u8], want: u64) -> Option<u64> {
        let group = self.index.group(weak);
        if group.is_empty() {
            return None;
        }
        let layout = self.sig.layout();
        let size = window.len() as u32;
        let strong_len = layout.strong_len;
        let digest = self.hasher.digest(window);
        let strong = digest.as_bytes().get(..strong_len)?;
        let want_ok = want < self.sig.len() as u64
            && self.sig.weak(want as usize) == weak
            && layout.block_size(want) == size
            && self.sig.strong(want as usize) == strong;
        if want_ok {
            return Some(want);
        }
        let key = |&b: &u32| {
            let b = b as usize;
            (layout.block_size(b as u64), self.sig.strong(b))
        };
        let at = group.partition_point(|b| key(b) < (size, strong));
        let &found = group.get(at)?;
        (key(&found) == (size, strong)).then_some(u64::from(found))
    }

    /// Reads `new` to its end and reports its delta to `sink`.
    ///
    /// `file_hasher` receives every byte of the new file; its digest is returned.
    pub fn run<R: Read, S: DeltaSink>(
        &self,
        new: R,
        mut file_hasher: FileHasher,
        sink: &mut S,
    ) -> Result<DeltaOutcome, DeltaError<S::Error>> {
        let stats = self.search(new, Some(&mut file_hasher), sink)?;
        Ok(DeltaOutcome {
            digest: file_hasher.finish(),
            stats,
        })
    }

    /// Like [`run`](Self::run) without a whole-file checksum, for callers that verify
    /// otherwise (or trust full-length strong sums).
    pub fn run_unhashed<R: Read, S: DeltaSink>(
        &self,
        new: R,
        sink: &mut S,
    ) -> Result<DeltaStats, DeltaError<S::Error>> {
        self.search(new, None, sink)
    }

    fn search<R: Read, S: DeltaSink>(
        &self,
        mut new: R,
        mut file_hasher: Option<&mut FileHasher>,
        sink: &mut S,
    ) -> Result<DeltaStats, DeltaError<S::Error>> {
        let layout = *self.sig.layout();
        let block_len = layout.block_len as usize;
        let last_len = layout.last_block_size() as usize;
        let mut stats = DeltaStats::default();
        // Start small (most files are small) and grow while reads keep filling the buffer.
        let max_buf = READ_CHUNK + LITERAL_FLUSH + 2 * block_len;
        let hinted = self.size_hint.map_or(usize::MAX, |n| {
            usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1)
        });
        let mut buf = vec![
            0u8;
            (INITIAL_CHUNK + 2 * block_len)
                .min(max_buf)
                .min(hinted.max(block_len + 1))
        ];
        let mut end = 0usize; // valid bytes in buf
        let mut first_fill = true;
        let mut eof = false;
        let mut lit = 0usize; // start of pending literal data in buf
        let mut pos = 0usize; // window start in buf
        let mut want: u64 = 0;
        let searching = !self.sig.is_empty() && last_len > 0;

        // Makes sure buf[pos..] holds at least `need` bytes unless the file ends first.
        macro_rules! fill {
            ($need:expr) => {
                if end - pos < $need && !eof {
                    // Flushing at half the buffer keeps room to read after compaction.
                    if pos - lit >= LITERAL_FLUSH.min(buf.len() / 2) {
                        sink.literal(&buf[lit..pos]).map_err(DeltaError::Sink)?;
                        stats.literal_bytes += (pos - lit) as u64;
                        lit = pos;
                    }
                    buf.copy_within(lit..end, 0);
                    end -= lit;
                    pos -= lit;
                    lit = 0;
                    if buf.len() < max_buf && end < buf.len() / 2 && !first_fill {
                        buf.resize((buf.len() * 2).min(max_buf), 0);
                    }
                    first_fill = false;
                    while end - pos < $need && !eof {
                        let n = read_full(&mut new, &mut buf[end..]).map_err(DeltaError::Read)?;
                        if n == 0 {
                            eof = true;
                        }
                        if let Some(h) = file_hasher.as_deref_mut() {
                            h.update(&buf[end..end + n]);
                        }
                        end += n;
                        if end == buf.len() {
                            break;
                        }
                    }
                }
            };
        }

        if searching {
            fill!(block_len + 1);
            'outer: loop {
                let mut k = block_len.min(end - pos);
                if k < last_len {
                    break;
                }
                let mut rolling = RollingChecksum::new(&buf[pos..pos + k]);
                loop {
                    // Fast path: roll while the byte after the window is in the buffer and
                    // the weak sum is certainly absent.
                    if k == block_len {
                        let limit = end - k;
                        pos = scan(&buf[..end], pos, k, limit, &mut rolling, &self.index.filter);
                    }
                    if !(pos < end - k || eof) {
                        fill!(block_len + 1);
                        continue;
                    }
                    let weak = rolling.digest();
                    if self.index.may_contain(weak)
                        && let Some(i) = self.find(weak, &buf[pos..pos + k], want)
                    {
                        if pos > lit {
                            sink.literal(&buf[lit..pos]).map_err(DeltaError::Sink)?;
                            stats.literal_bytes += (pos - lit) as u64;
                        }
                        sink.copy(i).map_err(DeltaError::Sink)?;
                        stats.matched_bytes += k as u64;
                        stats.matched_blocks += 1;
                        pos += k;
                        lit = pos;
                        want = i + 1;
                        fill!(block_len + 1);
                        continue 'outer;
                    }
                    // No match here: slide one byte, or shrink the window at the end of file.
                    if pos + k < end {
                        rolling.roll(buf[pos], buf[pos + k]);
                    } else {
                        fill!(k + 1);
                        if pos + k < end {
                            rolling.roll(buf[pos], buf[pos + k]);
                        } else {
                            rolling.roll_out(buf[pos]);
                            k -= 1;
                        }
                    }
                    pos += 1;
                    if k < last_len {
                        break 'outer;
                    }
                }
            }
        }

        // Everything after the last possible match is literal.
        loop {
            if end > lit {
                sink.literal(&buf[lit..end]).map_err(DeltaError::Sink)?;
                stats.literal_bytes += (end - lit) as u64;
            }
            lit = 0;
            if eof {
                break;
            }
            let chunk = buf.len().min(READ_CHUNK);
            let n = read_full(&mut new, &mut buf[..chunk]).map_err(DeltaError::Read)?;
            if let Some(h) = file_hasher.as_deref_mut() {
                h.update(&buf[..n]);
            }
            end = n;
            eof = n == 0;
        }
        Ok(stats)
    }
}

/// A token of a delta held in memory (mainly for tests and small files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Literal bytes.
    Literal(Vec<u8>),
    /// A basis block index.
    Copy(u64),
}

/// A [`DeltaSink`] that collects tokens, merging adjacent literal pieces.
#[derive(Debug, Default)]
pub struct TokenCollector {
    /// The collected tokens.
    pub tokens: Vec<Token>,
}

impl DeltaSink for TokenCollector {
    type Error = std::convert::Infallible;
    fn literal(&mut self, data: &[u8]) -> Result<(), Self::Error> {
        if let Some(Token::Literal(prev)) = self.tokens.last_mut() {
            prev.extend_from_slice(data);
        } else {
            self.tokens.push(Token::Literal(data.to_vec()));
        }
        Ok(())
    }
    fn copy(&mut self, index: u64) -> Result<(), Self::Error> {
        self.tokens.push(Token::Copy(index));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{ChecksumAlgorithm, ChecksumProfile};
    use crate::layout::BlockLayout;

    fn delta(basis: &[u8], new: &[u8], block_len: u32) -> (Vec<Token>, DeltaOutcome) {
        let profile = ChecksumProfile::local(ChecksumAlgorithm::Md5);
        let layout = BlockLayout::with_block_len(basis.len() as u64, block_len, 16);
        let sig = Signature::generate(basis, layout, &profile.block).unwrap();
        let generator = DeltaGenerator::new(&sig, profile.block);
        let mut sink = TokenCollector::default();
        let out = generator
            .run(new, profile.file_hasher(), &mut sink)
            .unwrap();
        (sink.tokens, out)
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn a_wrong_size_hint_changes_nothing() {
        let basis = pseudo_random(300_000, 3);
        let mut new = basis.clone();
        new.splice(1000..1000, pseudo_random(5000, 4));
        new[200_000] ^= 1;
        let (want, _) = delta(&basis, &new, 700);
        let profile = ChecksumProfile::local(ChecksumAlgorithm::Md5);
        let layout = BlockLayout::with_block_len(basis.len() as u64, 700, 16);
        let sig = Signature::generate(&basis[..], layout, &profile.block).unwrap();
        for hint in [0, 1, 699, 4096, new.len() as u64, 10 << 20] {
            let mut sink = TokenCollector::default();
            DeltaGenerator::new(&sig, profile.block)
                .with_size_hint(hint)
                .run(&new[..], profile.file_hasher(), &mut sink)
                .unwrap();
            assert_eq!(sink.tokens, want, "hint {hint}");
        }
    }

    #[test]
    fn captured_middle_block_change() {
        // §8.5: a 2100-byte file with a change inside the middle 700-byte block gives
        // block 0, 700 literal bytes, block 2.
        let basis = pseudo_random(2100, 1);
        let mut new = basis.clone();
        new[1000] ^= 0xff;
        let (tokens, out) = delta(&basis, &new, 700);
        assert_eq!(
            tokens,
            vec![
                Token::Copy(0),
                Token::Literal(new[700..1400].to_vec()),
                Token::Copy(2)
            ]
        );
        assert_eq!(out.stats.literal_bytes, 700);
        assert_eq!(out.stats.matched_bytes, 1400);
        assert_eq!(out.digest, ChecksumAlgorithm::Md5.digest(&new));
    }

    #[test]
    fn short_last_block_and_shifted_data() {
        let basis = pseudo_random(2500, 2); // blocks 0..2 of 700, block 3 of 400
        let mut new = b"xyz".to_vec();
        new.extend_from_slice(&basis);
        let (tokens, _) = delta(&basis, &new, 700);
        assert_eq!(
            tokens,
            vec![
                Token::Literal(b"xyz".to_vec()),
                Token::Copy(0),
                Token::Copy(1),
                Token::Copy(2),
                Token::Copy(3)
            ]
        );
    }

    #[test]
    fn prefers_the_block_after_the_previous_match() {
        // Every block is identical: the search must emit 0,1,2,3 (adjacency), not 0,0,0,0.
        let basis = vec![7u8; 2800];
        let (tokens, _) = delta(&basis, &basis, 700);
        assert_eq!(
            tokens,
            (0..4).map(Token::Copy).collect::<Vec<_>>(),
            "adjacent blocks preferred"
        );
    }

    #[test]
    fn many_equal_blocks_stay_linear() {
        // 20,000 identical blocks and a new file of other data with the same weak sum at every
        // offset would make a chain walk quadratic; the sorted groups keep it bounded.
        let basis = vec![0u8; 700 * 20_000];
        let mut new = vec![0u8; 700 * 20_000];
        new[5] = 1;
        let (tokens, out) = delta(&basis, &new, 700);
        assert_eq!(
            out.stats.literal_bytes + out.stats.matched_bytes,
            new.len() as u64
        );
        assert!(tokens.len() > 19_000);
    }

    #[test]
    fn empty_inputs() {
        let (tokens, out) = delta(&[], b"hello", 700);
        assert_eq!(tokens, vec![Token::Literal(b"hello".to_vec())]);
        assert_eq!(out.digest, ChecksumAlgorithm::Md5.digest(b"hello"));
        let (tokens, _) = delta(b"hello", &[], 700);
        assert!(tokens.is_empty());
    }

    #[test]
    fn large_literal_runs_are_flushed_in_pieces() {
        struct Max(usize, u64);
        impl DeltaSink for Max {
            type Error = ();
            fn literal(&mut self, d: &[u8]) -> Result<(), ()> {
                self.0 = self.0.max(d.len());
                self.1 += d.len() as u64;
                Ok(())
            }
            fn copy(&mut self, _: u64) -> Result<(), ()> {
                Ok(())
            }
        }
        let basis = pseudo_random(100_000, 3);
        let new = pseudo_random(5_000_000, 4);
        let profile = ChecksumProfile::local(ChecksumAlgorithm::Xxh3);
        let layout = BlockLayout::with_block_len(basis.len() as u64, 700, 8);
        let sig = Signature::generate(&basis[..], layout, &profile.block).unwrap();
        let mut sink = Max(0, 0);
        DeltaGenerator::new(&sig, profile.block)
            .run(&new[..], profile.file_hasher(), &mut sink)
            .unwrap();
        assert_eq!(sink.1, new.len() as u64);
        assert!(
            sink.0 <= READ_CHUNK + LITERAL_FLUSH + 1400,
            "piece of {}",
            sink.0
        );
    }
}
