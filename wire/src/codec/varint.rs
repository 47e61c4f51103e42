//! rsync's `write_varint` / `write_varlong` and their decoders.

use crate::error::{WireError, need_more_to_none};

use super::ReadCursor;

/// Appends `x` as an rsync varint (signed 32-bit, 1–5 bytes).
pub fn put_varint(out: &mut Vec<u8>, x: i32) {
    let le = x.to_le_bytes();
    let mut b = [0u8; 5];
    b[1..].copy_from_slice(&le);
    put_variable(out, &b, 1);
}

/// Appends `x` as an rsync varlong with at least `min_bytes` bytes (1..=8).
pub fn put_varlong(out: &mut Vec<u8>, x: i64, min_bytes: usize) {
    let mut b = [0u8; 9];
    b[1..].copy_from_slice(&x.to_le_bytes());
    put_variable(out, &b, min_bytes.clamp(1, 8));
}

/// Shared tail of both encoders: `b[1..]` holds the LE value, `b[0]` is the lead slot.
fn put_variable(out: &mut Vec<u8>, b: &[u8], min_bytes: usize) {
    let mut b = b.to_vec();
    let value_len = b.len() - 1;
    let mut cnt = value_len;
    while cnt > min_bytes && b.get(cnt).copied() == Some(0) {
        cnt -= 1;
    }
    // cnt - min_bytes is at most 7 here, so the shift cannot overflow.
    let bit: u8 = 1u8 << (7 - (cnt - min_bytes));
    let top = b.get(cnt).copied().unwrap_or(0);
    let lead = if top >= bit {
        cnt += 1;
        !(bit - 1)
    } else if cnt > min_bytes {
        top | !(bit.wrapping_mul(2).wrapping_sub(1))
    } else {
        top
    };
    if let Some(first) = b.first_mut() {
        *first = lead;
    }
    out.extend(b.iter().take(cnt));
}

/// Decodes a varint from the front of `buf` (`Ok(None)`: need more bytes).
pub fn decode_varint(buf: &[u8]) -> Result<Option<(i32, usize)>, WireError> {
    let mut c = ReadCursor::new(buf);
    need_more_to_none(c.varint().map(|v| (v, c.position())))
}

/// Decodes a varlong with `min_bytes` from the front of `buf`.
pub fn decode_varlong(buf: &[u8], min_bytes: usize) -> Result<Option<(i64, usize)>, WireError> {
    let mut c = ReadCursor::new(buf);
    need_more_to_none(c.varlong(min_bytes).map(|v| (v, c.position())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(x: i32) -> Vec<u8> {
        let mut v = Vec::new();
        put_varint(&mut v, x);
        v
    }

    fn encl(x: i64, m: usize) -> Vec<u8> {
        let mut v = Vec::new();
        put_varlong(&mut v, x, m);
        v
    }

    #[test]
    fn varint_golden_vectors_from_the_protocol_doc() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(0x7f), [0x7f]);
        assert_eq!(enc(0x80), [0x80, 0x80]);
        assert_eq!(enc(0x1234), [0x92, 0x34]);
        assert_eq!(enc(511), [0x81, 0xff]);
        assert_eq!(enc(0x2098), [0xa0, 0x98]);
        assert_eq!(enc(0x2c01), [0xac, 0x01]);
        assert_eq!(enc(208_515_124), [0xec, 0x34, 0xb0, 0x6d]);
        assert_eq!(enc(-1), [0xf0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn varlong_golden_vectors_from_the_protocol_doc() {
        assert_eq!(encl(4096, 3), [0x00, 0x00, 0x10]);
        assert_eq!(encl(17_000_000, 3), [0x81, 0x40, 0x66, 0x03]);
        assert_eq!(encl(5_000_000_000, 3), [0xc1, 0x00, 0xf2, 0x05, 0x2a]);
        assert_eq!(encl(1_795_390_583, 4), [0x6b, 0x77, 0x7c, 0x03]);
    }

    #[test]
    fn truncated_input_needs_more() {
        assert!(matches!(decode_varint(&[0x80]), Ok(None)));
        assert!(matches!(decode_varlong(&[0x00, 0x00], 3), Ok(None)));
        assert!(decode_varint(&[0xf8, 0, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn varint_round_trips(x in any::<i32>()) {
            let e = enc(x);
            prop_assert_eq!(decode_varint(&e).ok().flatten(), Some((x, e.len())));
        }

        #[test]
        fn varlong_round_trips_for_rsync_ranges(x in 0i64..(1i64 << 56), m in 3usize..=4) {
            let e = encl(x, m);
            prop_assert_eq!(decode_varlong(&e, m).ok().flatten(), Some((x, e.len())));
        }
    }
}
