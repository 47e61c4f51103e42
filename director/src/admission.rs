//! The single admission point. Every trigger (cron, catch-up, run-on-start, SIGHUP, control API)
//! becomes a message to one task, which owns all run state, so there are no races:
//!
//! - a job never overlaps itself;
//! - a trigger for a busy job queues **one** run; further triggers while that run is queued are
//!   merged into it (counted, logged, and their waiters get that run's result) — nothing is
//!   silently dropped;
//! - jobs of one group (the jobs of an rsyncdirector instance share one) run one at a time, in
//!   request order, so an instance run keeps upstream's sequential file order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Config, INSTANCE_GROUP, Job};
use crate::metrics::Metrics;
use crate::runner::{self, CancelSignal, RunContext};
use crate::state::{RunRecord, RunResult, StateStore};

/// What caused a run request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A cron fire.
    Cron,
    /// A fire missed while the daemon was down.
    CatchUp,
    /// `run_on_start`.
    Start,
    /// SIGHUP.
    Signal,
    /// The control API / CLI.
    Api,
}

impl Trigger {
    /// Label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Cron => "cron",
            Trigger::CatchUp => "catchup",
            Trigger::Start => "start",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
        }
    }

    fn scheduled(&self) -> bool {
        matches!(self, Trigger::Cron | Trigger::CatchUp)
    }
}

/// The answer to a trigger.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TriggerReply {
    /// The job.
    pub job: String,
    /// The run that will serve this request.
    pub run_id: String,
    /// True when merged into a run that was already queued.
    pub coalesced: bool,
    /// True when the job was busy, so the run waits.
    pub queued: bool,
}

type Waiter = oneshot::Sender<RunRecord>;

