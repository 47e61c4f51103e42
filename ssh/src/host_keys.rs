//! The server's host key against the known_hosts files, under the
//! [`StrictHostKeyChecking`] policy, with OpenSSH's messages.

use std::path::PathBuf;

use russh::keys::{Algorithm, Certificate, HashAlg, PublicKey};

use crate::config::glob_match;

use crate::error::SshError;
use crate::known_hosts::{HostKeyStatus, KnownHostKeys, record_host_key};
use crate::options::{SshOptions, StrictHostKeyChecking};

/// How a host key was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// A known_hosts file records this key for the host.
    Known,
    /// The key was unknown and has been recorded (the warning OpenSSH prints).
    Learned(String),
    /// The key is revoked or differs from the recorded one and `StrictHostKeyChecking no`
    /// lets the connection go on anyway, with OpenSSH's warnings.
    Unsafe(String),
}

/// The name OpenSSH uses for a host in known_hosts and its messages: `host`, or
/// `[host]:port` off port 22, in lower case.
pub fn known_hosts_name(o: &SshOptions) -> String {
    let host = o.hostname.to_ascii_lowercase();
    if o.port == 22 {
        host
    } else {
        format!("[{host}]:{}", o.port)
    }
}

/// The records of every known_hosts file (the user's, then the system's) for the host of
/// `o`.
pub fn known_host_keys(o: &SshOptions) -> KnownHostKeys {
    KnownHostKeys::load(&known_hosts_name(o), &known_hosts_files(o))
}

fn known_hosts_files(o: &SshOptions) -> Vec<PathBuf> {
    o.user_known_hosts
        .iter()
        .chain(&o.global_known_hosts)
        .cloned()
        .collect()
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

/// A revoked key (type `alg`, host `name`): refused with OpenSSH's warning, or used after
/// it under `StrictHostKeyChecking no`.
fn revoked(o: &SshOptions, alg: &str, name: &str) -> Result<HostKeyVerdict, SshError> {
    let warning = format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @       WARNING: REVOKED HOST KEY DETECTED!               @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         The {alg} host key for {name} is marked as revoked.\n\
         This could mean that a stolen key is being used to\n\
         impersonate this host."
    );
    if o.strict != StrictHostKeyChecking::No {
        Err(SshError::HostKey(format!(
            "{warning}\n{alg} host key for {name} was revoked and you have requested strict checking."
        )))
    } else {
        Ok(HostKeyVerdict::Unsafe(format!(
            "{warning}\n{CONTINUE_UNSAFE}"
        )))
    }
}

/// Why a host certificate is not valid for `host` at `now` (OpenSSH's
/// `sshkey_cert_check_host` reasons), or `None` when it is.
pub fn certificate_problem(cert: &Certificate, host: &str, now: u64) -> Option<&'static str> {
    use russh::keys::ssh_key::certificate::CertType;
    if cert.verify_signature().is_err() {
        return Some("Certificate invalid: bad signature");
    }
    if cert.cert_type() != CertType::Host {
        return Some("Certificate invalid: not a host certificate");
    }
    if now < cert.valid_after() {
        return Some("Certificate invalid: not yet valid");
    }
    if now >= cert.valid_before() {
        return Some("Certificate invalid: expired");
    }
    if cert.valid_principals().is_empty() {
        return Some("Certificate lacks principal list");
    }
    if !cert.valid_principals().iter().any(|p| glob_match(p, host)) {
        return Some("Certificate invalid: name is not a listed principal");
    }
    if !cert.critical_options().is_empty() {
        return Some("Certificate contains unsupported critical options");
    }
    // OpenSSH's default CASignatureAlgorithms leave out ssh-rsa (RSA with SHA-1).
    if cert.signature().algorithm() == (Algorithm::Rsa { hash: None }) {
        return Some("Certificate signed with disallowed algorithm");
    }
    None
}

/// Checks a host certificate as OpenSSH does: a revoked certificate key or authority is
/// refused; one signed by an `@cert-authority` key recorded for the host, valid now and
/// naming the host is accepted; otherwise (after saying why, if an authority matched) the
/// key inside it is checked as a plain host key.
pub fn verify_host_certificate(
    o: &SshOptions,
    cert: &Certificate,
) -> Result<HostKeyVerdict, SshError> {
    let name = known_hosts_name(o);
    let known = known_host_keys(o);
    let plain = PublicKey::new(cert.public_key().clone(), "");
    let authority = PublicKey::new(cert.signature_key().clone(), "");
    let alg = format!("{}-CERT", openssh_key_type(&plain));
    if known.is_revoked(&plain) || known.is_revoked(&authority) {
        return revoked(o, &alg, &name);
    }
    if known.authority(&authority).is_some() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match certificate_problem(cert, &o.hostname.to_ascii_lowercase(), now) {
            None => return Ok(HostKeyVerdict::Known),
            Some(problem) => eprintln!("{problem}"),
        }
    }
    check_plain_key(o, &known, &plain)
}

