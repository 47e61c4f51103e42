//! Loading and validating configuration files.
//!
//! Three dialects share one schema ([`raw`]): rsyncdirector YAML (`rsync_id`, `cron_schedule`,
//! `jobs` with `actions:` or the legacy `syncs:`), py9tor JSON (`host`, `port`, `targets`), and
//! the native superset (`version: 1`). Files ending in `.json` or starting with `{` are JSON,
//! everything else YAML. Errors name `file:line:column`. Unknown keys are warnings, or errors in
//! strict mode.

pub mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::engine::{self, EngineConfig, EngineMode};
use crate::plan::{self, PlanError, Program, SyncPlan};
use crate::schedule::{CronDialect, Schedule, ScheduleError, Zone};
use raw::{NumOrStr, RawActionKind, RawFile, RawJobOptions, RawPlace, ShellMode};

/// The group that the jobs of an rsyncdirector instance run share: one at a time, in file order.
pub const INSTANCE_GROUP: &str = "instance";

/// A configuration error, located in its file when possible.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A syntax or schema error, or a semantic error that could be located.
    #[error("{path}:{line}:{column}: {message}")]
    Located {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A semantic error that could not be located.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Which tool's format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// rsyncdirector YAML.
    RsyncDirector,
    /// py9tor `config.json`.
    Py9tor,
    /// Native (`version: 1`).
    Native,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::RsyncDirector => "rsyncdirector",
            Dialect::Py9tor => "py9tor",
            Dialect::Native => "native",
        })
    }
}

/// An SSH endpoint (remote jobs, locks and blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshEndpoint {
    /// Login user.
    pub user: Option<String>,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: Option<u16>,
    /// Private key (`private_ssh_key` or `private_key_path`).
    pub key: Option<String>,
    /// Extra ssh options from the native `ssh:` section (e.g. `-o UserKnownHostsFile=...`).
    pub options: Vec<String>,
}

impl SshEndpoint {
    /// The argv of the system `ssh` to this endpoint, up to (and including) the destination.
    pub fn ssh_argv(&self) -> Vec<String> {
        let mut v = vec![
            "ssh".to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ];
        if let Some(p) = self.port {
            v.push("-p".into());
            v.push(p.to_string());
        }
        if let Some(k) = &self.key {
            v.push("-i".into());
            v.push(k.clone());
        }
        v.extend(self.options.iter().cloned());
        v.push(match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        });
        v
    }
}

/// Where a lock file or block file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// This host.
    Local,
    /// A host reached with the system ssh.
    Remote(SshEndpoint),
}

/// A lock file the job creates while it runs.
#[derive(Debug, Clone)]
pub struct LockSpec {
    /// Where.
    pub place: Place,
    /// Path.
    pub path: String,
}

impl LockSpec {
    /// `path` or `host:path`.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::Local => self.path.clone(),
            Place::Remote(ep) => format!("{}:{}", ep.host, self.path),
        }
    }
}

/// A file whose presence delays the job.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// Where.
    pub place: Place,
    /// Path.
    pub path: String,
    /// Poll interval.
    pub wait_time: Duration,
    /// Skip the job after waiting this long (exactly; upstream waited twice as long).
    pub timeout: Option<Duration>,
}

impl BlockSpec {
    /// `path` or `host:path`.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::Local => self.path.clone(),
            Place::Remote(ep) => format!("{}:{}", ep.host, self.path),
        }
    }
}

/// What an action does.
#[derive(Debug, Clone)]
pub enum ActionKind {
    /// A transfer with the system rsync (or `rsync_path`).
    Sync {
        /// The resolved arguments.
        plan: SyncPlan,
        /// The system rsync (`rsync_path`), run when the native engine is not.
        rsync: String,
        /// How the engine is chosen.
        engine: EngineConfig,
    },
    /// A local command.
    Command {
        /// The process.
        program: Program,
        /// Text fed to its standard input (py9tor SSH targets).
        stdin: Option<String>,
    },
}

