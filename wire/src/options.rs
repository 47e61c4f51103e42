//! The subset of rsync's command-line options that rdsync's wire client understands.

/// Which way the data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We are the sender; the remote is `rsync --server … . DEST`.
    Push,
    /// We are generator + receiver; the remote is `rsync --server --sender … . SRC`.
    Pull,
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
    /// `--delete` (timing chosen by the protocol).
    pub delete: bool,
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
    /// `--exclude` patterns (applied after `filters`).
    pub excludes: Vec<String>,
    /// Filter rules in command-line order (`--filter`, `--include`, `--exclude`, as parsed
    /// by `rdsync_engine::filter::FilterRule::parse`); `merge`/`dir-merge` rules are not
    /// supported over the wire yet and are ignored.
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

    /// All filter rules in order: `filters`, then `excludes`.
    pub fn filter_rules(&self) -> Vec<rdsync_engine::filter::FilterRule> {
        use rdsync_engine::filter::{FilterRule, RuleAction, RuleSyntax};
        let mut rules: Vec<FilterRule> = self
            .filters
            .iter()
            .filter(|r| {
                matches!(
                    r.action,
                    RuleAction::Include | RuleAction::Exclude | RuleAction::Clear
                )
            })
            .cloned()
            .collect();
        for p in &self.excludes {
            if let Ok(Some(rule)) = FilterRule::parse(p.as_bytes(), RuleSyntax::Exclude) {
                rules.push(rule);
            }
        }
        rules
    }

    /// The rules as a chain for local decisions (scanning, deletion protection).
    pub fn filter_chain(&self) -> rdsync_engine::filter::FilterChain {
        rdsync_engine::filter::FilterChain::new(self.filter_rules())
    }

    /// Whether compression was asked for (`-z`, an explicit method, or a level).
    pub fn compressing(&self) -> bool {
        self.compress || self.compress_choice.is_some() || self.compress_level.is_some()
    }

    /// Whether the method is negotiated (protocol 30+): compression without a named method.
    pub fn negotiates_compression(&self) -> bool {
        (self.compress || self.compress_level.is_some()) && self.compress_choice.is_none()
    }

    /// The protocol version we announce.
    pub fn our_protocol(&self) -> u32 {
        self.protocol.unwrap_or(crate::handshake::PROTOCOL_VERSION)
    }
}
