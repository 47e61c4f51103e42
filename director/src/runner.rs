//! Running one job: wait on `blocks_on`, take the `lock_files`, run the actions in order, release
//! the locks.
//!
//! Every child runs in its own process group, so a timeout or a cancel reaches the whole tree
//! (`bash -c` and the rsync processes it forks): SIGTERM to the group, then SIGKILL after the
//! grace period. A sync's child is the `rdsync` binary or the system rsync, as
//! [`crate::engine`] chose; either way the same machinery applies. Output is streamed line by line
//! into the run's log file (never kept whole in memory); the `--stats` lines are parsed on the way
//! for the transfer metrics, and rdsync's notice when it hands over to the system rsync is noted.

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use crate::config::{Action, ActionKind, Job, Notifier};
use crate::engine::{self, Engine};
use crate::lock::{self, BlockState, HeldLock, LockError};
use crate::metrics::Metrics;
use crate::plan::{self, Program};
use crate::state::{ActionRecord, RunRecord, RunResult};
use crate::stats::TransferStats;

/// A cancel request: `Some(grace)` asks the run to stop, giving children `grace` between SIGTERM
/// and SIGKILL.
pub type CancelSignal = Option<Duration>;

/// Everything a run needs.
pub struct RunContext {
    /// Unique id of this run.
    pub run_id: String,
    /// The job (a snapshot of the config at admission time).
    pub job: Job,
    /// What started it.
    pub trigger: String,
    /// Change nothing: no lock writes, commands only printed, rsync with `--dry-run`.
    pub dry_run: bool,
    /// Triggers merged into this run.
    pub coalesced: u32,
    /// Metrics to update.
    pub metrics: Arc<Metrics>,
    /// Where to write the output.
    pub log_path: Option<PathBuf>,
    /// Cancel requests.
    pub cancel: watch::Receiver<CancelSignal>,
    /// The current phase, for `status` (`waiting_block`, `waiting_lock`, `running <action>`).
    pub phase: Arc<Mutex<String>>,
    /// The lock files this run holds now (`path` or `host:path`), for `status` and `locks`.
    pub locks: Arc<Mutex<Vec<String>>>,
}

/// The run's log file (shared by the output readers).
#[derive(Clone)]
struct RunLog {
    file: Arc<Mutex<Option<std::fs::File>>>,
    job: String,
}

impl RunLog {
    fn open(path: Option<&PathBuf>, job: &str) -> RunLog {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| tracing::warn!("cannot open run log {}: {e}", p.display()))
                .ok()
        });
        RunLog {
            file: Arc::new(Mutex::new(file)),
            job: job.to_string(),
        }
    }

    /// A director message: to the run log and the daemon log.
    fn info(&self, msg: &str) {
        tracing::info!(job = %self.job, "{msg}");
        self.write(&format!("[director] {msg}"));
    }

    fn warn(&self, msg: &str) {
        tracing::warn!(job = %self.job, "{msg}");
        self.write(&format!("[director] WARNING: {msg}"));
    }

    fn write(&self, line: &str) {
        use std::io::Write as _;
        if let Ok(mut g) = self.file.lock()
            && let Some(f) = g.as_mut()
        {
            let _ = writeln!(f, "{} {line}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        }
    }
}

/// How one process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcOutcome {
    /// Exited with a code.
    Exited(i32),
    /// Killed by a signal we did not send.
    Signaled(i32),
    /// Exceeded its time limit (and was terminated).
    TimedOut,
    /// Cancelled (and terminated).
    Cancelled,
    /// Could not be started.
    Spawn(String),
}

fn set_phase(p: &Arc<Mutex<String>>, s: impl Into<String>) {
    if let Ok(mut g) = p.lock() {
        *g = s.into();
    }
}

fn cancelled(c: &watch::Receiver<CancelSignal>) -> Option<Duration> {
    *c.borrow()
}

