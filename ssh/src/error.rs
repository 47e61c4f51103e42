//! Typed errors of the built-in SSH client.

/// The exit code OpenSSH's `ssh` uses for its own failures; rsync's client passes it on, so
/// a failed connection ends `rdsync --builtin-ssh` with the same code as `rsync -e ssh`.
pub const SSH_FAILURE_EXIT: i32 = 255;

/// Everything that can stop the built-in SSH client before or while it runs the command.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The `-e` command or an ssh_config file asks for something this client does not do.
    #[error("{0} is not supported by the built-in SSH client (use -e ssh without --builtin-ssh)")]
    Unsupported(String),
    /// A malformed option value or configuration line.
    #[error("{0}")]
    Config(String),
    /// The TCP connection failed (OpenSSH: "connect to host H port P: …").
    #[error("ssh: connect to host {host} port {port}: {reason}")]
    Connect {
        /// The host name or address dialled.
        host: String,
        /// The port dialled.
        port: u16,
        /// Why it failed.
        reason: String,
    },
    /// The server's host key is unknown (under strict checking) or differs from the recorded one.
    #[error("{0}\nHost key verification failed.")]
    HostKey(String),
    /// No identity was accepted (OpenSSH: "Permission denied (publickey).").
    #[error("{user}@{host}: Permission denied ({methods}).")]
    Auth {
        /// The remote user.
        user: String,
        /// The host.
        host: String,
        /// The methods the server offered, comma-separated.
        methods: String,
    },
    /// A configuration file others could change (OpenSSH refuses it).
    #[error("Bad owner or permissions on {0}")]
    BadPermissions(String),
    /// The SSH session failed after it was set up.
    #[error("ssh: {0}")]
    Session(String),
}

impl SshError {
    /// The exit code: a usage error found before anything is dialled is rsync's syntax
    /// error (1); a failure of the connection is ssh's 255, as rsync's client reports it.
    pub fn exit_code(&self) -> i32 {
        match self {
            SshError::Unsupported(_) | SshError::Config(_) => 1,
            _ => SSH_FAILURE_EXIT,
        }
    }
}
