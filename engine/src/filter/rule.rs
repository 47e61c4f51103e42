//! One filter rule and rsync's rule syntax (`+ pat`, `- pat`, `include pat`, `merge file`,
//! `dir-merge file`, `protect`, `risk`, `hide`, `show`, `!`, with modifiers).

use super::wildmatch::{litmatch_where, wildmatch_where};

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// `+`: include.
    Include,
    /// `-`: exclude.
    Exclude,
    /// `.`: read more rules from a file now.
    Merge,
    /// `:`: read rules from a file in every directory.
    DirMerge,
    /// `!`: clear the list.
    Clear,
}

/// How the text of a rule is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSyntax {
    /// `--filter`/`-f` and merge files: a rule prefix is required.
    Filter,
    /// `--exclude`/`--exclude-from`: a plain pattern, or `+ `/`- ` prefixed.
    Exclude,
    /// `--include`/`--include-from`: a plain pattern, or `+ `/`- ` prefixed.
    Include,
}

/// A filter rule that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Unknown rule prefix or modifier.
    #[error("Unknown filter rule: {0}")]
    Unknown(String),
    /// A rule that needs a pattern had none.
    #[error("unexpected end of filter rule: {0}")]
    Invalid(String),
    /// A bad rule in a merge file (`<rule from PATH line N>`).
    #[error("{what}: <rule from {} line {line}>", String::from_utf8_lossy(.path))]
    InFile {
        /// rsync's description of the problem.
        what: &'static str,
        /// The merge file.
        path: Vec<u8>,
        /// The 1-based line number.
        line: usize,
    },
    /// A merge file could not be read.
    #[error("failed to open filter file {0}: {1}")]
    File(String, String),
}

/// One parsed filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRule {
    /// What the rule does.
    pub action: RuleAction,
    /// The pattern (without a trailing `/`; a leading `/` means anchored), or the merge-file
    /// name for merge rules.
    pub pattern: Vec<u8>,
    /// Matches directories only (pattern ended in `/`).
    pub dir_only: bool,
    /// `!` modifier: matches when the pattern does not.
    pub negate: bool,
    /// Applies on the sending side (filters what is transferred).
    pub sender: bool,
    /// Applies on the receiving side (protects from deletion).
    pub receiver: bool,
    /// Directory (relative to the transfer root) whose per-directory merge file produced the
    /// rule; anchored patterns are relative to it.
    pub base: Vec<u8>,
    /// For merge rules: every rule in the file is an exclude (`-`) or include (`+`).
    pub merge_default: Option<RuleAction>,
    /// For dir-merge rules: also exclude the merge file itself (`e`).
    pub exclude_self: bool,
    /// For dir-merge rules: the rules are not inherited by sub-directories (`n`).
    pub no_inherit: bool,
    /// For merge rules: split on whitespace (`w`).
    pub word_split: bool,
}

impl FilterRule {
    fn new(action: RuleAction, pattern: &[u8]) -> Self {
        let (pattern, dir_only) = match pattern.strip_suffix(b"/") {
            Some(stripped) if !stripped.is_empty() => (stripped, true),
            _ => (pattern, false),
        };
        Self {
            action,
            pattern: pattern.to_vec(),
            dir_only,
            negate: false,
            sender: true,
            receiver: true,
            base: Vec::new(),
            merge_default: None,
            exclude_self: false,
            no_inherit: false,
            word_split: false,
        }
    }

    /// Whether the rule matches `path` (relative to the transfer root).
    pub fn matches(&self, path: &[u8], is_dir: bool) -> bool {
        let name = if self.base.is_empty() {
            path
        } else {
            match path
                .strip_prefix(self.base.as_slice())
                .and_then(|rest| rest.strip_prefix(b"/"))
            {
                Some(rest) => rest,
                None => return false,
            }
        };
        if name.is_empty() {
            return false;
        }
        let hit = !self.negate;
        let pat = self.pattern.as_slice();
        let slash_cnt = pat.iter().filter(|&&c| c == b'/').count();
        let wild = pat.iter().any(|c| matches!(c, b'*' | b'[' | b'?'));
        let double = wild && pat.windows(2).any(|w| w == b"**");
        let double_prefix = double && pat.starts_with(b"**");
        let triple_suffix = double && pat.ends_with(b"***");

        let mut text: Vec<u8> = Vec::with_capacity(name.len() + 2);
        if slash_cnt == 0 && !double {
            // The last component (`rsplit` always yields at least one piece).
            let base = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
            text.extend_from_slice(base);
        } else {
            if double_prefix {
                text.push(b'/');
            }
            text.extend_from_slice(name);
        }
        if is_dir {
            if triple_suffix {
                text.push(b'/');
            }
        } else if self.dir_only {
            return !hit;
        }
        let (anchored, pat) = match pat.strip_prefix(b"/") {
            Some(rest) => (true, rest),
            None => (false, pat),
        };
        let where_ = if !anchored && slash_cnt > 0 && !double {
            i32::try_from(slash_cnt + 1).unwrap_or(i32::MAX)
        } else if !anchored && !double_prefix && double {
            -1
        } else {
            0
        };
        let matched = if wild {
            wildmatch_where(pat, &text, where_)
        } else if text.len() != name.len() || anchored {
            litmatch_where(pat, &text, where_)
        } else {
            // The pattern is the whole text or a `/`-separated tail of it.
            match text.strip_suffix(pat) {
                Some(head) => head.is_empty() || head.ends_with(b"/"),
                None => false,
            }
        };
        if matched { hit } else { !hit }
    }

