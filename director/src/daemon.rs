//! The long-running process: pid file, metrics endpoint, control socket, scheduler, signals.
//!
//! Signals: SIGHUP runs the instance's jobs now (queued and coalesced, never dropped); SIGUSR1
//! reloads the configuration (validated; the old one is kept on error); SIGTERM/SIGINT stop
//! scheduling, terminate running children (SIGTERM to each process group, SIGKILL after
//! `stop_grace`), release locks and exit 0. systemd gets `READY=1` and `STOPPING=1`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::admission::{Admission, Trigger};
use crate::config::{self, Config, ConfigError, Overrides};
use crate::control::{self, ControlContext, ControlError};
use crate::engine::EngineMode;
use crate::metrics::{self, Metrics, MetricsError};
use crate::pidfile::{PidFile, PidFileError};
use crate::schedule;
use crate::sdnotify;
use crate::state::{RunResult, StateError, StateStore};

/// An error that stops the daemon from starting.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another instance runs.
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    /// The metrics endpoint.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The control socket.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The state directory.
    #[error(transparent)]
    State(#[from] StateError),
    /// Signal handlers.
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    /// `--job` named an unknown job.
    #[error("unknown job {0:?}")]
    UnknownJob(String),
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// The configuration file.
    pub config_path: PathBuf,
    /// Command-line overrides.
    pub overrides: Overrides,
    /// Change nothing (rsync `--dry-run`, commands printed, no lock writes, no state writes).
    pub dry_run: bool,
    /// Run the jobs once and exit (0 all succeeded, 1 a failure, 2 something skipped).
    pub once: bool,
    /// Restrict `--once` to these jobs.
    pub jobs: Vec<String>,
}

