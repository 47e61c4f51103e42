//! A built-in SSH client (russh) that carries the rsync protocol to a remote
//! `rsync --server`, in place of a spawned `ssh` command.
//!
//! * [`options::SshOptions`] reads where and how to connect from the same OpenSSH command
//!   line a user gives rsync's `-e` (`ssh -p 2222 -i key -o …`, `-F config`) and from
//!   ssh_config ([`config`]); what it cannot honour (`Match`, port forwards) is refused.
//! * [`host_keys`] checks the server's key against known_hosts under
//!   `StrictHostKeyChecking` (`yes`, `accept-new`, `no`), with OpenSSH's messages;
//!   [`known_hosts`] reads those files as OpenSSH does (patterns, hashed names, `@revoked`)
//!   and records new keys (hashed under `HashKnownHosts yes`).
//! * [`session`] dials (or runs the `ProxyCommand`, or goes through the `ProxyJump` hosts
//!   over [`proxy`] streams), authenticates with the agent's keys and the identity files
//!   (an [`encrypted_key`] unlocked with a [`passphrase`] once the server accepts it) and
//!   starts the command.
//! * [`transport::SshTransport`] is a blocking [`rdsync_wire::Transport`] over the exec
//!   channel: hand it to [`rdsync_wire::push_over`] or [`rdsync_wire::pull_over`].
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::panic))]

pub mod config;
pub mod config_match;
pub mod encrypted_key;
pub mod error;
pub mod host_keys;
pub mod known_hosts;
pub mod options;
pub mod passphrase;
pub mod proxy;
pub mod session;
pub mod tokens;
pub mod transport;

pub use error::SshError;
pub use options::{SshOptions, StrictHostKeyChecking};
pub use transport::SshTransport;

/// The command line OpenSSH's `ssh` would send for `rsync_path` and the server arguments:
/// the words joined with spaces (ssh adds no quoting; rsync's server arguments are
/// already quoted for the remote shell).
pub fn remote_command(rsync_path: &str, server_args: &[String]) -> String {
    std::iter::once(rsync_path)
        .chain(server_args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}
