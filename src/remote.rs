//! Which arguments name a remote side, what kind of transfer that makes, and running it
//! through the native wire client.
//!
//! An argument is classified by rsync's rules (`rdsync_wire::remote_spec`): remote when a `:`
//! comes before any `/` and the part before it is a non-empty host; `host::module` and
//! `rsync://` name an rsync daemon. Later sources of a pull may repeat the host or start with a
//! bare `:`.

use rdsync_wire::Direction;
pub use rdsync_wire::remote_spec::{Location, RemoteSpec as HostSpec};

/// Classifies `arg` as rsync does (`rdsync_wire::remote_spec::parse_location`).
pub fn classify(arg: &[u8]) -> Location {
    rdsync_wire::remote_spec::parse_location(&String::from_utf8_lossy(arg))
}

/// The shape of a whole command line's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferPlan {
    /// Every path is local.
    Local,
    /// Local sources to a remote destination.
    Push {
        /// The local sources, as given.
        sources: Vec<Vec<u8>>,
        /// The remote destination.
        dest: HostSpec,
    },
    /// Remote sources (one host) to a local destination.
    Pull {
        /// The remote host and login; `paths` are its source paths.
        host: HostSpec,
        /// The remote source paths.
        paths: Vec<String>,
        /// The local destination, as given.
        dest: Vec<u8>,
    },
    /// Something the native client does not do (a daemon); the reason is given.
    Unsupported(String),
}

/// Why a command line's paths cannot make a transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Both ends remote.
    #[error("The source and destination cannot both be remote.")]
    BothRemote,
    /// Pull sources on different hosts, or a local one among remote ones.
    #[error("Unexpected local arg: {0}\nIf arg is a remote file/dir, prefix it with a colon (:).")]
    MixedSources(String),
}

