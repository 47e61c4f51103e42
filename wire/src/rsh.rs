//! The remote-shell transport: rsync's `-e`/`--rsh` splitting, `--rsync-path`, and the
//! spawned child whose stdin/stdout carry the protocol and whose stderr is shown.

use crossbeam_channel::{Receiver, Sender, bounded, select};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::WireError;

/// How many 64 KiB chunks from the remote's stdout may wait unread.
const INCOMING_CHUNKS: usize = 64;
/// Chunks queued for the remote's stdin before a writer waits: memory stays bounded however
/// slowly the remote reads (while waiting, what the remote sends is still read, so neither side
/// can block the other).
const OUTGOING_CHUNKS: usize = 64;
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

    /// Spawns the remote shell with piped stdin/stdout/stderr.
    pub fn spawn(&self, server: &ServerCommand) -> Result<RemoteProcess, WireError> {
        let argv = self.argv(server)?;
        let (prog, rest) = argv
            .split_first()
            .ok_or_else(|| WireError::Syntax("empty argv".into()))?;
        let mut child = Command::new(prog)
            .args(rest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| WireError::Spawn(format!("{prog}: {e}")))?;
        RemoteProcess::attach(&mut child).map(|mut p| {
            p.child = Some(child);
            p
        })
    }
}

/// A running remote `rsync --server`.
///
/// Three pump threads keep both peers streaming without deadlock (rsync uses large
/// non-blocking buffers for the same reason): a writer thread takes our output from an
/// unbounded queue so we never block on a full pipe; a reader thread fills a *bounded*
/// queue from the remote's stdout (so memory stays bounded when we are slow); a third
/// forwards the remote's stderr to ours and keeps a copy.
#[derive(Debug)]
pub struct RemoteProcess {
    child: Option<Child>,
    outgoing: Option<Sender<Vec<u8>>>,
    write_error: Arc<Mutex<Option<String>>>,
    stdin_pump: Option<JoinHandle<()>>,
    incoming: Receiver<Vec<u8>>,
    /// Chunks read from the remote while a write was waiting for room.
    held: std::collections::VecDeque<Vec<u8>>,
    /// The remote's stdout ended while a write was waiting.
    incoming_ended: bool,
    stdout_pump: Option<JoinHandle<()>>,
    stderr_pump: Option<JoinHandle<()>>,
    stderr_text: Arc<Mutex<Vec<u8>>>,
}

impl RemoteProcess {
    fn attach(child: &mut Child) -> Result<Self, WireError> {
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| WireError::Spawn("no stdin".into()))?;
        let (out_tx, out_rx) = bounded::<Vec<u8>>(OUTGOING_CHUNKS);
        let write_error = Arc::new(Mutex::new(None));
        let werr = Arc::clone(&write_error);
        let stdin_pump = std::thread::spawn(move || pump_stdin(stdin, out_rx, werr));
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| WireError::Spawn("no stdout".into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| WireError::Spawn("no stderr".into()))?;
        let (tx, rx) = bounded(INCOMING_CHUNKS);
        let stdout_pump = std::thread::spawn(move || pump_stdout(stdout, tx));
        let stderr_text = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&stderr_text);
        let stderr_pump = std::thread::spawn(move || pump_stderr(stderr, kept));
        Ok(RemoteProcess {
            child: None,
            outgoing: Some(out_tx),
            write_error,
            stdin_pump: Some(stdin_pump),
            incoming: rx,
            held: std::collections::VecDeque::new(),
            incoming_ended: false,
            stdout_pump: Some(stdout_pump),
            stderr_pump: Some(stderr_pump),
            stderr_text,
        })
    }

    /// Queues `bytes` for the remote's stdin. When the queue is full this waits for room, and
    /// meanwhile keeps reading what the remote sends, so the two sides never deadlock.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        if let Some(e) = self.write_error.lock().ok().and_then(|g| g.clone()) {
            return Err(WireError::stream(format!(
                "write to remote failed: {e} (connection unexpectedly closed)"
            )));
        }
        let tx = self
            .outgoing
            .clone()
            .ok_or_else(|| WireError::stream("remote stdin closed"))?;
        let closed = || WireError::stream("connection unexpectedly closed");
        let mut chunk = bytes.to_vec();
        loop {
            match tx.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(closed()),
                Err(crossbeam_channel::TrySendError::Full(c)) => chunk = c,
            }
            if self.incoming_ended {
                // Nothing more can arrive: just wait for room.
                return tx.send(chunk).map_err(|_| closed());
            }
            select! {
                send(tx, chunk) -> sent => return sent.map_err(|_| closed()),
                recv(self.incoming) -> got => match got {
                    Ok(c) => self.held.push_back(c),
                    Err(_) => self.incoming_ended = true,
                },
            }
            // `chunk` was moved into the send arm only if that arm ran.
            chunk = bytes.to_vec();
        }
    }

    /// Blocks for the next chunk from the remote's stdout; `None` at end of stream.
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        if let Some(c) = self.held.pop_front() {
            return Some(c);
        }
        if self.incoming_ended {
            return None;
        }
        self.incoming.recv().ok()
    }

    /// Closes our side of the remote's stdin.
    pub fn close_stdin(&mut self) {
        self.outgoing = None;
    }

    /// Everything the remote wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        let kept = self
            .stderr_text
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&kept).into_owned()
    }

    /// Closes stdin, drains stdout, waits for the process and returns its exit code
    /// (rsync reports a signal death as code 255 in the client; we do the same).
    pub fn finish(&mut self) -> Result<i32, WireError> {
        self.close_stdin();
        // Drain stdout first: the remote may need to write before it reads the rest.
        while self.incoming.recv().is_ok() {}
        if let Some(h) = self.stdin_pump.take() {
            let _ = h.join();
        }
        if let Some(h) = self.stdout_pump.take() {
            let _ = h.join();
        }
        if let Some(h) = self.stderr_pump.take() {
            let _ = h.join();
        }
        let Some(mut child) = self.child.take() else {
            return Ok(0);
        };
        let status = child.wait().map_err(WireError::Io)?;
        Ok(status.code().unwrap_or(255))
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        self.outgoing = None;
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn pump_stdin(mut stdin: ChildStdin, rx: Receiver<Vec<u8>>, error: Arc<Mutex<Option<String>>>) {
    while let Ok(chunk) = rx.recv() {
        if let Err(e) = stdin.write_all(&chunk).and_then(|()| stdin.flush()) {
            if let Ok(mut g) = error.lock() {
                *g = Some(e.to_string());
            }
            break;
        }
    }
    // Dropping `stdin` closes the pipe: the remote sees end of input.
}

fn pump_stdout(mut stdout: impl Read, tx: Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(buf.get(..n).unwrap_or(&[]).to_vec()).is_err() {
                    break;
                }
            }
        }
    }
}

fn pump_stderr(stderr: impl Read, kept: Arc<Mutex<Vec<u8>>>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let shown = crate::mux::escape_control_chars(&line);
                eprintln!("{shown}");
                if let Ok(mut k) = kept.lock() {
                    k.extend_from_slice(&line);
                }
            }
        }
    }
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
