//! The server half of the hostile peer: blocking I/O on stdin / fd 3 built from the
//! wire crate's own codecs, a hand-rolled file-list entry writer that can also produce
//! malformed entries, and the protocol-correct parts (handshake, naive sender, naive
//! receiver) that every attack starts from.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;

use rdsync_engine::checksum::ChecksumAlgorithm;
use rdsync_wire::codec::{
    NDX_DONE, NdxDecoder, NdxEncoder, ReadCursor, put_int32, put_varint, put_varlong, put_vstring,
};
use rdsync_wire::error::{DecodeError, Decoded};
use rdsync_wire::mux::{MessageCode, MuxDeframer, MuxEvent, put_data_frames, put_message};
use rdsync_wire::sum_head::{SumHead, decode_block_sums};
use rdsync_wire::tokens::{Token, decode_token, put_end, put_literal};

/// The protocol the fake server announces.
pub const PROTO: u32 = 32;
/// The compat flags a well-behaved 3.5.0 server answers `e.LsfxCIvu` with.
pub const COMPAT: i32 = 0x1fe;
/// A real server's checksum list.
pub const SERVER_CHECKSUMS: &[u8] = b"xxh128 xxh3 xxh64 md5 md4 sha1 none";
/// The fixed mtime of everything the fake server lists.
pub const MTIME: i64 = 1_600_000_000;

/// Server-side failures are plain text: they end up on the client's stderr.
pub type Res<T> = Result<T, String>;

/// The server's two pipes, multiplexing state and ndx codecs.
pub struct ServerIo {
    input: std::io::Stdin,
    mux_in: bool,
    deframer: MuxDeframer,
    data: Vec<u8>,
    pos: usize,
    out: File,
    pending: Vec<u8>,
    mux_out: bool,
    ndx_in: NdxDecoder,
    ndx_out: NdxEncoder,
    /// Bytes still allowed on the wire (truncation attacks); `None` = unlimited.
    pub budget: Option<usize>,
}

