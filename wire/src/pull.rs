//! The client generator + receiver (pull) as a sans-IO state machine: filter list out,
//! file list in, block-sum requests out, delta tokens in, files rebuilt via temp file +
//! rename, phases, statistics, goodbye.

use rdsync_engine::write_behind::OutputFile;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rdsync_engine::checksum::FileHasher;
use rdsync_engine::fs::{AtomicFile, DirFd, Stat};
use rdsync_engine::layout::{BlockLayout, LayoutParams};
use rdsync_engine::patch::{PatchError, Patcher};
use rdsync_engine::signature::Signature;

use crate::codec::{NDX_DEL_STATS, NDX_DONE, NDX_FLIST_EOF, ReadCursor};
use crate::compress::{CompressedTokenReader, ReadToken, decode_compressed_item};
use crate::dest::{
    Destination, Located, OwnerMap, apply_attrs, apply_file_attrs, create_temp, make_special,
    open_in_place, remove_existing,
};
use crate::error::WireError;
use crate::filter_list::encode_client_filters;
use crate::flist::{
    FileEntry, FileListConfig, FileListDecoder, FileListItem, HardLinkInfo, IdList, IdNames,
    clean_duplicates, compare_names, decode_id_list_item, push_id_item,
};
use crate::handshake::{CF_INC_RECURSE, ClientHandshake, SessionParams};
use crate::item_flags::*;
use crate::options::{DeleteWhen, Direction, TransferOptions};
use crate::pull_lists::IncomingLists;
use crate::push::{ItemAttrs, file_checksum, try_read_item_attrs, write_item_attrs};
use crate::role::{OutputSink, Progress, RoleMachine, need};
use crate::session::Checksums;
use crate::stats::TransferStats;
use crate::stream::ProtocolStream;
use crate::sum_head::SumHead;
use crate::tokens::{Token, decode_token};

/// What we asked the sender for, per index.
#[derive(Debug, Clone)]
struct Request {
    head: SumHead,
    layout: BlockLayout,
    basis: Option<PathBuf>,
}

/// An owned token.
enum OwnedToken {
    Literal(Vec<u8>),
    Copy(u32),
    End,
}

/// A temp file in a destination directory held open: renamed or removed relative to
/// that directory, never by walking a path again.
struct TempAt {
    dir: Arc<DirFd>,
    /// The entry's name in `dir`.
    leaf: Vec<u8>,
    /// The temp file's name in `dir`.
    temp: Vec<u8>,
}

/// Renames the temp file over its target (`renameat` in the held directory, or by path).
fn commit_temp(at: Option<&TempAt>, tmp_path: &Path, path: &Path) -> std::io::Result<()> {
    match at {
        Some(t) => t.dir.rename(&t.temp, &t.leaf).map_err(fs_io),
        None => std::fs::rename(tmp_path, path),
    }
}

/// Removes a temp file (errors ignored: it may be gone already).
fn discard_temp(at: Option<&TempAt>, tmp_path: &Path) {
    match at {
        Some(t) => {
            let _ = t.dir.unlink(&t.temp);
        }
        None => {
            let _ = std::fs::remove_file(tmp_path);
        }
    }
}

/// An engine file-system error as an `io::Error` (its errno).
fn fs_io(e: rdsync_engine::fs::FsError) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.errno.raw_os_error())
}

/// Output of the generator is flushed whenever this much is pending.
const GENERATOR_FLUSH: usize = 256 * 1024;

/// The file being received.
struct ActiveFile {
    index: usize,
    entry: FileEntry,
    path: PathBuf,
    tmp_path: PathBuf,
    /// The temp file by its directory fd (None: by path, or written in place).
    temp_at: Option<TempAt>,
    patcher: Patcher<File, OutputFile>,
    layout: BlockLayout,
    history_basis: Option<File>,
    written: u64,
    limit: u64,
    /// Written straight into the destination file (`--inplace`): no temp file.
    inplace: bool,
    /// Literal data arrived (rsync keeps a `--partial` file only then).
    got_literal: bool,
}

/// Where the pull is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullStep {
    Handshake,
    FileList,
    UidList,
    GidList,
    IoError,
    Prepare,
    Generate {
        next: usize,
    },
    ReadNdx,
    /// Incremental recursion: the list of the directory at `slot` is arriving.
    SubList {
        slot: usize,
    },
    Attrs {
        ndx: i32,
    },
    SumHead {
        index: usize,
    },
    Tokens,
    FileChecksum,
    Stats,
    Echo,
    Finish,
    Done,
}

/// Where the generator is with incremental lists (`generate_files` with
/// `inc_recurse`): list after list, each directory's own list right after the
/// directory was fully handled in the list before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IncGen {
    /// Generating list `list`: its parent directory first (`gap`), then slot `next`.
    List { list: usize, gap: bool, next: usize },
    /// List `list` is generated: waiting for the next list or the end of the lists.
    Wait { list: usize },
    /// Every list is generated: each gets its `NDX_DONE` once nothing of it is pending.
    Drain,
    /// Every list is finished.
    Done,
}

/// The pulling client as a sans-IO state machine.
pub struct PullMachine {
    opts: TransferOptions,
    sources: Vec<String>,
    dest: PathBuf,
    step: PullStep,
    handshake: ClientHandshake,
    params: Option<SessionParams>,
    config: Option<FileListConfig>,
    decoder: Option<FileListDecoder>,
    io_error: i32,
    uid_names: IdList,
    gid_names: IdList,
    st: Option<PullState>,
    tx_to_sorted: Vec<usize>,
    active_file: Option<ActiveFile>,
    dones: u32,
    phase: u32,
    /// Statistics: the server's byte counts, sizes and list times with our own
    /// counters (files, created, deleted, transferred, literal, matched, list size).
    pub stats: TransferStats,
    /// The server sent its statistics.
    pub got_server_stats: bool,
    /// Input bytes fed when the file list began (rsync's `start_read`).
    flist_started_at: u64,
    /// Decoded-byte count where the incoming sub-list began.
    sub_list_started_at: u64,
    /// Names of files whose data were received.
    pub transferred: Vec<String>,
    /// Incremental recursion (`CF_INC_RECURSE`): the lists received so far.
    inc: Option<IncomingLists>,
    /// Incremental recursion: where the generator is.
    inc_gen: IncGen,
    /// The file being received was requested before (a redo).
    redoing: bool,
}

impl std::fmt::Debug for PullMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullMachine")
            .field("step", &self.step)
            .finish()
    }
}

struct PullState {
    opts: TransferOptions,
    proto: u32,
    sums: Checksums,
    entries: Vec<FileEntry>,
    active: Vec<bool>,
    destination: Destination,
    owners: OwnerMap,
    requests: BTreeMap<usize, Request>,
    reader: Option<CompressedTokenReader>,
    redo: Vec<usize>,
    failed: bool,
    /// The counters rsync's receiving client keeps for `--stats`.
    counts: TransferStats,
    /// Log view of each sorted entry.
    infos: Vec<crate::events::ItemInfo>,
    /// Total size of the list's files and symlinks (progress lines).
    total_size: u64,
    /// Each sorted entry's number in rsync's incremental-recursion order (`to-chk`).
    numbering: Vec<u64>,
    /// Indexes whose data were requested before (a later request is a redo).
    sent_once: HashSet<usize>,
    /// We run as root (owner changes are itemized only then, as rsync).
    am_root: bool,
    /// We created the destination directory (its `.` is itemized as new).
    created_root: bool,
    /// `--delete`: what goes, and when (`crate::delete`).
    deleter: Option<crate::delete::PullDeleter>,
    /// "IO error encountered -- skipping file deletion" was said.
    warned_io_error: bool,
    /// Indexes "requested" by a dry run (ndx and iflags only; the echo has no data).
    dry_requests: BTreeSet<usize>,
    /// Hard-linked regular files: each member's chosen leader.
    hl_leader: HashMap<usize, usize>,
    /// Members linked while generating (not again at the end).
    hl_linked: HashSet<usize>,
    /// Hard-link targets of itemize records sent without their name: the echo is
    /// logged with it (`ITEM_XNAME_FOLLOWS`).
    hl_echo_xname: HashMap<usize, Vec<u8>>,
    /// Incremental recursion was negotiated: entries are numbered list after list, with
    /// a gap before each list naming its parent directory.
    inc: bool,
    /// Incremental recursion: each gap slot that names a directory → that directory's
    /// own slot (the gap holds a copy of its entry).
    gaps: HashMap<usize, usize>,
    /// Incremental recursion: directories created early, while their parent's list was
    /// generated (rsync's `FLAG_DIR_CREATED`): itemized as new when handled in full.
    dir_created: HashSet<usize>,
    /// Incremental recursion, `-H`: each hard-link group (the index of its first
    /// member) → the member the others are linked to.
    hl_groups: HashMap<i32, usize>,
    /// Transmission index → slot, over all lists (hard-link references).
    tx_to_slot: Vec<usize>,
    /// Entries received, gaps not counted (rsync's `stats.num_files`).
    listed: u64,
}

impl PullMachine {
    /// A pull of `sources` (as given to the server) into `dest`.
    pub fn new(opts: &TransferOptions, sources: &[String], dest: &Path) -> Self {
        PullMachine {
            opts: opts.clone(),
            sources: sources.to_vec(),
            dest: dest.to_path_buf(),
            step: PullStep::Handshake,
            handshake: ClientHandshake::new(opts)
                .offering_inc_recurse(opts.offers_inc_recurse(Direction::Pull)),
            params: None,
            config: None,
            decoder: None,
            io_error: 0,
            uid_names: Vec::new(),
            gid_names: Vec::new(),
            st: None,
            tx_to_sorted: Vec::new(),
            active_file: None,
            dones: 0,
            phase: 0,
            stats: TransferStats::default(),
            got_server_stats: false,
            flist_started_at: 0,
            sub_list_started_at: 0,
            transferred: Vec::new(),
            inc: None,
            inc_gen: IncGen::Done,
            redoing: false,
        }
    }

    /// How many file lists arrived: one without incremental recursion (0 if the
    /// session ended before), one per directory plus the first with it.
    pub fn lists_received(&self) -> usize {
        match &self.inc {
            Some(lists) => lists.count(),
            None => usize::from(self.st.as_ref().is_some_and(|st| !st.entries.is_empty())),
        }
    }

    /// The negotiated parameters, once the handshake is done.
    pub fn params(&self) -> Option<&SessionParams> {
        self.params.as_ref()
    }

    /// The statistics rsync's receiving client prints: the server's byte counts, total
    /// size and list times (our own byte counts when the server sent none) with our
    /// counters.
    pub fn final_stats(&self, sent: i64, received: i64) -> TransferStats {
        let mut out = self.st.as_ref().map(|st| st.counts).unwrap_or_default();
        if self.got_server_stats {
            out.bytes_sent = self.stats.bytes_sent;
            out.bytes_received = self.stats.bytes_received;
            out.total_size = self.stats.total_size;
            out.flist_build_ms = self.stats.flist_build_ms;
            out.flist_xfer_ms = self.stats.flist_xfer_ms;
        } else {
            out.bytes_sent = sent;
            out.bytes_received = received;
        }
        out
    }

