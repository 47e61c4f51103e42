//! The on-disk schema: one superset that reads rsyncdirector YAML (`actions:` and legacy
//! `syncs:`), py9tor `config.json` and the native extensions. Field names follow the seeds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A duration written as seconds (number, as upstream) or a string such as `"90s"`, `"5m"`,
/// `"1h30m"` or `"250ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration: seconds as a number, or a string like \"90s\", \"5m\", \"1h30m\"",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|v| Dur(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Duration::try_from_secs_f64(v)
                    .map(Dur)
                    .map_err(|_| E::custom("invalid duration"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `"90"`, `"90s"`, `"5m"`, `"1h30m"`, `"250ms"`, `"2d"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        let mult = match unit.as_str() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(format!("invalid duration unit {unit:?} in {s:?}")),
        };
        total += Duration::try_from_secs_f64(v * mult).map_err(|e| e.to_string())?;
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!(
            "invalid duration {s:?} (expected e.g. \"90s\", \"5m\", \"1h30m\")"
        ));
    }
    Ok(total)
}

/// `local` or `remote`, as in rsyncdirector.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawPlace {
    /// On this host.
    Local,
    /// On a host reached over SSH.
    Remote,
}

/// `sync` or `command`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RawActionKind {
    /// An rsync transfer.
    Sync,
    /// A local command.
    Command,
}

/// When to run an action through a shell.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ShellMode {
    /// Only when a field needs shell features.
    #[default]
    Auto,
    /// Never: a field with shell features is an error.
    Never,
    /// Always through `bash -c`, like upstream.
    Always,
}

/// Catch-up policy for runs missed while the daemon was down.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Never catch up.
    None,
    /// Run once if at least one fire was missed.
    Latest,
}

/// A value that may be a number or a string (py9tor writes ports both ways).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NumOrStr {
    /// A number.
    Num(u64),
    /// A string.
    Str(String),
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub struct RawFile {
    /// `1` for the native dialect.
    pub version: Option<u32>,
    /// Instance name (rsyncdirector).
    pub rsync_id: Option<String>,
    /// Alias of `rsync_id` in native files.
    pub instance_id: Option<String>,
    /// Default schedule of the instance run.
    pub cron_schedule: Option<String>,
    /// IANA time zone for schedules.
    pub timezone: Option<String>,
    /// `vixie` (default) or `apscheduler` (rsyncdirector's actual cron reading).
    pub cron_dialect: Option<String>,
    /// Directory of the pid file (may be null or empty, as upstream allows).
    pub pid_file_dir: Option<Option<String>>,
    /// Directory of persisted state (native).
    pub state_dir: Option<String>,
    /// How long to wait for children on shutdown before SIGKILL (native).
    pub stop_grace: Option<Dur>,
    /// Metrics endpoint.
    pub metrics: Option<RawMetrics>,
    /// Control endpoint (native).
    pub control: Option<RawControl>,
    /// Notifiers by name (native).
    pub notify: Option<BTreeMap<String, RawNotifier>>,
    /// The system rsync (native; default `rsync` on `PATH`); set without `engine`, it runs every
    /// sync.
    pub rsync_path: Option<String>,
    /// Which engine runs syncs: `auto` (default), `native` (rdsync) or `rsync` (native).
    pub engine: Option<String>,
    /// The `rdsync` binary (native; default: next to the director's binary, else on `PATH`).
    pub rdsync_path: Option<String>,
    /// ssh settings for remote locks, blocks, syncs and targets (native).
    pub ssh: Option<RawSsh>,
    /// Defaults inherited by every job (native).
    pub defaults: Option<RawJobOptions>,
    /// rsyncdirector jobs.
    pub jobs: Option<Vec<RawJob>>,
    /// py9tor targets.
    pub targets: Option<BTreeMap<String, RawTarget>>,
    /// py9tor XML-RPC host.
    pub host: Option<String>,
    /// py9tor XML-RPC port.
    pub port: Option<NumOrStr>,
}

/// `metrics:`.
#[derive(Debug, Default, Deserialize)]
pub struct RawMetrics {
    /// Serve metrics at all (native; default true).
    pub enabled: Option<bool>,
    /// Bind address.
    pub addr: Option<String>,
    /// Bind port.
    pub port: Option<NumOrStr>,
    /// Accepted for compatibility; unused.
    pub startup_timeout_seconds: Option<serde_json::Value>,
    /// Accepted for compatibility; unused.
    pub startup_retry_wait_seconds: Option<serde_json::Value>,
    /// Accepted for compatibility; unused.
    pub startup_retry_limit: Option<serde_json::Value>,
}

/// A notifier: a command run when a job reaches one of `states`.
#[derive(Debug, Default, Deserialize)]
pub struct RawNotifier {
    /// argv of the command (no shell). It gets `RDSYNC_DIRECTOR_*` environment variables.
    pub command: Vec<String>,
    /// `start`, `success`, `failure` (includes timeouts), `skipped`, `cancelled`; default
    /// `[failure]`.
    pub states: Option<Vec<String>>,
}

/// `ssh:`.
#[derive(Debug, Default, Deserialize)]
pub struct RawSsh {
    /// `UserKnownHostsFile`.
    pub known_hosts: Option<String>,
    /// `strict`, `accept-new` or `off` (`StrictHostKeyChecking`).
    pub host_key_checking: Option<String>,
    /// Further ssh arguments, e.g. `["-o", "ServerAliveInterval=30"]`.
    pub options: Option<Vec<String>>,
}

/// `control:`.
#[derive(Debug, Default, Deserialize)]
pub struct RawControl {
    /// Path of the Unix socket.
    pub socket: Option<String>,
}

/// Job options that can also appear under `defaults:`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawJobOptions {
    /// Random delay in `[0, jitter)` per cron fire.
    pub jitter: Option<Dur>,
    /// Catch-up policy.
    pub catch_up: Option<CatchUp>,
    /// Run once when the daemon starts.
    pub run_on_start: Option<bool>,
    /// Whole-job timeout.
    pub timeout: Option<Dur>,
    /// Retries per failed action.
    pub retries: Option<u32>,
    /// Wait before the first retry (doubles each time).
    pub retry_wait: Option<Dur>,
    /// Exit codes that count as success.
    pub ok_exit_codes: Option<Vec<i32>>,
    /// SIGTERM → SIGKILL grace on timeout or cancel.
    pub kill_grace: Option<Dur>,
    /// Names of notifiers (top-level `notify:`) to run on state changes.
    pub notify: Option<Vec<String>>,
}

/// One rsyncdirector job (plus native keys).
#[derive(Debug, Deserialize)]
pub struct RawJob {
    /// Job id.
    pub id: String,
    /// `local` or `remote`.
    #[serde(rename = "type")]
    pub kind: Option<RawPlace>,
    /// Remote user.
    pub user: Option<String>,
    /// Remote host.
    pub host: Option<String>,
    /// SSH port.
    pub port: Option<NumOrStr>,
    /// SSH key (documented name).
    pub private_ssh_key: Option<String>,
    /// SSH key (name the upstream code read).
    pub private_key_path: Option<String>,
    /// Lock files written while the job runs.
    pub lock_files: Option<Vec<RawLock>>,
    /// Files that must be absent before the job starts.
    pub blocks_on: Option<Vec<RawBlock>>,
    /// Actions (current format).
    pub actions: Option<Vec<RawAction>>,
    /// Syncs (legacy format).
    pub syncs: Option<Vec<RawSync>>,
    /// Own schedule (native).
    pub schedule: Option<String>,
    /// Time zone of the own schedule.
    pub timezone: Option<String>,
    /// Disabled jobs are never scheduled.
    pub enabled: Option<bool>,
    /// Mutual-exclusion group.
    pub group: Option<String>,
    /// Admission priority within the group (higher first).
    pub priority: Option<i32>,
    /// Random delay in `[0, jitter)` per cron fire.
    pub jitter: Option<Dur>,
    /// Catch-up policy.
    pub catch_up: Option<CatchUp>,
    /// Run once when the daemon starts.
    pub run_on_start: Option<bool>,
    /// Whole-job timeout.
    pub timeout: Option<Dur>,
    /// Retries per failed action.
    pub retries: Option<u32>,
    /// Wait before the first retry (doubles each time).
    pub retry_wait: Option<Dur>,
    /// Exit codes that count as success.
    pub ok_exit_codes: Option<Vec<i32>>,
    /// SIGTERM → SIGKILL grace on timeout or cancel.
    pub kill_grace: Option<Dur>,
    /// Names of notifiers (top-level `notify:`) to run on state changes.
    pub notify: Option<Vec<String>>,
}

/// One `lock_files` entry.
#[derive(Debug, Deserialize)]
pub struct RawLock {
    /// `local` or `remote`.
    #[serde(rename = "type")]
    pub kind: RawPlace,
    /// Path of the lock file.
    pub path: String,
    /// Remote host.
    pub host: Option<String>,
    /// Remote user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<NumOrStr>,
    /// SSH key (documented name).
    pub private_ssh_key: Option<String>,
    /// SSH key (name the upstream code read).
    pub private_key_path: Option<String>,
}

/// One `blocks_on` entry.
#[derive(Debug, Deserialize)]
pub struct RawBlock {
    /// `local` or `remote`.
    #[serde(rename = "type")]
    pub kind: RawPlace,
    /// Path whose existence blocks the job.
    pub path: String,
    /// Remote host.
    pub host: Option<String>,
    /// Remote user.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<NumOrStr>,
    /// SSH key (documented name).
    pub private_ssh_key: Option<String>,
    /// SSH key (name the upstream code read).
    pub private_key_path: Option<String>,
    /// Poll interval.
    pub wait_time: Option<Dur>,
    /// Give up (skip the job) after this long.
    pub timeout: Option<Dur>,
}

/// One action.
#[derive(Debug, Deserialize)]
pub struct RawAction {
    /// `sync` or `command`.
    pub action: RawActionKind,
    /// Action id.
    pub id: Option<String>,
    /// sync: source.
    pub source: Option<String>,
    /// sync: destination.
    pub dest: Option<String>,
    /// sync: rsync options, each split with shell rules.
    pub opts: Option<Vec<String>>,
    /// command: program or script.
    pub command: Option<String>,
    /// command: arguments.
    pub args: Option<Vec<String>>,
    /// Shell policy.
    pub shell: Option<ShellMode>,
    /// Per-action timeout.
    pub timeout: Option<Dur>,
    /// Retries of this action.
    pub retries: Option<u32>,
    /// Wait before the first retry.
    pub retry_wait: Option<Dur>,
    /// Exit codes that count as success.
    pub ok_exit_codes: Option<Vec<i32>>,
}

/// One legacy `syncs` entry.
#[derive(Debug, Deserialize)]
pub struct RawSync {
    /// Source.
    pub source: String,
    /// Destination.
    pub dest: String,
    /// rsync options.
    pub opts: Option<Vec<String>>,
}

/// One py9tor target.
#[derive(Debug, Deserialize)]
pub struct RawTarget {
    /// Executor class (`py9tor.worker.LocalExecutor`, ...).
    #[serde(rename = "class")]
    pub class: String,
    /// Executor arguments.
    pub attrs: serde_json::Value,
    /// Admission handler module.
    pub handler: Option<String>,
    /// cardinality: max concurrent runs.
    pub instances: Option<u32>,
    /// rsnapshot: interval name.
    pub interval: Option<String>,
    /// Own schedule (native extension).
    pub schedule: Option<String>,
    /// Random delay in `[0, jitter)` per cron fire.
    pub jitter: Option<Dur>,
    /// Catch-up policy.
    pub catch_up: Option<CatchUp>,
    /// Run once when the daemon starts.
    pub run_on_start: Option<bool>,
    /// Whole-job timeout.
    pub timeout: Option<Dur>,
    /// Retries per failed action.
    pub retries: Option<u32>,
    /// Wait before the first retry (doubles each time).
    pub retry_wait: Option<Dur>,
    /// Exit codes that count as success.
    pub ok_exit_codes: Option<Vec<i32>>,
    /// SIGTERM → SIGKILL grace on timeout or cancel.
    pub kill_grace: Option<Dur>,
    /// Names of notifiers (top-level `notify:`) to run on state changes.
    pub notify: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}

// The job options are repeated field by field in `RawJob` and `RawTarget` rather than
// `#[serde(flatten)]`-ed: flatten hides unknown keys from serde_ignored, which the
// `unknown key` warnings (and `--strict`) rely on.
macro_rules! job_options {
    ($t:ty) => {
        impl $t {
            /// The job options written on this entry.
            pub fn options(&self) -> RawJobOptions {
                RawJobOptions {
                    jitter: self.jitter,
                    catch_up: self.catch_up,
                    run_on_start: self.run_on_start,
                    timeout: self.timeout,
                    retries: self.retries,
                    retry_wait: self.retry_wait,
                    ok_exit_codes: self.ok_exit_codes.clone(),
                    kill_grace: self.kill_grace,
                    notify: self.notify.clone(),
                }
            }
        }
    };
}
job_options!(RawJob);
job_options!(RawTarget);

impl RawJobOptions {
    /// Fills every unset option from `defaults`.
    pub fn or(self, defaults: &RawJobOptions) -> RawJobOptions {
        RawJobOptions {
            jitter: self.jitter.or(defaults.jitter),
            catch_up: self.catch_up.or(defaults.catch_up),
            run_on_start: self.run_on_start.or(defaults.run_on_start),
            timeout: self.timeout.or(defaults.timeout),
            retries: self.retries.or(defaults.retries),
            retry_wait: self.retry_wait.or(defaults.retry_wait),
            ok_exit_codes: self
                .ok_exit_codes
                .or_else(|| defaults.ok_exit_codes.clone()),
            kill_grace: self.kill_grace.or(defaults.kill_grace),
            notify: self.notify.or_else(|| defaults.notify.clone()),
        }
    }
}
