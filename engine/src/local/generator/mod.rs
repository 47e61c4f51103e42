//! The main pass: walk the sorted file list, compare with the destination, and update it.

mod dirs;
mod files;
mod links;
mod nodes;
mod pipeline;
mod prefetch;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use rayon::prelude::*;

use crate::filter::FilterChain;
use crate::flist::{FileEntry, ScanError, ScanOptions, SourceRoot, compare_entries, scan_source};
use crate::fs::{Attrs, DirFd, FileKind, Stat};

use super::checksum::file_digest;
use super::deleter::{Deletion, delete_extraneous, join, report_tree, source_children};
use super::dest::{DestError, DestPlan, resolve};
use super::event::{
    DeleteEvent, Item, ItemChanges, Message, MessageKind, ProgressEvent, SyncSink, UpdateType,
};
use super::hardlinks::HardLinkGroups;
use super::options::{DeleteTiming, LocalOptions};
use super::stats::SyncOutcome;
use super::transfer::{CopyError, CopyJob, CopyStats, run};

/// Protocol whose sort order local syncs use (rsync 3.5.0 speaks 32).
const PROTOCOL: u32 = 32;
/// Copies allowed in flight before the generator waits for the oldest.
const MAX_IN_FLIGHT: usize = 256;
/// Bytes allowed in flight before the generator waits for the oldest.
const MAX_BYTES_IN_FLIGHT: u64 = 256 << 20;
/// Entries whose destination is examined (in parallel) ahead of the generator.
const PREFETCH_WINDOW: usize = 2048;

/// What a running copy needs for its report.
struct CopyMeta {
    seq: u64,
    index: usize,
    /// Bytes copied so far (with `--progress`).
    progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// The item line was already printed (before the copy finished).
    announced: bool,
    size: u64,
    source: u32,
    src_name: Box<[u8]>,
}

/// Output waiting, in rsync's order, for the copies before it to finish.
enum Pending {
    Item(Item),
    Delete(DeleteEvent),
    Message(Message),
    Copy(CopyMeta, Item),
}

type CopyResult = Result<CopyStats, CopyError>;

struct DirLevel {
    rel: Vec<u8>,
    dir: Option<Arc<DirFd>>,
}

/// A directory whose final mode and mtime are applied at the end.
struct DirFixup {
    dir_rel: Vec<u8>,
    attrs: Attrs,
    /// New, or its attributes differed: always apply.
    needed: bool,
}

struct Generator<'a> {
    opts: &'a LocalOptions,
    filters: &'a FilterChain,
    entries: Vec<FileEntry>,
    src_bases: Vec<Option<Arc<DirFd>>>,
    /// Absolute paths of the source bases (for messages).
    src_abs: Vec<Vec<u8>>,
    plan: DestPlan,
    root_dir: Option<Arc<DirFd>>,
    stack: Vec<DirLevel>,
    pending: VecDeque<Pending>,
    pending_jobs: usize,
    pending_bytes: u64,
    next_seq: u64,
    results: HashMap<u64, CopyResult>,
    result_tx: Sender<(u64, CopyResult)>,
    result_rx: Receiver<(u64, CopyResult)>,
    /// Destination `lstat`s gathered ahead of the generator, by entry index.
    prefetched: HashMap<usize, Option<Stat>>,
    /// With `-c`: whether source and destination content are equal, computed ahead.
    prefetched_same: HashMap<usize, bool>,
    prefetched_until: usize,
    fixups: Vec<DirFixup>,
    outcome: SyncOutcome,
    hard_links: HardLinkGroups,
    /// Entries whose content is (or, in a dry run, would be) transferred.
    transferred: HashSet<usize>,
    /// (member, leader) pairs to link once the copies are done.
    deferred_links: Vec<(usize, usize)>,
    /// "skipping non-regular file" messages, reported after the first (top) entry.
    skipped: Vec<Message>,
    /// Part of the source could not be read: no deletions (rsync's `IOERR_GENERAL`).
    scan_io_error: bool,
    /// "IO error encountered -- skipping file deletion" was reported.
    warned_io_error: bool,
    /// Destination directories whose contents this run changed.
    dirty: HashSet<Vec<u8>>,
    /// A directory `--existing` skipped: everything below it is skipped too.
    skip_dir: Option<Vec<u8>>,
    /// Destination directories the dry run "created" (their contents are all new).
    missing_dirs: HashSet<Vec<u8>>,
}

