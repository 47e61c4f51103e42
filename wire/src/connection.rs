//! The thin blocking I/O layer: drives the sans-IO codecs over a [`Transport`].
//!
//! Output is buffered and framed (multiplexed when the protocol says so) and flushed
//! before every blocking read, so the peer always has what it needs to answer.

use crate::codec::{NdxDecoder, NdxEncoder, ReadCursor};
use crate::error::{DecodeError, Decoded, WireError};
use crate::mux::{MessageCode, MuxDeframer, MuxEvent, escape_control_chars, put_data_frames};

/// A byte pipe to the peer.
pub trait Transport {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), WireError>;
    /// Blocks for the next bytes; `None` at end of stream.
    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError>;
    /// Ends the session: closes our output, waits for the peer, returns its exit status
    /// if the transport knows it.
    fn finish(&mut self) -> Option<i32> {
        None
    }
    /// What the peer wrote on its error channel (stderr / SSH extended data).
    fn error_text(&self) -> String {
        String::new()
    }
}

impl Transport for crate::rsh::RemoteProcess {
    fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.write_all(bytes)
    }
    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        Ok(self.read_chunk())
    }
    fn finish(&mut self) -> Option<i32> {
        crate::rsh::RemoteProcess::finish(self).ok()
    }
    fn error_text(&self) -> String {
        self.stderr_text()
    }
}

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

/// A protocol connection: framed output, deframed input, index codecs.
#[derive(Debug)]
pub struct Connection<T: Transport> {
    transport: T,
    /// Negotiated protocol (0 before the handshake).
    pub protocol: u32,
    mux_in: bool,
    mux_out: bool,
    deframer: MuxDeframer,
    input: Vec<u8>,
    input_pos: usize,
    output: Vec<u8>,
    ndx_out: NdxEncoder,
    ndx_in: NdxDecoder,
    /// Out-of-band messages received so far.
    pub messages: PeerMessages,
    /// Print INFO/ERROR messages as they arrive.
    pub echo_messages: bool,
    /// We are the sender (push): answers MSG_ERROR_EXIT with an empty one, as
    /// rsync's sender does; a receiver echoes the code.
    pub am_sender: bool,
    /// Bytes handed to the transport (including framing).
    pub bytes_sent: u64,
    /// Bytes received from the transport (including framing).
    pub bytes_received: u64,
    eof: bool,
}

impl<T: Transport> Connection<T> {
    /// A connection before the handshake (raw in both directions).
    pub fn new(transport: T) -> Self {
        Connection {
            transport,
            protocol: 0,
            mux_in: false,
            mux_out: false,
            deframer: MuxDeframer::new(),
            input: Vec::new(),
            input_pos: 0,
            output: Vec::new(),
            ndx_out: NdxEncoder::new(30),
            ndx_in: NdxDecoder::new(30),
            messages: PeerMessages::default(),
            echo_messages: true,
            am_sender: false,
            bytes_sent: 0,
            bytes_received: 0,
            eof: false,
        }
    }

    /// Sets the negotiated protocol (resets the ndx codecs).
    pub fn set_protocol(&mut self, protocol: u32) {
        self.protocol = protocol;
        self.ndx_out = NdxEncoder::new(protocol);
        self.ndx_in = NdxDecoder::new(protocol);
    }

    /// Turns multiplexing on for input and/or output (after flushing raw output).
    pub fn start_multiplex(&mut self, input: bool, output: bool) -> Result<(), WireError> {
        self.flush()?;
        if input && !self.mux_in {
            // Bytes already read past the handshake belong to the first frames.
            let rest = self.input.get(self.input_pos..).unwrap_or(&[]).to_vec();
            self.input.clear();
            self.input_pos = 0;
            self.deframer.push(&rest);
        }
        self.mux_in = input;
        self.mux_out = output;
        Ok(())
    }

