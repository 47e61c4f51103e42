//! Lock files (`lock_files`) and block files (`blocks_on`), locally and on remote hosts through
//! the system `ssh`.
//!
//! The file format stays rsyncdirector's (the decimal pid, no newline) so upstream peers can read
//! our locks, but creation is atomic (`O_EXCL` locally, `set -C` noclobber remotely) and release is
//! compare-and-delete: a lock whose content is not ours is never removed.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;
use tokio::process::Command;

use crate::config::{BlockSpec, LockSpec, Place, SshEndpoint};
use crate::shellwords;

/// How long one remote lock/block operation may take.
pub const REMOTE_OP_TIMEOUT: Duration = Duration::from_secs(60);

/// An error acquiring or releasing a lock.
#[derive(Debug, Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("lock {lock} is held (content {holder:?})")]
    Held {
        /// The lock (`path` or `host:path`).
        lock: String,
        /// What the file says.
        holder: String,
    },
    /// Local I/O error.
    #[error("lock {lock}: {source}")]
    Io {
        /// The lock.
        lock: String,
        /// The error.
        source: std::io::Error,
    },
    /// The remote operation failed (ssh error, unexpected status).
    #[error("lock {lock}: remote operation failed: {message}")]
    Remote {
        /// The lock.
        lock: String,
        /// What happened.
        message: String,
    },
}

/// A lock this process holds.
#[derive(Debug)]
pub struct HeldLock {
    /// What was locked.
    pub spec: LockSpec,
    token: String,
    ino: Option<u64>,
}

fn pid_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => match rustix::process::test_kill_process(p) {
            Ok(()) => true,
            Err(e) => e == rustix::io::Errno::PERM,
        },
        None => false,
    }
}

/// Runs a fixed `sh -c` script on a remote host with positional arguments (all quoted).
async fn remote_sh(ep: &SshEndpoint, script: &str, args: &[&str]) -> Result<(i32, String), String> {
    let mut words = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "sh".to_string(),
    ];
    words.extend(args.iter().map(|s| s.to_string()));
    let mut argv = ep.ssh_argv();
    argv.push(shellwords::join(&words));
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(REMOTE_OP_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("ssh to {} timed out", ep.host))?
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let code = out.status.code().unwrap_or(-1);
    Ok((
        code,
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// Creates the lock file atomically with our pid as content.
pub async fn acquire(spec: &LockSpec) -> Result<HeldLock, LockError> {
    let token = std::process::id().to_string();
    let lock = spec.describe();
    match &spec.place {
        Place::Local => {
            for _ in 0..2 {
                let r = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&spec.path);
                match r {
                    Ok(mut f) => {
                        f.write_all(token.as_bytes())
                            .and_then(|_| f.sync_all())
                            .map_err(|source| LockError::Io {
                                lock: lock.clone(),
                                source,
                            })?;
                        let ino = f.metadata().ok().map(|m| m.ino());
                        return Ok(HeldLock {
                            spec: spec.clone(),
                            token,
                            ino,
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let content = std::fs::read_to_string(&spec.path).unwrap_or_default();
                        let holder = content.trim().to_string();
                        match holder.parse::<i32>() {
                            Ok(pid) if pid_alive(pid) => {
                                return Err(LockError::Held { lock, holder });
                            }
                            _ if std::fs::metadata(&spec.path).is_ok_and(|m| m.is_dir()) => {
                                return Err(LockError::Held {
                                    lock,
                                    holder: "<directory>".into(),
                                });
                            }
                            _ => {
                                // Stale: the holder is dead (or the content is not a pid, which
                                // upstream also overwrote). Remove and try once more.
                                tracing::warn!("removing stale lock {lock} (content {holder:?})");
                                let _ = std::fs::remove_file(&spec.path);
                            }
                        }
                    }
                    Err(source) => return Err(LockError::Io { lock, source }),
                }
            }
            Err(LockError::Held {
                lock,
                holder: "?".into(),
            })
        }
        Place::Remote(ep) => {
            let script = r#"if ( set -C; printf %s "$2" > "$1" ) 2>/dev/null; then exit 0; elif [ -e "$1" ]; then cat -- "$1" >&2; exit 3; else exit 4; fi"#;
            match remote_sh(ep, script, &[&spec.path, &token]).await {
                Ok((0, _)) => Ok(HeldLock {
                    spec: spec.clone(),
                    token,
                    ino: None,
                }),
                Ok((3, holder)) => Err(LockError::Held { lock, holder }),
                Ok((code, err)) => Err(LockError::Remote {
                    lock,
                    message: format!("exit {code}: {err}"),
                }),
                Err(message) => Err(LockError::Remote { lock, message }),
            }
        }
    }
}

/// Removes a held lock if it is still ours (content and, locally, inode unchanged).
pub async fn release(held: HeldLock) -> Result<(), LockError> {
    let lock = held.spec.describe();
    match &held.spec.place {
        Place::Local => {
            let content = std::fs::read_to_string(&held.spec.path).unwrap_or_default();
            let ino = std::fs::metadata(&held.spec.path).ok().map(|m| m.ino());
            if content.trim() == held.token && (held.ino.is_none() || ino == held.ino) {
                std::fs::remove_file(&held.spec.path)
                    .map_err(|source| LockError::Io { lock, source })
            } else {
                Err(LockError::Remote {
                    lock,
                    message: "lock was taken over (content or inode changed); not removing it"
                        .into(),
                })
            }
        }
        Place::Remote(ep) => {
            let script = r#"[ "$(cat -- "$1" 2>/dev/null)" = "$2" ] && rm -f -- "$1""#;
            match remote_sh(ep, script, &[&held.spec.path, &held.token]).await {
                Ok((0, _)) => Ok(()),
                Ok((code, err)) => Err(LockError::Remote {
                    lock,
                    message: format!(
                        "not removed (exit {code}: content is not ours){}",
                        if err.is_empty() {
                            String::new()
                        } else {
                            format!(": {err}")
                        }
                    ),
                }),
                Err(message) => Err(LockError::Remote { lock, message }),
            }
        }
    }
}

/// The state of a block file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    /// It exists: the job must wait.
    Present,
    /// It does not exist.
    Absent,
    /// The remote host could not be asked. Treated as present (fail closed).
    Unreachable(String),
}

/// Checks one block file.
pub async fn check_block(spec: &BlockSpec) -> BlockState {
    match &spec.place {
        Place::Local => match std::fs::symlink_metadata(&spec.path) {
            Ok(_) => BlockState::Present,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BlockState::Absent,
            Err(e) => BlockState::Unreachable(e.to_string()),
        },
        Place::Remote(ep) => {
            let script = r#"if [ -e "$1" ]; then exit 0; else exit 1; fi"#;
            match remote_sh(ep, script, &[&spec.path]).await {
                Ok((0, _)) => BlockState::Present,
                Ok((1, _)) => BlockState::Absent,
                Ok((code, err)) => BlockState::Unreachable(format!("exit {code}: {err}")),
                Err(e) => BlockState::Unreachable(e),
            }
        }
    }
}
