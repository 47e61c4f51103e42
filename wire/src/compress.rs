//! Compressed token streams (`token.c`): zlib (with history injection), zlibx and zstd.
//!
//! Wire format (common to all methods): `00` end of file; `0x40|hi6, lo8` then that many
//! compressed bytes; `0x80+r` block = previous run end + r; `0xc0+r` the same followed
//! by a 16-bit run count; `0x20` + int32 absolute block; `0x21` + int32 + run count.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress};
use zstd::stream::raw::{
    Decoder as ZstdDecoder, Encoder as ZstdEncoder, InBuffer, Operation, OutBuffer,
};

use crate::codec::{ReadCursor, put_int32};
use crate::error::{Decoded, WireError};

/// End of a file's data.
pub const END_FLAG: u8 = 0x00;
/// Absolute block number follows.
pub const TOKEN_LONG: u8 = 0x20;
/// Absolute block number and run count follow.
pub const TOKENRUN_LONG: u8 = 0x21;
/// Compressed data follow.
pub const DEFLATED_DATA: u8 = 0x40;
/// Relative block number in the low 6 bits.
pub const TOKEN_REL: u8 = 0x80;
/// Relative block number and a run count.
pub const TOKENRUN_REL: u8 = 0xc0;
/// Largest compressed packet.
pub const MAX_DATA_COUNT: usize = 16383;
/// Largest literal chunk the reader returns at once (bounds memory on a zip bomb).
pub const MAX_INFLATE_CHUNK: usize = 64 * 1024;

/// A compression method rsync can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionMethod {
    /// zlib with matched-block history injection.
    Zlib,
    /// zlib without history injection.
    Zlibx,
    /// One zstd stream for the whole session.
    Zstd,
    /// Independent LZ4 blocks, one per packet.
    Lz4,
}

impl CompressionMethod {
    /// The negotiation name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zlib => "zlib",
            Self::Zlibx => "zlibx",
            Self::Zstd => "zstd",
            Self::Lz4 => "lz4",
        }
    }

    /// The level the sender compresses with when `--compress-level` asked for `requested`,
    /// as rsync's `token.c: init_compression_level` settles it; `None` when that level turns
    /// compression off (0 for zlib and zlibx).
    pub fn level(self, requested: Option<i32>) -> Option<i32> {
        match self {
            Self::Zlib | Self::Zlibx => match requested {
                None | Some(-1) => Some(6),
                Some(0) => None,
                Some(l) => Some(l.clamp(1, 9)),
            },
            Self::Zstd => match requested {
                None | Some(0) => Some(zstd::DEFAULT_COMPRESSION_LEVEL),
                Some(l) => {
                    let range = zstd::compression_level_range();
                    Some(l.clamp(*range.start(), *range.end()))
                }
            },
            Self::Lz4 => Some(0),
        }
    }

    /// Parses a negotiation name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "zlib" => Some(Self::Zlib),
            "zlibx" => Some(Self::Zlibx),
            "zstd" => Some(Self::Zstd),
            "lz4" => Some(Self::Lz4),
            _ => None,
        }
    }
}

/// Our compression preference list (rsync's canonical order).
pub const COMPRESS_LIST: &str = "zstd lz4 zlibx zlib";
/// rsync's receive buffer for one LZ4 packet: max(LZ4_compressBound(32 KiB), 16385).
const LZ4_OUT_SIZE: usize = 32 * 1024 + 32 * 1024 / 255 + 16;

fn zerr(e: impl std::fmt::Display) -> WireError {
    WireError::stream(format!("compression error: {e}"))
}

/// rsync's `send_compressed_token` data loop: each packet is an independent LZ4 block of
/// at most 16 383 input bytes, halved until the block fits in a packet.
fn lz4_data(out: &mut Vec<u8>, mut data: &[u8]) -> Result<(), WireError> {
    while !data.is_empty() {
        let mut take = data.len().min(MAX_DATA_COUNT);
        loop {
            let block = lz4_flex::block::compress(data.get(..take).unwrap_or(&[]));
            if block.len() <= MAX_DATA_COUNT {
                put_packets(out, &block);
                break;
            }
            take /= 2;
            if take == 0 {
                return Err(WireError::stream("lz4 block does not fit in a packet"));
            }
        }
        data = data.get(take..).unwrap_or(&[]);
    }
    Ok(())
}

