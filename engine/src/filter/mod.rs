//! rsync's filter rules: the parser ([`FilterRule::parse`], [`parse_rules`]), the matcher
//! ([`wildmatch`], [`FilterRule::matches`]) and the per-directory rule chain ([`FilterChain`])
//! that handles `dir-merge` files such as `.rsync-filter`.
#![deny(clippy::indexing_slicing)]

mod chain;
mod rule;
mod wildmatch;

pub use chain::FilterChain;
pub use rule::{FilterError, FilterRule, RuleAction, RuleSyntax, parse_rules, parse_rules_from};
pub use wildmatch::wildmatch;

#[cfg(test)]
mod tests {
    use super::wildmatch::{litmatch_where, wildmatch_where};
    use super::*;
    use proptest::prelude::*;

    /// An obviously correct matcher for patterns of literals, `?`, `*` and `**` (no classes,
    /// no escapes): plain backtracking over every split of the text.
    fn reference(pattern: &[u8], text: &[u8]) -> bool {
        match pattern {
            [] => text.is_empty(),
            [b'*', b'*', rest @ ..] => {
                let mut rest = rest;
                while let Some(r) = rest.strip_prefix(b"*") {
                    rest = r;
                }
                (0..=text.len())
                    .filter_map(|at| text.get(at..))
                    .any(|tail| reference(rest, tail))
            }
            [b'*', rest @ ..] => (0..=text.len())
                .filter_map(|at| text.split_at_checked(at))
                .take_while(|(head, _)| !head.contains(&b'/'))
                .any(|(_, tail)| reference(rest, tail)),
            [b'?', rest @ ..] => {
                matches!(text, [c, tail @ ..] if *c != b'/' && reference(rest, tail))
            }
            [p, rest @ ..] => matches!(text, [c, tail @ ..] if c == p && reference(rest, tail)),
        }
    }

    /// The last `n` components of `text`, if it has that many.
    fn reference_trailing(text: &[u8], n: usize) -> Option<Vec<u8>> {
        let parts: Vec<&[u8]> = text.split(|&c| c == b'/').collect();
        let skip = parts.len().checked_sub(n)?;
        Some(parts.get(skip..)?.join(&b'/'))
    }

    /// [`wildmatch_where`] by its definition, on top of [`reference`].
    fn reference_where(pattern: &[u8], text: &[u8], where_: i32) -> bool {
        if where_ > 0 {
            return reference_trailing(text, where_.unsigned_abs() as usize)
                .is_some_and(|t| reference(pattern, &t));
        }
        reference(pattern, text)
            || (where_ < 0
                && (0..text.len())
                    .filter(|&at| text.get(at) == Some(&b'/'))
                    .filter_map(|at| text.get(at + 1..))
                    .any(|tail| reference(pattern, tail)))
    }

    fn from(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(alphabet), 0..max)
    }

    /// Rule-shaped bytes: a rule name (short or long), an optional `,`, any modifiers, a
    /// separator, and a pattern rich in classes, escapes and wildcards.
    fn rule_text() -> impl Strategy<Value = Vec<u8>> {
        let names: Vec<&'static [u8]> = vec![
            b"+",
            b"-",
            b".",
            b":",
            b"H",
            b"S",
            b"P",
            b"R",
            b"!",
            b"include",
            b"exclude",
            b"merge",
            b"dir-merge",
            b"hide",
            b"show",
            b"protect",
            b"risk",
            b"clear",
            b"x",
            b"",
        ];
        (
            proptest::sample::select(names),
            any::<bool>(),
            from(b"!/srpxC-+enwq", 6),
            proptest::sample::select(vec![&b" "[..], b"_", b"", b"  "]),
            from(b"ab/*?[]!^-\\:.", 16),
            proptest::option::of(proptest::sample::select(vec![
                &b"[:alpha:]"[..],
                b"[[:digit:]x]",
                b"[!a-]",
                b"[]-]",
                b"[\\]]",
                b"[a-\\z]",
                b"[[:",
                b"[:bogus:]",
                b"/***",
                b"**/",
                b"/",
            ])),
        )
            .prop_map(|(name, comma, mods, sep, pat, extra)| {
                let mut v = name.to_vec();
                if comma {
                    v.push(b',');
                }
                v.extend(mods);
                v.extend_from_slice(sep);
                v.extend(pat);
                v.extend_from_slice(extra.unwrap_or_default());
                v
            })
    }

    fn exercise(text: &[u8], paths: &[Vec<u8>]) {
        for syntax in [RuleSyntax::Filter, RuleSyntax::Exclude, RuleSyntax::Include] {
            if let Ok(Some(mut rule)) = FilterRule::parse(text, syntax) {
                for base in [&b""[..], b"a", b"a/b"] {
                    rule.base = base.to_vec();
                    for path in paths {
                        let _ = rule.matches(path, false);
                        let _ = rule.matches(path, true);
                    }
                }
            }
        }
        for default in [None, Some(RuleAction::Include), Some(RuleAction::Exclude)] {
            for split in [false, true] {
                let _ = parse_rules(text, RuleSyntax::Filter, default, split);
                let _ = parse_rules_from(text, RuleSyntax::Exclude, default, split, b"f");
            }
        }
        for path in paths {
            let _ = wildmatch(text, path);
            for where_ in [-1, 0, 1, 3] {
                let _ = wildmatch_where(text, path, where_);
                let _ = litmatch_where(text, path, where_);
            }
        }
    }

    proptest! {
        #[test]
        fn parse_and_match_never_panic_on_bytes(
            text in proptest::collection::vec(any::<u8>(), 0..48),
            paths in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..4),
        ) {
            exercise(&text, &paths);
        }

        #[test]
        fn parse_and_match_never_panic_on_rules(
            text in rule_text(),
            paths in proptest::collection::vec(from(b"ab/[]:-\\.", 14), 0..4),
        ) {
            exercise(&text, &paths);
            let lines = [&text[..], b"\n", &text[..], b"\r- x\n"].concat();
            exercise(&lines, &paths);
        }

        #[test]
        fn wildmatch_agrees_with_reference(
            pattern in from(b"ab/?*", 9),
            text in from(b"ab/", 9),
            where_ in -1i32..4,
        ) {
            prop_assert_eq!(wildmatch(&pattern, &text), reference(&pattern, &text));
            prop_assert_eq!(
                wildmatch_where(&pattern, &text, where_),
                reference_where(&pattern, &text, where_)
            );
        }
    }
}