/// Waits `d`, or less if a cancel arrives. Returns the cancel grace if cancelled.
async fn sleep_or_cancel(d: Duration, c: &mut watch::Receiver<CancelSignal>) -> Option<Duration> {
    if let Some(g) = cancelled(c) {
        return Some(g);
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => None,
        r = c.wait_for(|v| v.is_some()) => match r {
            Ok(v) => *v,
            Err(_) => None,
        },
    }
}

fn killpg(pgid: u32, sig: Signal) {
    if let Some(p) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(p, sig);
    }
}

/// What the director reads from a sync's output: its `--stats` and, for the `rdsync` binary,
/// whether it handed the command line over to the system rsync (and why).
#[derive(Debug, Clone, Default)]
pub struct SyncOutput {
    /// The transfer statistics.
    pub stats: TransferStats,
    /// The reason rdsync named when it ran the system rsync instead.
    pub handover: Option<String>,
}

async fn pump<R: AsyncRead + Unpin>(
    r: R,
    log: RunLog,
    tag: &'static str,
    stats: Option<Arc<Mutex<SyncOutput>>>,
) {
    let mut lines = BufReader::new(r).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if let Some(s) = &stats
                    && let Ok(mut g) = s.lock()
                {
                    g.stats.feed_line(&line);
                    if let Some(r) = engine::handover_notice(&line) {
                        g.handover = Some(r.to_string());
                    }
                }
                log.write(&format!("[{tag}] {line}"));
            }
            Ok(None) => break,
            Err(e) => {
                // Not UTF-8 or similar: note it and stop reading this stream.
                log.write(&format!("[{tag}] <unreadable output: {e}>"));
                break;
            }
        }
    }
}

/// Runs one process in its own process group, with a time limit and cancellation.
pub async fn run_process(
    program: &Program,
    stdin: Option<&str>,
    timeout: Option<Duration>,
    grace: Duration,
    cancel: &mut watch::Receiver<CancelSignal>,
    log: &RunLogHandle,
    stats: Option<Arc<Mutex<SyncOutput>>>,
) -> ProcOutcome {
    let log = log.0.clone();
    let argv = program.argv();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ProcOutcome::Spawn(format!("cannot start {:?}: {e}", argv[0])),
    };
    let pgid = child.id().unwrap_or(0);
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        tokio::spawn(async move {
            let _ = w.write_all(text.as_bytes()).await;
            let _ = w.shutdown().await;
        });
    }
    let out = child
        .stdout
        .take()
        .map(|o| tokio::spawn(pump(o, log.clone(), "out", stats.clone())));
    let err = child
        .stderr
        .take()
        .map(|e| tokio::spawn(pump(e, log.clone(), "err", stats)));

    let limit = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let mut terminate_with = None;
    let mut outcome = None;
    if let Some(g) = cancelled(cancel) {
        terminate_with = Some((g, ProcOutcome::Cancelled));
    } else {
        tokio::select! {
            st = child.wait() => {
                outcome = Some(match st {
                    Ok(s) => match (s.code(), s.signal()) {
                        (Some(c), _) => ProcOutcome::Exited(c),
                        (None, Some(sig)) => ProcOutcome::Signaled(sig),
                        _ => ProcOutcome::Exited(-1),
                    },
                    Err(e) => ProcOutcome::Spawn(format!("wait failed: {e}")),
                });
            }
            _ = limit => terminate_with = Some((grace, ProcOutcome::TimedOut)),
            r = cancel.wait_for(|v| v.is_some()) => {
                let g = r.ok().and_then(|v| *v).unwrap_or(grace);
                terminate_with = Some((g, ProcOutcome::Cancelled));
            }
        }
    }
    if let Some((g, o)) = terminate_with {
        log.write(&format!(
            "[director] sending SIGTERM to process group {pgid} ({})",
            if o == ProcOutcome::TimedOut {
                "timeout"
            } else {
                "cancel"
            }
        ));
        killpg(pgid, Signal::TERM);
        match tokio::time::timeout(g, child.wait()).await {
            Ok(st) => {
                log.write(&format!("[director] process exited after SIGTERM: {st:?}"));
            }
            Err(_) => {
                log.write(&format!(
                    "[director] still running after {g:?}: sending SIGKILL to process group {pgid}"
                ));
                killpg(pgid, Signal::KILL);
                let _ = child.wait().await;
            }
        }
        // Anything left in the group (children that ignored SIGTERM) goes too.
        killpg(pgid, Signal::KILL);
        outcome = Some(o);
    }
    // Drain the output; a grandchild that keeps the pipes open must not hang the run.
    for h in [out, err].into_iter().flatten() {
        let abort = h.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    outcome.unwrap_or(ProcOutcome::Exited(-1))
}