    /// Parses one rule in `syntax`. Returns `Ok(None)` for blank lines and comments.
    pub fn parse(text: &[u8], syntax: RuleSyntax) -> Result<Option<FilterRule>, FilterError> {
        let shown = || String::from_utf8_lossy(text).into_owned();
        if syntax != RuleSyntax::Filter {
            let default = if syntax == RuleSyntax::Exclude {
                RuleAction::Exclude
            } else {
                RuleAction::Include
            };
            if let Some(rest) = text.strip_prefix(b"- ") {
                return Ok(Some(Self::new(RuleAction::Exclude, rest)));
            }
            if let Some(rest) = text.strip_prefix(b"+ ") {
                return Ok(Some(Self::new(RuleAction::Include, rest)));
            }
            if text == b"!" {
                return Ok(Some(Self::new(RuleAction::Clear, b"")));
            }
            if text.is_empty() {
                return Ok(None);
            }
            return Ok(Some(Self::new(default, text)));
        }
        let Some((&first, after_first)) = text.split_first() else {
            return Ok(None);
        };
        // The rule name: a long word or a single character.
        let (word, after_word) = split_rule_word(text);
        let long = match word {
            b"include" => Some((RuleAction::Include, None)),
            b"exclude" => Some((RuleAction::Exclude, None)),
            b"merge" => Some((RuleAction::Merge, None)),
            b"dir-merge" => Some((RuleAction::DirMerge, None)),
            b"hide" => Some((RuleAction::Exclude, Some(Side::Sender))),
            b"show" => Some((RuleAction::Include, Some(Side::Sender))),
            b"protect" => Some((RuleAction::Exclude, Some(Side::Receiver))),
            b"risk" => Some((RuleAction::Include, Some(Side::Receiver))),
            b"clear" => Some((RuleAction::Clear, None)),
            _ => None,
        };
        let (action, side, mut rest) = match long {
            Some((a, s)) => (a, s, after_word.strip_prefix(b",").unwrap_or(after_word)),
            None => {
                let (a, s) = match first {
                    b'+' => (RuleAction::Include, None),
                    b'-' => (RuleAction::Exclude, None),
                    b'.' => (RuleAction::Merge, None),
                    b':' => (RuleAction::DirMerge, None),
                    b'H' => (RuleAction::Exclude, Some(Side::Sender)),
                    b'S' => (RuleAction::Include, Some(Side::Sender)),
                    b'P' => (RuleAction::Exclude, Some(Side::Receiver)),
                    b'R' => (RuleAction::Include, Some(Side::Receiver)),
                    b'!' => (RuleAction::Clear, None),
                    _ => return Err(FilterError::Unknown(shown())),
                };
                (a, s, after_first.strip_prefix(b",").unwrap_or(after_first))
            }
        };
        let mut rule = Self::new(action, b"");
        let mut sender_only = side == Some(Side::Sender);
        let mut receiver_only = side == Some(Side::Receiver);
        // Modifiers, up to the separating space or underscore.
        while let Some((&c, after)) = rest.split_first() {
            if c == b' ' || c == b'_' {
                rest = after;
                break;
            }
            let is_merge = matches!(action, RuleAction::Merge | RuleAction::DirMerge);
            match c {
                b'!' if !is_merge => rule.negate = true,
                b'/' if !is_merge => {}
                b's' => sender_only = true,
                b'r' => receiver_only = true,
                b'p' | b'x' | b'C' => {}
                b'-' if is_merge => rule.merge_default = Some(RuleAction::Exclude),
                b'+' if is_merge => rule.merge_default = Some(RuleAction::Include),
                b'e' if is_merge => rule.exclude_self = true,
                b'n' if is_merge => rule.no_inherit = true,
                b'w' if is_merge => rule.word_split = true,
                _ => return Err(FilterError::Unknown(shown())),
            }
            rest = after;
        }
        if action == RuleAction::Clear {
            return Ok(Some(rule));
        }
        if rest.is_empty() {
            return Err(FilterError::Invalid(shown()));
        }
        let mut parsed = Self::new(action, rest);
        parsed.negate = rule.negate;
        parsed.merge_default = rule.merge_default;
        parsed.exclude_self = rule.exclude_self;
        parsed.no_inherit = rule.no_inherit;
        parsed.word_split = rule.word_split;
        if sender_only && !receiver_only {
            parsed.receiver = false;
        }
        if receiver_only && !sender_only {
            parsed.sender = false;
        }
        Ok(Some(parsed))
    }
}

