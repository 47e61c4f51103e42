//! The subset of rsync's command-line options that rdsync's wire client understands.

/// Which way the data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We are the sender; the remote is `rsync --server … . DEST`.
    Push,
    /// We are generator + receiver; the remote is `rsync --server --sender … . SRC`.
    Pull,
}

/// The `--delete-WHEN` option given, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeleteWhen {
    /// Plain `--delete` (or none): before the transfer below protocol 30, during it from 30.
    #[default]
    Unspecified,
    /// `--delete-before`.
    Before,
    /// `--delete-during` / `--del`.
    During,
    /// `--delete-delay`: found during the transfer, deleted after it.
    Delay,
    /// `--delete-after`.
    After,
}

/// Transfer options, named like rsync's long options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferOptions {
    /// `-v` count.
    pub verbose: u8,
    /// `-i` count (`-ii`: the generator itemizes unchanged items too).
    pub itemize: u8,
    /// `-n` / `--dry-run`.
    pub dry_run: bool,
    /// `-u` / `--update`.
    pub update: bool,
    /// `-l` / `--links`.
    pub links: bool,
    /// `-d` / `--dirs`.
    pub dirs: bool,
    /// `-L` / `--copy-links`.
    pub copy_links: bool,
    /// `-W` / `--whole-file`.
    pub whole_file: bool,
    /// `-H` / `--hard-links`.
    pub hard_links: bool,
    /// `-o` / `--owner`.
    pub owner: bool,
    /// `-g` / `--group`.
    pub group: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-t` / `--times`.
    pub times: bool,
    /// `-p` / `--perms`.
    pub perms: bool,
    /// `-r` / `--recursive`.
    pub recursive: bool,
    /// `-c` / `--checksum`.
    pub checksum: bool,
    /// `-I` / `--ignore-times`.
    pub ignore_times: bool,
    /// `-z` (negotiated method).
    pub compress: bool,
    /// `--compress-choice=NAME` (`zstd`, `zlibx`, `zlib`).
    pub compress_choice: Option<String>,
    /// `--compress-level=N`: implies compression; clamped per method as rsync does, and
    /// 0 turns zlib compression off (`token.c: init_compression_level`).
    pub compress_level: Option<i32>,
    /// `--delete` (or any `--delete-WHEN`, or `--delete-excluded`): rsync's `delete_mode`.
    pub delete: bool,
    /// Which `--delete-WHEN` option was given (the default lets the protocol choose).
    pub delete_when: DeleteWhen,
    /// `--delete-excluded`: excluded destination files are deleted too.
    pub delete_excluded: bool,
    /// `--force`: a non-empty directory in the way of a non-directory is removed.
    pub force: bool,
    /// `--inplace`: write into the destination file itself (no temp file).
    pub inplace: bool,
    /// `--partial`: keep a partially received file when the transfer is interrupted.
    pub partial: bool,
    /// `--existing`: create nothing new in the destination.
    pub existing: bool,
    /// `--ignore-existing`: leave every existing destination non-directory alone.
    pub ignore_existing: bool,
    /// `--mkpath`: create the missing components of the destination path.
    pub mkpath: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--numeric-ids`.
    pub numeric_ids: bool,
    /// `--size-only`.
    pub size_only: bool,
    /// `-B N` / `--block-size=N`.
    pub block_size: Option<u32>,
    /// `--checksum-seed=N`.
    pub checksum_seed: Option<i32>,
    /// `--checksum-choice=NAME`.
    pub checksum_choice: Option<String>,
    /// `--timeout=N`.
    pub timeout: Option<u32>,
    /// The `--log-format=` value a sending client passes to the server (`%i`, `%i%I`,
    /// `%o` or `X`, from the client's own output format), so that its generator
    /// itemizes as rsync's would.
    pub log_format: Option<String>,
    /// `--protocol=N`: the highest protocol we announce (27..=32).
    pub protocol: Option<u32>,
    /// `--no-inc-recursive` (`--no-i-r`): never offer incremental recursion.
    pub no_inc_recursive: bool,
    /// `--exclude` patterns (applied after `filters`).
    pub excludes: Vec<String>,
    /// Filter rules in command-line order (`--filter`, `--include`, `--exclude`, as parsed
    /// by `rdsync_engine::filter::FilterRule::parse`). `merge` rules must already be
    /// expanded (`FilterChain::expand_merges`); `dir-merge` rules are sent to the peer and
    /// read per directory on our side.
    pub filters: Vec<rdsync_engine::filter::FilterRule>,
}