impl ServerIo {
    /// Binds stdin and fd 3 (the rsh script points fd 3 at the real stdout, because
    /// the test harness prints on fd 1).
    pub fn open() -> Res<Self> {
        // The protocol's output was moved to fd 3 by the remote shell script (the test
        // harness prints on stdout). It is a socket like rsync's, so it is taken over, not
        // reopened through /dev/fd (which sockets refuse).
        // SAFETY: fd 3 is open (`3>&1` in the script) and nothing else in this process
        // owns it.
        let out = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(3) });
        Ok(ServerIo {
            input: std::io::stdin(),
            mux_in: false,
            deframer: MuxDeframer::new(),
            data: Vec::new(),
            pos: 0,
            out,
            pending: Vec::new(),
            mux_out: false,
            ndx_in: NdxDecoder::new(PROTO),
            ndx_out: NdxEncoder::new(PROTO),
            budget: None,
        })
    }

    fn fill(&mut self) -> Res<()> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            if self.mux_in {
                match self.deframer.next_event().map_err(|e| e.to_string())? {
                    Some(MuxEvent::Data(d)) => {
                        self.data.extend_from_slice(&d);
                        return Ok(());
                    }
                    Some(MuxEvent::Message(..)) => continue,
                    None => {}
                }
            }
            let n = self.input.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("client closed the connection".into());
            }
            if self.mux_in {
                self.deframer.push(&buf[..n]);
            } else {
                self.data.extend_from_slice(&buf[..n]);
                return Ok(());
            }
        }
    }

    /// Parses one value of the client's stream, blocking for more bytes as needed.
    pub fn read<R>(&mut self, mut f: impl FnMut(&mut ReadCursor<'_>) -> Decoded<R>) -> Res<R> {
        loop {
            let mut c = ReadCursor::new(&self.data[self.pos..]);
            match f(&mut c) {
                Ok(v) => {
                    self.pos += c.position();
                    return Ok(v);
                }
                Err(DecodeError::Invalid(e)) => return Err(e.to_string()),
                Err(DecodeError::NeedMore) => self.fill()?,
            }
        }
    }

    /// Reads one index.
    pub fn read_ndx(&mut self) -> Res<i32> {
        let start = self.ndx_in.clone();
        let mut done = start.clone();
        let v = self.read(|c| {
            let mut d = start.clone();
            let r = d.decode(c);
            if r.is_ok() {
                done = d;
            }
            r
        })?;
        self.ndx_in = done;
        Ok(v)
    }

    /// Switches both directions to multiplexing (after the seed).
    pub fn start_multiplex(&mut self) -> Res<()> {
        self.flush()?;
        let rest = self.data[self.pos..].to_vec();
        self.data.clear();
        self.pos = 0;
        self.deframer.push(&rest);
        self.mux_in = true;
        self.mux_out = true;
        Ok(())
    }

    /// Queues stream bytes.
    pub fn data(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Queues an index.
    pub fn ndx(&mut self, ndx: i32) {
        self.ndx_out.put(&mut self.pending, ndx);
    }

    /// Writes bytes as they are, after the queued data (for malformed framing).
    pub fn raw(&mut self, bytes: &[u8]) -> Res<()> {
        self.flush()?;
        self.emit(bytes)
    }

    /// Sends an out-of-band message after the queued data.
    pub fn message(&mut self, code: MessageCode, payload: &[u8]) -> Res<()> {
        self.flush()?;
        let mut v = Vec::new();
        put_message(&mut v, code, payload).map_err(|e| e.to_string())?;
        self.emit(&v)
    }

    /// Frames and sends the queued data.
    pub fn flush(&mut self) -> Res<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.pending);
        let mut v = Vec::new();
        if self.mux_out {
            put_data_frames(&mut v, &data);
        } else {
            v = data;
        }
        self.emit(&v)
    }

    fn emit(&mut self, bytes: &[u8]) -> Res<()> {
        if let Some(left) = self.budget {
            if bytes.len() >= left {
                let _ = self.out.write_all(&bytes[..left]);
                let _ = self.out.flush();
                // Cut here: the connection ends mid-value.
                std::process::exit(0);
            }
            self.budget = Some(left - bytes.len());
        }
        self.out
            .write_all(bytes)
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads until the client closes its side.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 64 * 1024];
        while matches!(self.input.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Version exchange, compat flags, checksum negotiation and seed, as a 3.5.0 server
/// writes them; returns the client's protocol.
pub fn handshake(io: &mut ServerIo, compat: i32) -> Res<i32> {
    handshake_with(io, compat, None)
}

/// [`handshake`] for a client that negotiates compression (`-z`): the server offers
/// `compress_list`.
pub fn handshake_with(io: &mut ServerIo, compat: i32, compress_list: Option<&[u8]>) -> Res<i32> {
    let mut v = Vec::new();
    put_int32(&mut v, PROTO as i32);
    put_varint(&mut v, compat);
    put_vstring(&mut v, SERVER_CHECKSUMS).map_err(|e| e.to_string())?;
    if let Some(z) = compress_list {
        put_vstring(&mut v, z).map_err(|e| e.to_string())?;
    }
    put_int32(&mut v, 12345);
    io.data(&v);
    io.flush()?;
    let client = io.read(|c| c.i32())?;
    if compat & 0x80 != 0 {
        io.read(|c| c.vstring(255).map(<[u8]>::to_vec))?;
        if compress_list.is_some() {
            io.read(|c| c.vstring(255).map(<[u8]>::to_vec))?;
        }
    }
    io.start_multiplex()?;
    Ok(client)
}

/// Reads the filter list a pulling client always sends.
pub fn read_filter_list(io: &mut ServerIo) -> Res<Vec<Vec<u8>>> {
    let mut rules = Vec::new();
    loop {
        let len = io.read(|c| c.i32())?;
        if len == 0 {
            return Ok(rules);
        }
        let n = usize::try_from(len).map_err(|_| format!("bad rule length {len}"))?;
        rules.push(io.read(|c| c.take(n).map(<[u8]>::to_vec))?);
    }
}

/// One file-list entry, written field by field (varint flags, protocol 32, `-a`
/// without `-H`), never with the "same as previous" shortcuts, so malformed values can
/// be placed anywhere.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Extra XMIT flags to set (e.g. `XMIT_HLINKED`).
    pub extra_flags: u32,
    /// The name bytes.
    pub name: Vec<u8>,
    /// Overrides the encoded name length (LONG_NAME varint).
    pub name_len: Option<i32>,
    /// File mode with type bits.
    pub mode: u32,
    /// Length.
    pub size: i64,
    /// Modification time.
    pub mtime: i64,
    /// Nanoseconds (sets `XMIT_MOD_NSEC`).
    pub nsec: Option<i32>,
    /// Symlink target.
    pub target: Option<Vec<u8>>,
    /// Overrides the encoded symlink length.
    pub target_len: Option<i32>,
}

