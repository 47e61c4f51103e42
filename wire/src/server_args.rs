//! The remote command line, built as rsync 3.5's `options.c: server_options` and
//! `main.c: do_cmd` build it for the same options.

use crate::options::{Direction, TransferOptions};

/// Characters a POSIX shell treats specially (`options.c: SHELL_CHARS`).
const SHELL_CHARS: &[u8] = b"!#$&;|<>(){}\"'` \t\n\r\\";
/// Glob characters, escaped in option values only (`options.c: WILD_CHARS`).
const WILD_CHARS: &[u8] = b"*?[]";

/// The arguments after the rsync program name: `--server [--sender] -… [long…] . PATH…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    /// The arguments, already escaped for the remote shell.
    pub args: Vec<String>,
}

impl ServerCommand {
    /// Builds the server arguments for `direction` with `paths` on the remote side.
    pub fn build(direction: Direction, opts: &TransferOptions, paths: &[String]) -> Self {
        let am_sender = direction == Direction::Push;
        let mut args = vec!["--server".to_string()];
        if !am_sender {
            args.push("--sender".to_string());
        }
        let mut cluster = String::from("-");
        for _ in 0..opts.verbose.min(9) {
            cluster.push('v');
        }
        if opts.update {
            cluster.push('u');
        }
        if opts.dry_run {
            cluster.push('n');
        }
        if opts.links {
            cluster.push('l');
        }
        if opts.dirs && !opts.recursive {
            cluster.push('d');
        }
        if !am_sender && opts.copy_links {
            cluster.push('L');
        }
        if opts.whole_file {
            cluster.push('W');
        }
        if opts.hard_links {
            cluster.push('H');
        }
        if opts.owner {
            cluster.push('o');
        }
        if opts.group {
            cluster.push('g');
        }
        if opts.devices {
            cluster.push('D');
        }
        if opts.times {
            cluster.push('t');
        }
        if opts.perms {
            cluster.push('p');
        }
        if opts.recursive {
            cluster.push('r');
        }
        if opts.checksum {
            cluster.push('c');
        }
        if opts.ignore_times {
            cluster.push('I');
        }
        let choice = opts.compress_choice.as_deref();
        // rsync's 'z' means CPRES_ZLIB: `-z` itself, or `--zc=zlib`; a level alone is
        // CPRES_AUTO and travels as --compress-level.
        if (opts.compress && choice.is_none()) || choice == Some("zlib") {
            cluster.push('z');
        }
        if opts.our_protocol() >= 30 {
            cluster.push_str(if opts.offers_inc_recurse(direction) {
                "e.iLsfxCIvu"
            } else {
                "e.LsfxCIvu"
            });
        }
        if cluster.len() > 1 {
            args.push(cluster);
        }
        if opts.dirs && !opts.recursive && opts.delete && am_sender {
            args.push("--no-r".to_string());
        }
        if opts.compressing()
            && let Some(level) = opts.compress_level
        {
            args.push(format!("--compress-level={level}"));
        }
        if opts.devices {
            if !opts.specials {
                args.push("--no-specials".to_string());
            }
        } else if opts.specials {
            args.push("--specials".to_string());
        }
        if am_sender && let Some(f) = &opts.log_format {
            args.push(format!("--log-format={f}"));
        }
        if let Some(b) = opts.block_size {
            args.push(format!("-B{b}"));
        }
        if let Some(t) = opts.timeout {
            args.push(format!("--timeout={t}"));
        }
        if let Some(c) = &opts.checksum_choice {
            args.push(safe_option_arg("--checksum-choice", c));
        }
        if opts.compressing() {
            match choice {
                Some("zlibx") => args.push("--new-compress".to_string()),
                Some("zlib") => args.push("--old-compress".to_string()),
                Some(other) => args.push(safe_option_arg("--compress-choice", other)),
                None => {}
            }
        }
        if am_sender {
            use crate::options::DeleteWhen;
            match opts.delete_when {
                DeleteWhen::Before => args.push("--delete-before".to_string()),
                DeleteWhen::Delay => args.push("--delete-delay".to_string()),
                DeleteWhen::During => args.push("--delete-during".to_string()),
                DeleteWhen::After => args.push("--delete-after".to_string()),
                DeleteWhen::Unspecified => {
                    if opts.delete && !opts.delete_excluded {
                        args.push("--delete".to_string());
                    }
                }
            }
            if opts.delete_excluded {
                args.push("--delete-excluded".to_string());
            }
            if opts.force {
                args.push("--force".to_string());
            }
            if opts.size_only {
                args.push("--size-only".to_string());
            }
            if opts.stats {
                args.push("--stats".to_string());
            }
        }
        if let Some(seed) = opts.checksum_seed.filter(|s| *s != 0) {
            args.push(format!("--checksum-seed={seed}"));
        }
        // --inplace clears keep_partial (options.c), so only one of them is sent.
        if opts.partial && !opts.inplace && am_sender {
            args.push("--partial".to_string());
        }
        if opts.numeric_ids {
            args.push("--numeric-ids".to_string());
        }
        if am_sender {
            if opts.ignore_existing {
                args.push("--ignore-existing".to_string());
            }
            if opts.existing {
                args.push("--existing".to_string());
            }
        }
        if opts.inplace {
            args.push("--inplace".to_string());
        }
        if opts.mkpath && am_sender {
            args.push("--mkpath".to_string());
        }
        args.push(".".to_string());
        for p in paths {
            args.push(safe_path_arg(p, am_sender));
        }
        ServerCommand { args }
    }
}