/// One step of a job.
#[derive(Debug, Clone)]
pub struct Action {
    /// Action id (label `action_id`/`action` on metrics).
    pub id: String,
    /// What it runs.
    pub kind: ActionKind,
    /// Time limit of one attempt.
    pub timeout: Option<Duration>,
    /// Further attempts after a failure.
    pub retries: u32,
    /// Wait before the first retry; doubles each retry.
    pub retry_wait: Duration,
    /// Exit codes that count as success.
    pub ok_exit_codes: Vec<i32>,
}

/// A job: an ordered list of actions with its schedule and coordination.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique id.
    pub id: String,
    /// When it fires on its own (None: only on demand).
    pub schedule: Option<Schedule>,
    /// Jobs of one group run one at a time (FIFO). rsyncdirector jobs share [`INSTANCE_GROUP`].
    pub group: Option<String>,
    /// Within a group, higher priorities are admitted first (py9tor rsnapshot: yearly 5 ...
    /// hourly 1).
    pub priority: i32,
    /// Disabled jobs are not scheduled.
    pub enabled: bool,
    /// Random delay per cron fire.
    pub jitter: Duration,
    /// Catch up one missed fire after downtime.
    pub catch_up: bool,
    /// Run once when the daemon starts.
    pub run_on_start: bool,
    /// Whole-job time limit.
    pub timeout: Option<Duration>,
    /// SIGTERM → SIGKILL grace on timeout or cancel.
    pub kill_grace: Duration,
    /// Lock files created while running.
    pub lock_files: Vec<LockSpec>,
    /// Files that must be absent first.
    pub blocks_on: Vec<BlockSpec>,
    /// The steps.
    pub actions: Vec<Action>,
    /// Commands run on state changes (start, success, failure, ...).
    pub notify: Vec<Notifier>,
}

/// A notifier command and the states that fire it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Its name in `notify:`.
    pub name: String,
    /// The command (argv, no shell).
    pub argv: Vec<String>,
    /// `start`, `success`, `failure`, `skipped`, `cancelled`.
    pub states: Vec<String>,
}

impl Notifier {
    /// The notifier state a run result belongs to.
    pub fn state_of(result: &str) -> &'static str {
        match result {
            "success" => "success",
            "skipped_blocked" | "skipped_locked" => "skipped",
            "cancelled" => "cancelled",
            _ => "failure",
        }
    }

    /// Whether this notifier wants `state`.
    pub fn wants(&self, state: &str) -> bool {
        self.states.iter().any(|s| s == state)
    }
}

/// The metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Serve at all.
    pub enabled: bool,
    /// Bind address.
    pub addr: String,
    /// Bind port (0 = ephemeral).
    pub port: u16,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Its dialect.
    pub dialect: Dialect,
    /// Instance id (`rsync_id`).
    pub instance_id: String,
    /// Default zone of schedules.
    pub zone: Zone,
    /// Directory of the pid file.
    pub pid_file_dir: PathBuf,
    /// Directory of persisted state, history and run logs.
    pub state_dir: PathBuf,
    /// Control socket path.
    pub control_socket: PathBuf,
    /// Metrics endpoint.
    pub metrics: MetricsConfig,
    /// Grace for children on shutdown before SIGKILL.
    pub stop_grace: Duration,
    /// How syncs choose their engine (native rdsync or the system rsync).
    pub engine: EngineConfig,
    /// Jobs in file order.
    pub jobs: Vec<Job>,
    /// Warnings found while loading (unknown keys, dialect differences).
    pub warnings: Vec<String>,
}

impl Config {
    /// The pid file path: `<pid_file_dir>/rsyncdirector-<id>.pid`, as upstream.
    pub fn pid_file(&self) -> PathBuf {
        self.pid_file_dir
            .join(format!("rsyncdirector-{}.pid", self.instance_id))
    }

    /// Looks a job up by id.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }
}

/// Command-line overrides applied while loading.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Unknown keys are errors.
    pub strict: bool,
    /// Replace `pid_file_dir`.
    pub pid_file_dir: Option<PathBuf>,
    /// Replace `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// Replace the control socket path.
    pub control_socket: Option<PathBuf>,
    /// Replace `metrics.addr`.
    pub metrics_addr: Option<String>,
    /// Replace `metrics.port`.
    pub metrics_port: Option<u16>,
}

/// Reads and validates a configuration file.
pub fn load(path: &Path, ov: &Overrides) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &text, ov)
}