enum Msg {
    Trigger {
        job: String,
        trigger: Trigger,
        dry_run: bool,
        reply: Option<oneshot::Sender<Result<TriggerReply, String>>>,
        done: Option<Waiter>,
    },
    TriggerAll {
        trigger: Trigger,
        reply: Option<oneshot::Sender<Vec<TriggerReply>>>,
    },
    Finished(Box<RunRecord>),
    Cancel {
        run_id: String,
        reply: oneshot::Sender<bool>,
    },
    Status(oneshot::Sender<Value>),
    History {
        job: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Vec<RunRecord>>,
    },
    Find {
        run_id: String,
        reply: oneshot::Sender<Option<(RunRecord, bool)>>,
    },
    Reload(Arc<Config>),
    Fired {
        job: String,
        at: DateTime<Utc>,
    },
    SetPaused(bool),
    Shutdown {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable handle on the admission task.
#[derive(Clone)]
pub struct Admission {
    tx: mpsc::UnboundedSender<Msg>,
    /// Next fire time per job, maintained by the scheduler, shown by `status`.
    pub next_runs: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

struct Running {
    run_id: String,
    trigger: Trigger,
    started: DateTime<Utc>,
    cancel: watch::Sender<CancelSignal>,
    phase: Arc<Mutex<String>>,
    locks: Arc<Mutex<Vec<String>>>,
    waiters: Vec<Waiter>,
    group: Option<String>,
    kill_grace: Duration,
}

struct Pending {
    job: String,
    run_id: String,
    trigger: Trigger,
    dry_run: bool,
    coalesced: u32,
    waiters: Vec<Waiter>,
    queued_at: DateTime<Utc>,
}

struct Core {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    state: StateStore,
    dry_run: bool,
    paused: bool,
    started: DateTime<Utc>,
    running: HashMap<String, Running>,
    pending: VecDeque<Pending>,
    shutting_down: Option<(Duration, Vec<oneshot::Sender<()>>)>,
    seq: AtomicU64,
    tx: mpsc::UnboundedSender<Msg>,
    next_runs: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    instance_ran: bool,
    metrics_url: Option<String>,
}

impl Admission {
    /// Starts the admission task. `metrics_url` (the bound metrics endpoint) is shown by
    /// `status`.
    pub fn start(
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        state: StateStore,
        dry_run: bool,
        metrics_url: Option<String>,
    ) -> Admission {
        let (tx, rx) = mpsc::unbounded_channel();
        let next_runs = Arc::new(Mutex::new(HashMap::new()));
        for j in &config.jobs {
            metrics.init_job(&j.id);
        }
        let core = Core {
            config,
            metrics,
            state,
            dry_run,
            paused: false,
            started: Utc::now(),
            running: HashMap::new(),
            pending: VecDeque::new(),
            shutting_down: None,
            seq: AtomicU64::new(0),
            tx: tx.clone(),
            next_runs: next_runs.clone(),
            instance_ran: false,
            metrics_url,
        };
        tokio::spawn(core.run(rx));
        Admission { tx, next_runs }
    }

    /// Requests a run of `job`. With `wait`, the returned receiver yields the run's record.
    pub async fn trigger(
        &self,
        job: &str,
        trigger: Trigger,
        dry_run: bool,
        wait: bool,
    ) -> Result<(TriggerReply, Option<oneshot::Receiver<RunRecord>>), String> {
        let (rtx, rrx) = oneshot::channel();
        let (dtx, drx) = oneshot::channel();
        self.tx
            .send(Msg::Trigger {
                job: job.to_string(),
                trigger,
                dry_run,
                reply: Some(rtx),
                done: wait.then_some(dtx),
            })
            .map_err(|_| "director is stopping".to_string())?;
        let r = rrx
            .await
            .map_err(|_| "director is stopping".to_string())??;
        Ok((r, wait.then_some(drx)))
    }

    /// Fire-and-forget trigger (scheduler).
    pub fn trigger_nowait(&self, job: &str, trigger: Trigger) {
        let _ = self.tx.send(Msg::Trigger {
            job: job.to_string(),
            trigger,
            dry_run: false,
            reply: None,
            done: None,
        });
    }

    /// Requests a run of the instance: the jobs sharing `cron_schedule`, in file order (or, if
    /// there are none, every enabled job with a schedule; on-demand jobs such as py9tor targets
    /// only run when triggered by name). This is SIGHUP's meaning.
    pub async fn trigger_all(&self, trigger: Trigger) -> Vec<TriggerReply> {
        let (rtx, rrx) = oneshot::channel();
        if self
            .tx
            .send(Msg::TriggerAll {
                trigger,
                reply: Some(rtx),
            })
            .is_err()
        {
            return Vec::new();
        }
        rrx.await.unwrap_or_default()
    }

    /// Cancels a queued or running run.
    pub async fn cancel(&self, run_id: &str) -> bool {
        let (rtx, rrx) = oneshot::channel();
        if self
            .tx
            .send(Msg::Cancel {
                run_id: run_id.to_string(),
                reply: rtx,
            })
            .is_err()
        {
            return false;
        }
        rrx.await.unwrap_or(false)
    }

    /// The status document.
    pub async fn status(&self) -> Value {
        let (rtx, rrx) = oneshot::channel();
        let _ = self.tx.send(Msg::Status(rtx));
        rrx.await.unwrap_or(Value::Null)
    }

    /// Recent finished runs.
    pub async fn history(&self, job: Option<String>, limit: usize) -> Vec<RunRecord> {
        let (rtx, rrx) = oneshot::channel();
        let _ = self.tx.send(Msg::History {
            job,
            limit,
            reply: rtx,
        });
        rrx.await.unwrap_or_default()
    }

    /// A run by id: its record (for a finished run) and whether it is finished. Running and
    /// queued runs yield a partial record.
    pub async fn find(&self, run_id: &str) -> Option<(RunRecord, bool)> {
        let (rtx, rrx) = oneshot::channel();
        let _ = self.tx.send(Msg::Find {
            run_id: run_id.to_string(),
            reply: rtx,
        });
        rrx.await.ok().flatten()
    }

    /// Installs a new (validated) configuration.
    pub fn reload(&self, config: Arc<Config>) {
        let _ = self.tx.send(Msg::Reload(config));
    }

    /// Persists that the cron fire at `at` of `job` was dispatched (the catch-up cursor).
    pub fn fired(&self, job: &str, at: DateTime<Utc>) {
        let _ = self.tx.send(Msg::Fired {
            job: job.to_string(),
            at,
        });
    }

    /// Pauses or resumes scheduled (cron and catch-up) runs.
    pub fn set_paused(&self, paused: bool) {
        let _ = self.tx.send(Msg::SetPaused(paused));
    }

    /// Stops admitting runs, cancels running ones (SIGTERM, then SIGKILL after `grace`) and
    /// returns when none is left.
    pub async fn shutdown(&self, grace: Duration) {
        let (dtx, drx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { grace, done: dtx }).is_ok() {
            let _ = drx.await;
        }
    }
}

impl Core {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Trigger {
                    job,
                    trigger,
                    dry_run,
                    reply,
                    done,
                } => {
                    let r = self.request(&job, trigger, dry_run, done);
                    if let Some(reply) = reply {
                        let _ = reply.send(r);
                    }
                    self.pump();
                }
                Msg::TriggerAll { trigger, reply } => {
                    let mut ids: Vec<String> = self
                        .config
                        .jobs
                        .iter()
                        .filter(|j| j.group.as_deref() == Some(INSTANCE_GROUP))
                        .map(|j| j.id.clone())
                        .collect();
                    if ids.is_empty() {
                        ids = self
                            .config
                            .jobs
                            .iter()
                            .filter(|j| j.enabled && j.schedule.is_some())
                            .map(|j| j.id.clone())
                            .collect();
                    }
                    tracing::info!(
                        "{} trigger: requesting a run of {} job(s)",
                        trigger.as_str(),
                        ids.len()
                    );
                    let mut out = Vec::new();
                    for id in ids {
                        if let Ok(r) = self.request(&id, trigger, false, None) {
                            out.push(r);
                        }
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(out);
                    }
                    self.pump();
                }
                Msg::Finished(rec) => {
                    self.finished(*rec);
                    self.pump();
                }
                Msg::Cancel { run_id, reply } => {
                    let _ = reply.send(self.cancel(&run_id));
                }
                Msg::Status(reply) => {
                    let _ = reply.send(self.status());
                }
                Msg::History { job, limit, reply } => {
                    let _ = reply.send(self.state.history(job.as_deref(), limit));
                }
                Msg::Find { run_id, reply } => {
                    let _ = reply.send(self.find(&run_id));
                }
                Msg::Reload(cfg) => {
                    for j in &cfg.jobs {
                        self.metrics.init_job(&j.id);
                    }
                    let before = self.pending.len();
                    self.pending.retain(|p| cfg.job(&p.job).is_some());
                    if self.pending.len() != before {
                        tracing::warn!(
                            "dropped {} queued run(s) of jobs removed by the reload",
                            before - self.pending.len()
                        );
                    }
                    self.config = cfg;
                    self.pump();
                }
                Msg::Fired { job, at } => {
                    if !self.dry_run {
                        self.state.set_last_fire(&job, at);
                    }
                }
                Msg::SetPaused(p) => {
                    self.paused = p;
                    self.metrics.paused.set(i64::from(p));
                    tracing::info!("scheduling {}", if p { "paused" } else { "resumed" });
                }
                Msg::Shutdown { grace, done } => {
                    let mut waiters = match self.shutting_down.take() {
                        Some((_, w)) => w,
                        None => Vec::new(),
                    };
                    waiters.push(done);
                    self.shutting_down = Some((grace, waiters));
                    for p in self.pending.drain(..) {
                        self.metrics.job_queued.with_label_values(&[&p.job]).set(0);
                        tracing::info!(job = %p.job, "dropping queued run {} (shutting down)", p.run_id);
                    }
                    for (job, r) in &self.running {
                        tracing::info!(job = %job, "stopping run {} (shutting down, grace {grace:?})", r.run_id);
                        let _ = r.cancel.send(Some(grace));
                    }
                    self.check_shutdown_done();
                }
            }
        }
    }

