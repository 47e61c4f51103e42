//! rsync's wildcard matcher: `*` (not across `/`), `**` (across `/`), `?`, `[...]` classes
//! (with `!`/`^` negation, ranges and `[:name:]`), and `\` escapes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    /// No later start position can match either.
    AbortAll,
    /// Only a `**` further out may still match.
    AbortToStarStar,
}

/// Maximum recursion work before giving up (bounds pathological patterns).
const MAX_STEPS: u32 = 1_000_000;

/// Whether `pattern` matches the whole of `text`.
pub fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    let mut steps = 0;
    do_match(pattern, text, &mut steps) == Outcome::Match
}

/// Matches `pattern` against `text`, trying only the start (`where_ == 0`), the last `n`
/// components (`where_ == n > 0`), or the start and every position after a `/` (`where_ < 0`).
pub(crate) fn wildmatch_where(pattern: &[u8], text: &[u8], where_: i32) -> bool {
    let mut steps = 0;
    if where_ > 0 {
        return match trailing_components(text, where_ as usize) {
            Some(t) => do_match(pattern, t, &mut steps) == Outcome::Match,
            None => false,
        };
    }
    let first = do_match(pattern, text, &mut steps);
    if first == Outcome::Match {
        return true;
    }
    if where_ == 0 || first == Outcome::AbortAll {
        return false;
    }
    for (i, &c) in text.iter().enumerate() {
        if c == b'/' {
            match do_match(pattern, &text[i + 1..], &mut steps) {
                Outcome::Match => return true,
                Outcome::NoMatch | Outcome::AbortToStarStar => {}
                Outcome::AbortAll => return false,
            }
        }
    }
    false
}

/// Literal comparison with the same `where_` rules as [`wildmatch_where`].
pub(crate) fn litmatch_where(pattern: &[u8], text: &[u8], where_: i32) -> bool {
    if where_ > 0 {
        return trailing_components(text, where_ as usize) == Some(pattern);
    }
    if text == pattern {
        return true;
    }
    if where_ < 0 {
        return text
            .iter()
            .enumerate()
            .any(|(i, &c)| c == b'/' && &text[i + 1..] == pattern);
    }
    false
}

/// The last `n` `/`-separated components of `text`, or `None` if it has fewer.
fn trailing_components(text: &[u8], n: usize) -> Option<&[u8]> {
    let mut count = n;
    for i in (0..text.len()).rev() {
        if text[i] == b'/' {
            count -= 1;
            if count == 0 {
                return Some(&text[i + 1..]);
            }
        }
    }
    if count == 1 { Some(text) } else { None }
}

fn do_match(pattern: &[u8], text: &[u8], steps: &mut u32) -> Outcome {
    *steps += 1;
    if *steps > MAX_STEPS {
        return Outcome::AbortAll;
    }
    let mut p = 0;
    let mut t = 0;
    while p < pattern.len() {
        let pc = pattern[p];
        if t >= text.len() && pc != b'*' {
            return Outcome::AbortAll;
        }
        match pc {
            b'\\' => {
                p += 1;
                match pattern.get(p) {
                    Some(&lit) if lit == text[t] => {}
                    _ => return Outcome::NoMatch,
                }
            }
            b'?' => {
                if text[t] == b'/' {
                    return Outcome::NoMatch;
                }
            }
            b'*' => {
                let mut q = p + 1;
                let double = pattern.get(q) == Some(&b'*');
                while pattern.get(q) == Some(&b'*') {
                    q += 1;
                }
                let rest = &pattern[q..];
                if rest.is_empty() {
                    if !double && text[t..].contains(&b'/') {
                        return Outcome::NoMatch;
                    }
                    return Outcome::Match;
                }
                let mut i = t;
                loop {
                    if i > text.len() {
                        break;
                    }
                    if i == text.len() {
                        // Only an empty remainder could still match; try it once.
                        let r = do_match(rest, &text[i..], steps);
                        return if r == Outcome::Match {
                            r
                        } else {
                            Outcome::AbortAll
                        };
                    }
                    let r = do_match(rest, &text[i..], steps);
                    match r {
                        Outcome::NoMatch => {
                            if !double && text[i] == b'/' {
                                return Outcome::AbortToStarStar;
                            }
                        }
                        Outcome::AbortToStarStar if double => {}
                        other => return other,
                    }
                    i += 1;
                }
                return Outcome::AbortAll;
            }
            b'[' => match match_class(pattern, p, text[t]) {
                Some((true, next)) => p = next,
                Some((false, _)) => return Outcome::NoMatch,
                None => return Outcome::AbortAll,
            },
            lit => {
                if lit != text[t] {
                    return Outcome::NoMatch;
                }
            }
        }
        p += 1;
        t += 1;
    }
    if t == text.len() {
        Outcome::Match
    } else {
        Outcome::NoMatch
    }
}

