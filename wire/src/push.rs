//! The client sender (push) as a sans-IO state machine: file list out, then answer the
//! remote generator's requests with delta tokens (`sender.c: send_files`), phases and
//! the goodbye.

use std::fs::File;
use std::path::{Path, PathBuf};

use rdsync_engine::checksum::FileHasher;
use rdsync_engine::delta::{DeltaGenerator, DeltaSink};
use rdsync_engine::layout::BlockLayout;
use rdsync_engine::signature::Signature;

use crate::codec::{
    NDX_DEL_STATS, NDX_DONE, NDX_FLIST_EOF, NDX_FLIST_OFFSET, ReadCursor, put_int32,
};
use crate::compress::CompressedTokenEncoder;
use crate::error::WireError;
use crate::filter_list::encode_client_filters;
use crate::flist::{
    FileEntry, FileListConfig, FileListEncoder, IdList, IdNames, InlineNames, compare_names,
    encode_id_list,
};
use crate::handshake::{CF_INC_RECURSE, ClientHandshake, SessionParams};
use crate::item_flags::*;
use crate::local_scan::{LocalEntry, scan_sources};
use crate::options::{DeleteWhen, TransferOptions};
use crate::push_lists::{IncrementalLists, NextList, PendingList};
use crate::role::{OutputSink, Progress, RoleMachine, need};
use crate::sender_errors::SenderErrors;
use crate::session::Checksums;
use crate::stream::ProtocolStream;
use crate::sum_head::{SumHead, decode_block_sums};
use crate::tokens::{put_copy, put_end};

/// Writes delta tokens into the stream's output, plain or compressed, handing full
/// buffers to the output sink as the delta runs.
struct TokenWriter<'c> {
    stream: &'c mut ProtocolStream,
    out: &'c mut dyn OutputSink,
    compressed: Option<&'c mut CompressedTokenEncoder>,
    /// The source file, to give zlib the bytes of each matched block.
    source: &'c File,
    layout: BlockLayout,
    offset: u64,
    /// The file's size, for progress events (none for an empty file, as rsync).
    progress_size: u64,
    /// Where rsync's `matched()` last reported (`last_match`).
    last_match: u64,
}

/// rsync's `CHUNK_SIZE`: literal data are reported in steps of this size.
const CHUNK_SIZE: u64 = 32 * 1024;

/// Look-ahead file lists are handed to the sink whenever this much output is pending.
const LIST_FLUSH: usize = 16 * 1024;

/// File data are handed to the sink whenever this much output is pending.
const DATA_FLUSH: usize = 256 * 1024;

impl TokenWriter<'_> {
    /// match.c: a run of literal data is reported every `CHUNK_SIZE` bytes — without a
    /// basis in plain steps (`match_sums`), with one when the search has gone a chunk
    /// and a block past the last match and more than a chunk remains (`hash_search`).
    fn literal_progress(&mut self) {
        if self.progress_size == 0 {
            return;
        }
        let blen = u64::from(self.layout.block_len);
        loop {
            let next = self.last_match + CHUNK_SIZE;
            let due = if self.layout.count == 0 {
                next < self.progress_size && next <= self.offset
            } else {
                next + blen <= self.offset
                    && self.progress_size.saturating_sub(next + blen) > CHUNK_SIZE
            };
            if !due {
                return;
            }
            self.last_match = next;
            self.stream
                .events
                .emit(crate::events::TransferEvent::Progress {
                    done: next,
                    size: self.progress_size,
                });
        }
    }

    fn maybe_flush(&mut self) -> Result<(), WireError> {
        if self.stream.pending_output() >= DATA_FLUSH {
            self.out.flush(self.stream)?;
        }
        Ok(())
    }

    /// A file without a basis and without compression: literal tokens of `CHUNK_SIZE`
    /// (match.c without sums), each read from `file` straight into the output and hashed
    /// there. Bytes missing at the end (the file shrank since its fstat) go as zeros, as
    /// rsync's map_ptr pads them.
    fn send_whole(
        &mut self,
        file: &File,
        path: &Path,
        length: u64,
        hasher: &mut FileHasher,
    ) -> Result<(), WireError> {
        let mut left = length;
        while left > 0 {
            let n = CHUNK_SIZE.min(left) as usize;
            self.stream.write(&(n as i32).to_le_bytes());
            let got = self
                .stream
                .write_from(file, n, |d| hasher.update(d))
                .map_err(|e| WireError::file(path, e))?;
            if got < n {
                let zeros = vec![0u8; n - got];
                hasher.update(&zeros);
                self.stream.write(&zeros);
            }
            self.offset += n as u64;
            self.literal_progress();
            left -= n as u64;
            self.maybe_flush()?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), WireError> {
        match self.compressed.as_deref_mut() {
            Some(enc) => {
                let mut out = Vec::new();
                enc.send_token(&mut out, -1, &[], &[])?;
                self.stream.write(&out);
            }
            None => self.stream.write_with(put_end),
        }
        Ok(())
    }
}