    fn check_shutdown_done(&mut self) {
        if self.running.is_empty()
            && let Some((_, waiters)) = self.shutting_down.as_mut()
        {
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    fn new_run_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{n}", Utc::now().format("%Y%m%dT%H%M%S%3fZ"))
    }

    fn request(
        &mut self,
        job_id: &str,
        trigger: Trigger,
        dry_run: bool,
        done: Option<Waiter>,
    ) -> Result<TriggerReply, String> {
        let Some(job) = self.config.job(job_id) else {
            return Err(format!("unknown job {job_id:?}"));
        };
        if self.shutting_down.is_some() {
            return Err("director is stopping".into());
        }
        if trigger.scheduled() && self.paused {
            self.metrics
                .missed_runs
                .with_label_values(&[job_id, "paused"])
                .inc();
            tracing::info!(job = %job_id, "{} fire not run: scheduling is paused", trigger.as_str());
            return Err("scheduling is paused".into());
        }
        if trigger.scheduled() && !job.enabled {
            return Err("job is disabled".into());
        }
        let busy = self.running.contains_key(job_id);
        if let Some(p) = self.pending.iter_mut().find(|p| p.job == job_id) {
            p.coalesced += 1;
            // A real request makes the merged run real, unless the whole daemon is in dry-run mode.
            p.dry_run = (p.dry_run && dry_run) || self.dry_run;
            if let Some(d) = done {
                p.waiters.push(d);
            }
            self.metrics
                .missed_runs
                .with_label_values(&[job_id, "overlap"])
                .inc();
            tracing::info!(
                job = %job_id,
                "{} trigger merged into queued run {} (requested {} time(s) while queued)",
                trigger.as_str(),
                p.run_id,
                p.coalesced
            );
            return Ok(TriggerReply {
                job: job_id.to_string(),
                run_id: p.run_id.clone(),
                coalesced: true,
                queued: true,
            });
        }
        let run_id = self.new_run_id();
        if busy {
            tracing::info!(job = %job_id, "{} trigger while the job runs: queued as run {run_id}", trigger.as_str());
        }
        self.pending.push_back(Pending {
            job: job_id.to_string(),
            run_id: run_id.clone(),
            trigger,
            dry_run: dry_run || self.dry_run,
            coalesced: 0,
            waiters: done.into_iter().collect(),
            queued_at: Utc::now(),
        });
        self.metrics.job_queued.with_label_values(&[job_id]).set(1);
        Ok(TriggerReply {
            job: job_id.to_string(),
            run_id,
            coalesced: false,
            queued: busy,
        })
    }

    fn group_busy(&self, group: &Option<String>) -> bool {
        group.is_some() && self.running.values().any(|r| r.group == *group)
    }

    fn pump(&mut self) {
        if self.shutting_down.is_some() {
            return;
        }
        let mut i = 0;
        while i < self.pending.len() {
            let job_id = self.pending[i].job.clone();
            let Some(job) = self.config.job(&job_id).cloned() else {
                self.pending.remove(i);
                continue;
            };
            if self.running.contains_key(&job_id) || self.group_busy(&job.group) {
                i += 1;
                continue;
            }
            // Within a group, the pending job with the highest priority goes first (ties: request
            // order). This generalises py9tor's rsnapshot handler (yearly > ... > hourly).
            let mut pick = i;
            if job.group.is_some() {
                let mut best = job.priority;
                for (k, p) in self.pending.iter().enumerate().skip(i + 1) {
                    if let Some(other) = self.config.job(&p.job)
                        && other.group == job.group
                        && other.priority > best
                        && !self.running.contains_key(&p.job)
                    {
                        best = other.priority;
                        pick = k;
                    }
                }
            }
            let Some(p) = self.pending.remove(pick) else {
                break;
            };
            let Some(job) = self.config.job(&p.job).cloned() else {
                continue;
            };
            self.start(job, p);
        }
    }

    fn start(&mut self, job: Job, p: Pending) {
        let (ctx_tx, ctx_rx) = watch::channel(None);
        let phase = Arc::new(Mutex::new("starting".to_string()));
        let locks = Arc::new(Mutex::new(Vec::new()));
        self.metrics.job_queued.with_label_values(&[&job.id]).set(0);
        self.metrics
            .job_running
            .with_label_values(&[&job.id])
            .set(1);
        let ctx = RunContext {
            run_id: p.run_id.clone(),
            job: job.clone(),
            trigger: p.trigger.as_str().to_string(),
            dry_run: p.dry_run,
            coalesced: p.coalesced,
            metrics: self.metrics.clone(),
            log_path: if p.dry_run {
                None
            } else {
                self.state.log_path(&p.run_id)
            },
            cancel: ctx_rx,
            phase: phase.clone(),
            locks: locks.clone(),
        };
        self.running.insert(
            job.id.clone(),
            Running {
                run_id: p.run_id.clone(),
                trigger: p.trigger,
                started: Utc::now(),
                cancel: ctx_tx,
                phase,
                locks,
                waiters: p.waiters,
                group: job.group.clone(),
                kill_grace: job.kill_grace,
            },
        );
        let tx = self.tx.clone();
        let (run_id, job_id, trigger) = (p.run_id.clone(), job.id.clone(), p.trigger);
        tokio::spawn(async move {
            let started = Utc::now();
            let rec = match tokio::spawn(runner::run_job(ctx)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(job = %job_id, "run {run_id} crashed: {e}");
                    RunRecord {
                        run_id,
                        job: job_id,
                        trigger: trigger.as_str().into(),
                        dry_run: false,
                        coalesced: 0,
                        started_at: started,
                        finished_at: Utc::now(),
                        result: RunResult::Failure,
                        exit_code: None,
                        failed_action: None,
                        message: format!("internal error: {e}"),
                        actions: Vec::new(),
                        log: None,
                    }
                }
            };
            let _ = tx.send(Msg::Finished(Box::new(rec)));
        });
    }