/// Works out the transfer from `paths` (sources then destination; at least two).
pub fn plan(paths: &[Vec<u8>]) -> Result<TransferPlan, PlanError> {
    let Some((dest, sources)) = paths.split_last() else {
        return Ok(TransferPlan::Local);
    };
    let dest_loc = classify(dest);
    let source_locs: Vec<Location> = sources.iter().map(|s| classify(s)).collect();
    if matches!(dest_loc, Location::Daemon(_))
        || source_locs.iter().any(|l| matches!(l, Location::Daemon(_)))
    {
        return Ok(TransferPlan::Unsupported(
            "an rsync daemon (host::module, rsync://)".into(),
        ));
    }
    let first_remote = source_locs.first().and_then(|l| match l {
        Location::Remote(h) => Some(h.clone()),
        _ => None,
    });
    match (first_remote, dest_loc) {
        (None, Location::Local(_) | Location::Daemon(_)) => Ok(TransferPlan::Local),
        (None, Location::Remote(dest)) => Ok(TransferPlan::Push {
            sources: sources.to_vec(),
            dest,
        }),
        (Some(_), Location::Remote(_)) => Err(PlanError::BothRemote),
        (Some(host), _) => {
            let mut paths = Vec::with_capacity(sources.len());
            for (raw, loc) in sources.iter().zip(&source_locs) {
                match loc {
                    Location::Remote(h) if h.host == host.host && h.user == host.user => {
                        paths.push(h.path.clone())
                    }
                    // A later source may be ":path" on the same host.
                    _ if raw.first() == Some(&b':') => {
                        paths.push(String::from_utf8_lossy(&raw[1..]).into_owned())
                    }
                    _ => {
                        return Err(PlanError::MixedSources(
                            String::from_utf8_lossy(raw).into_owned(),
                        ));
                    }
                }
            }
            Ok(TransferPlan::Pull {
                host,
                paths,
                dest: dest.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let p = |v: &[&str]| plan(&v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(p(&["a", "b"]), Ok(TransferPlan::Local));
        assert!(
            matches!(p(&["a/", "b", "h:d/"]), Ok(TransferPlan::Push { sources, .. }) if sources.len() == 2)
        );
        assert_eq!(
            p(&["h:a", ":b", "h:c", "d"]),
            Ok(TransferPlan::Pull {
                host: HostSpec {
                    user: None,
                    host: "h".into(),
                    path: "a".into()
                },
                paths: vec!["a".into(), "b".into(), "c".into()],
                dest: b"d".to_vec(),
            })
        );
        assert_eq!(p(&["h:a", "g:b"]), Err(PlanError::BothRemote));
        assert_eq!(
            p(&["h:a", "local", "d"]),
            Err(PlanError::MixedSources("local".into()))
        );
        assert_eq!(
            p(&["h:a", "k:b", "d"]),
            Err(PlanError::MixedSources("k:b".into()))
        );
        assert!(matches!(
            p(&["h::mod", "d"]),
            Ok(TransferPlan::Unsupported(_))
        ));
    }

    fn dispatch(args: &[&str]) -> crate::run::Dispatch {
        crate::run::dispatch(args.iter().map(std::ffi::OsString::from).collect())
    }

    #[test]
    fn delivery_options_run_natively_over_a_remote_shell() {
        let args = [
            "-a",
            "--inplace",
            "--partial",
            "--existing",
            "--ignore-existing",
            "--mkpath",
            "--exclude=*.o",
            "--delete-excluded",
            "--delete-delay",
            "--force",
            "-F",
            "src/",
            "h:dst/",
        ];
        let crate::run::Dispatch::Remote(o, _) = dispatch(&args) else {
            panic!("{args:?} must run natively");
        };
        let t = transfer_options(&o);
        assert!(t.inplace && t.partial && t.existing && t.ignore_existing && t.mkpath);
        assert!(t.delete && t.delete_excluded && t.force);
        assert_eq!(t.delete_when, rdsync_wire::DeleteWhen::Delay);
        assert_eq!(t.filters.len(), 2, "the exclude and -F's dir-merge rule");
        // rsync refuses two different --delete-WHEN options; --del then --delete-delay is
        // one variable set twice.
        assert!(matches!(
            dispatch(&["-a", "--delete-before", "--delete-after", "s/", "h:d/"]),
            crate::run::Dispatch::Usage(_, 1)
        ));
        assert!(matches!(
            dispatch(&["-a", "--del", "--delete-delay", "s/", "h:d/"]),
            crate::run::Dispatch::Remote(..)
        ));
        // RSYNC_PARTIAL_DIR would make --partial a --partial-dir: not native.
        assert!(unsupported_remote_option(&o).is_none());
    }

    #[test]
    fn incremental_recursion_can_be_turned_off() {
        for (args, off) in [
            (&["-a", "s/", "h:d/"][..], false),
            (&["-a", "--no-i-r", "s/", "h:d/"][..], true),
            (&["-a", "--no-inc-recursive", "s/", "h:d/"][..], true),
            (&["-a", "--no-i-r", "--i-r", "s/", "h:d/"][..], false),
        ] {
            let crate::run::Dispatch::Remote(o, _) = dispatch(args) else {
                panic!("{args:?} must run natively");
            };
            assert_eq!(transfer_options(&o).no_inc_recursive, off, "{args:?}");
        }
    }
}

/// Options only a remote transfer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// `-e`/`--rsh`: the remote shell command (default `ssh`, or `RSYNC_RSH`).
    pub rsh: Option<String>,
    /// `--rsync-path`: the program to run on the remote side.
    pub rsync_path: Option<String>,
    /// `-z`/`--compress`.
    pub compress: bool,
    /// `--compress-choice`/`--zc`.
    pub compress_choice: Option<String>,
    /// `--compress-level`/`--zl` (implies compression, as in rsync).
    pub compress_level: Option<i32>,
    /// `--protocol`: the highest protocol version to announce.
    pub protocol: Option<u32>,
    /// `-B`/`--block-size`.
    pub block_size: Option<u32>,
    /// `--timeout`.
    pub timeout: Option<u32>,
    /// `--no-inc-recursive`/`--no-i-r`: never offer incremental recursion.
    pub no_inc_recursive: bool,
    /// `--builtin-ssh` (rdsync's own): reach the host with the built-in SSH client, reading
    /// its options from the `-e` ssh command line, instead of spawning the remote shell.
    pub builtin_ssh: bool,
}

/// The first option on the command line that the native remote client does not handle.
pub fn unsupported_remote_option(o: &crate::Options) -> Option<&'static str> {
    // rsync turns --partial into --partial-dir=$RSYNC_PARTIAL_DIR when that is set.
    let partial_dir = o.partial
        && !o.inplace
        && std::env::var_os("RSYNC_PARTIAL_DIR").is_some_and(|v| !v.is_empty());
    let checks: [(bool, &'static str); 1] = [(
        partial_dir,
        "--partial with RSYNC_PARTIAL_DIR over a remote shell",
    )];
    checks
        .into_iter()
        .find(|(set, _)| *set)
        .map(|(_, what)| what)
}

/// The wire client's options for a command line.
pub fn transfer_options(o: &crate::Options) -> rdsync_wire::TransferOptions {
    let r = &o.remote;
    rdsync_wire::TransferOptions {
        verbose: o.verbosity.verbose.min(u32::from(u8::MAX)) as u8,
        itemize: o.verbosity.itemize.min(u32::from(u8::MAX)) as u8,
        dry_run: o.dry_run,
        update: o.update,
        links: o.links,
        dirs: o.dirs,
        whole_file: o.whole_file == Some(true),
        hard_links: o.hard_links,
        owner: o.owner,
        group: o.group,
        devices: o.devices,
        specials: o.specials,
        times: o.times,
        perms: o.perms,
        recursive: o.recursive,
        checksum: o.checksum,
        ignore_times: o.ignore_times,
        compress: r.compress,
        compress_choice: r.compress_choice.clone(),
        compress_level: r.compress_level,
        delete: o.delete.is_some(),
        delete_when: o.delete_when,
        delete_excluded: o.delete_excluded,
        force: o.force,
        inplace: o.inplace,
        partial: o.partial,
        existing: o.existing,
        ignore_existing: o.ignore_existing,
        mkpath: o.mkpath,
        stats: o.verbosity.stats,
        numeric_ids: o.numeric_ids,
        size_only: o.size_only,
        block_size: r.block_size,
        checksum_choice: o.checksum_choice.clone(),
        timeout: r.timeout,
        protocol: r.protocol,
        no_inc_recursive: r.no_inc_recursive,
        filters: o.filter_rules.clone(),
        ..rdsync_wire::TransferOptions::default()
    }
}

fn shell_for(host: &HostSpec, r: &RemoteOptions) -> rdsync_wire::RemoteShell {
    rdsync_wire::RemoteShell {
        rsh: r.rsh.clone().or_else(|| std::env::var("RSYNC_RSH").ok()),
        rsync_path: r.rsync_path.clone(),
        user: host.user.clone(),
        host: host.host.clone(),
    }
}

/// The process io.c's `whine_about_eof` names when the connection ends early: our sender in
/// a push, our (pre-fork) receiver in a pull.
fn eof_role(sender: bool) -> &'static str {
    if sender { "sender" } else { "Receiver" }
}

/// Connects with the built-in SSH client and starts the remote `rsync --server` for
/// `direction`. On failure prints what `rsync -e ssh` shows (ssh's message, then rsync's
/// "connection unexpectedly closed" and closing line) and returns the exit code.
fn ssh_transport(
    direction: Direction,
    opts: &rdsync_wire::TransferOptions,
    host: &HostSpec,
    remote_paths: &[String],
    r: &RemoteOptions,
) -> Result<rdsync_ssh::SshTransport, i32> {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let rsh = r.rsh.clone().or_else(|| std::env::var("RSYNC_RSH").ok());
    let connected = rdsync_ssh::SshOptions::from_command(
        rsh.as_deref(),
        host.user.as_deref(),
        &host.host,
        &home,
    )
    .and_then(|ssh| {
        let server = rdsync_wire::server_args::ServerCommand::build(direction, opts, remote_paths);
        let rsync_path = r.rsync_path.as_deref().unwrap_or("rsync");
        let command = rdsync_ssh::remote_command(rsync_path, &server.args);
        rdsync_ssh::SshTransport::connect(ssh, command)
    });
    connected.map_err(|e| {
        let code = e.exit_code();
        match e {
            rdsync_ssh::SshError::Unsupported(_) | rdsync_ssh::SshError::Config(_) => {
                eprintln!("rsync: {e}");
            }
            _ => {
                eprintln!("{e}");
                let closed = rdsync_wire::WireError::ConnectionClosed { received: 0 };
                eprintln!(
                    "rsync: {closed} [{}]",
                    eof_role(direction == Direction::Push)
                );
            }
        }
        eprintln!("{}", crate::exit::closing_line(code));
        code
    })
}

/// Runs a push or pull for `plan` and prints rsync's closing output; returns the exit code.
pub fn run_remote(o: &crate::Options, plan: &TransferPlan) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let mut opts = transfer_options(o);
    // `merge` files are read now, on the client, and their rules sent in their place.
    match rdsync_engine::filter::FilterChain::expand_merges(o.filter_rules.clone()) {
        Ok(rules) => opts.filters = rules,
        Err(e) => {
            eprintln!("rsync: {e}");
            eprintln!("{}", crate::exit::closing_line(crate::exit::SYNTAX));
            return crate::exit::SYNTAX;
        }
    }
    let started = std::time::Instant::now();
    let v = &o.verbosity;
    let sender = matches!(plan, TransferPlan::Push { .. });
    let shared = std::sync::Arc::new(std::sync::Mutex::new(crate::output::RemoteLog::new(
        *v, sender,
    )));
    let events: Option<Box<dyn rdsync_wire::events::EventSink>> =
        Some(Box::new(LogHandle(shared.clone())));
    let report = match plan {
        TransferPlan::Push { sources, dest } => {
            let sources: Vec<std::path::PathBuf> = sources
                .iter()
                .map(|s| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(s)))
                .collect();
            opts.log_format = log_format_for_server(o);
            if o.remote.builtin_ssh {
                let remote = std::slice::from_ref(&dest.path);
                match ssh_transport(Direction::Push, &opts, dest, remote, &o.remote) {
                    Ok(t) => rdsync_wire::push_over_with_events(t, &opts, &sources, events),
                    Err(code) => return code,
                }
            } else {
                let shell = shell_for(dest, &o.remote);
                rdsync_wire::push_with_events(&shell, &opts, &sources, &dest.path, events)
            }
        }
        TransferPlan::Pull { host, paths, dest } => {
            let dest = std::path::Path::new(std::ffi::OsStr::from_bytes(dest));
            if o.remote.builtin_ssh {
                match ssh_transport(Direction::Pull, &opts, host, paths, &o.remote) {
                    Ok(t) => rdsync_wire::pull_over_with_events(t, &opts, paths, dest, events),
                    Err(code) => return code,
                }
            } else {
                let shell = shell_for(host, &o.remote);
                rdsync_wire::pull_with_events(&shell, &opts, paths, dest, events)
            }
        }
        TransferPlan::Local | TransferPlan::Unsupported(_) => return crate::exit::SYNTAX,
    };
    if let Ok(mut log) = shared.lock() {
        log.finish();
    }
    if v.stats && !v.quiet {
        out_text(&stats_block(&report, v.human));
    }
    if (v.verbose > 0 || v.stats) && !v.quiet {
        out_text(&summary(&report.stats, started.elapsed().as_secs_f64(), o));
    }
    if let Some(e) = &report.error {
        match e {
            rdsync_wire::WireError::ConnectionClosed { .. } => {
                eprintln!("rsync: {e} [{}]", eof_role(sender));
            }
            rdsync_wire::WireError::SocketWrite { .. } => eprintln!("rsync: {e}"),
            _ => eprintln!("rsync error: {e}"),
        }
    }
    if report.exit_code != 0 {
        eprintln!("{}", crate::exit::closing_line(report.exit_code));
    }
    report.exit_code
}

