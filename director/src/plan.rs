//! How an action resolves to the process that runs it, and the `check-config` report.
//!
//! A sync builds the same command as rsyncdirector (`rsync <opts> [-e 'ssh -p P -i K'] <source>
//! [user@host:]<dest>`), but each opts element is split with shell quoting rules and run as an
//! argv. Only when a field needs real shell features (globs, `~`, `$`, pipes, ...) does it run
//! through `bash -c` with the upstream string, exactly as upstream did.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::config::raw::ShellMode;
use crate::config::{Action, ActionKind, Config, Place, SshEndpoint};
use crate::engine::{self, Choice, Engine, EngineConfig};
use crate::shellwords;

/// The system rsync a sync falls back to (found on `PATH`). The native `rsync_path` key
/// replaces it (and then, unless `engine:` says otherwise, runs every sync).
pub const RSYNC: &str = "rsync";

/// The process an action runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Exec this argv directly (no shell).
    Argv(Vec<String>),
    /// Run this string with `bash -c`.
    Shell(String),
}

impl Program {
    /// The argv handed to the OS.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Program::Argv(v) => v.clone(),
            Program::Shell(s) => vec!["bash".into(), "-c".into(), s.clone()],
        }
    }

    /// A copy-pasteable rendering.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(v) => shellwords::join(v),
            Program::Shell(s) => format!("bash -c {}", shellwords::quote(s)),
        }
    }
}

/// An action that cannot be resolved.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    /// A field does not split into words.
    #[error("{0}")]
    Split(#[from] shellwords::SplitError),
    /// `shell: never` but a field needs the shell.
    #[error("field {0:?} needs shell features but the action has `shell: never`")]
    ShellForbidden(String),
}

/// The resolved form of a sync action (without the per-run extras such as `--stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// rsync's arguments after the program name, run as an argv.
    Argv(Vec<String>),
    /// The text after `rsync ` in the upstream `bash -c` string.
    Shell(String),
}

impl SyncPlan {
    /// Builds the program `rsync` (a path or name), inserting `extra` options right after it.
    pub fn program(&self, rsync: &str, extra: &[&str]) -> Program {
        match self {
            SyncPlan::Argv(args) => {
                let mut v = vec![rsync.to_string()];
                v.extend(extra.iter().map(|s| s.to_string()));
                v.extend(args.iter().cloned());
                Program::Argv(v)
            }
            SyncPlan::Shell(rest) => {
                let mut s = shellwords::quote(rsync);
                for e in extra {
                    s.push(' ');
                    s.push_str(e);
                }
                s.push(' ');
                s.push_str(rest);
                Program::Shell(s)
            }
        }
    }
}

/// The `-e` value for an endpoint, as upstream builds it (only when a port or key is set).
pub fn ssh_e_option(ep: &SshEndpoint) -> Option<String> {
    if ep.port.is_none() && ep.key.is_none() && ep.options.is_empty() {
        return None;
    }
    let mut s = "ssh".to_string();
    if let Some(p) = ep.port {
        write!(s, " -p {p}").ok();
    }
    if let Some(k) = &ep.key {
        write!(s, " -i {}", shellwords::quote(k)).ok();
    }
    for o in &ep.options {
        write!(s, " {}", shellwords::quote(o)).ok();
    }
    Some(s)
}