fn put_packets(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(MAX_DATA_COUNT) {
        out.push(DEFLATED_DATA | (chunk.len() >> 8) as u8);
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
}

fn deflate_all(
    c: &mut Compress,
    mut input: &[u8],
    flush: FlushCompress,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (in0, out0) = (c.total_in(), c.total_out());
        c.compress(input, &mut buf, flush).map_err(zerr)?;
        let consumed = (c.total_in() - in0) as usize;
        let produced = (c.total_out() - out0) as usize;
        out.extend_from_slice(buf.get(..produced).unwrap_or(&[]));
        input = input.get(consumed..).unwrap_or(&[]);
        if input.is_empty() && produced < buf.len() {
            return Ok(out);
        }
        if consumed == 0 && produced == 0 {
            return Err(WireError::stream("deflate made no progress"));
        }
    }
}

/// The pieces rsync feeds for a matched block's history: ≤ 0xffff bytes each; below
/// protocol 31 every piece restarts at the block's first byte (rsync's old quirk).
fn history_pieces(block: &[u8], protocol: u32) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut left = block.len();
    let mut offset = 0;
    while left > 0 {
        let n = left.min(0xffff);
        pieces.push(block.get(offset..offset + n).unwrap_or(&[]));
        left -= n;
        if protocol >= 31 {
            offset += n;
        }
    }
    pieces
}

/// Sender side: rsync's `send_deflated_token` / `send_zstd_token`.
pub struct CompressedTokenEncoder {
    method: CompressionMethod,
    protocol: u32,
    last_token: i32,
    run_start: i32,
    last_run_end: i32,
    flush_pending: bool,
    /// The compression level (see [`CompressionMethod::level`]).
    level: i32,
    deflate: Option<Compress>,
    zstd: Option<ZstdEncoder<'static>>,
}

impl std::fmt::Debug for CompressedTokenEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressedTokenEncoder")
            .field("method", &self.method)
            .finish()
    }
}

impl CompressedTokenEncoder {
    /// An encoder for the session, compressing at `level` (see [`CompressionMethod::level`]).
    pub fn new(method: CompressionMethod, protocol: u32, level: i32) -> Result<Self, WireError> {
        let zstd = match method {
            CompressionMethod::Zstd => Some(ZstdEncoder::new(level).map_err(zerr)?),
            _ => None,
        };
        Ok(CompressedTokenEncoder {
            method,
            protocol,
            last_token: -1,
            run_start: 0,
            last_run_end: 0,
            flush_pending: false,
            level,
            deflate: None,
            zstd,
        })
    }

    /// Whether matched blocks' bytes are needed (zlib's history injection).
    pub fn needs_block_data(&self) -> bool {
        self.method == CompressionMethod::Zlib
    }

