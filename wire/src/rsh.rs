//! The remote-shell transport: rsync's `-e`/`--rsh` splitting, `--rsync-path`, and the
//! spawned child whose stdin/stdout carry the protocol and whose stderr is shown.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::{RERR_CRASHED, RERR_TERMINATED, WireError};
use crate::remote_stderr::RemoteStderr;

/// Bytes read from the remote's stdout at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The send buffer we ask for on both sockets to and from the remote shell.
const SOCKET_BUFFER: usize = 4 << 20;
/// While a write waits, at most this much of the remote's output is read ahead and kept; past
/// it we only wait for room (a peer that neither reads nor stops writing cannot grow us).
const HELD_LIMIT: usize = 16 << 20;
use crate::server_args::ServerCommand;

/// Where and how to start the remote `rsync --server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteShell {
    /// The `-e` command (default `$RSYNC_RSH` or `ssh`), unsplit.
    pub rsh: Option<String>,
    /// `--rsync-path` (default `rsync`); passed as one argument, the remote shell splits it.
    pub rsync_path: Option<String>,
    /// The remote user (`user@host`).
    pub user: Option<String>,
    /// The remote host.
    pub host: String,
}

/// Splits a remote-shell command as rsync's `do_cmd` does: on spaces, with single and
/// double quotes grouping (a doubled quote inside quotes is a literal quote).
pub fn split_rsh_command(cmd: &str) -> Result<Vec<String>, WireError> {
    let chars: Vec<char> = cmd.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    let mut in_quote: Option<char> = None;
    while i < chars.len() {
        if chars.get(i) == Some(&' ') {
            i += 1;
            continue;
        }
        let mut cur = String::new();
        while let Some(&c) = chars.get(i) {
            if c == ' ' && in_quote.is_none() {
                break;
            }
            if c == '\'' || c == '"' {
                match in_quote {
                    None => {
                        in_quote = Some(c);
                        i += 1;
                        continue;
                    }
                    Some(q) if q == c => {
                        i += 1;
                        if chars.get(i) != Some(&q) {
                            in_quote = None;
                            continue;
                        }
                    }
                    Some(_) => {}
                }
            }
            if let Some(&c) = chars.get(i) {
                cur.push(c);
            }
            i += 1;
        }
        args.push(cur);
    }
    if let Some(q) = in_quote {
        return Err(WireError::Syntax(format!(
            "Missing trailing-{q} in remote-shell command."
        )));
    }
    Ok(args)
}

impl RemoteShell {
    /// A remote shell for `host` with defaults for everything else.
    pub fn new(host: impl Into<String>) -> Self {
        RemoteShell {
            rsh: None,
            rsync_path: None,
            user: None,
            host: host.into(),
        }
    }

    /// The full argv: `rsh… [-l user] host rsync-path server-args…`. Refuses a host or
    /// user that starts with `-` (it would be taken as an option of the remote shell).
    pub fn argv(&self, server: &ServerCommand) -> Result<Vec<String>, WireError> {
        if self.host.starts_with('-') || self.host.is_empty() {
            return Err(WireError::Syntax(format!(
                "invalid remote host name: {:?}",
                self.host
            )));
        }
        if let Some(u) = &self.user
            && (u.starts_with('-') || u.is_empty())
        {
            return Err(WireError::Syntax(format!(
                "invalid remote user name: {u:?}"
            )));
        }
        let rsh = match &self.rsh {
            Some(r) => r.clone(),
            None => std::env::var("RSYNC_RSH").unwrap_or_else(|_| "ssh".to_string()),
        };
        let mut argv = split_rsh_command(&rsh)?;
        if argv.is_empty() {
            return Err(WireError::Syntax("empty remote-shell command".into()));
        }
        if let Some(u) = &self.user {
            argv.push("-l".into());
            argv.push(u.clone());
        }
        argv.push(self.host.clone());
        argv.push(self.rsync_path.clone().unwrap_or_else(|| "rsync".into()));
        argv.extend(server.args.iter().cloned());
        Ok(argv)
    }