impl TransferOptions {
    /// The options of `rsync -a`: `-rlptgoD`.
    pub fn archive() -> Self {
        TransferOptions {
            recursive: true,
            links: true,
            perms: true,
            times: true,
            group: true,
            owner: true,
            devices: true,
            specials: true,
            ..Self::default()
        }
    }

    /// All filter rules in order: `filters`, then `excludes` (unexpanded `merge` rules are
    /// dropped).
    pub fn filter_rules(&self) -> Vec<rdsync_engine::filter::FilterRule> {
        use rdsync_engine::filter::{FilterRule, RuleAction, RuleSyntax};
        let mut rules: Vec<FilterRule> = self
            .filters
            .iter()
            .filter(|r| r.action != RuleAction::Merge)
            .cloned()
            .collect();
        for p in &self.excludes {
            if let Ok(Some(rule)) = FilterRule::parse(p.as_bytes(), RuleSyntax::Exclude) {
                rules.push(rule);
            }
        }
        rules
    }

    /// The rules as a chain for local decisions (scanning, deletion protection); with
    /// `--delete-excluded` the plain rules apply to the sending side only, as in rsync.
    pub fn filter_chain(&self) -> rdsync_engine::filter::FilterChain {
        let chain = rdsync_engine::filter::FilterChain::new(self.filter_rules());
        if self.delete_excluded {
            chain.into_delete_excluded()
        } else {
            chain
        }
    }

    /// When the receiving side deletes, for a session at `protocol` (`compat.c`: plain
    /// `--delete` is `--delete-before` below protocol 30, `--delete-during` from 30).
    pub fn effective_delete_when(&self, protocol: u32) -> DeleteWhen {
        match self.delete_when {
            DeleteWhen::Unspecified if protocol < 30 => DeleteWhen::Before,
            DeleteWhen::Unspecified => DeleteWhen::During,
            other => other,
        }
    }

    /// Whether compression was asked for (`-z`, an explicit method, or a level).
    pub fn compressing(&self) -> bool {
        self.compress || self.compress_choice.is_some() || self.compress_level.is_some()
    }

    /// Whether the method is negotiated (protocol 30+): compression without a named method.
    pub fn negotiates_compression(&self) -> bool {
        (self.compress || self.compress_level.is_some()) && self.compress_choice.is_none()
    }

    /// Whether we offer incremental recursion (the `i` of `-e.`), exactly as rsync's
    /// client decides it (`compat.c: set_allow_inc_recurse`, `options.c:
    /// maybe_add_e_option`): with `-r`, an announced protocol of 30 or later, no
    /// `--no-i-r`, and — when we receive (pull) — neither `--delete-before` nor
    /// `--delete-after` (rsync's receiver cannot delete around incremental lists; plain
    /// `--delete` is decided after the handshake and does not count). The server may
    /// still decline it.
    pub fn offers_inc_recurse(&self, direction: Direction) -> bool {
        let receiver_declines = direction == Direction::Pull
            && matches!(self.delete_when, DeleteWhen::Before | DeleteWhen::After);
        self.recursive && !self.no_inc_recursive && self.our_protocol() >= 30 && !receiver_declines
    }

    /// The protocol version we announce.
    pub fn our_protocol(&self) -> u32 {
        self.protocol.unwrap_or(crate::handshake::PROTOCOL_VERSION)
    }
}
