//! Which engine runs a sync: the native rdsync engine or the system rsync.
//!
//! A sync runs as a child process either way, so the process-group, timeout and signal machinery
//! of [`crate::runner`] applies unchanged: the native engine is the `rdsync` binary (rsync's
//! syntax and exit codes), the fallback the system rsync (`rsync_path`, default `rsync` on `PATH`).
//!
//! The decision is made up front on the exact argv with [`rdsync::parse_args`] (and the same
//! local/remote checks the `rdsync` command makes), so `check-config` can show it and every run
//! logs it. `engine:` selects the policy:
//!
//! * `auto` (the default, unless `rsync_path` is set): rdsync when every option is native and
//!   the `rdsync` binary is found (`rdsync_path`, else next to the director's own binary, else on
//!   `PATH`), otherwise the system rsync, with the reason;
//! * `native`: always the `rdsync` binary (a configuration error if it cannot be found); an
//!   action with options rdsync lacks is handed by rdsync itself to `/usr/bin/rsync`;
//! * `rsync`: always the system rsync (the default when `rsync_path` is set, so an explicitly
//!   named program keeps running every sync).

use std::path::{Path, PathBuf};

use rdsync::Dispatch;

use crate::plan::{Program, SyncPlan};
use crate::shellwords;

/// The `engine:` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    /// rdsync when every option is native, else the system rsync.
    Auto,
    /// Always the rdsync binary.
    Native,
    /// Always the system rsync.
    Rsync,
}

impl EngineMode {
    /// Parses `auto`, `native` or `rsync`.
    pub fn parse(s: &str) -> Option<EngineMode> {
        match s {
            "auto" => Some(EngineMode::Auto),
            "native" | "rdsync" => Some(EngineMode::Native),
            "rsync" | "system" => Some(EngineMode::Rsync),
            _ => None,
        }
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineMode::Auto => "auto",
            EngineMode::Native => "native",
            EngineMode::Rsync => "rsync",
        }
    }
}

/// The resolved engine settings of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The policy.
    pub mode: EngineMode,
    /// The `rdsync` binary, or why none was found.
    pub rdsync: Result<PathBuf, String>,
    /// The system rsync (`rsync_path`, default `rsync`).
    pub rsync: String,
}

impl EngineConfig {
    /// Settings that always run `rsync` (the program), as before the native engine existed.
    pub fn rsync_only(rsync: &str) -> EngineConfig {
        EngineConfig {
            mode: EngineMode::Rsync,
            rdsync: Err("engine: rsync".into()),
            rsync: rsync.to_string(),
        }
    }
}

/// Finds the `rdsync` binary: `explicit` (a path, or a name looked up on `PATH`), else `rdsync`
/// next to the running executable, else `rdsync` on `PATH`.
pub fn locate_rdsync(explicit: Option<&str>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        if p.contains('/') {
            let pb = PathBuf::from(p);
            return if is_executable(&pb) {
                Ok(pb)
            } else {
                Err(format!("rdsync_path {p} is not an executable file"))
            };
        }
        return on_path(p).ok_or_else(|| format!("rdsync_path {p:?} is not on PATH"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let c = dir.join("rdsync");
        if is_executable(&c) {
            return Ok(c);
        }
    }
    on_path("rdsync")
        .ok_or_else(|| "no rdsync binary next to the director's binary or on PATH".to_string())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|c| is_executable(c))
    })
}

/// Which engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The native rdsync engine (the `rdsync` binary).
    Native,
    /// The system rsync (or `rsync_path`).
    System,
}

impl Engine {
    /// `rdsync` or `rsync`, as recorded in the run history.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Native => "rdsync",
            Engine::System => "rsync",
        }
    }
}

/// The engine chosen for one sync, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The engine.
    pub engine: Engine,
    /// Why (for the system rsync) or a note (for rdsync); may be empty.
    pub reason: String,
    /// The program to run.
    pub program: Program,
}

impl Choice {
    /// `native rdsync` or `system rsync (reason: ...)`, for logs and `check-config`.
    pub fn describe(&self) -> String {
        match (self.engine, self.reason.is_empty()) {
            (Engine::Native, true) => "native rdsync".into(),
            (Engine::Native, false) => format!("native rdsync ({})", self.reason),
            (Engine::System, _) => format!("system rsync (reason: {})", self.reason),
        }
    }
}

