//! Remote lock files, remote blocks and a push sync over a real loopback sshd with the system ssh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, require_rsync, run, wait_until, write_random};

struct Sshd {
    child: Child,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
    user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen must be installed (openssh-client)");
    assert!(st.success(), "ssh-keygen failed");
}

fn start_sshd(env: &Env) -> Sshd {
    let sshd = "/usr/sbin/sshd";
    assert!(
        Path::new(sshd).exists(),
        "{sshd} is missing: the remote lock tests need openssh-server"
    );
    let dir = env.path("ssh");
    std::fs::create_dir_all(&dir).unwrap();
    let host_key = dir.join("host_key");
    let key = dir.join("client_key");
    keygen(&host_key);
    keygen(&key);
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = common::free_port();
    let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let known_hosts = dir.join("known_hosts");
    let mut parts = host_pub.split_whitespace();
    std::fs::write(
        &known_hosts,
        format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        ),
    )
    .unwrap();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nPidFile none\nLogLevel ERROR\n",
            hk = host_key.display(),
            ak = dir.join("authorized_keys").display()
        ),
    )
    .unwrap();
    // The privilege separation directory sshd insists on when started as root.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(sshd)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let mut s = Sshd {
        child,
        port,
        key,
        known_hosts,
        user,
    };
    wait_until(Duration::from_secs(10), "sshd to listen", || {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("sshd exited: {st:?}");
        }
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // A real login must work before the director uses it.
    let st = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", s.known_hosts.display()))
        .args(["-p", &port.to_string(), "-i"])
        .arg(&s.key)
        .arg(format!("{}@127.0.0.1", s.user))
        .arg("true")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "ssh login to the test sshd failed");
    s.port = port;
    s
}

#[test]
fn remote_locks_blocks_and_push_sync_over_system_ssh() {
    require_rsync();
    let env = Env::new();
    let sshd = start_sshd(&env);
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    write_random(&src.join("data.bin"), 100_000);
    // The "remote" host is this machine, so remote paths are in our temp dir.
    let rlock = env.path("remote.lock");
    let rblock = env.path("remote.block");
    let rdst = env.path("remote-dst");
    let ep = format!(
        "host: 127.0.0.1, user: {}, port: {}, private_key_path: {}",
        sshd.user,
        sshd.port,
        sshd.key.display()
    );
    let cfg = env.write_config(&format!(
        "ssh:\n  known_hosts: {kh}\n  host_key_checking: strict\njobs:\n  - id: push\n    type: remote\n    user: {user}\n    host: 127.0.0.1\n    port: {port}\n    private_ssh_key: {key}\n    lock_files:\n      - {{type: remote, {ep}, path: {rlock}}}\n    blocks_on:\n      - {{type: remote, {ep}, path: {rblock}, wait_time: 0.2, timeout: 1}}\n    actions:\n      - {{action: command, id: lock-is-held, command: test, args: [-f, {rlock}]}}\n      - {{action: sync, id: push, source: {src}/, dest: {rdst}/, opts: [\"-a\"]}}\n  - id: unreachable\n    blocks_on:\n      - {{type: remote, host: 127.0.0.1, user: {user}, port: {closed}, private_key_path: {key}, path: /x, wait_time: 0.2, timeout: 1}}\n    actions:\n      - {{action: command, command: /bin/true}}\n",
        kh = sshd.known_hosts.display(),
        user = sshd.user,
        port = sshd.port,
        key = sshd.key.display(),
        rlock = rlock.display(),
        rblock = rblock.display(),
        src = src.display(),
        rdst = rdst.display(),
        closed = common::free_port(),
    ));
    let c = cfg.to_str().unwrap();

    // 1. Free: the lock is created over ssh (the command sees it), the push works, the lock goes.
    let o = run(&["run", "--config", c, "--once", "--job", "push"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        std::fs::read(rdst.join("data.bin")).unwrap(),
        std::fs::read(src.join("data.bin")).unwrap()
    );
    assert!(!rlock.exists(), "remote lock left behind: {err}");
    // The push ran natively (rdsync over the system ssh). rdsync's remote `--stats` prints
    // rsync's whole block: bytes, sizes, and the literal/matched data and files transferred.
    let h = std::fs::read_to_string(env.path("state/history.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(h.lines().last().unwrap()).unwrap();
    let push = &rec["actions"][1];
    assert_eq!(push["engine"], "rdsync", "{rec:#}");
    assert!(
        push["command"]
            .as_str()
            .unwrap()
            .starts_with(&common::rdsync_bin().display().to_string()),
        "{rec:#}"
    );
    assert_eq!(push["stats"]["total_file_size"], 100_000, "{rec:#}");
    assert!(
        push["stats"]["bytes_sent"].as_u64().unwrap() >= 100_000,
        "{rec:#}"
    );
    assert!(
        push["stats"]["bytes_received"].as_u64().unwrap() > 0,
        "{rec:#}"
    );
    assert!(
        push["stats"]["files_transferred"].as_u64().is_some(),
        "{rec:#}"
    );
    let literal = push["stats"]["literal_bytes"].as_u64().unwrap();
    let matched = push["stats"]["matched_bytes"].as_u64().unwrap();
    assert_eq!(
        Some(literal + matched),
        push["stats"]["transferred_file_size"].as_u64(),
        "{rec:#}"
    );

    // 2. A foreign remote lock: the job is skipped and the lock is left alone.
    std::fs::write(&rlock, "999999").unwrap();
    let o = run(&["run", "--config", c, "--once", "--job", "push"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&rlock).unwrap(), "999999");
    std::fs::remove_file(&rlock).unwrap();

    // 3. A remote block that stays: skipped after the (exact) timeout, no lock written.
    std::fs::write(&rblock, "busy").unwrap();
    let o = run(&["run", "--config", c, "--once", "--job", "push"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!rlock.exists());
    std::fs::remove_file(&rblock).unwrap();

    // 4. An unreachable host blocks (fail closed), unlike upstream which proceeded.
    let o = run(&["run", "--config", c, "--once", "--job", "unreachable"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("treating it as present"), "{err}");
}