/// Validates configuration text; `path` is used for messages and dialect detection.
pub fn load_str(path: &Path, text: &str, ov: &Overrides) -> Result<Config, ConfigError> {
    let loc = Locator { path, text };
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let mut unknown = Vec::new();
    let raw: RawFile = if is_json {
        let mut de = serde_json::Deserializer::from_str(text);
        let r = serde_ignored::deserialize(&mut de, |p| unknown.push(p.to_string()));
        r.map_err(|e| loc.at(e.line(), e.column(), strip_json_loc(&e.to_string())))?
    } else {
        let de = serde_norway::Deserializer::from_str(text);
        let r = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()));
        r.map_err(|e| match e.location() {
            Some(l) => loc.at(l.line(), l.column(), strip_yaml_loc(&e.to_string())),
            None => ConfigError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })?
    };
    let mut warnings = Vec::new();
    for key in &unknown {
        // serde_ignored writes `?` for an `Option` level; drop it from the dotted path.
        let key = &key
            .split('.')
            .filter(|s| *s != "?")
            .collect::<Vec<_>>()
            .join(".");
        let last = key.rsplit('.').next().unwrap_or(key);
        let (line, column) = loc.find_key(last, is_json).unwrap_or((1, 1));
        let msg = format!("unknown key `{key}`");
        if ov.strict {
            return Err(loc.at(line, column, format!("{msg} (strict mode)")));
        }
        warnings.push(format!(
            "{}:{line}:{column}: warning: {msg} (ignored)",
            path.display()
        ));
    }
    build(raw, &loc, ov, warnings)
}

