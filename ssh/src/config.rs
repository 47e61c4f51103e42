//! A reader for the part of OpenSSH's `ssh_config` the built-in client honours: `Host`
//! sections with glob patterns, `Include` (globs, relative to `~/.ssh` in the user's file
//! and `/etc/ssh` in the system's, at most 16 deep) and the keywords of [`Setting`]. As in
//! OpenSSH, the first value obtained for a keyword wins. Keywords that change how the
//! connection is made and that this client cannot honour (`Match`, `RemoteCommand`,
//! `HostKeyAlias`, `CertificateFile`) are refused rather than ignored; the rest are ignored.

use std::path::{Path, PathBuf};

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
    "hashknownhosts",
    "proxyjump",
    "proxycommand",
    "batchmode",
    "numberofpasswordprompts",
];

/// Keywords that would change where or how we connect and that we cannot honour.
const REFUSED_KEYWORDS: &[&str] = &["match", "remotecommand", "hostkeyalias", "certificatefile"];

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

/// Whose configuration file is read: relative `Include` paths are taken from `~/.ssh` for
/// the user's file and from `/etc/ssh` for the system's, where `~` is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `~/.ssh/config` or the file given with `-F`.
    User,
    /// `/etc/ssh/ssh_config`.
    System,
}

/// OpenSSH's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Gathers the settings that apply to one host from a configuration file and the files it
/// includes.
struct ConfigReader<'a> {
    host: &'a str,
    home: &'a Path,
    origin: ConfigOrigin,
    out: Vec<Setting>,
}