/// Runs the daemon until SIGTERM/SIGINT (or, with `once`, until the jobs are done). Returns the
/// process exit code.
pub async fn run(opts: DaemonOptions) -> Result<i32, DaemonError> {
    let cfg = config::load(&opts.config_path, &opts.overrides)?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    for j in &opts.jobs {
        if cfg.job(j).is_none() {
            return Err(DaemonError::UnknownJob(j.clone()));
        }
    }
    let pid = PidFile::acquire(&cfg.pid_file())?;
    tracing::info!(
        "rdsync-director {} starting: instance {:?} ({} dialect), config {}, pid file {}{}",
        env!("CARGO_PKG_VERSION"),
        cfg.instance_id,
        cfg.dialect,
        cfg.path.display(),
        pid.path().display(),
        if opts.dry_run {
            ", DRY RUN: nothing will be changed"
        } else {
            ""
        }
    );
    log_engines(&cfg);

    let metrics = Arc::new(Metrics::new(&cfg.instance_id)?);
    metrics.config_reloads.with_label_values(&["success"]).inc();
    metrics.config_last_reload.set(metrics::now_secs());
    let (metrics_task, metrics_url) = if cfg.metrics.enabled {
        let l = metrics::bind(&cfg.metrics.addr, cfg.metrics.port).await?;
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let url = format!("http://{addr}/metrics");
        tracing::info!("metrics on {url}");
        (
            Some(tokio::spawn(metrics::serve(l, metrics.clone()))),
            Some(url),
        )
    } else {
        (None, None)
    };

    let mut state = StateStore::open(&cfg.state_dir, !opts.dry_run)?;
    // Catch-up: a fire missed while we were down runs once now.
    let now = Utc::now();
    let mut catch_up = Vec::new();
    for j in &cfg.jobs {
        let Some(s) = &j.schedule else { continue };
        match state.job(&j.id).last_fire {
            Some(last) if j.catch_up && j.enabled => {
                if let Some(missed) = s.prev_at_or_before(now).filter(|t| *t > last) {
                    tracing::info!(job = %j.id, "missed the fire of {missed} while down: catching up");
                    catch_up.push(j.id.clone());
                }
            }
            Some(_) => {}
            None if !opts.dry_run => state.set_last_fire(&j.id, now),
            None => {}
        }
    }
    let cfg = Arc::new(cfg);
    let admission = Admission::start(
        cfg.clone(),
        metrics.clone(),
        state,
        opts.dry_run,
        metrics_url,
    );

    let (cfg_tx, cfg_rx) = watch::channel(cfg.clone());
    let cfg_tx = Arc::new(cfg_tx);
    let reload: control::ReloadFn = {
        let (path, ov, adm, m, tx) = (
            opts.config_path.clone(),
            opts.overrides.clone(),
            admission.clone(),
            metrics.clone(),
            cfg_tx.clone(),
        );
        Arc::new(move || reload_config(&path, &ov, &adm, &m, &tx))
    };
    let listener = control::bind(&cfg.control_socket)?;
    tracing::info!("control socket {}", cfg.control_socket.display());
    let control_task = tokio::spawn(control::serve(
        listener,
        ControlContext {
            admission: admission.clone(),
            reload: reload.clone(),
        },
    ));

    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(DaemonError::Signals)?;

    let code = if opts.once {
        let ids: Vec<String> = if opts.jobs.is_empty() {
            cfg.jobs
                .iter()
                .filter(|j| j.enabled)
                .map(|j| j.id.clone())
                .collect()
        } else {
            opts.jobs.clone()
        };
        let mut waits = Vec::new();
        for id in &ids {
            match admission
                .trigger(id, Trigger::Api, opts.dry_run, true)
                .await
            {
                Ok((_, Some(rx))) => waits.push(rx),
                Ok((_, None)) => {}
                Err(e) => tracing::error!(job = %id, "{e}"),
            }
        }
        let all = async {
            let mut code = 0;
            for w in waits {
                match w.await.map(|r| r.result) {
                    Ok(RunResult::Success) => {}
                    Ok(RunResult::SkippedBlocked | RunResult::SkippedLocked) => code = code.max(2),
                    _ => code = 1,
                }
            }
            code
        };
        tokio::pin!(all);
        tokio::select! {
            c = &mut all => c,
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); 0 }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); 0 }
        }
    } else {
        let sched_task = tokio::spawn(scheduler(
            cfg_rx,
            admission.clone(),
            metrics.clone(),
            catch_up,
        ));
        sdnotify::notify("READY=1\nSTATUS=scheduling");
        // systemd watchdog: ping from the admission path, so a wedged admission task stops the
        // pings and systemd restarts us.
        let watchdog = sdnotify::watchdog_interval().map(|every| {
            let adm = admission.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every / 2).await;
                    if tokio::time::timeout(every / 2, adm.status()).await.is_ok() {
                        sdnotify::notify("WATCHDOG=1");
                    }
                }
            })
        });
        tracing::info!("ready");
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: running the instance's jobs now");
                    let replies = admission.trigger_all(Trigger::Signal).await;
                    for r in replies {
                        tracing::info!(job = %r.job, "run {} {}", r.run_id, if r.coalesced { "(merged into the queued run)" } else if r.queued { "(queued behind the running one)" } else { "(admitted)" });
                    }
                }
                _ = usr1.recv() => {
                    tracing::info!("SIGUSR1: reloading the configuration");
                    let f = reload.clone();
                    match tokio::task::spawn_blocking(move || f()).await {
                        Ok(Ok(s)) => tracing::info!("reloaded: {s}"),
                        Ok(Err(e)) => tracing::error!("reload failed, keeping the old configuration: {e}"),
                        Err(e) => tracing::error!("reload task: {e}"),
                    }
                }
            }
        }
        sched_task.abort();
        if let Some(w) = watchdog {
            w.abort();
        }
        0
    };

    sdnotify::notify("STOPPING=1");
    let grace = cfg_tx.borrow().stop_grace;
    admission.shutdown(grace).await;
    control_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    let _ = std::fs::remove_file(&cfg.control_socket);
    drop(pid);
    tracing::info!("stopped");
    Ok(code)
}

fn reload_config(
    path: &std::path::Path,
    ov: &Overrides,
    adm: &Admission,
    m: &Metrics,
    tx: &watch::Sender<Arc<Config>>,
) -> Result<String, String> {
    match config::load(path, ov) {
        Ok(new) => {
            let old = tx.borrow().clone();
            if new.instance_id != old.instance_id
                || new.pid_file_dir != old.pid_file_dir
                || new.metrics != old.metrics
                || new.control_socket != old.control_socket
                || new.state_dir != old.state_dir
            {
                tracing::warn!(
                    "reload: instance id, pid_file_dir, state_dir, metrics and control socket changes need a restart; keeping the old ones"
                );
            }
            let mut new = new;
            new.instance_id = old.instance_id.clone();
            new.pid_file_dir = old.pid_file_dir.clone();
            new.metrics = old.metrics.clone();
            new.control_socket = old.control_socket.clone();
            new.state_dir = old.state_dir.clone();
            for w in &new.warnings {
                tracing::warn!("{w}");
            }
            let summary = format!("{} job(s) from {}", new.jobs.len(), new.path.display());
            let new = Arc::new(new);
            adm.reload(new.clone());
            let _ = tx.send(new);
            m.config_reloads.with_label_values(&["success"]).inc();
            m.config_last_reload.set(metrics::now_secs());
            Ok(summary)
        }
        Err(e) => {
            m.config_reloads.with_label_values(&["failure"]).inc();
            Err(e.to_string())
        }
    }
}