    fn finished(&mut self, rec: RunRecord) {
        let m = &self.metrics;
        let job = rec.job.clone();
        let r = self.running.remove(&job);
        m.job_running.with_label_values(&[&job]).set(0);
        let dur = (rec.finished_at - rec.started_at).num_milliseconds() as f64 / 1000.0;
        let end = rec.finished_at.timestamp_millis() as f64 / 1000.0;
        m.job_runs
            .with_label_values(&[&job, &rec.trigger, rec.result.as_str()])
            .inc();
        m.job_duration
            .with_label_values(&[&job, rec.result.as_str()])
            .observe(dur);
        m.compat_job_duration
            .with_label_values(&[&job])
            .observe(dur);
        m.last_run.with_label_values(&[&job]).set(end);
        m.last_duration.with_label_values(&[&job]).set(dur);
        if let Some(c) = rec.exit_code {
            m.last_exit_code
                .with_label_values(&[&job])
                .set(i64::from(c));
        }
        if rec.result == RunResult::Success {
            m.last_success.with_label_values(&[&job]).set(end);
        } else {
            m.last_failure.with_label_values(&[&job]).set(end);
        }
        if !rec.dry_run {
            self.state.record(&rec);
        }
        tracing::info!(job = %job, "run {} finished: {} ({})", rec.run_id, rec.result.as_str(), rec.message);
        let group = r.as_ref().and_then(|r| r.group.clone());
        if let Some(r) = r {
            for w in r.waiters {
                let _ = w.send(rec.clone());
            }
        }
        // rsyncdirector's runs_completed_total: one per instance run, i.e. when the instance
        // group drains.
        if group.as_deref() == Some(INSTANCE_GROUP) {
            self.instance_ran = true;
        }
        let instance_busy = self
            .running
            .values()
            .any(|r| r.group.as_deref() == Some(INSTANCE_GROUP))
            || self.pending.iter().any(|p| {
                self.config.job(&p.job).and_then(|j| j.group.as_deref()) == Some(INSTANCE_GROUP)
            });
        if self.instance_ran && !instance_busy && self.shutting_down.is_none() {
            self.instance_ran = false;
            m.runs_completed
                .with_label_values(&[&self.config.instance_id])
                .inc();
        }
        self.check_shutdown_done();
    }

