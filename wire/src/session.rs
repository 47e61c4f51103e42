//! Public entry points: push and pull over a remote shell, and the report they return.

use std::path::{Path, PathBuf};

use rdsync_engine::checksum::{ChecksumAlgorithm, ChecksumProfile};

use crate::connection::{Connection, PeerMessages, Transport};
use crate::error::{RERR_PARTIAL, RERR_VANISHED, WireError};
use crate::events::{EventSink, EventSlot};
use crate::handshake::SessionParams;
use crate::options::{Direction, TransferOptions};
use crate::pull::PullMachine;
use crate::push::PushMachine;
use crate::role::RoleMachine;
use crate::rsh::RemoteShell;
use crate::server_args::ServerCommand;
use crate::stats::TransferStats;

/// What a transfer did, and how it ended.
#[derive(Debug)]
pub struct TransferReport {
    /// rsync-compatible exit code: the worse of ours and the remote's.
    pub exit_code: i32,
    /// Our error, if the session failed.
    pub error: Option<WireError>,
    /// The remote process's exit status (None if it was not waited for).
    pub remote_exit: Option<i32>,
    /// Negotiated session parameters (None if the handshake failed).
    pub params: Option<SessionParams>,
    /// Statistics: the server sender's in a pull, our own counters in a push.
    pub stats: TransferStats,
    /// Out-of-band messages from the peer.
    pub messages: PeerMessages,
    /// What the remote wrote on stderr.
    pub remote_stderr: String,
    /// Names of files whose data were transferred.
    pub transferred: Vec<String>,
    /// Push: how many file lists we sent — one without incremental recursion, one per
    /// directory (plus the first) with it. 0 in a pull.
    pub file_lists_sent: usize,
    /// Pull: how many file lists we received — one without incremental recursion, one
    /// per directory (plus the first) with it. 0 in a push.
    pub file_lists_received: usize,
}

/// Checksum setup derived from the handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checksums {
    /// Block and file hashers.
    pub profile: ChecksumProfile,
    /// Algorithm of `-c` file-list sums.
    pub flist_algorithm: ChecksumAlgorithm,
}

impl Checksums {
    pub(crate) fn new(params: &SessionParams, opts: &TransferOptions) -> Result<Self, WireError> {
        let alg = ChecksumAlgorithm::from_name(&params.checksum).ok_or_else(|| {
            WireError::Unsupported(format!("unsupported checksum {}", params.checksum))
        })?;
        // Negotiated (protocol 30+ with varint flags), or forced by --checksum-choice at any
        // protocol: both sides then use that algorithm without negotiating.
        let negotiated = if (params.protocol >= 30 && params.varint_flist_flags())
            || opts.checksum_choice.is_some()
        {
            Some(alg)
        } else {
            None
        };
        let profile = ChecksumProfile::for_protocol(
            params.protocol,
            negotiated,
            params.seed,
            params.seed_fix(),
        );
        let flist_algorithm = if let Some(second) = opts
            .checksum_choice
            .as_deref()
            .and_then(|c| c.split_once(','))
        {
            ChecksumAlgorithm::from_name(second.1).ok_or_else(|| {
                WireError::Unsupported(format!("unsupported checksum {}", second.1))
            })?
        } else {
            profile.file_algorithm
        };
        Ok(Checksums {
            profile,
            flist_algorithm,
        })
    }
}

/// Pushes local `sources` to `remote_dest` on the remote side (rsync's `SRC… host:DEST`).
pub fn push(
    shell: &RemoteShell,
    opts: &TransferOptions,
    sources: &[PathBuf],
    remote_dest: &str,
) -> TransferReport {
    push_with_events(shell, opts, sources, remote_dest, None)
}

/// [`push`], reporting what rsync's client would log to `events` as it happens.
pub fn push_with_events(
    shell: &RemoteShell,
    opts: &TransferOptions,
    sources: &[PathBuf],
    remote_dest: &str,
    events: Option<Box<dyn EventSink>>,
) -> TransferReport {
    let server = ServerCommand::build(Direction::Push, opts, &[remote_dest.to_string()]);
    match shell.spawn(&server) {
        Ok(process) => push_over_with_events(process, opts, sources, events),
        Err(e) => failed_to_start(e),
    }
}

/// Pulls `remote_sources` into local `dest` (rsync's `host:SRC… DEST`).
pub fn pull(
    shell: &RemoteShell,
    opts: &TransferOptions,
    remote_sources: &[String],
    dest: &Path,
) -> TransferReport {
    pull_with_events(shell, opts, remote_sources, dest, None)
}

/// [`pull`], reporting what rsync's client would log to `events` as it happens.
pub fn pull_with_events(
    shell: &RemoteShell,
    opts: &TransferOptions,
    remote_sources: &[String],
    dest: &Path,
    events: Option<Box<dyn EventSink>>,
) -> TransferReport {
    let server = ServerCommand::build(Direction::Pull, opts, remote_sources);
    match shell.spawn(&server) {
        Ok(process) => pull_over_with_events(process, opts, remote_sources, dest, events),
        Err(e) => failed_to_start(e),
    }
}