    fn state(&mut self) -> Result<&mut PullState, WireError> {
        self.st
            .as_mut()
            .ok_or_else(|| WireError::protocol("pull state used before the file list"))
    }

    fn proto(&self) -> u32 {
        self.params.as_ref().map_or(0, |p| p.protocol)
    }

    /// Decodes the next item of the file list being received, if it has arrived whole.
    fn read_list_item(
        &mut self,
        s: &mut ProtocolStream,
    ) -> Result<Option<FileListItem>, WireError> {
        let decoder = self
            .decoder
            .as_mut()
            .ok_or_else(|| WireError::protocol("no decoder"))?;
        s.try_read(&mut |c| decoder.decode(c))
    }

    fn step(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<Progress, WireError> {
        loop {
            match self.step {
                PullStep::Handshake => {
                    let Some(params) = self.handshake.advance(s)? else {
                        return Ok(Progress::NeedInput);
                    };
                    let sums = Checksums::new(&params, &self.opts)?;
                    s.events.emit(crate::events::TransferEvent::Started {
                        protocol: params.protocol,
                        preserve_mtimes: self.opts.times,
                        receiver_symlink_times: true,
                    });
                    let config =
                        FileListConfig::new(&params, &self.opts, sums.flist_algorithm.digest_len());
                    let mut filters = Vec::new();
                    encode_client_filters(&mut filters, &self.opts, params.protocol, false)?;
                    s.write(&filters);
                    let inc = params.compat_flags & CF_INC_RECURSE != 0;
                    let mut decoder = FileListDecoder::new(config);
                    if inc {
                        // The first list starts at index 1 (`flist_new`).
                        decoder.start_list(1);
                        self.inc = Some(IncomingLists::new());
                    }
                    self.decoder = Some(decoder);
                    self.config = Some(config);
                    self.st = Some(PullState {
                        opts: self.opts.clone(),
                        proto: params.protocol,
                        sums,
                        entries: Vec::new(),
                        active: Vec::new(),
                        destination: Destination::placeholder(),
                        owners: OwnerMap::default(),
                        requests: BTreeMap::new(),
                        reader: match params.compression {
                            Some(m) => Some(CompressedTokenReader::new(m, params.protocol)?),
                            None => None,
                        },
                        redo: Vec::new(),
                        failed: false,
                        counts: TransferStats::default(),
                        infos: Vec::new(),
                        total_size: 0,
                        numbering: Vec::new(),
                        sent_once: HashSet::new(),
                        am_root: false,
                        created_root: false,
                        deleter: None,
                        warned_io_error: false,
                        dry_requests: BTreeSet::new(),
                        hl_leader: HashMap::new(),
                        hl_linked: HashSet::new(),
                        hl_echo_xname: HashMap::new(),
                        inc,
                        gaps: HashMap::new(),
                        dir_created: HashSet::new(),
                        hl_groups: HashMap::new(),
                        tx_to_slot: Vec::new(),
                        listed: 0,
                    });
                    self.flist_started_at = s.bytes_fed;
                    self.params = Some(params);
                    self.step = PullStep::FileList;
                    return Ok(Progress::Flush);
                }
                PullStep::FileList => {
                    match need!(self.read_list_item(s)) {
                        FileListItem::Entry(_) => {}
                        FileListItem::End { io_error } => {
                            self.io_error |= io_error;
                            // With incremental recursion names travel inline: no id lists.
                            self.step = if self.inc.is_some() {
                                PullStep::IoError
                            } else {
                                PullStep::UidList
                            };
                        }
                    }
                }
                PullStep::UidList => {
                    if !self.opts.numeric_ids && self.opts.owner {
                        let (proto, id0) = (
                            self.proto(),
                            self.params.as_ref().is_some_and(|p| p.id0_names()),
                        );
                        let item = need!(s.try_read(&mut |c| decode_id_list_item(c, proto, id0)));
                        if !push_id_item(&mut self.uid_names, item)? {
                            continue;
                        }
                    }
                    self.step = PullStep::GidList;
                }
                PullStep::GidList => {
                    if !self.opts.numeric_ids && self.opts.group {
                        let (proto, id0) = (
                            self.proto(),
                            self.params.as_ref().is_some_and(|p| p.id0_names()),
                        );
                        let item = need!(s.try_read(&mut |c| decode_id_list_item(c, proto, id0)));
                        if !push_id_item(&mut self.gid_names, item)? {
                            continue;
                        }
                    }
                    self.step = PullStep::IoError;
                }
                PullStep::IoError => {
                    if self.proto() < 30 {
                        self.io_error |= need!(s.try_read(&mut |c: &mut ReadCursor<'_>| c.i32()));
                    }
                    s.messages.io_error |= self.io_error;
                    // rsync's client forks here; its generator writes from now on.
                    s.who_am_i = "generator";
                    self.step = PullStep::Prepare;
                }
                PullStep::Prepare => {
                    if !self.prepare(s.bytes_fed, &mut s.events)? {
                        // Like rsync's client_run: nothing to receive; the remote's exit
                        // status tells the rest.
                        self.step = PullStep::Done;
                        return Ok(Progress::Done);
                    }
                    if let Some((count, path)) = &self.state()?.destination.made_path {
                        s.events.emit(crate::events::TransferEvent::CreatedPath {
                            count: *count,
                            path,
                        });
                    }
                    if self.state()?.created_root {
                        let name = self.dest.as_os_str().as_encoded_bytes();
                        let name = name.strip_suffix(b"/").unwrap_or(name);
                        s.events
                            .emit(crate::events::TransferEvent::CreatedDirectory(name));
                    }
                    self.state()?.delete_pass(s, DeleteWhen::Before)?;
                    if self.inc.is_some() {
                        self.inc_gen = IncGen::List {
                            list: 0,
                            gap: true,
                            next: 0,
                        };
                        self.step = PullStep::ReadNdx;
                        continue;
                    }
                    self.step = PullStep::Generate { next: 0 };
                }
                PullStep::Generate { next } => {
                    let count = self.state()?.entries.len();
                    let mut i = next;
                    while i < count {
                        self.state()?.generate(s, i, false)?;
                        i += 1;
                        if s.pending_output() >= GENERATOR_FLUSH {
                            self.step = PullStep::Generate { next: i };
                            return Ok(Progress::Flush);
                        }
                    }
                    s.write_ndx(NDX_DONE);
                    self.step = PullStep::ReadNdx;
                    return Ok(Progress::Flush);
                }
                PullStep::ReadNdx => {
                    if self.inc.is_some() && self.inc_gen != IncGen::Done && self.pump(s)? {
                        return Ok(Progress::Flush);
                    }
                    let ndx = need!(s.try_read_ndx());
                    let proto = self.proto();
                    if let Some(lists) = self.inc.as_mut() {
                        if ndx == NDX_DONE && !lists.all_freed() && !lists.echo_done()? {
                            // recv_files: an NDX_DONE frees the oldest list; only the
                            // one that frees the last list ends phase 0.
                            continue;
                        }
                        if ndx == NDX_FLIST_EOF {
                            lists.set_eof();
                            continue;
                        }
                        if ndx < 0 && ndx != NDX_DONE && ndx != NDX_DEL_STATS {
                            let (_, slot) = lists.announce(ndx)?;
                            let start = lists.next_ndx_start();
                            if let Some(d) = self.decoder.as_mut() {
                                d.start_list(start);
                            }
                            self.sub_list_started_at = s.bytes_decoded;
                            self.step = PullStep::SubList { slot };
                            continue;
                        }
                    }
                    if ndx == NDX_DONE {
                        self.dones += 1;
                        if self.dones == 1 {
                            // The sender finished phase 0: request the redo files, then end
                            // phase 1, phase 2 (≥ 29) and the deletions (≥ 31) at once.
                            self.phase = 1;
                            let st = self.state()?;
                            let redo = std::mem::take(&mut st.redo);
                            for i in redo {
                                st.generate(s, i, true)?;
                            }
                            s.write_ndx(NDX_DONE);
                            if proto >= 29 {
                                s.write_ndx(NDX_DONE);
                            }
                            if proto >= 31 {
                                s.write_ndx(NDX_DONE);
                            }
                            return Ok(Progress::Flush);
                        }
                        let last = if proto >= 29 { 3 } else { 2 };
                        if self.dones == last {
                            self.step = PullStep::Stats;
                        } else {
                            self.phase = 2;
                        }
                        continue;
                    }
                    if ndx == NDX_DEL_STATS {
                        return Err(WireError::protocol(
                            "unexpected NDX_DEL_STATS from the sender",
                        ));
                    }
                    self.step = PullStep::Attrs { ndx };
                }
                PullStep::SubList { slot } => match need!(self.read_list_item(s)) {
                    FileListItem::Entry(_) => {}
                    FileListItem::End { io_error } => {
                        self.io_error |= io_error;
                        s.messages.io_error |= io_error;
                        self.receive_sub_list(slot, &mut s.events)?;
                        // flist.c: every list adds its bytes to the file-list size.
                        let size = s.bytes_decoded.saturating_sub(self.sub_list_started_at);
                        self.state()?.counts.flist_size += size;
                        self.step = PullStep::ReadNdx;
                    }
                },
                PullStep::Attrs { ndx } => {
                    let proto = self.proto();
                    let count = self.state()?.entries.len();
                    if let (Some(lists), Ok(slot)) = (self.inc.as_ref(), usize::try_from(ndx)) {
                        // flist_for_ndx: an index of no list (or beyond the last) is fatal.
                        lists.list_of(slot)?;
                    }
                    let attrs: ItemAttrs = need!(try_read_item_attrs(s, proto));
                    let (iflags, fnamecmp_type, xname) = attrs;
                    if (29..30).contains(&proto) && usize::try_from(ndx).ok() == Some(count) {
                        // A protocol-29 keep-alive: the list size as index with IS_NEW.
                        if iflags != ITEM_IS_NEW {
                            return Err(WireError::protocol(format!("Invalid file index: {ndx}")));
                        }
                        self.step = PullStep::ReadNdx;
                        continue;
                    }
                    let index = usize::try_from(ndx)
                        .ok()
                        .filter(|i| *i < count)
                        .ok_or_else(|| WireError::protocol(format!("Invalid file index: {ndx}")))?;
                    if !self.state()?.is_live(index) {
                        return Err(WireError::protocol(format!(
                            "rsync: refusing transfer of cleared file index {ndx}"
                        )));
                    }
                    if fnamecmp_type.is_some() || xname.is_some() {
                        let name = self.state()?.entry(index)?.display_name();
                        return Err(WireError::protocol(format!(
                            "rsync: refusing malicious fuzzy operation for {name}"
                        )));
                    }
                    if proto >= 29 && iflags & ITEM_TRANSFER == 0 {
                        // An itemize echo: rsync's receiver logs it now (maybe_log_item).
                        let st = self.state()?;
                        st.note_echo(s, index, iflags);
                        self.step = PullStep::ReadNdx;
                        continue;
                    }
                    if self.opts.dry_run && self.state()?.dry_requests.remove(&index) {
                        // !do_xfers: the sender echoes the request; it is logged as a transfer.
                        self.state()?.note_transfer(s, index, iflags);
                        self.step = PullStep::ReadNdx;
                        continue;
                    }
                    if !self.state()?.requests.contains_key(&index) {
                        return Err(WireError::protocol(format!(
                            "refusing transfer of unrequested file index {ndx}"
                        )));
                    }
                    self.redoing = self.state()?.sent_once.contains(&index);
                    self.state()?.note_transfer(s, index, iflags);
                    self.step = PullStep::SumHead { index };
                }
                PullStep::SumHead { index } => {
                    let proto = self.proto();
                    let head = need!(s.try_read(&mut |c| SumHead::decode(c, proto)));
                    let file = self.state()?.open_received(index, head)?;
                    self.active_file = Some(file);
                    self.step = PullStep::Tokens;
                }
                PullStep::Tokens => {
                    let st = self
                        .st
                        .as_mut()
                        .ok_or_else(|| WireError::protocol("no state"))?;
                    let file = self
                        .active_file
                        .as_mut()
                        .ok_or_else(|| WireError::protocol("no file"))?;
                    let tok = match st.reader.as_mut() {
                        Some(reader) => {
                            let mut fetch = || s.try_read(&mut |c| decode_compressed_item(c));
                            need!(reader.next_token(&mut fetch)).into()
                        }
                        None => need!(s.try_read(&mut |c| {
                            decode_token(c).map(|t| match t {
                                Token::Literal(d) => OwnedToken::Literal(d.to_vec()),
                                Token::Copy(b) => OwnedToken::Copy(b),
                                Token::End => OwnedToken::End,
                            })
                        })),
                    };
                    if !matches!(tok, OwnedToken::End) && file.entry.size > 0 {
                        // receive_data: progress before each token.
                        s.events.emit(crate::events::TransferEvent::Progress {
                            done: file.written,
                            size: file.entry.size.max(0) as u64,
                        });
                    }
                    match tok {
                        OwnedToken::End => self.step = PullStep::FileChecksum,
                        OwnedToken::Literal(d) => {
                            st.counts.literal_data += d.len() as u64;
                            file.got_literal |= !d.is_empty();
                            file.written += d.len() as u64;
                            file.check_growth()?;
                            file.patcher
                                .literal(&d)
                                .map_err(|e| patch_error(e, &file.tmp_path))?;
                        }
                        OwnedToken::Copy(b) => {
                            let b = u64::from(b);
                            st.counts.matched_data += u64::from(file.layout.block_size(b));
                            file.written += u64::from(file.layout.block_size(b));
                            file.check_growth()?;
                            if let (Some(reader), Some(basis)) =
                                (st.reader.as_mut(), file.history_basis.as_ref())
                            {
                                use std::os::unix::fs::FileExt;
                                let mut block = vec![0u8; file.layout.block_size(b) as usize];
                                basis
                                    .read_exact_at(&mut block, file.layout.block_offset(b))
                                    .map_err(|err| {
                                        WireError::protocol(format!(
                                            "bad block reference {b}: {err}"
                                        ))
                                    })?;
                                reader.see_block(&block)?;
                            }
                            file.patcher
                                .copy_block(b)
                                .map_err(|e| patch_error(e, &file.tmp_path))?;
                        }
                    }
                }
                PullStep::FileChecksum => {
                    let st = self
                        .st
                        .as_mut()
                        .ok_or_else(|| WireError::protocol("no state"))?;
                    let sum_len = st.sums.profile.file_digest_len();
                    let expected = need!(s.try_read(&mut |c| c.take(sum_len).map(<[u8]>::to_vec)));
                    let file = self
                        .active_file
                        .take()
                        .ok_or_else(|| WireError::protocol("no file"))?;
                    let index = file.index;
                    st.log_transfer_end(s, index);
                    // A redo's second failure is final, whatever the phase (with
                    // incremental lists redos happen during phase 0).
                    let phase = if self.redoing {
                        self.phase.max(1)
                    } else {
                        self.phase
                    };
                    if let Some(name) = st.finish_received(file, &expected, phase)? {
                        self.transferred.push(name);
                    }
                    self.step = PullStep::ReadNdx;
                }
                PullStep::Stats => {
                    let proto = self.proto();
                    self.stats = need!(s.try_read(&mut |c| TransferStats::decode(c, proto)));
                    self.got_server_stats = true;
                    self.step = if proto >= 31 {
                        PullStep::Echo
                    } else {
                        PullStep::Finish
                    };
                }
                PullStep::Echo => {
                    let echo = need!(s.try_read_ndx());
                    if echo != NDX_DONE {
                        return Err(WireError::protocol(format!(
                            "Invalid packet at end of run [{echo}]"
                        )));
                    }
                    self.step = PullStep::Finish;
                }
                PullStep::Finish => {
                    s.write_ndx(NDX_DONE); // goodbye
                    out.flush(s)?;
                    self.finish_locally(s)?;
                    self.step = PullStep::Done;
                    return Ok(Progress::Done);
                }
                PullStep::Done => return Ok(Progress::Done),
            }
        }
    }

    /// Sorts and checks the (first) list and prepares the destination; false if it is
    /// empty.
    fn prepare(
        &mut self,
        s_bytes_fed: u64,
        s_events: &mut crate::events::EventSlot,
    ) -> Result<bool, WireError> {
        let proto = self.proto();
        let received = self
            .decoder
            .as_mut()
            .map(FileListDecoder::take_entries)
            .unwrap_or_default();
        if received.is_empty() {
            return Ok(false);
        }
        check_requested_names(&received, &self.sources)?;
        if let Some(lists) = &self.inc {
            lists.check_names(&received, None)?;
        }
        self.check_filters(&received)?;
        self.take_inline_names();
        let (entries, tx_to_sorted) = sort_list(received, proto);
        let active = clean_duplicates(&entries);
        let first_is_dir = entries.first().is_some_and(FileEntry::is_dir);
        let destination = Destination::prepare(
            &self.dest,
            entries.len(),
            first_is_dir,
            self.opts.dry_run,
            self.opts.mkpath,
        )?;
        let deleter = (self.opts.delete && destination.is_tree()).then(|| {
            if self.inc.is_some() {
                crate::delete::PullDeleter::new(&self.opts, proto, &[], &[])
            } else {
                crate::delete::PullDeleter::new(&self.opts, proto, &entries, &active)
            }
        });
        let created_root = !destination.existed
            && (self.opts.dry_run
                || std::fs::symlink_metadata(&self.dest).is_ok_and(|m| m.is_dir()));
        // Only the names are checked here: whether a parent is a symlink is decided when
        // each entry is generated or written (`PullState::path`), after the generator
        // has replaced a symlink where a directory arrives, as rsync does.
        for e in &entries {
            crate::flist::check_safe_name(&e.name)?;
        }
        let running_as_root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut owners = OwnerMap {
            map_uid: self.opts.owner && running_as_root,
            map_gid: self.opts.group,
            ..OwnerMap::default()
        };
        if !self.opts.numeric_ids {
            map_names(&mut owners, &self.uid_names, &self.gid_names);
        }
        let flist_size = s_bytes_fed.saturating_sub(self.flist_started_at);
        let inc = self.inc.is_some();
        let st = self.state()?;
        st.counts.flist_size = flist_size;
        st.created_root = created_root;
        st.am_root = running_as_root;
        st.deleter = deleter;
        st.destination = destination;
        st.owners = owners;
        if inc {
            // rsync's first incremental list: a "." first makes it the list's parent
            // (dir_flist entry 0, named by index 0); otherwise index 0 names nothing.
            let parent = entries
                .first()
                .filter(|e| e.name == b"." && e.is_dir())
                .map(|_| 1);
            let dirs = st.append_list(entries, &tx_to_sorted, 1, parent)?;
            if let Some(lists) = self.inc.as_mut() {
                lists.add(1, dirs.len, parent, dirs.dirs);
            }
            let st = self.state()?;
            s_events.emit(crate::events::TransferEvent::FileList {
                files: st.listed,
                dirs: st.counts.files.dir,
                total_size: st.total_size,
            });
            return Ok(true);
        }
        st.infos = entries.iter().map(crate::events::ItemInfo::of).collect();
        for info in &st.infos {
            st.counts.files.add(info.kind);
        }
        st.numbering = crate::events::incremental_numbering(&entries);
        let total_size = st
            .infos
            .iter()
            .filter(|i| {
                matches!(
                    i.kind,
                    rdsync_engine::fs::FileKind::File | rdsync_engine::fs::FileKind::Symlink
                )
            })
            .map(|i| i.size)
            .sum();
        st.total_size = total_size;
        s_events.emit(crate::events::TransferEvent::FileList {
            files: st.infos.len() as u64,
            dirs: st.counts.files.dir,
            total_size,
        });
        st.hl_leader = if st.opts.hard_links {
            choose_hard_link_leaders(&entries, &active, &tx_to_sorted, &st.destination)
        } else {
            HashMap::new()
        };
        st.entries = entries;
        st.active = active;
        self.tx_to_sorted = tx_to_sorted;
        Ok(true)
    }

    /// The sender must have applied the filters we sent (rsync 3.2.7+).
    fn check_filters(&self, received: &[FileEntry]) -> Result<(), WireError> {
        let chain = self.opts.filter_chain();
        for e in received {
            if e.name != b"." && chain.is_excluded(&e.name, e.is_dir()) {
                return Err(WireError::Unsupported(format!(
                    "ERROR: rejecting excluded file-list name: {}",
                    e.display_name()
                )));
            }
        }
        Ok(())
    }

    /// Moves the user and group names that came inline with the entries (incremental
    /// recursion) into the name lists, mapping them to local ids once the destination
    /// is prepared.
    fn take_inline_names(&mut self) -> (IdList, IdList) {
        let (users, groups) = self
            .decoder
            .as_mut()
            .map(FileListDecoder::take_inline_names)
            .unwrap_or_default();
        self.uid_names.extend(users.iter().cloned());
        self.gid_names.extend(groups.iter().cloned());
        (users, groups)
    }

    /// A directory's list arrived (incremental recursion): checked, sorted, cleaned and
    /// appended after a gap naming the directory.
    fn receive_sub_list(
        &mut self,
        slot: usize,
        events: &mut crate::events::EventSlot,
    ) -> Result<(), WireError> {
        let proto = self.proto();
        let received = self
            .decoder
            .as_mut()
            .map(FileListDecoder::take_entries)
            .unwrap_or_default();
        let dir_name = self.state()?.entry(slot)?.name.clone();
        if let Some(lists) = &self.inc {
            lists.check_names(&received, Some(&dir_name))?;
        }
        self.check_filters(&received)?;
        let (users, groups) = self.take_inline_names();
        if !self.opts.numeric_ids {
            let st = self.state()?;
            map_names(&mut st.owners, &users, &groups);
        }
        let start = self.inc.as_ref().map_or(1, IncomingLists::next_ndx_start);
        let (entries, tx_to_sorted) = sort_list(received, proto);
        let st = self.state()?;
        let dirs = st.append_list(entries, &tx_to_sorted, start, Some(slot))?;
        // The totals so far (progress lines use them).
        events.emit(crate::events::TransferEvent::FileList {
            files: st.listed,
            dirs: st.counts.files.dir,
            total_size: st.total_size,
        });
        if let Some(lists) = self.inc.as_mut() {
            lists.add(start, dirs.len, Some(slot), dirs.dirs);
        }
        Ok(())
    }

    /// Runs the incremental generator as far as the lists received allow; true when
    /// enough output is pending to be flushed first.
    fn pump(&mut self, s: &mut ProtocolStream) -> Result<bool, WireError> {
        let (Some(st), Some(lists)) = (self.st.as_mut(), self.inc.as_mut()) else {
            return Ok(false);
        };
        loop {
            match self.inc_gen {
                IncGen::List { list, gap, next } => {
                    let l = *lists
                        .get(list)
                        .ok_or_else(|| WireError::protocol("no such file list"))?;
                    if gap {
                        // The parent directory in full (itemized, its attributes, its
                        // deletions) right before its contents.
                        if l.parent_slot.is_some() {
                            st.generate(s, l.ndx_start - 1, false)?;
                            st.delete_for_list(s, l.ndx_start - 1)?;
                        }
                        st.finish_lists(s, lists, Some(list))?;
                        self.inc_gen = IncGen::List {
                            list,
                            gap: false,
                            next: l.ndx_start,
                        };
                        continue;
                    }
                    let mut i = next;
                    while i < l.end() {
                        st.generate(s, i, false)?;
                        i += 1;
                        if s.pending_output() >= GENERATOR_FLUSH {
                            self.inc_gen = IncGen::List {
                                list,
                                gap: false,
                                next: i,
                            };
                            return Ok(true);
                        }
                    }
                    self.inc_gen = IncGen::Wait { list };
                }
                IncGen::Wait { list } => {
                    st.redo_now(s)?;
                    st.finish_lists(s, lists, Some(list))?;
                    if list + 1 < lists.count() {
                        self.inc_gen = IncGen::List {
                            list: list + 1,
                            gap: true,
                            next: 0,
                        };
                        continue;
                    }
                    if !lists.eof() {
                        return Ok(false);
                    }
                    self.inc_gen = IncGen::Drain;
                }
                IncGen::Drain => {
                    st.redo_now(s)?;
                    st.finish_lists(s, lists, None)?;
                    if lists.gen_done() == lists.count() {
                        self.inc_gen = IncGen::Done;
                    }
                    return Ok(false);
                }
                IncGen::Done => return Ok(false),
            }
        }
    }

    /// Hard links, deletions and directory attributes once all data are in.
    fn finish_locally(&mut self, s: &mut ProtocolStream) -> Result<(), WireError> {
        if self.opts.dry_run {
            // Listed, not done (--delete-delay, --delete-after).
            let st = self.state()?;
            st.delete_pass(s, DeleteWhen::Delay)?;
            st.delete_pass(s, DeleteWhen::After)?;
            return Ok(());
        }
        let tx_to_sorted = std::mem::take(&mut self.tx_to_sorted);
        let st = self.state()?;
        let tx_to_sorted = if st.inc {
            std::mem::take(&mut st.tx_to_slot)
        } else {
            tx_to_sorted
        };
        st.finish_hard_links(s, &tx_to_sorted)?;
        st.delete_pass(s, DeleteWhen::Delay)?;
        st.delete_pass(s, DeleteWhen::After)?;
        st.finish_directories()?;
        if st.failed {
            s.messages.io_error |= 1;
        }
        Ok(())
    }
}

impl RoleMachine for PullMachine {
    fn abort(&mut self) {
        if let (Some(file), Some(st)) = (self.active_file.take(), self.st.as_ref()) {
            st.abandon(file);
        }
    }

    fn advance(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<Progress, WireError> {
        let r = self.step(s, out);
        if r.is_err()
            && let (Some(file), Some(st)) = (self.active_file.take(), self.st.as_ref())
        {
            st.abandon(file);
        }
        r
    }
}

/// hlink.c / generator.c: the member of each hard-linked group of regular files that is
/// transferred (or checked) and that the others are linked to: the first one, in list
/// order, that exists at the destination, else the last one (rsync defers a missing
/// member that is not the last of its group). Maps every member to it.
fn choose_hard_link_leaders(
    entries: &[FileEntry],
    active: &[bool],
    tx_to_sorted: &[usize],
    destination: &Destination,
) -> HashMap<usize, usize> {
    let mut groups: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    let mut order: Vec<(i64, i64)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !e.is_regular() || !active.get(i).copied().unwrap_or(false) {
            continue;
        }
        let key = match &e.hard_link {
            Some(HardLinkInfo::First) => (-1, i as i64),
            Some(HardLinkInfo::Follower(tx)) => match usize::try_from(*tx)
                .ok()
                .and_then(|t| tx_to_sorted.get(t).copied())
            {
                Some(l) => (-1, l as i64),
                None => continue,
            },
            Some(HardLinkInfo::DevIno(d, n)) => (*d, *n),
            None => continue,
        };
        let members = groups.entry(key).or_default();
        if members.is_empty() {
            order.push(key);
        }
        members.push(i);
    }
    let mut out = HashMap::new();
    for key in order {
        let Some(members) = groups.get(&key) else {
            continue;
        };
        if members.len() < 2 {
            continue;
        }
        let Some(leader) = group_leader(members, entries, destination) else {
            continue;
        };
        for m in members {
            out.insert(*m, leader);
        }
    }
    out
}

/// The leader of one hard-linked group (slots into `entries`): its first member, in list
/// order, that exists at the destination as a regular file, else its last.
fn group_leader(
    members: &[usize],
    entries: &[FileEntry],
    destination: &Destination,
) -> Option<usize> {
    let exists = |i: &usize| {
        entries
            .get(*i)
            .and_then(|e| destination.path_of(&e.name).ok())
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    };
    members
        .iter()
        .find(|i| exists(i))
        .or_else(|| members.last())
        .copied()
}

/// A received list in rsync's order (stable sort by name), with each entry's sorted
/// position by its transmission position.
fn sort_list(received: Vec<FileEntry>, proto: u32) -> (Vec<FileEntry>, Vec<usize>) {
    let mut order: Vec<usize> = (0..received.len()).collect();
    order.sort_by(|a, b| match (received.get(*a), received.get(*b)) {
        (Some(x), Some(y)) => compare_names(x, y, proto),
        _ => std::cmp::Ordering::Equal,
    });
    let mut tx_to_sorted = vec![0usize; received.len()];
    for (sorted_i, tx) in order.iter().enumerate() {
        if let Some(slot) = tx_to_sorted.get_mut(*tx) {
            *slot = sorted_i;
        }
    }
    let mut taken: Vec<Option<FileEntry>> = received.into_iter().map(Some).collect();
    let entries = order
        .iter()
        .filter_map(|i| taken.get_mut(*i).and_then(Option::take))
        .collect();
    (entries, tx_to_sorted)
}

/// Maps the sender's user and group names to local ids (`uidlist.c: recv_id_list`).
fn map_names(owners: &mut OwnerMap, users: &IdList, groups: &IdList) {
    if users.is_empty() && groups.is_empty() {
        return;
    }
    let local_users = IdNames::load(true);
    let local_groups = IdNames::load(false);
    for (id, name) in users {
        if let Some(local) = local_users.id_of(name) {
            owners.uids.insert(*id, local);
        }
    }
    for (id, name) in groups {
        if let Some(local) = local_groups.id_of(name) {
            owners.gids.insert(*id, local);
        }
    }
}

/// What [`PullState::append_list`] tells the list bookkeeping.
struct AppendedList {
    /// Entries in the list.
    len: usize,
    /// Its directories in sorted order: slot, and whether it stayed active.
    dirs: Vec<(usize, bool)>,
}

impl From<ReadToken> for OwnedToken {
    fn from(t: ReadToken) -> Self {
        match t {
            ReadToken::Literal(d) => OwnedToken::Literal(d),
            ReadToken::Copy(b) => OwnedToken::Copy(b),
            ReadToken::End => OwnedToken::End,
        }
    }
}

/// Opens a basis file: through its held directory (never following a symlink) when
/// there is one, else by path.
fn open_basis(located: Option<&Located>, path: &Path) -> Result<File, WireError> {
    match located {
        Some((dir, leaf)) => dir
            .open_read(leaf)
            .map(File::from)
            .map_err(|err| WireError::file(path, fs_io(err))),
        None => File::open(path).map_err(|err| WireError::file(path, err)),
    }
}

fn patch_error(e: PatchError, tmp: &Path) -> WireError {
    match e {
        PatchError::Io(io) => WireError::file(tmp, io),
        other => WireError::protocol(other.to_string()),
    }
}

impl ActiveFile {
    fn check_growth(&self) -> Result<(), WireError> {
        if self.written > self.limit {
            return Err(WireError::protocol(format!(
                "file {} grows beyond its size",
                self.entry.display_name()
            )));
        }
        Ok(())
    }
}

/// CVE-2022-29154: every top-level name must be one we asked for.
fn check_requested_names(entries: &[FileEntry], sources: &[String]) -> Result<(), WireError> {
    let mut allowed: Vec<Option<Vec<u8>>> = Vec::new();
    for s in sources {
        let b = s.as_bytes();
        if b.ends_with(b"/")
            || b == b"."
            || b.ends_with(b"/.")
            || b.contains(&b'*')
            || b.contains(&b'?')
            || b.contains(&b'[')
        {
            allowed.push(None); // contents or globs: any relative name
        } else {
            let base = b.rsplit(|c| *c == b'/').next().unwrap_or(b).to_vec();
            allowed.push(Some(base));
        }
    }
    if allowed.iter().any(Option::is_none) {
        return Ok(());
    }
    for e in entries {
        let top = e.name.split(|c| *c == b'/').next().unwrap_or(&e.name);
        if !allowed.iter().flatten().any(|a| a.as_slice() == top) {
            return Err(WireError::Unsupported(format!(
                "ERROR: rejecting unrequested file-list name: {}",
                e.display_name()
            )));
        }
    }
    Ok(())
}

impl PullState {
    /// Appends a sorted list whose first entry has index `ndx_start`, after the gap
    /// naming its parent directory (`parent`'s slot): duplicates cleared
    /// (`flist_sort_and_clean`), counted, logged, kept for `--delete`, hard links
    /// grouped across lists.
    fn append_list(
        &mut self,
        entries: Vec<FileEntry>,
        tx_to_sorted: &[usize],
        ndx_start: usize,
        parent: Option<usize>,
    ) -> Result<AppendedList, WireError> {
        if self.entries.len() + 1 != ndx_start {
            return Err(WireError::protocol("file lists out of order"));
        }
        let gap = ndx_start - 1;
        // The parent is in an earlier list, or (the first list's ".") in this one.
        let gap_entry = parent
            .and_then(|p| match p.checked_sub(ndx_start) {
                Some(at) => entries.get(at).cloned(),
                None => self.entries.get(p).cloned(),
            })
            .unwrap_or_default();
        if let Some(p) = parent {
            self.gaps.insert(gap, p);
        }
        self.infos.push(crate::events::ItemInfo::of(&gap_entry));
        self.entries.push(gap_entry);
        self.active.push(false);
        self.numbering.push(0);
        self.tx_to_slot.push(gap);
        let active = clean_duplicates(&entries);
        if let Some(d) = self.deleter.as_mut() {
            d.add_names(&entries, &active);
        }
        let mut dirs = Vec::new();
        for (pos, (e, a)) in entries.iter().zip(&active).enumerate() {
            let info = crate::events::ItemInfo::of(e);
            self.counts.files.add(info.kind);
            if matches!(
                info.kind,
                rdsync_engine::fs::FileKind::File | rdsync_engine::fs::FileKind::Symlink
            ) {
                self.total_size += info.size;
            }
            self.infos.push(info);
            self.numbering.push(self.listed);
            self.listed += 1;
            if e.is_dir() {
                dirs.push((ndx_start + pos, *a));
            }
        }
        let base = self.tx_to_slot.len();
        self.tx_to_slot
            .extend(tx_to_sorted.iter().map(|pos| ndx_start + pos));
        debug_assert_eq!(base, ndx_start);
        let len = entries.len();
        self.entries.extend(entries);
        self.active.extend(active);
        if self.opts.hard_links {
            self.group_hard_links(ndx_start, len, tx_to_sorted)?;
        }
        Ok(AppendedList { len, dirs })
    }

    /// `-H` with incremental lists (`hlink.c: match_gnums`): a group is named by the
    /// index of its first member, which may be in an earlier list; the member the
    /// others are linked to is chosen in the list where the group first appears.
    fn group_hard_links(
        &mut self,
        ndx_start: usize,
        len: usize,
        tx_to_sorted: &[usize],
    ) -> Result<(), WireError> {
        let mut sorted_to_tx = vec![0usize; len];
        for (tx, pos) in tx_to_sorted.iter().enumerate() {
            if let Some(t) = sorted_to_tx.get_mut(*pos) {
                *t = tx;
            }
        }
        let mut in_list: HashMap<i32, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for (pos, tx) in sorted_to_tx.iter().enumerate() {
            let slot = ndx_start + pos;
            let Some(e) = self.entries.get(slot) else {
                continue;
            };
            if !e.is_regular() || !self.active.get(slot).copied().unwrap_or(false) {
                continue;
            }
            let gnum = match e.hard_link {
                Some(HardLinkInfo::First) => i32::try_from(ndx_start + tx)
                    .map_err(|_| WireError::protocol("index overflow"))?,
                Some(HardLinkInfo::Follower(g)) => g,
                _ => continue,
            };
            if !self.hl_groups.contains_key(&gnum)
                && usize::try_from(gnum).is_ok_and(|g| g < ndx_start)
            {
                return Err(WireError::protocol(format!(
                    "hard-link gnum {gnum} precedes flist start {ndx_start}"
                )));
            }
            let members = in_list.entry(gnum).or_default();
            if members.is_empty() {
                order.push(gnum);
            }
            members.push(slot);
        }
        for gnum in order {
            let Some(members) = in_list.get(&gnum) else {
                continue;
            };
            // A group met in an earlier list keeps its leader; a new one is led, as
            // without incremental lists, by its first member that exists at the
            // destination, else its last (rsync defers the others).
            let leader = match self.hl_groups.get(&gnum) {
                Some(l) => *l,
                None => {
                    let Some(l) = group_leader(members, &self.entries, &self.destination) else {
                        continue;
                    };
                    self.hl_groups.insert(gnum, l);
                    l
                }
            };
            for m in members {
                self.hl_leader.insert(*m, leader);
            }
        }
        Ok(())
    }

    /// Whether index `i` may be named by the sender: an active entry, or the gap
    /// before a list that names its parent directory.
    fn is_live(&self, i: usize) -> bool {
        self.active.get(i).copied().unwrap_or(false) || self.gaps.contains_key(&i)
    }

    /// Whether anything of list `l` is still pending: a requested file not yet
    /// received, or one to be requested again (rsync's `in_progress`, `to_redo`).
    fn list_busy(&self, l: &crate::pull_lists::ReceivedList) -> bool {
        let range = (l.ndx_start - 1)..l.end();
        self.requests.range(range.clone()).next().is_some()
            || self.dry_requests.range(range.clone()).next().is_some()
            || self.redo.iter().any(|i| range.contains(i))
    }

    /// `check_for_finished_files`: an `NDX_DONE` for each list, oldest first, that is
    /// before list `current` (all lists when `None`) and has nothing pending.
    fn finish_lists(
        &mut self,
        conn: &mut ProtocolStream,
        lists: &mut IncomingLists,
        current: Option<usize>,
    ) -> Result<(), WireError> {
        let upto = current.unwrap_or(lists.count());
        while lists.gen_done() < upto {
            let Some(l) = lists.get(lists.gen_done()).copied() else {
                break;
            };
            if self.list_busy(&l) {
                break;
            }
            conn.write_ndx(NDX_DONE);
            lists.mark_gen_done();
        }
        Ok(())
    }

    /// `generate_files` with incremental lists: after the parent directory of a list
    /// (`gap`, its index) was handled, its deletions — unless it is missing (rsync's
    /// `FLAG_MISSING_DIR`: a dry run, `--existing`, a failed mkdir). A non-directory
    /// kept in its place (`--ignore-existing`) fails to open: an I/O error, which stops
    /// later deletions, as in rsync.
    fn delete_for_list(&mut self, conn: &mut ProtocolStream, gap: usize) -> Result<(), WireError> {
        let path = self.path(gap)?;
        let md = std::fs::symlink_metadata(&path);
        let missing = match &md {
            Err(err) => err.kind() == std::io::ErrorKind::NotFound,
            Ok(md) => self.opts.dry_run && !md.is_dir(),
        };
        if missing {
            return Ok(());
        }
        self.delete_in_dir(conn, gap, &[DeleteWhen::During, DeleteWhen::Delay])
    }

    /// Requests again, with full-length sums, the files that failed verification
    /// (`check_for_finished_files` with `check_redo`).
    fn redo_now(&mut self, conn: &mut ProtocolStream) -> Result<(), WireError> {
        for i in std::mem::take(&mut self.redo) {
            self.generate(conn, i, true)?;
        }
        Ok(())
    }

    /// The local path of entry `i`, re-checked now: a symlink created earlier in this
    /// transfer (or planted in the destination) must not redirect a later write.
    fn path(&self, i: usize) -> Result<PathBuf, WireError> {
        let e = self.entry(i)?;
        self.destination.path_of(&e.name)
    }

    fn entry(&self, i: usize) -> Result<&FileEntry, WireError> {
        self.entries
            .get(i)
            .ok_or_else(|| WireError::protocol(format!("Invalid file index: {i}")))
    }

    /// receiver.c: an echoed itemize record (no transfer) is counted and logged.
    fn note_echo(&mut self, s: &mut ProtocolStream, index: usize, iflags: u16) {
        let Some(info) = self.infos.get(index) else {
            return;
        };
        if iflags & ITEM_IS_NEW != 0 {
            self.counts.created.add(info.kind);
        }
        let xname = self.hl_echo_xname.get(&index);
        let iflags = if xname.is_some() {
            iflags | ITEM_XNAME_FOLLOWS
        } else {
            iflags
        };
        s.events.emit(crate::events::TransferEvent::Item {
            item: info,
            iflags,
            xname: xname.map(Vec::as_slice),
        });
    }

    /// receiver.c: a file's data are coming; counted and logged before the transfer.
    fn note_transfer(&mut self, s: &mut ProtocolStream, index: usize, iflags: u16) {
        let Some(info) = self.infos.get(index) else {
            return;
        };
        let redo = !self.sent_once.insert(index);
        if iflags & ITEM_IS_NEW != 0 && !redo {
            self.counts.created.add(info.kind);
        }
        self.counts.xferred_files += 1;
        self.counts.transferred_size += info.size;
        s.events
            .emit(crate::events::TransferEvent::TransferStart { item: info, iflags });
    }

    /// `end_progress` after a file's data arrived.
    fn log_transfer_end(&self, s: &mut ProtocolStream, index: usize) {
        if let Some(info) = self.infos.get(index) {
            let total = if self.inc {
                self.listed
            } else {
                self.infos.len() as u64
            };
            let number = self.numbering.get(index).copied().unwrap_or(0);
            let total_size = self.total_size;
            s.events.emit(crate::events::TransferEvent::TransferEnd {
                item: info,
                xferred: self.counts.xferred_files,
                to_check: total.saturating_sub(number + 1),
                total,
                transferred_size: self.counts.transferred_size,
                total_size,
            });
        }
    }

    /// rsync's quick check of the existing file `md` at `path` against `e`: unchanged
    /// (no transfer needed) by size and mtime, by size alone (`--size-only`), by checksum
    /// (`-c`), never with `--ignore-times`.
    fn quick_check_passes(&self, path: &Path, e: &FileEntry, md: &Stat) -> Result<bool, WireError> {
        let same_size = md.size as i64 == e.size;
        Ok(if self.opts.ignore_times {
            false
        } else if self.opts.checksum {
            same_size
                && e.checksum.as_deref()
                    == Some(
                        file_checksum(
                            path,
                            md.size,
                            FileHasher::new(self.sums.flist_algorithm, None),
                        )
                        .as_slice(),
                    )
        } else if self.opts.size_only {
            same_size
        } else {
            same_size && md.mtime == e.mtime
        })
    }

    /// The item flags of a transfer request for `e` (basis `basis_md`, if any).
    fn transfer_iflags(&self, e: &FileEntry, basis_md: Option<&Stat>) -> u16 {
        let mut iflags = ITEM_TRANSFER;
        if self.opts.checksum {
            iflags |= ITEM_REPORT_CHANGE;
        }
        if !self.opts.times {
            iflags |= ITEM_REPORT_TIME; // itemize: without -t a transfer always shows T
        }
        iflags
            | match basis_md {
                Some(md) => self.attr_flags(e, md),
                None => ITEM_IS_NEW,
            }
    }

    /// generator.c `itemize`: the change bits of an existing `md` against `e`.
    fn attr_flags(&self, e: &FileEntry, md: &Stat) -> u16 {
        let mut f = 0;
        if e.is_regular() && md.size as i64 != e.size {
            f |= ITEM_REPORT_SIZE;
        }
        let nsec = if self.proto >= 31 { e.mtime_nsec } else { 0 };
        let md_nsec = if self.proto >= 31 { md.mtime_nsec } else { 0 };
        if self.opts.times && (md.mtime != e.mtime || md_nsec != nsec) {
            f |= ITEM_REPORT_TIME;
        }
        if self.opts.perms && !e.is_symlink() && md.mode & 0o7777 != e.mode & 0o7777 {
            f |= ITEM_REPORT_PERMS;
        }
        if self.opts.owner && self.am_root {
            let uid = *self.owners.uids.get(&e.uid).unwrap_or(&e.uid);
            if uid != md.uid {
                f |= ITEM_REPORT_OWNER;
            }
        }
        if self.opts.group {
            let gid = *self.owners.gids.get(&e.gid).unwrap_or(&e.gid);
            if gid != md.gid {
                f |= ITEM_REPORT_GROUP;
            }
        }
        f
    }

    /// generator.c `itemize` for an item without a transfer: sends ndx and iflags when
    /// they are significant; the sender echoes them and the echo is logged.
    fn itemize(
        &mut self,
        conn: &mut ProtocolStream,
        i: usize,
        e: &FileEntry,
        before: Option<&Stat>,
        extra: u16,
    ) -> Result<(), WireError> {
        let mut iflags = match before {
            Some(md) => extra | self.attr_flags(e, md),
            None => extra | ITEM_IS_NEW,
        };
        if !self.opts.times && iflags & (ITEM_TRANSFER | ITEM_LOCAL_CHANGE) != 0 {
            iflags |= ITEM_REPORT_TIME; // itemize: without -t a change always shows T
        }
        let significant =
            iflags & !(ITEM_BASIS_TYPE_FOLLOWS | ITEM_XNAME_FOLLOWS | ITEM_LOCAL_CHANGE);
        if significant == 0 && self.opts.verbose < 2 && self.opts.itemize < 2 {
            return Ok(());
        }
        if self.proto < 29 {
            // No itemize records before protocol 29: rsync's generator logs the item
            // itself, as it goes.
            if let Some(info) = self.infos.get(i) {
                if iflags & ITEM_IS_NEW != 0 {
                    self.counts.created.add(info.kind);
                }
                conn.events.emit(crate::events::TransferEvent::Item {
                    item: info,
                    iflags,
                    xname: None,
                });
            }
            return Ok(());
        }
        let ndx = i32::try_from(i).map_err(|_| WireError::protocol("index overflow"))?;
        conn.write_ndx(ndx);
        write_item_attrs(conn, self.proto, iflags, None, None)
    }

    /// hlink.c `hard_link_check` for a non-leader member `i`: when its leader was already
    /// checked without a transfer, the link is made (or found) now and itemized through
    /// the sender like rsync's (the echo is logged with the leader's name); otherwise it
    /// waits for the end of the transfer.
    fn link_if_leader_done(
        &mut self,
        conn: &mut ProtocolStream,
        i: usize,
        e: &FileEntry,
        path: &Path,
        existing: Option<&Stat>,
    ) -> Result<(), WireError> {
        let Some(l) = self.hl_leader.get(&i).copied() else {
            return Ok(());
        };
        if l > i || self.requests.contains_key(&l) || self.redo.contains(&l) {
            return Ok(());
        }
        let src = self.path(l)?;
        let Ok(leader_md) = std::fs::symlink_metadata(&src) else {
            return Ok(());
        };
        let leader_name = self.entry(l)?.name.clone();
        self.hl_linked.insert(i);
        let same =
            existing.is_some_and(|md| md.ino == leader_md.ino() && md.dev == leader_md.dev());
        if same {
            // maybe_hard_link: already linked (shown only with -ii).
            self.hl_echo_xname.insert(i, Vec::new());
            return self.itemize(conn, i, e, existing, ITEM_LOCAL_CHANGE);
        }
        let mut iflags = ITEM_LOCAL_CHANGE;
        match existing {
            Some(md) => iflags |= self.attr_flags(e, md),
            None => iflags |= ITEM_IS_NEW,
        }
        remove_existing(path, false)?;
        self.destination.forget_dirs();
        std::fs::hard_link(&src, path).map_err(|err| WireError::file(path, err))?;
        if self.proto >= 29 {
            // The xname stays here: the sender echoes the flags and the echo is logged
            // with it.
            self.hl_echo_xname.insert(i, leader_name);
            let ndx = i32::try_from(i).map_err(|_| WireError::protocol("index overflow"))?;
            conn.write_ndx(ndx);
            write_item_attrs(conn, self.proto, iflags, None, None)?;
        }
        Ok(())
    }

    /// `recv_generator` with `--dry-run`: the same itemized records (a transfer as ndx and
    /// iflags without a sum head), deletions listed but not done, nothing changed.
    fn generate_dry(
        &mut self,
        conn: &mut ProtocolStream,
        i: usize,
        e: &FileEntry,
        path: &Path,
        existing: Option<&Stat>,
        redo: bool,
    ) -> Result<(), WireError> {
        let root_missing = self.created_root;
        let existing = existing.filter(|_| !root_missing);
        if e.is_dir() {
            let before = existing.filter(|md| md.is_dir());
            let extra = if before.is_some() {
                0
            } else {
                ITEM_LOCAL_CHANGE
            };
            self.itemize(conn, i, e, before, extra)?;
            if !redo && !self.inc && existing.is_some_and(|md| md.is_dir()) {
                self.delete_in_dir(conn, i, &[DeleteWhen::During, DeleteWhen::Delay])?;
            }
            return Ok(());
        }
        if self.hl_leader.get(&i).is_some_and(|l| *l != i)
            || (!self.hl_leader.contains_key(&i)
                && matches!(e.hard_link, Some(HardLinkInfo::Follower(_))))
        {
            return Ok(());
        }
        if e.is_symlink() {
            let target = e.link_target.clone().unwrap_or_default();
            let same = existing.is_some_and(|md| md.is_symlink())
                && std::fs::read_link(path)
                    .ok()
                    .map(|t| t.into_os_string().into_encoded_bytes())
                    == Some(target);
            if same {
                return self.itemize(conn, i, e, existing, 0);
            }
            let before = existing.filter(|md| md.is_symlink());
            return self.itemize(conn, i, e, before, ITEM_LOCAL_CHANGE | ITEM_REPORT_CHANGE);
        }
        if e.is_device() || e.is_special() {
            let before = existing.filter(|md| md.mode & 0o170000 == e.mode & 0o170000);
            let extra = if before.is_some() {
                0
            } else {
                ITEM_LOCAL_CHANGE | ITEM_REPORT_CHANGE
            };
            return self.itemize(conn, i, e, before, extra);
        }
        if !e.is_regular() {
            return Ok(());
        }
        let basis_md = existing.filter(|md| md.is_file());
        if let Some(md) = basis_md {
            if self.opts.update && md.mtime > e.mtime {
                return Ok(());
            }
            if self.quick_check_passes(path, e, md)? {
                return self.itemize(conn, i, e, Some(md), 0);
            }
        }
        let iflags = self.transfer_iflags(e, basis_md);
        let ndx = i32::try_from(i).map_err(|_| WireError::protocol("index overflow"))?;
        conn.write_ndx(ndx);
        write_item_attrs(conn, self.proto, iflags, None, None)?;
        self.dry_requests.insert(i);
        Ok(())
    }

    /// `recv_generator` for entry `i`.
    fn generate(
        &mut self,
        conn: &mut ProtocolStream,
        i: usize,
        redo: bool,
    ) -> Result<(), WireError> {
        if !self.is_live(i) {
            return Ok(());
        }
        let e = self.entry(i)?.clone();
        let path = self.path(i)?;
        // A regular file is looked at through its directory, held open (checked once
        // for symlinks, not per file); anything else, or a directory that cannot be
        // held, by path.
        let located = if e.is_regular() {
            self.destination.locate(&e.name)?
        } else {
            None
        };
        let looked = match &located {
            Some((dir, leaf)) => dir.lstat(leaf).map_err(fs_io),
            None => std::fs::symlink_metadata(&path).map(|md| Stat::from_metadata(&md)),
        };
        let existing = match looked {
            Ok(md) => Some(md),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => {
                // E.g. a file where a parent directory should be (kept by
                // --ignore-existing): the entry fails, the transfer goes on (exit 23).
                eprintln!(
                    "rsync: [generator] recv_generator: failed to stat \"{}\": {err}",
                    path.display()
                );
                self.failed = true;
                return Ok(());
            }
        };
        // --existing: nothing new (a missing directory's contents are missing too);
        // --ignore-existing: an existing non-directory (or a directory where a file
        // arrives) is left alone entirely.
        if self.opts.existing && existing.is_none() {
            return Ok(());
        }
        if self.opts.ignore_existing
            && existing
                .as_ref()
                .is_some_and(|md| !(e.is_dir() && md.is_dir()))
        {
            return Ok(());
        }
        if self.inc && e.is_dir() && !self.gaps.contains_key(&i) {
            self.make_dir_early(i, &path, existing.as_ref());
            return Ok(());
        }
        if self.opts.dry_run {
            // -n: change nothing, but itemize and "request" as rsync's generator does.
            return self.generate_dry(conn, i, &e, &path, existing.as_ref(), redo);
        }
        if e.is_dir() {
            let made_early = self
                .gaps
                .get(&i)
                .is_some_and(|d| self.dir_created.contains(d));
            let before = existing
                .as_ref()
                .filter(|md| md.is_dir() && !(self.created_root && e.name == b".") && !made_early);
            let extra = if before.is_some() {
                0
            } else {
                ITEM_LOCAL_CHANGE
            };
            self.itemize(conn, i, &e, before, extra)?;
            match &existing {
                Some(md) if md.is_dir() => {}
                Some(_) => {
                    remove_existing(&path, false)?;
                    self.destination.forget_dirs();
                    std::fs::create_dir(&path).map_err(|err| WireError::file(&path, err))?;
                }
                None => {
                    std::fs::create_dir(&path).map_err(|err| WireError::file(&path, err))?;
                    // Keep it writable for what we put in it; final perms come later.
                }
            }
            self.owners.apply(&path, &e);
            if !redo && !self.inc {
                // --delete-during (the default from protocol 30), and --delete-delay,
                // which decides here and deletes at the end (with incremental lists
                // the generator loop does it: `PullState::delete_for_list`).
                self.delete_in_dir(conn, i, &[DeleteWhen::During, DeleteWhen::Delay])?;
            }
            return Ok(());
        }
        if self.hl_leader.get(&i).is_some_and(|l| *l != i)
            || (!self.hl_leader.contains_key(&i)
                && matches!(e.hard_link, Some(HardLinkInfo::Follower(_))))
        {
            return self.link_if_leader_done(conn, i, &e, &path, existing.as_ref());
        }
        if e.is_symlink() {
            let target = e.link_target.clone().unwrap_or_default();
            let same = existing.as_ref().is_some_and(|md| md.is_symlink())
                && std::fs::read_link(&path)
                    .ok()
                    .map(|t| t.into_os_string().into_encoded_bytes())
                    == Some(target.clone());
            if same {
                self.itemize(conn, i, &e, existing.as_ref(), 0)?;
            } else {
                let before = existing.filter(|md| md.is_symlink());
                self.itemize(
                    conn,
                    i,
                    &e,
                    before.as_ref(),
                    ITEM_LOCAL_CHANGE | ITEM_REPORT_CHANGE,
                )?;
                if !self.make_way(&path, existing.as_ref())? {
                    return Ok(());
                }
                std::os::unix::fs::symlink(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&target),
                    &path,
                )
                .map_err(|err| WireError::file(&path, err))?;
            }
            self.owners.apply(&path, &e);
            apply_attrs(&path, &e, false, self.opts.times)?;
            return Ok(());
        }
        if e.is_device() || e.is_special() {
            let ok = existing.as_ref().is_some_and(|md| {
                md.mode & 0o170000 == e.mode & 0o170000
                    && e.rdev
                        .is_none_or(|r| crate::local_scan::split_rdev(md.rdev) == r)
            });
            if ok {
                self.itemize(conn, i, &e, existing.as_ref(), 0)?;
            } else {
                let before = existing.filter(|md| md.mode & 0o170000 == e.mode & 0o170000);
                self.itemize(
                    conn,
                    i,
                    &e,
                    before.as_ref(),
                    ITEM_LOCAL_CHANGE | ITEM_REPORT_CHANGE,
                )?;
                if !self.make_way(&path, existing.as_ref())? {
                    return Ok(());
                }
                make_special(&path, &e)?;
            }
            self.owners.apply(&path, &e);
            apply_attrs(&path, &e, self.opts.perms, self.opts.times)?;
            return Ok(());
        }
        if !e.is_regular() {
            return Ok(());
        }
        if self.opts.inplace
            && let Some(md) = existing.as_ref().filter(|md| !md.is_file())
        {
            // rsync's generator removes a non-file in the way before the data arrive;
            // written in place, the name must then be free (never a symlink to follow).
            if !self.make_way(&path, Some(md))? {
                return Ok(());
            }
        }
        let basis_md = existing.as_ref().filter(|md| md.is_file());
        if !redo && let Some(md) = basis_md {
            if self.opts.update && md.mtime > e.mtime {
                return Ok(()); // -u: a newer destination file is left alone entirely
            }
            if self.quick_check_passes(&path, &e, md)? {
                self.itemize(conn, i, &e, Some(md), 0)?;
                self.owners.apply(&path, &e);
                apply_attrs(&path, &e, self.opts.perms, self.opts.times)?;
                return Ok(());
            }
        }
        if self.opts.dry_run {
            return Ok(());
        }
        let digest_len = self.sums.profile.block.digest_len();
        let params = if redo {
            LayoutParams {
                block_size: self.opts.block_size,
                ..LayoutParams::redo_pass(self.proto, digest_len)
            }
        } else {
            LayoutParams {
                block_size: self.opts.block_size,
                ..LayoutParams::first_pass(self.proto, digest_len)
            }
        };
        let use_basis = basis_md.is_some_and(|md| md.size > 0) && !self.opts.whole_file;
        let (layout, sig) = if use_basis {
            let md_len = basis_md.map(|m| m.size).unwrap_or(0);
            let layout = BlockLayout::for_file(md_len, &params);
            let f = open_basis(located.as_ref(), &path)?;
            let sig = Signature::generate_at(&f, layout, &self.sums.profile.block)
                .map_err(|err| WireError::file(&path, std::io::Error::other(err.to_string())))?;
            (layout, Some(sig))
        } else {
            (
                BlockLayout {
                    file_len: 0,
                    block_len: 0,
                    count: 0,
                    remainder: 0,
                    strong_len: 0,
                },
                None,
            )
        };
        let head = SumHead {
            count: i32::try_from(layout.count)
                .map_err(|_| WireError::protocol("too many blocks"))?,
            block_len: layout.block_len as i32,
            s2length: layout.strong_len as i32,
            remainder: layout.remainder as i32,
        };
        let ndx = i32::try_from(i).map_err(|_| WireError::protocol("index overflow"))?;
        conn.write_ndx(ndx);
        let iflags = self.transfer_iflags(&e, basis_md);
        write_item_attrs(conn, self.proto, iflags, None, None)?;
        conn.write_with(|out| head.encode(out, self.proto));
        if let Some(sig) = &sig {
            let mut out = Vec::with_capacity(sig.len() * (4 + layout.strong_len));
            for (weak, strong) in sig.iter() {
                out.extend_from_slice(&weak.to_le_bytes());
                out.extend_from_slice(strong);
            }
            conn.write(&out);
        }
        let basis = if use_basis { Some(path) } else { None };
        self.requests.insert(
            i,
            Request {
                head,
                layout,
                basis,
            },
        );
        Ok(())
    }

    /// `recv_generator` for a directory met in its parent's list (incremental
    /// recursion): with `-t` a missing one is created now, so that the parent's mtime
    /// can be set when the parent's list is done; it is handled in full (itemized,
    /// attributes, deletions) right before its own list. Errors show up then.
    fn make_dir_early(&mut self, i: usize, path: &Path, existing: Option<&Stat>) {
        if !self.opts.times || existing.is_some_and(Stat::is_dir) {
            return;
        }
        if !self.opts.dry_run {
            if existing.is_some() {
                self.destination.forget_dirs();
                if remove_existing(path, self.opts.delete).is_err() {
                    return;
                }
            }
            if std::fs::create_dir(path).is_err() {
                return;
            }
        }
        self.dir_created.insert(i);
    }

    /// Removes a non-directory at `path`, or an empty directory; a non-empty directory
    /// (or the destination root) is left alone and the entry fails (exit 23), as rsync
    /// does without `--force`. Returns whether the way is clear.
    fn make_way(&mut self, path: &Path, existing: Option<&Stat>) -> Result<bool, WireError> {
        let Some(md) = existing else { return Ok(true) };
        // Whatever goes, a held directory may be (beneath) it: look them up afresh.
        self.destination.forget_dirs();
        if !md.is_dir() {
            std::fs::remove_file(path).map_err(|err| WireError::file(path, err))?;
            return Ok(true);
        }
        if path == self.destination.root() {
            return Err(WireError::protocol(
                "refusing to replace the destination directory",
            ));
        }
        let removed = if self.opts.delete {
            // Deletions are active: a directory in the way goes, contents and all.
            std::fs::remove_dir_all(path).is_ok()
        } else {
            std::fs::remove_dir(path).is_ok()
        };
        if !removed {
            eprintln!(
                "rsync: could not make way for new non-directory: {} (a directory is in the way)",
                path.display()
            );
            self.failed = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// `recv_files`, first half: the echoed sum head arrived for `i`; opens the basis and
    /// a temp file next to the target.
    fn open_received(&mut self, i: usize, head: SumHead) -> Result<ActiveFile, WireError> {
        let req = self.requests.remove(&i).ok_or_else(|| {
            WireError::protocol(format!("refusing transfer of unrequested file index {i}"))
        })?;
        if head != req.head {
            return Err(WireError::protocol(format!(
                "sum head echo differs for index {i}"
            )));
        }
        let entry = self.entry(i)?.clone();
        let path = self.path(i)?;
        let located = self.destination.locate(&entry.name)?;
        let basis = match &req.basis {
            Some(p) => Some(open_basis(located.as_ref(), p)?),
            None => None,
        };
        let history_basis = match (
            &req.basis,
            self.reader.as_ref().is_some_and(|r| r.needs_block_data()),
        ) {
            (Some(p), true) => Some(open_basis(located.as_ref(), p)?),
            _ => None,
        };
        let mut temp_at = None;
        let (tmp_file, tmp_path) = if self.opts.inplace {
            (open_in_place(&path)?, path.clone())
        } else if let Some((dir, leaf)) = located {
            // openat(dir, ".name.XXXXXX", O_CREAT|O_EXCL|O_NOFOLLOW) in the held directory.
            let (fd, temp) = AtomicFile::create_detached(&dir, &leaf, entry.mode & 0o777 | 0o600)
                .map_err(|err| WireError::file(&path, fs_io(err)))?;
            let tmp_path = path
                .parent()
                .unwrap_or(Path::new("."))
                .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&temp));
            temp_at = Some(TempAt { dir, leaf, temp });
            (File::from(fd), tmp_path)
        } else {
            create_temp(&path, entry.mode)?
        };
        let patcher = Patcher::new(
            basis,
            req.layout,
            // A big file is written on a second thread while this one decodes and hashes.
            OutputFile::new(tmp_file, entry.size.max(0) as u64),
            self.sums.profile.file_hasher(),
        );
        let limit = (entry.size.max(0) as u64)
            .saturating_add(1 << 20)
            .saturating_mul(2);
        Ok(ActiveFile {
            index: i,
            entry,
            path,
            tmp_path,
            temp_at,
            patcher,
            layout: req.layout,
            history_basis,
            written: 0,
            limit,
            inplace: self.opts.inplace,
            got_literal: false,
        })
    }

    /// The deletions of timing `when` over every content directory (rsync's
    /// `do_delete_pass`), or the delayed ones (`--delete-delay`), if that is this pull's
    /// timing.
    fn delete_pass(
        &mut self,
        conn: &mut ProtocolStream,
        when: DeleteWhen,
    ) -> Result<(), WireError> {
        if !self.deleter.as_ref().is_some_and(|d| d.when == when) {
            return Ok(());
        }
        if when == DeleteWhen::Delay {
            let root = self.destination.root().to_path_buf();
            let deleted = self
                .deleter
                .as_mut()
                .map(|d| d.run_delayed(&root))
                .unwrap_or_default();
            if !deleted.is_empty() {
                self.destination.forget_dirs();
            }
            self.log_deletions(conn, deleted);
            return Ok(());
        }
        for i in 0..self.entries.len() {
            // do_delete_pass: only what is a directory now.
            let is_dir = self
                .path(i)
                .ok()
                .and_then(|p| std::fs::symlink_metadata(p).ok())
                .is_some_and(|m| m.is_dir());
            if is_dir {
                self.delete_in_dir(conn, i, &[when])?;
            }
        }
        Ok(())
    }

    /// The transfer of `file` stopped part-way (an error, or the session aborted). As
    /// rsync's cleanup: written in place, what was written stays; with `--partial`, a
    /// temp file holding literal data is put in place with mtime 0 (so `-u` will not
    /// skip it); otherwise the temp file goes.
    fn abandon(&self, file: ActiveFile) {
        let ActiveFile {
            entry,
            path,
            tmp_path,
            temp_at,
            patcher,
            inplace,
            got_literal,
            ..
        } = file;
        let flushed = patcher.finish_unverified();
        if inplace {
            return;
        }
        if self.opts.partial
            && got_literal
            && let Ok((writer, _)) = flushed
        {
            let f = writer.get_ref();
            self.owners.apply_file(f, &entry);
            let mut old = entry.clone();
            old.mtime = 0;
            let attrs = apply_file_attrs(f, &tmp_path, &old, self.opts.perms, self.opts.times);
            drop(writer);
            if attrs.is_ok() && commit_temp(temp_at.as_ref(), &tmp_path, &path).is_ok() {
                return;
            }
        }
        discard_temp(temp_at.as_ref(), &tmp_path);
    }

    /// A received file failed its whole-file check: tried again in phase 0, an error
    /// after that (`kept`: what became of the data, in rsync's words).
    fn verification_failed(&mut self, index: usize, e: &FileEntry, phase: u32, kept: &str) {
        if phase == 0 {
            eprintln!(
                "WARNING: {} failed verification -- update {kept} (will try again).",
                e.display_name()
            );
            self.redo.push(index);
        } else {
            eprintln!(
                "ERROR: {} failed verification -- update {kept}.",
                e.display_name()
            );
            self.failed = true;
        }
    }

    /// `recv_files`, second half: the sender's whole-file checksum arrived. Renames the
    /// verified file into place (returning its name), or schedules a redo / records the
    /// failure.
    fn finish_received(
        &mut self,
        file: ActiveFile,
        expected: &[u8],
        phase: u32,
    ) -> Result<Option<String>, WireError> {
        let ActiveFile {
            index,
            entry: e,
            path,
            tmp_path,
            temp_at,
            patcher,
            inplace,
            ..
        } = file;
        let at = temp_at.as_ref();
        let (writer, outcome) = match patcher.finish_unverified() {
            Ok(done) => done,
            Err(e) => {
                if !inplace {
                    discard_temp(at, &tmp_path);
                }
                return Err(patch_error(e, &tmp_path));
            }
        };
        let ours = outcome.digest.as_bytes();
        let verified = expected.len() <= ours.len() && ours.get(..expected.len()) == Some(expected);
        if inplace {
            // The data are already in place: cut off what is left of the old file and set
            // the attributes (the mtime only if verified, as rsync's finish_transfer).
            let file = writer.get_ref();
            let mut result = file
                .set_len(outcome.bytes_written)
                .map_err(|err| WireError::file(&path, err));
            self.owners.apply_file(file, &e);
            if result.is_ok() {
                result = apply_file_attrs(
                    file,
                    &path,
                    &e,
                    self.opts.perms,
                    self.opts.times && verified,
                );
            }
            drop(writer);
            result?;
            if verified {
                return Ok(Some(e.display_name()));
            }
            self.verification_failed(index, &e, phase, "retained");
            return Ok(None);
        }
        if !verified && self.opts.partial {
            // --partial: the failed file is kept in place (and is the next basis).
            let file = writer.get_ref();
            self.owners.apply_file(file, &e);
            let attrs = apply_file_attrs(file, &tmp_path, &e, self.opts.perms, false);
            drop(writer);
            if attrs.is_ok() && commit_temp(at, &tmp_path, &path).is_ok() {
                self.verification_failed(index, &e, phase, "retained");
                return Ok(None);
            }
            discard_temp(at, &tmp_path);
            self.verification_failed(index, &e, phase, "discarded");
            return Ok(None);
        }
        let checked = if verified {
            Ok((writer, outcome))
        } else {
            drop(writer);
            Err(PatchError::ChecksumMismatch {
                actual: outcome.digest,
            })
        };
        match checked {
            Ok((writer, _)) => {
                // Attributes through the open temp file (flushed above): no path
                // walks, and they land on the file we wrote.
                let file = writer.get_ref();
                self.owners.apply_file(file, &e);
                let attrs = apply_file_attrs(file, &tmp_path, &e, self.opts.perms, self.opts.times);
                drop(writer);
                if let Err(err) = attrs {
                    discard_temp(at, &tmp_path);
                    return Err(err);
                }
                // Usually nothing is in the way: try the rename first; only if it fails is
                // a directory at the target looked for (and removed, then renamed again).
                if commit_temp(at, &tmp_path, &path).is_ok() {
                    return Ok(Some(e.display_name()));
                }
                let in_the_way = match at {
                    Some(t) => t.dir.lstat(&t.leaf).is_ok_and(|m| m.is_dir()),
                    None => std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()),
                };
                if in_the_way {
                    self.destination.forget_dirs();
                }
                let cleared = in_the_way
                    && if self.opts.delete {
                        std::fs::remove_dir_all(&path).is_ok()
                    } else {
                        std::fs::remove_dir(&path).is_ok()
                    };
                if in_the_way && !cleared {
                    // rsync: a non-empty directory is only replaced with --force/--delete.
                    discard_temp(at, &tmp_path);
                    eprintln!(
                        "rsync: could not make way for new file: {} (a non-empty directory is in the way)",
                        e.display_name()
                    );
                    self.failed = true;
                    return Ok(None);
                }
                commit_temp(at, &tmp_path, &path).map_err(|err| WireError::file(&path, err))?;
                Ok(Some(e.display_name()))
            }
            Err(PatchError::ChecksumMismatch { .. }) => {
                discard_temp(at, &tmp_path);
                self.verification_failed(index, &e, phase, "discarded");
                Ok(None)
            }
            Err(PatchError::Io(io)) => {
                discard_temp(at, &tmp_path);
                Err(WireError::file(&tmp_path, io))
            }
            Err(other) => {
                discard_temp(at, &tmp_path);
                Err(WireError::protocol(other.to_string()))
            }
        }
    }

    fn finish_hard_links(
        &mut self,
        conn: &mut ProtocolStream,
        tx_to_sorted: &[usize],
    ) -> Result<(), WireError> {
        let mut leaders: HashMap<(i64, i64), usize> = HashMap::new();
        for i in 0..self.entries.len() {
            if !self.active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if self.hl_linked.contains(&i) {
                continue;
            }
            let chosen = self.hl_leader.get(&i).copied();
            let leader = match &e.hard_link {
                _ if chosen.is_some() => chosen,
                Some(HardLinkInfo::Follower(tx)) => usize::try_from(*tx)
                    .ok()
                    .and_then(|t| tx_to_sorted.get(t).copied()),
                Some(HardLinkInfo::DevIno(d, n)) if !e.is_dir() => match leaders.get(&(*d, *n)) {
                    Some(l) => Some(*l),
                    None => {
                        leaders.insert((*d, *n), i);
                        None
                    }
                },
                _ => None,
            };
            let Some(l) = leader.filter(|l| *l != i) else {
                continue;
            };
            let src = self.path(l)?;
            let dst = self.path(i)?;
            if std::fs::symlink_metadata(&src).is_err() {
                continue;
            }
            let same = match (
                std::fs::symlink_metadata(&src),
                std::fs::symlink_metadata(&dst),
            ) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                // maybe_hard_link: already linked; shown only with -ii.
                if let Some(info) = self.infos.get(i) {
                    conn.events.emit(crate::events::TransferEvent::Item {
                        item: info,
                        iflags: ITEM_LOCAL_CHANGE | ITEM_XNAME_FOLLOWS,
                        xname: Some(&[]),
                    });
                }
            } else {
                let before = std::fs::symlink_metadata(&dst)
                    .ok()
                    .map(|md| Stat::from_metadata(&md));
                remove_existing(&dst, false)?;
                self.destination.forget_dirs();
                std::fs::hard_link(&src, &dst).map_err(|err| WireError::file(&dst, err))?;
                // hlink.c `hard_link_one`: itemized as a local change naming the leader.
                if let (Some(info), Some(leader)) = (self.infos.get(i), self.entries.get(l)) {
                    let mut iflags = ITEM_LOCAL_CHANGE | ITEM_XNAME_FOLLOWS;
                    match (&before, self.entries.get(i)) {
                        (Some(md), Some(e)) => iflags |= self.attr_flags(e, md),
                        _ => iflags |= ITEM_IS_NEW,
                    }
                    conn.events.emit(crate::events::TransferEvent::Item {
                        item: info,
                        iflags,
                        xname: Some(&leader.name),
                    });
                }
                if before.is_none()
                    && let Some(kind) = self.infos.get(i).map(|info| info.kind)
                {
                    self.counts.created.add(kind);
                }
            }
        }
        Ok(())
    }

