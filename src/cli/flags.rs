//! The flag table: one row per rsync option rdsync handles natively. Anything not in the
//! table makes the command run through the system rsync instead.

use rdsync_engine::filter::{FilterRule, RuleSyntax};
use rdsync_engine::local::DeleteTiming;

use super::options::Options;
use super::parse::UsageError;

/// What the parser hands to a flag's setter.
#[derive(Debug, Clone, Copy)]
pub enum FlagValue<'a> {
    /// The flag was given (`--foo`, `-f`).
    On,
    /// The negated form was given (`--no-foo`).
    Off,
    /// The flag's argument.
    Value(&'a [u8]),
}

/// One option: its names, whether it takes a value, whether `--no-NAME` exists, and how it
/// changes [`Options`].
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Long name without `--`, or empty.
    pub long: &'static str,
    /// Other long names.
    pub aliases: &'static [&'static str],
    /// Short letter.
    pub short: Option<char>,
    /// Takes a value.
    pub takes_value: bool,
    /// Accepts `--no-NAME` (and `--no-X` for its short letter).
    pub negatable: bool,
    /// Applies the flag.
    pub apply: fn(&mut Options, FlagValue<'_>) -> Result<(), UsageError>,
}

impl Flag {
    /// Whether `name` (a long name without `--`) names this flag.
    pub fn has_long(&self, name: &str) -> bool {
        (!self.long.is_empty() && self.long == name) || self.aliases.contains(&name)
    }
}

fn on(v: FlagValue<'_>) -> bool {
    !matches!(v, FlagValue::Off)
}

fn value(v: FlagValue<'_>) -> &[u8] {
    match v {
        FlagValue::Value(s) => s,
        _ => b"",
    }
}

/// Records a `--delete-WHEN` option; rsync refuses two different ones (`--delete-during`
/// and `--delete-delay` set the same variable, the last one wins).
fn delete_when(o: &mut Options, when: rdsync_wire::DeleteWhen) -> Result<(), UsageError> {
    use rdsync_wire::DeleteWhen::{After, Before, Delay, During, Unspecified};
    let group = |w| match w {
        Before => 1,
        During | Delay => 2,
        After => 3,
        Unspecified => 0,
    };
    let (old, new) = (group(o.delete_when), group(when));
    if old != 0 && old != new {
        return Err(UsageError::Message(
            "You may not combine multiple --delete-WHEN options.".into(),
        ));
    }
    o.delete_when = when;
    Ok(())
}

fn add_rule(o: &mut Options, text: &[u8], syntax: RuleSyntax) -> Result<(), UsageError> {
    match FilterRule::parse(text, syntax) {
        Ok(Some(r)) => {
            o.filter_rules.push(r);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(UsageError::Message(e.to_string())),
    }
}

fn add_rules_from(o: &mut Options, path: &[u8], syntax: RuleSyntax) -> Result<(), UsageError> {
    use std::io::Read;
    let content = if path == b"-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| UsageError::Message(format!("failed to read stdin: {e}")))?;
        buf
    } else {
        let p = String::from_utf8_lossy(path).into_owned();
        std::fs::read(&p).map_err(|e| {
            let raw = e.raw_os_error().unwrap_or(0);
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or("").to_string();
            UsageError::FileIo(format!(
                "rsync: [client] failed to open {} file {p}: {text} ({raw})",
                if syntax == RuleSyntax::Include {
                    "include"
                } else {
                    "exclude"
                }
            ))
        })?
    };
    let rules = rdsync_engine::filter::parse_rules(&content, syntax, None, false)
        .map_err(|e| UsageError::Message(e.to_string()))?;
    o.filter_rules.extend(rules);
    Ok(())
}

/// The value of a numeric option, or rsync's complaint about it.
fn number<T: std::str::FromStr>(v: FlagValue<'_>, name: &str) -> Result<T, UsageError> {
    let text = String::from_utf8_lossy(value(v)).into_owned();
    text.trim()
        .parse()
        .map_err(|_| UsageError::Message(format!("Invalid argument passed to --{name} ({text})")))
}

/// Options of transfers over a remote shell.
const REMOTE_FLAGS: &[Flag] = &[
    Flag {
        long: "inc-recursive",
        aliases: &["i-r"],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.remote.no_inc_recursive = !on(v);
            Ok(())
        },
    },
    Flag {
        long: "rsh",
        aliases: &[],
        short: Some('e'),
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.rsh = Some(String::from_utf8_lossy(value(v)).into_owned());
            Ok(())
        },
    },
    Flag {
        long: "builtin-ssh",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.remote.builtin_ssh = on(v);
            Ok(())
        },
    },
    Flag {
        long: "rsync-path",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.rsync_path = Some(String::from_utf8_lossy(value(v)).into_owned());
            Ok(())
        },
    },
    Flag {
        long: "compress",
        aliases: &[],
        short: Some('z'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.remote.compress = on(v);
            Ok(())
        },
    },
    Flag {
        long: "compress-choice",
        aliases: &["zc"],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.compress_choice = Some(String::from_utf8_lossy(value(v)).into_owned());
            Ok(())
        },
    },
    Flag {
        long: "compress-level",
        aliases: &["zl"],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.compress_level = Some(number(v, "compress-level")?);
            Ok(())
        },
    },
    Flag {
        long: "protocol",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.protocol = Some(number(v, "protocol")?);
            Ok(())
        },
    },
    Flag {
        long: "block-size",
        aliases: &[],
        short: Some('B'),
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.block_size = Some(number(v, "block-size")?);
            Ok(())
        },
    },
    Flag {
        long: "timeout",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            o.remote.timeout = Some(number(v, "timeout")?);
            Ok(())
        },
    },
];

