//! rdsync-director: a daemon that runs sync jobs and commands on cron schedules.
//!
//! It accepts the configuration files of the two tools it replaces (rsyncdirector's YAML, in both
//! the `actions:` and the legacy `syncs:` format, and py9tor's `config.json`) plus a native
//! superset, and runs every trigger (cron, catch-up, run-on-start, SIGHUP, control API) through one
//! admission point. See `director/README.md` for an overview.
//!
//! Module map:
//! - [`config`]: loading and validating the three configuration dialects.
//! - [`schedule`]: Vixie-cron schedules on top of `croner`, with timezones and jitter.
//! - [`shellwords`]: POSIX shell word splitting and quoting (argv exec instead of `bash -c`).
//! - [`plan`]: how an action resolves to the argv or shell string that will run.
//! - [`engine`]: choosing the native rdsync engine or the system rsync for each sync.
//! - [`runner`]: running one job (blocks, locks, actions in process groups, timeouts, retries).
//! - [`lock`]: local and remote (system ssh) lock files and `blocks_on` checks.
//! - [`admission`]: the single admission point (no overlap, coalesced queueing).
//! - [`state`]: persisted cursors (catch-up), run history and per-run logs.
//! - [`stats`]: parsing rsync's `--stats` output.
//! - [`metrics`]: Prometheus metrics and the `/metrics` HTTP endpoint.
//! - [`http`]: the tiny HTTP/1.1 codec shared by the metrics and control endpoints.
//! - [`control`]: the control API over a Unix socket, and its client.
//! - [`pidfile`]: the locked pid file that keeps two instances of one id apart.
//! - [`sdnotify`]: systemd readiness notification.
//! - [`daemon`]: wiring all of the above into the long-running process.

pub mod admission;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod lock;
pub mod metrics;
pub mod pidfile;
pub mod plan;
pub mod runner;
pub mod schedule;
pub mod sdnotify;
pub mod shellwords;
pub mod state;
pub mod stats;
