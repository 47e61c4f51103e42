//! The streams an SSH session can run over besides a TCP connection: a `ProxyCommand`'s
//! pipes and a `direct-tcpip` channel through a jump host (`ProxyJump`).

use std::pin::Pin;
use std::task::{Context, Poll};

use russh::client::{self, Handle, Msg};
use russh::{Channel, ChannelStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::SshError;

/// A byte stream an SSH session runs over: a TCP connection, a `ProxyCommand`'s pipes or a
/// channel through a jump host.
pub trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SessionStream for T {}

/// Any of the streams a session runs over.
pub type BoxedStream = Box<dyn SessionStream>;

/// A `ProxyCommand` running under the user's shell; its standard input and output are the
/// connection, its standard error is ours. It is killed when the session is dropped.
pub struct ProxyCommandStream {
    _child: tokio::process::Child,
    stdout: tokio::process::ChildStdout,
    stdin: tokio::process::ChildStdin,
}

impl AsyncRead for ProxyCommandStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyCommandStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

/// Starts a `ProxyCommand` as OpenSSH does: `$SHELL -c "exec COMMAND"` (`/bin/sh` without
/// `$SHELL`).
pub fn spawn_proxy_command(command: &str) -> Result<ProxyCommandStream, SshError> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let mut child = tokio::process::Command::new(&shell)
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            SshError::Session(format!(
                "starting the ProxyCommand with {}: {}",
                std::path::Path::new(&shell).display(),
                crate::session::io_reason(&e)
            ))
        })?;
    match (child.stdout.take(), child.stdin.take()) {
        (Some(stdout), Some(stdin)) => Ok(ProxyCommandStream {
            _child: child,
            stdout,
            stdin,
        }),
        _ => Err(SshError::Session("the ProxyCommand has no pipes".into())),
    }
}

/// A `direct-tcpip` channel of a jump host's session, which lives as long as the stream.
pub struct JumpStream<H: client::Handler> {
    _jump: Handle<H>,
    channel: ChannelStream<Msg>,
}

impl<H: client::Handler> JumpStream<H> {
    /// The stream of `channel`, keeping the jump host's session `jump` open.
    pub fn new(jump: Handle<H>, channel: Channel<Msg>) -> Self {
        JumpStream {
            _jump: jump,
            channel: channel.into_stream(),
        }
    }
}

impl<H: client::Handler> AsyncRead for JumpStream<H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_read(cx, buf)
    }
}

impl<H: client::Handler> AsyncWrite for JumpStream<H> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().channel).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().channel).poll_shutdown(cx)
    }
}
