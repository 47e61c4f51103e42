//! The server's host key against the known_hosts files, under the
//! [`StrictHostKeyChecking`] policy, with OpenSSH's messages.

use russh::keys::PublicKey;

use crate::error::SshError;
use crate::options::{SshOptions, StrictHostKeyChecking};

/// How a host key was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// A known_hosts file records this key for the host.
    Known,
    /// The key was unknown and has been recorded (the warning OpenSSH prints).
    Learned(String),
    /// The key was unknown and accepted without being recorded (no file could take it).
    Accepted,
}

/// The name OpenSSH uses for a host in known_hosts and its messages: `host`, or
/// `[host]:port` off port 22.
pub fn known_hosts_name(o: &SshOptions) -> String {
    if o.port == 22 {
        o.hostname.clone()
    } else {
        format!("[{}]:{}", o.hostname, o.port)
    }
}

/// The key type as OpenSSH names it in its messages (`sshkey_type`): "ED25519", "ECDSA", …
pub fn openssh_key_type(key: &PublicKey) -> String {
    use russh::keys::Algorithm;
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519".into(),
        Algorithm::Ecdsa { .. } => "ECDSA".into(),
        Algorithm::Rsa { .. } => "RSA".into(),
        Algorithm::Dsa => "DSA".into(),
        Algorithm::SkEd25519 => "ED25519-SK".into(),
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK".into(),
        other => other.to_string(),
    }
}

/// Checks `key` for the host of `o`; learns it under `accept-new` and `no`.
pub fn verify_host_key(o: &SshOptions, key: &PublicKey) -> Result<HostKeyVerdict, SshError> {
    let name = known_hosts_name(o);
    let alg = openssh_key_type(key);
    for path in o.known_hosts.iter().filter(|p| p.exists()) {
        match russh::keys::check_known_hosts_path(&o.hostname, o.port, key, path) {
            Ok(true) => return Ok(HostKeyVerdict::Known),
            Ok(false) => {}
            Err(russh::keys::Error::KeyChanged { line }) => {
                return Err(SshError::HostKey(format!(
                    "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\n\
                     The {alg} host key for {name} differs from the key recorded in {}:{line}.",
                    path.display()
                )));
            }
            // OpenSSH skips a file it cannot read or parse.
            Err(_) => {}
        }
    }
    match o.strict {
        StrictHostKeyChecking::Yes => Err(SshError::HostKey(format!(
            "No {alg} host key is known for {name} and you have requested strict checking."
        ))),
        StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No => {
            let Some(file) = o.known_hosts.first() else {
                return Ok(HostKeyVerdict::Accepted);
            };
            match russh::keys::known_hosts::learn_known_hosts_path(&o.hostname, o.port, key, file) {
                Ok(()) => Ok(HostKeyVerdict::Learned(format!(
                    "Warning: Permanently added '{name}' ({alg}) to the list of known hosts."
                ))),
                Err(e) => Ok(HostKeyVerdict::Learned(format!(
                    "Failed to add the host to the list of known hosts ({}): {e}",
                    file.display()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const OTHER_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn options(dir: &std::path::Path, strict: StrictHostKeyChecking) -> SshOptions {
        SshOptions {
            host: "h".into(),
            hostname: "127.0.0.1".into(),
            port: 2222,
            user: "u".into(),
            identity_files: vec![],
            known_hosts: vec![dir.join("known_hosts")],
            strict,
            connect_timeout: None,
            keepalive: None,
            agent: None,
            ciphers: vec![],
        }
    }

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdsync-hostkeys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    #[test]
    fn known_unknown_and_changed_keys() {
        let d = scratch("a");
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:2222 {HOST_KEY}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let o = options(&d, StrictHostKeyChecking::Yes);
        assert_eq!(
            verify_host_key(&o, &key(HOST_KEY)).ok(),
            Some(HostKeyVerdict::Known)
        );
        let changed = verify_host_key(&o, &key(OTHER_KEY));
        assert!(
            matches!(&changed, Err(SshError::HostKey(m)) if m.contains("CHANGED")),
            "{changed:?}"
        );
        // The same key on another port is unknown: strict checking refuses it.
        let mut other_port = o.clone();
        other_port.port = 2223;
        let unknown = verify_host_key(&other_port, &key(HOST_KEY));
        assert!(
            matches!(&unknown, Err(SshError::HostKey(m)) if m.contains("No ED25519 host key is known for [127.0.0.1]:2223")),
            "{unknown:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn accept_new_records_the_key_and_then_knows_it() {
        let d = scratch("b");
        let o = options(&d, StrictHostKeyChecking::AcceptNew);
        let first = verify_host_key(&o, &key(HOST_KEY));
        assert!(
            matches!(&first, Ok(HostKeyVerdict::Learned(m)) if m.contains("Permanently added")),
            "{first:?}"
        );
        assert_eq!(
            verify_host_key(&o, &key(HOST_KEY)).ok(),
            Some(HostKeyVerdict::Known)
        );
        // A learned key is not replaced by another.
        assert!(verify_host_key(&o, &key(OTHER_KEY)).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
