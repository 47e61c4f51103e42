//! The client sender (push): file list out, then answer the remote generator's requests
//! with delta tokens (`sender.c: send_files`), phases and the goodbye.

use std::fs::File;
use std::path::PathBuf;

use rdsync_engine::checksum::FileHasher;
use rdsync_engine::delta::{DeltaGenerator, DeltaSink};
use rdsync_engine::layout::BlockLayout;
use rdsync_engine::signature::Signature;

use crate::codec::{NDX_DEL_STATS, NDX_DONE, ReadCursor, put_int32};
use crate::compress::CompressedTokenEncoder;
use crate::connection::{Connection, Transport};
use crate::error::WireError;
use crate::filter_list::{FilterRule, encode_filter_list};
use crate::flist::{
    FileListConfig, FileListEncoder, IdList, IdNames, encode_id_list, sort_file_list,
};
use crate::item_flags::*;
use crate::local_scan::{LocalEntry, scan_sources};
use crate::options::TransferOptions;
use crate::session::{TransferReport, setup};
use crate::sum_head::{SumHead, decode_block_sums};
use crate::tokens::{put_copy, put_end, put_literal};

/// Writes delta tokens straight into the connection's output buffer, plain or
/// compressed.
struct TokenWriter<'c, T: Transport> {
    conn: &'c mut Connection<T>,
    compressed: Option<&'c mut CompressedTokenEncoder>,
    /// The source file, to give zlib the bytes of each matched block.
    source: &'c File,
    layout: BlockLayout,
    offset: u64,
}

impl<T: Transport> TokenWriter<'_, T> {
    fn end(&mut self) -> Result<(), WireError> {
        match self.compressed.as_deref_mut() {
            Some(enc) => {
                let mut out = Vec::new();
                enc.send_token(&mut out, -1, &[], &[])?;
                self.conn.write(&out);
            }
            None => self.conn.write_with(put_end),
        }
        Ok(())
    }
}

impl<T: Transport> DeltaSink for TokenWriter<'_, T> {
    type Error = WireError;
    fn literal(&mut self, data: &[u8]) -> Result<(), WireError> {
        self.offset += data.len() as u64;
        match self.compressed.as_deref_mut() {
            Some(enc) => {
                let mut out = Vec::new();
                enc.send_token(&mut out, -2, data, &[])?;
                self.conn.write(&out);
            }
            None => self.conn.write_with(|out| put_literal(out, data)),
        }
        self.conn.maybe_flush()
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
                self.conn.write(&out);
            }
            None => {
                let mut tok = Vec::with_capacity(4);
                put_copy(&mut tok, index)?;
                self.conn.write(&tok);
            }
        }
        self.offset += size as u64;
        self.conn.maybe_flush()
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

