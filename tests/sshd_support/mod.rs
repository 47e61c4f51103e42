//! A real OpenSSH `sshd` on 127.0.0.1 with throwaway keys, for end-to-end tests.
//!
//! Missing prerequisites (`/usr/sbin/sshd`, `ssh`, `ssh-keygen`, `rsync`) are a loud failure:
//! `tools/test.sh` installs them.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

fn require(path: &str, what: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: {what} is a prerequisite of this test (tools/test.sh installs it)"
    );
}

fn check(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes a key pair of `kind` at `path` (and `path.pub`), encrypted with `passphrase`
/// unless it is empty.
pub fn new_key(path: &Path, kind: &str, passphrase: &str) {
    check(
        Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", passphrase, "-f"])
            .arg(path),
    );
}

/// Runs `ssh-keygen` with `args` in `dir`; a failure fails the test. Returns its output.
pub fn ssh_keygen(dir: &Path, args: &[&str]) -> String {
    check(Command::new("ssh-keygen").args(args).current_dir(dir))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// A running sshd and the client configuration that reaches it.
pub struct Sshd {
    child: Child,
    /// Its state directory (keys, configs, log).
    pub dir: PathBuf,
    /// The port it listens on (127.0.0.1 only).
    pub port: u16,
    /// An `-e` value that logs in to it: `ssh -F <config>`.
    pub rsh: String,
    /// The account it lets in (ours).
    pub user: String,
}

impl Sshd {
    /// Generates keys and configs, starts sshd, and waits until a real login works.
    pub fn start() -> Self {
        Self::start_logging("INFO")
    }

    /// [`start`](Self::start) with sshd's `LogLevel` (DEBUG1 logs the negotiated ciphers;
    /// sshd then also sends debug lines to the clients' stderr).
    pub fn start_logging(level: &str) -> Self {
        Self::start_with(level, |_| String::new())
    }

    /// [`start_logging`](Self::start_logging) with more sshd_config lines, which `extra`
    /// returns after the keys are made in the directory it is given (a host certificate,
    /// for instance).
    pub fn start_with(level: &str, extra: impl FnOnce(&Path) -> String) -> Self {
        require(SSHD, "OpenSSH's sshd (Debian package openssh-server)");
        require("/usr/bin/ssh", "the OpenSSH client");
        require("/usr/bin/ssh-keygen", "ssh-keygen");
        require("/usr/bin/rsync", "rsync");
        let dir = scratch("sshd");
        for key in ["host_key", "client_key"] {
            new_key(&dir.join(key), "ed25519", "");
        }
        // A second host key of another type: a client that knows only that one must ask
        // for it (OpenSSH orders its host key algorithms by what known_hosts holds).
        new_key(&dir.join("host_key_ecdsa"), "ecdsa", "");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let user = check(Command::new("id").arg("-un")).trim().to_string();
        let client_pub = std::fs::read_to_string(dir.join("client_key.pub")).unwrap_or_default();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap_or_default();
        std::fs::write(dir.join("authorized_keys"), client_pub).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_pub}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\nHostKey {d}/host_key_ecdsa\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nAllowUsers {user}\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nMaxStartups 100:30:200\n\
                 LogLevel {level}\n{}",
                extra(&dir)
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {d}/client_key\n\
                 \x20 IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n\
                 \x20 UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let key_mode = std::fs::metadata(dir.join("client_key"))
            .map(|m| m.mode())
            .unwrap_or(0);
        assert_eq!(
            key_mode & 0o077,
            0,
            "ssh-keygen left the client key readable by others"
        );
        if check(Command::new("id").arg("-u")).trim() == "0" {
            std::fs::create_dir_all("/run/sshd").unwrap_or_else(|e| panic!("/run/sshd: {e}"));
        }
        check(
            Command::new(SSHD)
                .arg("-t")
                .arg("-f")
                .arg(dir.join("sshd_config")),
        );
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting sshd: {e}"));
        let rsh = format!("ssh -F {}", dir.join("ssh_config").display());
        let sshd = Sshd {
            child,
            dir,
            port,
            rsh,
            user,
        };
        sshd.wait_ready();
        sshd
    }

    /// The cipher of each connection's client-to-server direction so far, oldest first, as
    /// sshd logged them (started with LogLevel DEBUG1).
    pub fn negotiated_ciphers(&self) -> Vec<String> {
        self.negotiated("cipher:")
    }

    /// The compression of each connection's client-to-server direction so far, oldest
    /// first (LogLevel DEBUG1).
    pub fn negotiated_compressions(&self) -> Vec<String> {
        self.negotiated("compression:")
    }

    /// The word after `field` in sshd's "kex: client->server" lines.
    fn negotiated(&self, field: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("sshd.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("kex: client->server ").nth(1))
            .filter_map(|rest| rest.split(field).nth(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ok = Command::new("ssh")
                    .args(["-F"])
                    .arg(self.dir.join("ssh_config"))
                    .args(["127.0.0.1", "rsync", "--version"])
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false);
                if ok {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd on 127.0.0.1:{} did not accept a login within 20 s; log:\n{}",
                self.port,
                std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listing of a tree (path, type, mode, mtime, size, content hash, link target), sorted.
pub fn tree_listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        {
            let p = e.unwrap_or_else(|e| panic!("{e}")).path();
            let md = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{e}"));
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let detail = if md.file_type().is_symlink() {
                format!(
                    "link->{}",
                    std::fs::read_link(&p)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default()
                )
            } else if md.is_file() {
                let data = std::fs::read(&p).unwrap_or_default();
                let sum = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                format!(
                    "file size={} sum={sum:016x} mtime={}",
                    data.len(),
                    md.mtime()
                )
            } else if md.is_dir() {
                stack.push(p.clone());
                format!("dir mtime={}", md.mtime())
            } else {
                format!("special rdev={}", md.rdev())
            };
            out.push(format!("{rel} {detail} mode={:o}", md.mode()));
        }
    }
    out.sort();
    out
}

/// Writes a file with a mode and mtime.
pub fn put_file(path: &Path, data: &[u8], mode: u32, mtime: i64) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = std::time::UNIX_EPOCH + Duration::from_secs(mtime as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("mtime {}: {e}", path.display()));
}

/// Deterministic pseudo-random bytes.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The test tree: files of several sizes, modes and times, a nested dir, an empty dir, a
/// symlink.
pub fn make_tree(root: &Path) {
    put_file(
        &root.join("a.txt"),
        b"hello over ssh\n",
        0o644,
        1_600_000_000,
    );
    put_file(
        &root.join("big.bin"),
        &noise(700_000, 1),
        0o600,
        1_600_000_100,
    );
    put_file(
        &root.join("dir/nested/file with space"),
        b"x",
        0o755,
        1_500_000_000,
    );
    put_file(&root.join("dir/empty"), b"", 0o640, 1_700_000_000);
    std::fs::create_dir_all(root.join("emptydir")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap_or_else(|e| panic!("{e}"));
}

/// Edits the tree: a changed and shifted big file, a removed file, a new file.
pub fn edit_tree(root: &Path) {
    let mut big = noise(700_000, 1);
    big[350_000..350_100].fill(7);
    big.splice(1000..1000, b"inserted".iter().copied());
    put_file(&root.join("big.bin"), &big, 0o600, 1_600_000_200);
    std::fs::remove_file(root.join("dir/empty")).unwrap_or_else(|e| panic!("{e}"));
    put_file(&root.join("new.txt"), b"new file\n", 0o644, 1_650_000_000);
}

/// `p` with a trailing slash.
pub fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

/// Runs rsync over the sshd (`-e sshd.rsh`); asserts success.
pub fn rsync_over_ssh(sshd: &Sshd, args: &[&str], from: &str, to: &str) {
    let out = Command::new("/usr/bin/rsync")
        .args(args)
        .arg("-e")
        .arg(&sshd.rsh)
        .arg(from)
        .arg(to)
        .output()
        .unwrap_or_else(|e| panic!("rsync: {e}"));
    assert!(
        out.status.success(),
        "rsync {args:?} {from} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the system rsync; returns (exit code, stdout, stderr).
pub fn rsync(args: &[&str]) -> (i32, String, String) {
    run_with_env("/usr/bin/rsync", args, &[])
}

/// Runs the `rdsync` command; returns (exit code, stdout, stderr).
pub fn rdsync(args: &[&str]) -> (i32, String, String) {
    run_with_env(env!("CARGO_BIN_EXE_rdsync"), args, &[])
}

/// Runs `rsync` with `args` and `env` until it exits with `want` (at most 30 runs) and
/// returns the last run. rsync reports the remote shell's status (ssh's 255) only when ssh
/// has exited by the time rsync cleans up, else its own 12, so a failing run is repeated
/// until ssh was first.
pub fn rsync_expecting(want: i32, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut run = run_with_env("/usr/bin/rsync", args, env);
    for _ in 1..30 {
        if run.0 == want {
            break;
        }
        run = run_with_env("/usr/bin/rsync", args, env);
    }
    run
}

/// Runs `program` with `args` and these environment variables added; returns (exit code,
/// stdout, stderr).
pub fn run_with_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pushes and pulls the test tree with the `rdsync` command (`-a --stats`, plus `extra`)
/// over the sshd, and with `rsync -e ssh`, in two rounds (a first copy; edits with
/// `--delete`); the trees must be equal after each. A `huge` tree adds a 24 MiB file
/// (larger than the SSH windows both ways), edited in the second round, whose delta must
/// travel as matched data.
pub fn rdsync_rounds_match_rsync(sshd: &Sshd, name: &str, extra: &[&str], huge: bool) {
    let dir = scratch(name);
    let src = dir.join("src");
    make_tree(&src);
    let huge_file = |edit: bool| {
        let mut data = noise(24 << 20, 9);
        if edit {
            data[5_000_000..5_000_300].fill(1);
        }
        put_file(
            &src.join("huge.bin"),
            &data,
            0o644,
            1_600_000_300 + i64::from(edit),
        );
    };
    if huge {
        huge_file(false);
    }
    let (theirs, ours) = (dir.join("theirs"), dir.join("ours"));
    let (theirs_pull, ours_pull) = (dir.join("theirs-pull"), dir.join("ours-pull"));
    for round in ["first copy", "delta and --delete"] {
        let mut args = vec!["-a", "--stats"];
        if round != "first copy" {
            edit_tree(&src);
            if huge {
                huge_file(true);
            }
            args.push("--delete");
        }
        let remote = |p: &Path| format!("127.0.0.1:{}", slash(p));
        rsync_over_ssh(sshd, &args, &slash(&src), &remote(&theirs));
        rsync_over_ssh(sshd, &args, &remote(&src), &slash(&theirs_pull));
        for (from, to) in [
            (slash(&src), remote(&ours)),
            (remote(&src), slash(&ours_pull)),
        ] {
            let mut argv = args.clone();
            argv.extend(extra);
            argv.extend(["-e", &sshd.rsh, &from, &to]);
            let (code, out, err) = rdsync(&argv);
            assert_eq!(code, 0, "{round}: rdsync {argv:?}: {out}\n{err}");
            assert!(
                !err.contains("running /usr/bin/rsync instead"),
                "{round}: fell back to system rsync: {err}"
            );
            assert!(out.contains("total size is"), "{round}: no summary: {out}");
            if huge && round != "first copy" {
                // The edited 24 MiB file travelled as a delta.
                let matched = out
                    .lines()
                    .find_map(|l| l.strip_prefix("Matched data: "))
                    .and_then(|v| v.split_whitespace().next())
                    .map(|v| v.replace(',', ""))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                assert!(matched > 20 << 20, "{round}: matched {matched}: {out}");
            }
        }
        assert_eq!(
            tree_listing(&ours),
            tree_listing(&theirs),
            "{round}: push trees differ"
        );
        assert_eq!(
            tree_listing(&ours_pull),
            tree_listing(&theirs_pull),
            "{round}: pull trees differ"
        );
    }
}
