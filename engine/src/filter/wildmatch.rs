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
        return match trailing_components(text, where_.unsigned_abs() as usize) {
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
    for tail in after_slashes(text) {
        match do_match(pattern, tail, &mut steps) {
            Outcome::Match => return true,
            Outcome::NoMatch | Outcome::AbortToStarStar => {}
            Outcome::AbortAll => return false,
        }
    }
    false
}

/// Literal comparison with the same `where_` rules as [`wildmatch_where`].
pub(crate) fn litmatch_where(pattern: &[u8], text: &[u8], where_: i32) -> bool {
    if where_ > 0 {
        return trailing_components(text, where_.unsigned_abs() as usize) == Some(pattern);
    }
    if text == pattern {
        return true;
    }
    if where_ < 0 {
        return after_slashes(text).any(|tail| tail == pattern);
    }
    false
}

/// The part of `text` after each of its `/`, left to right.
fn after_slashes(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'/')
        .filter_map(move |(at, _)| text.get(at + 1..))
}

/// The last `n` (at least 1) `/`-separated components of `text`, or `None` if it has fewer.
fn trailing_components(text: &[u8], n: usize) -> Option<&[u8]> {
    // Drop the last `n - 1` components; the answer starts after the last `/` of what is left.
    let mut head = text;
    for _ in 1..n {
        let at = head.iter().rposition(|&c| c == b'/')?;
        head = head.get(..at)?;
    }
    match head.iter().rposition(|&c| c == b'/') {
        Some(at) => text.get(at + 1..),
        None => Some(text),
    }
}

fn do_match(pattern: &[u8], text: &[u8], steps: &mut u32) -> Outcome {
    *steps += 1;
    if *steps > MAX_STEPS {
        return Outcome::AbortAll;
    }
    let mut pattern = pattern;
    let mut text = text;
    while let Some((&pc, p_next)) = pattern.split_first() {
        if pc == b'*' {
            return match_star(p_next, text, steps);
        }
        let Some((&tc, t_next)) = text.split_first() else {
            return Outcome::AbortAll;
        };
        pattern = match pc {
            b'\\' => match p_next.split_first() {
                Some((&lit, after)) if lit == tc => after,
                _ => return Outcome::NoMatch,
            },
            b'?' => {
                if tc == b'/' {
                    return Outcome::NoMatch;
                }
                p_next
            }
            b'[' => match match_class(p_next, tc) {
                Some((true, after)) => after,
                Some((false, _)) => return Outcome::NoMatch,
                None => return Outcome::AbortAll,
            },
            lit => {
                if lit != tc {
                    return Outcome::NoMatch;
                }
                p_next
            }
        };
        text = t_next;
    }
    if text.is_empty() {
        Outcome::Match
    } else {
        Outcome::NoMatch
    }
}

/// Matches a `*` run against `text`: `after_star` is the pattern after its first `*`.
fn match_star(after_star: &[u8], text: &[u8], steps: &mut u32) -> Outcome {
    let double = after_star.first() == Some(&b'*');
    let mut rest = after_star;
    while let Some(r) = rest.strip_prefix(b"*") {
        rest = r;
    }
    if rest.is_empty() {
        if !double && text.contains(&b'/') {
            return Outcome::NoMatch;
        }
        return Outcome::Match;
    }
    let mut tail = text;
    loop {
        let r = do_match(rest, tail, steps);
        let Some((&c, t_next)) = tail.split_first() else {
            // Only an empty remainder could still match, and it was tried just now.
            return if r == Outcome::Match {
                r
            } else {
                Outcome::AbortAll
            };
        };
        match r {
            Outcome::NoMatch => {
                if !double && c == b'/' {
                    return Outcome::AbortToStarStar;
                }
            }
            Outcome::AbortToStarStar if double => {}
            other => return other,
        }
        tail = t_next;
    }
}

/// Matches `c` against the class whose text (after the opening `[`) starts `class`. Returns
/// whether it matched and the pattern after the closing `]`, or `None` for an unterminated
/// class.
fn match_class(class: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negate, mut p) = match class.split_first() {
        Some((b'!' | b'^', rest)) => (true, rest),
        _ => (false, class),
    };
    let mut matched = false;
    let mut prev: Option<u8> = None;
    let mut first = true;
    loop {
        let (&pc, mut next) = p.split_first()?;
        if pc == b']' && !first {
            return Some((matched != negate, next));
        }
        first = false;
        if pc == b'\\' {
            let (&lit, after) = next.split_first()?;
            if lit == c {
                matched = true;
            }
            prev = Some(lit);
            next = after;
        } else if pc == b'-' && prev.is_some() && next.first().is_some_and(|&n| n != b']') {
            let (&hi, after) = next.split_first()?;
            let (hi, after) = if hi == b'\\' {
                let (&hi, after) = after.split_first()?;
                (hi, after)
            } else {
                (hi, after)
            };
            let lo = prev.unwrap_or(0);
            if c >= lo && c <= hi {
                matched = true;
            }
            prev = None;
            next = after;
        } else if pc == b'['
            && let Some(names) = next.strip_prefix(b":")
        {
            match split_at_class_end(names) {
                Some((name, after)) => {
                    if class_matches(name, c) {
                        matched = true;
                    }
                    prev = None;
                    next = after;
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
        p = next;
    }
}

/// Splits `text` at its first `:]`: the class name before it and the pattern after it.
fn split_at_class_end(text: &[u8]) -> Option<(&[u8], &[u8])> {
    (0..text.len()).find_map(|at| {
        let (name, rest) = text.split_at_checked(at)?;
        Some((name, rest.strip_prefix(b":]")?))
    })
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