fn io_message(text: String) -> Message {
    Message {
        kind: MessageKind::Error,
        text,
    }
}

fn abs_path(arg: &[u8]) -> Vec<u8> {
    if arg.first() == Some(&b'/') {
        return arg.to_vec();
    }
    let mut cwd = std::env::current_dir()
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default();
    let mut rest = arg;
    while let Some(r) = rest.strip_prefix(b"./") {
        rest = r;
    }
    if !rest.is_empty() && rest != b"." {
        cwd.push(b'/');
        cwd.extend_from_slice(rest);
    }
    cwd
}

/// Runs a local sync of `sources` into `dest`. Events reach `sink` in rsync's order.
pub fn sync_local(
    sources: &[Vec<u8>],
    dest: &[u8],
    opts: &LocalOptions,
    filters: &FilterChain,
    sink: &mut dyn SyncSink,
) -> Result<SyncOutcome, DestError> {
    let start = Instant::now();
    let mut outcome = SyncOutcome::default();
    let scan_opts = ScanOptions {
        recursive: opts.recursive,
        dirs: opts.dirs,
    };
    let roots: Vec<SourceRoot> = sources.iter().map(|s| SourceRoot::parse(s)).collect();
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut src_bases = Vec::new();
    let mut src_abs = Vec::new();
    // A directory that could not be read (not a missing argument) forbids deletions.
    let mut scan_io_error = false;
    for (i, root) in roots.iter().enumerate() {
        let source = u32::try_from(i).unwrap_or(u32::MAX);
        let result = scan_source(root, source, &scan_opts, filters);
        if let Some(err) = result.root_error {
            sink.message(&io_message(format!(
                "rsync: [sender] {} \"{}\" failed: {}",
                err.op,
                String::from_utf8_lossy(&abs_path(&err.path)),
                err.errno_string()
            )));
            outcome.partial = true;
        }
        let mut base_abs = abs_path(&root.base);
        while base_abs.len() > 1 && base_abs.ends_with(b"/") {
            base_abs.pop();
        }
        for e in result.errors {
            match e {
                ScanError::Vanished(p) => {
                    sink.message(&io_message(format!(
                        "file has vanished: \"{}\"",
                        String::from_utf8_lossy(&join(&base_abs, &p))
                    )));
                    outcome.vanished = true;
                }
                ScanError::SkippedDir(p) => sink.message(&Message {
                    kind: MessageKind::Info,
                    text: format!("skipping directory {}", String::from_utf8_lossy(&p)),
                }),
                ScanError::Io(err) => {
                    sink.message(&io_message(format!("rsync: [sender] {err}")));
                    outcome.partial = true;
                    scan_io_error = true;
                }
                ScanError::Filter(err) => {
                    let text = match err {
                        crate::filter::FilterError::InFile { what, path, line } => format!(
                            "{what}: <rule from {} line {line}>",
                            String::from_utf8_lossy(&join(&base_abs, &path))
                        ),
                        other => other.to_string(),
                    };
                    return Err(DestError::FilterFile(text));
                }
            }
        }
        entries.extend(result.entries);
        src_bases.push(crate::fs::DirFd::open_path(&root.base).ok().map(Arc::new));
        src_abs.push(abs_path(&root.base));
    }
    entries.sort_by(|a, b| compare_entries(a, b, PROTOCOL));
    if roots.len() > 1 {
        // One tree cannot name anything twice; several sources can.
        dedupe(&mut entries);
    }
    // Like rsync's sender, announce what the options do not transfer (it stays in the list
    // and its counts, but is not processed).
    let skipped: Vec<Message> = entries
        .iter()
        .filter(|e| !kind_wanted(opts, e.kind()))
        .map(|e| Message {
            kind: MessageKind::Info,
            text: format!(
                "skipping non-regular file \"{}\"",
                String::from_utf8_lossy(&e.name)
            ),
        })
        .collect();
    outcome.stats.flist_build_secs = start.elapsed().as_secs_f64();
    for e in &entries {
        outcome.stats.files.add(e.kind());
        if matches!(e.kind(), FileKind::File | FileKind::Symlink) {
            outcome.stats.total_size += e.stat.size;
        }
    }
    sink.list_ready(entries.len() as u64, outcome.stats.total_size);
    if entries.is_empty() {
        outcome.stats.elapsed_secs = start.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    let plan = resolve(dest, &entries, opts.mkpath, opts.dry_run, sink)?;
    let root_dir = plan
        .root
        .as_ref()
        .and_then(|r| r.open_dir(b".").ok())
        .map(Arc::new);
    let hard_links = if opts.hard_links && plan.rename.is_none() {
        HardLinkGroups::new(&entries)
    } else {
        HardLinkGroups::default()
    };
    let (result_tx, result_rx) = channel();
    let mut generator = Generator {
        opts,
        filters,
        entries,
        src_bases,
        src_abs,
        plan,
        root_dir,
        stack: Vec::new(),
        pending: VecDeque::new(),
        pending_jobs: 0,
        pending_bytes: 0,
        next_seq: 0,
        results: HashMap::new(),
        result_tx,
        result_rx,
        prefetched: HashMap::new(),
        prefetched_same: HashMap::new(),
        prefetched_until: 0,
        fixups: Vec::new(),
        outcome,
        hard_links,
        transferred: HashSet::new(),
        deferred_links: Vec::new(),
        missing_dirs: HashSet::new(),
        skip_dir: None,
        dirty: HashSet::new(),
        scan_io_error,
        warned_io_error: false,
        skipped,
    };
    generator.run(sink);
    let mut outcome = generator.outcome;
    outcome.stats.elapsed_secs = start.elapsed().as_secs_f64();
    Ok(outcome)
}

/// Removes later duplicates of a name (a directory wins over a non-directory).
fn dedupe(entries: &mut Vec<FileEntry>) {
    let mut seen: HashMap<Box<[u8]>, usize> = HashMap::new();
    let mut drop_idx: HashSet<usize> = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        match seen.get(&e.name) {
            Some(&first) => {
                if e.is_dir() && !entries[first].is_dir() {
                    drop_idx.insert(first);
                    seen.insert(e.name.clone(), i);
                } else {
                    drop_idx.insert(i);
                }
            }
            None => {
                seen.insert(e.name.clone(), i);
            }
        }
    }
    if drop_idx.is_empty() {
        return;
    }
    let mut i = 0;
    entries.retain(|_| {
        let keep = !drop_idx.contains(&i);
        i += 1;
        keep
    });
}