    /// The transport (e.g. to wait for the remote process).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Consumes the connection, returning the transport.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Buffers stream bytes for the peer.
    pub fn write(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Buffers stream bytes produced by `f`.
    pub fn write_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.output);
    }

    /// Buffers an index.
    pub fn write_ndx(&mut self, ndx: i32) {
        self.ndx_out.put(&mut self.output, ndx);
    }

    /// Sends an out-of-band message (flushing pending data first to keep order).
    pub fn send_message(&mut self, code: MessageCode, payload: &[u8]) -> Result<(), WireError> {
        self.flush()?;
        let mut frame = Vec::new();
        crate::mux::put_message(&mut frame, code, payload)?;
        self.bytes_sent += frame.len() as u64;
        self.transport.send(&frame)
    }

    /// Sends everything buffered.
    pub fn flush(&mut self) -> Result<(), WireError> {
        if self.output.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.output);
        if self.mux_out {
            let mut framed = Vec::with_capacity(data.len() + 16);
            put_data_frames(&mut framed, &data);
            self.bytes_sent += framed.len() as u64;
            self.transport.send(&framed)
        } else {
            self.bytes_sent += data.len() as u64;
            self.transport.send(&data)
        }
    }

    /// Buffers more output and flushes when a lot has accumulated.
    pub fn maybe_flush(&mut self) -> Result<(), WireError> {
        if self.output.len() >= 256 * 1024 {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Parses one value from the input stream with `f`, reading more as needed.
    pub fn read<R>(
        &mut self,
        mut f: impl FnMut(&mut ReadCursor<'_>) -> Decoded<R>,
    ) -> Result<R, WireError> {
        loop {
            let avail = self.input.get(self.input_pos..).unwrap_or(&[]);
            let mut cursor = ReadCursor::new(avail);
            match f(&mut cursor) {
                Ok(v) => {
                    self.input_pos += cursor.position();
                    if self.input_pos == self.input.len() {
                        self.input.clear();
                        self.input_pos = 0;
                    }
                    return Ok(v);
                }
                Err(DecodeError::Invalid(e)) => return Err(e),
                Err(DecodeError::NeedMore) => self.fill()?,
            }
        }
    }

    /// Reads an index.
    pub fn read_ndx(&mut self) -> Result<i32, WireError> {
        let start = self.ndx_in.clone();
        let mut committed = start.clone();
        let v = self.read(|c| {
            let mut d = start.clone();
            let r = d.decode(c);
            if r.is_ok() {
                committed = d;
            }
            r
        })?;
        self.ndx_in = committed;
        Ok(v)
    }

    /// Reads an int32.
    pub fn read_i32(&mut self) -> Result<i32, WireError> {
        self.read(|c| c.i32())
    }

    /// Reads `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<Vec<u8>, WireError> {
        self.read(|c| c.take(n).map(<[u8]>::to_vec))
    }

    /// Whether the peer closed its output and nothing is left.
    pub fn at_eof(&mut self) -> bool {
        self.eof && self.input_pos >= self.input.len()
    }

    fn fill(&mut self) -> Result<(), WireError> {
        self.flush()?;
        if self.input.len() - self.input_pos > MAX_PENDING_INPUT {
            return Err(WireError::stream("too much unparsed input"));
        }
        if self.input_pos > 0 {
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        loop {
            if self.mux_in {
                while let Some(ev) = self.deframer.next_event()? {
                    match ev {
                        MuxEvent::Data(d) => {
                            self.input.extend_from_slice(&d);
                            return Ok(());
                        }
                        MuxEvent::Message(code, payload) => self.handle_message(code, &payload)?,
                    }
                }
            }
            match self.transport.recv()? {
                Some(chunk) => {
                    self.bytes_received += chunk.len() as u64;
                    if self.mux_in {
                        self.deframer.push(&chunk);
                    } else {
                        self.input.extend_from_slice(&chunk);
                        return Ok(());
                    }
                }
                None => {
                    self.eof = true;
                    if let Some(code) = self.messages.error_exit {
                        return Err(WireError::RemoteExit(code));
                    }
                    return Err(WireError::stream("connection unexpectedly closed"));
                }
            }
        }
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
                if self.echo_messages {
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
                    let mut frame = Vec::new();
                    crate::mux::put_message(&mut frame, MessageCode::ErrorExit, reply)?;
                    let _ = self.transport.send(&frame);
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
                if self.echo_messages {
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