/// The longest single sleep, so wall-clock jumps are noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Fires cron triggers. Each job's next fire is computed from its schedule (in its zone), plus
/// a fresh jitter per fire.
async fn scheduler(
    mut cfg_rx: watch::Receiver<Arc<Config>>,
    adm: Admission,
    m: Arc<Metrics>,
    catch_up: Vec<String>,
) {
    for id in catch_up {
        adm.trigger_nowait(&id, Trigger::CatchUp);
    }
    {
        let cfg = cfg_rx.borrow().clone();
        for j in cfg.jobs.iter().filter(|j| j.run_on_start) {
            tracing::info!(job = %j.id, "run_on_start");
            adm.trigger_nowait(&j.id, Trigger::Start);
        }
    }
    // job -> (scheduled fire, fire time with jitter)
    let mut plan: HashMap<String, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    loop {
        let cfg = cfg_rx.borrow_and_update().clone();
        let now = Utc::now();
        plan.retain(|id, _| {
            cfg.job(id)
                .is_some_and(|j| j.enabled && j.schedule.is_some())
        });
        for j in cfg.jobs.iter().filter(|j| j.enabled) {
            let Some(s) = &j.schedule else { continue };
            if !plan.contains_key(&j.id)
                && let Some(next) = s.next_after(now)
            {
                let at = next
                    + chrono::Duration::from_std(schedule::jitter(j.jitter)).unwrap_or_default();
                plan.insert(j.id.clone(), (next, at));
            }
        }
        {
            let mut g = adm.next_runs.lock().unwrap_or_else(|e| e.into_inner());
            g.clear();
            for (id, (_, at)) in &plan {
                g.insert(id.clone(), *at);
                m.next_run
                    .with_label_values(&[id])
                    .set(at.timestamp_millis() as f64 / 1000.0);
            }
        }
        // Fire what is due.
        // In file order, so an instance run keeps upstream's sequential job order.
        let due: Vec<(String, DateTime<Utc>)> = cfg
            .jobs
            .iter()
            .filter_map(|j| plan.get(&j.id).map(|p| (j.id.clone(), *p)))
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, (sched, _))| (id, sched))
            .collect();
        for (id, sched) in &due {
            tracing::info!(job = %id, "cron fire for {sched}");
            adm.fired(id, *sched);
            adm.trigger_nowait(id, Trigger::Cron);
            if let Some(s) = cfg.job(id).and_then(|j| j.schedule.clone()) {
                let j = cfg.job(id).map(|j| j.jitter).unwrap_or_default();
                match s.next_after(*sched) {
                    Some(next) => {
                        let at = next
                            + chrono::Duration::from_std(schedule::jitter(j)).unwrap_or_default();
                        plan.insert(id.clone(), (next, at));
                    }
                    None => {
                        plan.remove(id);
                    }
                }
            }
        }
        if !due.is_empty() {
            continue;
        }
        let wake = plan.values().map(|(_, at)| *at).min();
        let sleep = wake
            .map(|w| (w - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            r = cfg_rx.changed() => {
                if r.is_err() { return; }
                plan.clear();
            }
        }
    }
}

/// Says which engine the sync actions use (each run logs its own choice again, with the reason).
fn log_engines(cfg: &Config) {
    let e = &cfg.engine;
    match (&e.mode, &e.rdsync) {
        (EngineMode::Rsync, _) => tracing::info!(
            "sync actions use {} (engine: rsync{})",
            if e.rsync == crate::plan::RSYNC {
                "the system rsync"
            } else {
                e.rsync.as_str()
            },
            if e.rsync == crate::plan::RSYNC {
                ""
            } else {
                ", rsync_path"
            }
        ),
        (_, Ok(p)) => tracing::info!(
            "sync actions use the native rdsync engine ({}) where every option is native, else \
             the system rsync ({}) (engine: {})",
            p.display(),
            e.rsync,
            e.mode.as_str()
        ),
        (_, Err(why)) => tracing::warn!("sync actions use the system rsync ({}): {why}", e.rsync),
    }
    for j in &cfg.jobs {
        for a in &j.actions {
            if let Some(c) = crate::plan::sync_choice(a, false) {
                tracing::info!("job {} action {}: {}", j.id, a.id, c.describe());
            }
        }
    }
}
