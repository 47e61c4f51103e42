//! The client generator + receiver (pull): filter list out, file list in, block-sum
//! requests out, delta tokens in, files rebuilt via temp file + rename, phases, stats.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rdsync_engine::checksum::FileHasher;
use rdsync_engine::layout::{BlockLayout, LayoutParams};
use rdsync_engine::patch::{PatchError, Patcher};
use rdsync_engine::signature::Signature;

use crate::codec::{NDX_DEL_STATS, NDX_DONE};
use crate::compress::{CompressedTokenReader, ReadToken, decode_compressed_item};
use crate::connection::{Connection, Transport};
use crate::dest::{Destination, OwnerMap, apply_attrs, create_temp, make_special, remove_existing};
use crate::error::WireError;
use crate::filter_list::{FilterRule, encode_filter_list};
use crate::flist::{
    FileEntry, FileListConfig, FileListDecoder, FileListItem, HardLinkInfo, IdNames,
    clean_duplicates, compare_names, decode_id_list,
};
use crate::item_flags::*;
use crate::options::TransferOptions;
use crate::push::{file_checksum, read_item_attrs, write_item_attrs};
use crate::session::{Checksums, TransferReport, setup};
use crate::stats::TransferStats;
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

struct PullState<'a> {
    opts: &'a TransferOptions,
    proto: u32,
    sums: Checksums,
    entries: Vec<FileEntry>,
    active: Vec<bool>,
    paths: Vec<Option<PathBuf>>,
    destination: Destination,
    owners: OwnerMap,
    requests: HashMap<usize, Request>,
    reader: Option<CompressedTokenReader>,
    redo: Vec<usize>,
    failed: bool,
}

