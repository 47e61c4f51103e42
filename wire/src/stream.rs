//! The sans-IO protocol stream: raw bytes in ([`ProtocolStream::feed`]), parsed values
//! out ([`ProtocolStream::try_read`], `Ok(None)` = need more bytes), values in
//! ([`ProtocolStream::write`]), framed bytes out ([`ProtocolStream::take_output`]).
//! Multiplexing, out-of-band messages and the ndx codecs live here; nothing blocks.

use crate::codec::{NdxDecoder, NdxEncoder, ReadCursor};
use crate::error::{DecodeError, Decoded, WireError};
use crate::framed_output::FramedOutput;
use crate::mux::{MessageCode, MuxDeframer, MuxEvent, escape_control_chars};

/// Largest buffered-but-unparsed input we allow before declaring the stream corrupt.
const MAX_PENDING_INPUT: usize = 64 * 1024 * 1024;

/// What the peer told us out of band.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PeerMessages {
    /// MSG_INFO texts.
    pub info: Vec<String>,
    /// MSG_ERROR / MSG_ERROR_XFER / MSG_WARNING texts.
    pub errors: Vec<String>,
    /// Names reported by MSG_DELETED (directories with a trailing `/`).
    pub deleted: Vec<String>,
    /// io_error bits from MSG_IO_ERROR.
    pub io_error: i32,
    /// Exit code from MSG_ERROR_EXIT.
    pub error_exit: Option<i32>,
    /// Indexes the sender could not send (MSG_NO_SEND).
    pub no_send: Vec<i32>,
}

/// Both directions of one protocol session, without any I/O.
#[derive(Debug)]
pub struct ProtocolStream {
    /// Negotiated protocol (0 before the handshake).
    pub protocol: u32,
    mux_in: bool,
    mux_out: bool,
    deframer: MuxDeframer,
    /// Raw input not yet given to the deframer or the parser.
    input: Vec<u8>,
    input_pos: usize,
    /// Bytes for the transport, framed as they are written once output is multiplexed.
    output: FramedOutput,
    ndx_out: NdxEncoder,
    ndx_in: NdxDecoder,
    /// Out-of-band messages received so far.
    pub messages: PeerMessages,
    /// Print INFO/ERROR messages as they arrive.
    pub echo_messages: bool,
    /// We are the sender (push): answers MSG_ERROR_EXIT with an empty one, as
    /// rsync's sender does; a receiver echoes the code.
    pub am_sender: bool,
    /// rsync's `who_am_i` for the work we are doing, named in socket error lines: "sender"
    /// in a push; in a pull "Receiver" until the first file list is in, then "generator"
    /// (rsync's client forks there, and its generator does the writing).
    pub who_am_i: &'static str,
    /// The protocol setup is over: rsync writes setup bytes with `safe_write` and later
    /// ones through its buffered I/O, and reports a failed write differently for each.
    pub setup_done: bool,
    /// Where log events go (peer info messages and deletions included, so that they
    /// keep their order with the roles' own events); none: the old echo behaviour.
    pub events: crate::events::EventSlot,
    /// Raw bytes fed in so far (rsync's `total_read`).
    pub bytes_fed: u64,
    /// Bytes taken for the transport so far (rsync's `total_written`).
    pub bytes_taken: u64,
    /// Payload bytes decoded so far (after demultiplexing).
    pub bytes_decoded: u64,
    eof: bool,
}

impl Default for ProtocolStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ProtocolStream {
    /// A stream before the handshake (raw in both directions).
    pub fn new() -> Self {
        ProtocolStream {
            protocol: 0,
            mux_in: false,
            mux_out: false,
            deframer: MuxDeframer::new(),
            input: Vec::new(),
            input_pos: 0,
            output: FramedOutput::new(),
            ndx_out: NdxEncoder::new(30),
            ndx_in: NdxDecoder::new(30),
            messages: PeerMessages::default(),
            echo_messages: true,
            am_sender: false,
            who_am_i: "Receiver",
            setup_done: false,
            events: crate::events::EventSlot::default(),
            bytes_fed: 0,
            bytes_taken: 0,
            bytes_decoded: 0,
            eof: false,
        }
    }

    /// Sets the negotiated protocol (resets the ndx codecs).
    pub fn set_protocol(&mut self, protocol: u32) {
        self.protocol = protocol;
        self.ndx_out = NdxEncoder::new(protocol);
        self.ndx_in = NdxDecoder::new(protocol);
    }

