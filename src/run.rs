//! The `rdsync` command: parse, run natively or fall back, print, exit code.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rdsync_engine::filter::FilterChain;
use rdsync_engine::local::{SyncOutcome, SyncSink};

use crate::cli::{Options, ParseOutcome, UsageError, parse_args};
use crate::exit;
use crate::fallback::run_system_rsync;
use crate::output::{Printer, stats_text, summary_text};
use crate::remote::TransferPlan;

/// Why a local sync could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The filter rules could not be loaded.
    #[error("{0}")]
    Filter(#[from] rdsync_engine::filter::FilterError),
    /// The destination could not be used.
    #[error("{0}")]
    Dest(#[from] rdsync_engine::local::DestError),
    /// Fewer than two paths.
    #[error("need at least one source and a destination")]
    Paths,
}

impl SyncError {
    /// rsync's exit code for the error.
    pub fn exit_code(&self) -> i32 {
        match self {
            SyncError::Filter(_) => exit::SYNTAX,
            SyncError::Dest(e) => e.exit_code(),
            SyncError::Paths => exit::SYNTAX,
        }
    }
}

/// Runs a local sync of `options.paths` (sources then destination), reporting to `sink`.
pub fn sync_local(options: &Options, sink: &mut dyn SyncSink) -> Result<SyncOutcome, SyncError> {
    sync_local_cancellable(options, sink, None)
}

/// [`sync_local`] that stops early (exit code 20) once `cancel` is raised.
pub fn sync_local_cancellable(
    options: &Options,
    sink: &mut dyn SyncSink,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<SyncOutcome, SyncError> {
    let Some((dest, sources)) = options.paths.split_last() else {
        return Err(SyncError::Paths);
    };
    if sources.is_empty() {
        return Err(SyncError::Paths);
    }
    let rules = FilterChain::expand_merges(options.filter_rules.clone())?;
    let mut chain = FilterChain::new(rules);
    if options.delete_excluded {
        chain = chain.into_delete_excluded();
    }
    let mut local = options.local_options();
    local.cancel = cancel;
    Ok(rdsync_engine::local::sync_local(
        sources, dest, &local, &chain, sink,
    )?)
}

/// What `rdsync ARGS` will do, decided without doing anything.
#[derive(Debug)]
pub enum Dispatch {
    /// Print the version.
    Version,
    /// Print the usage summary.
    Help,
    /// A local sync, run natively.
    Local(Box<Options>),
    /// A push or pull over a remote shell, run natively.
    Remote(Box<Options>, TransferPlan),
    /// Hand the command to the system rsync, for this reason.
    Fallback(String),
    /// The command line is wrong: rsync's message and exit code.
    Usage(String, i32),
}

/// Decides how `args` (without the program name) will run: natively, through the system
/// rsync (and why), or not at all. [`run_cli`] acts on this; the director asks it up front.
pub fn dispatch(args: Vec<OsString>) -> Dispatch {
    let builtin_ssh = args.iter().any(|a| a == "--builtin-ssh");
    match dispatch_parsed(args) {
        // The system rsync has no built-in SSH client (nor the option).
        Dispatch::Fallback(reason) if builtin_ssh => Dispatch::Usage(
            format!(
                "rdsync: --builtin-ssh cannot be used here: {reason} is not supported natively, and {} has no built-in SSH client",
                crate::fallback::SYSTEM_RSYNC
            ),
            exit::SYNTAX,
        ),
        d => d,
    }
}

fn dispatch_parsed(args: Vec<OsString>) -> Dispatch {
    let options = match parse_args(args) {
        Ok(ParseOutcome::Run(o)) => o,
        Ok(ParseOutcome::Fallback(reason)) | Err(UsageError::Unsupported(reason)) => {
            return Dispatch::Fallback(reason);
        }
        Ok(ParseOutcome::Version) => return Dispatch::Version,
        Ok(ParseOutcome::Help) => return Dispatch::Help,
        Err(UsageError::Message(m)) => return Dispatch::Usage(m, exit::SYNTAX),
        Err(UsageError::FileIo(m)) => return Dispatch::Usage(m, exit::FILE_IO),
        Err(UsageError::Fatal(m, code)) => return Dispatch::Usage(m, code),
    };
    if options.paths.len() < 2 {
        return Dispatch::Fallback("listing or usage without SRC and DEST".into());
    }
    match crate::remote::plan(&options.paths) {
        // The local engine has no --delete-delay (decide while walking, delete at the end).
        Ok(TransferPlan::Local) if options.delete_when == rdsync_wire::DeleteWhen::Delay => {
            Dispatch::Fallback("--delete-delay in a local sync".into())
        }
        Ok(TransferPlan::Local) => Dispatch::Local(options),
        Ok(TransferPlan::Unsupported(reason)) => Dispatch::Fallback(reason),
        Ok(plan) => match crate::remote::unsupported_remote_option(&options) {
            Some(what) => Dispatch::Fallback(what.to_string()),
            None => Dispatch::Remote(options, plan),
        },
        Err(e) => Dispatch::Usage(e.to_string(), exit::SYNTAX),
    }
}

/// The whole `rdsync` command for `args` (without the program name); returns the exit code.
pub fn run_cli(args: Vec<OsString>) -> i32 {
    let options = match dispatch(args.clone()) {
        Dispatch::Local(o) => o,
        Dispatch::Remote(o, plan) => return crate::remote::run_remote(&o, &plan),
        Dispatch::Fallback(reason) => return run_system_rsync(&args, &reason),
        Dispatch::Version => {
            println!(
                "rdsync version {} (rsync-compatible, protocol 32)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Dispatch::Help => {
            println!("Usage: rdsync [OPTION]... SRC [SRC]... DEST");
            println!(
                "rsync-compatible options; unsupported ones run {}.",
                crate::fallback::SYSTEM_RSYNC
            );
            return 0;
        }
        Dispatch::Usage(m, code) => {
            eprintln!("{m}");
            eprintln!("{}", exit::closing_line(code));
            return code;
        }
    };
    let mut printer = Printer::new(options.verbosity);
    if (options.verbosity.verbose > 0 || options.verbosity.progress) && !options.verbosity.quiet {
        printer.line(b"sending incremental file list");
    }
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // A second signal while stopping ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(
            sig,
            exit::SIGNAL,
            Arc::clone(&cancel),
        );
        let _ = signal_hook::flag::register(sig, Arc::clone(&cancel));
    }
    let result = sync_local_cancellable(&options, &mut printer, Some(cancel));
    let code = match result {
        Ok(outcome) => {
            if options.verbosity.progress2 {
                printer.text("\n");
            }
            if options.verbosity.stats {
                printer.text(&stats_text(&outcome.stats, options.verbosity.human + 1));
            }
            if options.verbosity.stats || options.verbosity.verbose > 0 {
                printer.text(&summary_text(
                    &outcome.stats,
                    options.verbosity.human + 1,
                    options.dry_run,
                ));
            }
            outcome.exit_code()
        }
        Err(SyncError::Dest(e)) => {
            let text = e.to_string();
            if text.starts_with("ERROR")
                || matches!(e, rdsync_engine::local::DestError::FilterFile(_))
            {
                printer.error_line(&text);
            } else {
                printer.error_line(&format!("rsync: [Receiver] {text}"));
            }
            e.exit_code()
        }
        Err(e) => {
            printer.error_line(&format!("rsync: {e}"));
            e.exit_code()
        }
    };
    printer.flush();
    if code != 0 {
        printer.error_line(&exit::closing_line(code));
    }
    code
}
