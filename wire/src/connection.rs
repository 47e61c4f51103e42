//! The thin blocking I/O layer: drives a sans-IO [`ProtocolStream`] over a
//! [`Transport`]. Output is flushed before every blocking read, so the peer always has
//! what it needs to answer.

use crate::codec::ReadCursor;
use crate::error::{Decoded, WireError};
use crate::mux::MessageCode;
use crate::role::{OutputSink, Progress, RoleMachine};
pub use crate::stream::{PeerMessages, ProtocolStream};

/// A byte pipe to the peer.
pub trait Transport {
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), WireError>;
    /// Blocks for the next bytes; `None` at end of stream.
    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError>;
    /// Bytes that have already arrived, without blocking; `None` when nothing is ready
    /// (or the transport cannot tell).
    fn try_recv(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// Ends the session: closes our output, waits for the peer, returns its exit status
    /// if the transport knows it.
    fn finish(&mut self) -> Option<i32> {
        None
    }
    /// What the peer wrote on its error channel (stderr / SSH extended data).
    fn error_text(&self) -> String {
        String::new()
    }
    /// Whether the peer process was ended by a signal (its status from
    /// [`finish`](Self::finish) then stands for the signal, not an exit code).
    fn finished_by_signal(&self) -> bool {
        false
    }
}

impl Transport for crate::rsh::RemoteProcess {
    fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.write_all(bytes)
    }
    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        Ok(self.read_chunk())
    }
    fn try_recv(&mut self) -> Option<Vec<u8>> {
        self.try_read_chunk()
    }
    fn finish(&mut self) -> Option<i32> {
        crate::rsh::RemoteProcess::finish(self).ok()
    }
    fn error_text(&self) -> String {
        self.stderr_text()
    }
    fn finished_by_signal(&self) -> bool {
        self.killed_by_signal()
    }
}

/// Hands a role's pending output straight to the transport.
struct TransportSink<'a, T: Transport> {
    transport: &'a mut T,
    sent: &'a mut u64,
}

impl<T: Transport> OutputSink for TransportSink<'_, T> {
    fn flush(&mut self, s: &mut ProtocolStream) -> Result<(), WireError> {
        *self.sent += send_pending(&mut *self.transport, s)? as u64;
        Ok(())
    }
}

/// Hands the stream's pending output to the transport; a failed write is named as rsync
/// names it.
fn send_pending<T: Transport>(
    transport: &mut T,
    s: &mut ProtocolStream,
) -> Result<usize, WireError> {
    let (who, setup) = (s.who_am_i, !s.setup_done);
    s.send_output(|out| match out.is_empty() {
        true => Ok(()),
        false => transport
            .send(out)
            .map_err(|e| e.into_socket_write(who, setup, out.len())),
    })
}

/// Pending output below this size waits while more input is already available.
const COALESCE_OUTPUT: usize = 64 * 1024;

/// A protocol stream bound to a transport.
#[derive(Debug)]
pub struct Connection<T: Transport> {
    transport: T,
    /// The sans-IO protocol state.
    pub stream: ProtocolStream,
    /// Bytes handed to the transport (including framing).
    pub bytes_sent: u64,
    /// Bytes received from the transport (including framing).
    pub bytes_received: u64,
}