/// Resolves a sync action.
pub fn plan_sync(
    place: &Place,
    source: &str,
    dest: &str,
    opts: &[String],
    shell: ShellMode,
) -> Result<SyncPlan, PlanError> {
    let remote_dest = match place {
        Place::Local => dest.to_string(),
        Place::Remote(ep) => match &ep.user {
            Some(u) => format!("{u}@{}:{dest}", ep.host),
            None => format!("{}:{dest}", ep.host),
        },
    };
    let e_opt = match place {
        Place::Remote(ep) => ssh_e_option(ep),
        Place::Local => None,
    };
    let fields: Vec<&str> = opts
        .iter()
        .map(String::as_str)
        .chain([source, dest])
        .collect();
    let shell_needed = fields.iter().find(|f| shellwords::needs_shell(f));
    let use_shell = match (shell, shell_needed) {
        (ShellMode::Always, _) => true,
        (ShellMode::Auto, Some(_)) => true,
        (ShellMode::Auto, None) => false,
        (ShellMode::Never, Some(f)) => return Err(PlanError::ShellForbidden(f.to_string())),
        (ShellMode::Never, None) => false,
    };
    if use_shell {
        let mut parts: Vec<String> = opts.to_vec();
        if let Some(e) = e_opt {
            parts.push("-e".into());
            parts.push(format!("'{e}'"));
        }
        parts.push(source.to_string());
        parts.push(remote_dest);
        return Ok(SyncPlan::Shell(parts.join(" ")));
    }
    let mut args = Vec::new();
    for o in opts {
        args.extend(shellwords::split(o)?);
    }
    if let Some(e) = e_opt {
        args.push("-e".into());
        args.push(e);
    }
    args.extend(shellwords::split(source)?);
    // The destination is one word; quoting in it is resolved like the shell would.
    let mut d = shellwords::split(dest)?;
    let dest_word = if d.len() == 1 {
        d.remove(0)
    } else {
        dest.to_string()
    };
    args.push(match place {
        Place::Local => dest_word,
        Place::Remote(ep) => match &ep.user {
            Some(u) => format!("{u}@{}:{dest_word}", ep.host),
            None => format!("{}:{dest_word}", ep.host),
        },
    });
    Ok(SyncPlan::Argv(args))
}

/// Resolves a command action (`command` followed by `args`).
pub fn plan_command(
    command: &str,
    args: &[String],
    shell: ShellMode,
) -> Result<Program, PlanError> {
    let fields: Vec<&str> = std::iter::once(command)
        .chain(args.iter().map(String::as_str))
        .collect();
    let shell_needed = fields.iter().find(|f| shellwords::needs_shell(f));
    let use_shell = match (shell, shell_needed) {
        (ShellMode::Always, _) | (ShellMode::Auto, Some(_)) => true,
        (ShellMode::Never, Some(f)) => return Err(PlanError::ShellForbidden(f.to_string())),
        _ => false,
    };
    if use_shell {
        return Ok(Program::Shell(fields.join(" ")));
    }
    let mut argv = Vec::new();
    for f in fields {
        argv.extend(shellwords::split(f)?);
    }
    Ok(Program::Argv(argv))
}

/// The program an action runs. Syncs get `--stats` (for the transfer metrics) unless already
/// present, and `--dry-run` in dry-run mode, and run the engine [`sync_choice`] picks.
pub fn action_program(action: &Action, dry_run: bool) -> Program {
    match &action.kind {
        ActionKind::Command { program, .. } => program.clone(),
        ActionKind::Sync { plan, engine, .. } => choose_engine(plan, engine, dry_run).program,
    }
}

/// For a sync: the engine that runs it (native rdsync or the system rsync), why, and the exact
/// program; `None` for a command.
pub fn sync_choice(action: &Action, dry_run: bool) -> Option<Choice> {
    match &action.kind {
        ActionKind::Sync { plan, engine, .. } => Some(choose_engine(plan, engine, dry_run)),
        ActionKind::Command { .. } => None,
    }
}

fn choose_engine(plan: &SyncPlan, engine: &EngineConfig, dry_run: bool) -> Choice {
    let has = |o: &str| match plan {
        SyncPlan::Argv(a) => a.iter().any(|x| x == o),
        SyncPlan::Shell(s) => s.split_whitespace().any(|x| x == o),
    };
    let mut extra = Vec::new();
    if !has("--stats") {
        extra.push("--stats");
    }
    if dry_run && !has("--dry-run") && !has("-n") {
        extra.push("--dry-run");
    }
    engine::choose(plan, &extra, engine)
}