/// `safe_arg(NULL, path)`: escape shell characters (not wildcards), `./` before a leading
/// `-`, and `\~` before a leading tilde of a bare name when we receive.
pub fn safe_path_arg(arg: &str, am_sender: bool) -> String {
    let bytes = arg.as_bytes();
    let mut out = String::with_capacity(arg.len() + 4);
    if arg.starts_with('-') {
        out.push_str("./");
    }
    if arg.starts_with('~') && !am_sender && !arg.contains('/') {
        out.push('\\');
    }
    for (i, ch) in arg.char_indices() {
        if ch == '\\' {
            let next = bytes.get(i + 1).copied();
            if !next.is_some_and(|n| WILD_CHARS.contains(&n)) {
                out.push('\\');
            }
        } else if ch.is_ascii() && SHELL_CHARS.contains(&(ch as u8)) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `safe_arg(opt, value)`: `opt=value` with shell and wildcard characters escaped.
pub fn safe_option_arg(opt: &str, value: &str) -> String {
    let mut out = format!("{opt}=");
    for ch in value.chars() {
        if ch.is_ascii() && (SHELL_CHARS.contains(&(ch as u8)) || WILD_CHARS.contains(&(ch as u8)))
        {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_push_and_pull_match_the_captured_commands() {
        let a = TransferOptions::archive();
        let push = ServerCommand::build(Direction::Push, &a, &["dst/".into()]);
        assert_eq!(push.args.join(" "), "--server -logDtpre.iLsfxCIvu . dst/");
        let pull = ServerCommand::build(Direction::Pull, &a, &["src/".into()]);
        assert_eq!(
            pull.args.join(" "),
            "--server --sender -logDtpre.iLsfxCIvu . src/"
        );
    }

    #[test]
    fn paths_are_escaped_like_safe_arg() {
        assert_eq!(
            safe_path_arg("dst sp/x*y;$z/", true),
            "dst\\ sp/x*y\\;\\$z/"
        );
        assert_eq!(safe_path_arg("-x", true), "./-x");
        assert_eq!(safe_path_arg("a\nb", true), "a\\\nb");
        assert_eq!(
            safe_option_arg("--checksum-choice", "md5*"),
            "--checksum-choice=md5\\*"
        );
    }
}