impl DeltaSink for TokenWriter<'_> {
    type Error = WireError;
    fn literal(&mut self, data: &[u8]) -> Result<(), WireError> {
        self.offset += data.len() as u64;
        self.literal_progress();
        match self.compressed.as_deref_mut() {
            Some(enc) => {
                let mut out = Vec::new();
                enc.send_token(&mut out, -2, data, &[])?;
                self.stream.write(&out);
            }
            None => {
                for chunk in data.chunks(CHUNK_SIZE as usize) {
                    self.stream.write(&(chunk.len() as i32).to_le_bytes());
                    self.stream.write(chunk);
                }
            }
        }
        self.maybe_flush()
    }
    fn copy(&mut self, index: u64) -> Result<(), WireError> {
        let size = self.layout.block_size(index) as usize;
        match self.compressed.as_deref_mut() {
            Some(enc) => {
                let token = i32::try_from(index)
                    .map_err(|_| WireError::protocol("block index too large"))?;
                let mut block = vec![0u8; size];
                if enc.needs_block_data() {
                    use std::os::unix::fs::FileExt;
                    self.source
                        .read_exact_at(&mut block, self.offset)
                        .map_err(|e| {
                            WireError::stream(format!("re-reading a matched block: {e}"))
                        })?;
                }
                let mut out = Vec::new();
                enc.send_token(&mut out, token, &[], &block)?;
                self.stream.write(&out);
            }
            None => {
                let mut tok = Vec::with_capacity(4);
                put_copy(&mut tok, index)?;
                self.stream.write(&tok);
            }
        }
        self.offset += size as u64;
        self.last_match = self.offset;
        if self.progress_size > 0 {
            // rsync's matched(): progress after each block reference.
            self.stream
                .events
                .emit(crate::events::TransferEvent::Progress {
                    done: self.offset,
                    size: self.progress_size,
                });
        }
        self.maybe_flush()
    }
}

/// Builds the id lists for the entries we send.
fn id_lists(entries: &[LocalEntry], users: bool) -> IdList {
    let names = IdNames::load(users);
    let mut ids: Vec<u32> = entries
        .iter()
        .map(|e| if users { e.entry.uid } else { e.entry.gid })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|id| *id != 0)
        .filter_map(|id| names.name_of(id).map(|n| (id, n.to_vec())))
        .collect()
}

fn id0_name(users: bool) -> Vec<u8> {
    IdNames::load(users)
        .name_of(0)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Where the push is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PushStep {
    Handshake,
    ReadNdx,
    DelStats {
        then_goodbye: u8,
    },
    Attrs {
        ndx: i32,
        index: usize,
    },
    SumHead {
        ndx: i32,
        index: usize,
        attrs: ItemAttrs,
    },
    BlockSums {
        ndx: i32,
        index: usize,
        attrs: ItemAttrs,
        head: SumHead,
    },
    Goodbye {
        second: bool,
    },
    Done,
}

/// One request of the remote generator, read completely.
struct TransferRequest {
    ndx: i32,
    index: usize,
    attrs: ItemAttrs,
    head: SumHead,
    block_sums: crate::sum_head::BlockSums,
}

/// The pushing client (rsync's sender) as a sans-IO state machine.
pub struct PushMachine {
    opts: TransferOptions,
    sources: Vec<PathBuf>,
    step: PushStep,
    handshake: ClientHandshake,
    params: Option<SessionParams>,
    sums: Option<Checksums>,
    sorted: Vec<(FileEntry, PathBuf)>,
    encoder: Option<CompressedTokenEncoder>,
    phase: u32,
    /// Names of files whose data were sent.
    pub transferred: Vec<String>,
    /// Total size of the regular files and symlinks in the list.
    pub total_size: i64,
    /// The counters rsync's sending client keeps for `--stats`.
    pub stats: crate::stats::TransferStats,
    /// Log view of each sorted entry.
    infos: Vec<crate::events::ItemInfo>,
    /// Each sorted entry's number in rsync's incremental-recursion order (`to-chk`).
    numbering: Vec<u64>,
    /// Indexes whose data were requested before (a later request is a redo).
    sent_once: std::collections::HashSet<usize>,
    /// Opens the files whose data are requested.
    opener: crate::source_open::SourceOpener,
    /// Incremental recursion (`CF_INC_RECURSE`): the lists still to send and the index
    /// map of those sent.
    lists: Option<IncrementalLists>,
    /// The file-list encoder, kept for the lists sent during the transfer.
    flist_encoder: Option<FileListEncoder>,
    /// What could not be read from the sources (rsync's `io_error` and transfer errors).
    errors: SenderErrors,
    /// `io_error` when the transfer began (`send_files` reports later additions).
    io_error_at_transfer: i32,
}

impl std::fmt::Debug for PushMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushMachine")
            .field("step", &self.step)
            .finish()
    }
}