/// An opaque handle on a run's log, for [`run_process`].
#[derive(Clone)]
pub struct RunLogHandle(RunLog);

impl RunLogHandle {
    /// A log writing to `path` (or nowhere).
    pub fn open(path: Option<&PathBuf>, job: &str) -> RunLogHandle {
        RunLogHandle(RunLog::open(path, job))
    }
}

fn reason_of(o: &ProcOutcome) -> &'static str {
    match o {
        ProcOutcome::Exited(_) => "exit",
        ProcOutcome::Signaled(_) => "signal",
        ProcOutcome::TimedOut => "timeout",
        ProcOutcome::Cancelled => "cancelled",
        ProcOutcome::Spawn(_) => "spawn",
    }
}

/// Runs a whole job and returns its record. Never panics on job errors: every failure ends up
/// in the record (the upstream daemon wedged on any exception; bug B3).
pub async fn run_job(mut ctx: RunContext) -> RunRecord {
    let started_at = Utc::now();
    let t0 = Instant::now();
    let job = ctx.job.clone();
    let log = RunLog::open(ctx.log_path.as_ref(), &job.id);
    let m = ctx.metrics.clone();
    log.info(&format!(
        "run {} of job {} started (trigger {}{})",
        ctx.run_id,
        job.id,
        ctx.trigger,
        if ctx.dry_run { ", DRY RUN" } else { "" }
    ));
    notify(&ctx, &job, &log, "start", "running", "").await;
    let deadline = job.timeout.map(|t| t0 + t);
    let mut actions_rec = Vec::new();
    let mut result = RunResult::Success;
    let mut message = String::from("ok");
    let mut exit_code = None;
    let mut failed_action = None;

    // 1. blocks_on.
    if !job.blocks_on.is_empty() {
        set_phase(&ctx.phase, "waiting_block");
        let bt0 = Instant::now();
        let r = wait_blocks(&job, &log, &m, &mut ctx.cancel, deadline).await;
        m.blocked_seconds
            .with_label_values(&[&job.id])
            .observe(bt0.elapsed().as_secs_f64());
        if let Err((res, msg)) = r {
            result = res;
            message = msg;
        }
    }

    // 2. lock_files (none in dry-run mode).
    let mut held: Vec<HeldLock> = Vec::new();
    if result == RunResult::Success && !job.lock_files.is_empty() {
        set_phase(&ctx.phase, "waiting_lock");
        if ctx.dry_run {
            for l in &job.lock_files {
                log.info(&format!("dry-run: would create lock file {}", l.describe()));
            }
        } else {
            // Canonical order, so two directors can never deadlock on the same set.
            let mut specs = job.lock_files.clone();
            specs.sort_by_key(|l| l.describe());
            for spec in &specs {
                match lock::acquire(spec).await {
                    Ok(h) => {
                        let d = spec.describe();
                        log.info(&format!("created lock file {d}"));
                        m.lock_files.with_label_values(&[&job.id]).inc();
                        m.lock_held.with_label_values(&[&job.id, &d]).set(1);
                        if let Ok(mut g) = ctx.locks.lock() {
                            g.push(d);
                        }
                        held.push(h);
                    }
                    Err(e) => {
                        if matches!(e, LockError::Held { .. }) {
                            m.lock_conflicts.with_label_values(&[&job.id]).inc();
                            result = RunResult::SkippedLocked;
                        } else {
                            m.aborted_exception.with_label_values(&[&job.id, ""]).inc();
                            result = RunResult::Failure;
                        }
                        message = e.to_string();
                        log.warn(&format!("{e}; skipping the job"));
                        break;
                    }
                }
            }
        }
    }

    // 3. actions.
    if result == RunResult::Success {
        for action in &job.actions {
            set_phase(&ctx.phase, format!("running {}", action.id));
            let (rec, ok) = run_action(&mut ctx, &job, action, &log, deadline).await;
            exit_code = rec.exit_code.or(exit_code);
            let outcome = rec.outcome.clone();
            actions_rec.push(rec);
            if !ok {
                failed_action = Some(action.id.clone());
                result = match outcome.as_str() {
                    "timeout" => RunResult::Timeout,
                    // Killed from outside (e.g. `systemctl kill -s HUP` without
                    // --kill-whom=main): recorded as cancelled, not as an ordinary failure.
                    "cancelled" | "signal" => RunResult::Cancelled,
                    _ => RunResult::Failure,
                };
                message = format!("action {} failed ({outcome})", action.id);
                match outcome.as_str() {
                    "spawn" => m
                        .aborted_failed_process
                        .with_label_values(&[&job.id, &action.id])
                        .inc(),
                    "cancelled" => {}
                    _ => m
                        .aborted_failed_action
                        .with_label_values(&[&job.id, &action.id])
                        .inc(),
                }
                break;
            }
        }
    }

    // 4. release locks (always, compare-and-delete).
    set_phase(&ctx.phase, "releasing_locks");
    for h in held.into_iter().rev() {
        let d = h.spec.describe();
        match lock::release(h).await {
            Ok(()) => log.info(&format!("removed lock file {d}")),
            Err(e) => log.warn(&e.to_string()),
        }
        m.lock_files.with_label_values(&[&job.id]).dec();
        m.lock_held.with_label_values(&[&job.id, &d]).set(0);
        if let Ok(mut g) = ctx.locks.lock() {
            g.retain(|l| *l != d);
        }
    }
    notify(
        &ctx,
        &job,
        &log,
        Notifier::state_of(result.as_str()),
        result.as_str(),
        &message,
    )
    .await;
    let finished_at = Utc::now();
    log.info(&format!(
        "run {} finished: {} ({message}) in {:.1}s",
        ctx.run_id,
        result.as_str(),
        t0.elapsed().as_secs_f64()
    ));
    RunRecord {
        run_id: ctx.run_id.clone(),
        job: job.id.clone(),
        trigger: ctx.trigger.clone(),
        dry_run: ctx.dry_run,
        coalesced: ctx.coalesced,
        started_at,
        finished_at,
        result,
        exit_code,
        failed_action,
        message,
        actions: actions_rec,
        log: ctx.log_path.clone(),
    }
}

