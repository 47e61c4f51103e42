//! The `rdsync-director` binary: the daemon (`run`), `check-config`, `cron-next`, and the control
//! CLI (`status`, `trigger`, ...). Everything of substance lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use rdsync_director::config::{self, Overrides};
use rdsync_director::control;
use rdsync_director::daemon::{self, DaemonOptions};
use rdsync_director::plan;
use rdsync_director::schedule::{CronDialect, Schedule, Zone};

#[derive(Parser)]
#[command(
    name = "rdsync-director",
    version,
    about = "Runs rsync jobs and commands on cron schedules (rsyncdirector/py9tor compatible)"
)]
struct Cli {
    /// Log level: error, warn, info, debug, trace (also RSYNCMANANGER_LOGLEVEL).
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Clone, Default)]
struct LoadArgs {
    /// Configuration file (else RDSYNC_DIRECTOR_CONFIG, RSYNCMANANGER_CONFIG, RSYNCMANAGER_CONFIG).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Unknown keys are errors instead of warnings.
    #[arg(long)]
    strict: bool,
    /// Override pid_file_dir.
    #[arg(long)]
    pid_file_dir: Option<PathBuf>,
    /// Override state_dir.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Override the control socket path.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Override metrics.addr.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Override metrics.port.
    #[arg(long)]
    metrics_port: Option<u16>,
}

