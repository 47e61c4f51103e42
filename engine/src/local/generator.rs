//! The main pass: walk the sorted file list, compare with the destination, and update it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use rayon::prelude::*;

use crate::filter::FilterChain;
use crate::flist::{FileEntry, ScanError, ScanOptions, SourceRoot, compare_entries, scan_source};
use crate::fs::{Attrs, DirFd, FileKind, Stat};

use super::checksum::file_digest;
use super::deleter::{delete_extraneous, join, report_tree, source_children};
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

    /// Notes that the contents of destination directory `rel` changed (its mtime must be
    /// restored at the end).
    fn touch(&mut self, rel: &[u8]) {
        if !self.dirty.contains(rel) {
            self.dirty.insert(rel.to_vec());
        }
    }

    fn remove_existing(
        &mut self,
        dir: &DirFd,
        base: &[u8],
        old: &Stat,
        dest_name: &[u8],
        new_kind: FileKind,
    ) -> bool {
        self.touch(dir_of(dest_name));
        if old.kind() == FileKind::Dir && !(self.opts.delete.is_some() || self.opts.force) {
            // Without --delete/--force only an empty directory makes way.
            let empty = dir
                .open_subdir(base)
                .and_then(|d| d.list())
                .map(|names| names.is_empty())
                .unwrap_or(false);
            if !empty {
                let shown = String::from_utf8_lossy(dest_name).into_owned();
                self.pending.push_back(Pending::Message(Message {
                    kind: MessageKind::Info,
                    text: format!("cannot delete non-empty directory: {shown}"),
                }));
                let desc = match new_kind {
                    FileKind::File => "regular file",
                    FileKind::Dir => "directory",
                    FileKind::Symlink => "symlink",
                    FileKind::Device => "device file",
                    FileKind::Special => "special file",
                };
                self.error(format!("could not make way for new {desc}: {shown}"));
                return false;
            }
        }
        if old.kind() == FileKind::Dir {
            // rsync reports the directory's contents (not the directory itself) as deleted.
            let mut deleted: Vec<DeleteEvent> = Vec::new();
            let result = if self.opts.dry_run {
                report_tree(dir, base, dest_name, true, &mut |ev| deleted.push(ev));
                Ok(())
            } else {
                dir.remove_tree(base, &mut |rel: &[u8], kind| {
                    let name = join(dir_of(dest_name), rel);
                    deleted.push(DeleteEvent { name, kind });
                })
            };
            for ev in deleted {
                if ev.name.as_slice() != dest_name {
                    self.outcome.stats.deleted.add(ev.kind);
                    self.pending.push_back(Pending::Delete(ev));
                }
            }
            if let Err(e) = result {
                self.error(format!(
                    "rsync: [generator] delete_file: {} \"{}\" failed: {}",
                    e.op,
                    String::from_utf8_lossy(dest_name),
                    e.errno_string()
                ));
                return false;
            }
            return true;
        }
        if self.opts.dry_run {
            return true;
        }
        match dir.unlink(base) {
            Ok(()) => true,
            Err(e) => {
                self.error(format!(
                    "rsync: [generator] delete_file: {} \"{}\" failed: {}",
                    e.op,
                    String::from_utf8_lossy(dest_name),
                    e.errno_string()
                ));
                false
            }
        }
    }

    fn process_dir(
        &mut self,
        i: usize,
        dest_name: &[u8],
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let e = &e;
        let display = self.display_name(i);
        let mut item = Item {
            name: display,
            kind: FileKind::Dir,
            update: UpdateType::Unchanged,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: None,
            transferred: false,
        };
        let exists_as_dir = old.map(|o| o.kind() == FileKind::Dir).unwrap_or(false);
        if exists_as_dir {
            // rsync reports a directory's deletions before the directory itself.
            if self.opts.delete == Some(DeleteTiming::During) && self.entries[i].content_dir {
                self.delete_in(i);
            }
            let old = old.unwrap_or(e.stat);
            item.changes = self.changes(e, &old);
            let attrs = self.attrs_for(e, false, Some(&old));
            if !self.opts.dry_run {
                // Ownership and mode now; time (and mode again) once the contents are done.
                let mut now = Attrs {
                    perms: attrs.perms,
                    uid: attrs.uid,
                    gid: attrs.gid,
                    mtime: None,
                };
                self.trim_attrs(&mut now, &old);
                let r = if now == Attrs::default() {
                    Ok(())
                } else {
                    match &parent {
                        Some(p) => p.apply_attrs(base, FileKind::Dir, &now),
                        None => match &self.root_dir {
                            Some(d) => DirFd::apply_attrs_fd(d.fd(), b".", &now),
                            None => Ok(()),
                        },
                    }
                };
                if let Err(err) = r {
                    self.error(format!("rsync: [generator] {err}"));
                }
            }
            let needed = item.changes.any();
            self.fixups.push(DirFixup {
                dir_rel: dest_name.to_vec(),
                attrs,
                needed,
            });
            self.push_item(item);
            // A directory whose mtime is still the one we set last time has had nothing
            // created in it since, so it holds no leftover temp file.
            if !self.opts.dry_run
                && self.opts.delete.is_none()
                && self.entries[i].content_dir
                && old.mtime != e.stat.mtime
            {
                self.remove_stale_temps(i, dest_name);
            }
        } else {
            if let (Some(old), Some(p)) = (old, &parent)
                && !self.remove_existing(p, base, &old, dest_name, FileKind::Dir)
            {
                return;
            }
            item.update = UpdateType::Created;
            item.changes.new = true;
            let attrs = self.attrs_for(e, true, None);
            self.outcome.stats.created.add(FileKind::Dir);
            if self.opts.dry_run || parent.is_none() {
                self.missing_dirs.insert(dest_name.to_vec());
                if !self.opts.dry_run && dest_name.is_empty() {
                    // The root itself always exists once resolved.
                    self.missing_dirs.remove(dest_name);
                }
            } else if let Some(p) = &parent {
                let mode = attrs.perms.unwrap_or(0o755) | 0o700;
                if let Err(err) = p.mkdir(base, mode & 0o7777) {
                    self.error(format!(
                        "rsync: [generator] mkdir \"{}\" failed: {}",
                        String::from_utf8_lossy(dest_name),
                        err.errno_string()
                    ));
                    self.missing_dirs.insert(dest_name.to_vec());
                    return;
                }
                if attrs.uid.is_some() || attrs.gid.is_some() {
                    let own = Attrs {
                        uid: attrs.uid,
                        gid: attrs.gid,
                        ..Attrs::default()
                    };
                    if let Err(err) = p.apply_attrs(base, FileKind::Dir, &own) {
                        self.error(format!("rsync: [generator] {err}"));
                    }
                }
            }
            self.fixups.push(DirFixup {
                dir_rel: dest_name.to_vec(),
                attrs,
                needed: true,
            });
            self.touch(dir_of(dest_name));
            self.push_item(item);
        }
    }

    /// Removes temp files (`.name.XXXXXX`) an interrupted earlier run left next to `name`s of
    /// this directory. (With `--delete` they go as extraneous files instead.)
    fn remove_stale_temps(&mut self, i: usize, dest_rel: &[u8]) {
        self.touch(dest_rel);
        let Some(root) = &self.plan.root else { return };
        let Ok(dir) = root.open_dir(dest_rel) else {
            return;
        };
        let Ok(names) = dir.list() else { return };
        if !names
            .iter()
            .any(|n| n.first() == Some(&b'.') && n.len() > 8)
        {
            return;
        }
        let keep = source_children(&self.entries, i);
        for n in names {
            if n.first() != Some(&b'.') || keep.contains(&n) || n.len() < 9 {
                continue;
            }
            let base = &n[1..n.len() - 7];
            if keep.contains(base) && crate::fs::is_temp_name_for(&n, base) {
                let _ = dir.unlink(&n);
            }
        }
    }

    /// The filter rules in force in destination directory `rel`: like rsync's receiver, the
    /// per-directory merge files are read from the destination.
    fn dest_chain(&self, rel: &[u8]) -> FilterChain {
        if !self.filters.has_dir_merge() {
            return self.filters.clone();
        }
        let Some(root) = &self.plan.root else {
            return self.filters.clone();
        };
        let mut chain = match root.open_dir(b"") {
            Ok(d) => self.filters.for_dir(&d, b""),
            Err(_) => return self.filters.clone(),
        };
        let mut prefix: Vec<u8> = Vec::new();
        for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            match root.open_dir(&prefix) {
                Ok(d) => chain = chain.for_dir(&d, &prefix),
                Err(_) => break,
            }
        }
        chain
    }

    /// Deletes extraneous entries in the destination directory of directory entry `i`.
    fn delete_in(&mut self, i: usize) {
        let dest_rel = self.dest_name(i);
        self.touch(&dest_rel);
        if self.missing_dirs.contains(&dest_rel) {
            return;
        }
        let dir = match &self.plan.root {
            Some(r) => match r.open_dir(&dest_rel) {
                Ok(d) => d,
                Err(_) => return,
            },
            None => return,
        };
        let keep = source_children(&self.entries, i);
        let mut events = Vec::new();
        let mut errors = Vec::new();
        let chain = self.dest_chain(&dest_rel);
        delete_extraneous(
            &dir,
            &dest_rel,
            &keep,
            &chain,
            self.opts.dry_run,
            &mut |ev| events.push(ev),
            &mut |e| errors.push(e),
        );
        for ev in events {
            self.outcome.stats.deleted.add(ev.kind);
            self.pending.push_back(Pending::Delete(ev));
        }
        for e in errors {
            self.error(format!("rsync: [generator] {e}"));
        }
    }

    fn process_file(
        &mut self,
        i: usize,
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let display = self.display_name(i);
        let old_file = old.filter(|o| o.kind() == FileKind::File);
        if self.opts.existing && old.is_none() {
            return;
        }
        if self.opts.ignore_existing && old.is_some() {
            return;
        }
        if self.opts.update
            && let Some(o) = &old_file
            && o.mtime > e.stat.mtime
        {
            return;
        }
        let mut item = Item {
            name: display,
            kind: FileKind::File,
            update: UpdateType::Received,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: None,
            transferred: true,
        };
        let up_to_date = match &old_file {
            Some(o) if o.size == e.stat.size => {
                if self.opts.checksum {
                    let same = match self.prefetched_same.remove(&i) {
                        Some(same) => same,
                        None => self.same_content(&e, parent.as_deref(), base),
                    };
                    if !same {
                        item.changes.checksum = true;
                    }
                    same
                } else if self.opts.size_only {
                    true
                } else if self.opts.ignore_times {
                    false
                } else {
                    o.mtime == e.stat.mtime
                }
            }
            _ => false,
        };
        if up_to_date {
            let Some(o) = old_file else { return };
            item.update = UpdateType::Unchanged;
            item.transferred = false;
            item.changes = self.changes(&e, &o);
            let mut attrs = self.attrs_for(&e, false, Some(&o));
            let ns_differ = self.opts.checksum && o.mtime_nsec != e.stat.mtime_nsec;
            if !item.changes.time && !ns_differ {
                attrs.mtime = None;
            }
            if !item.changes.perms {
                attrs.perms = None;
            }
            if !item.changes.owner {
                attrs.uid = None;
            }
            if !item.changes.group {
                attrs.gid = None;
            }
            if !self.opts.dry_run
                && attrs != Attrs::default()
                && let Some(p) = &parent
                && let Err(err) = p.apply_attrs(base, FileKind::File, &attrs)
            {
                self.error(format!("rsync: [generator] {err}"));
            }
            self.push_item(item);
            return;
        }
        match (&old_file, old) {
            (Some(o), _) => {
                let checksum = item.changes.checksum;
                item.changes = self.changes(&e, o);
                item.changes.checksum = checksum || self.opts.checksum;
                item.changes.time_now = !self.opts.times;
            }
            (None, Some(o)) => {
                // Another kind of object is in the way.
                if let Some(p) = &parent {
                    let dest_name = self.dest_name(i);
                    if !self.remove_existing(p, base, &o, &dest_name, FileKind::File) {
                        return;
                    }
                }
                item.changes.new = true;
                self.outcome.stats.created.add(FileKind::File);
            }
            (None, None) => {
                item.changes.new = true;
                self.outcome.stats.created.add(FileKind::File);
            }
        }
        self.outcome.stats.transferred_files += 1;
        self.outcome.stats.transferred_size += e.stat.size;
        self.transferred.insert(i);
        if self.opts.dry_run || parent.is_none() {
            self.pending.push_back(Pending::Item(item));
            return;
        }
        let Some(parent) = parent else { return };
        let Some(src_base) = self.src_bases.get(e.source as usize).cloned().flatten() else {
            self.error(format!(
                "rsync: [sender] send_files failed to open \"{}\"",
                String::from_utf8_lossy(&e.name)
            ));
            return;
        };
        let attrs = self.attrs_for(&e, item.changes.new, old_file.as_ref());
        let job = CopyJob {
            source: e.source,
            src_base,
            src_name: e.name.clone(),
            dest_dir: parent,
            dest_name: base.to_vec(),
            size: e.stat.size,
            attrs,
            inplace: self.opts.inplace && old_file.is_some(),
            delta: self.opts.delta && old_file.is_some(),
            partial: self.opts.partial,
            cancel: self.opts.cancel.clone(),
            progress: self
                .opts
                .progress
                .then(|| Arc::new(std::sync::atomic::AtomicU64::new(0))),
        };
        self.spawn_copy(i, job, item);
    }

    fn same_content(&self, e: &FileEntry, parent: Option<&DirFd>, base: &[u8]) -> bool {
        let Some(src_base) = self.src_bases.get(e.source as usize).cloned().flatten() else {
            return false;
        };
        let Some(parent) = parent else { return false };
        let (a, b) = rayon::join(
            || {
                src_base
                    .open_read_beneath(&e.name)
                    .ok()
                    .and_then(|fd| file_digest(fd).ok())
            },
            || {
                parent
                    .open_read(base)
                    .ok()
                    .and_then(|fd| file_digest(fd).ok())
            },
        );
        matches!((a, b), (Some(x), Some(y)) if x == y)
    }

    fn process_other(
        &mut self,
        i: usize,
        parent: Option<Arc<DirFd>>,
        base: &[u8],
        old: Option<Stat>,
    ) {
        let e = self.entries[i].clone();
        let kind = e.kind();
        let mut item = Item {
            name: self.display_name(i),
            kind,
            update: UpdateType::Created,
            changes: ItemChanges::default(),
            link_target: e.link_target.as_ref().map(|t| t.to_vec()),
            hardlink_to: None,
            transferred: false,
        };
        let same = match old {
            Some(o) if o.kind() == kind => match kind {
                FileKind::Symlink => parent
                    .as_ref()
                    .and_then(|p| p.readlink(base).ok())
                    .is_some_and(|t| Some(t.as_slice()) == e.link_target.as_deref()),
                FileKind::Device => {
                    (o.mode & 0o170000) == (e.stat.mode & 0o170000) && o.rdev == e.stat.rdev
                }
                _ => (o.mode & 0o170000) == (e.stat.mode & 0o170000),
            },
            _ => false,
        };
        if self.opts.existing && old.is_none() {
            return;
        }
        if self.opts.ignore_existing && old.is_some() {
            return;
        }
        if same {
            let Some(o) = old else { return };
            item.update = UpdateType::Unchanged;
            item.changes = self.changes(&e, &o);
            let mut attrs = self.attrs_for(&e, false, Some(&o));
            if !item.changes.time {
                attrs.mtime = None;
            }
            if !item.changes.perms {
                attrs.perms = None;
            }
            if !item.changes.owner {
                attrs.uid = None;
            }
            if !item.changes.group {
                attrs.gid = None;
            }
            if !self.opts.dry_run
                && attrs != Attrs::default()
                && let Some(p) = &parent
                && let Err(err) = p.apply_attrs(base, kind, &attrs)
            {
                self.error(format!("rsync: [generator] {err}"));
            }
            self.push_item(item);
            return;
        }
        let dest_name = self.dest_name(i);
        match old {
            Some(o) if o.kind() == kind => {
                item.changes = self.changes(&e, &o);
                item.changes.checksum = true;
                item.changes.size = false;
                item.changes.time_now = !self.opts.times;
            }
            _ => {
                item.changes.new = true;
                self.outcome.stats.created.add(kind);
            }
        }
        if self.opts.dry_run {
            self.push_item(item);
            return;
        }
        let Some(p) = parent else {
            self.push_item(item);
            return;
        };
        if let Some(o) = old
            && !self.remove_existing(&p, base, &o, &dest_name, kind)
        {
            return;
        }
        self.touch(dir_of(&dest_name));
        let made = match kind {
            FileKind::Symlink => p.symlink(e.link_target.as_deref().unwrap_or(b""), base),
            _ => p.mknod(base, e.stat.mode, e.stat.rdev),
        };
        if let Err(err) = made {
            self.error(format!(
                "rsync: [receiver] {} \"{}\" failed: {}",
                err.op,
                String::from_utf8_lossy(&dest_name),
                err.errno_string()
            ));
            return;
        }
        let mut attrs = self.attrs_for(&e, true, None);
        if let Ok(now) = p.lstat(base) {
            self.trim_attrs(&mut attrs, &now);
        }
        if let Err(err) = p.apply_attrs(base, kind, &attrs) {
            self.error(format!("rsync: [receiver] {err}"));
        }
        self.push_item(item);
    }

    /// Links follower `i` to its group leader (after the leader's copy is done).
    fn make_hard_link(&mut self, i: usize, leader: usize) {
        self.touch(dir_of(&self.dest_name(i)));
        let e = self.entries[i].clone();
        let dest_name = self.dest_name(i);
        let leader_name = self.dest_name(leader);
        let mut item = Item {
            name: self.display_name(i),
            kind: e.kind(),
            update: UpdateType::HardLink,
            changes: ItemChanges::default(),
            link_target: None,
            hardlink_to: Some(self.entries[leader].name.to_vec()),
            transferred: false,
        };
        let parent = self.dest_dir(dir_of(&dest_name));
        let leader_dir = self
            .plan
            .root
            .as_ref()
            .and_then(|r| r.open_dir(dir_of(&leader_name)).ok());
        let base = base_of(&dest_name).to_vec();
        let old = parent.as_ref().and_then(|p| p.lstat(&base).ok());
        let leader_st = leader_dir
            .as_ref()
            .and_then(|d| d.lstat(base_of(&leader_name)).ok());
        let leader_replaced = self.opts.dry_run && self.transferred.contains(&leader);
        if let (Some(o), Some(l)) = (old, leader_st)
            && !leader_replaced
            && o.dev == l.dev
            && o.ino == l.ino
        {
            if self.opts.report_unchanged {
                item.hardlink_to = None;
                item.link_target = e.link_target.as_ref().map(|t| t.to_vec());
                self.push_item(item);
            }
            return;
        }
        match old {
            Some(o) if o.kind() == e.kind() => {
                item.changes = self.changes(&e, &o);
                if self.opts.dry_run {
                    // rsync's dry run names no link target for an existing file.
                    item.hardlink_to = None;
                    item.link_target = e.link_target.as_ref().map(|t| t.to_vec());
                }
            }
            _ => {
                item.changes.new = true;
                self.outcome.stats.created.add(e.kind());
            }
        }
        if self.opts.dry_run {
            self.push_item(item);
            return;
        }
        let (Some(p), Some(ld)) = (parent, leader_dir) else {
            self.push_item(item);
            return;
        };
        if let Some(o) = old
            && !self.remove_existing(&p, &base, &o, &dest_name, FileKind::File)
        {
            return;
        }
        if let Err(err) = p.link_from(&ld, base_of(&leader_name), &base) {
            self.error(format!(
                "rsync: [receiver] link \"{}\" => {} failed: {}",
                String::from_utf8_lossy(&dest_name),
                String::from_utf8_lossy(&leader_name),
                err.errno_string()
            ));
            return;
        }
        self.push_item(item);
    }

    /// Starts a copy on the thread pool; its report waits in `pending`.
    fn spawn_copy(&mut self, index: usize, job: CopyJob, item: Item) {
        self.touch(dir_of(&self.dest_name(index)));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending_jobs += 1;
        self.pending_bytes += job.size;
        let meta = CopyMeta {
            seq,
            index,
            progress: job.progress.clone(),
            announced: false,
            size: job.size,
            source: job.source,
            src_name: job.src_name.clone(),
        };
        let tx = self.result_tx.clone();
        rayon::spawn(move || {
            let r = run(&job);
            drop(job);
            let _ = tx.send((seq, r));
        });
        self.pending.push_back(Pending::Copy(meta, item));
    }

    /// Reports everything pending, waiting for all copies.
    fn flush(&mut self, sink: &mut dyn SyncSink) {
        self.drain(sink, true);
    }

    /// Reports pending output in order, up to the first copy still running (or, with
    /// `block`, waiting for every copy).
    fn drain(&mut self, sink: &mut dyn SyncSink, block: bool) {
        loop {
            let seq = match self.pending.front() {
                None => return,
                Some(Pending::Copy(meta, _)) => meta.seq,
                Some(_) => {
                    if let Some(p) = self.pending.pop_front() {
                        self.emit(p, None, sink);
                    }
                    continue;
                }
            };
            if !self.results.contains_key(&seq) {
                while let Ok((s, r)) = self.result_rx.try_recv() {
                    self.results.insert(s, r);
                }
            }
            if !self.results.contains_key(&seq) {
                if !block {
                    return;
                }
                if !self.wait_for_result(sink) {
                    return;
                }
                continue;
            }
            let r = self.results.remove(&seq);
            if let Some(p) = self.pending.pop_front() {
                self.emit(p, r, sink);
            }
        }
    }

    /// Waits for the next copy result; meanwhile, with `--progress`, announces the oldest
    /// running copy and reports how far it got. Returns false if no result can come.
    fn wait_for_result(&mut self, sink: &mut dyn SyncSink) -> bool {
        loop {
            let timeout = if self.opts.progress {
                std::time::Duration::from_millis(500)
            } else {
                std::time::Duration::from_secs(3600)
            };
            match self.result_rx.recv_timeout(timeout) {
                Ok((s, r)) => {
                    self.results.insert(s, r);
                    return true;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.opts.progress {
                        self.interim_progress(sink);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Reports the progress of the copy at the front of the queue (naming it first).
    fn interim_progress(&mut self, sink: &mut dyn SyncSink) {
        let total = self.entries.len() as u64;
        let Some(Pending::Copy(meta, item)) = self.pending.front_mut() else {
            return;
        };
        if !meta.announced {
            meta.announced = true;
            sink.item(item);
        }
        let done = meta
            .progress
            .as_ref()
            .map_or(0, |p| p.load(std::sync::atomic::Ordering::Relaxed));
        sink.progress(&ProgressEvent {
            name: item.name.clone(),
            done,
            size: meta.size,
            finished: false,
            to_check: total - meta.index as u64 - 1,
            total,
        });
    }

    /// Waits for the oldest running copy and reports up to it.
    fn drain_one(&mut self, sink: &mut dyn SyncSink) {
        let before = self.pending_jobs;
        while self.pending_jobs == before && !self.pending.is_empty() {
            let front_is_copy = matches!(self.pending.front(), Some(Pending::Copy(..)));
            if front_is_copy {
                let seq = match self.pending.front() {
                    Some(Pending::Copy(meta, _)) => meta.seq,
                    _ => return,
                };
                while !self.results.contains_key(&seq) {
                    if !self.wait_for_result(sink) {
                        return;
                    }
                }
            }
            self.drain(sink, false);
        }
    }

    fn emit(&mut self, p: Pending, r: Option<CopyResult>, sink: &mut dyn SyncSink) {
        match p {
            Pending::Item(item) => sink.item(&item),
            Pending::Delete(ev) => sink.deleted(&ev),
            Pending::Message(m) => sink.message(&m),
            Pending::Copy(meta, item) => {
                self.pending_jobs -= 1;
                self.pending_bytes -= meta.size;
                match r {
                    Some(Ok(copied)) => {
                        self.outcome.stats.literal_data += copied.literal;
                        self.outcome.stats.matched_data += copied.matched;
                        let n = copied.literal + copied.matched;
                        if !meta.announced {
                            sink.item(&item);
                        }
                        if self.opts.progress {
                            sink.progress(&ProgressEvent {
                                name: item.name.clone(),
                                done: n,
                                size: meta.size,
                                finished: true,
                                to_check: (self.entries.len() - meta.index - 1) as u64,
                                total: self.entries.len() as u64,
                            });
                        }
                    }
                    Some(Err(CopyError::Vanished)) => {
                        self.outcome.vanished = true;
                        let base = self
                            .src_abs
                            .get(meta.source as usize)
                            .cloned()
                            .unwrap_or_default();
                        sink.message(&io_message(format!(
                            "file has vanished: \"{}\"",
                            String::from_utf8_lossy(&join(&base, &meta.src_name))
                        )));
                    }
                    Some(Err(CopyError::Interrupted)) => {
                        self.outcome.interrupted = true;
                    }
                    Some(Err(CopyError::Io(err))) => {
                        self.outcome.partial = true;
                        sink.message(&io_message(format!("rsync: [receiver] {err}")));
                    }
                    None => {}
                }
            }
        }
    }

    /// With `-c`, hashes (in parallel) the source and destination of every regular file in
    /// the window whose destination is a regular file of the same size.
    fn prefetch_checksums(&mut self, start: usize, end: usize) {
        self.prefetched_same.clear();
        let candidates: Vec<usize> = (start..end)
            .filter(|&i| {
                let e = &self.entries[i];
                e.kind() == FileKind::File
                    && matches!(self.prefetched.get(&i), Some(Some(st))
                        if st.kind() == FileKind::File && st.size == e.stat.size)
            })
            .collect();
        let Some(root) = self.plan.root.as_ref() else {
            return;
        };
        let entries = &self.entries;
        let bases = &self.src_bases;
        let mut groups: Vec<(&[u8], Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&[u8], usize> = HashMap::new();
        for &i in &candidates {
            let parent = dir_of(&entries[i].name);
            match group_of.get(parent) {
                Some(&g) => groups[g].1.push(i),
                None => {
                    group_of.insert(parent, groups.len());
                    groups.push((parent, vec![i]));
                }
            }
        }
        let results: Vec<(usize, bool)> = groups
            .par_iter()
            .flat_map(|(parent, idxs)| {
                let dir = root.open_dir(parent).ok();
                idxs.par_iter()
                    .map(|&i| {
                        let e = &entries[i];
                        let src = bases
                            .get(e.source as usize)
                            .and_then(|b| b.as_ref())
                            .and_then(|b| b.open_read_beneath(&e.name).ok())
                            .and_then(|fd| file_digest(fd).ok());
                        let dst = dir
                            .as_ref()
                            .and_then(|d| d.open_read(base_of(&e.name)).ok())
                            .and_then(|fd| file_digest(fd).ok());
                        (i, matches!((src, dst), (Some(a), Some(b)) if a == b))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.prefetched_same.extend(results);
    }

    /// `lstat`s, in parallel, the destinations of the entries from `start` on (one window),
    /// one destination directory per task.
    fn prefetch(&mut self, start: usize) {
        let end = (start + PREFETCH_WINDOW).min(self.entries.len());
        self.prefetched.clear();
        self.prefetched_until = end;
        if self.plan.rename.is_some() || self.plan.root.is_none() {
            return;
        }
        let mut groups: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&[u8], usize> = HashMap::new();
        for i in start..end {
            let name = &self.entries[i].name;
            if &**name == b"." {
                continue;
            }
            let parent = dir_of(name);
            match group_of.get(parent) {
                Some(&g) => groups[g].1.push(i),
                None => {
                    group_of.insert(parent, groups.len());
                    groups.push((parent.to_vec(), vec![i]));
                }
            }
        }
        drop(group_of);
        let root = self.plan.root.as_ref();
        let entries = &self.entries;
        let missing = &self.missing_dirs;
        let found: Vec<Vec<(usize, Option<Stat>)>> = groups
            .par_iter()
            .map(|(parent, idxs)| {
                let dir = if missing.contains(parent) {
                    None
                } else {
                    root.and_then(|r| r.open_dir(parent).ok())
                };
                idxs.iter()
                    .map(|&i| {
                        let st = dir
                            .as_ref()
                            .and_then(|d| d.lstat(base_of(&entries[i].name)).ok());
                        (i, st)
                    })
                    .collect()
            })
            .collect();
        for group in found {
            for (i, st) in group {
                self.prefetched.insert(i, st);
            }
        }
        if self.opts.checksum {
            self.prefetch_checksums(start, end);
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
