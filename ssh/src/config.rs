//! A reader for the part of OpenSSH's `ssh_config` the built-in client honours: `Host`
//! sections with glob patterns, `Match` sections ([`crate::config_match`]), `Include`
//! (globs, relative to `~/.ssh` in the user's file and `/etc/ssh` in the system's, at most
//! 16 deep) and the keywords of [`KNOWN_KEYWORDS`]. As in OpenSSH, the first value obtained
//! for a keyword wins. Keywords that change how the connection is made and that this
//! client cannot honour (`RemoteCommand`, `HostKeyAlias`, `CertificateFile`) are refused
//! rather than ignored; the rest are ignored.

use std::path::{Path, PathBuf};

use crate::config_match::{MatchContext, evaluate_match};
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
    "compression",
    "tag",
    "hostkeyalgorithms",
    "canonicalizehostname",
];

/// Keywords that would change where or how we connect, or which keys we trust, and that we
/// cannot honour.
const REFUSED_KEYWORDS: &[&str] = &[
    "remotecommand",
    "hostkeyalias",
    "certificatefile",
    "revokedhostkeys",
    "knownhostscommand",
    "casignaturealgorithms",
];

/// Reads a configuration file; bytes that are not UTF-8 only spoil their own line, as
/// OpenSSH reads lines of bytes.
pub fn read_config_text(path: &Path) -> std::io::Result<String> {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// OpenSSH's check on the user's configuration and included files: owned by us or root,
/// and writable by nobody else.
pub fn check_permissions(path: &Path) -> Result<(), SshError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let me = rustix::process::getuid().as_raw();
    if (meta.uid() != 0 && meta.uid() != me) || meta.mode() & 0o022 != 0 {
        return Err(SshError::BadPermissions(path.display().to_string()));
    }
    Ok(())
}

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

/// Whether a `Host` line selects `host` as OpenSSH's `oHost` does: its words are patterns,
/// matched case-sensitively against the name as given; some pattern matches and no negated
/// (`!pattern`) one does.
pub fn host_line_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pat in patterns.split_whitespace() {
        match pat.strip_prefix('!') {
            Some(neg) if glob_match(neg, host) => return false,
            Some(_) => {}
            None if glob_match(pat, host) => matched = true,
            None => {}
        }
    }
    matched
}

/// Whether a comma-separated pattern list selects `host` as OpenSSH's `match_hostname`
/// does (`Match host`, known_hosts): case-insensitive, some pattern matches and no negated
/// (`!pattern`) one does.
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