    /// Spawns the remote shell: stdin and stdout on socket pairs, stderr on a pipe.
    pub fn spawn(&self, server: &ServerCommand) -> Result<RemoteProcess, WireError> {
        let argv = self.argv(server)?;
        let (prog, rest) = argv
            .split_first()
            .ok_or_else(|| WireError::Syntax("empty argv".into()))?;
        // rsync's piped_child connects the remote shell through socket pairs (fd_pair), not
        // pipes; so do we: a stream socket wakes a writer waiting for room only once the
        // reader has drained three quarters of the queue, where a full pipe wakes it on
        // every read.
        let pair = || UnixStream::pair().map_err(|e| WireError::Spawn(format!("socketpair: {e}")));
        let (to_child, child_in) = pair()?;
        let (from_child, child_out) = pair()?;
        // A stream socket holds at most its writer's send buffer (about 200 KiB by default),
        // a fifth of the pipes we used before: ask for more in both directions, so that
        // neither side stalls while the other is busy. The kernel caps the request at
        // net.core.wmem_max, which only costs speed.
        for writer in [&to_child, &child_out] {
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(writer, SOCKET_BUFFER);
        }
        let mut child = Command::new(prog)
            .args(rest)
            .stdin(Stdio::from(OwnedFd::from(child_in)))
            .stdout(Stdio::from(OwnedFd::from(child_out)))
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| WireError::Spawn(format!("{prog}: {e}")))?;
        RemoteProcess::attach(&mut child, OwnedFd::from(to_child), from_child).map(|mut p| {
            p.child = Some(child);
            p
        })
    }
}

/// A running remote `rsync --server`.
///
/// Its stdin and stdout are driven from the calling thread, as rsync drives its socket: our
/// output goes out with non-blocking writes, and while a write waits for room whatever the
/// remote sends is read and kept, so neither side can block the other and nothing passes
/// between threads. A helper thread forwards the remote's stderr to ours and keeps a copy.
#[derive(Debug)]
pub struct RemoteProcess {
    child: Option<Child>,
    /// The remote's stdin, non-blocking; `None` once closed.
    stdin: Option<OwnedFd>,
    /// The remote's stdout (blocking; polled before reads that must not wait).
    stdout: UnixStream,
    /// Chunks read from the remote while a write was waiting for room.
    held: VecDeque<Vec<u8>>,
    /// Bytes in `held`.
    held_bytes: usize,
    /// The remote's stdout ended.
    incoming_ended: bool,
    /// Reused read buffer.
    buf: Vec<u8>,
    stderr_pump: Option<JoinHandle<()>>,
    stderr_text: RemoteStderr,
    /// The process was ended by a signal.
    signalled: bool,
}

