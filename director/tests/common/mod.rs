//! Helpers for the integration tests: they start the real `rdsync-director` binary, talk to it
//! over its real control socket and metrics port, and use the real system rsync.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rdsync-director")
}

/// The `rdsync` binary the director runs for native syncs: `target/<profile>/rdsync`, next to the
/// director binary (and to this test's `deps/` directory), where the director's `engine: auto`
/// finds it. `cargo build --workspace` (tools/test.sh) or `cargo build -p rdsync --bin rdsync`
/// builds it. Panics (never skips) when it is missing.
pub fn rdsync_bin() -> PathBuf {
    let beside_director = Path::new(bin())
        .parent()
        .expect("the director binary has a directory")
        .join("rdsync");
    // The test binary is target/<profile>/deps/<name>-<hash>.
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(|d| d.join("rdsync")));
    assert_eq!(
        beside_tests.as_deref(),
        Some(beside_director.as_path()),
        "the director binary and the tests are not in the same target/<profile> directory"
    );
    assert!(
        beside_director.is_file(),
        "the rdsync binary is missing at {}: build it first (`cargo build -p rdsync --bin rdsync` \
         with the same CARGO_TARGET_DIR and profile, or `cargo build --workspace`); the director \
         tests need the real native engine",
        beside_director.display()
    );
    beside_director
}

/// Panics (never skips) when rsync is missing: these tests need the real thing.
pub fn require_rsync() {
    let ok = Command::new("rsync")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "rsync is not installed or not on PATH: the director tests need the real rsync (/usr/bin/rsync)"
    );
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("RSYNCMANANGER_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run rdsync-director")
}

/// A temp directory with a config file and the paths a daemon uses.
pub struct Env {
    /// The temp dir (removed on drop).
    pub dir: tempfile::TempDir,
    /// Configured metrics port (0: ephemeral; see [`Env::metrics_port`]).
    pub port: u16,
}

impl Env {
    /// A fresh environment.
    pub fn new() -> Env {
        Env {
            dir: tempfile::Builder::new()
                .prefix("rdd")
                .tempdir_in("/tmp")
                .expect("tempdir"),
            port: 0,
        }
    }

    /// A path inside the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a native config with the standard test header (instance `t`, paths in the temp dir,
    /// metrics on 127.0.0.1:<port>) followed by `body`.
    pub fn write_config(&self, body: &str) -> PathBuf {
        let text = format!(
            "version: 1\nrsync_id: t\npid_file_dir: {run}\nstate_dir: {state}\nstop_grace: 3s\ntimezone: UTC\nmetrics:\n  addr: 127.0.0.1\n  port: {port}\ncontrol:\n  socket: {sock}\n{body}",
            run = self.path("run").display(),
            state = self.path("state").display(),
            port = self.port,
            sock = self.socket().display(),
        );
        let p = self.path("director.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The metrics port the running daemon actually bound (from its status).
    pub fn metrics_port(&self) -> u16 {
        let s = control_json(&self.socket(), "/api/v1/status");
        let url = s["metrics"]
            .as_str()
            .expect("status names the metrics endpoint");
        url.trim_start_matches("http://")
            .split('/')
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad metrics url {url}"))
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.path("run/ctl.sock")
    }

    /// The pid file of instance `t`.
    pub fn pid_file(&self) -> PathBuf {
        self.path("run/rsyncdirector-t.pid")
    }

    /// Starts the daemon on the config and waits until it answers on its control socket.
    pub fn start(&self, config: &Path) -> Daemon {
        let d = self.spawn(config, &[]);
        d.wait_ready(&self.socket());
        d
    }

    /// Starts the daemon without waiting.
    pub fn spawn(&self, config: &Path, extra: &[&str]) -> Daemon {
        self.spawn_env(config, extra, &[])
    }

    /// Starts the daemon without waiting, with extra environment variables.
    pub fn spawn_env(&self, config: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let log = self.path(&format!("daemon-{}.log", fastrand_suffix()));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin())
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(extra)
            .env_remove("NOTIFY_SOCKET")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("start rdsync-director");
        Daemon { child, log }
    }
}

fn fastrand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running daemon (killed on drop if still alive).
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Its stderr.
    pub log: PathBuf,
}

impl Daemon {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the control socket answers `/healthz`.
    pub fn wait_ready(&self, socket: &Path) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok((200, _)) = control(socket, "GET", "/healthz", None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon not ready after 20s; log:\n{}", self.log_text());
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Waits for exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP request over the control socket: (status, body).
pub fn control(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    parse_response(&out)
}

fn parse_response(out: &str) -> std::io::Result<(u16, String)> {
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status"))?;
    Ok((status, body.to_string()))
}

/// The JSON answer of a control GET.
pub fn control_json(socket: &Path, path: &str) -> serde_json::Value {
    let (st, body) = control(socket, "GET", path, None).expect("control request");
    assert_eq!(st, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// `GET path` over TCP from 127.0.0.1:port.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    parse_response(&out).expect("http response")
}

/// The value of the sample `name` whose labels contain all of `labels` (`k="v"` strings), or
/// None.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, lab) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (n == name && labels.iter().all(|want| lab.split(',').any(|x| x == *want)))
                .then(|| value.parse().ok())
                .flatten()
        })
        .next()
}

/// Polls `f` until it returns true, panicking with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Pids of live processes whose command line contains `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                // Skip zombies.
                let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                if !st.contains(") Z ") {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Writes `len` bytes of pseudo-random (incompressible) data.
pub fn write_random(path: &Path, len: usize) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(len);
    std::fs::write(path, buf).unwrap();
}
