//! What a local sync preserves and how it decides what to update.

/// When extraneous destination files are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteTiming {
    /// Before the transfer (`--delete-before`).
    Before,
    /// While walking each directory (`--delete-during`, rsync's default for `--delete`).
    During,
    /// After the transfer (`--delete-after`).
    After,
}

/// Options of a local sync, named after rsync's.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// `-r`.
    pub recursive: bool,
    /// `-d`: transfer named directories without recursing.
    pub dirs: bool,
    /// `-l`: copy symlinks as symlinks.
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
    /// `--delete*`.
    pub delete: Option<DeleteTiming>,
    /// `--force`: delete non-empty directories in the way even without `--delete`.
    pub force: bool,
    /// `--delete-excluded`.
    pub delete_excluded: bool,
    /// `--no-whole-file`: rebuild changed files from the existing destination file.
    pub delta: bool,
    /// `--inplace`.
    pub inplace: bool,
    /// `--partial`.
    pub partial: bool,
    /// `--size-only`.
    pub size_only: bool,
    /// `--ignore-times`.
    pub ignore_times: bool,
    /// `--existing`.
    pub existing: bool,
    /// `--ignore-existing`.
    pub ignore_existing: bool,
    /// `-u`.
    pub update: bool,
    /// `--mkpath`.
    pub mkpath: bool,
    /// Report unchanged items too (`-ii`).
    pub report_unchanged: bool,
    /// Whether progress events are wanted (costs a little per copied chunk).
    pub progress: bool,
    /// Raised (by a signal handler) to stop the run: no new work starts, running copies stop
    /// and their temp files are removed (kept as the destination file with `partial`).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Running as root (ownership is only changed, and reported, as root).
    pub am_root: bool,
}
