//! The streams an SSH session can run over besides a TCP connection: a `ProxyCommand`'s
//! pipes and a `direct-tcpip` channel through a jump host (`ProxyJump`).

use std::pin::Pin;
use std::task::{Context, Poll};

use russh::client::{self, Handle, Msg};
use russh::{Channel, ChannelStream};
use tokio::io::{AsyncRead, AsyncWrite, Join, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::error::SshError;

/// A byte stream an SSH session runs over: a TCP connection, a `ProxyCommand`'s pipes or a
/// channel through a jump host.
pub trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SessionStream for T {}

/// Any of the streams a session runs over.
pub type BoxedStream = Box<dyn SessionStream>;

/// A stream together with what must live as long as it (the proxy process, the jump host's
/// session); reading and writing go to the stream.
pub struct KeptStream<S, K> {
    stream: S,
    _keep: K,
}

/// A `ProxyCommand` running under the user's shell; its standard output and input are the
/// connection, its standard error is ours. It is killed when the session is dropped.
pub type ProxyCommandStream = KeptStream<Join<ChildStdout, ChildStdin>, Child>;

/// A `direct-tcpip` channel of a jump host's session, which stays open as long as the stream.
pub type JumpStream<H> = KeptStream<ChannelStream<Msg>, Handle<H>>;

impl<S: AsyncRead + Unpin, K: Unpin> AsyncRead for KeptStream<S, K> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, K: Unpin> AsyncWrite for KeptStream<S, K> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
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
        (Some(stdout), Some(stdin)) => Ok(KeptStream {
            stream: tokio::io::join(stdout, stdin),
            _keep: child,
        }),
        _ => Err(SshError::Session("the ProxyCommand has no pipes".into())),
    }
}

/// The stream of `channel`, keeping the jump host's session `jump` open.
pub fn jump_stream<H: client::Handler>(jump: Handle<H>, channel: Channel<Msg>) -> JumpStream<H> {
    KeptStream {
        stream: channel.into_stream(),
        _keep: jump,
    }
}
