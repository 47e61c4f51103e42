//! The block-sum header and sums the generator sends (`io.c: write_sum_head`,
//! `read_sum_head`), with 3.5.0's limits checked before anything is allocated.

use crate::codec::{ReadCursor, put_int32};
use crate::error::{Decoded, WireError};

/// Largest block length at protocol ≥ 30.
pub const MAX_BLOCK_SIZE: i32 = 1 << 17;
/// Largest block length below protocol 30.
pub const OLD_MAX_BLOCK_SIZE: i32 = 1 << 29;
/// Longest strong sum we accept in a header (rsync's `SUM_LENGTH`).
pub const MAX_SUM_LENGTH: i32 = 16;
/// The most blocks we accept for one file (bounds the sums' memory).
pub const MAX_BLOCK_COUNT: i32 = 1 << 24;

/// `sum_struct` as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SumHead {
    /// Number of blocks.
    pub count: i32,
    /// Block length.
    pub block_len: i32,
    /// Strong-sum bytes per block.
    pub s2length: i32,
    /// Length of the last block if short, else 0.
    pub remainder: i32,
}

impl SumHead {
    /// Appends the header.
    pub fn encode(&self, out: &mut Vec<u8>, protocol: u32) {
        put_int32(out, self.count);
        put_int32(out, self.block_len);
        if protocol >= 27 {
            put_int32(out, self.s2length);
        }
        put_int32(out, self.remainder);
    }

    /// Reads and validates a header.
    pub fn decode(c: &mut ReadCursor<'_>, protocol: u32) -> Decoded<SumHead> {
        let count = c.i32()?;
        let block_len = c.i32()?;
        let s2length = if protocol >= 27 { c.i32()? } else { 2 };
        let remainder = c.i32()?;
        let max_blen = if protocol >= 30 {
            MAX_BLOCK_SIZE
        } else {
            OLD_MAX_BLOCK_SIZE
        };
        if !(0..=MAX_BLOCK_COUNT).contains(&count) {
            return Err(WireError::protocol(format!("Invalid checksum count {count}")).into());
        }
        if !(0..=max_blen).contains(&block_len) || (count > 0 && block_len == 0) {
            return Err(WireError::protocol(format!("Invalid block length {block_len}")).into());
        }
        if !(0..=MAX_SUM_LENGTH).contains(&s2length) {
            return Err(WireError::protocol(format!("Invalid checksum length {s2length}")).into());
        }
        if !(0..=block_len).contains(&remainder) {
            return Err(
                WireError::protocol(format!("Invalid remainder length {remainder}")).into(),
            );
        }
        Ok(SumHead {
            count,
            block_len,
            s2length,
            remainder,
        })
    }
}

/// One block's sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSums {
    /// Rolling checksums.
    pub weak: Vec<u32>,
    /// Strong sums, `s2length` bytes each, concatenated.
    pub strong: Vec<u8>,
}

/// Reads `head.count` block sums.
pub fn decode_block_sums(c: &mut ReadCursor<'_>, head: &SumHead) -> Decoded<BlockSums> {
    let count = usize::try_from(head.count).unwrap_or(0);
    let s2 = usize::try_from(head.s2length).unwrap_or(0);
    // Every byte must be present before we allocate for it.
    let need = count.saturating_mul(4 + s2);
    if c.remaining() < need {
        return Err(crate::error::DecodeError::NeedMore);
    }
    let mut weak = Vec::with_capacity(count);
    let mut strong = Vec::with_capacity(count.saturating_mul(s2));
    for _ in 0..count {
        weak.push(u32::from_le_bytes(c.array()?));
        strong.extend_from_slice(c.take(s2)?);
    }
    Ok(BlockSums { weak, strong })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_heads_are_refused() {
        let enc = |h: SumHead| {
            let mut v = Vec::new();
            h.encode(&mut v, 31);
            v
        };
        for bad in [
            SumHead {
                count: -1,
                block_len: 700,
                s2length: 2,
                remainder: 0,
            },
            SumHead {
                count: 3,
                block_len: 0,
                s2length: 2,
                remainder: 0,
            },
            SumHead {
                count: 3,
                block_len: 700,
                s2length: 17,
                remainder: 0,
            },
            SumHead {
                count: 3,
                block_len: 700,
                s2length: 2,
                remainder: 701,
            },
            SumHead {
                count: 3,
                block_len: (1 << 17) + 1,
                s2length: 2,
                remainder: 0,
            },
        ] {
            let bytes = enc(bad);
            assert!(
                SumHead::decode(&mut ReadCursor::new(&bytes), 31).is_err(),
                "{bad:?}"
            );
        }
        let good = SumHead {
            count: 3,
            block_len: 700,
            s2length: 2,
            remainder: 0,
        };
        let bytes = enc(good);
        assert_eq!(
            SumHead::decode(&mut ReadCursor::new(&bytes), 31).ok(),
            Some(good)
        );
    }
}
