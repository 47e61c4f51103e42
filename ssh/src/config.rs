//! A reader for the part of OpenSSH's `ssh_config` the built-in client honours: `Host`
//! sections with glob patterns and the keywords of [`Setting`]. As in OpenSSH, the first
//! value obtained for a keyword wins. Keywords that change how the connection is made
//! and that this client cannot honour (`ProxyCommand`, `ProxyJump`, `Match`, `Include`)
//! are refused rather than ignored; the rest are ignored.

use crate::error::SshError;

/// One `Keyword value` line that applies to a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The keyword, lower-cased.
    pub keyword: String,
    /// The value (quotes removed).
    pub value: String,
}

/// Keywords the built-in client acts on.
pub const KNOWN_KEYWORDS: &[&str] = &[
    "hostname",
    "port",
    "user",
    "identityfile",
    "stricthostkeychecking",
    "userknownhostsfile",
    "globalknownhostsfile",
    "connecttimeout",
    "serveraliveinterval",
    "identitiesonly",
    "identityagent",
    "ciphers",
];

/// Keywords that would change where or how we connect and that we cannot honour.
const REFUSED_KEYWORDS: &[&str] = &[
    "proxycommand",
    "proxyjump",
    "match",
    "include",
    "remotecommand",
    "hostkeyalias",
    "certificatefile",
];

/// Splits one line into keyword and value (`Keyword value`, `Keyword=value`, quotes).
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let value = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    Some((keyword.to_ascii_lowercase(), value.to_string()))
}

/// OpenSSH's pattern match: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// Whether a `Host` line's pattern list selects `host`: some pattern matches and no
/// negated (`!pattern`) one does.
pub fn host_matches(patterns: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let mut matched = false;
    for pat in patterns.split([' ', '\t', ',']).filter(|p| !p.is_empty()) {
        let pat = pat.to_ascii_lowercase();
        match pat.strip_prefix('!') {
            Some(neg) if glob_match(neg, &host) => return false,
            Some(_) => {}
            None if glob_match(&pat, &host) => matched = true,
            None => {}
        }
    }
    matched
}

/// The settings of `text` (an ssh_config file's content) that apply to `host`, in file
/// order. Lines before the first `Host` apply to every host.
pub fn settings_for(text: &str, host: &str, source: &str) -> Result<Vec<Setting>, SshError> {
    let mut out = Vec::new();
    let mut applies = true;
    for (n, line) in text.lines().enumerate() {
        let Some((keyword, value)) = split_line(line) else {
            continue;
        };
        if keyword == "host" {
            applies = host_matches(&value, host);
            continue;
        }
        if !applies {
            continue;
        }
        if REFUSED_KEYWORDS.contains(&keyword.as_str()) {
            return Err(SshError::Unsupported(format!(
                "{source} line {}: {keyword}",
                n + 1
            )));
        }
        if KNOWN_KEYWORDS.contains(&keyword.as_str()) {
            out.push(Setting { keyword, value });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_openssh() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*.example.com", "a.example.com"));
        assert!(!glob_match("*.example.com", "example.com"));
        assert!(glob_match("host?", "host1"));
        assert!(!glob_match("host?", "host12"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(host_matches("*.lan !bad.lan", "good.lan"));
        assert!(!host_matches("*.lan !bad.lan", "bad.lan"));
        assert!(!host_matches("!bad.lan", "other"));
    }

    #[test]
    fn sections_select_and_the_file_order_is_kept() {
        let text = "Port 2200\nHost web*\n  User deploy\n  Port=2222\nHost *\n  User fallback\n  IdentityFile \"~/.ssh/k 1\"\n  ForwardAgent yes\n";
        let got = settings_for(text, "web1", "cfg").unwrap_or_default();
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|s| (s.keyword.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("port", "2200"),
                ("user", "deploy"),
                ("port", "2222"),
                ("user", "fallback"),
                ("identityfile", "~/.ssh/k 1"),
            ]
        );
        let other = settings_for(text, "db", "cfg").unwrap_or_default();
        assert_eq!(other.len(), 3);
    }

    proptest::proptest! {
        /// Any file text is read without a panic, and what it yields are known keywords.
        #[test]
        fn any_text_reads_without_panic(text in "\\PC{0,400}", host in "[a-z0-9.*?!-]{0,20}") {
            if let Ok(settings) = settings_for(&text, &host, "fuzz") {
                for s in settings {
                    proptest::prop_assert!(KNOWN_KEYWORDS.contains(&s.keyword.as_str()));
                }
            }
        }

        /// A pattern without wildcards matches exactly itself; `*` around it matches any
        /// text containing it.
        #[test]
        fn globs_agree_with_plain_comparison(p in "[a-z.]{0,8}", t in "[a-z.]{0,8}") {
            proptest::prop_assert_eq!(glob_match(&p, &t), p == t);
            proptest::prop_assert_eq!(glob_match(&format!("*{p}*"), &t), t.contains(&p));
        }
    }

    #[test]
    fn a_proxy_for_the_host_is_refused_and_elsewhere_ignored() {
        let text = "Host jump\n  ProxyJump bastion\nHost *\n  Port 22\n";
        assert!(matches!(
            settings_for(text, "jump", "cfg"),
            Err(SshError::Unsupported(_))
        ));
        assert!(settings_for(text, "other", "cfg").is_ok());
    }
}