impl ConfigReader<'_> {
    /// Reads `text` (from `source`, `depth` includes down). It is only read where the
    /// including section applies, so its lines before the first `Host` apply.
    fn read_text(&mut self, text: &str, source: &str, depth: usize) -> Result<(), SshError> {
        let mut active = true;
        for (n, line) in text.lines().enumerate() {
            let Some((keyword, value)) = split_line(line) else {
                continue;
            };
            if keyword == "host" {
                active = host_matches(&value, self.host);
                continue;
            }
            if !active {
                continue;
            }
            if keyword == "include" {
                self.include(&value, source, n + 1, depth)?;
                continue;
            }
            if REFUSED_KEYWORDS.contains(&keyword.as_str()) {
                return Err(SshError::Unsupported(format!(
                    "{source} line {}: {keyword}",
                    n + 1
                )));
            }
            if KNOWN_KEYWORDS.contains(&keyword.as_str()) {
                self.out.push(Setting { keyword, value });
            }
        }
        Ok(())
    }

    /// Reads the files an `Include` line names, in glob order; a pattern that matches
    /// nothing is no error.
    fn include(
        &mut self,
        value: &str,
        source: &str,
        line: usize,
        depth: usize,
    ) -> Result<(), SshError> {
        if depth + 1 >= MAX_INCLUDE_DEPTH {
            return Err(SshError::Config(format!(
                "{source} line {line}: too many recursive configuration includes"
            )));
        }
        for arg in value.split_whitespace() {
            let pattern = match (arg.strip_prefix("~/"), self.origin) {
                (Some(_), ConfigOrigin::System) => {
                    return Err(SshError::Config(format!(
                        "{source} line {line}: bad include path {arg}."
                    )));
                }
                (Some(rest), ConfigOrigin::User) => self.home.join(rest),
                (None, _) if arg.starts_with('/') => PathBuf::from(arg),
                (None, ConfigOrigin::User) => self.home.join(".ssh").join(arg),
                (None, ConfigOrigin::System) => Path::new("/etc/ssh").join(arg),
            };
            let pattern = pattern.to_string_lossy().into_owned();
            let files = glob::glob(&pattern).map_err(|e| {
                SshError::Config(format!(
                    "{source} line {line}: glob failed for {pattern}: {e}"
                ))
            })?;
            for file in files.flatten() {
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    SshError::Config(format!(
                        "{source} line {line}: Can't open user config file {}: {e}",
                        file.display()
                    ))
                })?;
                self.read_text(&text, &file.display().to_string(), depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The settings of `text` (an ssh_config file's content, from `source`) that apply to
/// `host`, in file order, with the files it includes read in place. Lines before the
/// first `Host` apply to every host; `home` anchors `~` and the user's relative includes.
pub fn settings_for(
    text: &str,
    host: &str,
    source: &str,
    home: &Path,
    origin: ConfigOrigin,
) -> Result<Vec<Setting>, SshError> {
    let mut reader = ConfigReader {
        host,
        home,
        origin,
        out: Vec::new(),
    };
    reader.read_text(text, source, 0)?;
    Ok(reader.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, host: &str) -> Result<Vec<Setting>, SshError> {
        settings_for(
            text,
            host,
            "cfg",
            Path::new("/nonexistent-home"),
            ConfigOrigin::User,
        )
    }

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
        let got = read(text, "web1").unwrap_or_default();
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
        let other = read(text, "db").unwrap_or_default();
        assert_eq!(other.len(), 3);
    }

    proptest::proptest! {
        /// Any file text is read without a panic, and what it yields are known keywords.
        #[test]
        fn any_text_reads_without_panic(text in "\\PC{0,400}", host in "[a-z0-9.*?!-]{0,20}") {
            if let Ok(settings) = read(&text, &host) {
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
    fn a_match_for_the_host_is_refused_and_elsewhere_ignored() {
        let text = "Host jump\n  Match user x\nHost *\n  Port 22\n";
        assert!(matches!(read(text, "jump"), Err(SshError::Unsupported(_))));
        assert!(read(text, "other").is_ok());
    }

    fn scratch_home(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdsync-sshcfg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join(".ssh/conf.d")).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn includes_are_read_in_place_in_glob_order() {
        let home = scratch_home("inc");
        write(&home.join(".ssh/conf.d/b.conf"), "Port 2\nUser from-b\n");
        write(
            &home.join(".ssh/conf.d/a.conf"),
            "Port 1\nHost other\n  User other\n",
        );
        write(&home.join("abs.conf"), "HostName abs.example\n");
        // Read only inside a section that applies: this one would be refused.
        write(&home.join(".ssh/jump.conf"), "Match all\n");
        let text = format!(
            "Host nomatch\n  Include jump.conf\nHost box\n  Include conf.d/*.conf {}/abs.conf\n  Port 3\n",
            home.display()
        );
        let got = settings_for(&text, "box", "cfg", &home, ConfigOrigin::User)
            .unwrap_or_else(|e| panic!("{e}"));
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|s| (s.keyword.as_str(), s.value.as_str()))
            .collect();
        // a.conf's `Host other` section ends inside a.conf: b.conf applies again, and so
        // does the including file's `Port 3` after the Include line.
        assert_eq!(
            pairs,
            [
                ("port", "1"),
                ("port", "2"),
                ("user", "from-b"),
                ("hostname", "abs.example"),
                ("port", "3")
            ]
        );
        let jump = "Include jump.conf\n";
        assert!(matches!(
            settings_for(jump, "box", "cfg", &home, ConfigOrigin::User),
            Err(SshError::Unsupported(_))
        ));
        // Nothing matching an Include pattern is no error.
        assert!(
            settings_for(
                "Include none/*.conf\n",
                "box",
                "cfg",
                &home,
                ConfigOrigin::User
            )
            .is_ok()
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn includes_are_bounded_and_the_system_file_may_not_use_the_home() {
        let home = scratch_home("loop");
        let me = home.join(".ssh/loop.conf");
        write(&me, "Include loop.conf\n");
        let looped = settings_for("Include loop.conf\n", "h", "cfg", &home, ConfigOrigin::User);
        assert!(
            matches!(&looped, Err(SshError::Config(m)) if m.contains("too many recursive")),
            "{looped:?}"
        );
        let tilde = settings_for(
            "Include ~/x.conf\n",
            "h",
            "sys",
            &home,
            ConfigOrigin::System,
        );
        assert!(
            matches!(&tilde, Err(SshError::Config(m)) if m.contains("bad include path")),
            "{tilde:?}"
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