/// Matches `c` against the class starting at `pattern[start] == '['`. Returns whether it
/// matched and the index of the closing `]`, or `None` for an unterminated class.
fn match_class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut p = start + 1;
    let mut negate = false;
    if matches!(pattern.get(p), Some(b'!') | Some(b'^')) {
        negate = true;
        p += 1;
    }
    let mut matched = false;
    let mut prev: Option<u8> = None;
    let mut first = true;
    loop {
        let pc = *pattern.get(p)?;
        if pc == b']' && !first {
            break;
        }
        first = false;
        if pc == b'\\' {
            p += 1;
            let lit = *pattern.get(p)?;
            if lit == c {
                matched = true;
            }
            prev = Some(lit);
        } else if pc == b'-' && prev.is_some() && pattern.get(p + 1).is_some_and(|&n| n != b']') {
            p += 1;
            let mut hi = *pattern.get(p)?;
            if hi == b'\\' {
                p += 1;
                hi = *pattern.get(p)?;
            }
            let lo = prev.unwrap_or(0);
            if c >= lo && c <= hi {
                matched = true;
            }
            prev = None;
        } else if pc == b'[' && pattern.get(p + 1) == Some(&b':') {
            let name_start = p + 2;
            let close = pattern[name_start..].windows(2).position(|w| w == b":]");
            match close {
                Some(len) => {
                    let name = &pattern[name_start..name_start + len];
                    if class_matches(name, c) {
                        matched = true;
                    }
                    p = name_start + len + 1;
                    prev = None;
                }
                None => {
                    if c == b'[' {
                        matched = true;
                    }
                    prev = Some(b'[');
                }
            }
        } else {
            if pc == c {
                matched = true;
            }
            prev = Some(pc);
        }
        p += 1;
    }
    Some((matched != negate, p))
}

fn class_matches(name: &[u8], c: u8) -> bool {
    match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => c.is_ascii_whitespace() || c == 0x0b,
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basics() {
        assert!(wildmatch(b"*.o", b"a.o"));
        assert!(!wildmatch(b"*.o", b"d/a.o"));
        assert!(wildmatch(b"**.o", b"d/a.o"));
        assert!(wildmatch(b"a?c", b"abc"));
        assert!(!wildmatch(b"a?c", b"a/c"));
        assert!(wildmatch(b"[a-c]x", b"bx"));
        assert!(!wildmatch(b"[!a-c]x", b"bx"));
        assert!(wildmatch(b"[[:digit:]]", b"7"));
        assert!(wildmatch(b"d/**", b"d/x/y"));
        assert!(wildmatch(b"\\*", b"*"));
        assert!(!wildmatch(b"\\*", b"x"));
        assert!(wildmatch(b"foo/*/bar", b"foo/x/bar"));
        assert!(!wildmatch(b"foo/*/bar", b"foo/x/y/bar"));
        assert!(wildmatch(b"foo/**/bar", b"foo/x/y/bar"));
    }

    #[test]
    fn where_modes() {
        assert!(wildmatch_where(b"b/*", b"a/b/c", 2));
        assert!(!wildmatch_where(b"b/*", b"b", 2));
        assert!(wildmatch_where(b"b/**", b"a/b/c/d", -1));
        assert!(litmatch_where(b"b/c", b"a/b/c", 2));
    }

    proptest! {
        #[test]
        fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..24),
                        t in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = wildmatch(&p, &t);
            let _ = wildmatch_where(&p, &t, -1);
            let _ = wildmatch_where(&p, &t, 2);
        }

        #[test]
        fn literal_patterns_match_themselves(t in "[a-z/._-]{0,20}") {
            prop_assert!(wildmatch(t.as_bytes(), t.as_bytes()));
        }

        #[test]
        fn star_star_matches_everything(t in proptest::collection::vec(any::<u8>(), 0..30)) {
            prop_assert!(wildmatch(b"**", &t));
        }
    }
}