impl RemoteProcess {
    fn attach(child: &mut Child, stdin: OwnedFd, stdout: UnixStream) -> Result<Self, WireError> {
        let flags = rustix::fs::fcntl_getfl(&stdin).map_err(|e| WireError::Io(e.into()))?;
        rustix::fs::fcntl_setfl(&stdin, flags | rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| WireError::Io(e.into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| WireError::Spawn("no stderr".into()))?;
        let stderr_text = RemoteStderr::new();
        let kept = stderr_text.clone();
        let stderr_pump = std::thread::spawn(move || pump_stderr(stderr, kept));
        Ok(RemoteProcess {
            child: None,
            stdin: Some(stdin),
            stdout,
            held: VecDeque::new(),
            held_bytes: 0,
            incoming_ended: false,
            buf: vec![0u8; READ_CHUNK],
            stderr_pump: Some(stderr_pump),
            stderr_text,
            signalled: false,
        })
    }

    /// Reads one chunk of the remote's stdout (blocking) into `held`; marks the end.
    fn read_into_held(&mut self) {
        loop {
            match self.stdout.read(&mut self.buf) {
                Ok(0) => {
                    self.incoming_ended = true;
                    return;
                }
                Ok(n) => {
                    self.held
                        .push_back(self.buf.get(..n).unwrap_or_default().to_vec());
                    self.held_bytes += n;
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.incoming_ended = true;
                    return;
                }
            }
        }
    }

    /// Writes all of `bytes` to the remote's stdin. While its socket is full this keeps reading
    /// what the remote sends (kept for [`read_chunk`](Self::read_chunk)), so the two sides
    /// never deadlock.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), WireError> {
        while !bytes.is_empty() {
            let Some(stdin) = self.stdin.as_ref() else {
                return Err(WireError::stream("remote stdin closed"));
            };
            match rustix::io::write(stdin, bytes) {
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    if self.wait_readable_while_writing()? {
                        self.read_into_held();
                    }
                }
                Err(e) => return Err(WireError::Io(e.into())),
            }
        }
        Ok(())
    }

    /// Waits until stdin has room or (while it may still send and we keep less than
    /// [`HELD_LIMIT`]) stdout has data; true when stdout is readable.
    fn wait_readable_while_writing(&self) -> Result<bool, WireError> {
        use rustix::event::{PollFd, PollFlags, poll};
        let Some(stdin) = self.stdin.as_ref() else {
            return Ok(false);
        };
        let mut fds = vec![PollFd::new(stdin, PollFlags::OUT)];
        if !self.incoming_ended && self.held_bytes < HELD_LIMIT {
            fds.push(PollFd::new(&self.stdout, PollFlags::IN));
        }
        loop {
            match poll(&mut fds, None) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(WireError::Io(e.into())),
            }
        }
        Ok(fds.get(1).is_some_and(|f| !f.revents().is_empty()))
    }

    /// Takes the oldest kept chunk.
    fn pop_held(&mut self) -> Option<Vec<u8>> {
        let chunk = self.held.pop_front()?;
        self.held_bytes -= chunk.len();
        Some(chunk)
    }

    /// The next chunk of the remote's stdout, blocking; `None` at its end.
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        if self.held.is_empty() && !self.incoming_ended {
            self.read_into_held();
        }
        self.pop_held()
    }

    /// The next chunk of the remote's stdout if one has already arrived; never blocks.
    pub fn try_read_chunk(&mut self) -> Option<Vec<u8>> {
        use rustix::event::{PollFd, PollFlags, poll};
        if self.held.is_empty() && !self.incoming_ended {
            let mut fds = [PollFd::new(&self.stdout, PollFlags::IN)];
            let zero = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            if matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0) {
                self.read_into_held();
            }
        }
        self.pop_held()
    }

    /// Closes our side of the remote's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Whether [`finish`](Self::finish) found the process ended by a signal.
    pub fn killed_by_signal(&self) -> bool {
        self.signalled
    }

    /// Everything the remote wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr_text.text()
    }

    /// Closes stdin, drains stdout, waits for the process and returns its exit code
    /// (rsync reports a signal death as code 255 in the client; we do the same).
    pub fn finish(&mut self) -> Result<i32, WireError> {
        self.close_stdin();
        // Drain stdout first: the remote may need to write before it exits.
        self.held.clear();
        while !self.incoming_ended {
            self.read_into_held();
            self.held.clear();
        }
        self.held_bytes = 0;
        if let Some(h) = self.stderr_pump.take() {
            let _ = h.join();
        }
        let Some(mut child) = self.child.take() else {
            return Ok(0);
        };
        let status = child.wait().map_err(WireError::Io)?;
        self.signalled = status.code().is_none();
        // main.c: wait_process_with_flush — a remote shell killed by a signal is
        // RERR_CRASHED (core dumped) or RERR_TERMINATED. (After an error rsync's cleanup.c
        // reads a signalled status as 0 and keeps its own code: the session layer does the
        // same with `killed_by_signal`.)
        Ok(match status.code() {
            Some(code) => code,
            None if status.core_dumped() => RERR_CRASHED,
            None => RERR_TERMINATED,
        })
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn pump_stderr(mut stderr: impl Read, log: RemoteStderr) {
    let mut buf = vec![0u8; 8192];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => log.push(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    log.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_rsync() {
        assert_eq!(
            split_rsh_command("ssh -p 22  -o 'Opt x' \"a\"\"b\"").ok(),
            Some(vec![
                "ssh".into(),
                "-p".into(),
                "22".into(),
                "-o".into(),
                "Opt x".into(),
                "a\"b".into()
            ])
        );
        assert!(split_rsh_command("ssh 'x").is_err());
    }

    #[test]
    fn dash_hosts_and_users_are_refused() {
        let cmd = ServerCommand { args: vec![] };
        let mut r = RemoteShell::new("-oProxyCommand=x");
        assert!(r.argv(&cmd).is_err());
        r.host = "h".into();
        r.user = Some("-x".into());
        assert!(r.argv(&cmd).is_err());
    }
}