/// The `check-config` report: per job, its schedule, next `n` fire times after `from`, and the
/// exact command of each action.
pub fn report(config: &Config, from: DateTime<Utc>, n: usize) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "config {} ({} dialect): instance {:?}, {} job(s)",
        config.path.display(),
        config.dialect,
        config.instance_id,
        config.jobs.len()
    )
    .ok();
    writeln!(
        out,
        "pid file {}, state dir {}, control socket {}, metrics {}",
        config.pid_file().display(),
        config.state_dir.display(),
        config.control_socket.display(),
        if config.metrics.enabled {
            format!(
                "http://{}:{}/metrics",
                config.metrics.addr, config.metrics.port
            )
        } else {
            "disabled".into()
        }
    )
    .ok();
    for job in &config.jobs {
        writeln!(out).ok();
        writeln!(out, "job {}", job.id).ok();
        match &job.schedule {
            Some(s) => {
                writeln!(
                    out,
                    "  schedule: {:?} ({}){}{}",
                    s.expr(),
                    s.zone(),
                    if job.jitter.is_zero() {
                        String::new()
                    } else {
                        format!(", jitter up to {:?}", job.jitter)
                    },
                    if job.enabled { "" } else { ", DISABLED" }
                )
                .ok();
                for t in s.upcoming(from, n) {
                    writeln!(out, "  next: {}", s.zone().format(t)).ok();
                }
            }
            None => {
                writeln!(out, "  schedule: none (runs on demand)").ok();
            }
        }
        if let Some(g) = &job.group {
            writeln!(
                out,
                "  group: {g} (one job of the group runs at a time){}",
                if job.priority != 0 {
                    format!(", priority {}", job.priority)
                } else {
                    String::new()
                }
            )
            .ok();
        }
        for b in &job.blocks_on {
            writeln!(
                out,
                "  blocks_on: {} (poll every {:?}, timeout {})",
                b.describe(),
                b.wait_time,
                b.timeout
                    .map(|t| format!("{t:?}"))
                    .unwrap_or_else(|| "none".into())
            )
            .ok();
        }
        for l in &job.lock_files {
            writeln!(out, "  lock_file: {}", l.describe()).ok();
        }
        for n in &job.notify {
            writeln!(
                out,
                "  notify: {} on {}: {}",
                n.name,
                n.states.join(","),
                shellwords::join(&n.argv)
            )
            .ok();
        }
        for a in &job.actions {
            let choice = sync_choice(a, false);
            let prog = match &choice {
                Some(c) => c.program.clone(),
                None => action_program(a, false),
            };
            let what = match (&a.kind, &prog, &choice) {
                (_, _, Some(c)) if c.engine == Engine::Native => "sync (native rdsync)".to_string(),
                (ActionKind::Sync { rsync, .. }, _, _) if rsync == RSYNC => {
                    "sync (system rsync)".to_string()
                }
                (ActionKind::Sync { rsync, .. }, _, _) => format!("sync ({rsync})"),
                (ActionKind::Command { .. }, Program::Shell(_), _) => {
                    "command (bash -c)".to_string()
                }
                (ActionKind::Command { .. }, Program::Argv(_), _) => "command (argv)".to_string(),
            };
            writeln!(out, "  action {} [{what}]: {}", a.id, prog.display()).ok();
            if let Some(c) = &choice {
                writeln!(out, "    engine: {}", c.describe()).ok();
            }
            if let ActionKind::Command { stdin: Some(s), .. } = &a.kind {
                writeln!(out, "    stdin: {s:?}").ok();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_sync_matches_upstream_plus_key() {
        let ep = SshEndpoint {
            user: Some("root".into()),
            host: "backup_a.example.com".into(),
            port: Some(22000),
            key: Some("/var/tmp/some-private-ssh-key".into()),
            options: Vec::new(),
        };
        let opts: Vec<String> = [
            "-av",
            "--delete",
            "--exclude '.cache'",
            "--exclude 'Downloads'",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = plan_sync(
            &Place::Remote(ep),
            "/source/path",
            "/path/on/remote/host",
            &opts,
            ShellMode::Auto,
        )
        .unwrap();
        assert_eq!(
            p.program(RSYNC, &[]).argv(),
            vec![
                "rsync",
                "-av",
                "--delete",
                "--exclude",
                ".cache",
                "--exclude",
                "Downloads",
                "-e",
                "ssh -p 22000 -i /var/tmp/some-private-ssh-key",
                "/source/path",
                "root@backup_a.example.com:/path/on/remote/host"
            ]
        );
    }

    #[test]
    fn glob_source_uses_shell() {
        let p = plan_sync(&Place::Local, "/src/*", "/dst", &[], ShellMode::Auto).unwrap();
        assert_eq!(
            p.program(RSYNC, &["--stats"]),
            Program::Shell("rsync --stats /src/* /dst".into())
        );
        assert!(plan_sync(&Place::Local, "/src/*", "/dst", &[], ShellMode::Never).is_err());
    }
}