/// OpenSSH's limit on nested `Include`s (`READCONF_MAX_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Gathers the settings that apply to one host from a configuration file and the files it
/// includes.
struct ConfigReader<'a> {
    /// The name `Host` lines are matched against: the name given, or in the final pass
    /// the final host name.
    host: String,
    /// What `Match` lines test; `hostname`, `user` and `port` follow the settings read.
    ctx: MatchContext,
    home: &'a Path,
    origin: ConfigOrigin,
    out: Vec<Setting>,
    wants_final: bool,
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
                active = host_line_matches(&value, &self.host);
                continue;
            }
            if keyword == "match" {
                let outcome = evaluate_match(&value, &self.ctx, source, n + 1)?;
                active = outcome.matched;
                self.wants_final |= outcome.wants_final;
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
                // Later `Match host`/`user` lines see the first value obtained.
                let slot = match keyword.as_str() {
                    "hostname" => Some(&mut self.ctx.hostname),
                    "user" => Some(&mut self.ctx.user),
                    "port" => Some(&mut self.ctx.port),
                    "tag" => Some(&mut self.ctx.tag),
                    _ => None,
                };
                if let Some(slot) = slot.filter(|s| s.is_none()) {
                    *slot = Some(value.clone());
                }
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
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(SshError::Config(format!(
                "{source} line {line}: Too many recursive configuration includes"
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
            // glob(3) as OpenSSH calls it: a leading dot is matched only literally.
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let files = glob::glob_with(&pattern, options).map_err(|e| {
                SshError::Config(format!(
                    "{source} line {line}: glob failed for {pattern}: {e}"
                ))
            })?;
            // A directory yields no lines in OpenSSH; it is skipped here.
            for file in files.flatten().filter(|f| !f.is_dir()) {
                check_permissions(&file)?;
                let text = read_config_text(&file).map_err(|e| {
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

/// What one configuration file gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigRead {
    /// The settings that apply, in file order.
    pub settings: Vec<Setting>,
    /// A `Match final` asks for a final pass.
    pub wants_final: bool,
}

/// The settings of `text` (an ssh_config file's content, from `source`) that apply to the
/// host of `ctx`, in file order, with the files it includes read in place. Lines before the
/// first `Host` or `Match` apply to every host; `home` anchors `~` and the user's relative
/// includes.
pub fn settings_for(
    text: &str,
    source: &str,
    home: &Path,
    origin: ConfigOrigin,
    ctx: &MatchContext,
) -> Result<ConfigRead, SshError> {
    let mut reader = ConfigReader {
        // ssh lowercases the name between the passes.
        host: if ctx.final_pass {
            ctx.host().to_ascii_lowercase()
        } else {
            ctx.original_host.clone()
        },
        ctx: ctx.clone(),
        home,
        origin,
        out: Vec::new(),
        wants_final: false,
    };
    reader.read_text(text, source, 0)?;
    Ok(ConfigRead {
        settings: reader.out,
        wants_final: reader.wants_final,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(host: &str) -> MatchContext {
        MatchContext {
            original_host: host.into(),
            hostname: None,
            user: None,
            port: None,
            tag: None,
            local_user: "me".into(),
            home: "/nonexistent-home".into(),
            final_pass: false,
        }
    }

    fn read_from(
        text: &str,
        host: &str,
        home: &Path,
        origin: ConfigOrigin,
    ) -> Result<Vec<Setting>, SshError> {
        settings_for(text, "cfg", home, origin, &context(host)).map(|r| r.settings)
    }

    /// The (keyword, value) pairs of `settings`.
    fn pairs(settings: &[Setting]) -> Vec<(&str, &str)> {
        settings
            .iter()
            .map(|s| (s.keyword.as_str(), s.value.as_str()))
            .collect()
    }

    fn read(text: &str, host: &str) -> Result<Vec<Setting>, SshError> {
        read_from(
            text,
            host,
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
        let pairs = pairs(&got);
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
            // `Match exec` runs commands and `Include` reads files: not with random text.
            let lower = text.to_lowercase();
            proptest::prop_assume!(!lower.contains("exec") && !lower.contains("include"));
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
    fn match_sections_apply_by_their_criteria() {
        // A Match after a Host that does not apply is still evaluated (it starts its own
        // section), and it sees the HostName obtained before it.
        let text = "Host other\n  Port 1\nHost box\n  HostName box.example.org\n\
                    Match host *.example.org\n  User admin\nMatch originalhost nomatch\n  Port 2\n\
                    Match all\n  Port 3\n  RemoteCommand x\n";
        let got = read(text, "box");
        assert!(
            matches!(&got, Err(SshError::Unsupported(m)) if m.contains("line 11")),
            "{got:?}"
        );
        let text = text.replace("  RemoteCommand x\n", "");
        let got = read(&text, "box").unwrap_or_else(|e| panic!("{e}"));
        let pairs = pairs(&got);
        assert_eq!(
            pairs,
            [
                ("hostname", "box.example.org"),
                ("user", "admin"),
                ("port", "3")
            ]
        );
        // `Match final` is read in the final pass only, where Host lines see the HostName.
        let text = "Host box\n  HostName real\nMatch final\n  User late\nHost real\n  Port 9\n";
        let first = settings_for(
            text,
            "cfg",
            Path::new("/"),
            ConfigOrigin::User,
            &context("box"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.wants_final);
        assert_eq!(first.settings.len(), 1);
        let mut last = context("box");
        last.hostname = Some("real".into());
        last.final_pass = true;
        let second = settings_for(text, "cfg", Path::new("/"), ConfigOrigin::User, &last)
            .unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<&str> = second.settings.iter().map(|s| s.keyword.as_str()).collect();
        assert_eq!(keys, ["user", "port"]);
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
        write(&home.join(".ssh/jump.conf"), "RemoteCommand x\n");
        let text = format!(
            "Host nomatch\n  Include jump.conf\nHost box\n  Include conf.d/*.conf {}/abs.conf\n  Port 3\n",
            home.display()
        );
        let got =
            read_from(&text, "box", &home, ConfigOrigin::User).unwrap_or_else(|e| panic!("{e}"));
        let pairs = pairs(&got);
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
            read_from(jump, "box", &home, ConfigOrigin::User),
            Err(SshError::Unsupported(_))
        ));
        // Nothing matching an Include pattern is no error.
        assert!(read_from("Include none/*.conf\n", "box", &home, ConfigOrigin::User).is_ok());
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn includes_are_bounded_and_the_system_file_may_not_use_the_home() {
        let home = scratch_home("loop");
        let me = home.join(".ssh/loop.conf");
        write(&me, "Include loop.conf\n");
        let looped = read_from("Include loop.conf\n", "h", &home, ConfigOrigin::User);
        assert!(
            matches!(&looped, Err(SshError::Config(m)) if m.contains("Too many recursive")),
            "{looped:?}"
        );
        let tilde = read_from("Include ~/x.conf\n", "h", &home, ConfigOrigin::System);
        assert!(
            matches!(&tilde, Err(SshError::Config(m)) if m.contains("bad include path")),
            "{tilde:?}"
        );
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn host_lines_match_words_case_sensitively() {
        assert!(host_line_matches("web* !web9", "web1"));
        assert!(!host_line_matches("web* !web9", "web9"));
        assert!(!host_line_matches("Web1", "web1"));
        // A comma is part of the pattern on a Host line (it separates lists elsewhere).
        assert!(!host_line_matches("a,b", "a"));
        assert!(host_matches("a,B", "b"));
    }
}