    /// Turns multiplexing on for input and/or output. Output written from now on is
    /// framed (what is pending stays raw); raw input already received past the handshake
    /// is handed to the deframer (it is the start of the first frames).
    pub fn start_multiplex(&mut self, input: bool, output: bool) {
        self.output.set_multiplexed(output);
        if input && !self.mux_in {
            let rest = self.input.get(self.input_pos..).unwrap_or(&[]).to_vec();
            self.input.clear();
            self.input_pos = 0;
            self.deframer.push(&rest);
        }
        self.mux_in = input;
        self.mux_out = output;
    }

    /// Raw bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.bytes_fed += bytes.len() as u64;
        if self.mux_in {
            self.deframer.push(bytes);
        } else {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The peer closed its side.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Whether the peer closed its side.
    pub fn peer_closed(&self) -> bool {
        self.eof
    }

    /// The error to report when a value is needed but the peer has closed.
    pub fn closed_error(&self) -> WireError {
        match self.messages.error_exit {
            Some(code) => WireError::RemoteExit(code),
            None => WireError::ConnectionClosed {
                received: self.bytes_fed,
            },
        }
    }

    /// Buffers stream bytes for the peer.
    pub fn write(&mut self, bytes: &[u8]) {
        self.output.write(bytes);
    }

    /// Buffers stream bytes produced by `f`.
    pub fn write_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.output.write_with(f);
    }

    /// Buffers up to `want` bytes read from `source` (straight into the output, no
    /// intermediate copy), showing each piece to `seen`; fewer only at its end.
    pub fn write_from(
        &mut self,
        source: impl std::os::fd::AsFd,
        want: usize,
        seen: impl FnMut(&[u8]),
    ) -> std::io::Result<usize> {
        self.output.fill_from(source, want, seen)
    }

    /// Buffers an index.
    pub fn write_ndx(&mut self, ndx: i32) {
        let ndx_out = &mut self.ndx_out;
        self.output.write_with(|o| ndx_out.put(o, ndx));
    }

    /// Queues an out-of-band message after the data written so far.
    pub fn write_message(&mut self, code: MessageCode, payload: &[u8]) -> Result<(), WireError> {
        self.output.message(code, payload)
    }

