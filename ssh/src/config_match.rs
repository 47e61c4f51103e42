//! `Match` lines of ssh_config, evaluated as OpenSSH's `match_cfg_line` does: every
//! criterion must hold (`!` negates one); `all`; `canonical` and `final` (true only in the
//! final pass, which a non-negated `final` asks for); `host` (the `HostName` obtained so
//! far, else the name given), `originalhost`, `user` (the remote user so far, else the
//! local one), `localuser`, `tagged` (`Tag`, `-P`), `sessiontype` (always `exec`) and
//! `exec` (a shell command, true when it exits 0). `localnetwork`, `version` and
//! `command` are refused.

use std::process::{Command, Stdio};

use crate::config::host_matches;
use crate::error::SshError;
use crate::tokens::percent_expand;

/// What `Match` criteria are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchContext {
    /// The host name as given on the command line (`originalhost`, `%n`).
    pub original_host: String,
    /// `HostName` as obtained so far (`%h` in it stands for the name given).
    pub hostname: Option<String>,
    /// The remote user as obtained so far.
    pub user: Option<String>,
    /// The port as obtained so far.
    pub port: Option<String>,
    /// `Tag` (or `-P`) as obtained so far.
    pub tag: Option<String>,
    /// The local account's name.
    pub local_user: String,
    /// The home directory (`%d`).
    pub home: String,
    /// Whether this is the final pass (`canonical`, `final`).
    pub final_pass: bool,
}

impl MatchContext {
    /// The name `Match host` tests: `HostName` so far with `%h` expanded, else the name
    /// given.
    pub fn host(&self) -> String {
        match &self.hostname {
            Some(h) => expand_hostname(h, &self.original_host).unwrap_or_else(|_| h.clone()),
            None => self.original_host.clone(),
        }
    }

    fn remote_user(&self) -> &str {
        self.user.as_deref().unwrap_or(&self.local_user)
    }
}

/// `HostName` with its `%h` (the name given) and `%%` expanded; another token is an error,
/// as in OpenSSH.
pub fn expand_hostname(hostname: &str, original: &str) -> Result<String, SshError> {
    percent_expand(hostname, &[('h', original)], "HostName")
}

/// The outcome of one `Match` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOutcome {
    /// Whether the lines after it apply.
    pub matched: bool,
    /// Whether it asks for a final pass (a non-negated `final`).
    pub wants_final: bool,
}