async fn wait_blocks(
    job: &Job,
    log: &RunLog,
    m: &Metrics,
    cancel: &mut watch::Receiver<CancelSignal>,
    deadline: Option<Instant>,
) -> Result<(), (RunResult, String)> {
    let mut episode_counted = false;
    let start = Instant::now();
    // Repeat until one full pass finds every block absent, so a block that reappears while we
    // waited on a later one is not missed.
    loop {
        let mut all_clear = true;
        for b in &job.blocks_on {
            loop {
                let st = lock::check_block(b).await;
                if st == BlockState::Absent {
                    break;
                }
                all_clear = false;
                if let BlockState::Unreachable(e) = &st {
                    log.warn(&format!(
                        "cannot check block {} ({e}); treating it as present",
                        b.describe()
                    ));
                }
                if !episode_counted {
                    m.block_waits.with_label_values(&[&job.id]).inc();
                    episode_counted = true;
                }
                m.blocked_total.with_label_values(&[&job.id]).inc();
                let waited = start.elapsed();
                if let Some(t) = b.timeout
                    && waited >= t
                {
                    m.skipped_block_timeout.with_label_values(&[&job.id]).inc();
                    m.block_timeouts.with_label_values(&[&job.id]).inc();
                    let msg = format!(
                        "block {} still present after {t:?}; skipping the job",
                        b.describe()
                    );
                    log.warn(&msg);
                    return Err((RunResult::SkippedBlocked, msg));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err((
                        RunResult::Timeout,
                        "job timeout while waiting on blocks_on".into(),
                    ));
                }
                log.info(&format!(
                    "blocked on {}; checking again in {:?}",
                    b.describe(),
                    b.wait_time
                ));
                let mut wait = b.wait_time;
                if let Some(t) = b.timeout {
                    wait = wait.min(
                        t.saturating_sub(start.elapsed())
                            .max(Duration::from_millis(10)),
                    );
                }
                if let Some(d) = deadline {
                    wait = wait.min(d.saturating_duration_since(Instant::now()));
                }
                if sleep_or_cancel(wait, cancel).await.is_some() {
                    return Err((
                        RunResult::Cancelled,
                        "cancelled while waiting on blocks_on".into(),
                    ));
                }
            }
        }
        if all_clear {
            return Ok(());
        }
    }
}

