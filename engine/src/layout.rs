//! How a basis file is cut into blocks, and how long each block's strong sum is
//! (`generator.c: sum_sizes_sqroot`).

/// rsync's minimum (and small-file) block length, `BLOCK_SIZE`.
pub const MIN_BLOCK_LEN: u32 = 700;
/// The largest block length for protocol ≥ 30, `MAX_BLOCK_SIZE`.
pub const MAX_BLOCK_LEN: u32 = 1 << 17;
/// The largest block length for protocol < 30, `OLD_MAX_BLOCK_SIZE`.
pub const OLD_MAX_BLOCK_LEN: u32 = 1 << 29;
/// The first-pass minimum strong-sum length, `SHORT_SUM_LENGTH`.
pub const SHORT_SUM_LEN: usize = 2;
/// The full strong-sum length, `SUM_LENGTH` (used in the redo pass).
pub const FULL_SUM_LEN: usize = 16;

/// The block structure of a signature: rsync's `sum_struct` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    /// The basis file length in bytes.
    pub file_len: u64,
    /// The length of every block but possibly the last.
    pub block_len: u32,
    /// The number of blocks, ⌈file_len / block_len⌉.
    pub count: u64,
    /// The length of the last block when it is short, else 0 (`file_len mod block_len`).
    pub remainder: u32,
    /// How many bytes of each block's strong sum are kept and compared.
    pub strong_len: usize,
}

/// The inputs of the heuristic that are not the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutParams {
    /// The protocol version (27–32); selects the block-length cap.
    pub protocol: u32,
    /// A forced block length (`-B`/`--block-size`), if any.
    pub block_size: Option<u32>,
    /// `csum_length`: [`SHORT_SUM_LEN`] in the first pass, [`FULL_SUM_LEN`] in the redo pass.
    pub min_strong_len: usize,
    /// The negotiated digest's full length (rsync 3.5 never asks for more).
    pub digest_len: usize,
}

impl LayoutParams {
    /// First-pass parameters for `protocol` with a digest of `digest_len` bytes.
    pub fn first_pass(protocol: u32, digest_len: usize) -> Self {
        Self {
            protocol,
            block_size: None,
            min_strong_len: SHORT_SUM_LEN,
            digest_len,
        }
    }

    /// Redo-pass parameters: full-length strong sums.
    pub fn redo_pass(protocol: u32, digest_len: usize) -> Self {
        Self {
            min_strong_len: FULL_SUM_LEN,
            ..Self::first_pass(protocol, digest_len)
        }
    }
}

/// ⌊log2 x⌋ for x ≥ 1, and 0 for 0 (the loops `for (l = len; l >>= 1; b += …)` compute it).
fn floor_log2(x: u64) -> u32 {
    63u32.saturating_sub(x.leading_zeros())
}

/// rsync's block length for a file of `len` bytes.
pub fn block_len_for(len: u64, protocol: u32) -> u32 {
    if len <= u64::from(MIN_BLOCK_LEN) * u64::from(MIN_BLOCK_LEN) {
        return MIN_BLOCK_LEN;
    }
    let max = if protocol < 30 {
        OLD_MAX_BLOCK_LEN
    } else {
        MAX_BLOCK_LEN
    };
    // ⌊√len⌋ rounded down to a multiple of 8, within [700, max].
    let root = len.isqrt() & !7;
    root.clamp(u64::from(MIN_BLOCK_LEN), u64::from(max)) as u32
}

/// rsync's strong-sum length for a file of `len` bytes cut into `block_len` blocks.
pub fn strong_len_for(len: u64, block_len: u32, params: &LayoutParams) -> usize {
    let max = FULL_SUM_LEN.min(params.digest_len);
    if params.min_strong_len >= FULL_SUM_LEN {
        return max;
    }
    // b = 10 + 2·⌊log2 len⌋ − ⌊log2 block_len⌋ (not below 0); s2 = (b − 24) / 8 toward zero.
    let b =
        (10 + 2 * i64::from(floor_log2(len)) - i64::from(floor_log2(u64::from(block_len)))).max(0);
    let s2 = ((b - 24) / 8).max(0) as usize;
    s2.max(params.min_strong_len).min(max)
}