    /// `send_token(token, literal…)`: `token` ≥ 0 is a matched block (whose bytes are
    /// `block`, needed for zlib's history), −1 ends the file, −2 sends data only.
    pub fn send_token(
        &mut self,
        out: &mut Vec<u8>,
        token: i32,
        data: &[u8],
        block: &[u8],
    ) -> Result<(), WireError> {
        if self.last_token == -1 {
            if matches!(
                self.method,
                CompressionMethod::Zlib | CompressionMethod::Zlibx
            ) {
                match &mut self.deflate {
                    Some(c) => c.reset(),
                    None => {
                        let level = flate2::Compression::new(self.level.clamp(0, 9) as u32);
                        self.deflate = Some(Compress::new(level, false))
                    }
                }
            }
            self.last_run_end = 0;
            self.run_start = token;
            self.flush_pending = false;
        } else if self.last_token == -2 {
            self.run_start = token;
        } else if !data.is_empty()
            || token != self.last_token + 1
            || token >= self.run_start + 65536
        {
            let r = self.run_start - self.last_run_end;
            let n = self.last_token - self.run_start;
            if (0..=63).contains(&r) {
                out.push(if n == 0 { TOKEN_REL } else { TOKENRUN_REL } + r as u8);
            } else {
                out.push(if n == 0 { TOKEN_LONG } else { TOKENRUN_LONG });
                put_int32(out, self.run_start);
            }
            if n != 0 {
                out.push(n as u8);
                out.push((n >> 8) as u8);
            }
            self.last_run_end = self.last_token;
            self.run_start = token;
        }
        self.last_token = token;

        if !data.is_empty() || self.flush_pending {
            let flush = token != -2;
            match self.method {
                CompressionMethod::Zstd => self.zstd_data(out, data, flush)?,
                CompressionMethod::Lz4 => lz4_data(out, data)?,
                _ => {
                    let c = self
                        .deflate
                        .as_mut()
                        .ok_or_else(|| WireError::stream("deflate not initialised"))?;
                    let mut produced = deflate_all(
                        c,
                        data,
                        if flush {
                            FlushCompress::Sync
                        } else {
                            FlushCompress::None
                        },
                    )?;
                    if flush {
                        if !produced.ends_with(&[0, 0, 0xff, 0xff]) {
                            return Err(WireError::stream("deflate sync flush without its marker"));
                        }
                        produced.truncate(produced.len() - 4);
                    }
                    put_packets(out, &produced);
                }
            }
            self.flush_pending = token == -2;
        }

        if token == -1 {
            out.push(END_FLAG);
        } else if token != -2 && self.method == CompressionMethod::Zlib {
            let c = self
                .deflate
                .as_mut()
                .ok_or_else(|| WireError::stream("deflate not initialised"))?;
            for piece in history_pieces(block, self.protocol) {
                deflate_all(c, piece, FlushCompress::Sync)?; // output discarded, as rsync does
            }
        }
        Ok(())
    }

    fn zstd_data(&mut self, out: &mut Vec<u8>, data: &[u8], flush: bool) -> Result<(), WireError> {
        let enc = self
            .zstd
            .as_mut()
            .ok_or_else(|| WireError::stream("zstd not initialised"))?;
        let mut input = InBuffer::around(data);
        let mut buf = vec![0u8; MAX_DATA_COUNT];
        while input.pos() < data.len() {
            let mut ob = OutBuffer::around(&mut buf[..]);
            enc.run(&mut input, &mut ob).map_err(zerr)?;
            let n = ob.pos();
            put_packets(out, buf.get(..n).unwrap_or(&[]));
        }
        if flush {
            loop {
                let mut ob = OutBuffer::around(&mut buf[..]);
                let remaining = enc.flush(&mut ob).map_err(zerr)?;
                let n = ob.pos();
                put_packets(out, buf.get(..n).unwrap_or(&[]));
                if remaining == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// One item of the compressed token stream, as it appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompressedItem {
    /// Compressed bytes.
    Data(Vec<u8>),
    /// A block reference: relative increment or absolute number, optional run count.
    Token {
        /// `Some(r)`: previous run end + r; `None`: `absolute`.
        relative: Option<u8>,
        /// The absolute block number for the long forms.
        absolute: i32,
        /// Extra consecutive blocks.
        run: Option<u16>,
    },
    /// End of this file's data.
    End,
}

/// Reads one wire item.
pub fn decode_compressed_item(c: &mut ReadCursor<'_>) -> Decoded<CompressedItem> {
    let flag = c.u8()?;
    if flag & 0xc0 == DEFLATED_DATA {
        let n = (usize::from(flag & 0x3f) << 8) | usize::from(c.u8()?);
        return Ok(CompressedItem::Data(c.take(n)?.to_vec()));
    }
    if flag == END_FLAG {
        return Ok(CompressedItem::End);
    }
    let (relative, absolute, has_run) = if flag & TOKEN_REL != 0 {
        (Some(flag & 0x3f), 0, (flag >> 6) & 1 == 1)
    } else if flag == TOKEN_LONG || flag == TOKENRUN_LONG {
        let t = c.i32()?;
        if t < 0 {
            return Err(WireError::protocol(format!("invalid compressed token {t}")).into());
        }
        (None, t, flag & 1 == 1)
    } else {
        return Err(WireError::protocol(format!("invalid compressed token flag {flag:#x}")).into());
    };
    let run = if has_run {
        let r = c.u16()?;
        if r == 0 {
            return Err(WireError::protocol("invalid compressed token run of 0").into());
        }
        Some(r)
    } else {
        None
    };
    Ok(CompressedItem::Token {
        relative,
        absolute,
        run,
    })
}

/// A token as returned by [`CompressedTokenReader::next_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadToken {
    /// Literal bytes (at most [`MAX_INFLATE_CHUNK`]).
    Literal(Vec<u8>),
    /// Copy this basis block.
    Copy(u32),
    /// End of this file's data.
    End,
}

/// Receiver side: rsync's `recv_deflated_token` / `recv_zstd_token` and
/// `see_deflate_token`.
pub struct CompressedTokenReader {
    method: CompressionMethod,
    protocol: u32,
    rx_token: i32,
    run_left: u32,
    in_file: bool,
    inflate: Option<Decompress>,
    zstd: Option<ZstdDecoder<'static>>,
    pending: Vec<u8>,
    pending_pos: usize,
    more_output: bool,
    inflated: bool,
    saved: Option<CompressedItem>,
    /// Where [`Self::see_block`] lets the inflater write (the output is discarded), and
    /// the fake stored block it feeds: kept between blocks, not made for each.
    see_sink: Vec<u8>,
    see_stored: Vec<u8>,
}

impl std::fmt::Debug for CompressedTokenReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressedTokenReader")
            .field("method", &self.method)
            .finish()
    }
}

