//! Support for the hostile-peer tests: the test binary plays both ends in child
//! processes. The *client* child runs the real `rdsync_wire::pull` / `push` with
//! `-e <script>`; the script re-executes the test binary as the *fake server*, which
//! speaks the server side on its stdin / fd 3. Running the client in a child lets the
//! tests see a panic (exit 101) or an abort (signal) instead of dying with it, bound
//! its memory (`ulimit -v`), and inspect exactly what it printed.

pub mod server;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdsync_wire::{RemoteShell, TransferOptions};

pub use crate::common::{put_file, scratch, script, tree_listing};

/// Address-space limit of the client child, in KiB: a giant allocation fails (and
/// aborts) instead of eating the machine.
const CLIENT_VM_LIMIT_KIB: u64 = 1536 * 1024;
/// A client that has not finished by then is hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// Environment variable naming the role of a re-executed test binary.
pub const ROLE: &str = "HOSTILE_ROLE";
/// The server scenario.
pub const SCENARIO: &str = "HOSTILE_SCENARIO";
/// A free-form argument for the server scenario.
pub const ARG: &str = "HOSTILE_ARG";

/// A scratch area: `dest/` (the destination), `outside/` (where an escape would land),
/// `sentinel/keep`, and a listing of everything that is not `dest/`.
pub struct Arena {
    /// The parent of everything.
    pub base: PathBuf,
    /// The destination of a pull.
    pub dest: PathBuf,
    /// An empty directory next to the destination.
    pub outside: PathBuf,
    /// Where the harness keeps its script and the client's report (not watched).
    pub harness: PathBuf,
    before: Vec<String>,
}

impl Arena {
    /// A new arena; call [`Arena::seal`] after putting files into `dest/`.
    pub fn new(name: &str) -> Self {
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let base = scratch(&name);
        let harness = scratch(&format!("{name}-harness"));
        let dest = base.join("dest");
        let outside = base.join("outside");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        put_file(
            &base.join("sentinel/keep"),
            b"precious",
            0o644,
            1_500_000_000,
        );
        let mut a = Arena {
            base,
            dest,
            outside,
            harness,
            before: Vec::new(),
        };
        a.seal();
        a
    }

    /// Records the state outside the destination (and of the destination's own files).
    pub fn seal(&mut self) {
        self.before = tree_listing(&self.base);
    }

    fn outside_listing(listing: &[String]) -> Vec<String> {
        listing
            .iter()
            .filter(|l| !l.starts_with("dest/") && !l.starts_with("dest "))
            .cloned()
            .collect()
    }

    /// Nothing next to the destination changed, the sentinel is intact, and no temp
    /// file was left in the destination.
    pub fn assert_confined(&self, what: &str) {
        let now = tree_listing(&self.base);
        assert_eq!(
            Self::outside_listing(&now),
            Self::outside_listing(&self.before),
            "{what}: something outside the destination changed"
        );
        assert_eq!(
            std::fs::read(self.base.join("sentinel/keep"))
                .ok()
                .as_deref(),
            Some(&b"precious"[..]),
            "{what}: sentinel damaged"
        );
        if self.dest.is_dir() {
            let temps: Vec<String> = tree_listing(&self.dest)
                .into_iter()
                .filter(|l| l.starts_with('.') || l.contains("/."))
                .collect();
            assert!(temps.is_empty(), "{what}: temp files left: {temps:?}");
        }
    }

    /// The destination's entries that existed before the run are all still there,
    /// byte for byte (new entries may have been added).
    pub fn assert_dest_kept(&self, what: &str) {
        let now = tree_listing(&self.base);
        for line in self
            .before
            .iter()
            .filter(|l| l.starts_with("dest/") && l.contains(" file "))
        {
            assert!(now.contains(line), "{what}: lost or changed {line}");
        }
    }
}

impl Drop for Arena {
    /// Removes the scratch directories, unless the test failed (kept for a look).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.base);
            let _ = std::fs::remove_dir_all(&self.harness);
        }
    }
}

/// Which way the client runs.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `rdsync_wire::pull` of these remote sources into the arena's `dest/`.
    Pull(Vec<String>),
    /// `rdsync_wire::push` of these local sources to `dst/` on the fake server.
    Push(Vec<PathBuf>),
}

/// What the client child did.
#[derive(Debug)]
pub struct Outcome {
    /// Its exit status (`None` if a signal killed it).
    pub status: Option<i32>,
    /// The transfer report it wrote before exiting (empty if it never got there).
    pub report: String,
    /// Its stderr, raw.
    pub stderr: Vec<u8>,
}

impl Outcome {
    /// The exit code, after checking that the client neither panicked nor died from a
    /// signal (an abort on a failed allocation, say) and did write its report.
    pub fn code(&self, what: &str) -> i32 {
        let err = String::from_utf8_lossy(&self.stderr);
        let status = self
            .status
            .unwrap_or_else(|| panic!("{what}: client killed by a signal; stderr:\n{err}"));
        assert_ne!(status, 101, "{what}: client panicked; stderr:\n{err}");
        assert!(
            !self.report.is_empty(),
            "{what}: client exited {status} without a report; stderr:\n{err}"
        );
        status
    }

