//! Fixed-width little-endian integers (`write_int`, `write_shortint`, `write_longint`).

use crate::error::{WireError, need_more_to_none};

use super::ReadCursor;

/// Appends a signed 32-bit LE integer.
pub fn put_int32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends an unsigned 16-bit LE integer.
pub fn put_shortint(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `longint`: 4 bytes if 0 ≤ v ≤ 0x7fffffff, else `ff ff ff ff` + 8 bytes.
pub fn put_longint(out: &mut Vec<u8>, v: i64) {
    if (0..=0x7fff_ffff).contains(&v) {
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Decodes an int32 from the front of `buf`: `Ok(None)` if fewer than 4 bytes.
pub fn decode_int32(buf: &[u8]) -> Result<Option<(i32, usize)>, WireError> {
    let mut c = ReadCursor::new(buf);
    need_more_to_none(c.i32().map(|v| (v, c.position())))
}