/// Splits a `Match` value into words; double or single quotes keep spaces in a word.
fn words(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    Some(c) if c == first => break,
                    Some(c) => word.push(c),
                    None => return Err("unterminated quote".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// OpenSSH's `match_pattern_list` without case folding: comma-separated globs, `!` vetoes.
fn pattern_list_matches(text: &str, patterns: &str) -> bool {
    let mut matched = false;
    for pat in patterns.split(',').filter(|p| !p.is_empty()) {
        match pat.strip_prefix('!') {
            Some(neg) if crate::config::glob_match(neg, text) => return false,
            Some(_) => {}
            None if crate::config::glob_match(pat, text) => matched = true,
            None => {}
        }
    }
    matched
}

/// Expands the tokens of a `Match exec` command: `%%`, `%h`, `%n`, `%p`, `%r`, `%u`, `%d`.
fn exec_tokens(command: &str, ctx: &MatchContext) -> Result<String, SshError> {
    let host = ctx.host();
    let values = [
        ('h', host.as_str()),
        ('n', ctx.original_host.as_str()),
        ('p', ctx.port.as_deref().unwrap_or("22")),
        ('r', ctx.remote_user()),
        ('u', ctx.local_user.as_str()),
        ('d', ctx.home.as_str()),
    ];
    percent_expand(command, &values, "Match exec")
}

/// Runs `command` as OpenSSH's `execute_in_shell` does (`$SHELL -c`, no input, output
/// discarded); true when it exits 0.
fn exec_succeeds(command: &str) -> Result<bool, String> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    Command::new(shell)
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .map_err(|e| format!("cannot run {command:?}: {e}"))
}

/// Evaluates the criteria of a `Match` line (`value`, at `source` line `line`).
pub fn evaluate_match(
    value: &str,
    ctx: &MatchContext,
    source: &str,
    line: usize,
) -> Result<MatchOutcome, SshError> {
    let config_error = |what: String| SshError::Config(format!("{source} line {line}: {what}"));
    let unsupported =
        |what: &str| SshError::Unsupported(format!("{source} line {line}: Match {what}"));
    let words = words(value).map_err(config_error)?;
    let mut matched = true;
    let mut wants_final = false;
    let mut criteria = 0usize;
    let mut only_pass_criteria = true;
    let mut saw_all = false;
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        if word.starts_with('#') {
            break;
        }
        let (negate, attrib) = match word.strip_prefix('!') {
            Some(a) => (true, a),
            None => (false, word.as_str()),
        };
        let (attrib, inline_arg) = match attrib.split_once('=') {
            Some((a, v)) => (a, Some(v.to_string())),
            None => (attrib, None),
        };
        let attrib = attrib.to_ascii_lowercase();
        let holds = |result: bool| result != negate;
        if attrib == "all" {
            // `all` stands alone or right after `canonical` or `final`.
            let more = rest.clone().any(|w| !w.starts_with('#'));
            if criteria > 1 || (criteria == 1 && !only_pass_criteria) || more {
                return Err(config_error(format!(
                    "'{word}' cannot be combined with other Match attributes"
                )));
            }
            matched = matched && holds(true);
            saw_all = true;
            break;
        }
        criteria += 1;
        if attrib == "canonical" || attrib == "final" {
            only_pass_criteria &= criteria == 1;
            if attrib == "final" && !negate {
                wants_final = true;
            }
            matched = matched && holds(ctx.final_pass);
            continue;
        }
        only_pass_criteria = false;
        let arg = match inline_arg {
            Some(a) => a,
            None => rest
                .next()
                .cloned()
                .ok_or_else(|| config_error(format!("missing argument for Match '{word}'")))?,
        };
        let result = match attrib.as_str() {
            "host" => host_matches(&arg, &ctx.host()),
            "originalhost" => host_matches(&arg, &ctx.original_host),
            "user" => pattern_list_matches(ctx.remote_user(), &arg),
            "localuser" => pattern_list_matches(&ctx.local_user, &arg),
            // Without a tag only an empty pattern matches.
            "tagged" => match ctx.tag.as_deref().filter(|t| !t.is_empty()) {
                None => arg.is_empty(),
                Some(tag) => pattern_list_matches(tag, &arg),
            },
            "sessiontype" => pattern_list_matches("exec", &arg),
            "exec" => {
                if !matched {
                    // OpenSSH skips the command once an earlier criterion failed.
                    continue;
                }
                let command = exec_tokens(&arg, ctx)?;
                exec_succeeds(&command).map_err(config_error)?
            }
            "localnetwork" | "version" | "command" => return Err(unsupported(&attrib)),
            _ => {
                return Err(config_error(format!(
                    "Unsupported Match attribute {attrib}"
                )));
            }
        };
        matched = matched && holds(result);
    }
    if criteria == 0 && !saw_all {
        return Err(config_error("Match needs criteria".into()));
    }
    Ok(MatchOutcome {
        matched,
        wants_final,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> MatchContext {
        MatchContext {
            original_host: "web1".into(),
            hostname: Some("%h.example.org".into()),
            user: None,
            port: Some("2222".into()),
            tag: None,
            local_user: "me".into(),
            home: "/home/me".into(),
            final_pass: false,
        }
    }

    fn matches(value: &str) -> bool {
        evaluate_match(value, &ctx(), "cfg", 1)
            .map(|o| o.matched)
            .unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    #[test]
    fn criteria_are_anded_and_negated() {
        assert!(matches("all"));
        assert!(!matches("!all"));
        assert!(matches("host *.example.org"));
        assert!(!matches("host web1"));
        assert!(matches("originalhost web1 user me"));
        assert!(!matches("originalhost web1 user other"));
        assert!(matches("originalhost=web1 !user=other,root"));
        assert!(matches("localuser m? sessiontype exec"));
        assert!(!matches("canonical"));
        assert!(matches("!final"));
        assert!(matches("tagged \"\""));
        assert!(!matches("canonical all"));
        assert!(matches("!canonical all"));
        assert!(!matches("tagged prod"));
    }

    #[test]
    fn final_asks_for_a_second_pass() {
        let first =
            evaluate_match("final host *.org", &ctx(), "cfg", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first,
            MatchOutcome {
                matched: false,
                wants_final: true
            }
        );
        let mut last = ctx();
        last.final_pass = true;
        let second =
            evaluate_match("final host *.org", &last, "cfg", 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.matched);
    }

    #[test]
    fn exec_runs_the_command_with_tokens_only_when_needed() {
        let dir = std::env::temp_dir().join(format!("rdsync-match-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mark = dir.join("ran");
        let cmd = format!("exec \"echo %h:%p:%r:%n >> {}\"", mark.display());
        assert!(matches(&cmd));
        assert_eq!(
            std::fs::read_to_string(&mark).unwrap_or_default(),
            "web1.example.org:2222:me:web1\n"
        );
        assert!(!matches("exec false"));
        // After a failed criterion the command is not run.
        let skipped = format!("user nobody exec \"touch {}/skipped\"", dir.display());
        assert!(!matches(&skipped));
        assert!(!dir.join("skipped").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for value in [
            "localnetwork 10.0.0.0/8",
            "version OpenSSH*",
            "exec \"x %C\"",
        ] {
            assert!(
                matches!(
                    evaluate_match(value, &ctx(), "cfg", 1),
                    Err(SshError::Unsupported(_))
                ),
                "{value}"
            );
        }
        for value in [
            "",
            "host",
            "all host x",
            "host x all",
            "user x final all",
            "bogus x",
            "exec \"unterminated",
        ] {
            assert!(
                matches!(
                    evaluate_match(value, &ctx(), "cfg", 1),
                    Err(SshError::Config(_))
                ),
                "{value}"
            );
        }
    }

    proptest::proptest! {
        /// Any Match value without `exec` is evaluated or refused without a panic.
        #[test]
        fn any_value_evaluates_without_panic(value in "\\PC{0,80}") {
            proptest::prop_assume!(!value.to_lowercase().contains("exec"));
            let _ = evaluate_match(&value, &ctx(), "cfg", 1);
        }
    }
}