impl RawEntry {
    /// A regular file.
    pub fn file(name: &[u8], size: i64) -> Self {
        RawEntry {
            extra_flags: 0,
            name: name.to_vec(),
            name_len: None,
            mode: 0o100644,
            size,
            mtime: MTIME,
            nsec: None,
            target: None,
            target_len: None,
        }
    }

    /// A directory.
    pub fn dir(name: &[u8]) -> Self {
        RawEntry {
            mode: 0o040755,
            size: 4096,
            extra_flags: 1, // XMIT_TOP_DIR
            ..Self::file(name, 0)
        }
    }

    /// A symlink.
    pub fn symlink(name: &[u8], target: &[u8]) -> Self {
        RawEntry {
            mode: 0o120777,
            size: target.len() as i64,
            target: Some(target.to_vec()),
            ..Self::file(name, 0)
        }
    }

    /// A FIFO.
    pub fn fifo(name: &[u8]) -> Self {
        RawEntry {
            mode: 0o010644,
            ..Self::file(name, 0)
        }
    }

    /// Appends the entry.
    pub fn encode(&self, out: &mut Vec<u8>) {
        const LONG_NAME: u32 = 0x40;
        const MOD_NSEC: u32 = 0x2000;
        let long = self.name_len.is_some() || self.name.len() > 255;
        let mut flags = self.extra_flags | if long { LONG_NAME } else { 0 };
        if self.nsec.is_some() {
            flags |= MOD_NSEC;
        }
        if flags == 0 {
            flags = 0x04; // XMIT_EXTENDED_FLAGS: the filler for "no flags"
        }
        put_varint(out, flags as i32);
        if long {
            put_varint(out, self.name_len.unwrap_or(self.name.len() as i32));
        } else {
            out.push(self.name.len() as u8);
        }
        out.extend_from_slice(&self.name);
        put_varlong(out, self.size, 3);
        put_varlong(out, self.mtime, 4);
        if let Some(ns) = self.nsec {
            put_varint(out, ns);
        }
        put_int32(out, self.mode as i32);
        put_varint(out, 0); // uid
        put_varint(out, 0); // gid
        if let Some(t) = &self.target {
            put_varint(out, self.target_len.unwrap_or(t.len() as i32));
            out.extend_from_slice(t);
        }
    }
}

/// A whole file list: entries, the end marker, and the uid and gid lists (`-o -g`,
/// `CF_ID0_NAMES`).
pub fn flist_bytes(entries: &[RawEntry]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in entries {
        e.encode(&mut v);
    }
    put_varint(&mut v, 0);
    put_varint(&mut v, 0);
    for _ in 0..2 {
        put_varint(&mut v, 0);
        v.push(4);
        v.extend_from_slice(b"root");
    }
    v
}

/// An incremental file list: entries and the end marker (no id lists: names travel
/// inline with incremental recursion).
pub fn inc_list_bytes(entries: &[RawEntry]) -> Vec<u8> {
    let mut v = Vec::new();
    for e in entries {
        e.encode(&mut v);
    }
    put_varint(&mut v, 0);
    put_varint(&mut v, 0);
    v
}

/// One generator request as the server sender reads it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The index (NDX_DONE ends a phase).
    pub ndx: i32,
    /// The item flags.
    pub iflags: u16,
    /// The sum head, for transfer requests.
    pub head: Option<SumHead>,
}

