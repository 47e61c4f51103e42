//! The parsed command line.

use rdsync_engine::filter::FilterRule;
use rdsync_engine::local::{DeleteTiming, LocalOptions};

/// Output levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verbosity {
    /// `-v` count.
    pub verbose: u32,
    /// `-q`.
    pub quiet: bool,
    /// `-i` count.
    pub itemize: u32,
    /// `--stats`.
    pub stats: bool,
    /// `--progress`.
    pub progress: bool,
    /// `--info=progress2`.
    pub progress2: bool,
    /// `-h` count.
    pub human: u32,
}

/// Everything the command line asked for, in rsync's terms.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-r`.
    pub recursive: bool,
    /// `-d`.
    pub dirs: bool,
    /// `-l`.
    pub links: bool,
    /// `-p`.
    pub perms: bool,
    /// `-t`.
    pub times: bool,
    /// `-g`.
    pub group: bool,
    /// `-o`.
    pub owner: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `-c`.
    pub checksum: bool,
    /// `-n`.
    pub dry_run: bool,
    /// `--delete` and its timing.
    pub delete: Option<DeleteTiming>,
    /// Which `--delete-WHEN` option was given (what a remote server is told).
    pub delete_when: rdsync_wire::DeleteWhen,
    /// `--delete-excluded`.
    pub delete_excluded: bool,
    /// `--force`.
    pub force: bool,
    /// `-W` (`Some(true)`), `--no-whole-file` (`Some(false)`), or the default.
    pub whole_file: Option<bool>,
    /// `--inplace`.
    pub inplace: bool,
    /// `--partial`.
    pub partial: bool,
    /// `--numeric-ids`.
    pub numeric_ids: bool,
    /// `--checksum-choice`.
    pub checksum_choice: Option<String>,
    /// `--size-only`.
    pub size_only: bool,
    /// `-I`.
    pub ignore_times: bool,
    /// `--existing`.
    pub existing: bool,
    /// `--ignore-existing`.
    pub ignore_existing: bool,
    /// `-u`.
    pub update: bool,
    /// `--mkpath`.
    pub mkpath: bool,
    /// Filter rules in command-line order.
    pub filter_rules: Vec<FilterRule>,
    /// Options of a transfer over a remote shell (`-e`, `--rsync-path`, `-z`, ...).
    pub remote: crate::remote::RemoteOptions,
    /// Output levels.
    pub verbosity: Verbosity,
    /// Positional arguments: sources then the destination.
    pub paths: Vec<Vec<u8>>,
}

impl Options {
    /// The engine options for a local sync.
    pub fn local_options(&self) -> LocalOptions {
        LocalOptions {
            recursive: self.recursive,
            dirs: self.dirs,
            links: self.links,
            perms: self.perms,
            times: self.times,
            group: self.group,
            owner: self.owner,
            devices: self.devices,
            specials: self.specials,
            hard_links: self.hard_links,
            checksum: self.checksum,
            dry_run: self.dry_run,
            delete: self.delete,
            delete_excluded: self.delete_excluded,
            force: self.force,
            delta: self.whole_file == Some(false),
            inplace: self.inplace,
            partial: self.partial,
            size_only: self.size_only,
            ignore_times: self.ignore_times,
            existing: self.existing,
            ignore_existing: self.ignore_existing,
            update: self.update,
            mkpath: self.mkpath,
            report_unchanged: self.verbosity.itemize > 1,
            progress: self.verbosity.progress || self.verbosity.progress2,
            am_root: rustix::process::geteuid().is_root(),
            cancel: None,
        }
    }
}