    fn cancel(&mut self, run_id: &str) -> bool {
        if let Some(r) = self.running.values().find(|r| r.run_id == run_id) {
            tracing::info!("cancelling run {run_id}");
            let _ = r.cancel.send(Some(r.kill_grace));
            return true;
        }
        if let Some(i) = self.pending.iter().position(|p| p.run_id == run_id) {
            if let Some(p) = self.pending.remove(i) {
                self.metrics.job_queued.with_label_values(&[&p.job]).set(0);
                self.metrics
                    .missed_runs
                    .with_label_values(&[&p.job, "cancelled"])
                    .inc();
                tracing::info!(job = %p.job, "cancelled queued run {run_id}");
            }
            return true;
        }
        false
    }

    fn find(&self, run_id: &str) -> Option<(RunRecord, bool)> {
        if let Some(r) = self.state.find(run_id) {
            return Some((r, true));
        }
        let partial = |job: &str, trigger: Trigger, started: DateTime<Utc>, msg: &str| RunRecord {
            run_id: run_id.to_string(),
            job: job.to_string(),
            trigger: trigger.as_str().into(),
            dry_run: false,
            coalesced: 0,
            started_at: started,
            finished_at: started,
            result: RunResult::Success,
            exit_code: None,
            failed_action: None,
            message: msg.to_string(),
            actions: Vec::new(),
            log: self.state.log_path(run_id),
        };
        for (job, r) in &self.running {
            if r.run_id == run_id {
                return Some((partial(job, r.trigger, r.started, "running"), false));
            }
        }
        self.pending
            .iter()
            .find(|p| p.run_id == run_id)
            .map(|p| (partial(&p.job, p.trigger, p.queued_at, "queued"), false))
    }