/// Reads one request of the client's generator.
pub fn read_request(io: &mut ServerIo) -> Res<Request> {
    let ndx = io.read_ndx()?;
    if ndx < 0 {
        return Ok(Request {
            ndx,
            iflags: 0,
            head: None,
        });
    }
    let iflags = io.read(|c| c.u16())?;
    if iflags & 0x1800 != 0 {
        return Err("client sent a basis type or xname".into());
    }
    if iflags & 0x8000 == 0 {
        return Ok(Request {
            ndx,
            iflags,
            head: None,
        });
    }
    let head = io.read(|c| SumHead::decode(c, PROTO))?;
    io.read(|c| decode_block_sums(c, &head))?;
    Ok(Request {
        ndx,
        iflags,
        head: Some(head),
    })
}

/// The echo of a request: index, item flags and sum head.
pub fn reply_head(io: &mut ServerIo, req: &Request) {
    io.ndx(req.ndx);
    io.data(&req.iflags.to_le_bytes());
    if let Some(h) = req.head {
        let mut v = Vec::new();
        h.encode(&mut v, PROTO);
        io.data(&v);
    }
}

/// The whole-file checksum a real sender appends (negotiated xxh128).
pub fn file_sum(data: &[u8]) -> Vec<u8> {
    ChecksumAlgorithm::Xxh128.digest(data).as_bytes().to_vec()
}

/// A complete reply carrying `data` as literal tokens and the checksum `sum`.
pub fn reply_file(io: &mut ServerIo, req: &Request, data: &[u8], sum: &[u8]) {
    reply_head(io, req);
    let mut v = Vec::new();
    put_literal(&mut v, data);
    put_end(&mut v);
    v.extend_from_slice(sum);
    io.data(&v);
}

/// What the naive sender does for one transfer request: `None` = the normal reply.
pub type ReplyHook<'a> = dyn FnMut(&mut ServerIo, &Request, u32) -> Res<bool> + 'a;

/// A protocol-correct server sender (`sender.c: send_files`, then the statistics and
/// `read_final_goodbye`): answers every transfer request for `contents[ndx]` with
/// literal data. `hook` may answer a request itself (returns true when it did).
pub fn naive_sender(
    io: &mut ServerIo,
    contents: &[(i32, Vec<u8>)],
    hook: &mut ReplyHook<'_>,
) -> Res<()> {
    naive_inc_sender(io, 1, contents, hook)
}

/// [`naive_sender`] after `lists` incremental file lists: the generator's `NDX_DONE`
/// for each list but the last is only echoed (the last one's ends phase 0).
pub fn naive_inc_sender(
    io: &mut ServerIo,
    lists: usize,
    contents: &[(i32, Vec<u8>)],
    hook: &mut ReplyHook<'_>,
) -> Res<()> {
    let mut phase = 0;
    let mut list_dones = lists.saturating_sub(1);
    loop {
        let req = read_request(io)?;
        if req.ndx == NDX_DONE && list_dones > 0 {
            list_dones -= 1;
            io.ndx(NDX_DONE);
            io.flush()?;
            continue;
        }
        if req.ndx == NDX_DONE {
            phase += 1;
            if phase > 2 {
                break;
            }
            io.ndx(NDX_DONE);
            io.flush()?;
            continue;
        }
        if req.ndx < 0 {
            return Err(format!("unexpected index {}", req.ndx));
        }
        if req.head.is_none() {
            reply_head(io, &req); // itemize echo
            continue;
        }
        if hook(io, &req, phase)? {
            io.flush()?;
            continue;
        }
        let data = contents
            .iter()
            .find(|(n, _)| *n == req.ndx)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| format!("request for unknown index {}", req.ndx))?;
        reply_file(io, &req, &data, &file_sum(&data));
        io.flush()?;
    }
    io.ndx(NDX_DONE);
    let mut v = Vec::new();
    for x in [100i64, 200, 10, 1, 1] {
        put_varlong(&mut v, x, 3);
    }
    io.data(&v);
    io.flush()?;
    // read_final_goodbye, protocol >= 31: NDX_DONE, echo, NDX_DONE.
    if io.read_ndx()? != NDX_DONE {
        return Err("bad goodbye".into());
    }
    io.ndx(NDX_DONE);
    io.flush()?;
    if io.read_ndx()? != NDX_DONE {
        return Err("bad final goodbye".into());
    }
    Ok(())
}