impl CompressedTokenReader {
    /// A reader for the session.
    pub fn new(method: CompressionMethod, protocol: u32) -> Result<Self, WireError> {
        let zstd = match method {
            CompressionMethod::Zstd => Some(ZstdDecoder::new().map_err(zerr)?),
            _ => None,
        };
        Ok(CompressedTokenReader {
            method,
            protocol,
            rx_token: 0,
            run_left: 0,
            in_file: false,
            inflate: None,
            zstd,
            pending: Vec::new(),
            pending_pos: 0,
            more_output: false,
            inflated: false,
            saved: None,
            see_sink: Vec::new(),
            see_stored: Vec::new(),
        })
    }

    fn produce(&mut self, flush: bool) -> Result<Vec<u8>, WireError> {
        let mut buf = vec![0u8; MAX_INFLATE_CHUNK];
        let input = self.pending.get(self.pending_pos..).unwrap_or(&[]);
        let (consumed, produced) = match self.method {
            CompressionMethod::Zstd => {
                let dec = self
                    .zstd
                    .as_mut()
                    .ok_or_else(|| WireError::stream("zstd not initialised"))?;
                let mut ib = InBuffer::around(input);
                let mut ob = OutBuffer::around(&mut buf[..]);
                dec.run(&mut ib, &mut ob).map_err(zerr)?;
                (ib.pos(), ob.pos())
            }
            _ => {
                let d = self
                    .inflate
                    .as_mut()
                    .ok_or_else(|| WireError::stream("inflate not initialised"))?;
                let (i0, o0) = (d.total_in(), d.total_out());
                let mode = if flush {
                    FlushDecompress::Sync
                } else {
                    FlushDecompress::None
                };
                d.decompress(input, &mut buf, mode).map_err(zerr)?;
                ((d.total_in() - i0) as usize, (d.total_out() - o0) as usize)
            }
        };
        self.pending_pos += consumed;
        self.more_output = produced == buf.len();
        buf.truncate(produced);
        Ok(buf)
    }