/// What OpenSSH prints when it goes on without a trusted host key (`continue_unsafe` with
/// the default authentication settings).
const CONTINUE_UNSAFE: &str = "Password authentication is disabled to avoid man-in-the-middle attacks.\n\
     Keyboard-interactive authentication is disabled to avoid man-in-the-middle attacks.";

/// Checks `key` for the host of `o` as OpenSSH's `check_host_key` does, with its messages;
/// learns a new key under `accept-new` and `no`.
pub fn verify_host_key(o: &SshOptions, key: &PublicKey) -> Result<HostKeyVerdict, SshError> {
    check_plain_key(o, &known_host_keys(o), key)
}

/// [`verify_host_key`] against records already read for the host.
fn check_plain_key(
    o: &SshOptions,
    known: &KnownHostKeys,
    key: &PublicKey,
) -> Result<HostKeyVerdict, SshError> {
    let name = known_hosts_name(o);
    let alg = openssh_key_type(key);
    let strict = o.strict != StrictHostKeyChecking::No;
    match known.status(key) {
        HostKeyStatus::Known(_) => Ok(HostKeyVerdict::Known),
        HostKeyStatus::Revoked => revoked(o, &alg, &name),
        HostKeyStatus::Changed(record) => {
            let fingerprint = key.fingerprint(HashAlg::Sha256);
            let mut warning = format!(
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                 @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                 @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                 IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                 Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
                 It is also possible that a host key has just been changed.\n\
                 The fingerprint for the {alg} key sent by the remote host is\n\
                 {fingerprint}.\n\
                 Please contact your system administrator.\n"
            );
            if let Some(file) = o.user_known_hosts.first().or(o.global_known_hosts.first()) {
                warning.push_str(&format!(
                    "Add correct host key in {} to get rid of this message.\n",
                    file.display()
                ));
            }
            // OpenSSH 9.2 (Debian 12) also says how to remove the line.
            warning.push_str(&format!(
                "Offending {} key in {}:{}\n  remove with:\n  ssh-keygen -f \"{}\" -R \"{name}\"",
                openssh_key_type(&record.key),
                record.path.display(),
                record.line,
                record.path.display(),
            ));
            if strict {
                Err(SshError::HostKey(format!(
                    "{warning}\nHost key for {name} has changed and you have requested strict checking."
                )))
            } else {
                Ok(HostKeyVerdict::Unsafe(format!(
                    "{warning}\n{CONTINUE_UNSAFE}"
                )))
            }
        }
        HostKeyStatus::New => {
            // Off port 22 OpenSSH also accepts a key recorded for the bare host name.
            if o.port != 22 {
                let bare =
                    KnownHostKeys::load(&o.hostname.to_ascii_lowercase(), &known_hosts_files(o));
                if matches!(bare.status(key), HostKeyStatus::Known(_)) {
                    return Ok(HostKeyVerdict::Known);
                }
            }
            learn(o, key, &name, &alg)
        }
    }
}

