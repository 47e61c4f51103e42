//! The filter (exclude) list the client sends (`exclude.c: send_filter_list`):
//! int32 length + rule text per rule, terminated by int32 0.

use crate::codec::{ReadCursor, put_int32};
use crate::error::{Decoded, WireError};

/// Longest rule we accept when decoding.
pub const MAX_RULE_LEN: usize = 4096 + 16;
/// Most rules we accept when decoding.
pub const MAX_RULES: usize = 1 << 16;

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterRule {
    /// `- pattern`
    Exclude(String),
    /// `+ pattern`
    Include(String),
}

impl FilterRule {
    /// The rule text for `protocol` (plain `- `/`+ ` prefixes are valid in 27–32).
    pub fn text(&self) -> String {
        match self {
            FilterRule::Exclude(p) => format!("- {p}"),
            FilterRule::Include(p) => format!("+ {p}"),
        }
    }
}

/// Appends the list and its terminator.
pub fn encode_filter_list(out: &mut Vec<u8>, rules: &[FilterRule]) {
    for r in rules {
        let t = r.text();
        put_int32(out, t.len() as i32);
        out.extend_from_slice(t.as_bytes());
    }
    put_int32(out, 0);
}

/// Reads a whole list (used by tests and the fuzzer; a client never receives one).
pub fn decode_filter_list(c: &mut ReadCursor<'_>) -> Decoded<Vec<Vec<u8>>> {
    let mut rules = Vec::new();
    loop {
        let len = c.i32()?;
        if len == 0 {
            return Ok(rules);
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RULE_LEN)
            .ok_or_else(|| WireError::protocol(format!("invalid filter rule length {len}")))?;
        rules.push(c.take(len)?.to_vec());
        if rules.len() > MAX_RULES {
            return Err(WireError::protocol("too many filter rules").into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_captured_bytes() {
        let mut out = Vec::new();
        encode_filter_list(
            &mut out,
            &[
                FilterRule::Exclude("*.o".into()),
                FilterRule::Include("foo".into()),
            ],
        );
        assert_eq!(&out[..9], b"\x05\x00\x00\x00- *.o");
        let got = decode_filter_list(&mut ReadCursor::new(&out)).ok();
        assert_eq!(got, Some(vec![b"- *.o".to_vec(), b"+ foo".to_vec()]));
    }
}