    /// generator.c `delete_in_dir` for entry `i` (`--delete` as the receiving client),
    /// when this pull's timing is one of `whens`: removes what the sender does not have
    /// in a directory it sent with content (`crate::delete`), logging each name in
    /// rsync's order (a directory's contents before it, each directory's names in
    /// reverse sorted order).
    fn delete_in_dir(
        &mut self,
        conn: &mut ProtocolStream,
        i: usize,
        whens: &[DeleteWhen],
    ) -> Result<(), WireError> {
        // With -n the names are listed, nothing is deleted (the deleter knows).
        if !self
            .deleter
            .as_ref()
            .is_some_and(|d| whens.contains(&d.when))
        {
            return Ok(());
        }
        let Some(e) = self.entries.get(i) else {
            return Ok(());
        };
        if !self.is_live(i)
            || !crate::delete::PullDeleter::is_content_dir(e, &self.opts, self.proto)
        {
            return Ok(());
        }
        if conn.messages.io_error & 1 != 0 {
            if !self.warned_io_error {
                self.warned_io_error = true;
                conn.events.emit(crate::events::TransferEvent::Info(
                    "IO error encountered -- skipping file deletion",
                ));
                if !conn.events.is_set() {
                    eprintln!("IO error encountered -- skipping file deletion");
                }
            }
            return Ok(());
        }
        let root = self.destination.root().to_path_buf();
        let e = e.clone();
        let deleted = match self.deleter.as_mut().map(|d| d.delete_in(&root, &e)) {
            Some(Ok(deleted)) => deleted,
            Some(Err(err)) => {
                // flist.c send_directory: the generator's opendir failed (io_error).
                eprintln!(
                    "rsync: [generator] opendir \"{}\" failed: {err}",
                    self.path(i)?.display()
                );
                conn.messages.io_error |= 1;
                self.failed = true;
                Vec::new()
            }
            None => Vec::new(),
        };
        if !deleted.is_empty() {
            self.destination.forget_dirs();
        }
        self.log_deletions(conn, deleted);
        Ok(())
    }