/// Runs a pull session on an established connection.
pub(crate) fn run_pull<T: Transport>(
    conn: &mut Connection<T>,
    opts: &TransferOptions,
    remote_sources: &[String],
    dest: &Path,
    report: &mut TransferReport,
) -> Result<(), WireError> {
    let (params, sums) = setup(conn, opts, report)?;
    let proto = params.protocol;
    let config = FileListConfig::new(&params, opts, sums.flist_algorithm.digest_len());

    let rules: Vec<FilterRule> = opts
        .excludes
        .iter()
        .map(|p| FilterRule::Exclude(p.clone()))
        .collect();
    conn.write_with(|out| encode_filter_list(out, &rules));
    conn.flush()?;

    // The file list.
    let mut decoder = FileListDecoder::new(config);
    let mut io_error = 0;
    loop {
        match conn.read(|c| decoder.decode(c))? {
            FileListItem::Entry(_) => {}
            FileListItem::End { io_error: e } => {
                io_error |= e;
                break;
            }
        }
    }
    let mut uid_names = Vec::new();
    let mut gid_names = Vec::new();
    if !opts.numeric_ids {
        if opts.owner {
            uid_names = conn.read(|c| decode_id_list(c, proto, params.id0_names()))?;
        }
        if opts.group {
            gid_names = conn.read(|c| decode_id_list(c, proto, params.id0_names()))?;
        }
    }
    if proto < 30 {
        io_error |= conn.read_i32()?;
    }
    conn.stream.messages.io_error |= io_error;
    let received = decoder.take_entries();
    if received.is_empty() {
        // Like rsync's client_run: nothing to receive; the remote's exit status tells.
        return Ok(());
    }
    check_requested_names(&received, remote_sources)?;

    // Sort (stable) and remember each entry's transmission index for hard links.
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
    let entries: Vec<FileEntry> = order
        .iter()
        .filter_map(|i| received.get(*i).cloned())
        .collect();
    let active = clean_duplicates(&entries);

    let first_is_dir = entries.first().is_some_and(FileEntry::is_dir);
    let destination = Destination::prepare(dest, entries.len(), first_is_dir, opts.dry_run)?;
    let mut paths = Vec::with_capacity(entries.len());
    for e in &entries {
        paths.push(Some(destination.path_of(&e.name)?));
    }

    let running_as_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let mut owners = OwnerMap {
        map_uid: opts.owner && running_as_root,
        map_gid: opts.group,
        ..OwnerMap::default()
    };
    if !opts.numeric_ids {
        let local_users = IdNames::load(true);
        let local_groups = IdNames::load(false);
        for (id, name) in &uid_names {
            if let Some(local) = local_users.id_of(name) {
                owners.uids.insert(*id, local);
            }
        }
        for (id, name) in &gid_names {
            if let Some(local) = local_groups.id_of(name) {
                owners.gids.insert(*id, local);
            }
        }
    }

    let mut st = PullState {
        opts,
        proto,
        sums,
        entries,
        active,
        paths,
        destination: destination.clone(),
        owners,
        requests: HashMap::new(),
        reader: match params.compression {
            Some(m) => Some(CompressedTokenReader::new(m, proto)?),
            None => None,
        },
        redo: Vec::new(),
        failed: false,
    };

    // Generator, phase 0.
    for i in 0..st.entries.len() {
        st.generate(conn, i, false)?;
    }
    conn.write_ndx(NDX_DONE);
    conn.flush()?;

    // Receiver, with the generator's later phases driven by the sender's NDX_DONEs.
    let mut dones = 0;
    let mut phase = 0;
    let stats;
    loop {
        let ndx = conn.read_ndx()?;
        if ndx == NDX_DONE {
            dones += 1;
            if dones == 1 {
                phase = 1;
                let redo = std::mem::take(&mut st.redo);
                for i in redo {
                    st.generate(conn, i, true)?;
                }
                conn.write_ndx(NDX_DONE); // end of phase 1
                if proto >= 29 {
                    conn.write_ndx(NDX_DONE); // end of phase 2
                }
                if proto >= 31 {
                    conn.write_ndx(NDX_DONE); // deletions done
                }
                conn.flush()?;
                continue;
            }
            let last = if proto >= 29 { 3 } else { 2 };
            if dones == last {
                stats = conn.read(|c| TransferStats::decode(c, proto))?;
                if proto >= 31 {
                    let echo = conn.read_ndx()?;
                    if echo != NDX_DONE {
                        return Err(WireError::protocol(format!(
                            "Invalid packet at end of run [{echo}]"
                        )));
                    }
                }
                break;
            }
            phase = 2;
            continue;
        }
        if ndx == NDX_DEL_STATS {
            return Err(WireError::protocol(
                "unexpected NDX_DEL_STATS from the sender",
            ));
        }
        st.receive(conn, ndx, phase, report)?;
    }
    conn.write_ndx(NDX_DONE); // goodbye
    conn.flush()?;
    report.stats = stats;

    if opts.dry_run {
        return Ok(());
    }
    st.finish_hard_links(&tx_to_sorted)?;
    if opts.delete {
        if conn.stream.messages.io_error == 0 {
            st.delete_extraneous(&destination)?;
        } else {
            eprintln!("IO error encountered -- skipping file deletion");
        }
    }
    st.finish_directories()?;
    if st.failed {
        conn.stream.messages.io_error |= 1;
    }
    Ok(())
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

impl PullState<'_> {
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

    /// `recv_generator` for entry `i`.
    fn generate<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        i: usize,
        redo: bool,
    ) -> Result<(), WireError> {
        if !self.active.get(i).copied().unwrap_or(false) {
            return Ok(());
        }
        let e = self.entry(i)?.clone();
        let path = self.path(i)?;
        let existing = std::fs::symlink_metadata(&path).ok();
        if self.opts.dry_run {
            return Ok(()); // -n: report nothing, change nothing, request nothing
        }
        if e.is_dir() {
            match &existing {
                Some(md) if md.is_dir() => {}
                _ => {
                    remove_existing(&path, false)?;
                    std::fs::create_dir(&path).map_err(|err| WireError::file(&path, err))?;
                    // Keep it writable for what we put in it; final perms come later.
                }
            }
            self.owners.apply(&path, &e);
            return Ok(());
        }
        if matches!(e.hard_link, Some(HardLinkInfo::Follower(_))) {
            return Ok(()); // linked after the transfer
        }
        if e.is_symlink() {
            let target = e.link_target.clone().unwrap_or_default();
            let same = existing
                .as_ref()
                .is_some_and(|md| md.file_type().is_symlink())
                && std::fs::read_link(&path)
                    .ok()
                    .map(|t| t.into_os_string().into_encoded_bytes())
                    == Some(target.clone());
            if !same {
                remove_existing(&path, existing.as_ref().is_some_and(|m| m.is_dir()))?;
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
                md.mode() & 0o170000 == e.mode & 0o170000
                    && e.rdev
                        .is_none_or(|r| crate::local_scan::split_rdev(md.rdev()) == r)
            });
            if !ok {
                remove_existing(&path, existing.as_ref().is_some_and(|m| m.is_dir()))?;
                make_special(&path, &e)?;
            }
            self.owners.apply(&path, &e);
            apply_attrs(&path, &e, self.opts.perms, self.opts.times)?;
            return Ok(());
        }
        if !e.is_regular() {
            return Ok(());
        }
        let basis_md = existing.as_ref().filter(|md| md.is_file());
        if !redo && let Some(md) = basis_md {
            let same_size = md.size() as i64 == e.size;
            if self.opts.update && md.mtime() > e.mtime {
                return Ok(()); // -u: a newer destination file is left alone entirely
            }
            let up_to_date = if self.opts.ignore_times {
                false
            } else if self.opts.checksum {
                same_size
                    && e.checksum.as_deref()
                        == Some(
                            file_checksum(&path, FileHasher::new(self.sums.flist_algorithm, None))?
                                .as_slice(),
                        )
            } else if self.opts.size_only {
                same_size
            } else {
                same_size && md.mtime() == e.mtime
            };
            if up_to_date {
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
        let use_basis = basis_md.is_some_and(|md| md.size() > 0) && !self.opts.whole_file;
        let (layout, sig) = if use_basis {
            let md_len = basis_md.map(|m| m.size()).unwrap_or(0);
            let layout = BlockLayout::for_file(md_len, &params);
            let f = File::open(&path).map_err(|err| WireError::file(&path, err))?;
            let sig =
                Signature::generate(std::io::BufReader::new(f), layout, &self.sums.profile.block)
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
        let iflags = ITEM_TRANSFER | if basis_md.is_none() { ITEM_IS_NEW } else { 0 };
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
        conn.maybe_flush()?;
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

    /// `recv_files` for one index from the sender.
    fn receive<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        ndx: i32,
        phase: u32,
        report: &mut TransferReport,
    ) -> Result<(), WireError> {
        if (29..30).contains(&self.proto) && usize::try_from(ndx).ok() == Some(self.entries.len()) {
            // A protocol-29 keep-alive: the list size as index with iflags IS_NEW.
            let (iflags, _, _) = read_item_attrs(conn, self.proto)?;
            if iflags == ITEM_IS_NEW {
                return Ok(());
            }
            return Err(WireError::protocol(format!("Invalid file index: {ndx}")));
        }
        let i = usize::try_from(ndx)
            .ok()
            .filter(|i| *i < self.entries.len())
            .ok_or_else(|| WireError::protocol(format!("Invalid file index: {ndx}")))?;
        let (iflags, fnamecmp_type, xname) = read_item_attrs(conn, self.proto)?;
        if fnamecmp_type.is_some() || xname.is_some() {
            return Err(WireError::protocol(format!(
                "rsync: refusing malicious fuzzy operation for {}",
                self.entry(i)?.display_name()
            )));
        }
        if self.proto >= 29 && iflags & ITEM_TRANSFER == 0 {
            return Ok(()); // an itemize echo
        }
        let req = self.requests.remove(&i).ok_or_else(|| {
            WireError::protocol(format!("refusing transfer of unrequested file index {ndx}"))
        })?;
        let head = conn.read(|c| SumHead::decode(c, self.proto))?;
        if head != req.head {
            return Err(WireError::protocol(format!(
                "sum head echo differs for index {ndx}"
            )));
        }
        let e = self.entry(i)?.clone();
        let path = self.path(i)?;
        let basis = match &req.basis {
            Some(p) => Some(File::open(p).map_err(|err| WireError::file(p, err))?),
            None => None,
        };
        let (tmp_file, tmp_path) = create_temp(&path, e.mode)?;
        let mut patcher = Patcher::new(
            basis,
            req.layout,
            BufWriter::new(tmp_file),
            self.sums.profile.file_hasher(),
        );
        let mut written: u64 = 0;
        let limit = (e.size.max(0) as u64)
            .saturating_add(1 << 20)
            .saturating_mul(2);
        let history_basis = match (
            &req.basis,
            self.reader.as_ref().is_some_and(|r| r.needs_block_data()),
        ) {
            (Some(p), true) => Some(File::open(p).map_err(|err| WireError::file(p, err))?),
            _ => None,
        };
        let result: Result<(), WireError> = loop {
            let tok = match self.reader.as_mut() {
                Some(reader) => {
                    let mut fetch = || conn.read(decode_compressed_item);
                    reader.next_token(&mut fetch).map(|t| match t {
                        ReadToken::Literal(d) => OwnedToken::Literal(d),
                        ReadToken::Copy(b) => OwnedToken::Copy(b),
                        ReadToken::End => OwnedToken::End,
                    })
                }
                None => conn.read(|c| {
                    decode_token(c).map(|t| match t {
                        Token::Literal(d) => OwnedToken::Literal(d.to_vec()),
                        Token::Copy(b) => OwnedToken::Copy(b),
                        Token::End => OwnedToken::End,
                    })
                }),
            };
            if let (Ok(OwnedToken::Copy(b)), Some(reader), Some(basis)) =
                (&tok, self.reader.as_mut(), history_basis.as_ref())
            {
                use std::os::unix::fs::FileExt;
                let b = u64::from(*b);
                let mut block = vec![0u8; req.layout.block_size(b) as usize];
                let seen = basis
                    .read_exact_at(&mut block, req.layout.block_offset(b))
                    .map_err(|err| WireError::protocol(format!("bad block reference {b}: {err}")))
                    .and_then(|()| reader.see_block(&block));
                if let Err(err) = seen {
                    break Err(err);
                }
            }
            let tok = match tok {
                Ok(t) => t,
                Err(err) => break Err(err),
            };
            let step = match tok {
                OwnedToken::End => break Ok(()),
                OwnedToken::Literal(d) => {
                    written += d.len() as u64;
                    patcher.literal(&d)
                }
                OwnedToken::Copy(b) => {
                    written += u64::from(req.layout.block_size(u64::from(b)));
                    patcher.copy_block(u64::from(b))
                }
            };
            if written > limit {
                break Err(WireError::protocol(format!(
                    "file {} grows beyond its size",
                    e.display_name()
                )));
            }
            if let Err(pe) = step {
                break Err(match pe {
                    PatchError::Io(io) => WireError::file(&tmp_path, io),
                    other => WireError::protocol(other.to_string()),
                });
            }
        };
        if let Err(err) = result {
            let _ = std::fs::remove_file(&tmp_path);
            return Err(err);
        }
        let sum_len = self.sums.profile.file_digest_len();
        let expected = conn.read_bytes(sum_len)?;
        match patcher.finish(&expected) {
            Ok((writer, _)) => {
                drop(writer);
                self.owners.apply(&tmp_path, &e);
                let perms_entry = if self.opts.perms {
                    e.clone()
                } else {
                    FileEntry {
                        mode: e.mode,
                        ..e.clone()
                    }
                };
                if let Err(err) =
                    apply_attrs(&tmp_path, &perms_entry, self.opts.perms, self.opts.times)
                {
                    let _ = std::fs::remove_file(&tmp_path);
                    return Err(err);
                }
                if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                    let _ = std::fs::remove_file(&tmp_path);
                    return Err(WireError::file(
                        &path,
                        std::io::Error::other("a directory is in the way"),
                    ));
                }
                std::fs::rename(&tmp_path, &path).map_err(|err| WireError::file(&path, err))?;
                report.transferred.push(e.display_name());
            }
            Err(PatchError::ChecksumMismatch { .. }) => {
                let _ = std::fs::remove_file(&tmp_path);
                if phase == 0 {
                    eprintln!(
                        "WARNING: {} failed verification -- update discarded (will try again).",
                        e.display_name()
                    );
                    self.redo.push(i);
                } else {
                    eprintln!(
                        "ERROR: {} failed verification -- update discarded.",
                        e.display_name()
                    );
                    self.failed = true;
                }
            }
            Err(PatchError::Io(io)) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(WireError::file(&tmp_path, io));
            }
            Err(other) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(WireError::protocol(other.to_string()));
            }
        }
        Ok(())
    }

    fn finish_hard_links(&mut self, tx_to_sorted: &[usize]) -> Result<(), WireError> {
        let mut leaders: HashMap<(i64, i64), usize> = HashMap::new();
        for i in 0..self.entries.len() {
            if !self.active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let leader = match &e.hard_link {
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
            if !same {
                remove_existing(&dst, false)?;
                std::fs::hard_link(&src, &dst).map_err(|err| WireError::file(&dst, err))?;
            }
        }
        Ok(())
    }

    fn delete_extraneous(&self, destination: &Destination) -> Result<(), WireError> {
        let wanted: HashSet<PathBuf> = self
            .paths
            .iter()
            .zip(&self.active)
            .filter(|(_, a)| **a)
            .filter_map(|(p, _)| p.clone())
            .collect();
        for (i, e) in self.entries.iter().enumerate() {
            if !e.is_dir() || !self.active.get(i).copied().unwrap_or(false) {
                continue;
            }
            if self.proto >= 30 && e.xflags & crate::flist::XMIT_NO_CONTENT_DIR != 0 {
                continue;
            }
            if !self.opts.recursive {
                continue;
            }
            let dir = self.path(i)?;
            if !dir.starts_with(destination.root()) {
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<PathBuf> = rd.filter_map(Result::ok).map(|d| d.path()).collect();
            names.sort();
            for p in names {
                if !wanted.contains(&p) {
                    let rel = p.strip_prefix(destination.root()).unwrap_or(&p);
                    let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
                    println!(
                        "deleting {}{}",
                        rel.display(),
                        if is_dir { "/" } else { "" }
                    );
                    remove_existing(&p, true)?;
                }
            }
        }
        Ok(())
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
            apply_attrs(&path, e, self.opts.perms, self.opts.times)?;
        }
        Ok(())
    }
}