async fn run_action(
    ctx: &mut RunContext,
    job: &Job,
    action: &Action,
    log: &RunLog,
    deadline: Option<Instant>,
) -> (ActionRecord, bool) {
    let m = ctx.metrics.clone();
    let choice = plan::sync_choice(action, ctx.dry_run);
    let program = match &choice {
        Some(c) => c.program.clone(),
        None => plan::action_program(action, ctx.dry_run),
    };
    let t0 = Instant::now();
    let is_sync = choice.is_some();
    let stdin = match &action.kind {
        ActionKind::Command { stdin, .. } => stdin.clone(),
        ActionKind::Sync { .. } => None,
    };
    let mut rec = ActionRecord {
        id: action.id.clone(),
        command: program.display(),
        attempts: 0,
        exit_code: None,
        signal: None,
        outcome: String::new(),
        duration_seconds: 0.0,
        stats: None,
        engine: choice.as_ref().map(|c| c.engine.as_str().to_string()),
        engine_reason: choice
            .as_ref()
            .map(|c| c.reason.clone())
            .filter(|r| !r.is_empty()),
    };
    if ctx.dry_run && !is_sync {
        log.info(&format!(
            "dry-run: would run action {}: {}",
            action.id,
            program.display()
        ));
        rec.outcome = "dry_run".into();
        return (rec, true);
    }
    match &choice {
        Some(c) => {
            let with = match (c.engine, &action.kind) {
                (Engine::System, ActionKind::Sync { rsync, .. }) if rsync != plan::RSYNC => {
                    format!("{rsync} (rsync_path; reason: {})", c.reason)
                }
                _ => format!("the {}", c.describe()),
            };
            log.info(&format!(
                "action {}: sync with {with}: {}",
                action.id,
                program.display()
            ));
        }
        None => log.info(&format!("action {}: {}", action.id, program.display())),
    }
    let mut ok = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        rec.attempts = attempt;
        let mut timeout = action.timeout;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let stats = is_sync.then(|| Arc::new(Mutex::new(SyncOutput::default())));
        let outcome = run_process(
            &program,
            stdin.as_deref(),
            timeout,
            job.kill_grace,
            &mut ctx.cancel,
            &RunLogHandle(log.clone()),
            stats.clone(),
        )
        .await;
        if let Some(out) = stats.and_then(|s| s.lock().ok().map(|g| g.clone())) {
            if let Some(r) = out.handover
                && rec.engine.as_deref() == Some(Engine::Native.as_str())
            {
                log.info(&format!(
                    "action {}: rdsync handed over to the system rsync ({r} is not supported \
                     natively)",
                    action.id
                ));
                rec.engine = Some(Engine::System.as_str().into());
                rec.engine_reason = Some(format!("rdsync handed over: {r}"));
            }
            if !out.stats.is_empty() {
                m.observe_transfer(&job.id, &action.id, &out.stats);
                rec.stats = Some(out.stats);
            }
        }
        rec.exit_code = match outcome {
            ProcOutcome::Exited(c) => Some(c),
            _ => None,
        };
        rec.signal = match outcome {
            ProcOutcome::Signaled(s) => Some(s),
            _ => None,
        };
        let success =
            matches!(outcome, ProcOutcome::Exited(c) if action.ok_exit_codes.contains(&c));
        if success {
            if let ProcOutcome::Exited(c) = outcome
                && c != 0
            {
                log.info(&format!(
                    "action {} exited {c}, accepted by ok_exit_codes",
                    action.id
                ));
            }
            rec.outcome = "ok".into();
            ok = true;
            break;
        }
        // rsync exits 20 when a signal (SIGINT, SIGTERM, SIGHUP) stopped it.
        let reason = match outcome {
            ProcOutcome::Exited(20) if is_sync => "signal",
            _ => reason_of(&outcome),
        };
        rec.outcome = reason.into();
        if reason != "cancelled" {
            m.action_failures
                .with_label_values(&[&job.id, &action.id, reason])
                .inc();
        }
        log.warn(&format!(
            "action {} attempt {attempt} failed: {outcome:?}",
            action.id
        ));
        let job_out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let retryable = match outcome {
            ProcOutcome::Cancelled => false,
            _ if reason == "signal" => false,
            ProcOutcome::TimedOut => !job_out_of_time,
            _ => true,
        };
        if !retryable || attempt > action.retries {
            break;
        }
        let wait = action
            .retry_wait
            .saturating_mul(1u32 << (attempt - 1).min(16));
        log.info(&format!(
            "retrying action {} in {wait:?} ({} of {})",
            action.id, attempt, action.retries
        ));
        if sleep_or_cancel(wait, &mut ctx.cancel).await.is_some() {
            rec.outcome = "cancelled".into();
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    rec.duration_seconds = secs;
    m.action_duration
        .with_label_values(&[&job.id, &action.id])
        .observe(secs);
    (rec, ok)
}

/// How long a notifier command may run.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the job's notifiers that want `state`, with `RDSYNC_DIRECTOR_*` variables describing the
/// run. Their output goes to the run log; a failure is logged and counted, never fatal.
async fn notify(
    ctx: &RunContext,
    job: &Job,
    log: &RunLog,
    state: &str,
    result: &str,
    message: &str,
) {
    for n in job.notify.iter().filter(|n| n.wants(state)) {
        if ctx.dry_run {
            log.info(&format!("dry-run: would notify {} ({state})", n.name));
            continue;
        }
        let mut cmd = Command::new(&n.argv[0]);
        cmd.args(&n.argv[1..])
            .env("RDSYNC_DIRECTOR_JOB", &job.id)
            .env("RDSYNC_DIRECTOR_RUN_ID", &ctx.run_id)
            .env("RDSYNC_DIRECTOR_TRIGGER", &ctx.trigger)
            .env("RDSYNC_DIRECTOR_STATE", state)
            .env("RDSYNC_DIRECTOR_RESULT", result)
            .env("RDSYNC_DIRECTOR_MESSAGE", message)
            .env(
                "RDSYNC_DIRECTOR_LOG",
                ctx.log_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            )
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let ok = match tokio::time::timeout(NOTIFY_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => {
                for line in String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&out.stderr).lines())
                {
                    log.write(&format!("[notify {}] {line}", n.name));
                }
                out.status.success()
            }
            Ok(Err(e)) => {
                log.warn(&format!("notifier {}: cannot start: {e}", n.name));
                false
            }
            Err(_) => {
                log.warn(&format!(
                    "notifier {}: timed out after {NOTIFY_TIMEOUT:?}",
                    n.name
                ));
                false
            }
        };
        if ok {
            log.info(&format!("notified {} ({state})", n.name));
        } else {
            ctx.metrics
                .notify_failures
                .with_label_values(&[&n.name])
                .inc();
            log.warn(&format!("notifier {} failed ({state})", n.name));
        }
    }
}