fn strip_yaml_loc(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn strip_json_loc(s: &str) -> String {
    strip_yaml_loc(s)
}

/// Finds where things are in the text, for semantic errors.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, line: usize, column: usize, message: String) -> ConfigError {
        ConfigError::Located {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// First `key:` (YAML) or `"key":` (JSON) in the text.
    fn find_key(&self, key: &str, json: bool) -> Option<(usize, usize)> {
        for (i, line) in self.text.lines().enumerate() {
            let body = line.trim_start();
            let col = line.len() - body.len();
            let body2 = body.strip_prefix("- ").unwrap_or(body);
            let col2 = col + (body.len() - body2.len());
            let hit = if json {
                body2.starts_with(&format!("\"{key}\""))
            } else {
                body2.starts_with(&format!("{key}:")) || body2.starts_with(&format!("\"{key}\":"))
            };
            if hit {
                return Some((i + 1, col2 + 1));
            }
        }
        None
    }

    /// The `nth` (0-based) line of `id: <value>` / `"<value>"`, for job-level errors.
    fn find_value(&self, value: &str, nth: usize) -> Option<(usize, usize)> {
        let mut seen = 0;
        for (i, line) in self.text.lines().enumerate() {
            if let Some(c) = line.find(value) {
                let before = &line[..c];
                if before.trim_end().ends_with(':')
                    || before.ends_with('"')
                    || before.ends_with('\'')
                    || before.trim().is_empty()
                {
                    if seen == nth {
                        return Some((i + 1, c + 1));
                    }
                    seen += 1;
                }
            }
        }
        None
    }

    fn err_near(&self, value: &str, message: String) -> ConfigError {
        self.err_near_nth(value, 0, message)
    }

    fn err_near_nth(&self, value: &str, nth: usize, message: String) -> ConfigError {
        match self.find_value(value, nth) {
            Some((l, c)) => self.at(l, c, message),
            None => ConfigError::Invalid {
                path: self.path.to_path_buf(),
                message,
            },
        }
    }
}

fn port_of(v: &Option<NumOrStr>, what: &str) -> Result<Option<u16>, String> {
    match v {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => u16::try_from(*n)
            .map(Some)
            .map_err(|_| format!("{what}: port {n} out of range")),
        Some(NumOrStr::Str(s)) => s
            .trim()
            .parse::<u16>()
            .map(Some)
            .map_err(|_| format!("{what}: invalid port {s:?}")),
    }
}

fn endpoint(
    kind: RawPlace,
    host: &Option<String>,
    user: &Option<String>,
    port: &Option<NumOrStr>,
    (key1, key2): (&Option<String>, &Option<String>),
    what: &str,
    ssh_opts: &[String],
) -> Result<Place, String> {
    match kind {
        RawPlace::Local => Ok(Place::Local),
        RawPlace::Remote => {
            let host = host
                .clone()
                .ok_or_else(|| format!("{what}: `type: remote` needs `host`"))?;
            Ok(Place::Remote(SshEndpoint {
                user: user.clone(),
                host,
                port: port_of(port, what)?,
                key: key1.clone().or_else(|| key2.clone()),
                options: ssh_opts.to_vec(),
            }))
        }
    }
}

fn build(
    raw: RawFile,
    loc: &Locator<'_>,
    ov: &Overrides,
    mut warnings: Vec<String>,
) -> Result<Config, ConfigError> {
    let path = loc.path;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let dialect = if raw.version.is_some() {
        if raw.version != Some(1) {
            let (l, c) = loc.find_key("version", false).unwrap_or((1, 1));
            return Err(loc.at(
                l,
                c,
                format!(
                    "unsupported version {:?} (expected 1)",
                    raw.version.unwrap_or(0)
                ),
            ));
        }
        Dialect::Native
    } else if raw.rsync_id.is_some() || raw.cron_schedule.is_some() || raw.jobs.is_some() {
        Dialect::RsyncDirector
    } else if raw.targets.is_some() {
        Dialect::Py9tor
    } else {
        return Err(invalid(
            "not a director config: expected `rsync_id`/`cron_schedule`/`jobs` (rsyncdirector), \
             `targets` (py9tor) or `version: 1` (native)"
                .into(),
        ));
    };
    let native = dialect == Dialect::Native;
    let cron_dialect = match raw.cron_dialect.as_deref() {
        None | Some("vixie") if native => CronDialect::WithSeconds,
        None | Some("vixie") => CronDialect::Standard,
        Some("apscheduler") => CronDialect::ApScheduler,
        Some(other) => {
            return Err(loc.err_near(
                other,
                format!("cron_dialect: expected vixie or apscheduler, got {other:?}"),
            ));
        }
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "director".into());
    let instance_id = match (&raw.rsync_id, &raw.instance_id, dialect) {
        (Some(id), _, _) | (None, Some(id), _) => id.clone(),
        (None, None, Dialect::RsyncDirector) => {
            return Err(invalid("missing required key `rsync_id`".into()));
        }
        (None, None, _) => stem,
    };
    if instance_id.is_empty() || instance_id.contains('/') {
        return Err(loc.err_near(&instance_id, format!("invalid instance id {instance_id:?}")));
    }
    let zone = match &raw.timezone {
        Some(tz) => Zone::parse(tz).map_err(|e| loc.err_near(tz, e.to_string()))?,
        None => Zone::Local,
    };
    let sched = |expr: &str, zone: Zone| -> Result<Schedule, ConfigError> {
        Schedule::parse(expr, cron_dialect, zone)
            .map_err(|e: ScheduleError| loc.err_near(expr, e.to_string()))
    };
    let instance_schedule = match &raw.cron_schedule {
        Some(s) => Some(sched(s, zone)?),
        None if dialect == Dialect::RsyncDirector => {
            return Err(invalid("missing required key `cron_schedule`".into()));
        }
        None => None,
    };
    if let (Some(s), Dialect::RsyncDirector, CronDialect::Standard) =
        (&instance_schedule, dialect, cron_dialect)
    {
        if s.uses_numeric_dow() {
            warnings.push(format!(
                "{}: warning: cron_schedule {:?} uses a numeric day of week: it is read as Vixie \
                 cron (0 and 7 = Sunday), while rsyncdirector (APScheduler) read 0 as Monday; set \
                 `cron_dialect: apscheduler` to keep upstream's reading",
                path.display(),
                s.expr()
            ));
        }
        if s.uses_dom_dow_or() {
            warnings.push(format!(
                "{}: warning: cron_schedule {:?} restricts both day fields: they are ORed (Vixie \
                 cron), while rsyncdirector (APScheduler) ANDed them; set `cron_dialect: apscheduler` \
                 to keep upstream's reading",
                path.display(),
                s.expr()
            ));
        }
    }

    let pid_file_dir = match (&ov.pid_file_dir, &raw.pid_file_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(Some(p))) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::var_os("RUNTIME_DIRECTORY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/rdsync-director")),
    };
    let state_dir = match (&ov.state_dir, &raw.state_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        _ => std::env::var_os("STATE_DIRECTORY")
            .map(|p| PathBuf::from(p).join(&instance_id))
            .unwrap_or_else(|| PathBuf::from("/var/lib/rdsync-director").join(&instance_id)),
    };
    let control_socket = match (
        &ov.control_socket,
        raw.control.as_ref().and_then(|c| c.socket.clone()),
    ) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        _ => pid_file_dir.join(format!("rdsync-director-{instance_id}.sock")),
    };
    let m = raw.metrics.unwrap_or_default();
    let metrics = MetricsConfig {
        enabled: m.enabled.unwrap_or(true),
        addr: ov
            .metrics_addr
            .clone()
            .or(m.addr)
            .unwrap_or_else(|| "0.0.0.0".into()),
        port: match ov.metrics_port {
            Some(p) => p,
            None => port_of(&m.port, "metrics")
                .map_err(|e| loc.err_near("port", e))?
                .unwrap_or(9090),
        },
    };
    let stop_grace = raw
        .stop_grace
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(30));
    let defaults = raw.defaults.clone().unwrap_or_default();
    let mut notifiers = std::collections::BTreeMap::new();
    for (name, n) in raw.notify.iter().flatten() {
        if n.command.is_empty() {
            return Err(loc.err_near(name, format!("notify {name:?}: empty `command`")));
        }
        let states = n
            .states
            .clone()
            .unwrap_or_else(|| vec!["failure".to_string()]);
        for st in &states {
            if !["start", "success", "failure", "skipped", "cancelled"].contains(&st.as_str()) {
                return Err(loc.err_near(
                    st,
                    format!(
                        "notify {name:?}: unknown state {st:?} (expected start, success, failure, skipped, cancelled)"
                    ),
                ));
            }
        }
        notifiers.insert(
            name.clone(),
            Notifier {
                name: name.clone(),
                argv: n.command.clone(),
                states,
            },
        );
    }
    let resolve_notify =
        |names: &Option<Vec<String>>, owner: &str| -> Result<Vec<Notifier>, ConfigError> {
            names
                .iter()
                .flatten()
                .map(|n| {
                    notifiers.get(n).cloned().ok_or_else(|| {
                        loc.err_near(
                            n,
                            format!("{owner}: unknown notifier {n:?} (define it under `notify:`)"),
                        )
                    })
                })
                .collect()
        };
    let rsync_path = raw
        .rsync_path
        .clone()
        .unwrap_or_else(|| plan::RSYNC.to_string());
    let engine = {
        let mode = match &raw.engine {
            Some(m) => EngineMode::parse(m).ok_or_else(|| {
                loc.err_near(
                    m,
                    format!("engine: expected auto, native or rsync, got {m:?}"),
                )
            })?,
            // An explicitly named rsync-compatible program keeps running every sync.
            None if raw.rsync_path.is_some() => EngineMode::Rsync,
            None => EngineMode::Auto,
        };
        let rdsync = match mode {
            EngineMode::Rsync => Err("engine: rsync".to_string()),
            _ => engine::locate_rdsync(raw.rdsync_path.as_deref()),
        };
        if mode == EngineMode::Native
            && let Err(why) = &rdsync
        {
            return Err(invalid(format!("engine: native, but {why}")));
        }
        EngineConfig {
            mode,
            rdsync,
            rsync: rsync_path.clone(),
        }
    };
    let mut ssh_opts = Vec::new();
    if let Some(ssh) = &raw.ssh {
        if let Some(kh) = &ssh.known_hosts {
            ssh_opts.push("-o".to_string());
            ssh_opts.push(format!("UserKnownHostsFile={kh}"));
        }
        if let Some(hk) = &ssh.host_key_checking {
            let v = match hk.as_str() {
                "strict" | "yes" => "yes",
                "accept-new" => "accept-new",
                "off" | "no" => "no",
                other => {
                    return Err(loc.err_near(other, format!("ssh.host_key_checking: expected strict, accept-new or off, got {other:?}")));
                }
            };
            ssh_opts.push("-o".to_string());
            ssh_opts.push(format!("StrictHostKeyChecking={v}"));
        }
        ssh_opts.extend(ssh.options.iter().flatten().cloned());
    }

    let mut jobs = Vec::new();
    for rj in raw.jobs.unwrap_or_default() {
        let id = rj.id.clone();
        let e = |m: String| loc.err_near(&id, format!("job {id:?}: {m}"));
        if jobs.iter().any(|j: &Job| j.id == id) {
            return Err(loc.err_near_nth(&id, 1, format!("job {id:?}: duplicate job id")));
        }
        let place = endpoint(
            rj.kind.unwrap_or(RawPlace::Local),
            &rj.host,
            &rj.user,
            &rj.port,
            (&rj.private_ssh_key, &rj.private_key_path),
            "job",
            &ssh_opts,
        )
        .map_err(&e)?;
        if rj.kind.is_none() && !native {
            return Err(e("missing required key `type` (local or remote)".into()));
        }
        let opts = rj.options().or(&defaults);
        let zone_j = match &rj.timezone {
            Some(tz) => Zone::parse(tz).map_err(|x| loc.err_near(tz, x.to_string()))?,
            None => zone,
        };
        let (schedule, group) = match &rj.schedule {
            Some(s) => (Some(sched(s, zone_j)?), rj.group.clone()),
            None => (
                instance_schedule.clone(),
                Some(
                    rj.group
                        .clone()
                        .unwrap_or_else(|| INSTANCE_GROUP.to_string()),
                ),
            ),
        };
        let mut actions = Vec::new();
        match (&rj.actions, &rj.syncs) {
            (Some(_), Some(_)) => return Err(e("has both `actions` and legacy `syncs`".into())),
            (None, None) => {
                return Err(e(
                    "no actions defined (expected `actions` or `syncs`)".into()
                ));
            }
            (None, Some(syncs)) => {
                for (i, s) in syncs.iter().enumerate() {
                    let plan = plan::plan_sync(
                        &place,
                        &s.source,
                        &s.dest,
                        s.opts.as_deref().unwrap_or(&[]),
                        ShellMode::Auto,
                    )
                    .map_err(|x: PlanError| e(x.to_string()))?;
                    actions.push(make_action(
                        format!("sync-{}", i + 1),
                        ActionKind::Sync {
                            plan,
                            rsync: rsync_path.clone(),
                            engine: engine.clone(),
                        },
                        &opts,
                        None,
                    ));
                }
            }
            (Some(list), None) => {
                for (i, a) in list.iter().enumerate() {
                    let aid = a.id.clone().unwrap_or_else(|| format!("action-{}", i + 1));
                    let shell = a.shell.unwrap_or_default();
                    let kind = match a.action {
                        RawActionKind::Sync => {
                            let (Some(src), Some(dst)) = (&a.source, &a.dest) else {
                                return Err(e(format!(
                                    "sync action {aid:?} needs `source` and `dest`"
                                )));
                            };
                            if a.opts.is_none() && !native {
                                warnings.push(format!(
                                    "{}: warning: job {id:?} action {aid:?} has no `opts` (rsyncdirector required it)",
                                    path.display()
                                ));
                            }
                            ActionKind::Sync {
                                plan: plan::plan_sync(
                                    &place,
                                    src,
                                    dst,
                                    a.opts.as_deref().unwrap_or(&[]),
                                    shell,
                                )
                                .map_err(|x| e(format!("action {aid:?}: {x}")))?,
                                rsync: rsync_path.clone(),
                                engine: engine.clone(),
                            }
                        }
                        RawActionKind::Command => {
                            let Some(cmd) = &a.command else {
                                return Err(e(format!("command action {aid:?} needs `command`")));
                            };
                            ActionKind::Command {
                                program: plan::plan_command(
                                    cmd,
                                    a.args.as_deref().unwrap_or(&[]),
                                    shell,
                                )
                                .map_err(|x| e(format!("action {aid:?}: {x}")))?,
                                stdin: None,
                            }
                        }
                    };
                    actions.push(make_action(aid, kind, &opts, Some(a)));
                }
            }
        }
        let mut lock_files = Vec::new();
        for l in rj.lock_files.iter().flatten() {
            lock_files.push(LockSpec {
                place: endpoint(
                    l.kind,
                    &l.host,
                    &l.user,
                    &l.port,
                    (&l.private_ssh_key, &l.private_key_path),
                    "lock_files",
                    &ssh_opts,
                )
                .map_err(&e)?,
                path: l.path.clone(),
            });
        }
        let mut blocks_on = Vec::new();
        for b in rj.blocks_on.iter().flatten() {
            blocks_on.push(BlockSpec {
                place: endpoint(
                    b.kind,
                    &b.host,
                    &b.user,
                    &b.port,
                    (&b.private_ssh_key, &b.private_key_path),
                    "blocks_on",
                    &ssh_opts,
                )
                .map_err(&e)?,
                path: b.path.clone(),
                wait_time: b.wait_time.map(|d| d.0).unwrap_or(Duration::from_secs(60)),
                timeout: b.timeout.map(|d| d.0),
            });
        }
        jobs.push(Job {
            id,
            schedule,
            group,
            priority: rj.priority.unwrap_or(0),
            enabled: rj.enabled.unwrap_or(true),
            jitter: opts.jitter.map(|d| d.0).unwrap_or_default(),
            catch_up: opts
                .catch_up
                .map(|c| c == raw::CatchUp::Latest)
                .unwrap_or(native),
            run_on_start: opts.run_on_start.unwrap_or(false),
            timeout: opts.timeout.map(|d| d.0),
            kill_grace: opts
                .kill_grace
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(30)),
            lock_files,
            blocks_on,
            actions,
            notify: resolve_notify(&opts.notify, &format!("job {:?}", rj.id))?,
        });
    }

    for (name, t) in raw.targets.unwrap_or_default() {
        let e = |m: String| loc.err_near(&name, format!("target {name:?}: {m}"));
        if jobs.iter().any(|j: &Job| j.id == name) {
            return Err(e("duplicate job/target id".into()));
        }
        let opts = t.options().or(&defaults);
        let kind = target_action(&name, &t, &ssh_opts).map_err(&e)?;
        let mut group = None;
        let mut priority = 0;
        match t.handler.as_deref() {
            None => {}
            Some("py9tor.handlers.cardinality") if t.instances.unwrap_or(1) > 1 => {
                warnings.push(format!(
                        "{}: warning: target {name:?}: cardinality instances={} is reduced to 1 \
                         (a target never overlaps itself; extra requests are queued once, not rejected)",
                        path.display(),
                        t.instances.unwrap_or(1)
                    ));
            }
            Some("py9tor.handlers.cardinality") => {}
            Some("py9tor.handlers.rsnapshot") => {
                let iv = t.interval.clone().unwrap_or_default().to_lowercase();
                if !["hourly", "daily", "weekly", "monthly", "yearly"].contains(&iv.as_str()) {
                    return Err(e(format!(
                        "rsnapshot handler needs `interval` (hourly..yearly), got {iv:?}"
                    )));
                }
                group = Some("rsnapshot".to_string());
                priority = match iv.as_str() {
                    "yearly" => 5,
                    "monthly" => 4,
                    "weekly" => 3,
                    "daily" => 2,
                    _ => 1,
                };
            }
            Some(h) => {
                return Err(e(format!(
                    "unknown handler {h:?} (expected py9tor.handlers.cardinality or py9tor.handlers.rsnapshot)"
                )));
            }
        }
        let schedule = match &t.schedule {
            Some(s) => Some(sched(s, zone)?),
            None => None,
        };
        jobs.push(Job {
            id: name.clone(),
            schedule,
            group,
            priority,
            enabled: true,
            jitter: opts.jitter.map(|d| d.0).unwrap_or_default(),
            catch_up: opts
                .catch_up
                .map(|c| c == raw::CatchUp::Latest)
                .unwrap_or(native),
            run_on_start: opts.run_on_start.unwrap_or(false),
            timeout: opts.timeout.map(|d| d.0),
            kill_grace: opts
                .kill_grace
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(30)),
            lock_files: Vec::new(),
            blocks_on: Vec::new(),
            actions: vec![make_action(name.clone(), kind, &opts, None)],
            notify: resolve_notify(&opts.notify, &format!("target {name:?}"))?,
        });
    }
    if dialect == Dialect::Py9tor {
        warnings.push(format!(
            "{}: note: py9tor targets run on demand (`rdsync-director trigger TARGET`); the XML-RPC \
             endpoint on {}:{} is not served; rsnapshot targets run one at a time, the longest pending interval first",
            path.display(),
            raw.host.as_deref().unwrap_or("localhost"),
            port_of(&raw.port, "port").ok().flatten().unwrap_or(8000)
        ));
    }
    Ok(Config {
        path: path.to_path_buf(),
        dialect,
        instance_id,
        zone,
        pid_file_dir,
        state_dir,
        control_socket,
        metrics,
        stop_grace,
        engine,
        jobs,
        warnings,
    })
}

