//! A read cursor over a borrowed buffer; every read reports `NeedMore` past the end.

use crate::error::{DecodeError, Decoded, WireError};

/// Reads protocol values from the front of a byte slice without copying.
#[derive(Debug)]
pub struct ReadCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Lead-byte table of rsync's `int_byte_extra`: extra bytes after a varint lead byte.
fn extra_bytes(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 0,
        0x80..=0xbf => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        0xf8..=0xfb => 5,
        0xfc..=0xff => 6,
    }
}

impl<'a> ReadCursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        ReadCursor { buf, pos: 0 }
    }

    /// How many bytes have been consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::NeedMore)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::NeedMore)?;
        self.pos = end;
        Ok(s)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Decoded<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Decoded<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Unsigned 16-bit little-endian (`read_shortint`).
    pub fn u16(&mut self) -> Decoded<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Signed 32-bit little-endian (`read_int`).
    pub fn i32(&mut self) -> Decoded<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// `read_longint`: 4 bytes, or `ff ff ff ff` followed by 8 bytes.
    pub fn longint(&mut self) -> Decoded<i64> {
        let v = self.i32()?;
        if v != -1 {
            return Ok(i64::from(v));
        }
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `read_varint`: signed 32-bit variable-length integer.
    pub fn varint(&mut self) -> Decoded<i32> {
        let lead = self.u8()?;
        let extra = extra_bytes(lead);
        if extra > 4 {
            return Err(WireError::stream("overflow in read_varint()").into());
        }
        let mut bytes = [0u8; 5];
        let src = self.take(extra)?;
        for (dst, b) in bytes.iter_mut().zip(src) {
            *dst = *b;
        }
        if extra < 4 {
            let mask = 0xffu8 >> (extra + 1);
            if let Some(b) = bytes.get_mut(extra) {
                *b = lead & mask;
            }
        }
        Ok(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// `read_varlong(min_bytes)`: signed 64-bit variable-length integer.
    pub fn varlong(&mut self, min_bytes: usize) -> Decoded<i64> {
        let min_bytes = min_bytes.clamp(1, 8);
        let head = self.take(min_bytes)?;
        let lead = head.first().copied().ok_or(DecodeError::NeedMore)?;
        let mut bytes = [0u8; 9];
        for (dst, b) in bytes.iter_mut().zip(head.iter().skip(1)) {
            *dst = *b;
        }
        let extra = extra_bytes(lead);
        if min_bytes + extra > 8 {
            return Err(WireError::stream("overflow in read_varlong()").into());
        }
        let more = self.take(extra)?;
        for (dst, b) in bytes.iter_mut().skip(min_bytes - 1).zip(more) {
            *dst = *b;
        }
        let top = min_bytes - 1 + extra;
        let mask = 0xffu8 >> extra;
        if let Some(b) = bytes.get_mut(top) {
            *b = lead & mask;
        }
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes.get(..8).ok_or(DecodeError::NeedMore)?);
        Ok(i64::from_le_bytes(le))
    }

    /// `read_vstring`: 1- or 2-byte length then bytes, rejected above `max_len`.
    pub fn vstring(&mut self, max_len: usize) -> Decoded<&'a [u8]> {
        let first = self.u8()?;
        let len = if first & 0x80 != 0 {
            (usize::from(first & 0x7f) << 8) | usize::from(self.u8()?)
        } else {
            usize::from(first)
        };
        if len > max_len {
            return Err(
                WireError::protocol(format!("vstring too long ({len} > {max_len})")).into(),
            );
        }
        self.take(len)
    }
}