/// Runs a push session on an established connection.
pub(crate) fn run_push<T: Transport>(
    conn: &mut Connection<T>,
    opts: &TransferOptions,
    sources: &[PathBuf],
    report: &mut TransferReport,
) -> Result<(), WireError> {
    conn.stream.am_sender = true;
    let mut entries = scan_sources(sources, opts)?;
    let (params, sums) = setup(conn, opts, report)?;
    let proto = params.protocol;
    let csum_len = sums.flist_algorithm.digest_len();
    let config = FileListConfig::new(&params, opts, csum_len);

    if opts.delete {
        let rules: Vec<FilterRule> = opts
            .excludes
            .iter()
            .map(|p| FilterRule::Exclude(p.clone()))
            .collect();
        conn.write_with(|out| encode_filter_list(out, &rules));
    }

    if opts.checksum {
        for le in entries.iter_mut().filter(|e| e.entry.is_regular()) {
            le.entry.checksum = Some(file_checksum(
                &le.path,
                FileHasher::new(sums.flist_algorithm, None),
            )?);
        }
    }

    let mut encoder = FileListEncoder::new(config);
    for le in &entries {
        let mut buf = Vec::new();
        encoder.encode(&mut buf, &le.entry)?;
        conn.write(&buf);
        conn.maybe_flush()?;
    }
    conn.write_with(|out| encoder.encode_end(out, 0));
    if !opts.numeric_ids {
        if opts.owner {
            let ids = id_lists(&entries, true);
            let id0 = id0_name(true);
            conn.write_with(|out| encode_id_list(out, proto, &ids, params.id0_names(), &id0));
        }
        if opts.group {
            let ids = id_lists(&entries, false);
            let id0 = id0_name(false);
            conn.write_with(|out| encode_id_list(out, proto, &ids, params.id0_names(), &id0));
        }
    }
    if proto < 30 {
        conn.write_with(|out| put_int32(out, 0));
    }
    conn.flush()?;

    // Index order is the sorted order (the sender keeps duplicates).
    let mut sorted: Vec<(crate::flist::FileEntry, PathBuf)> =
        entries.into_iter().map(|l| (l.entry, l.path)).collect();
    {
        let mut only: Vec<crate::flist::FileEntry> =
            sorted.iter().map(|(e, _)| e.clone()).collect();
        let paths: std::collections::HashMap<Vec<u8>, PathBuf> = sorted
            .iter()
            .map(|(e, p)| (e.name.clone(), p.clone()))
            .collect();
        sort_file_list(&mut only, proto);
        sorted = only
            .into_iter()
            .map(|e| {
                let p = paths.get(&e.name).cloned().unwrap_or_default();
                (e, p)
            })
            .collect();
    }

    let mut encoder = match params.compression {
        Some(m) => Some(CompressedTokenEncoder::new(m, proto)?),
        None => None,
    };
    let max_phase = if proto >= 29 { 2 } else { 1 };
    let mut phase = 0;
    loop {
        let ndx = conn.read_ndx()?;
        if ndx == NDX_DONE {
            phase += 1;
            if phase > max_phase {
                break;
            }
            conn.write_ndx(NDX_DONE);
            conn.flush()?;
            continue;
        }
        if ndx == NDX_DEL_STATS && proto >= 31 {
            read_del_stats(conn)?;
            continue;
        }
        let idx = usize::try_from(ndx)
            .ok()
            .filter(|i| *i < sorted.len())
            .ok_or_else(|| WireError::protocol(format!("Invalid file index: {ndx}")))?;
        let (iflags, fnamecmp_type, xname) = read_item_attrs(conn, proto)?;
        let transfer = proto < 29 || iflags & ITEM_TRANSFER != 0;
        if !transfer || opts.dry_run {
            conn.write_ndx(ndx);
            write_item_attrs(conn, proto, iflags, fnamecmp_type, xname.as_deref())?;
            continue;
        }
        if phase >= 2 {
            return Err(WireError::protocol("transfer request in phase 2"));
        }
        let head = conn.read(|c| SumHead::decode(c, proto))?;
        let block_sums = conn.read(|c| decode_block_sums(c, &head))?;
        let Some((entry, path)) = sorted.get(idx) else {
            return Err(WireError::protocol(format!("Invalid file index: {ndx}")));
        };
        if !entry.is_regular() {
            return Err(WireError::protocol(format!(
                "transfer request for non-regular file {}",
                entry.display_name()
            )));
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("rsync: send_files failed to open {}: {e}", path.display());
                if proto >= 30 {
                    conn.send_message(crate::mux::MessageCode::NoSend, &ndx.to_le_bytes())?;
                }
                conn.stream.messages.io_error |= 1;
                continue;
            }
        };
        conn.write_ndx(ndx);
        write_item_attrs(conn, proto, iflags, fnamecmp_type, xname.as_deref())?;
        conn.write_with(|out| head.encode(out, proto));

        let s2 = usize::try_from(head.s2length).unwrap_or(0);
        let layout = BlockLayout {
            file_len: u64::try_from(head.count).unwrap_or(0).saturating_sub(1)
                * u64::try_from(head.block_len).unwrap_or(0)
                + if head.remainder != 0 {
                    head.remainder as u64
                } else if head.count > 0 {
                    head.block_len as u64
                } else {
                    0
                },
            block_len: u32::try_from(head.block_len).unwrap_or(0).max(1),
            count: u64::try_from(head.count).unwrap_or(0),
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
        let outcome = {
            let mut sink = TokenWriter {
                conn,
                compressed: encoder.as_mut(),
                source: &file,
                layout,
                offset: 0,
            };
            let outcome = generator
                .run(
                    std::io::BufReader::new(&file),
                    sums.profile.file_hasher(),
                    &mut sink,
                )
                .map_err(|e| match e {
                    rdsync_engine::delta::DeltaError::Read(io) => WireError::file(path, io),
                    rdsync_engine::delta::DeltaError::Sink(w) => w,
                })?;
            sink.end()?;
            outcome
        };
        let digest = outcome.digest;
        conn.write(digest.as_bytes());
        conn.maybe_flush()?;
        report.transferred.push(entry.display_name());
    }
    conn.write_ndx(NDX_DONE);
    conn.flush()?;
    read_final_goodbye(conn, proto)?;
    // No statistics travel in a push: count our own, as rsync's client does.
    report.stats.total_size = sorted
        .iter()
        .filter(|(e, _)| e.is_regular() || e.is_symlink())
        .map(|(e, _)| e.size)
        .sum();
    report.stats.bytes_sent = conn.bytes_sent as i64;
    report.stats.bytes_received = conn.bytes_received as i64;
    Ok(())
}

