//! rsync's escaping of file names in output: control characters (except tab) and bytes that
//! are not part of valid UTF-8 become `\#ooo`.

/// Escapes `name` the way rsync 3.5.0 prints it.
pub fn escape_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let c = name[i];
        if c < 0x80 {
            if c < 0x20 && c != b'\t' {
                push_octal(&mut out, c);
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let len = utf8_len(&name[i..]);
        if len > 0 {
            out.extend_from_slice(&name[i..i + len]);
            i += len;
        } else {
            push_octal(&mut out, c);
            i += 1;
        }
    }
    out
}

fn push_octal(out: &mut Vec<u8>, c: u8) {
    out.extend_from_slice(format!("\\#{c:03o}").as_bytes());
}

/// Length of the valid UTF-8 sequence starting at `s[0]` (a non-ASCII byte), or 0.
fn utf8_len(s: &[u8]) -> usize {
    for len in 2..=4 {
        if s.len() >= len
            && let Ok(text) = std::str::from_utf8(&s[..len])
        {
            // A C1 control character is not printable either.
            if text.chars().all(|ch| !ch.is_control()) {
                return len;
            }
            return 0;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_rsync() {
        assert_eq!(escape_name(b"a\nb"), b"a\\#012b");
        assert_eq!(escape_name(b"tab\tx"), b"tab\tx");
        assert_eq!(escape_name("ü".as_bytes()), "ü".as_bytes());
        assert_eq!(escape_name(b"c\x9bx"), b"c\\#233x");
        assert_eq!(escape_name(b"c\x7fx"), b"c\x7fx");
    }
}
