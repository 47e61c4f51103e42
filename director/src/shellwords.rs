//! POSIX shell word splitting and quoting.
//!
//! rsyncdirector joins every field into one `bash -c` string. We split the same strings with the
//! shell's quoting rules so that the common case (`"--exclude '.cache'"`) runs as an argv without a
//! shell, and fall back to a shell only when a field really uses shell features.

use thiserror::Error;

/// An error while splitting a string into words.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SplitError {
    /// A single or double quote was opened and never closed.
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
    /// The string ends with a lone backslash.
    #[error("trailing backslash in {0:?}")]
    TrailingBackslash(String),
}

/// Returns true if `s` uses shell features that an argv exec cannot reproduce: expansions,
/// command substitution, pipes, lists, redirections, globs, or a leading `~`.
///
/// Characters inside single quotes are literal and do not count; inside double quotes only `$`
/// and backticks count.
pub fn needs_shell(s: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut escaped = false;
    let mut word_start = true;
    for c in s.chars() {
        if escaped {
            escaped = false;
            word_start = false;
            continue;
        }
        if in_single {
            if c == '\'' {
                in_single = false;
            }
            continue;
        }
        if in_double {
            match c {
                '"' => in_double = false,
                '\\' => escaped = true,
                '$' | '`' => return true,
                _ => {}
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '\'' => in_single = true,
            '"' => in_double = true,
            '$' | '`' | ';' | '|' | '&' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | '{' | '\n'
            | '#' => {
                if c == '#' && !word_start {
                    word_start = false;
                    continue;
                }
                return true;
            }
            '~' if word_start => return true,
            _ => {}
        }
        word_start = c == ' ' || c == '\t';
    }
    false
}

/// Splits `s` into words with POSIX shell quoting rules (no expansions).
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut have_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if have_word {
                    words.push(std::mem::take(&mut cur));
                    have_word = false;
                }
            }
            '\\' => match chars.next() {
                Some(n) => {
                    cur.push(n);
                    have_word = true;
                }
                None => return Err(SplitError::TrailingBackslash(s.to_string())),
            },
            '\'' => {
                have_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(SplitError::UnterminatedQuote(s.to_string())),
                    }
                }
            }
            '"' => {
                have_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err(SplitError::UnterminatedQuote(s.to_string())),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(SplitError::UnterminatedQuote(s.to_string())),
                    }
                }
            }
            _ => {
                cur.push(c);
                have_word = true;
            }
        }
    }
    if have_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes one word for a POSIX shell. Plain words are returned unchanged.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Quotes every word and joins them with spaces, giving a string a shell would split back into
/// the same argv.
pub fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_upstream_opts() {
        assert_eq!(
            split("--exclude '.cache'").unwrap(),
            vec!["--exclude", ".cache"]
        );
        assert_eq!(split(r#"-e "ssh -p 22""#).unwrap(), vec!["-e", "ssh -p 22"]);
        assert_eq!(split(r"a\ b c").unwrap(), vec!["a b", "c"]);
        assert_eq!(split("''").unwrap(), vec![""]);
        assert!(split("'abc").is_err());
    }

    #[test]
    fn detects_shell_features() {
        assert!(!needs_shell("--exclude '.cache'"));
        assert!(!needs_shell("--exclude '*.tmp'"));
        assert!(needs_shell("--exclude *.tmp"));
        assert!(needs_shell("~/src"));
        assert!(!needs_shell("/a/b~c"));
        assert!(needs_shell("echo $HOME"));
        assert!(needs_shell("a | b"));
        assert!(!needs_shell("a#b"));
    }

    #[test]
    fn quote_round_trips() {
        let words = vec!["a b".to_string(), "it's".to_string(), "plain".to_string()];
        assert_eq!(split(&join(&words)).unwrap(), words);
    }
}
