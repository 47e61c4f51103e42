//! `write_vstring`: a 1- or 2-byte length (15 bits, big-endian when long) then the bytes.

use crate::error::WireError;

/// Appends `s` as a vstring; strings longer than 32767 bytes are refused.
pub fn put_vstring(out: &mut Vec<u8>, s: &[u8]) -> Result<(), WireError> {
    let len = s.len();
    if len > 0x7fff {
        return Err(WireError::protocol(format!("vstring too long: {len}")));
    }
    if len > 0x7f {
        out.push(0x80 | (len >> 8) as u8);
        out.push((len & 0xff) as u8);
    } else {
        out.push(len as u8);
    }
    out.extend_from_slice(s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ReadCursor;

    #[test]
    fn short_and_long_vstrings_round_trip() {
        for len in [0usize, 1, 127, 128, 300, 0x7fff] {
            let s = vec![b'a'; len];
            let mut out = Vec::new();
            put_vstring(&mut out, &s).ok();
            let mut c = ReadCursor::new(&out);
            assert_eq!(c.vstring(0x7fff).ok(), Some(&s[..]));
        }
        let mut out = Vec::new();
        put_vstring(&mut out, b"xxh128 xxh3").ok();
        assert_eq!(out.first(), Some(&11));
    }

    #[test]
    fn vstring_over_the_limit_is_refused() {
        let mut out = Vec::new();
        put_vstring(&mut out, &[b'x'; 300]).ok();
        let mut c = ReadCursor::new(&out);
        assert!(c.vstring(255).is_err());
    }
}