    /// Counts, reports and remembers deleted names.
    fn log_deletions(
        &mut self,
        conn: &mut ProtocolStream,
        deleted: Vec<(String, rdsync_engine::fs::FileKind)>,
    ) {
        for (name, kind) in deleted {
            let is_dir = kind == rdsync_engine::fs::FileKind::Dir;
            self.counts.deleted.add(kind);
            conn.events.emit(crate::events::TransferEvent::Deleted {
                name: name.as_bytes(),
                is_dir,
            });
            let mut shown = name;
            if is_dir {
                shown.push('/');
            }
            conn.messages.deleted.push(shown);
        }
    }

    fn finish_directories(&self) -> Result<(), WireError> {
        for i in (0..self.entries.len()).rev() {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if !e.is_dir() || !self.active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let path = self.path(i)?;
            match std::fs::symlink_metadata(&path) {
                Ok(md) if md.is_dir() => apply_attrs(&path, e, self.opts.perms, self.opts.times)?,
                // Skipped (--ignore-existing kept a non-directory there): rsync's
                // touch_up_dirs still sets the time, nothing else.
                Ok(_) if self.opts.ignore_existing && self.opts.times => {
                    apply_attrs(&path, e, false, true)?
                }
                // Missing (--existing did not create it) or otherwise not ours to touch.
                _ => {}
            }
        }
        Ok(())
    }
}