/// Whether `kind` is transferred with these options.
fn kind_wanted(opts: &LocalOptions, kind: FileKind) -> bool {
    match kind {
        FileKind::Symlink => opts.links,
        FileKind::Device => opts.devices,
        FileKind::Special => opts.specials,
        _ => true,
    }
}

fn dir_of(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'/') {
        Some(at) => &name[..at],
        None => b"",
    }
}

fn base_of(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'/') {
        Some(at) => &name[at + 1..],
        None => name,
    }
}

impl Generator<'_> {
    fn run(&mut self, sink: &mut dyn SyncSink) {
        if self.opts.delete == Some(DeleteTiming::Before) && !self.opts.dry_run {
            for i in 0..self.entries.len() {
                if self.entries[i].is_dir() && self.entries[i].content_dir {
                    self.delete_in(i);
                }
            }
            self.flush(sink);
        } else if self.opts.delete == Some(DeleteTiming::Before) {
            for i in 0..self.entries.len() {
                if self.entries[i].is_dir() && self.entries[i].content_dir {
                    self.delete_in(i);
                }
            }
        }
        let top_first = self.entries.first().is_some_and(|e| e.is_dir() && e.top);
        if !top_first {
            self.report_skipped();
        }
        for i in 0..self.entries.len() {
            if self.cancelled() {
                self.flush(sink);
                self.outcome.interrupted = true;
                return;
            }
            if i >= self.prefetched_until {
                self.prefetch(i);
            }
            self.process(i);
            if i == 0 && top_first {
                self.report_skipped();
            }
            self.drain(sink, false);
            while self.pending_jobs >= MAX_IN_FLIGHT || self.pending_bytes >= MAX_BYTES_IN_FLIGHT {
                self.drain_one(sink);
            }
        }
        self.flush(sink);
        if self.cancelled() {
            self.outcome.interrupted = true;
            return;
        }
        self.stack.clear();
        let mut deferred = std::mem::take(&mut self.deferred_links);
        for g in 0..self.hard_links.members.len() {
            if let Some(leader) = self.hard_links.leader[g] {
                for &w in self.hard_links.waiting[g].iter().rev() {
                    deferred.push((w, leader));
                }
            }
        }
        for (i, leader) in deferred {
            self.make_hard_link(i, leader);
        }
        self.flush(sink);
        if self.opts.delete == Some(DeleteTiming::After) {
            for i in 0..self.entries.len() {
                if self.entries[i].is_dir() && self.entries[i].content_dir {
                    self.delete_in(i);
                }
            }
            self.flush(sink);
        }
        if !self.opts.dry_run {
            let fixups = std::mem::take(&mut self.fixups);
            for fix in fixups.iter().rev() {
                if !fix.needed && !self.dirty.contains(&fix.dir_rel) {
                    continue;
                }
                let result = if fix.dir_rel.is_empty() {
                    match &self.root_dir {
                        Some(d) => {
                            let mut attrs = fix.attrs;
                            if let Ok(now) = d.stat_self() {
                                self.trim_attrs(&mut attrs, &now);
                            }
                            DirFd::apply_attrs_fd(d.fd(), b".", &attrs)
                        }
                        None => Ok(()),
                    }
                } else {
                    let parent = dir_of(&fix.dir_rel);
                    match self.plan.root.as_ref().map(|r| r.open_dir(parent)) {
                        Some(Ok(d)) => {
                            let base = base_of(&fix.dir_rel);
                            let mut attrs = fix.attrs;
                            if let Ok(now) = d.lstat(base) {
                                self.trim_attrs(&mut attrs, &now);
                            }
                            d.apply_attrs(base, FileKind::Dir, &attrs)
                        }
                        Some(Err(e)) => Err(e),
                        None => Ok(()),
                    }
                };
                if let Err(e) = result {
                    sink.message(&io_message(format!("rsync: [generator] {e}")));
                    self.outcome.partial = true;
                }
            }
        }
    }

    /// Whether the run's cancel flag is raised.
    fn cancelled(&self) -> bool {
        self.opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn report_skipped(&mut self) {
        for m in std::mem::take(&mut self.skipped) {
            self.pending.push_back(Pending::Message(m));
        }
    }

    /// Drops from `attrs` what already matches `now` the way rsync's `set_file_attrs`
    /// decides it: mtimes compare by whole seconds (exactly with `-c`).
    fn trim_attrs(&self, attrs: &mut Attrs, now: &Stat) {
        if let Some((sec, nsec)) = attrs.mtime {
            let same = if self.opts.checksum {
                sec == now.mtime && nsec == now.mtime_nsec
            } else {
                sec == now.mtime
            };
            if same {
                attrs.mtime = None;
            }
        }
        if attrs.perms == Some(now.perms()) {
            attrs.perms = None;
        }
        if attrs.uid == Some(now.uid) {
            attrs.uid = None;
        }
        if attrs.gid == Some(now.gid) {
            attrs.gid = None;
        }
    }

    /// The destination name of entry `i`, relative to the plan's root.
    fn dest_name(&self, i: usize) -> Vec<u8> {
        if let Some(r) = &self.plan.rename {
            return r.clone();
        }
        let n = &self.entries[i].name;
        if &**n == b"." { Vec::new() } else { n.to_vec() }
    }

    /// The display name of entry `i` (what rsync prints).
    fn display_name(&self, i: usize) -> Vec<u8> {
        let e = &self.entries[i];
        let mut n = e.name.to_vec();
        if e.is_dir() {
            n.push(b'/');
        }
        n
    }

    /// The open destination directory `rel`, using the stack of open ancestors.
    fn dest_dir(&mut self, rel: &[u8]) -> Option<Arc<DirFd>> {
        while let Some(top) = self.stack.last() {
            let is_prefix = top.rel.is_empty()
                || rel == top.rel.as_slice()
                || (rel.len() > top.rel.len()
                    && rel.starts_with(&top.rel)
                    && rel[top.rel.len()] == b'/');
            if is_prefix {
                break;
            }
            self.stack.pop();
        }
        if self.stack.is_empty() {
            self.stack.push(DirLevel {
                rel: Vec::new(),
                dir: self.root_dir.clone(),
            });
        }
        loop {
            let top = self.stack.last()?;
            if top.rel.as_slice() == rel {
                return top.dir.clone();
            }
            let start = if top.rel.is_empty() {
                0
            } else {
                top.rel.len() + 1
            };
            let rest = &rel[start..];
            let comp = match rest.iter().position(|&b| b == b'/') {
                Some(at) => &rest[..at],
                None => rest,
            };
            let child_rel = join(&top.rel, comp);
            let dir = if self.missing_dirs.contains(&child_rel) {
                None
            } else {
                top.dir
                    .as_ref()
                    .and_then(|d| d.open_subdir(comp).ok())
                    .map(Arc::new)
            };
            self.stack.push(DirLevel {
                rel: child_rel,
                dir,
            });
        }
    }

    fn push_item(&mut self, item: Item) {
        if item.update != UpdateType::Unchanged || item.changes.any() || self.opts.report_unchanged
        {
            self.pending.push_back(Pending::Item(item));
        }
    }

    fn error(&mut self, text: String) {
        self.outcome.partial = true;
        self.pending.push_back(Pending::Message(io_message(text)));
    }

    /// Attribute columns for an existing destination object.
    fn changes(&self, e: &FileEntry, old: &Stat) -> ItemChanges {
        let kind = e.kind();
        let mut c = ItemChanges::default();
        if kind == FileKind::File && e.stat.size != old.size {
            c.size = true;
        }
        let keep_time = self.opts.times;
        if keep_time && e.stat.mtime != old.mtime {
            c.time = true;
        }
        if kind != FileKind::Symlink && self.opts.perms && e.stat.perms() != old.perms() {
            c.perms = true;
        }
        if self.opts.owner && self.opts.am_root && e.stat.uid != old.uid {
            c.owner = true;
        }
        if self.opts.group && e.stat.gid != old.gid {
            c.group = true;
        }
        c
    }

    /// The attributes to apply to a new or changed object.
    fn attrs_for(&self, e: &FileEntry, new: bool, old: Option<&Stat>) -> Attrs {
        let mut a = Attrs::default();
        if e.kind() != FileKind::Symlink {
            if self.opts.perms {
                a.perms = Some(e.stat.perms());
            } else if new {
                // Without -p, new files get the source mode masked by the umask (rsync
                // uses the default ACL/umask); existing files keep their mode.
                a.perms = Some(e.stat.perms() & !umask() & 0o7777);
            } else if let Some(o) = old {
                a.perms = Some(o.perms());
            }
        }
        if self.opts.owner && self.opts.am_root {
            a.uid = Some(e.stat.uid);
        }
        if self.opts.group {
            a.gid = Some(e.stat.gid);
        }
        if self.opts.times {
            a.mtime = Some((e.stat.mtime, e.stat.mtime_nsec));
        }
        a
    }

    fn process(&mut self, i: usize) {
        let kind = self.entries[i].kind();
        if !kind_wanted(self.opts, kind) {
            return;
        }
        if let Some(skip) = &self.skip_dir {
            let n = &self.entries[i].name;
            if n.len() > skip.len() && n.starts_with(skip) && n[skip.len()] == b'/' {
                return;
            }
            self.skip_dir = None;
        }
        let group = self.hard_links.group_of.get(&i).copied();
        if let Some(g) = group
            && let Some(leader) = self.hard_links.leader[g]
        {
            self.deferred_links.push((i, leader));
            return;
        }
        let dest_name = self.dest_name(i);
        let (parent_rel, base) = if dest_name.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (dir_of(&dest_name).to_vec(), base_of(&dest_name).to_vec())
        };
        let parent = if dest_name.is_empty() {
            // "." — the root itself; its parent is irrelevant.
            None
        } else {
            self.dest_dir(&parent_rel)
        };
        let old: Option<Stat> = if dest_name.is_empty() {
            if self.plan.created {
                None
            } else {
                self.root_dir.as_ref().and_then(|d| d.stat_self().ok())
            }
        } else if let Some(st) = self.prefetched.remove(&i) {
            if parent.is_some() { st } else { None }
        } else {
            parent.as_ref().and_then(|d| d.lstat(&base).ok())
        };
        if parent.is_none()
            && !dest_name.is_empty()
            && !self.opts.dry_run
            && !self.missing_dirs.contains(&parent_rel)
        {
            // The parent exists but is not a directory we can enter (e.g. a file kept by
            // --ignore-existing): rsync's generator fails to stat the entry.
            let errno = self
                .plan
                .root
                .as_ref()
                .and_then(|r| r.open_dir(&parent_rel).err())
                .map_or(rustix::io::Errno::NOTDIR, |e| e.errno);
            let full = join(&self.plan.root_abs, &dest_name);
            let err = crate::fs::FsError::new("stat", &full, errno);
            if kind == FileKind::Dir {
                // rsync itemizes the directory as new, fails to make it, and skips its
                // contents.
                let item = Item {
                    name: self.display_name(i),
                    kind,
                    update: UpdateType::Created,
                    changes: ItemChanges {
                        new: true,
                        ..ItemChanges::default()
                    },
                    link_target: None,
                    hardlink_to: None,
                    transferred: false,
                };
                self.push_item(item);
                self.error(format!(
                    "rsync: [generator] recv_generator: mkdir \"{}\" failed: {}",
                    String::from_utf8_lossy(&full),
                    err.errno_string()
                ));
                self.pending.push_back(Pending::Message(Message {
                    kind: MessageKind::Error,
                    text: "*** Skipping any contents from this failed directory ***".to_string(),
                }));
                self.skip_dir = Some(self.entries[i].name.to_vec());
                return;
            }
            self.error(format!(
                "rsync: [generator] recv_generator: failed to stat \"{}\": {}",
                String::from_utf8_lossy(&full),
                err.errno_string()
            ));
            return;
        }
        if self.opts.existing && old.is_none() && !dest_name.is_empty() {
            if kind == FileKind::Dir {
                self.skip_dir = Some(self.entries[i].name.to_vec());
            }
            return;
        }
        if self.opts.ignore_existing
            && kind == FileKind::Dir
            && old.is_some_and(|o| o.kind() != FileKind::Dir)
        {
            // --ignore-existing keeps a non-directory where the source has a directory; like
            // rsync, the directory's mtime still lands on it at the end.
            if self.opts.times {
                let e = &self.entries[i];
                self.fixups.push(DirFixup {
                    dir_rel: dest_name.clone(),
                    attrs: Attrs {
                        mtime: Some((e.stat.mtime, e.stat.mtime_nsec)),
                        ..Attrs::default()
                    },
                    needed: true,
                });
            }
            return;
        }
        if let Some(g) = group {
            // Only a regular file waits for its group's last member (rsync transfers that
            // one and links the others to it); other kinds are made by the first member.
            let missing = old.is_none_or(|o| o.kind() != kind);
            if kind == FileKind::File && missing && !self.hard_links.is_last(g, i) {
                self.hard_links.waiting[g].push(i);
                return;
            }
            self.hard_links.leader[g] = Some(i);
        }
        match kind {
            FileKind::Dir => self.process_dir(i, &dest_name, parent, &base, old),
            FileKind::File => self.process_file(i, parent, &base, old),
            _ => self.process_other(i, parent, &base, old),
        }
    }
}

fn umask() -> u32 {
    use std::sync::OnceLock;
    static MASK: OnceLock<u32> = OnceLock::new();
    *MASK.get_or_init(|| {
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
        rustix::process::umask(old);
        old.bits()
    })
}
