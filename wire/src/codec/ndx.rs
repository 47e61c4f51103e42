//! File indexes: `write_ndx` / `read_ndx` (delta coding from protocol 30, int32 below).

use crate::error::{Decoded, WireError};

use super::ReadCursor;

/// End of a phase / list (`NDX_DONE`).
pub const NDX_DONE: i32 = -1;
/// End of all incremental file lists.
pub const NDX_FLIST_EOF: i32 = -2;
/// Deletion statistics follow.
pub const NDX_DEL_STATS: i32 = -3;
/// Base of the incremental-list announcements.
pub const NDX_FLIST_OFFSET: i32 = -101;

/// Writer side of the ndx codec; keeps the per-direction "previous" values.
#[derive(Debug, Clone)]
pub struct NdxEncoder {
    protocol: u32,
    prev_pos: i32,
    prev_neg: i32,
}

/// Reader side of the ndx codec; keeps the per-direction "previous" values.
#[derive(Debug, Clone)]
pub struct NdxDecoder {
    protocol: u32,
    prev_pos: i32,
    prev_neg: i32,
}

impl NdxEncoder {
    /// A fresh encoder for `protocol`.
    pub fn new(protocol: u32) -> Self {
        NdxEncoder {
            protocol,
            prev_pos: -1,
            prev_neg: 1,
        }
    }

    /// Appends `ndx` to `out`.
    pub fn put(&mut self, out: &mut Vec<u8>, ndx: i32) {
        if self.protocol < 30 {
            out.extend_from_slice(&ndx.to_le_bytes());
            return;
        }
        let (value, diff) = if ndx >= 0 {
            let diff = ndx.wrapping_sub(self.prev_pos);
            self.prev_pos = ndx;
            (ndx, diff)
        } else if ndx == NDX_DONE {
            out.push(0);
            return;
        } else {
            out.push(0xff);
            let v = ndx.wrapping_neg();
            let diff = v.wrapping_sub(self.prev_neg);
            self.prev_neg = v;
            (v, diff)
        };
        if diff > 0 && diff < 0xfe {
            out.push(diff as u8);
        } else if !(0..=0x7fff).contains(&diff) {
            let b = value.to_le_bytes();
            out.extend_from_slice(&[0xfe, b[3] | 0x80, b[0], b[1], b[2]]);
        } else {
            out.extend_from_slice(&[0xfe, (diff >> 8) as u8, diff as u8]);
        }
    }
}

impl NdxDecoder {
    /// A fresh decoder for `protocol`.
    pub fn new(protocol: u32) -> Self {
        NdxDecoder {
            protocol,
            prev_pos: -1,
            prev_neg: 1,
        }
    }

    /// Reads one index; the state changes only when a whole index was available.
    pub fn decode(&mut self, c: &mut ReadCursor<'_>) -> Decoded<i32> {
        if self.protocol < 30 {
            return c.i32();
        }
        let mut first = c.u8()?;
        let negative = first == 0xff;
        if negative {
            first = c.u8()?;
        } else if first == 0 {
            return Ok(NDX_DONE);
        }
        let prev = if negative {
            self.prev_neg
        } else {
            self.prev_pos
        };
        let num: i64 = if first == 0xfe {
            let hi = c.u8()?;
            let lo = c.u8()?;
            if hi & 0x80 != 0 {
                let rest = c.array::<2>()?;
                i64::from(u32::from_le_bytes([lo, rest[0], rest[1], hi & 0x7f]))
            } else {
                (i64::from(hi) << 8) + i64::from(lo) + i64::from(prev)
            }
        } else {
            i64::from(first) + i64::from(prev)
        };
        let num = i32::try_from(num)
            .map_err(|_| WireError::protocol(format!("Invalid file index: {num}")))?;
        if negative {
            self.prev_neg = num;
            Ok(num.wrapping_neg())
        } else {
            self.prev_pos = num;
            Ok(num)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ndx_golden_vectors_from_captures() {
        let mut e = NdxEncoder::new(31);
        let mut out = Vec::new();
        e.put(&mut out, 0);
        assert_eq!(out, [0x01]);
        out.clear();
        e.put(&mut out, -102);
        assert_eq!(out, [0xff, 0x65]);
        out.clear();
        e.put(&mut out, NDX_FLIST_EOF);
        assert_eq!(out, [0xff, 0xfe, 0x80, 0x02, 0x00, 0x00]);
        let mut e = NdxEncoder::new(31);
        e.put(&mut Vec::new(), 19);
        out.clear();
        e.put(&mut out, 3);
        assert_eq!(out, [0xfe, 0x80, 0x03, 0x00, 0x00]);
        out.clear();
        e.put(&mut out, NDX_DONE);
        assert_eq!(out, [0x00]);
    }

    proptest! {
        #[test]
        fn ndx_sequences_round_trip(seq in proptest::collection::vec(prop_oneof![0i32..100_000, -200i32..0, Just(i32::MAX)], 0..50), proto in 27u32..=32) {
            let mut e = NdxEncoder::new(proto);
            let mut out = Vec::new();
            for n in &seq { e.put(&mut out, *n); }
            let mut d = NdxDecoder::new(proto);
            let mut c = ReadCursor::new(&out);
            for n in &seq {
                prop_assert_eq!(d.decode(&mut c).ok(), Some(*n));
            }
            prop_assert_eq!(c.remaining(), 0);
        }
    }
}