/// All natively handled options.
pub const FLAGS: &[Flag] = &[
    Flag {
        long: "archive",
        aliases: &[],
        short: Some('a'),
        takes_value: false,
        negatable: false,
        apply: |o, v| {
            if on(v) {
                o.recursive = true;
                o.links = true;
                o.perms = true;
                o.times = true;
                o.group = true;
                o.owner = true;
                o.devices = true;
                o.specials = true;
            }
            Ok(())
        },
    },
    Flag {
        long: "recursive",
        aliases: &[],
        short: Some('r'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.recursive = on(v);
            Ok(())
        },
    },
    Flag {
        long: "dirs",
        aliases: &[],
        short: Some('d'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.dirs = on(v);
            Ok(())
        },
    },
    Flag {
        long: "links",
        aliases: &[],
        short: Some('l'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.links = on(v);
            Ok(())
        },
    },
    Flag {
        long: "perms",
        aliases: &[],
        short: Some('p'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.perms = on(v);
            Ok(())
        },
    },
    Flag {
        long: "times",
        aliases: &[],
        short: Some('t'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.times = on(v);
            Ok(())
        },
    },
    Flag {
        long: "group",
        aliases: &[],
        short: Some('g'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.group = on(v);
            Ok(())
        },
    },
    Flag {
        long: "owner",
        aliases: &[],
        short: Some('o'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.owner = on(v);
            Ok(())
        },
    },
    Flag {
        long: "devices",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.devices = on(v);
            Ok(())
        },
    },
    Flag {
        long: "specials",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.specials = on(v);
            Ok(())
        },
    },
    Flag {
        long: "",
        aliases: &[],
        short: Some('D'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.devices = on(v);
            o.specials = on(v);
            Ok(())
        },
    },
    Flag {
        long: "hard-links",
        aliases: &[],
        short: Some('H'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.hard_links = on(v);
            Ok(())
        },
    },
    Flag {
        long: "checksum",
        aliases: &[],
        short: Some('c'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.checksum = on(v);
            Ok(())
        },
    },
    Flag {
        long: "dry-run",
        aliases: &[],
        short: Some('n'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.dry_run = on(v);
            Ok(())
        },
    },
    Flag {
        long: "verbose",
        aliases: &[],
        short: Some('v'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            if on(v) {
                o.verbosity.verbose += 1
            } else {
                o.verbosity.verbose = 0
            }
            Ok(())
        },
    },
    Flag {
        long: "quiet",
        aliases: &[],
        short: Some('q'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.verbosity.quiet = on(v);
            Ok(())
        },
    },
    Flag {
        long: "itemize-changes",
        aliases: &[],
        short: Some('i'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            if on(v) {
                o.verbosity.itemize += 1
            } else {
                o.verbosity.itemize = 0
            }
            Ok(())
        },
    },
    Flag {
        long: "stats",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.verbosity.stats = on(v);
            Ok(())
        },
    },
    Flag {
        long: "progress",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.verbosity.progress = on(v);
            Ok(())
        },
    },
    Flag {
        long: "",
        aliases: &[],
        short: Some('P'),
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            o.partial = true;
            o.verbosity.progress = true;
            Ok(())
        },
    },
    Flag {
        long: "human-readable",
        aliases: &[],
        short: Some('h'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            if on(v) {
                o.verbosity.human += 1
            } else {
                o.verbosity.human = 0
            }
            Ok(())
        },
    },
    Flag {
        long: "info",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            for word in value(v).split(|&c| c == b',') {
                match word {
                    b"progress2" => o.verbosity.progress2 = true,
                    b"progress1" => o.verbosity.progress = true,
                    b"progress0" | b"progress" => {
                        o.verbosity.progress = word == b"progress";
                        o.verbosity.progress2 = false;
                    }
                    b"" => {}
                    _ => {
                        return Err(UsageError::Unsupported(format!(
                            "--info={}",
                            String::from_utf8_lossy(word)
                        )));
                    }
                }
            }
            Ok(())
        },
    },
    Flag {
        long: "delete",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            if o.delete.is_none() {
                o.delete = Some(DeleteTiming::During)
            }
            Ok(())
        },
    },
    Flag {
        long: "delete-during",
        aliases: &["del"],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            delete_when(o, rdsync_wire::DeleteWhen::During)?;
            o.delete = Some(DeleteTiming::During);
            Ok(())
        },
    },
    Flag {
        long: "delete-before",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            delete_when(o, rdsync_wire::DeleteWhen::Before)?;
            o.delete = Some(DeleteTiming::Before);
            Ok(())
        },
    },
    Flag {
        long: "delete-after",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            delete_when(o, rdsync_wire::DeleteWhen::After)?;
            o.delete = Some(DeleteTiming::After);
            Ok(())
        },
    },
    Flag {
        long: "delete-delay",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            // Found while walking, deleted once the transfer is done: locally the same
            // tree and report as --delete-after.
            delete_when(o, rdsync_wire::DeleteWhen::Delay)?;
            o.delete = Some(DeleteTiming::After);
            Ok(())
        },
    },
    Flag {
        long: "delete-excluded",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            o.delete_excluded = true;
            if o.delete.is_none() {
                o.delete = Some(DeleteTiming::During)
            }
            Ok(())
        },
    },
    Flag {
        long: "force",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.force = on(v);
            Ok(())
        },
    },
    Flag {
        long: "exclude",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| add_rule(o, value(v), RuleSyntax::Exclude),
    },
    Flag {
        long: "include",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| add_rule(o, value(v), RuleSyntax::Include),
    },
    Flag {
        long: "exclude-from",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| add_rules_from(o, value(v), RuleSyntax::Exclude),
    },
    Flag {
        long: "include-from",
        aliases: &[],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| add_rules_from(o, value(v), RuleSyntax::Include),
    },
    Flag {
        long: "filter",
        aliases: &[],
        short: Some('f'),
        takes_value: true,
        negatable: false,
        apply: |o, v| add_rule(o, value(v), RuleSyntax::Filter),
    },
    Flag {
        long: "",
        aliases: &[],
        short: Some('F'),
        takes_value: false,
        negatable: false,
        apply: |o, _| {
            let already = o.filter_rules.iter().any(|r| {
                r.action == rdsync_engine::filter::RuleAction::DirMerge
                    && r.pattern == b"/.rsync-filter"
            });
            if already {
                add_rule(o, b"- .rsync-filter", RuleSyntax::Filter)
            } else {
                add_rule(o, b"dir-merge /.rsync-filter", RuleSyntax::Filter)
            }
        },
    },
    Flag {
        long: "whole-file",
        aliases: &[],
        short: Some('W'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.whole_file = Some(on(v));
            Ok(())
        },
    },
    Flag {
        long: "inplace",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.inplace = on(v);
            Ok(())
        },
    },
    Flag {
        long: "partial",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.partial = on(v);
            Ok(())
        },
    },
    Flag {
        long: "numeric-ids",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.numeric_ids = on(v);
            Ok(())
        },
    },
    Flag {
        long: "checksum-choice",
        aliases: &["cc"],
        short: None,
        takes_value: true,
        negatable: false,
        apply: |o, v| {
            let name = String::from_utf8_lossy(value(v)).into_owned();
            let known = [
                "auto", "xxh128", "xxh3", "xxh64", "xxhash", "md5", "md4", "sha1", "none",
            ];
            for part in name.split(',') {
                if !known.contains(&part) {
                    return Err(UsageError::Fatal(
                        format!("unknown checksum name: {part}"),
                        4,
                    ));
                }
            }
            o.checksum_choice = Some(name);
            Ok(())
        },
    },
    Flag {
        long: "size-only",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.size_only = on(v);
            Ok(())
        },
    },
    Flag {
        long: "ignore-times",
        aliases: &[],
        short: Some('I'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.ignore_times = on(v);
            Ok(())
        },
    },
    Flag {
        long: "existing",
        aliases: &["ignore-non-existing"],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.existing = on(v);
            Ok(())
        },
    },
    Flag {
        long: "ignore-existing",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.ignore_existing = on(v);
            Ok(())
        },
    },
    Flag {
        long: "update",
        aliases: &[],
        short: Some('u'),
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.update = on(v);
            Ok(())
        },
    },
    Flag {
        long: "mkpath",
        aliases: &[],
        short: None,
        takes_value: false,
        negatable: true,
        apply: |o, v| {
            o.mkpath = on(v);
            Ok(())
        },
    },
];

/// Every flag: the local-sync table, then the remote-transfer one.
fn all_flags() -> impl Iterator<Item = &'static Flag> {
    FLAGS.iter().chain(REMOTE_FLAGS)
}

/// Finds a flag by long name (without `--`). Returns the flag and whether it was negated.
pub fn find_long(name: &str) -> Option<(&'static Flag, bool)> {
    if let Some(f) = all_flags().find(|f| f.has_long(name)) {
        return Some((f, false));
    }
    let rest = name.strip_prefix("no-")?;
    if let Some(f) = all_flags().find(|f| f.negatable && f.has_long(rest)) {
        return Some((f, true));
    }
    // `--no-X` for a short letter, e.g. `--no-D`, `--no-W`.
    let mut chars = rest.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return all_flags()
            .find(|f| f.negatable && f.short == Some(c))
            .map(|f| (f, true));
    }
    None
}

/// Finds a flag by short letter.
pub fn find_short(c: char) -> Option<&'static Flag> {
    all_flags().find(|f| f.short == Some(c))
}
