//! Asking the user for a key's passphrase the way OpenSSH's `read_passphrase` does: through
//! the `SSH_ASKPASS` program when `SSH_ASKPASS_REQUIRE` asks for it (or when there is no
//! terminal and a display is set), else on `/dev/tty` with echo off. An empty answer means
//! "skip this key".

use std::io::Read;
use std::process::{Command, Stdio};

/// The askpass program OpenSSH uses on Debian when `SSH_ASKPASS` is not set.
const DEFAULT_ASKPASS: &str = "/usr/bin/ssh-askpass";

/// Where the answer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// The askpass program given (prompt as its argument, answer on its standard output).
    Askpass(String),
    /// The controlling terminal.
    Terminal,
    /// Nowhere: the answer is empty.
    Nobody,
}

/// Chooses the source as OpenSSH does for a prompt without flags, from the environment
/// (`DISPLAY`, `WAYLAND_DISPLAY`, `SSH_ASKPASS`, `SSH_ASKPASS_REQUIRE`) and whether
/// `/dev/tty` opens.
pub fn passphrase_source(
    env: impl Fn(&str) -> Option<String>,
    tty_opens: bool,
) -> PassphraseSource {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut allow_askpass = set("DISPLAY").is_some() || set("WAYLAND_DISPLAY").is_some();
    let mut use_askpass = false;
    match env("SSH_ASKPASS_REQUIRE")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("force") => {
            use_askpass = true;
            allow_askpass = true;
        }
        Some("prefer") => use_askpass = allow_askpass,
        Some("never") => allow_askpass = false,
        _ => {}
    }
    if !use_askpass && !tty_opens {
        use_askpass = true;
    }
    if use_askpass && allow_askpass {
        return PassphraseSource::Askpass(
            env("SSH_ASKPASS").unwrap_or_else(|| DEFAULT_ASKPASS.to_string()),
        );
    }
    if tty_opens {
        PassphraseSource::Terminal
    } else {
        PassphraseSource::Nobody
    }
}

/// Runs the askpass program with `prompt`; its first output line is the answer, and a
/// failure (it cannot start, or exits non-zero) is an empty answer.
fn askpass(program: &str, prompt: &str) -> String {
    let child = Command::new(program)
        .arg(prompt)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return String::new();
    };
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.by_ref().take(1023).read_to_end(&mut out);
    }
    match child.wait() {
        Ok(status) if status.success() => {}
        _ => return String::new(),
    }
    let text = String::from_utf8_lossy(&out);
    text.split(['\r', '\n'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Asks for a passphrase with `prompt` (blocking); empty when nobody can answer.
pub fn read_passphrase(prompt: &str) -> String {
    let tty_opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    match passphrase_source(|name| std::env::var(name).ok(), tty_opens) {
        PassphraseSource::Askpass(program) => askpass(&program, prompt),
        PassphraseSource::Terminal => rpassword::prompt_password(prompt).unwrap_or_default(),
        PassphraseSource::Nobody => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(vars: &[(&str, &str)], tty: bool) -> PassphraseSource {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        passphrase_source(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            tty,
        )
    }

    #[test]
    fn the_source_is_chosen_like_openssh() {
        assert_eq!(source(&[], true), PassphraseSource::Terminal);
        assert_eq!(source(&[], false), PassphraseSource::Nobody);
        // A display and no terminal: the askpass program (the default one).
        assert_eq!(
            source(&[("DISPLAY", ":0")], false),
            PassphraseSource::Askpass(DEFAULT_ASKPASS.into())
        );
        // A terminal wins over a display unless askpass is preferred.
        assert_eq!(
            source(&[("DISPLAY", ":0"), ("SSH_ASKPASS", "/a")], true),
            PassphraseSource::Terminal
        );
        assert_eq!(
            source(
                &[
                    ("DISPLAY", ":0"),
                    ("SSH_ASKPASS", "/a"),
                    ("SSH_ASKPASS_REQUIRE", "prefer")
                ],
                true
            ),
            PassphraseSource::Askpass("/a".into())
        );
        assert_eq!(
            source(
                &[("SSH_ASKPASS", "/a"), ("SSH_ASKPASS_REQUIRE", "force")],
                true
            ),
            PassphraseSource::Askpass("/a".into())
        );
        assert_eq!(
            source(
                &[("DISPLAY", ":0"), ("SSH_ASKPASS_REQUIRE", "never")],
                false
            ),
            PassphraseSource::Nobody
        );
    }

    #[test]
    fn askpass_answers_with_its_first_line_and_fails_empty() {
        let dir = std::env::temp_dir().join(format!("rdsync-askpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let ok = dir.join("ok");
        std::fs::write(
            &ok,
            "#!/bin/sh\nprintf 'pass for %s\\r\\nsecond\\n' \"$1\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let bad = dir.join("bad");
        std::fs::write(&bad, "#!/bin/sh\necho nope\nexit 1\n").unwrap_or_else(|e| panic!("{e}"));
        for f in [&ok, &bad] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(askpass(&ok.display().to_string(), "key"), "pass for key");
        assert_eq!(askpass(&bad.display().to_string(), "key"), "");
        assert_eq!(askpass("/nonexistent/askpass", "key"), "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