/// A key no file records: refused under strict checking, else recorded in the user's first
/// known_hosts file.
fn learn(
    o: &SshOptions,
    key: &PublicKey,
    name: &str,
    alg: &str,
) -> Result<HostKeyVerdict, SshError> {
    if o.strict == StrictHostKeyChecking::Yes {
        return Err(SshError::HostKey(format!(
            "No {alg} host key is known for {name} and you have requested strict checking."
        )));
    }
    // OpenSSH will not record a key without a user file, nor under a name with
    // characters that would corrupt the file.
    if o.hostname
        .contains(['@', '?', '*', '#', '[', ']', '|', '\'', '"', '\\'])
    {
        return Err(SshError::HostKey(format!(
            "No {alg} host key is known for {name}, and the name cannot be recorded."
        )));
    }
    let Some(file) = o.user_known_hosts.first() else {
        return Err(SshError::HostKey(format!(
            "No {alg} host key is known for {name} and it cannot be recorded (UserKnownHostsFile none)."
        )));
    };
    Ok(HostKeyVerdict::Learned(
        match record_host_key(file, name, key, o.hash_known_hosts) {
            Ok(()) => {
                format!("Warning: Permanently added '{name}' ({alg}) to the list of known hosts.")
            }
            Err(_) => format!(
                "Failed to add the host to the list of known hosts ({}).",
                file.display()
            ),
        },
    ))
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
            user_known_hosts: vec![dir.join("known_hosts")],
            global_known_hosts: vec![],
            hash_known_hosts: false,
            proxy: None,
            batch_mode: true,
            compression: false,
            password_prompts: 3,
            config_files: vec![],
            home: PathBuf::new(),
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

    #[test]
    fn a_key_recorded_without_the_port_is_known_and_none_records_nothing() {
        let d = scratch("c");
        std::fs::write(d.join("known_hosts"), format!("127.0.0.1 {HOST_KEY}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let o = options(&d, StrictHostKeyChecking::Yes);
        assert_eq!(
            verify_host_key(&o, &key(HOST_KEY)).ok(),
            Some(HostKeyVerdict::Known)
        );
        // With no user file (UserKnownHostsFile none) a new key cannot be recorded.
        let mut none = options(&d, StrictHostKeyChecking::No);
        none.user_known_hosts.clear();
        let refused = verify_host_key(&none, &key(OTHER_KEY));
        assert!(
            matches!(&refused, Err(SshError::HostKey(m)) if m.contains("cannot be recorded")),
            "{refused:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Signs a fresh key with a fresh CA (`ca`, Ed25519; `rsa_ca` with `-s rsa_ca`) using
    /// OpenSSH's ssh-keygen and `args`.
    fn certificate(d: &std::path::Path, name: &str, args: &[&str]) -> Certificate {
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("ssh-keygen")
                .args(args)
                .current_dir(d)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success());
            assert!(matches!(ok, Ok(true)), "ssh-keygen {args:?}");
        };
        if !d.join("ca").exists() {
            run(&["-q", "-t", "ed25519", "-N", "", "-f", "ca"]);
            run(&["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", "rsa_ca"]);
        }
        run(&["-q", "-t", "ed25519", "-N", "", "-f", name]);
        let public = format!("{name}.pub");
        let mut sign = vec!["-q", "-I", "id"];
        if !args.contains(&"-s") {
            sign.extend(["-s", "ca"]);
        }
        sign.extend(args);
        sign.push(&public);
        run(&sign);
        let text = std::fs::read_to_string(d.join(format!("{name}-cert.pub")))
            .unwrap_or_else(|e| panic!("{e}"));
        Certificate::from_openssh(text.trim()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn certificates_are_judged_like_openssh() {
        let d = scratch("cert");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_secs())
            .unwrap_or(0);
        let problem = |name: &str, args: &[&str], host: &str| {
            certificate_problem(&certificate(&d, name, args), host, now)
        };
        assert_eq!(problem("good", &["-h", "-n", "h1,h2"], "h2"), None);
        assert_eq!(
            problem("wild", &["-h", "-n", "*.example.org"], "a.example.org"),
            None
        );
        assert_eq!(
            problem("other", &["-h", "-n", "h1"], "h3"),
            Some("Certificate invalid: name is not a listed principal")
        );
        assert_eq!(
            problem("user", &["-n", "h1"], "h1"),
            Some("Certificate invalid: not a host certificate")
        );
        assert_eq!(
            problem("old", &["-h", "-n", "h1", "-V", "-2d:-1d"], "h1"),
            Some("Certificate invalid: expired")
        );
        assert_eq!(
            problem("new", &["-h", "-n", "h1", "-V", "+1d:+2d"], "h1"),
            Some("Certificate invalid: not yet valid")
        );
        assert_eq!(
            problem("anyone", &["-h"], "h1"),
            Some("Certificate lacks principal list")
        );
        // An RSA authority may sign with SHA-2, not with SHA-1 (ssh-rsa).
        let rsa = ["-s", "rsa_ca", "-h", "-n", "h1", "-t"];
        let with = |alg: &'static str| [&rsa[..], &[alg]].concat();
        assert_eq!(problem("sha2", &with("rsa-sha2-512"), "h1"), None);
        assert_eq!(
            problem("sha1", &with("ssh-rsa"), "h1"),
            Some("Certificate signed with disallowed algorithm")
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