impl LoadArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            strict: self.strict,
            pid_file_dir: self.pid_file_dir.clone(),
            state_dir: self.state_dir.clone(),
            control_socket: self.socket.clone(),
            metrics_addr: self.metrics_addr.clone(),
            metrics_port: self.metrics_port,
        }
    }

    fn config_path(&self) -> Result<PathBuf> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        for var in [
            "RDSYNC_DIRECTOR_CONFIG",
            "RSYNCMANANGER_CONFIG",
            "RSYNCMANAGER_CONFIG",
        ] {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                return Ok(PathBuf::from(v));
            }
        }
        bail!(
            "no configuration: pass --config FILE or set RDSYNC_DIRECTOR_CONFIG (or RSYNCMANANGER_CONFIG)"
        )
    }

    /// The control socket: --socket, else the one the config names.
    fn socket(&self) -> Result<PathBuf> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        let path = self.config_path()?;
        let cfg = config::load(&path, &self.overrides())?;
        Ok(cfg.control_socket)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (the default when no subcommand is given).
    Run {
        #[command(flatten)]
        load: LoadArgs,
        /// Run the jobs once and exit: 0 all succeeded, 1 a failure, 2 something was skipped.
        #[arg(long)]
        once: bool,
        /// Change nothing: rsync --dry-run, commands and lock writes only printed.
        #[arg(long)]
        dry_run: bool,
        /// With --once: only these jobs.
        #[arg(long = "job")]
        jobs: Vec<String>,
    },
    /// Validate a configuration and print each job's next fire times and resolved commands.
    CheckConfig {
        /// The file (or --config).
        file: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
        /// How many fire times to print per job.
        #[arg(long, default_value_t = 5)]
        plan: usize,
        /// Plan from this instant (RFC 3339) instead of now.
        #[arg(long)]
        from: Option<String>,
    },
    /// Print the next fire times of a cron expression.
    CronNext {
        /// The expression (5 fields or a macro; 6 with --seconds).
        expr: String,
        /// IANA time zone (default: local).
        #[arg(long)]
        tz: Option<String>,
        /// Start from this instant (RFC 3339) instead of now.
        #[arg(long)]
        from: Option<String>,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        /// Allow a leading seconds field (native dialect).
        #[arg(long)]
        seconds: bool,
        /// Read the expression as rsyncdirector's APScheduler did (0 = Monday, DOM AND DOW).
        #[arg(long)]
        apscheduler: bool,
    },
    /// Show the daemon's status.
    Status(#[command(flatten)] LoadArgs),
    /// List jobs with their state, next and last runs.
    Jobs(#[command(flatten)] LoadArgs),
    /// Run a job now (queued once if it is busy).
    Trigger {
        /// The job (or --all).
        job: Option<String>,
        /// Every job of the instance (like SIGHUP).
        #[arg(long)]
        all: bool,
        /// Wait for the run and exit with its result (0 success, 1 failure, 2 skipped).
        #[arg(long)]
        wait: bool,
        /// Run it in dry-run mode.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Cancel a queued or running run.
    Cancel {
        /// Run id.
        run: String,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Show finished runs.
    History {
        /// Only this job.
        #[arg(long)]
        job: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Print a run's log.
    Logs {
        /// Run id.
        run: String,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// List the lock files held by running jobs.
    Locks(#[command(flatten)] LoadArgs),
    /// Reload the configuration (validated; the old one is kept on error).
    Reload(#[command(flatten)] LoadArgs),
    /// Pause scheduled runs (manual triggers still run).
    Pause(#[command(flatten)] LoadArgs),
    /// Resume scheduled runs.
    Resume(#[command(flatten)] LoadArgs),
}

fn parse_from(from: &Option<String>) -> Result<DateTime<Utc>> {
    Ok(match from {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--from {s:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    })
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn init_logging(level: Option<&str>) {
    let level = level
        .map(str::to_string)
        .or_else(|| std::env::var("RSYNCMANANGER_LOGLEVEL").ok())
        .unwrap_or_else(|| "info".into());
    let lvl = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(lvl)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
}

async fn client(load: &LoadArgs, method: &str, path: &str, body: Option<Value>) -> Result<Vec<u8>> {
    let socket = load.socket()?;
    Ok(control::call(&socket, method, path, body.as_ref()).await?)
}

fn print_json(bytes: &[u8]) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(_) => print!("{}", String::from_utf8_lossy(bytes)),
    }
}

fn result_code(run: &Value) -> u8 {
    match run["result"].as_str() {
        Some("success") => 0,
        Some("skipped_blocked" | "skipped_locked") => 2,
        _ => 1,
    }
}

async fn real_main(cli: Cli) -> Result<u8> {
    let cmd = cli.cmd.unwrap_or(Cmd::Run {
        load: LoadArgs::default(),
        once: false,
        dry_run: false,
        jobs: Vec::new(),
    });
    match cmd {
        Cmd::Run {
            load,
            once,
            dry_run,
            jobs,
        } => {
            let opts = DaemonOptions {
                config_path: load.config_path()?,
                overrides: load.overrides(),
                dry_run: dry_run || env_flag("RSYNCMANANGER_DRYRUN"),
                once: once || env_flag("RSYNCMANANGER_RUNONCE"),
                jobs,
            };
            let code = daemon::run(opts).await?;
            Ok(u8::try_from(code).unwrap_or(1))
        }
        Cmd::CheckConfig {
            file,
            load,
            plan: n,
            from,
        } => {
            let path = match file {
                Some(f) => f,
                None => load.config_path()?,
            };
            let cfg = config::load(&path, &load.overrides())?;
            for w in &cfg.warnings {
                eprintln!("{w}");
            }
            print!("{}", plan::report(&cfg, parse_from(&from)?, n));
            println!("\nconfiguration OK");
            Ok(0)
        }
        Cmd::CronNext {
            expr,
            tz,
            from,
            count,
            seconds,
            apscheduler,
        } => {
            let zone = match tz {
                Some(t) => Zone::parse(&t)?,
                None => Zone::Local,
            };
            let dialect = if apscheduler {
                CronDialect::ApScheduler
            } else if seconds {
                CronDialect::WithSeconds
            } else {
                CronDialect::Standard
            };
            let s = Schedule::parse(&expr, dialect, zone)?;
            for t in s.upcoming(parse_from(&from)?, count) {
                println!("{}", zone.format(t));
            }
            Ok(0)
        }
        Cmd::Status(load) => {
            print_json(&client(&load, "GET", "/api/v1/status", None).await?);
            Ok(0)
        }
        Cmd::Jobs(load) => {
            let out = client(&load, "GET", "/api/v1/jobs", None).await?;
            let jobs: Value = serde_json::from_slice(&out)?;
            println!(
                "{:<28} {:<8} {:<26} {:<16} LAST SUCCESS",
                "JOB", "STATE", "NEXT RUN", "LAST RESULT"
            );
            for j in jobs.as_array().into_iter().flatten() {
                let s = |k: &str| j[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{:<28} {:<8} {:<26} {:<16} {}",
                    s("id"),
                    s("state"),
                    s("next_run"),
                    s("last_result"),
                    s("last_success")
                );
            }
            Ok(0)
        }
        Cmd::Trigger {
            job,
            all,
            wait,
            dry_run,
            load,
        } => {
            if all {
                print_json(&client(&load, "POST", "/api/v1/run", None).await?);
                return Ok(0);
            }
            let Some(job) = job else {
                bail!("name a job, or pass --all");
            };
            let out = client(
                &load,
                "POST",
                &format!("/api/v1/jobs/{job}/run"),
                Some(json!({"wait": wait, "dry_run": dry_run})),
            )
            .await?;
            print_json(&out);
            if wait {
                let v: Value = serde_json::from_slice(&out)?;
                return Ok(result_code(&v["run"]));
            }
            Ok(0)
        }
        Cmd::Cancel { run, load } => {
            print_json(&client(&load, "POST", &format!("/api/v1/runs/{run}/cancel"), None).await?);
            Ok(0)
        }
        Cmd::History { job, limit, load } => {
            let mut path = format!("/api/v1/runs?limit={limit}");
            if let Some(j) = job {
                path.push_str(&format!("&job={j}"));
            }
            print_json(&client(&load, "GET", &path, None).await?);
            Ok(0)
        }
        Cmd::Logs { run, load } => {
            let out = client(&load, "GET", &format!("/api/v1/runs/{run}/log"), None).await?;
            print!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
        Cmd::Locks(load) => {
            print_json(&client(&load, "GET", "/api/v1/locks", None).await?);
            Ok(0)
        }
        Cmd::Reload(load) => {
            print_json(&client(&load, "POST", "/api/v1/reload", None).await?);
            Ok(0)
        }
        Cmd::Pause(load) => {
            print_json(&client(&load, "POST", "/api/v1/pause", None).await?);
            Ok(0)
        }
        Cmd::Resume(load) => {
            print_json(&client(&load, "POST", "/api/v1/resume", None).await?);
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rdsync-director: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(real_main(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rdsync-director: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