impl<T: Transport> Connection<T> {
    /// A connection before the handshake (raw in both directions).
    pub fn new(transport: T) -> Self {
        Connection {
            transport,
            stream: ProtocolStream::new(),
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// Sets the negotiated protocol (resets the ndx codecs).
    pub fn set_protocol(&mut self, protocol: u32) {
        self.stream.set_protocol(protocol);
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> u32 {
        self.stream.protocol
    }

    /// Turns multiplexing on for input and/or output (after flushing raw output).
    pub fn start_multiplex(&mut self, input: bool, output: bool) -> Result<(), WireError> {
        self.flush()?;
        self.stream.start_multiplex(input, output);
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
        self.stream.write(bytes);
    }

    /// Buffers stream bytes produced by `f`.
    pub fn write_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        self.stream.write_with(f);
    }

    /// Buffers an index.
    pub fn write_ndx(&mut self, ndx: i32) {
        self.stream.write_ndx(ndx);
    }

    /// Sends an out-of-band message (after the data written so far).
    pub fn send_message(&mut self, code: MessageCode, payload: &[u8]) -> Result<(), WireError> {
        self.stream.write_message(code, payload)?;
        self.flush()
    }

    /// Sends everything buffered.
    pub fn flush(&mut self) -> Result<(), WireError> {
        self.bytes_sent += send_pending(&mut self.transport, &mut self.stream)? as u64;
        Ok(())
    }

    /// Flushes when a lot of output has accumulated.
    pub fn maybe_flush(&mut self) -> Result<(), WireError> {
        if self.stream.pending_output() >= 256 * 1024 {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Parses one value with `f`, flushing and blocking for input as needed.
    pub fn read<R>(
        &mut self,
        mut f: impl FnMut(&mut ReadCursor<'_>) -> Decoded<R>,
    ) -> Result<R, WireError> {
        loop {
            let parsed = self.stream.try_read(&mut f);
            // A message handler may have queued a reply (error-exit synchronisation).
            if self.stream.pending_output() > 0 {
                let _ = self.flush();
            }
            if let Some(v) = parsed? {
                return Ok(v);
            }
            self.fill()?;
        }
    }

    /// Reads an index.
    pub fn read_ndx(&mut self) -> Result<i32, WireError> {
        loop {
            let parsed = self.stream.try_read_ndx();
            if self.stream.pending_output() > 0 {
                let _ = self.flush();
            }
            if let Some(v) = parsed? {
                return Ok(v);
            }
            self.fill()?;
        }
    }

    /// Reads an int32.
    pub fn read_i32(&mut self) -> Result<i32, WireError> {
        self.read(|c| c.i32())
    }

    /// Reads `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<Vec<u8>, WireError> {
        self.read(|c| c.take(n).map(<[u8]>::to_vec))
    }

    /// Runs a role machine to completion: flush its output, feed it input, repeat.
    pub fn drive(&mut self, machine: &mut dyn RoleMachine) -> Result<(), WireError> {
        let result = self.drive_inner(machine);
        if result.is_err() {
            machine.abort();
        }
        result
    }

    fn drive_inner(&mut self, machine: &mut dyn RoleMachine) -> Result<(), WireError> {
        loop {
            let progress = {
                let mut sink = TransportSink {
                    transport: &mut self.transport,
                    sent: &mut self.bytes_sent,
                };
                machine.advance(&mut self.stream, &mut sink)
            };
            match progress {
                Err(e) => {
                    // Send what was produced (e.g. an error-exit reply) before failing.
                    let _ = self.flush();
                    return Err(e);
                }
                Ok(Progress::Done) => return self.flush(),
                Ok(Progress::Flush) => self.flush()?,
                Ok(Progress::Poll) => {
                    // The role keeps producing (file lists): send in large pieces, so
                    // that the peer is not woken for every small one.
                    if self.stream.pending_output() >= COALESCE_OUTPUT {
                        self.flush()?;
                    }
                    if let Some(chunk) = self.transport.try_recv() {
                        self.bytes_received += chunk.len() as u64;
                        self.stream.feed(&chunk);
                    }
                }
                Ok(Progress::NeedInput) => {
                    // Input that has already arrived is taken before our output is sent,
                    // so answers to a burst of requests leave in one write, as rsync's
                    // buffered I/O does; we flush before we would block.
                    if self.stream.pending_output() < COALESCE_OUTPUT
                        && let Some(chunk) = self.transport.try_recv()
                    {
                        self.bytes_received += chunk.len() as u64;
                        self.stream.feed(&chunk);
                        continue;
                    }
                    self.fill()?;
                }
            }
        }
    }

    fn fill(&mut self) -> Result<(), WireError> {
        self.flush()?;
        match self.transport.recv()? {
            Some(chunk) => {
                self.bytes_received += chunk.len() as u64;
                self.stream.feed(&chunk);
                Ok(())
            }
            None => {
                self.stream.feed_eof();
                Err(self.stream.closed_error())
            }
        }
    }
}