impl BlockLayout {
    /// The layout rsync's generator would choose for a basis of `file_len` bytes.
    pub fn for_file(file_len: u64, params: &LayoutParams) -> Self {
        let block_len = match params.block_size {
            Some(n) if n > 0 => n,
            _ => block_len_for(file_len, params.protocol),
        };
        let strong_len = strong_len_for(file_len, block_len, params);
        Self::with_block_len(file_len, block_len, strong_len)
    }

    /// A layout with an explicit block length and strong-sum length.
    ///
    /// `block_len` must be positive; zero is treated as one.
    pub fn with_block_len(file_len: u64, block_len: u32, strong_len: usize) -> Self {
        let block_len = block_len.max(1);
        let bl = u64::from(block_len);
        Self {
            file_len,
            block_len,
            count: file_len.div_ceil(bl),
            remainder: (file_len % bl) as u32,
            strong_len,
        }
    }

    /// The length of block `index` (the last one may be short). Out-of-range indexes give 0.
    pub fn block_size(&self, index: u64) -> u32 {
        if index >= self.count {
            0
        } else if index + 1 == self.count && self.remainder != 0 {
            self.remainder
        } else {
            self.block_len
        }
    }

    /// The byte offset where block `index` starts.
    pub fn block_offset(&self, index: u64) -> u64 {
        index.saturating_mul(u64::from(self.block_len))
    }

    /// The length of the last block (0 for an empty file).
    pub fn last_block_size(&self) -> u32 {
        if self.count == 0 {
            0
        } else {
            self.block_size(self.count - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(len: u64) -> BlockLayout {
        BlockLayout::for_file(len, &LayoutParams::first_pass(31, 16))
    }

    #[test]
    fn captured_layouts() {
        // Figures captured from rsync 3.5.0 (shared/docs/rsync-protocol.md §8.3).
        let l = first(200_000);
        assert_eq!((l.block_len, l.strong_len, l.count), (700, 2, 286));
        let l = first(1_000_000);
        assert_eq!((l.block_len, l.strong_len), (1000, 2));
        let l = first(17_000_000);
        assert_eq!(
            (l.block_len, l.strong_len, l.count, l.remainder),
            (4120, 2, 4127, 880)
        );
        let l = first(5_000_000_000);
        assert_eq!(
            (l.block_len, l.strong_len, l.count, l.remainder),
            (70_704, 4, 70_718, 25_232)
        );
        // 1 GiB: 32 KiB blocks, 3-byte strong sums (baseline.md, --debug=deltasum2).
        let l = first(1 << 30);
        assert_eq!((l.block_len, l.strong_len, l.count), (32_768, 3, 32_768));
        // The redo pass uses full-length sums, capped by the digest length.
        let redo = BlockLayout::for_file(5000, &LayoutParams::redo_pass(31, 16));
        assert_eq!(redo.strong_len, 16);
        let redo8 = BlockLayout::for_file(5000, &LayoutParams::redo_pass(31, 8));
        assert_eq!(redo8.strong_len, 8);
    }

    #[test]
    fn block_length_caps() {
        let huge = 1u64 << 40;
        assert_eq!(block_len_for(huge, 30), MAX_BLOCK_LEN);
        assert_eq!(block_len_for(huge, 29), (1 << 20) & !7);
        assert_eq!(block_len_for(0, 31), 700);
        assert_eq!(block_len_for(490_000, 31), 700);
        assert_eq!(block_len_for(490_001, 31), 700);
        assert_eq!(block_len_for(1_000_000, 31), 1000);
        assert_eq!(block_len_for(1_100_000, 31), 1048);
    }

    #[test]
    fn block_sizes_and_empty_file() {
        let l = BlockLayout::with_block_len(2100, 700, 2);
        assert_eq!((l.count, l.remainder), (3, 0));
        assert_eq!(l.block_size(2), 700);
        let l = BlockLayout::with_block_len(2101, 700, 2);
        assert_eq!((l.count, l.remainder, l.last_block_size()), (4, 1, 1));
        assert_eq!(l.block_size(4), 0);
        let e = first(0);
        assert_eq!((e.count, e.remainder, e.last_block_size()), (0, 0, 0));
    }
}
