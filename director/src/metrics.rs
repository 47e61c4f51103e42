//! Prometheus metrics and the `GET /metrics` endpoint.
//!
//! Two sets are exported from one registry:
//! - the **compatibility set** with rsyncdirector's names, types, labels and buckets, so existing
//!   dashboards and alerts keep working (`runs_completed_total`, `job_duration_seconds`, ...);
//! - the **native set**, prefixed `rdsync_director_` with the constant label `director=<id>`:
//!   run counts by trigger and result, running/queued gauges, last-success and next-run
//!   timestamps, and rsync transfer statistics per sync action.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::http::{self, Response};
use crate::stats::TransferStats;

/// Buckets of rsyncdirector's histograms (seconds).
pub const UPSTREAM_BUCKETS: &[f64] = &[
    0.01, 0.1, 0.5, 1.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0, 172800.0, 604800.0, 1209600.0,
];

/// An error setting up metrics.
#[derive(Debug, Error)]
pub enum MetricsError {
    /// The listen address could not be bound.
    #[error(
        "cannot bind the metrics endpoint to {addr}: {source} (set metrics.addr/metrics.port, or metrics.enabled: false)"
    )]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A metric could not be registered (a bug).
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
}

/// All metrics of one director instance.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    // Compatibility set (rsyncdirector).
    /// `runs_completed_total{rsync_id}`.
    pub runs_completed: IntCounterVec,
    /// `job_duration_seconds{job_id}`.
    pub compat_job_duration: HistogramVec,
    /// `job_skipped_for_block_timeout_total{job_id}`.
    pub skipped_block_timeout: IntCounterVec,
    /// `job_aborted_for_failed_action_err_total{job_id,action_id}`.
    pub aborted_failed_action: IntCounterVec,
    /// `job_aborted_for_exception_err_total{job_id,action_id}`.
    pub aborted_exception: IntCounterVec,
    /// `job_aborted_for_failed_process_err_total{job_id,action_id}` (spawn failures).
    pub aborted_failed_process: IntCounterVec,
    /// `blocked_total{job_id}` (+1 per poll while blocked).
    pub blocked_total: IntCounterVec,
    /// `blocked_seconds{job_id}`.
    pub blocked_seconds: HistogramVec,
    /// `lock_files{job_id}`.
    pub lock_files: IntGaugeVec,
    // Native set.
    /// `rdsync_director_build_info{version}`.
    pub build_info: IntGaugeVec,
    /// `rdsync_director_start_time_seconds`.
    pub start_time: Gauge,
    /// `rdsync_director_job_runs_total{job,trigger,result}`.
    pub job_runs: IntCounterVec,
    /// `rdsync_director_job_running{job}`.
    pub job_running: IntGaugeVec,
    /// `rdsync_director_job_queued{job}`.
    pub job_queued: IntGaugeVec,
    /// `rdsync_director_job_last_run_timestamp_seconds{job}`.
    pub last_run: GaugeVec,
    /// `rdsync_director_job_last_success_timestamp_seconds{job}`.
    pub last_success: GaugeVec,
    /// `rdsync_director_job_last_failure_timestamp_seconds{job}`.
    pub last_failure: GaugeVec,
    /// `rdsync_director_job_last_duration_seconds{job}`.
    pub last_duration: GaugeVec,
    /// `rdsync_director_job_last_exit_code{job}`.
    pub last_exit_code: IntGaugeVec,
    /// `rdsync_director_job_next_run_timestamp_seconds{job}`.
    pub next_run: GaugeVec,
    /// `rdsync_director_job_duration_seconds{job,result}`.
    pub job_duration: HistogramVec,
    /// `rdsync_director_action_duration_seconds{job,action}`.
    pub action_duration: HistogramVec,
    /// `rdsync_director_action_failures_total{job,action,reason}`.
    pub action_failures: IntCounterVec,
    /// `rdsync_director_sync_bytes_sent_total{job,action}`.
    pub sync_bytes_sent: IntCounterVec,
    /// `rdsync_director_sync_bytes_received_total{job,action}`.
    pub sync_bytes_received: IntCounterVec,
    /// `rdsync_director_sync_literal_bytes_total{job,action}`.
    pub sync_literal: IntCounterVec,
    /// `rdsync_director_sync_matched_bytes_total{job,action}`.
    pub sync_matched: IntCounterVec,
    /// `rdsync_director_sync_files_transferred_total{job,action}`.
    pub sync_files_transferred: IntCounterVec,
    /// `rdsync_director_sync_last_total_file_size_bytes{job,action}`.
    pub sync_last_total_size: IntGaugeVec,
    /// `rdsync_director_sync_last_files{job,action}`.
    pub sync_last_files: IntGaugeVec,
    /// `rdsync_director_missed_runs_total{job,reason}`.
    pub missed_runs: IntCounterVec,
    /// `rdsync_director_block_waits_total{job}`.
    pub block_waits: IntCounterVec,
    /// `rdsync_director_block_timeouts_total{job}`.
    pub block_timeouts: IntCounterVec,
    /// `rdsync_director_lock_held{job,lock}` (1 while held).
    pub lock_held: IntGaugeVec,
    /// `rdsync_director_lock_conflicts_total{job}`.
    pub lock_conflicts: IntCounterVec,
    /// `rdsync_director_notify_failures_total{notifier}`.
    pub notify_failures: IntCounterVec,
    /// `rdsync_director_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `rdsync_director_config_last_reload_success_timestamp_seconds`.
    pub config_last_reload: Gauge,
    /// `rdsync_director_paused`.
    pub paused: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric for instance `director`.
    pub fn new(director: &str) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let n = |name: &str, help: &str| {
            Opts::new(format!("rdsync_director_{name}"), help).const_label("director", director)
        };
        let h = |name: &str, help: &str| {
            HistogramOpts::new(format!("rdsync_director_{name}"), help)
                .const_label("director", director)
                .buckets(UPSTREAM_BUCKETS.to_vec())
        };
        macro_rules! reg {
            ($e:expr) => {{
                let m = $e;
                registry.register(Box::new(m.clone()))?;
                m
            }};
        }
        let m = Metrics {
            runs_completed: reg!(IntCounterVec::new(
                Opts::new(
                    "runs_completed_total",
                    "Completed instance runs (rsyncdirector compatible)"
                ),
                &["rsync_id"]
            )?),
            compat_job_duration: reg!(HistogramVec::new(
                HistogramOpts::new(
                    "job_duration_seconds",
                    "Job duration including block waits (rsyncdirector compatible)"
                )
                .buckets(UPSTREAM_BUCKETS.to_vec()),
                &["job_id"]
            )?),
            skipped_block_timeout: reg!(IntCounterVec::new(
                Opts::new(
                    "job_skipped_for_block_timeout_total",
                    "Jobs skipped because a block timed out"
                ),
                &["job_id"]
            )?),
            aborted_failed_action: reg!(IntCounterVec::new(
                Opts::new(
                    "job_aborted_for_failed_action_err_total",
                    "Jobs aborted by a failed action"
                ),
                &["job_id", "action_id"]
            )?),
            aborted_exception: reg!(IntCounterVec::new(
                Opts::new(
                    "job_aborted_for_exception_err_total",
                    "Jobs aborted by an internal error"
                ),
                &["job_id", "action_id"]
            )?),
            aborted_failed_process: reg!(IntCounterVec::new(
                Opts::new(
                    "job_aborted_for_failed_process_err_total",
                    "Jobs aborted because a process could not start"
                ),
                &["job_id", "action_id"]
            )?),
            blocked_total: reg!(IntCounterVec::new(
                Opts::new("blocked_total", "Polls that found the job blocked"),
                &["job_id"]
            )?),
            blocked_seconds: reg!(HistogramVec::new(
                HistogramOpts::new("blocked_seconds", "Time spent waiting on blocks_on")
                    .buckets(UPSTREAM_BUCKETS.to_vec()),
                &["job_id"]
            )?),
            lock_files: reg!(IntGaugeVec::new(
                Opts::new("lock_files", "Lock files currently held"),
                &["job_id"]
            )?),
            build_info: reg!(IntGaugeVec::new(
                n("build_info", "Build information"),
                &["version"]
            )?),
            start_time: reg!(Gauge::with_opts(n(
                "start_time_seconds",
                "Daemon start time (unix seconds)"
            ))?),
            job_runs: reg!(IntCounterVec::new(
                n("job_runs_total", "Finished job runs"),
                &["job", "trigger", "result"]
            )?),
            job_running: reg!(IntGaugeVec::new(
                n("job_running", "1 while the job runs"),
                &["job"]
            )?),
            job_queued: reg!(IntGaugeVec::new(
                n("job_queued", "Runs waiting for admission"),
                &["job"]
            )?),
            last_run: reg!(GaugeVec::new(
                n("job_last_run_timestamp_seconds", "End of the last run"),
                &["job"]
            )?),
            last_success: reg!(GaugeVec::new(
                n(
                    "job_last_success_timestamp_seconds",
                    "End of the last successful run"
                ),
                &["job"]
            )?),
            last_failure: reg!(GaugeVec::new(
                n(
                    "job_last_failure_timestamp_seconds",
                    "End of the last unsuccessful run"
                ),
                &["job"]
            )?),
            last_duration: reg!(GaugeVec::new(
                n("job_last_duration_seconds", "Duration of the last run"),
                &["job"]
            )?),
            last_exit_code: reg!(IntGaugeVec::new(
                n(
                    "job_last_exit_code",
                    "Exit code of the last action of the last run"
                ),
                &["job"]
            )?),
            next_run: reg!(GaugeVec::new(
                n(
                    "job_next_run_timestamp_seconds",
                    "Next scheduled fire (unix seconds)"
                ),
                &["job"]
            )?),
            job_duration: reg!(HistogramVec::new(
                h("job_duration_seconds", "Job run duration"),
                &["job", "result"]
            )?),
            action_duration: reg!(HistogramVec::new(
                h("action_duration_seconds", "Action duration (all attempts)"),
                &["job", "action"]
            )?),
            action_failures: reg!(IntCounterVec::new(
                n("action_failures_total", "Failed action attempts"),
                &["job", "action", "reason"]
            )?),
            sync_bytes_sent: reg!(IntCounterVec::new(
                n("sync_bytes_sent_total", "rsync: total bytes sent"),
                &["job", "action"]
            )?),
            sync_bytes_received: reg!(IntCounterVec::new(
                n("sync_bytes_received_total", "rsync: total bytes received"),
                &["job", "action"]
            )?),
            sync_literal: reg!(IntCounterVec::new(
                n("sync_literal_bytes_total", "rsync: literal data bytes"),
                &["job", "action"]
            )?),
            sync_matched: reg!(IntCounterVec::new(
                n("sync_matched_bytes_total", "rsync: matched data bytes"),
                &["job", "action"]
            )?),
            sync_files_transferred: reg!(IntCounterVec::new(
                n(
                    "sync_files_transferred_total",
                    "rsync: regular files transferred"
                ),
                &["job", "action"]
            )?),
            sync_last_total_size: reg!(IntGaugeVec::new(
                n(
                    "sync_last_total_file_size_bytes",
                    "rsync: total file size of the last run"
                ),
                &["job", "action"]
            )?),
            sync_last_files: reg!(IntGaugeVec::new(
                n("sync_last_files", "rsync: number of files of the last run"),
                &["job", "action"]
            )?),
            missed_runs: reg!(IntCounterVec::new(
                n(
                    "missed_runs_total",
                    "Triggers merged into an already queued run or not run"
                ),
                &["job", "reason"]
            )?),
            block_waits: reg!(IntCounterVec::new(
                n("block_waits_total", "Episodes of waiting on blocks_on"),
                &["job"]
            )?),
            block_timeouts: reg!(IntCounterVec::new(
                n("block_timeouts_total", "blocks_on timeouts"),
                &["job"]
            )?),
            lock_held: reg!(IntGaugeVec::new(
                n("lock_held", "1 while the job holds this lock file"),
                &["job", "lock"]
            )?),
            lock_conflicts: reg!(IntCounterVec::new(
                n(
                    "lock_conflicts_total",
                    "Lock files found held by someone else"
                ),
                &["job"]
            )?),
            notify_failures: reg!(IntCounterVec::new(
                n("notify_failures_total", "Notifier commands that failed"),
                &["notifier"]
            )?),
            config_reloads: reg!(IntCounterVec::new(
                n("config_reloads_total", "Configuration reloads"),
                &["result"]
            )?),
            config_last_reload: reg!(Gauge::with_opts(n(
                "config_last_reload_success_timestamp_seconds",
                "Last successful configuration load"
            ))?),
            paused: reg!(IntGauge::with_opts(n(
                "paused",
                "1 while scheduling is paused"
            ))?),
            registry,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m.start_time.set(now_secs());
        Ok(m)
    }

    /// Makes a job's series visible (zero) before its first run.
    pub fn init_job(&self, job: &str) {
        self.job_running.with_label_values(&[job]).set(0);
        self.job_queued.with_label_values(&[job]).set(0);
        self.lock_files.with_label_values(&[job]).set(0);
    }

    /// Adds one sync's transfer statistics.
    pub fn observe_transfer(&self, job: &str, action: &str, s: &TransferStats) {
        let l = &[job, action];
        if let Some(v) = s.bytes_sent {
            self.sync_bytes_sent.with_label_values(l).inc_by(v);
        }
        if let Some(v) = s.bytes_received {
            self.sync_bytes_received.with_label_values(l).inc_by(v);
        }
        if let Some(v) = s.literal_bytes {
            self.sync_literal.with_label_values(l).inc_by(v);
        }
        if let Some(v) = s.matched_bytes {
            self.sync_matched.with_label_values(l).inc_by(v);
        }
        if let Some(v) = s.files_transferred {
            self.sync_files_transferred.with_label_values(l).inc_by(v);
        }
        if let Some(v) = s.total_file_size {
            self.sync_last_total_size
                .with_label_values(l)
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Some(v) = s.files {
            self.sync_last_files
                .with_label_values(l)
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        if let Err(e) = enc.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!("encoding metrics: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Now as unix seconds.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Binds the metrics listener. Failure is fatal for the daemon (never a hang).
pub async fn bind(addr: &str, port: u16) -> Result<TcpListener, MetricsError> {
    let host = addr.trim_start_matches('[').trim_end_matches(']');
    let spec = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind(&spec)
        .await
        .map_err(|source| MetricsError::Bind { addr: spec, source })
}

/// Serves `GET /metrics` (and `/healthz`) until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("metrics accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let m = metrics.clone();
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let req = tokio::time::timeout(http::REQUEST_TIMEOUT, http::read_request(rd)).await;
            let resp = match req.unwrap_or_else(|_| Err(std::io::Error::other("request timeout"))) {
                Ok(Some(req)) => match (req.method.as_str(), req.path.as_str()) {
                    ("GET", "/metrics") => Response {
                        status: 200,
                        content_type: "text/plain; version=0.0.4; charset=utf-8",
                        body: m.render().into_bytes(),
                    },
                    ("GET", "/healthz") => Response::text(200, "ok\n"),
                    ("GET", _) => Response::text(404, "not found; try /metrics\n"),
                    _ => Response::text(405, "method not allowed\n"),
                },
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!("metrics request from {peer}: {e}");
                    Response::text(400, "bad request\n")
                }
            };
            let _ = http::write_response(wr, &resp).await;
        });
    }
}
