//! [`SshTransport`]: the rsync protocol over an SSH exec channel, as a blocking
//! [`Transport`] for the wire layer.
//!
//! A worker thread runs the russh session on a single-threaded tokio runtime: one task
//! writes what we send (as the server's window allows), another reads the channel —
//! stdout to us, stderr shown and kept, the exit status kept. Reading never waits for
//! writing, so neither side can block the other; the remote's output waiting for us is
//! bounded, past which the reader pauses (and the SSH window holds the server).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rdsync_wire::remote_stderr::RemoteStderr;
use rdsync_wire::{Transport, WireError};
use russh::ChannelMsg;

use crate::error::{SSH_FAILURE_EXIT, SshError};
use crate::options::SshOptions;
use crate::session::{SshSession, open_exec_channel};

/// At most this much of the remote's output waits for us before the reader pauses.
const HELD_LIMIT: usize = 16 << 20;
/// Writes queued for the writer task before `send` blocks.
const OUTGOING_QUEUE: usize = 8;
/// Linux's EPIPE: a send after the channel is gone reads as a write to a closed pipe.
const EPIPE: i32 = 32;

/// What the reader hands to the protocol side.
enum Incoming {
    Data(Vec<u8>),
    End,
}

/// How the remote command ended.
#[derive(Debug, Default, Clone, Copy)]
struct Ending {
    exit_status: Option<u32>,
    signalled: bool,
}

/// The remote's output waiting for us, in bytes, and a wake-up for the paused reader.
#[derive(Default)]
struct Held {
    bytes: AtomicUsize,
    taken: tokio::sync::Notify,
}

/// The rsync protocol over an SSH session's exec channel (see the module docs).
pub struct SshTransport {
    outgoing: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    incoming: mpsc::Receiver<Incoming>,
    held: Arc<Held>,
    incoming_ended: bool,
    worker: Option<JoinHandle<Ending>>,
    ending: Option<Ending>,
    stderr_text: RemoteStderr,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("incoming_ended", &self.incoming_ended)
            .finish_non_exhaustive()
    }
}

impl SshTransport {
    /// Connects as `options` says, authenticates, and runs `command` (one string, which the
    /// remote shell splits, as OpenSSH sends it). Returns once the command has started.
    /// Call from a thread that is not running an async runtime.
    pub fn connect(options: SshOptions, command: String) -> Result<Self, SshError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), SshError>>();
        let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
        let (in_tx, in_rx) = mpsc::channel::<Incoming>();
        let held = Arc::new(Held::default());
        let stderr_text = RemoteStderr::new();
        let worker = {
            let (held, stderr_text) = (Arc::clone(&held), stderr_text.clone());
            std::thread::Builder::new()
                .name("rdsync-ssh".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = ready_tx.send(Err(SshError::Session(format!("runtime: {e}"))));
                            return Ending::default();
                        }
                    };
                    runtime.block_on(async move {
                        let (session, channel) = match open_exec_channel(&options, &command).await {
                            Ok(v) => v,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return Ending::default();
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        pump(session, channel, out_rx, in_tx, held, stderr_text).await
                    })
                })
                .map_err(|e| SshError::Session(format!("thread: {e}")))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SshTransport {
                outgoing: Some(out_tx),
                incoming: in_rx,
                held,
                incoming_ended: false,
                worker: Some(worker),
                ending: None,
                stderr_text,
            }),
            Ok(Err(e)) => {
                let _ = worker.join();
                Err(e)
            }
            Err(_) => {
                let _ = worker.join();
                Err(SshError::Session("the SSH worker stopped".into()))
            }
        }
    }

    /// Hands over one item from the reader; the end (or a vanished reader) ends the input.
    fn take(&mut self, item: Option<Incoming>) -> Option<Vec<u8>> {
        match item {
            Some(Incoming::Data(d)) => {
                self.held.bytes.fetch_sub(d.len(), Ordering::AcqRel);
                self.held.taken.notify_one();
                Some(d)
            }
            Some(Incoming::End) | None => {
                self.incoming_ended = true;
                None
            }
        }
    }

    /// Ends the session (our side of the channel first), returns how the command ended.
    fn wait_ending(&mut self) -> Ending {
        if let Some(e) = self.ending {
            return e;
        }
        self.outgoing = None;
        while !self.incoming_ended {
            let item = self.incoming.recv().ok();
            self.take(item);
        }
        let ending = self
            .worker
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        self.ending = Some(ending);
        ending
    }
}

impl Transport for SshTransport {
    fn send(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let broken = || WireError::Io(io::Error::from_raw_os_error(EPIPE));
        let tx = self.outgoing.as_ref().ok_or_else(broken)?;
        tx.blocking_send(bytes.to_vec()).map_err(|_| broken())
    }

    fn recv(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if self.incoming_ended {
            return Ok(None);
        }
        let item = self.incoming.recv().ok();
        Ok(self.take(item))
    }

    fn try_recv(&mut self) -> Option<Vec<u8>> {
        if self.incoming_ended {
            return None;
        }
        match self.incoming.try_recv() {
            Ok(item) => self.take(Some(item)),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => self.take(None),
        }
    }

    /// The remote command's exit status; 255 (what OpenSSH's `ssh` exits with) when it
    /// was killed by a signal or the session ended without a status.
    fn finish(&mut self) -> Option<i32> {
        let ending = self.wait_ending();
        Some(match ending.exit_status {
            Some(s) if !ending.signalled => i32::try_from(s).unwrap_or(SSH_FAILURE_EXIT),
            _ => SSH_FAILURE_EXIT,
        })
    }

    fn error_text(&self) -> String {
        self.stderr_text.text()
    }
}

/// Moves bytes between the protocol side and the channel until the channel closes.
async fn pump(
    session: SshSession,
    channel: russh::Channel<russh::client::Msg>,
    mut out_rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    in_tx: mpsc::Sender<Incoming>,
    held: Arc<Held>,
    stderr: RemoteStderr,
) -> Ending {
    let (mut read_half, write_half) = channel.split();
    let writer = async move {
        while let Some(buf) = out_rx.recv().await {
            if write_half.data_bytes(buf).await.is_err() {
                break;
            }
        }
        // Our stdin to the remote ends (the remote rsync sees EOF), as ssh does.
        let _ = write_half.eof().await;
        // Dropping the receiver makes later sends fail as a closed pipe.
        drop(out_rx);
        write_half
    };
    let reader = async move {
        let mut ending = Ending::default();
        loop {
            loop {
                let taken = held.taken.notified();
                if held.bytes.load(Ordering::Acquire) < HELD_LIMIT {
                    break;
                }
                taken.await;
            }
            match read_half.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    held.bytes.fetch_add(data.len(), Ordering::AcqRel);
                    let _ = in_tx.send(Incoming::Data(data.to_vec()));
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.push(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    ending.exit_status = Some(exit_status);
                }
                Some(ChannelMsg::ExitSignal { .. }) => ending.signalled = true,
                Some(ChannelMsg::Eof) => {
                    let _ = in_tx.send(Incoming::End);
                }
                Some(_) => {}
                None => break,
            }
        }
        stderr.finish();
        let _ = in_tx.send(Incoming::End);
        ending
    };
    let (write_half, ending) = tokio::join!(writer, reader);
    drop(write_half);
    session.close().await;
    ending
}