fn read_del_stats<T: Transport>(conn: &mut Connection<T>) -> Result<(), WireError> {
    conn.read(|c| {
        for _ in 0..5 {
            c.varint()?;
        }
        Ok(())
    })
}

/// `main.c: read_final_goodbye` as the client sender.
fn read_final_goodbye<T: Transport>(conn: &mut Connection<T>, proto: u32) -> Result<(), WireError> {
    if proto < 29 {
        let v = conn.read_i32()?;
        if v != NDX_DONE {
            return Err(WireError::protocol(format!(
                "Invalid packet at end of run [{v}]"
            )));
        }
        return Ok(());
    }
    loop {
        let v = conn.read_ndx()?;
        if v == NDX_DEL_STATS {
            read_del_stats(conn)?;
            continue;
        }
        if v == NDX_DONE && proto >= 31 {
            conn.write_ndx(NDX_DONE);
            conn.flush()?;
            let w = loop {
                let w = conn.read_ndx()?;
                if w == NDX_DEL_STATS {
                    read_del_stats(conn)?;
                    continue;
                }
                break w;
            };
            if w != NDX_DONE {
                return Err(WireError::protocol(format!(
                    "Invalid packet at end of run [{w}]"
                )));
            }
            return Ok(());
        }
        if v != NDX_DONE {
            return Err(WireError::protocol(format!(
                "Invalid packet at end of run [{v}]"
            )));
        }
        return Ok(());
    }
}

/// iflags, the optional basis-type byte and the optional xname.
pub(crate) type ItemAttrs = (u16, Option<u8>, Option<Vec<u8>>);

/// Reads iflags and their optional trailers (protocol ≥ 29).
pub(crate) fn read_item_attrs<T: Transport>(
    conn: &mut Connection<T>,
    proto: u32,
) -> Result<ItemAttrs, WireError> {
    if proto < 29 {
        return Ok((ITEM_TRANSFER, None, None));
    }
    conn.read(|c: &mut ReadCursor<'_>| {
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
pub(crate) fn write_item_attrs<T: Transport>(
    conn: &mut Connection<T>,
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
    conn.write(&out);
    Ok(())
}

/// Whole-file checksum of a local file.
pub(crate) fn file_checksum(
    path: &std::path::Path,
    mut hasher: FileHasher,
) -> Result<Vec<u8>, WireError> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| WireError::file(path, e))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| WireError::file(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or(&[]));
    }
    Ok(hasher.finish().as_bytes().to_vec())
}
