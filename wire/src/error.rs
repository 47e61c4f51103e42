//! Typed errors of the wire layer, each carrying the rsync exit code it maps to.

use std::io;

/// rsync exit code: success.
pub const RERR_OK: i32 = 0;
/// rsync exit code: syntax or usage error.
pub const RERR_SYNTAX: i32 = 1;
/// rsync exit code: protocol incompatibility.
pub const RERR_PROTOCOL: i32 = 2;
/// rsync exit code: errors selecting input/output files or directories.
pub const RERR_FILESELECT: i32 = 3;
/// rsync exit code: requested action not supported.
pub const RERR_UNSUPPORTED: i32 = 4;
/// rsync exit code: error starting the client-server protocol.
pub const RERR_STARTCLIENT: i32 = 5;
/// rsync exit code: error in socket I/O.
pub const RERR_SOCKETIO: i32 = 10;
/// rsync exit code: error in file I/O.
pub const RERR_FILEIO: i32 = 11;
/// rsync exit code: error in the rsync protocol data stream.
pub const RERR_STREAMIO: i32 = 12;
/// rsync exit code: error in IPC code.
pub const RERR_IPC: i32 = 14;
/// A sibling process (here: the remote shell) dumped core.
pub const RERR_CRASHED: i32 = 15;
/// A sibling process (here: the remote shell) was killed by a signal.
pub const RERR_TERMINATED: i32 = 16;
/// rsync exit code: memory allocation failed or `--max-alloc` exceeded.
pub const RERR_MALLOC: i32 = 22;
/// rsync exit code: partial transfer due to error.
pub const RERR_PARTIAL: i32 = 23;
/// rsync exit code: some source files vanished.
pub const RERR_VANISHED: i32 = 24;
/// rsync exit code: the `--max-delete` limit stopped deletions.
pub const RERR_DEL_LIMIT: i32 = 25;

/// Everything that can go wrong while speaking the rsync protocol.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The peer sent bytes that violate the protocol (exit code 2).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The data stream is corrupt or ended early (exit code 12).
    #[error("error in rsync protocol data stream: {0}")]
    Stream(String),
    /// A requested feature cannot be negotiated (exit code 4).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The sender named a file outside the destination (exit code 4, as rsync).
    #[error("ABORTING due to unsafe pathname from sender: {0}")]
    UnsafePath(String),
    /// A usage error detected before anything was spawned (exit code 1).
    #[error("{0}")]
    Syntax(String),
    /// The remote shell could not be started (exit code 5 as in rsync's client).
    #[error("failed to start remote shell: {0}")]
    Spawn(String),
    /// Local file I/O failed (exit code 11).
    #[error("file I/O error on {path}: {source}")]
    FileIo {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Pipe I/O with the remote process failed (exit code 12).
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// An allocation was refused: over the `--max-alloc`-like budget or failed
    /// (exit code 22, rsync's RERR_MALLOC).
    #[error("{0}")]
    Malloc(String),
    /// The peer's stream ended before the session did (exit code 12; io.c:
    /// `whine_about_eof`).
    #[error("connection unexpectedly closed ({received} bytes received so far)")]
    ConnectionClosed {
        /// Bytes read from the peer until then (rsync's `total_read`).
        received: u64,
    },
    /// Writing to the peer failed. rsync writes its setup bytes with `safe_write` (exit
    /// code 12) and everything later through `perform_io` (exit code 10); the line names
    /// the process as rsync's `who_am_i` would.
    #[error("[{who}] {}", socket_write_text(*.setup, *.bytes, *.errno))]
    SocketWrite {
        /// rsync's name for the process that wrote ("sender", "Receiver", "generator").
        who: &'static str,
        /// The write was part of the protocol setup (before buffered I/O starts).
        setup: bool,
        /// Bytes the failed write tried to send.
        bytes: usize,
        /// The OS error number.
        errno: i32,
    },
    /// The peer reported a fatal error with an exit code (MSG_ERROR_EXIT).
    #[error("remote side exited with code {0}")]
    RemoteExit(i32),
}

impl WireError {
    /// The rsync exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            WireError::Protocol(_) => RERR_PROTOCOL,
            WireError::Stream(_) | WireError::Io(_) | WireError::ConnectionClosed { .. } => {
                RERR_STREAMIO
            }
            WireError::Unsupported(_) | WireError::UnsafePath(_) => RERR_UNSUPPORTED,
            WireError::Syntax(_) => RERR_SYNTAX,
            WireError::Spawn(_) => RERR_STARTCLIENT,
            WireError::FileIo { .. } => RERR_FILEIO,
            WireError::Malloc(_) => RERR_MALLOC,
            WireError::SocketWrite { setup: true, .. } => RERR_STREAMIO,
            WireError::SocketWrite { setup: false, .. } => RERR_SOCKETIO,
            WireError::RemoteExit(code) => *code,
        }
    }

    /// A failed write of `bytes` to the peer, named as rsync names it (see
    /// [`WireError::SocketWrite`]) for the process `who` and the phase; an error without an
    /// OS error number passes unchanged.
    pub fn into_socket_write(self, who: &'static str, setup: bool, bytes: usize) -> Self {
        match &self {
            WireError::Io(io) => match io.raw_os_error() {
                Some(errno) => WireError::SocketWrite {
                    who,
                    setup,
                    bytes,
                    errno,
                },
                None => self,
            },
            _ => self,
        }
    }

    /// Shorthand for a protocol error.
    pub fn protocol(msg: impl Into<String>) -> Self {
        WireError::Protocol(msg.into())
    }

    /// Shorthand for a stream error.
    pub fn stream(msg: impl Into<String>) -> Self {
        WireError::Stream(msg.into())
    }

    /// Wraps a local file error with its path.
    pub fn file(path: impl AsRef<std::path::Path>, source: io::Error) -> Self {
        WireError::FileIo {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// io.c's two wordings of a failed write to the socket.
fn socket_write_text(setup: bool, bytes: usize, errno: i32) -> String {
    let err = rdsync_engine::fs::errno_text(rustix::io::Errno::from_raw_os_error(errno));
    if setup {
        format!("safe_write failed to write {bytes} bytes to socket: {err}")
    } else {
        format!("write error: {err}")
    }
}

/// Result of a buffer decoder step: the error says whether more bytes are needed.
#[derive(Debug)]
pub enum DecodeError {
    /// The buffer ends before the value does; call again with more bytes.
    NeedMore,
    /// The bytes are invalid.
    Invalid(WireError),
}

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        DecodeError::Invalid(e)
    }
}

/// Result type of internal cursor-based decoders.
pub type Decoded<T> = Result<T, DecodeError>;

/// Converts a cursor decoder result into the public `Ok(None)` = need-more form.
pub fn need_more_to_none<T>(r: Decoded<T>) -> Result<Option<T>, WireError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(DecodeError::NeedMore) => Ok(None),
        Err(DecodeError::Invalid(e)) => Err(e),
    }
}
