//! Persisted state: per-job cursors (for catch-up), the run history and per-run logs.
//!
//! Layout under the state directory:
//! - `state.json`: per job, the last processed cron fire and the last success (atomic rewrite);
//! - `history.jsonl`: one [`RunRecord`] per finished run;
//! - `runs/<run_id>.log`: the output of every action of the run.
//!
//! In dry-run mode nothing is written to disk.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::stats::TransferStats;

/// How many finished runs are kept in memory for `history`.
pub const HISTORY_IN_MEMORY: usize = 500;

/// An error while reading or writing state.
#[derive(Debug, Error)]
#[error("state {path}: {source}")]
pub struct StateError {
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Every action succeeded.
    Success,
    /// An action failed (after its retries).
    Failure,
    /// The job or an action ran out of time.
    Timeout,
    /// A `blocks_on` entry timed out, so the job was skipped.
    SkippedBlocked,
    /// A lock file was held by someone else, so the job was skipped.
    SkippedLocked,
    /// Cancelled (API, shutdown, or a child killed by a signal).
    Cancelled,
}

impl RunResult {
    /// The label value used on metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Failure => "failure",
            RunResult::Timeout => "timeout",
            RunResult::SkippedBlocked => "skipped_blocked",
            RunResult::SkippedLocked => "skipped_locked",
            RunResult::Cancelled => "cancelled",
        }
    }
}

/// The outcome of one action of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Action id.
    pub id: String,
    /// What ran (display form).
    pub command: String,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    /// Exit code of the last attempt.
    pub exit_code: Option<i32>,
    /// Signal that ended the last attempt.
    pub signal: Option<i32>,
    /// `ok`, `exit`, `signal`, `timeout`, `spawn`, `cancelled`, `dry_run`.
    pub outcome: String,
    /// Wall time of all attempts.
    pub duration_seconds: f64,
    /// rsync transfer statistics (syncs only).
    pub stats: Option<TransferStats>,
    /// The engine a sync ran with: `rdsync` (native) or `rsync` (the system rsync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Why the system rsync ran (or a note on the native run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_reason: Option<String>,
}

/// One run of one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique run id.
    pub run_id: String,
    /// Job id.
    pub job: String,
    /// What started it: `cron`, `catchup`, `start`, `signal`, `api`.
    pub trigger: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Further triggers that were merged into this run while it was queued.
    pub coalesced: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub result: RunResult,
    /// Exit code of the last action that ran.
    pub exit_code: Option<i32>,
    /// The action that failed, if any.
    pub failed_action: Option<String>,
    /// A one-line summary.
    pub message: String,
    /// Per action.
    pub actions: Vec<ActionRecord>,
    /// Where the run's output is.
    pub log: Option<PathBuf>,
}

/// What is remembered per job across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobState {
    /// The last cron fire time that was dispatched.
    pub last_fire: Option<DateTime<Utc>>,
    /// The last successful run's end.
    pub last_success: Option<DateTime<Utc>>,
    /// The last run's end.
    pub last_run: Option<DateTime<Utc>>,
    /// The last run's result.
    pub last_result: Option<RunResult>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    jobs: BTreeMap<String, JobState>,
}

/// The state store of one instance.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    persist: bool,
    file: StateFile,
    history: VecDeque<RunRecord>,
}

impl StateStore {
    /// Opens (and creates) the state directory. With `persist == false` (dry run) nothing is read
    /// or written.
    pub fn open(dir: &Path, persist: bool) -> Result<StateStore, StateError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError { path, source }
        };
        let mut store = StateStore {
            dir: dir.to_path_buf(),
            persist,
            file: StateFile::default(),
            history: VecDeque::new(),
        };
        if !persist {
            return Ok(store);
        }
        std::fs::create_dir_all(dir.join("runs")).map_err(err(dir))?;
        let sp = dir.join("state.json");
        match std::fs::read_to_string(&sp) {
            Ok(t) => match serde_json::from_str(&t) {
                Ok(f) => store.file = f,
                Err(e) => tracing::warn!("ignoring unreadable {}: {e}", sp.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(&sp)(e)),
        }
        let hp = dir.join("history.jsonl");
        if let Ok(t) = std::fs::read_to_string(&hp) {
            for line in t.lines() {
                if let Ok(r) = serde_json::from_str::<RunRecord>(line) {
                    store.history.push_back(r);
                    if store.history.len() > HISTORY_IN_MEMORY {
                        store.history.pop_front();
                    }
                }
            }
        }
        Ok(store)
    }

    /// The state of a job.
    pub fn job(&self, id: &str) -> JobState {
        self.file.jobs.get(id).cloned().unwrap_or_default()
    }

    /// Records that the cron fire at `t` was dispatched.
    pub fn set_last_fire(&mut self, id: &str, t: DateTime<Utc>) {
        self.file.jobs.entry(id.to_string()).or_default().last_fire = Some(t);
        self.save();
    }

    /// Records a finished run.
    pub fn record(&mut self, rec: &RunRecord) {
        let js = self.file.jobs.entry(rec.job.clone()).or_default();
        js.last_run = Some(rec.finished_at);
        js.last_result = Some(rec.result);
        if rec.result == RunResult::Success {
            js.last_success = Some(rec.finished_at);
        }
        self.history.push_back(rec.clone());
        if self.history.len() > HISTORY_IN_MEMORY {
            self.history.pop_front();
        }
        if self.persist {
            let hp = self.dir.join("history.jsonl");
            let line = serde_json::to_string(rec).unwrap_or_default();
            let r = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&hp)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = r {
                tracing::warn!("cannot append to {}: {e}", hp.display());
            }
        }
        self.save();
    }

    /// The most recent runs, newest last, optionally of one job.
    pub fn history(&self, job: Option<&str>, limit: usize) -> Vec<RunRecord> {
        let v: Vec<RunRecord> = self
            .history
            .iter()
            .filter(|r| job.is_none_or(|j| r.job == j))
            .cloned()
            .collect();
        let skip = v.len().saturating_sub(limit);
        v.into_iter().skip(skip).collect()
    }

    /// Finds a finished run.
    pub fn find(&self, run_id: &str) -> Option<RunRecord> {
        self.history.iter().find(|r| r.run_id == run_id).cloned()
    }

    /// The log path of a run (None in dry-run mode).
    pub fn log_path(&self, run_id: &str) -> Option<PathBuf> {
        self.persist
            .then(|| self.dir.join("runs").join(format!("{run_id}.log")))
    }

    fn save(&self) {
        if !self.persist {
            return;
        }
        let sp = self.dir.join("state.json");
        let tmp = self.dir.join(".state.json.tmp");
        let text = serde_json::to_string_pretty(&self.file).unwrap_or_default();
        let r = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &sp));
        if let Err(e) = r {
            tracing::warn!("cannot write {}: {e}", sp.display());
        }
    }
}
