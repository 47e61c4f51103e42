//! Drives the flag table with lexopt, following popt's rules: bundled short options
//! (`-avH`), values attached or separate (`-f'- x'`, `--exclude=x`, `--exclude x`),
//! `--no-X` negations, counted `-v`/`-i`, and `--` ending the options.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use lexopt::Arg;

use super::flags::{FlagValue, find_long, find_short};
use super::options::Options;

/// A command line rdsync cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// rsync's syntax errors (exit code 1), with rsync's text.
    #[error("{0}")]
    Message(String),
    /// A file named by an option could not be read (exit code 1 too, after the message).
    #[error("{0}")]
    FileIo(String),
    /// An error with its own exit code (e.g. 4 for an unknown checksum name).
    #[error("{0}")]
    Fatal(String, i32),
    /// Valid rsync, but not handled natively: run the system rsync.
    #[error("{0}")]
    Unsupported(String),
}

/// What to do with a command line.
#[derive(Debug, Clone)]
pub enum ParseOutcome {
    /// Run natively.
    Run(Box<Options>),
    /// Hand the command line to the system rsync; the string says why.
    Fallback(String),
    /// `--version`.
    Version,
    /// `--help` (or `-h` alone).
    Help,
}

fn os_bytes(s: OsString) -> Vec<u8> {
    s.into_vec()
}

/// Whether a path argument names a remote location (`host:path`, `host::module`,
/// `rsync://…`), as rsync decides it: a colon before any slash.
pub fn is_remote(arg: &[u8]) -> bool {
    !matches!(
        crate::remote::classify(arg),
        crate::remote::Location::Local(_)
    )
}

/// Parses rsync-style arguments (without the program name).
pub fn parse_args<I>(args: I) -> Result<ParseOutcome, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.len() == 1 && (args[0] == "-h" || args[0] == "--help") {
        return Ok(ParseOutcome::Help);
    }
    let mut parser = lexopt::Parser::from_args(args);
    let mut opts = Options::default();
    loop {
        let arg = match parser.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(lexopt::Error::UnexpectedValue { option, .. }) => {
                return Err(UsageError::Message(format!(
                    "rsync: option {option} doesn't allow an argument"
                )));
            }
            Err(e) => return Err(UsageError::Message(format!("rsync: {e}"))),
        };
        match arg {
            Arg::Short(c) => {
                if c == 'V' {
                    return Ok(ParseOutcome::Version);
                }
                let Some(flag) = find_short(c) else {
                    return Ok(ParseOutcome::Fallback(format!("-{c}")));
                };
                let raw;
                let v = if flag.takes_value {
                    raw = match parser.value() {
                        Ok(v) => os_bytes(v),
                        Err(_) => {
                            return Err(UsageError::Message(format!(
                                "rsync: -{c}: missing argument"
                            )));
                        }
                    };
                    FlagValue::Value(&raw)
                } else {
                    FlagValue::On
                };
                (flag.apply)(&mut opts, v)?;
            }
            Arg::Long(name) => {
                let name = name.to_string();
                if name == "version" {
                    return Ok(ParseOutcome::Version);
                }
                if name == "help" {
                    return Ok(ParseOutcome::Help);
                }
                let Some((flag, negated)) = find_long(&name) else {
                    return Ok(ParseOutcome::Fallback(format!("--{name}")));
                };
                let raw;
                let v = if negated {
                    FlagValue::Off
                } else if flag.takes_value {
                    raw = match parser.value() {
                        Ok(v) => os_bytes(v),
                        Err(_) => {
                            return Err(UsageError::Message(format!(
                                "rsync: --{name}: missing argument"
                            )));
                        }
                    };
                    FlagValue::Value(&raw)
                } else {
                    FlagValue::On
                };
                match (flag.apply)(&mut opts, v) {
                    Err(UsageError::Unsupported(what)) => return Ok(ParseOutcome::Fallback(what)),
                    other => other?,
                }
            }
            Arg::Value(v) => opts.paths.push(os_bytes(v)),
        }
    }
    if opts.verbosity.verbose > 1 {
        // -vv adds rsync's debugging chatter, which rdsync does not reproduce.
        return Ok(ParseOutcome::Fallback("-vv".to_string()));
    }
    Ok(ParseOutcome::Run(Box::new(opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse_args(args.iter().copied()) {
            Ok(ParseOutcome::Run(o)) => *o,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn archive_and_negations_in_order() {
        let o = run(&["-a", "--no-o", "s", "d"]);
        assert!(o.recursive && o.links && o.perms && o.times && o.group && !o.owner);
        let o = run(&["--no-r", "-a", "s", "d"]);
        assert!(o.recursive);
        let o = run(&["-a", "--no-D", "s", "d"]);
        assert!(!o.devices && !o.specials);
    }

    #[test]
    fn bundles_counts_and_values() {
        let o = run(&[
            "-avHii",
            "-f- *.o",
            "--exclude=x",
            "--include",
            "y",
            "s",
            "d",
        ]);
        assert_eq!(o.verbosity.verbose, 1);
        assert_eq!(o.verbosity.itemize, 2);
        assert!(o.hard_links);
        assert_eq!(o.filter_rules.len(), 3);
        let o = run(&["-P", "s", "d"]);
        assert!(o.partial && o.verbosity.progress);
    }

    #[test]
    fn errors_and_fallback() {
        assert!(matches!(
            parse_args(["--exclude"]),
            Err(UsageError::Message(_))
        ));
        assert!(matches!(
            parse_args(["-f", "x y", "a", "b"]),
            Err(UsageError::Message(_))
        ));
        assert!(matches!(
            parse_args(["--bwlimit=10", "a", "b"]),
            Ok(ParseOutcome::Fallback(_))
        ));
        // Remote paths parse; run_cli decides between the native client and the fallback.
        assert!(matches!(
            parse_args(["-az", "-e", "ssh -p 2", "a", "host:b"]),
            Ok(ParseOutcome::Run(o)) if o.remote.compress && o.remote.rsh.as_deref() == Some("ssh -p 2")
        ));
        assert!(matches!(
            parse_args(["--stats=3", "a", "b"]),
            Err(UsageError::Message(_))
        ));
        assert!(!is_remote(b"./a:b"));
    }
}