/// `NDX_DEL_STATS`: deleted files, dirs, symlinks, devices, specials (main.c:
/// `write_del_stats`).
fn read_del_stats(c: &mut ReadCursor<'_>) -> crate::error::Decoded<crate::stats::KindCounts> {
    let mut n = [0u64; 5];
    for slot in &mut n {
        *slot = u64::try_from(c.varint()?).unwrap_or(0);
    }
    let [reg, dir, link, dev, special] = n;
    Ok(crate::stats::KindCounts {
        reg,
        dir,
        link,
        dev,
        special,
    })
}

/// Counts one entry of `kind` (rsync's created/num_files tallies).
fn count_kind(k: &mut crate::stats::KindCounts, kind: rdsync_engine::fs::FileKind) {
    k.add(kind);
}

impl PushMachine {
    /// A push of local `sources`; the tree is scanned when the machine starts.
    pub fn new(opts: &TransferOptions, sources: &[PathBuf]) -> Self {
        PushMachine {
            opts: opts.clone(),
            sources: sources.to_vec(),
            step: PushStep::Handshake,
            handshake: ClientHandshake::new(opts)
                .offering_inc_recurse(opts.offers_inc_recurse(crate::options::Direction::Push)),
            params: None,
            sums: None,
            sorted: Vec::new(),
            encoder: None,
            phase: 0,
            transferred: Vec::new(),
            total_size: 0,
            stats: crate::stats::TransferStats::default(),
            infos: Vec::new(),
            numbering: Vec::new(),
            sent_once: std::collections::HashSet::new(),
            opener: crate::source_open::SourceOpener::default(),
            lists: None,
            flist_encoder: None,
            errors: SenderErrors::default(),
            io_error_at_transfer: 0,
        }
    }

    /// Whether incremental recursion was negotiated (the server set `CF_INC_RECURSE`).
    pub fn incremental(&self) -> bool {
        self.lists.is_some()
    }

    /// How many file lists were sent (1 without incremental recursion).
    pub fn lists_sent(&self) -> usize {
        self.lists.as_ref().map_or(
            usize::from(self.params.is_some()),
            IncrementalLists::lists_sent,
        )
    }

    /// The negotiated parameters, once the handshake is done.
    pub fn params(&self) -> Option<&SessionParams> {
        self.params.as_ref()
    }

    fn proto(&self) -> u32 {
        self.params.as_ref().map_or(0, |p| p.protocol)
    }