    fn status(&self) -> Value {
        let next = self.next_runs.lock().map(|g| g.clone()).unwrap_or_default();
        let jobs: Vec<Value> = self
            .config
            .jobs
            .iter()
            .map(|j| {
                let st = self.state.job(&j.id);
                let running = self.running.get(&j.id);
                let queued = self.pending.iter().find(|p| p.job == j.id);
                json!({
                    "id": j.id,
                    "state": if running.is_some() { "running" } else if queued.is_some() { "queued" } else { "idle" },
                    "phase": running.map(|r| r.phase.lock().map(|g| g.clone()).unwrap_or_default()),
                    "run_id": running.map(|r| r.run_id.clone()),
                    "locks_held": running
                        .map(|r| r.locks.lock().map(|g| g.clone()).unwrap_or_default())
                        .unwrap_or_default(),
                    "started_at": running.map(|r| r.started.to_rfc3339()),
                    "queued_run_id": queued.map(|p| p.run_id.clone()),
                    "queued_requests": queued.map(|p| p.coalesced + 1).unwrap_or(0),
                    "schedule": j.schedule.as_ref().map(|s| s.expr().to_string()),
                    "enabled": j.enabled,
                    "group": j.group,
                    "next_run": next.get(&j.id).map(|t| t.to_rfc3339()),
                    "last_result": st.last_result.map(|r| r.as_str()),
                    "last_run": st.last_run.map(|t| t.to_rfc3339()),
                    "last_success": st.last_success.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "instance": self.config.instance_id,
            "config": self.config.path.display().to_string(),
            "dialect": self.config.dialect.to_string(),
            "started_at": self.started.to_rfc3339(),
            "paused": self.paused,
            "dry_run": self.dry_run,
            "stopping": self.shutting_down.is_some(),
            "metrics": self.metrics_url,
            "jobs": jobs,
        })
    }
}