/// Writes to stdout, ignoring a closed pipe (rsync's exit code is decided elsewhere).
fn out_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The `--log-format` rsync's sending client passes to the server (options.c:
/// `server_options`): the server's generator then itemizes as rsync's would.
fn log_format_for_server(o: &crate::Options) -> Option<String> {
    let v = &o.verbosity;
    if v.itemize > 1 {
        Some("%i%I".into())
    } else if v.itemize > 0 {
        Some("%i".into())
    } else if v.progress && v.verbose == 0 {
        Some("X".into())
    } else {
        None
    }
}

/// Shares the log between the transfer (which owns the sink) and the closing output.
struct LogHandle(std::sync::Arc<std::sync::Mutex<crate::output::RemoteLog>>);

impl rdsync_wire::events::EventSink for LogHandle {
    fn event(&mut self, event: rdsync_wire::events::TransferEvent<'_>) {
        if let Ok(mut log) = self.0.lock() {
            log.event(event);
        }
    }
}

/// rsync's `--stats` block for a finished remote transfer.
fn stats_block(report: &rdsync_wire::TransferReport, human: u32) -> String {
    let st = &report.stats;
    let proto = report.params.as_ref().map_or(0, |p| p.protocol);
    let block = crate::output::StatsBlock {
        files: st.files,
        created: (proto >= 29).then_some(st.created),
        deleted: (proto >= 31).then_some(st.deleted),
        transferred_files: st.xferred_files,
        total_size: st.total_size.max(0) as u64,
        transferred_size: st.transferred_size,
        literal_data: st.literal_data,
        matched_data: st.matched_data,
        flist_size: st.flist_size,
        flist_times: (st.flist_build_ms != 0).then(|| {
            (
                st.flist_build_ms as f64 / 1000.0,
                st.flist_xfer_ms as f64 / 1000.0,
            )
        }),
        bytes_sent: st.bytes_sent.max(0) as u64,
        bytes_received: st.bytes_received.max(0) as u64,
    };
    crate::output::stats_block_text(&block, human)
}

/// rsync's two closing lines (`sent … received … bytes/sec`, `total size is … speedup is …`).
fn summary(stats: &rdsync_wire::stats::TransferStats, secs: f64, o: &crate::Options) -> String {
    use crate::output::{comma_float, human_number};
    let (sent, received) = (
        stats.bytes_sent.max(0) as u64,
        stats.bytes_received.max(0) as u64,
    );
    let total = stats.total_size.max(0) as u64;
    let moved = sent + received;
    let speedup = if moved == 0 {
        0.0
    } else {
        total as f64 / moved as f64
    };
    let human = o.verbosity.human;
    format!(
        "\nsent {} bytes  received {} bytes  {} bytes/sec\ntotal size is {}  speedup is {}{}\n",
        human_number(sent, human),
        human_number(received, human),
        comma_float(moved as f64 / secs.max(0.001)),
        human_number(total, human),
        comma_float(speedup),
        if o.dry_run { " (DRY RUN)" } else { "" }
    )
}