fn make_action(
    id: String,
    kind: ActionKind,
    opts: &RawJobOptions,
    a: Option<&raw::RawAction>,
) -> Action {
    Action {
        id,
        kind,
        timeout: a.and_then(|a| a.timeout).map(|d| d.0),
        retries: a.and_then(|a| a.retries).or(opts.retries).unwrap_or(0),
        retry_wait: a
            .and_then(|a| a.retry_wait)
            .or(opts.retry_wait)
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(30)),
        ok_exit_codes: a
            .and_then(|a| a.ok_exit_codes.clone())
            .or_else(|| opts.ok_exit_codes.clone())
            .unwrap_or_else(|| vec![0]),
    }
}

fn target_action(
    name: &str,
    t: &raw::RawTarget,
    ssh_opts: &[String],
) -> Result<ActionKind, String> {
    let attrs = &t.attrs;
    let s = |k: &str| attrs.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match t.class.as_str() {
        "py9tor.worker.DummyExecutor" => {
            let secs = attrs
                .get("time")
                .and_then(|v| v.as_f64())
                .ok_or("DummyExecutor needs numeric attrs.time")?;
            Ok(ActionKind::Command {
                program: Program::Argv(vec!["sleep".into(), format!("{secs}")]),
                stdin: None,
            })
        }
        "py9tor.worker.LocalExecutor" => {
            let args: Vec<String> = attrs
                .get("args")
                .and_then(|v| v.as_array())
                .ok_or("LocalExecutor needs attrs.args (a list)")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or("attrs.args must be strings")
                })
                .collect::<Result<_, _>>()?;
            if args.is_empty() {
                return Err("attrs.args is empty".into());
            }
            if attrs.get("user").is_some() {
                return Err(format!(
                    "target {name}: attrs.user (switching users) is not supported yet"
                ));
            }
            Ok(ActionKind::Command {
                program: Program::Argv(args),
                stdin: None,
            })
        }
        "py9tor.worker.SSHExecutor" => {
            let host = s("host").ok_or("SSHExecutor needs attrs.host")?;
            let port = match attrs.get("port") {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .map(|n| n.to_string())
                        .or_else(|| v.as_str().map(str::to_string))
                        .ok_or("attrs.port must be a number or string")?
                        .parse::<u16>()
                        .map_err(|_| "attrs.port is not a valid port")?,
                ),
            };
            let ep = SshEndpoint {
                user: s("user"),
                host,
                port,
                key: s("key"),
                options: ssh_opts.to_vec(),
            };
            let cmds: Vec<String> = attrs
                .get("cmds")
                .and_then(|v| v.as_array())
                .ok_or("SSHExecutor needs attrs.cmds (a list)")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or("attrs.cmds must be strings")
                })
                .collect::<Result<_, _>>()?;
            let mut argv = ep.ssh_argv();
            argv.push("sh".into());
            argv.push("-s".into());
            let mut stdin = cmds.join("\n");
            stdin.push('\n');
            Ok(ActionKind::Command {
                program: Program::Argv(argv),
                stdin: Some(stdin),
            })
        }
        other => Err(format!(
            "unknown class {other:?} (expected py9tor.worker.DummyExecutor, LocalExecutor or SSHExecutor)"
        )),
    }
}