/// Whether rdsync runs `args` (rsync's arguments, without the program name) natively: `Ok` if
/// so, else the reason, decided as the `rdsync` command decides it.
pub fn native_verdict(args: &[String]) -> Result<(), String> {
    match rdsync::dispatch(args.iter().map(Into::into).collect()) {
        Dispatch::Local(_) | Dispatch::Remote(..) => Ok(()),
        Dispatch::Fallback(reason) => Err(format!("{reason} is not supported natively")),
        Dispatch::Version | Dispatch::Help => Err("--version/--help is not a transfer".into()),
        Dispatch::Usage(m, _) => Err(format!("rdsync rejects the arguments: {m}")),
    }
}

/// Chooses the engine for a sync `plan` with `extra` options (`--stats`, `--dry-run`) in front.
pub fn choose(plan: &SyncPlan, extra: &[&str], cfg: &EngineConfig) -> Choice {
    let system = |reason: String| Choice {
        engine: Engine::System,
        reason,
        program: plan.program(&cfg.rsync, extra),
    };
    let native = |reason: String, rdsync: &Path| Choice {
        engine: Engine::Native,
        reason,
        program: plan.program(&rdsync.to_string_lossy(), extra),
    };
    // The argv rdsync would see (for bash -c: the words before expansion).
    let (args, shell_note) = match plan {
        SyncPlan::Argv(a) => (Ok(a.clone()), ""),
        SyncPlan::Shell(rest) => (
            shellwords::split(rest).map_err(|e| e.to_string()),
            "decided before bash expands the arguments; rdsync hands over to /usr/bin/rsync \
             itself if the expansion needs it",
        ),
    };
    let verdict = args.and_then(|mut a| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.append(&mut a);
        native_verdict(&v)
    });
    match cfg.mode {
        EngineMode::Rsync => system("engine: rsync".into()),
        EngineMode::Native => match &cfg.rdsync {
            Ok(p) => match verdict {
                Ok(()) => native(shell_note.into(), p),
                Err(r) => native(
                    format!("engine: native; rdsync hands over to /usr/bin/rsync: {r}"),
                    p,
                ),
            },
            // Rejected when the configuration loads; kept total here.
            Err(why) => system(why.clone()),
        },
        EngineMode::Auto => match (verdict, &cfg.rdsync) {
            (Ok(()), Ok(p)) => native(shell_note.into(), p),
            (Err(r), _) => system(r),
            (Ok(()), Err(why)) => system(why.clone()),
        },
    }
}

/// The line the `rdsync` binary prints on stderr when it hands a command line to the system
/// rsync: returns the reason it names.
pub fn handover_notice(line: &str) -> Option<&str> {
    line.strip_prefix("rdsync: ")?
        .split_once(" is not supported natively; running ")
        .map(|(r, _)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn verdicts() {
        assert_eq!(native_verdict(&v(&["--stats", "-a", "/a/", "/b/"])), Ok(()));
        let r = native_verdict(&v(&["-a", "--bwlimit=100", "/a/", "/b/"])).unwrap_err();
        assert!(r.contains("bwlimit"), "{r}");
        assert!(native_verdict(&v(&["-a", "/a/"])).is_err());
    }

    #[test]
    fn auto_and_rsync_modes() {
        let plan = SyncPlan::Argv(v(&["-a", "/a/", "/b/"]));
        let mut cfg = EngineConfig {
            mode: EngineMode::Auto,
            rdsync: Ok(PathBuf::from("/opt/rdsync")),
            rsync: "rsync".into(),
        };
        let c = choose(&plan, &["--stats"], &cfg);
        assert_eq!(c.engine, Engine::Native);
        assert_eq!(
            c.program.argv(),
            v(&["/opt/rdsync", "--stats", "-a", "/a/", "/b/"])
        );
        cfg.rdsync = Err("missing".into());
        let c = choose(&plan, &["--stats"], &cfg);
        assert_eq!((c.engine, c.reason.as_str()), (Engine::System, "missing"));
        cfg.mode = EngineMode::Rsync;
        assert_eq!(choose(&plan, &[], &cfg).program.argv()[0], "rsync");
    }

    #[test]
    fn notice() {
        assert_eq!(
            handover_notice(
                "rdsync: --bwlimit is not supported natively; running /usr/bin/rsync instead"
            ),
            Some("--bwlimit")
        );
        assert_eq!(handover_notice("sent 1 bytes"), None);
    }
}