    /// Output bytes not yet taken (framing included).
    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// Everything ready for the transport, framed as the protocol requires.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.output.take();
        self.bytes_taken += out.len() as u64;
        out
    }

    /// Hands everything ready for the transport to `send`, then empties the output buffer
    /// keeping its memory (the sending path of a long session).
    pub fn send_output<E>(
        &mut self,
        send: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let n = self.output.send_with(send)?;
        self.bytes_taken += n as u64;
        Ok(n)
    }

    /// Parses one value with `f`: `Ok(None)` when more input is needed. Out-of-band
    /// messages met on the way are handled (and may end the session with an error).
    pub fn try_read<R>(
        &mut self,
        f: &mut impl FnMut(&mut ReadCursor<'_>) -> Decoded<R>,
    ) -> Result<Option<R>, WireError> {
        loop {
            let avail = self.input.get(self.input_pos..).unwrap_or(&[]);
            let mut cursor = ReadCursor::new(avail);
            match f(&mut cursor) {
                Ok(v) => {
                    self.input_pos += cursor.position();
                    self.bytes_decoded += cursor.position() as u64;
                    if self.input_pos == self.input.len() {
                        self.input.clear();
                        self.input_pos = 0;
                    }
                    return Ok(Some(v));
                }
                Err(DecodeError::Invalid(e)) => return Err(e),
                Err(DecodeError::NeedMore) => {
                    if !self.pull_more_data()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads an index (`Ok(None)`: need more bytes); the codec state only advances
    /// when a whole index was read.
    pub fn try_read_ndx(&mut self) -> Result<Option<i32>, WireError> {
        let start = self.ndx_in.clone();
        let mut committed = start.clone();
        let v = self.try_read(&mut |c: &mut ReadCursor<'_>| {
            let mut d = start.clone();
            let r = d.decode(c);
            if r.is_ok() {
                committed = d;
            }
            r
        })?;
        if v.is_some() {
            self.ndx_in = committed;
        }
        Ok(v)
    }

    /// Moves more stream data into the parse buffer; false if none is available yet.
    fn pull_more_data(&mut self) -> Result<bool, WireError> {
        if self.input.len() - self.input_pos > MAX_PENDING_INPUT {
            return Err(WireError::stream("too much unparsed input"));
        }
        if !self.mux_in {
            return Ok(false); // raw input is appended directly by feed()
        }
        if self.input_pos > 0 {
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        while let Some(ev) = self.deframer.next_event()? {
            match ev {
                MuxEvent::Data(d) => {
                    self.input.extend_from_slice(&d);
                    return Ok(true);
                }
                MuxEvent::Message(code, payload) => self.handle_message(code, &payload)?,
            }
        }
        Ok(false)
    }

    fn handle_message(&mut self, code: MessageCode, payload: &[u8]) -> Result<(), WireError> {
        let int_payload = || -> Option<i32> {
            let b: [u8; 4] = payload.get(..4)?.try_into().ok()?;
            Some(i32::from_le_bytes(b))
        };
        match code {
            MessageCode::Data => {}
            MessageCode::Info => {
                let text = escape_control_chars(payload);
                if self.events.is_set() {
                    let line = text.strip_suffix('\n').unwrap_or(&text);
                    self.events.emit(crate::events::TransferEvent::Info(line));
                } else if self.echo_messages {
                    println!("{text}");
                }
                self.messages.info.push(text);
            }
            MessageCode::ErrorXfer | MessageCode::Error | MessageCode::Warning => {
                let text = escape_control_chars(payload);
                if self.echo_messages {
                    eprintln!("{text}");
                }
                self.messages.errors.push(text);
            }
            MessageCode::IoError => {
                let v = int_payload().ok_or_else(|| WireError::stream("invalid multi-message"))?;
                self.messages.io_error |= v;
            }
            MessageCode::ErrorExit => {
                let code = if payload.is_empty() {
                    0
                } else {
                    int_payload().ok_or_else(|| WireError::stream("invalid multi-message"))?
                };
                self.messages.error_exit = Some(code);
                if self.protocol >= 31 && self.mux_out && !payload.is_empty() {
                    // Error-exit synchronisation (io.c: read_a_msg): acknowledge, then the
                    // caller stops and the peer sees our side close.
                    let reply: &[u8] = if self.am_sender { &[] } else { payload };
                    self.output.message(MessageCode::ErrorExit, reply)?;
                }
                if !payload.is_empty() {
                    return Err(WireError::RemoteExit(code));
                }
            }
            MessageCode::Deleted => {
                let (name, is_dir) = match payload.strip_suffix(b"\0") {
                    Some(n) => (n, true),
                    None => (payload, false),
                };
                let mut shown = escape_control_chars(name);
                if is_dir {
                    shown.push('/');
                }
                if self.events.is_set() {
                    self.events
                        .emit(crate::events::TransferEvent::Deleted { name, is_dir });
                } else if self.echo_messages {
                    println!("deleting {shown}");
                }
                self.messages.deleted.push(shown);
            }
            MessageCode::NoSend => {
                let v = int_payload().ok_or_else(|| WireError::stream("invalid multi-message"))?;
                self.messages.no_send.push(v);
            }
            MessageCode::IoTimeout | MessageCode::Noop | MessageCode::Success => {}
            MessageCode::ErrorSocket
            | MessageCode::Log
            | MessageCode::Client
            | MessageCode::ErrorUtf8
            | MessageCode::Redo
            | MessageCode::Stats => {
                return Err(WireError::stream(format!("unexpected tag {}", code.code())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_across_frames_and_messages_parse_without_io() {
        let mut peer = Vec::new();
        crate::mux::put_data_frames(&mut peer, &[0x2a, 0x00]);
        crate::mux::put_message(&mut peer, MessageCode::Deleted, b"gone").ok();
        crate::mux::put_data_frames(&mut peer, &[0x00, 0x00]);
        let mut s = ProtocolStream::new();
        s.echo_messages = false;
        s.start_multiplex(true, true);
        let mut read_i32 = |c: &mut ReadCursor<'_>| c.i32();
        for chunk in peer.chunks(3) {
            assert!(matches!(s.try_read(&mut read_i32), Ok(None)));
            s.feed(chunk);
        }
        assert_eq!(s.try_read(&mut read_i32).ok().flatten(), Some(42));
        assert_eq!(s.messages.deleted, vec!["gone".to_string()]);
        s.write(&[1, 2, 3]);
        assert_eq!(s.take_output(), [3, 0, 0, 7, 1, 2, 3]);
    }
}