    /// The client's own error text (`TransferReport::error`).
    pub fn error(&self) -> String {
        self.report
            .lines()
            .find_map(|l| l.strip_prefix("error="))
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the error of a session the peer cut: the end met by a read (exit 12) or by a
    /// write to the closed pipe (exit 10, rsync's "write error"), whichever came first,
    /// as for rsync.
    pub fn expect_cut(&self, what: &str, code: i32) {
        let err = self.error();
        assert!(
            code == 12 || (code == 10 && err.contains("write error: Broken pipe")),
            "{what}: exit {code}, error: {err}"
        );
    }

    /// Asserts an exit code and that the error mentions `text`.
    pub fn expect(&self, what: &str, code: i32, text: &str) {
        let got = self.code(what);
        let err = self.error();
        assert_eq!(
            got,
            code,
            "{what}: wrong exit code; error: {err}; stderr:\n{}",
            String::from_utf8_lossy(&self.stderr)
        );
        assert!(
            err.contains(text),
            "{what}: error {err:?} does not mention {text:?}"
        );
    }
}

/// Runs the real client (`-a`) in a child process against the fake server `scenario`.
pub fn run_client(arena: &Arena, scenario: &str, arg: &str, mode: &Mode) -> Outcome {
    run_client_with(arena, scenario, arg, mode, "")
}

/// [`run_client`] with extra client options: a comma-separated list of `z`
/// (compression), `no-i-r` and `exclude=PATTERN`.
pub fn run_client_with(
    arena: &Arena,
    scenario: &str,
    arg: &str,
    mode: &Mode,
    opts: &str,
) -> Outcome {
    let exe = std::env::current_exe().unwrap();
    let rsh = arena.harness.join("fake-rsh");
    // argv: [-l user] host rsync --server ...; recorded for the curious, then the
    // test binary becomes the server with fd 3 = the pipe to the client and fd 1
    // (where the test harness prints) thrown away.
    script(
        &rsh,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"{}/rsh-args\"\n{ROLE}=server exec \"{}\" \
             --exact hostile_server_entry --nocapture --test-threads=1 3>&1 >/dev/null\n",
            arena.harness.display(),
            exe.display()
        ),
    );
    let report = arena.harness.join("report");
    let _ = std::fs::remove_file(&report);
    let (direction, sources) = match mode {
        Mode::Pull(s) => ("pull", s.join("\n")),
        Mode::Push(s) => (
            "push",
            s.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    };
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {CLIENT_VM_LIMIT_KIB}; exec \"$0\" --exact hostile_client_entry \
             --nocapture --test-threads=1"
        ))
        .arg(&exe)
        .env(ROLE, "client")
        .env(SCENARIO, scenario)
        .env(ARG, arg)
        .env("HOSTILE_DIRECTION", direction)
        .env("HOSTILE_OPTS", opts)
        .env("HOSTILE_SOURCES", sources)
        .env("HOSTILE_DEST", &arena.dest)
        .env("HOSTILE_RSH", &rsh)
        .env("HOSTILE_REPORT", &report)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{scenario}: the client hung (killed after {CLIENT_TIMEOUT:?})");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = reader.join().unwrap();
    Outcome {
        status: status.code(),
        report: std::fs::read_to_string(&report).unwrap_or_default(),
        stderr,
    }
}

/// The client child: runs the transfer the environment describes, writes the report,
/// and exits with the transfer's exit code.
pub fn client_main() {
    let var = |k: &str| std::env::var(k).unwrap();
    let shell = RemoteShell {
        // Through `sh`: the script is read, never executed itself, so a concurrent
        // fork in the parent holding it open for writing cannot make exec fail with
        // ETXTBSY.
        rsh: Some(format!("/bin/sh {}", var("HOSTILE_RSH"))),
        rsync_path: None,
        user: None,
        host: "fakehost".into(),
    };
    let mut opts = TransferOptions::archive();
    for o in std::env::var("HOSTILE_OPTS").unwrap_or_default().split(',') {
        if o == "z" {
            opts.compress = true;
        } else if o == "no-i-r" {
            opts.no_inc_recursive = true;
        } else if let Some(p) = o.strip_prefix("exclude=") {
            opts.excludes.push(p.to_string());
        }
    }
    let sources: Vec<String> = var("HOSTILE_SOURCES").lines().map(String::from).collect();
    let report = if var("HOSTILE_DIRECTION") == "pull" {
        rdsync_wire::pull(&shell, &opts, &sources, Path::new(&var("HOSTILE_DEST")))
    } else {
        let local: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
        rdsync_wire::push(&shell, &opts, &local, "dst/")
    };
    let text = format!(
        "exit={}\nremote_exit={:?}\nerror={}\ntransferred={:?}\nmessages={:?}\n",
        report.exit_code,
        report.remote_exit,
        report
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .replace('\n', "\\n"),
        report.transferred,
        report.messages,
    );
    std::fs::write(var("HOSTILE_REPORT"), text).unwrap();
    std::process::exit(report.exit_code);
}
