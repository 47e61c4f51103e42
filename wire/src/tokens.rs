//! The uncompressed token stream (`token.c: simple_send_token`, `simple_recv_token`):
//! int32 n > 0 = n literal bytes follow, n < 0 = copy block −n−1, 0 = end of file.

use crate::codec::{ReadCursor, put_int32};
use crate::error::{Decoded, WireError};

/// Literal runs are cut into pieces of at most this size (`CHUNK_SIZE`).
pub const CHUNK_SIZE: usize = 32 * 1024;
/// The longest literal run we accept in one token.
pub const MAX_LITERAL_LEN: i32 = 1 << 24;

/// One decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// Literal data.
    Literal(&'a [u8]),
    /// Copy basis block `n`.
    Copy(u32),
    /// End of this file's data.
    End,
}

/// Appends literal data, cut into `CHUNK_SIZE` pieces.
pub fn put_literal(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(CHUNK_SIZE) {
        put_int32(out, chunk.len() as i32);
        out.extend_from_slice(chunk);
    }
}

/// Appends a block reference.
pub fn put_copy(out: &mut Vec<u8>, block: u64) -> Result<(), WireError> {
    let b = i32::try_from(block).map_err(|_| WireError::protocol("block index too large"))?;
    put_int32(out, -(b + 1));
    Ok(())
}

/// Appends the end-of-file token.
pub fn put_end(out: &mut Vec<u8>) {
    put_int32(out, 0);
}

/// Reads one token (a literal token includes its data).
pub fn decode_token<'a>(c: &mut ReadCursor<'a>) -> Decoded<Token<'a>> {
    let n = c.i32()?;
    if n == 0 {
        return Ok(Token::End);
    }
    if n < 0 {
        let block = n
            .checked_neg()
            .map(|v| v - 1)
            .ok_or_else(|| WireError::protocol("Invalid token"))?;
        return Ok(Token::Copy(block as u32));
    }
    if n > MAX_LITERAL_LEN {
        return Err(WireError::protocol(format!("literal run too long: {n}")).into());
    }
    Ok(Token::Literal(c.take(n as usize)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_delta_decodes() {
        let mut v = vec![0xff, 0xff, 0xff, 0xff, 0xbc, 0x02, 0, 0];
        v.extend(std::iter::repeat_n(7u8, 700));
        v.extend([0xfd, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let mut c = ReadCursor::new(&v);
        assert_eq!(decode_token(&mut c).ok(), Some(Token::Copy(0)));
        assert!(matches!(decode_token(&mut c), Ok(Token::Literal(d)) if d.len() == 700));
        assert_eq!(decode_token(&mut c).ok(), Some(Token::Copy(2)));
        assert_eq!(decode_token(&mut c).ok(), Some(Token::End));
        assert!(decode_token(&mut ReadCursor::new(&i32::MIN.to_le_bytes())).is_err());
    }
}
