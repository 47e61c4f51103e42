//! Counters for `--stats` and the exit code.

/// Counts per kind of file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Regular files.
    pub reg: u64,
    /// Directories.
    pub dir: u64,
    /// Symlinks.
    pub link: u64,
    /// Devices.
    pub dev: u64,
    /// FIFOs and sockets.
    pub special: u64,
}

impl KindCounts {
    /// Total of all kinds.
    pub fn total(&self) -> u64 {
        self.reg + self.dir + self.link + self.dev + self.special
    }

    /// Counts one object of `kind`.
    pub fn add(&mut self, kind: crate::fs::FileKind) {
        use crate::fs::FileKind;
        match kind {
            FileKind::File => self.reg += 1,
            FileKind::Dir => self.dir += 1,
            FileKind::Symlink => self.link += 1,
            FileKind::Device => self.dev += 1,
            FileKind::Special => self.special += 1,
        }
    }
}

/// What `--stats` reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStats {
    /// Number of files in the list.
    pub files: KindCounts,
    /// Number of created files.
    pub created: KindCounts,
    /// Number of deleted files.
    pub deleted: KindCounts,
    /// Regular files whose content was transferred.
    pub transferred_files: u64,
    /// Sum of the sizes of regular files and symlinks in the list.
    pub total_size: u64,
    /// Sum of the sizes of the transferred files.
    pub transferred_size: u64,
    /// Bytes copied as literal data.
    pub literal_data: u64,
    /// Bytes reused from the basis file.
    pub matched_data: u64,
    /// File-list generation time, seconds.
    pub flist_build_secs: f64,
    /// Total run time, seconds.
    pub elapsed_secs: f64,
}

/// The result of a sync: statistics and the error classes met (for the exit code).
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    /// Statistics.
    pub stats: SyncStats,
    /// Some file could not be transferred (exit code 23).
    pub partial: bool,
    /// Some source file vanished (exit code 24).
    pub vanished: bool,
    /// The run was stopped by its cancel flag (exit code 20).
    pub interrupted: bool,
}

impl SyncOutcome {
    /// rsync's exit code for this outcome (0, 20, 23 or 24).
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            20
        } else if self.partial {
            23
        } else if self.vanished {
            24
        } else {
            0
        }
    }
}