    /// The next token; `fetch` reads the next wire item from the input.
    /// `Ok(None)`: `fetch` reported that more input is needed (no state was lost).
    pub fn next_token(
        &mut self,
        fetch: &mut dyn FnMut() -> Result<Option<CompressedItem>, WireError>,
    ) -> Result<Option<ReadToken>, WireError> {
        if !self.in_file {
            self.in_file = true;
            self.rx_token = 0;
            if matches!(
                self.method,
                CompressionMethod::Zlib | CompressionMethod::Zlibx
            ) {
                match &mut self.inflate {
                    Some(d) => d.reset(false),
                    None => self.inflate = Some(Decompress::new(false)),
                }
            }
        }
        loop {
            if self.run_left > 0 {
                self.rx_token = self
                    .rx_token
                    .checked_add(1)
                    .filter(|t| *t < i32::MAX)
                    .ok_or_else(|| WireError::protocol("invalid compressed token"))?;
                self.run_left -= 1;
                return Ok(Some(ReadToken::Copy(self.rx_token as u32)));
            }
            if self.pending_pos < self.pending.len() || self.more_output {
                let out = self.produce(false)?;
                if self.pending_pos >= self.pending.len() && !self.more_output {
                    self.inflated = true;
                }
                if !out.is_empty() {
                    return Ok(Some(ReadToken::Literal(out)));
                }
                if self.pending_pos < self.pending.len() && !self.more_output {
                    return Err(WireError::stream("decompressor made no progress"));
                }
                continue;
            }
            let item = match self.saved.take() {
                Some(i) => i,
                None => match fetch()? {
                    Some(i) => i,
                    None => return Ok(None),
                },
            };
            if let CompressedItem::Data(d) = item {
                if self.method == CompressionMethod::Lz4 {
                    let mut buf = vec![0u8; LZ4_OUT_SIZE];
                    let n = lz4_flex::block::decompress_into(&d, &mut buf)
                        .map_err(|e| WireError::stream(format!("uncompress failed: {e}")))?;
                    buf.truncate(n);
                    if buf.is_empty() {
                        continue;
                    }
                    return Ok(Some(ReadToken::Literal(buf)));
                }
                self.pending = d;
                self.pending_pos = 0;
                continue;
            }
            if self.inflated
                && matches!(
                    self.method,
                    CompressionMethod::Zlib | CompressionMethod::Zlibx
                )
            {
                // Drain what the inflater still holds, then feed the stripped sync marker.
                let out = self.produce(true)?;
                if !out.is_empty() {
                    self.saved = Some(item);
                    return Ok(Some(ReadToken::Literal(out)));
                }
                self.pending = vec![0, 0, 0xff, 0xff];
                self.pending_pos = 0;
                let out = self.produce(true)?;
                if !out.is_empty() || self.pending_pos < self.pending.len() {
                    return Err(WireError::stream("decompressor lost sync!"));
                }
                self.pending.clear();
                self.pending_pos = 0;
            }
            self.inflated = false;
            match item {
                CompressedItem::End => {
                    self.in_file = false;
                    return Ok(Some(ReadToken::End));
                }
                CompressedItem::Token {
                    relative,
                    absolute,
                    run,
                } => {
                    self.rx_token = match relative {
                        Some(r) => self
                            .rx_token
                            .checked_add(i32::from(r))
                            .ok_or_else(|| WireError::protocol("invalid compressed token"))?,
                        None => absolute,
                    };
                    if let Some(r) = run {
                        if self.rx_token > i32::MAX - 1 - i32::from(r) {
                            return Err(WireError::protocol("invalid compressed token run"));
                        }
                        self.run_left = u32::from(r);
                    }
                    return Ok(Some(ReadToken::Copy(self.rx_token as u32)));
                }
                CompressedItem::Data(_) => {}
            }
        }
    }

    /// Whether matched blocks' bytes must be passed to [`Self::see_block`] (zlib).
    pub fn needs_block_data(&self) -> bool {
        self.method == CompressionMethod::Zlib
    }