/// Runs a push over a transport whose peer already runs the command built by
/// `ServerCommand::build(Direction::Push, opts, …)` (e.g. an SSH exec channel).
pub fn push_over<T: Transport>(
    transport: T,
    opts: &TransferOptions,
    sources: &[PathBuf],
) -> TransferReport {
    push_over_with_events(transport, opts, sources, None)
}

/// [`push_over`] with an event sink.
pub fn push_over_with_events<T: Transport>(
    transport: T,
    opts: &TransferOptions,
    sources: &[PathBuf],
    events: Option<Box<dyn EventSink>>,
) -> TransferReport {
    let mut machine = PushMachine::new(opts, sources);
    let mut report = run_session(transport, &mut machine, EventSlot(events));
    report.params = machine.params().cloned();
    report.transferred = std::mem::take(&mut machine.transferred);
    report.file_lists_sent = machine.lists_sent();
    // No statistics travel in a push: our own counters, as rsync's client does.
    let (sent, received) = (report.stats.bytes_sent, report.stats.bytes_received);
    report.stats = machine.stats;
    report.stats.bytes_sent = sent;
    report.stats.bytes_received = received;
    report.stats.total_size = machine.total_size;
    report
}

/// Runs a pull over a transport whose peer already runs the command built by
/// `ServerCommand::build(Direction::Pull, opts, remote_sources)`.
pub fn pull_over<T: Transport>(
    transport: T,
    opts: &TransferOptions,
    remote_sources: &[String],
    dest: &Path,
) -> TransferReport {
    pull_over_with_events(transport, opts, remote_sources, dest, None)
}

/// [`pull_over`] with an event sink.
pub fn pull_over_with_events<T: Transport>(
    transport: T,
    opts: &TransferOptions,
    remote_sources: &[String],
    dest: &Path,
    events: Option<Box<dyn EventSink>>,
) -> TransferReport {
    let mut machine = PullMachine::new(opts, remote_sources, dest);
    let mut report = run_session(transport, &mut machine, EventSlot(events));
    report.params = machine.params().cloned();
    report.transferred = std::mem::take(&mut machine.transferred);
    report.file_lists_received = machine.lists_received();
    report.stats = machine.final_stats(report.stats.bytes_sent, report.stats.bytes_received);
    report
}

fn empty_report() -> TransferReport {
    TransferReport {
        exit_code: 0,
        error: None,
        remote_exit: None,
        params: None,
        stats: TransferStats::default(),
        messages: PeerMessages::default(),
        remote_stderr: String::new(),
        transferred: Vec::new(),
        file_lists_sent: 0,
        file_lists_received: 0,
    }
}

fn failed_to_start(e: WireError) -> TransferReport {
    let mut report = empty_report();
    report.exit_code = e.exit_code();
    report.error = Some(e);
    report
}

fn run_session<T: Transport>(
    transport: T,
    machine: &mut dyn RoleMachine,
    events: EventSlot,
) -> TransferReport {
    let mut report = empty_report();
    let mut conn = Connection::new(transport);
    conn.stream.events = events;
    let result = conn.drive(machine);
    let _ = conn.flush();
    report.stats.bytes_sent = conn.bytes_sent as i64;
    report.stats.bytes_received = conn.bytes_received as i64;
    report.messages = std::mem::take(&mut conn.stream.messages);
    let mut transport = conn.into_transport();
    let remote = transport.finish();
    report.remote_exit = remote;
    report.remote_stderr = transport.error_text();
    let mut code = 0;
    // cleanup.c: on an error exit the remote shell's status is read with WEXITSTATUS,
    // which is 0 for a signal: the client keeps its own code (12 when the connection
    // closed), where a finished session reports the signal (16 or 15).
    let remote = remote.filter(|_| result.is_ok() || !transport.finished_by_signal());
    if let Err(e) = result {
        code = e.exit_code();
        if let WireError::RemoteExit(c) = &e {
            code = *c;
        }
        report.error = Some(e);
    }
    if let Some(c) = report.messages.error_exit.filter(|c| *c != 0) {
        code = code.max(c);
    }
    // rsync's client takes the remote shell's exit status when it is worse than its own
    // (`main.c: client_run`, and `cleanup.c` on an error): ssh's 255, a missing remote
    // rsync's 127.
    if let Some(r) = remote.filter(|r| *r != 0) {
        code = code.max(r);
    }
    if code == 0 {
        let io = report.messages.io_error;
        if io & 1 != 0 {
            code = RERR_PARTIAL;
        } else if io & 2 != 0 {
            code = RERR_VANISHED;
        }
    }
    report.exit_code = code;
    report
}