/// The list format a pushing client uses with `-a` at [`PROTO`].
fn client_flist_config() -> rdsync_wire::flist::FileListConfig {
    rdsync_wire::flist::FileListConfig {
        protocol: PROTO,
        varint_flags: true,
        safe_flist: true,
        id0_names: true,
        links: true,
        owner: true,
        group: true,
        devices: true,
        specials: true,
        hard_links: false,
        numeric_ids: false,
        checksum_len: None,
    }
}

/// Reads the file list a pushing client sends (`-a`: id lists follow); returns the
/// number of entries.
pub fn read_client_flist(io: &mut ServerIo) -> Res<usize> {
    use rdsync_wire::flist::{FileListDecoder, FileListItem, decode_id_list};
    let mut dec = FileListDecoder::new(client_flist_config());
    let mut n = 0;
    // The decoder only changes state once a whole item was available.
    while let FileListItem::Entry(_) = io.read(|c| dec.decode(c))? {
        n += 1;
    }
    for _ in 0..2 {
        io.read(|c| decode_id_list(c, PROTO, true))?;
    }
    Ok(n)
}

/// Reads a pushing client's incremental file lists (`CF_INC_RECURSE`): the first list,
/// then every list it announces with `NDX_FLIST_OFFSET − dir`, up to `NDX_FLIST_EOF`.
/// Returns the number of entries of each list.
pub fn read_client_inc_lists(io: &mut ServerIo) -> Res<Vec<usize>> {
    use rdsync_wire::flist::{FileListDecoder, FileListItem};
    let mut dec = FileListDecoder::new(client_flist_config());
    let mut lists = Vec::new();
    loop {
        let mut n = 0;
        while let FileListItem::Entry(_) = io.read(|c| dec.decode(c))? {
            n += 1;
        }
        lists.push(n);
        match io.read_ndx()? {
            -2 => return Ok(lists),
            d if d <= -101 => {}
            other => return Err(format!("expected a list or NDX_FLIST_EOF, got {other}")),
        }
    }
}

/// Reads a pushing client's reply to a transfer request: the echo, the tokens (only
/// literals: no basis was offered) and the checksum; returns the file data.
pub fn read_client_file(io: &mut ServerIo, ndx: i32) -> Res<Vec<u8>> {
    let got = io.read_ndx()?;
    if got != ndx {
        return Err(format!("reply for {got}, wanted {ndx}"));
    }
    io.read(|c| c.u16())?;
    io.read(|c| SumHead::decode(c, PROTO))?;
    let mut data = Vec::new();
    loop {
        let tok = io.read(|c| {
            decode_token(c).map(|t| match t {
                Token::Literal(d) => Some(d.to_vec()),
                Token::Copy(_) => Some(Vec::new()),
                Token::End => None,
            })
        })?;
        match tok {
            Some(d) => data.extend_from_slice(&d),
            None => break,
        }
    }
    let sum = io.read(|c| c.take(16).map(<[u8]>::to_vec))?;
    if sum != file_sum(&data) {
        return Err("client sent a wrong file checksum".into());
    }
    Ok(data)
}

/// The end of a push as a server generator/receiver writes it (protocol 32): three
/// phase NDX_DONEs, "deletions done", then the goodbye after the client's echo.
pub fn receiver_tail(io: &mut ServerIo) -> Res<()> {
    for _ in 0..3 {
        io.ndx(NDX_DONE);
        io.flush()?;
    }
    // The client echoes phases 1 and 2, then ends its loop with one more.
    for _ in 0..3 {
        if io.read_ndx()? != NDX_DONE {
            return Err("expected NDX_DONE from the client sender".into());
        }
    }
    io.ndx(NDX_DONE);
    io.flush()?;
    if io.read_ndx()? != NDX_DONE {
        return Err("expected the goodbye echo".into());
    }
    io.ndx(NDX_DONE);
    io.flush()?;
    Ok(())
}