    /// `see_token`: after a matched block, zlib adds its bytes to the inflater's history
    /// as fake stored blocks.
    pub fn see_block(&mut self, block: &[u8]) -> Result<(), WireError> {
        if self.method != CompressionMethod::Zlib {
            return Ok(());
        }
        let d = self
            .inflate
            .as_mut()
            .ok_or_else(|| WireError::stream("inflate not initialised"))?;
        if self.see_sink.is_empty() {
            self.see_sink = vec![0u8; 70 * 1024];
        }
        let (sink, stored) = (&mut self.see_sink, &mut self.see_stored);
        for piece in history_pieces(block, self.protocol) {
            let len = piece.len() as u16;
            stored.clear();
            stored.extend_from_slice(&[
                0u8,
                len as u8,
                (len >> 8) as u8,
                !(len as u8),
                !((len >> 8) as u8),
            ]);
            stored.extend_from_slice(piece);
            let mut input: &[u8] = stored;
            loop {
                let (i0, o0) = (d.total_in(), d.total_out());
                d.decompress(input, sink, FlushDecompress::Sync)
                    .map_err(zerr)?;
                let consumed = (d.total_in() - i0) as usize;
                let produced = (d.total_out() - o0) as usize;
                input = input.get(consumed..).unwrap_or(&[]);
                if input.is_empty() && produced < sink.len() {
                    break;
                }
                if consumed == 0 && produced == 0 {
                    return Err(WireError::stream("inflate (token) made no progress"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(method: CompressionMethod, protocol: u32) {
        let basis: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let block_len = 70_000usize;
        let blocks = [
            basis.get(..block_len).unwrap_or(&[]).to_vec(),
            basis.get(block_len..).unwrap_or(&[]).to_vec(),
        ];
        let lit1: Vec<u8> = basis.get(..200).unwrap_or(&[]).to_vec();
        let mut enc =
            CompressedTokenEncoder::new(method, protocol, method.level(None).unwrap_or(0))
                .unwrap_or_else(|e| panic!("{e}"));
        let mut wire = Vec::new();
        for _file in 0..2 {
            enc.send_token(&mut wire, -2, b"hello hello hello", &[])
                .ok();
            enc.send_token(&mut wire, 0, &[], &blocks[0]).ok();
            enc.send_token(&mut wire, 1, &lit1, &blocks[1]).ok();
            enc.send_token(&mut wire, -1, b"tail", &[]).ok();
        }
        let mut dec =
            CompressedTokenReader::new(method, protocol).unwrap_or_else(|e| panic!("{e}"));
        let mut c = ReadCursor::new(&wire);
        for _file in 0..2 {
            let mut out = Vec::new();
            loop {
                let mut fetch = || match decode_compressed_item(&mut c) {
                    Ok(i) => Ok(Some(i)),
                    Err(_) => Err(WireError::stream("short")),
                };
                let tok = dec
                    .next_token(&mut fetch)
                    .unwrap_or_else(|e| panic!("{method:?}: {e}"));
                match tok.unwrap_or_else(|| panic!("no token")) {
                    ReadToken::Literal(d) => out.extend(d),
                    ReadToken::Copy(b) => {
                        let blk = &blocks[b as usize];
                        out.extend_from_slice(blk);
                        dec.see_block(blk).unwrap_or_else(|e| panic!("{e}"));
                    }
                    ReadToken::End => break,
                }
            }
            let mut want = b"hello hello hello".to_vec();
            want.extend_from_slice(&blocks[0]);
            want.extend_from_slice(&lit1);
            want.extend_from_slice(&blocks[1]);
            want.extend_from_slice(b"tail");
            assert_eq!(out.len(), want.len(), "{method:?} proto {protocol}");
            assert!(out == want, "{method:?} proto {protocol}: data differ");
        }
    }

    #[test]
    fn every_method_round_trips() {
        for p in [30, 31] {
            round_trip(CompressionMethod::Zlib, p);
            round_trip(CompressionMethod::Zlibx, p);
            round_trip(CompressionMethod::Zstd, p);
            round_trip(CompressionMethod::Lz4, p);
        }
    }

    #[test]
    fn captured_run_tokens_decode() {
        let wire = [0xc0, 0x63, 0x00, 0xc1, 0x48, 0x01, 0x00];
        let mut c = ReadCursor::new(&wire);
        assert_eq!(
            decode_compressed_item(&mut c).ok(),
            Some(CompressedItem::Token {
                relative: Some(0),
                absolute: 0,
                run: Some(99)
            })
        );
        assert_eq!(
            decode_compressed_item(&mut c).ok(),
            Some(CompressedItem::Token {
                relative: Some(1),
                absolute: 0,
                run: Some(328)
            })
        );
        assert!(decode_compressed_item(&mut ReadCursor::new(&[0xc0, 0, 0])).is_err());
    }
}