    /// After the handshake: filter list (with `--delete`), file list, id lists.
    fn send_file_list(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<(), WireError> {
        let params = self
            .params
            .clone()
            .ok_or_else(|| WireError::protocol("no session"))?;
        let sums = self.sums.ok_or_else(|| WireError::protocol("no session"))?;
        let opts = &self.opts;
        let proto = params.protocol;
        let build_started = std::time::Instant::now();
        let taken_before = s.bytes_taken;
        let config = FileListConfig::new(&params, opts, sums.flist_algorithm.digest_len());
        // send_filter_list: the receiver wants the list only to protect from deletion.
        if opts.delete && (!opts.delete_excluded || proto >= 29) {
            let mut filters = Vec::new();
            encode_client_filters(&mut filters, opts, proto, true)?;
            s.write(&filters);
        }
        self.encoder = match params.compression {
            Some(m) => {
                let level = m.level(self.opts.compress_level).unwrap_or(0);
                Some(CompressedTokenEncoder::new(m, proto, level)?)
            }
            None => None,
        };
        if params.compat_flags & CF_INC_RECURSE != 0 {
            return self.send_first_list(s, out, config, build_started);
        }
        let opts = &self.opts;
        let safe_flist = config.safe_flist;
        let (mut entries, scan_errors) = scan_sources(&self.sources, opts)?;
        self.errors.merge(scan_errors);
        let io_error = self.errors.io_error;
        if opts.checksum {
            for le in entries.iter_mut().filter(|e| e.entry.is_regular()) {
                le.entry.checksum = Some(file_checksum(
                    &le.path,
                    le.entry.size.max(0) as u64,
                    FileHasher::new(sums.flist_algorithm, None),
                ));
            }
        }
        let mut encoder = FileListEncoder::new(config);
        for le in &entries {
            let mut buf = Vec::new();
            encoder.encode(&mut buf, &le.entry)?;
            s.write(&buf);
            if s.pending_output() >= DATA_FLUSH {
                out.flush(s)?;
            }
        }
        let built = build_started.elapsed();
        s.write_with(|o| encoder.encode_end(o, io_error));
        if !opts.numeric_ids {
            if opts.owner {
                let ids = id_lists(&entries, true);
                let id0 = id0_name(true);
                s.write_with(|o| encode_id_list(o, proto, &ids, params.id0_names(), &id0));
            }
            if opts.group {
                let ids = id_lists(&entries, false);
                let id0 = id0_name(false);
                s.write_with(|o| encode_id_list(o, proto, &ids, params.id0_names(), &id0));
            }
        }
        // flist.c: the io_error flag after the list (in its end marker when safe).
        if proto < 30 {
            s.write_with(|o| put_int32(o, io_error));
        } else if !safe_flist && io_error != 0 {
            s.write_message(crate::mux::MessageCode::IoError, &io_error.to_le_bytes())?;
        }
        self.io_error_at_transfer = io_error;
        s.messages.io_error |= self.errors.exit_bits();
        // Index order is the sorted order (the sender keeps duplicates): sort indexes
        // stably so entries with equal names keep their transmission order.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| match (entries.get(*a), entries.get(*b)) {
            (Some(x), Some(y)) => compare_names(&x.entry, &y.entry, proto),
            _ => std::cmp::Ordering::Equal,
        });
        self.sorted = order
            .iter()
            .filter_map(|i| entries.get(*i).map(|l| (l.entry.clone(), l.path.clone())))
            .collect();
        self.total_size = self
            .sorted
            .iter()
            .filter(|(e, _)| e.is_regular() || e.is_symlink())
            .map(|(e, _)| e.size)
            .sum();
        // flist.c: build time never shows as 0 ms; the list size is what reached the
        // transport while it was written (0 when it fits the output buffer, as rsync).
        self.stats.flist_build_ms = (built.as_millis() as i64).max(1);
        self.stats.flist_xfer_ms =
            (build_started.elapsed().saturating_sub(built)).as_millis() as i64;
        self.stats.flist_size = s.bytes_taken - taken_before;
        self.infos = self
            .sorted
            .iter()
            .map(|(e, _)| crate::events::ItemInfo::of(e))
            .collect();
        for info in &self.infos {
            count_kind(&mut self.stats.files, info.kind);
        }
        let sorted_entries: Vec<FileEntry> = self.sorted.iter().map(|(e, _)| e.clone()).collect();
        self.numbering = crate::events::incremental_numbering(&sorted_entries);
        s.events.emit(crate::events::TransferEvent::FileList {
            files: self.infos.len() as u64,
            dirs: self.stats.files.dir,
            total_size: self.total_size.max(0) as u64,
        });
        Ok(())
    }

    /// Incremental recursion: the first list (top-level entries), then as many further
    /// lists as keep the generator [`MIN_FILECNT_LOOKAHEAD`](crate::push_lists::MIN_FILECNT_LOOKAHEAD)
    /// entries ahead. Names of users and groups travel inline; there are no id lists.
    fn send_first_list(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
        config: FileListConfig,
        build_started: std::time::Instant,
    ) -> Result<(), WireError> {
        let mut encoder = FileListEncoder::new(config);
        if (self.opts.owner || self.opts.group) && !self.opts.numeric_ids {
            encoder = encoder.with_inline_names(InlineNames::load());
        }
        self.flist_encoder = Some(encoder);
        let mut lists = IncrementalLists::new(&self.opts);
        let first = lists.first_list(&self.sources)?;
        self.errors.merge(lists.take_errors());
        self.lists = Some(lists);
        // flist.c: the build time is that of the first list (never shown as 0 ms).
        self.stats.flist_build_ms = (build_started.elapsed().as_millis() as i64).max(1);
        let sent = std::time::Instant::now();
        self.emit_list(s, out, first, self.errors.io_error)?;
        self.io_error_at_transfer = self.errors.io_error;
        s.messages.io_error |= self.errors.exit_bits();
        self.stats.flist_xfer_ms = sent.elapsed().as_millis() as i64;
        // The remote can set up its receiver and generator while we list further ahead.
        out.flush(s)?;
        self.send_lists_ahead(s, out)
    }

    /// Sends further lists while fewer than the look-ahead are listed beyond the list
    /// the generator works on (`send_extra_file_list(f, MIN_FILECNT_LOOKAHEAD)`).
    fn send_lists_ahead(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<(), WireError> {
        while self
            .lists
            .as_ref()
            .is_some_and(IncrementalLists::wants_more)
        {
            self.send_next_list(s, out)?;
            // Lists leave as they are made (as rsync's 32 KiB output buffer fills), so the
            // generator starts on the first directories while we scan the next ones.
            if s.pending_output() >= LIST_FLUSH {
                out.flush(s)?;
            }
        }
        Ok(())
    }

    /// Sends the next list, or `NDX_FLIST_EOF` after the last; false when all was sent.
    fn send_next_list(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<bool, WireError> {
        let Some(lists) = self.lists.as_mut() else {
            return Ok(false);
        };
        match lists.next_list()? {
            None => Ok(false),
            Some(NextList::Eof) => {
                s.write_ndx(NDX_FLIST_EOF);
                Ok(true)
            }
            Some(NextList::List(list)) => {
                // flist.c: a list ends with the io_error flag only when its scan added to it.
                let before = self.errors.io_error;
                self.errors.merge(lists.take_errors());
                let end_io_error = if self.errors.io_error != before {
                    self.errors.io_error
                } else {
                    0
                };
                self.emit_list(s, out, list, end_io_error)?;
                s.messages.io_error |= self.errors.exit_bits();
                Ok(true)
            }
        }
    }

    /// Encodes one incremental list (announced by its directory index, except the
    /// first), ended by the end marker; then records its sorted entries.
    fn emit_list(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
        mut list: PendingList,
        end_io_error: i32,
    ) -> Result<(), WireError> {
        let proto = self.proto();
        let sums = self.sums.ok_or_else(|| WireError::protocol("no session"))?;
        let taken_before = s.bytes_taken;
        if self.opts.checksum {
            for le in list.entries.iter_mut().filter(|e| e.entry.is_regular()) {
                le.entry.checksum = Some(file_checksum(
                    &le.path,
                    le.entry.size.max(0) as u64,
                    FileHasher::new(sums.flist_algorithm, None),
                ));
            }
        }
        let encoder = self
            .flist_encoder
            .as_mut()
            .ok_or_else(|| WireError::protocol("no file-list encoder"))?;
        if let Some(dir) = list.dir_ndx {
            s.write_ndx(NDX_FLIST_OFFSET - dir);
        }
        encoder.start_list(list.ndx_start);
        let mut buf = Vec::new();
        for le in &list.entries {
            buf.clear();
            encoder.encode(&mut buf, &le.entry)?;
            s.write(&buf);
            if s.pending_output() >= DATA_FLUSH {
                out.flush(s)?;
            }
        }
        if end_io_error != 0
            && !encoder.safe_flist()
            && self.opts.delete
            && let when @ (DeleteWhen::During | DeleteWhen::Delay) =
                self.opts.effective_delete_when(proto)
        {
            // flist.c: fatal_unsafe_io_error — an old receiver would delete what we could
            // not list.
            let word = if when == DeleteWhen::Delay {
                "delay"
            } else {
                "during"
            };
            return Err(WireError::Unsupported(format!(
                "FATAL I/O ERROR: dying to avoid a --delete-{word} issue with a pre-3.0.7 \
                 receiver."
            )));
        }
        s.write_with(|o| encoder.encode_end(o, end_io_error));
        let entries = &list.entries;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|a, b| match (entries.get(*a), entries.get(*b)) {
            (Some(x), Some(y)) => compare_names(&x.entry, &y.entry, proto),
            _ => std::cmp::Ordering::Equal,
        });
        let lists = self
            .lists
            .as_mut()
            .ok_or_else(|| WireError::protocol("no incremental lists"))?;
        for le in lists.record(list, &order, proto) {
            let info = crate::events::ItemInfo::of(&le.entry);
            count_kind(&mut self.stats.files, info.kind);
            if le.entry.is_regular() || le.entry.is_symlink() {
                self.total_size += le.entry.size;
            }
            self.infos.push(info);
            self.sorted.push((le.entry, le.path));
        }
        self.stats.flist_size += s.bytes_taken - taken_before;
        s.events.emit(crate::events::TransferEvent::FileList {
            files: self.infos.len() as u64,
            dirs: self.stats.files.dir,
            total_size: self.total_size.max(0) as u64,
        });
        Ok(())
    }

    /// Answers one transfer request: echo, sum head, tokens, whole-file checksum.
    fn send_file(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
        request: TransferRequest,
    ) -> Result<(), WireError> {
        let TransferRequest {
            ndx,
            index,
            attrs,
            head,
            block_sums,
        } = request;
        let proto = self.proto();
        let sums = self.sums.ok_or_else(|| WireError::protocol("no session"))?;
        let Some((entry, path)) = self.sorted.get(index) else {
            return Err(WireError::protocol(format!("Invalid file index: {ndx}")));
        };
        if !entry.is_regular() {
            return Err(WireError::protocol(format!(
                "transfer request for non-regular file {}",
                entry.display_name()
            )));
        }
        let file = match self.opener.open(path) {
            Ok(f) => f,
            Err(e) => {
                self.errors
                    .record(crate::sender_errors::SenderFailure::Open, path, &e);
                s.messages.io_error |= self.errors.exit_bits();
                if proto >= 30 {
                    s.write_message(crate::mux::MessageCode::NoSend, &ndx.to_le_bytes())?;
                }
                return Ok(());
            }
        };
        s.write_ndx(ndx);
        write_item_attrs(s, proto, attrs.0, attrs.1, attrs.2.as_deref())?;
        s.write_with(|o| head.encode(o, proto));
        if let Some(info) = self.infos.get(index) {
            s.events.emit(crate::events::TransferEvent::TransferStart {
                item: info,
                iflags: attrs.0,
            });
        }
        let s2 = usize::try_from(head.s2length).unwrap_or(0);
        let count = u64::try_from(head.count).unwrap_or(0);
        let blen = u64::try_from(head.block_len).unwrap_or(0);
        let last = if head.remainder != 0 {
            head.remainder as u64
        } else {
            blen
        };
        let layout = BlockLayout {
            file_len: if count == 0 {
                0
            } else {
                (count - 1) * blen + last
            },
            block_len: u32::try_from(head.block_len).unwrap_or(0).max(1),
            count,
            remainder: u32::try_from(head.remainder).unwrap_or(0),
            strong_len: s2.min(sums.profile.block.digest_len()),
        };
        let (weak, strong) = if s2 > layout.strong_len {
            // An old generator asked for more strong-sum bytes than the digest has:
            // compare only the digest-length prefix.
            let keep = layout.strong_len;
            let strong: Vec<u8> = block_sums
                .strong
                .chunks(s2.max(1))
                .flat_map(|c| c.iter().take(keep).copied())
                .collect();
            (block_sums.weak, strong)
        } else {
            (block_sums.weak, block_sums.strong)
        };
        let sig = Signature::from_parts(layout, weak, strong)
            .map_err(|e| WireError::protocol(e.to_string()))?;
        let generator = DeltaGenerator::new(&sig, sums.profile.block);
        let name = entry.display_name();
        let path = path.clone();
        let mut sink = TokenWriter {
            stream: s,
            out,
            compressed: self.encoder.as_mut(),
            source: &file,
            layout,
            offset: 0,
            progress_size: entry.size.max(0) as u64,
            last_match: 0,
        };
        // Like rsync's sender, send the length the file has now (fstat after open), read
        // with no trailing end-of-file probes.
        let length = file
            .metadata()
            .map_err(|e| WireError::file(&path, e))?
            .len();
        if layout.count == 0 && sink.compressed.is_none() {
            let mut hasher = sums.profile.file_hasher();
            sink.send_whole(&file, &path, length, &mut hasher)?;
            sink.end()?;
            s.write(hasher.finish().as_bytes());
            self.stats.literal_data += length;
            return self.finish_sent_file(s, index, name, entry.size.max(0) as u64);
        }
        let outcome = generator
            .with_size_hint(length)
            .run(
                std::io::Read::take(&file, length),
                sums.profile.file_hasher(),
                &mut sink,
            )
            .map_err(|e| match e {
                rdsync_engine::delta::DeltaError::Read(io) => WireError::file(&path, io),
                rdsync_engine::delta::DeltaError::Sink(w) => w,
            })?;
        sink.end()?;
        s.write(outcome.digest.as_bytes());
        self.stats.literal_data += outcome.stats.literal_bytes;
        self.stats.matched_data += outcome.stats.matched_bytes;
        self.finish_sent_file(s, index, name, entry.size.max(0) as u64)
    }

    /// After a file's data and checksum: the last progress report, the log line.
    fn finish_sent_file(
        &mut self,
        s: &mut ProtocolStream,
        index: usize,
        name: String,
        size: u64,
    ) -> Result<(), WireError> {
        if size > 0 {
            // matched(-1) at the end of the file reports progress once more.
            s.events
                .emit(crate::events::TransferEvent::Progress { done: size, size });
        }
        self.transferred.push(name);
        self.log_transfer_end(s, index);
        Ok(())
    }

    /// `end_progress` after a file's data went out.
    fn log_transfer_end(&self, s: &mut ProtocolStream, index: usize) {
        if let Some(info) = self.infos.get(index) {
            let total = self.infos.len() as u64;
            // progress.c: with incremental lists the number is the position among the
            // entries sent so far, and the total counts those.
            let number = if self.lists.is_some() {
                index as u64
            } else {
                self.numbering.get(index).copied().unwrap_or(0)
            };
            s.events.emit(crate::events::TransferEvent::TransferEnd {
                item: info,
                xferred: self.stats.xferred_files,
                to_check: total.saturating_sub(number + 1),
                total,
                transferred_size: self.stats.transferred_size,
                total_size: self.total_size.max(0) as u64,
            });
        }
    }

    /// sender.c: what the sending client counts and logs for one echoed request.
    fn note_request(&mut self, s: &mut ProtocolStream, index: usize, attrs: &ItemAttrs) {
        let (iflags, _, xname) = attrs;
        let Some(info) = self.infos.get(index) else {
            return;
        };
        let transfer = self.proto() < 29 || iflags & ITEM_TRANSFER != 0;
        // A redo request (FLAG_FILE_SENT) is not counted as created again.
        let redo = transfer && !self.sent_once.insert(index);
        if iflags & ITEM_IS_NEW != 0 && !redo {
            count_kind(&mut self.stats.created, info.kind);
        }
        if !transfer {
            s.events.emit(crate::events::TransferEvent::Item {
                item: info,
                iflags: *iflags,
                xname: xname.as_deref(),
            });
            return;
        }
        self.stats.xferred_files += 1;
        self.stats.transferred_size += info.size;
    }

    fn step(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<Progress, WireError> {
        loop {
            let proto = self.proto();
            match self.step.clone() {
                PushStep::Handshake => {
                    s.am_sender = true;
                    s.who_am_i = "sender";
                    let Some(params) = self.handshake.advance(s)? else {
                        return Ok(Progress::NeedInput);
                    };
                    self.sums = Some(Checksums::new(&params, &self.opts)?);
                    s.events.emit(crate::events::TransferEvent::Started {
                        protocol: params.protocol,
                        preserve_mtimes: self.opts.times,
                        receiver_symlink_times: params.protocol >= 30
                            && params.compat_flags & crate::handshake::CF_SYMLINK_TIMES != 0,
                    });
                    self.params = Some(params);
                    self.send_file_list(s, out)?;
                    self.step = PushStep::ReadNdx;
                    return Ok(Progress::Flush);
                }
                PushStep::ReadNdx => {
                    self.send_lists_ahead(s, out)?;
                    let Some(ndx) = s.try_read_ndx()? else {
                        // rsync's sender sends further lists while it waits for input
                        // (io.c), a bounded number of entries ahead.
                        if self
                            .lists
                            .as_ref()
                            .is_some_and(IncrementalLists::may_send_extra)
                            && self.send_next_list(s, out)?
                        {
                            return Ok(Progress::Poll);
                        }
                        return Ok(Progress::NeedInput);
                    };
                    if ndx == NDX_DONE {
                        // sender.c: while lists remain, each NDX_DONE finishes the oldest
                        // one and is echoed; the last one ends the phase.
                        if self
                            .lists
                            .as_mut()
                            .is_some_and(IncrementalLists::finish_list)
                        {
                            s.write_ndx(NDX_DONE);
                            continue;
                        }
                        self.phase += 1;
                        let max_phase = if proto >= 29 { 2 } else { 1 };
                        if self.phase > max_phase {
                            // sender.c: errors since the transfer began go to the receiver.
                            let io_error = self.errors.io_error;
                            if proto >= 30 && io_error != self.io_error_at_transfer {
                                s.write_message(
                                    crate::mux::MessageCode::IoError,
                                    &io_error.to_le_bytes(),
                                )?;
                            }
                            s.write_ndx(NDX_DONE);
                            self.step = PushStep::Goodbye { second: false };
                        } else {
                            s.write_ndx(NDX_DONE);
                        }
                        return Ok(Progress::Flush);
                    }
                    if ndx == NDX_DEL_STATS && proto >= 31 {
                        self.step = PushStep::DelStats { then_goodbye: 0 };
                        continue;
                    }
                    let index = match self.lists.as_mut() {
                        Some(lists) => lists.locate(ndx),
                        None => usize::try_from(ndx).ok(),
                    }
                    .filter(|i| *i < self.sorted.len())
                    .ok_or_else(|| WireError::protocol(format!("Invalid file index: {ndx}")))?;
                    self.step = PushStep::Attrs { ndx, index };
                }
                PushStep::DelStats { then_goodbye } => {
                    self.stats.deleted = need!(s.try_read(&mut read_del_stats));
                    self.step = match then_goodbye {
                        0 => PushStep::ReadNdx,
                        1 => PushStep::Goodbye { second: false },
                        _ => PushStep::Goodbye { second: true },
                    };
                }
                PushStep::Attrs { ndx, index } => {
                    let attrs = need!(try_read_item_attrs(s, proto));
                    let transfer = proto < 29 || attrs.0 & ITEM_TRANSFER != 0;
                    self.note_request(s, index, &attrs);
                    if transfer && self.opts.dry_run {
                        // !do_xfers: log the transfer that would happen.
                        if let Some(info) = self.infos.get(index) {
                            s.events.emit(crate::events::TransferEvent::TransferStart {
                                item: info,
                                iflags: attrs.0,
                            });
                        }
                    }
                    if !transfer || self.opts.dry_run {
                        s.write_ndx(ndx);
                        write_item_attrs(s, proto, attrs.0, attrs.1, attrs.2.as_deref())?;
                        self.step = PushStep::ReadNdx;
                        continue;
                    }
                    if self.phase >= 2 {
                        return Err(WireError::protocol("transfer request in phase 2"));
                    }
                    self.step = PushStep::SumHead { ndx, index, attrs };
                }
                PushStep::SumHead { ndx, index, attrs } => {
                    let head = need!(s.try_read(&mut |c| SumHead::decode(c, proto)));
                    self.step = PushStep::BlockSums {
                        ndx,
                        index,
                        attrs,
                        head,
                    };
                }
                PushStep::BlockSums {
                    ndx,
                    index,
                    attrs,
                    head,
                } => {
                    let block_sums = need!(s.try_read(&mut |c| decode_block_sums(c, &head)));
                    self.send_file(
                        s,
                        out,
                        TransferRequest {
                            ndx,
                            index,
                            attrs,
                            head,
                            block_sums,
                        },
                    )?;
                    // No flush per file: the output leaves when we run out of requests
                    // (or in DATA_FLUSH pieces while a file is being sent).
                    self.step = PushStep::ReadNdx;
                }
                PushStep::Goodbye { second } => {
                    // main.c: read_final_goodbye as the client sender.
                    if proto < 29 {
                        let v = need!(s.try_read(&mut |c: &mut ReadCursor<'_>| c.i32()));
                        if v != NDX_DONE {
                            return Err(WireError::protocol(format!(
                                "Invalid packet at end of run [{v}]"
                            )));
                        }
                        self.step = PushStep::Done;
                        return Ok(Progress::Done);
                    }
                    let v = need!(s.try_read_ndx());
                    if v == NDX_DEL_STATS {
                        self.step = PushStep::DelStats {
                            then_goodbye: if second { 2 } else { 1 },
                        };
                        continue;
                    }
                    if v != NDX_DONE {
                        return Err(WireError::protocol(format!(
                            "Invalid packet at end of run [{v}]"
                        )));
                    }
                    if proto >= 31 && !second {
                        s.write_ndx(NDX_DONE);
                        self.step = PushStep::Goodbye { second: true };
                        return Ok(Progress::Flush);
                    }
                    self.step = PushStep::Done;
                    return Ok(Progress::Done);
                }
                PushStep::Done => return Ok(Progress::Done),
            }
        }
    }
}

impl RoleMachine for PushMachine {
    fn advance(
        &mut self,
        s: &mut ProtocolStream,
        out: &mut dyn OutputSink,
    ) -> Result<Progress, WireError> {
        self.step(s, out)
    }
}

/// iflags, the optional basis-type byte and the optional xname.
pub(crate) type ItemAttrs = (u16, Option<u8>, Option<Vec<u8>>);

/// Reads iflags and their optional trailers (protocol ≥ 29); `Ok(None)`: need more.
pub(crate) fn try_read_item_attrs(
    s: &mut ProtocolStream,
    proto: u32,
) -> Result<Option<ItemAttrs>, WireError> {
    if proto < 29 {
        return Ok(Some((ITEM_TRANSFER, None, None)));
    }
    s.try_read(&mut |c: &mut ReadCursor<'_>| {
        let iflags = c.u16()?;
        let t = if iflags & ITEM_BASIS_TYPE_FOLLOWS != 0 {
            Some(c.u8()?)
        } else {
            None
        };
        let x = if iflags & ITEM_XNAME_FOLLOWS != 0 {
            Some(c.vstring(crate::flist::MAX_PATH_LEN)?.to_vec())
        } else {
            None
        };
        Ok((iflags, t, x))
    })
}

/// Writes iflags and their optional trailers (protocol ≥ 29).
pub(crate) fn write_item_attrs(
    s: &mut ProtocolStream,
    proto: u32,
    iflags: u16,
    fnamecmp_type: Option<u8>,
    xname: Option<&[u8]>,
) -> Result<(), WireError> {
    if proto < 29 {
        return Ok(());
    }
    let mut out = iflags.to_le_bytes().to_vec();
    if let Some(t) = fnamecmp_type {
        out.push(t);
    }
    if let Some(x) = xname {
        crate::codec::put_vstring(&mut out, x)?;
    }
    s.write(&out);
    Ok(())
}

/// Whole-file checksum of a local file.
pub(crate) fn file_checksum(path: &std::path::Path, size: u64, mut hasher: FileHasher) -> Vec<u8> {
    use std::io::Read;
    // checksum.c: file_checksum hashes the listed size; a file that cannot be opened gets
    // an all-zero sum and bytes that cannot be read count as zeros (map_ptr), without an
    // error here (the transfer reports what fails).
    let Ok(f) = File::open(path) else {
        return vec![0; hasher.finish().as_bytes().len()];
    };
    let mut f = f.take(size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let n = match f.read(&mut buf) {
            Ok(n) if n > 0 => n,
            Ok(_) | Err(_) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                buf.get_mut(..n).unwrap_or_default().fill(0);
                n
            }
        };
        hasher.update(buf.get(..n).unwrap_or(&[]));
        left -= n as u64;
    }
    hasher.finish().as_bytes().to_vec()
}