/// Splits a filter rule at the end of its name (the first ` `, `_` or `,`, which stays with
/// the rest).
fn split_rule_word(text: &[u8]) -> (&[u8], &[u8]) {
    text.iter()
        .position(|&c| c == b' ' || c == b'_' || c == b',')
        .and_then(|at| text.split_at_checked(at))
        .unwrap_or((text, b""))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
}

/// Parses the lines of a merge or `--exclude-from` file. `;` and `#` start comment lines.
pub fn parse_rules(
    content: &[u8],
    syntax: RuleSyntax,
    default: Option<RuleAction>,
    word_split: bool,
) -> Result<Vec<FilterRule>, FilterError> {
    parse_rules_impl(content, syntax, default, word_split).map_err(|(e, _)| e)
}

/// [`parse_rules`] for the merge file `path`: errors name the file and line as rsync does.
pub fn parse_rules_from(
    content: &[u8],
    syntax: RuleSyntax,
    default: Option<RuleAction>,
    word_split: bool,
    path: &[u8],
) -> Result<Vec<FilterRule>, FilterError> {
    parse_rules_impl(content, syntax, default, word_split).map_err(|(e, line)| {
        let what = match e {
            FilterError::Invalid(_) => "unexpected end of filter rule",
            _ => "Unknown filter rule",
        };
        FilterError::InFile {
            what,
            path: path.to_vec(),
            line,
        }
    })
}

fn parse_rules_impl(
    content: &[u8],
    syntax: RuleSyntax,
    default: Option<RuleAction>,
    word_split: bool,
) -> Result<Vec<FilterRule>, (FilterError, usize)> {
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if word_split {
        content
            .split(|c| c.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .collect()
    } else {
        content.split(|&c| c == b'\n' || c == b'\r').collect()
    };
    for (n, line) in pieces.into_iter().enumerate() {
        if matches!(line.first(), None | Some(b'#' | b';')) {
            continue;
        }
        let parsed = match default {
            Some(RuleAction::Include) => FilterRule::parse(line, RuleSyntax::Include).map(|r| {
                r.map(|mut r| {
                    r.action = RuleAction::Include;
                    r
                })
            }),
            Some(_) => FilterRule::parse(line, RuleSyntax::Exclude).map(|r| {
                r.map(|mut r| {
                    r.action = RuleAction::Exclude;
                    r
                })
            }),
            None => FilterRule::parse(line, syntax),
        };
        let rule = parsed.map_err(|e| (e, n + 1))?;
        if let Some(r) = rule {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(s: &str) -> FilterRule {
        match FilterRule::parse(s.as_bytes(), RuleSyntax::Filter) {
            Ok(Some(r)) => r,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn parses_prefixes() {
        let r = rule("- *.o");
        assert_eq!(r.action, RuleAction::Exclude);
        assert_eq!(r.pattern, b"*.o");
        let r = rule("+ /foo/");
        assert_eq!(r.action, RuleAction::Include);
        assert!(r.dir_only);
        assert_eq!(r.pattern, b"/foo");
        let r = rule("dir-merge /.rsync-filter");
        assert_eq!(r.action, RuleAction::DirMerge);
        let r = rule("P keep");
        assert!(!r.sender && r.receiver);
        assert!(FilterRule::parse(b"x foo", RuleSyntax::Filter).is_err());
        assert!(FilterRule::parse(b"-", RuleSyntax::Filter).is_err());
    }

    #[test]
    fn matching() {
        assert!(rule("- *.o").matches(b"a/b/c.o", false));
        assert!(!rule("- /c.o").matches(b"a/c.o", false));
        assert!(rule("- /a/c.o").matches(b"a/c.o", false));
        assert!(rule("- b/c.o").matches(b"a/b/c.o", false));
        assert!(!rule("- b/c.o").matches(b"a/xb/c.o", false));
        assert!(!rule("- tmp/").matches(b"tmp", false));
        assert!(rule("- tmp/").matches(b"x/tmp", true));
        assert!(rule("+ d/***").matches(b"d", true));
        assert!(rule("+ d/***").matches(b"d/e/f", false));
        assert!(rule("- **/x").matches(b"x", false));
        assert!(rule("- a/**/x").matches(b"q/a/b/c/x", false));
        assert!(rule("-! *.c").matches(b"a.h", false));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = FilterRule::parse(&s, RuleSyntax::Filter);
            let _ = FilterRule::parse(&s, RuleSyntax::Exclude);
            let _ = parse_rules(&s, RuleSyntax::Filter, None, false);
        }

        #[test]
        fn matcher_never_panics(p in "[-+] [a-z*?/\\[\\]!]{1,12}", path in "[a-z/]{0,16}", d: bool) {
            if let Ok(Some(r)) = FilterRule::parse(p.as_bytes(), RuleSyntax::Filter) {
                let _ = r.matches(path.as_bytes(), d);
            }
        }
    }
}
