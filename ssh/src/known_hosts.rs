//! OpenSSH's known_hosts files, read and matched as `ssh` does (hostfile.c, match.c):
//! host pattern lists with `*`, `?` and `!`, hashed names (`|1|salt|hash`, HMAC-SHA1),
//! the `@revoked` and `@cert-authority` markers, spaces or tabs between fields, and line
//! numbers that count every line. A line that cannot be read is skipped, as OpenSSH does.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{Algorithm, PublicKey};
use sha1::Sha1;

use crate::config::host_matches;

/// A known_hosts line whose host patterns select the host being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyRecord {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its line number (1-based, every line counted).
    pub line: usize,
    /// `@revoked` or `@cert-authority`, if the line has one.
    pub marker: Option<Marker>,
    /// The recorded key.
    pub key: PublicKey,
}

/// What the known_hosts files say of a server's key (OpenSSH's `HostStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyStatus<'a> {
    /// A plain line records this key for the host.
    Known(&'a HostKeyRecord),
    /// Nothing is recorded for the host.
    New,
    /// The host is recorded with other keys only; the record is the last of them.
    Changed(&'a HostKeyRecord),
    /// An `@revoked` line names this key.
    Revoked,
}

/// The records of the known_hosts files that apply to one host name.
#[derive(Debug, Clone, Default)]
pub struct KnownHostKeys {
    records: Vec<HostKeyRecord>,
}

impl KnownHostKeys {
    /// Reads the records for `name` (`host`, or `[host]:port` off port 22, lower case) from
    /// `files` in order; a file that is missing or unreadable adds nothing.
    pub fn load(name: &str, files: &[PathBuf]) -> Self {
        let mut keys = Self::default();
        for path in files {
            // Bytes that are not UTF-8 spoil only their own line, as in OpenSSH.
            if let Ok(bytes) = std::fs::read(path) {
                keys.add_text(name, path, &String::from_utf8_lossy(&bytes));
            }
        }
        keys
    }

    /// Adds the records for `name` in `text`, the content of the file `path`.
    pub fn add_text(&mut self, name: &str, path: &Path, text: &str) {
        for (at, line) in text.split('\n').enumerate() {
            let Some(entry) = parse_line(line) else {
                continue;
            };
            if patterns_select(entry.host_patterns(), name) {
                self.records.push(HostKeyRecord {
                    path: path.to_path_buf(),
                    line: at + 1,
                    marker: entry.marker().copied(),
                    key: entry.public_key().clone(),
                });
            }
        }
    }

    /// The records read, in file order.
    pub fn records(&self) -> &[HostKeyRecord] {
        &self.records
    }

    /// Checks `key` as OpenSSH's `check_key_in_hostkeys` does for a plain (non-certificate)
    /// key: a matching plain record makes it known, other plain records make it changed,
    /// and an `@revoked` record of the key overrides both.
    pub fn status(&self, key: &PublicKey) -> HostKeyStatus<'_> {
        let mut status = HostKeyStatus::New;
        for record in self.records.iter().filter(|r| r.marker.is_none()) {
            if record.key.key_data() == key.key_data() {
                status = HostKeyStatus::Known(record);
                break;
            }
            status = HostKeyStatus::Changed(record);
        }
        if self.is_revoked(key) {
            HostKeyStatus::Revoked
        } else {
            status
        }
    }

    /// The `@cert-authority` record of `ca` (a certificate's signing key), if there is one.
    pub fn authority(&self, ca: &PublicKey) -> Option<&HostKeyRecord> {
        self.records
            .iter()
            .find(|r| r.marker == Some(Marker::CertAuthority) && r.key.key_data() == ca.key_data())
    }

    /// Whether any `@cert-authority` record applies to the host.
    pub fn has_authorities(&self) -> bool {
        self.records
            .iter()
            .any(|r| r.marker == Some(Marker::CertAuthority))
    }

    /// Whether an `@revoked` record names `key`.
    pub fn is_revoked(&self, key: &PublicKey) -> bool {
        self.records
            .iter()
            .any(|r| r.marker == Some(Marker::Revoked) && r.key.key_data() == key.key_data())
    }

    /// Orders `offered` (host key algorithms in preference order) so that those the host
    /// has plain records for come first, keeping the order otherwise, as OpenSSH's
    /// `order_hostkeyalgs` does: a server with several keys then proves the one we know.
    pub fn prefer_known(&self, offered: &[Algorithm]) -> Vec<Algorithm> {
        let known = |alg: &Algorithm| {
            self.records
                .iter()
                .filter(|r| r.marker.is_none())
                .any(|r| same_key_type(&r.key.algorithm(), alg))
        };
        let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
            offered.iter().cloned().partition(|a| known(a));
        first.extend(rest);
        first
    }
}

/// Whether two algorithms use the same kind of key (RSA keys sign with any `rsa-sha2-*`).
fn same_key_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

/// Parses one line: `None` for blank lines, comments and lines OpenSSH would skip as
/// invalid (bad marker, truncated, unreadable key).
fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim_matches([' ', '\t', '\r']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The fields may be separated by runs of spaces and tabs; the key parser wants one
    // space. A comment after the key is kept (it may contain anything).
    let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
    let mut normalized = String::with_capacity(line.len());
    let wanted = if line.starts_with('@') { 4 } else { 3 };
    for (n, field) in fields.by_ref().take(wanted).enumerate() {
        if n > 0 {
            normalized.push(' ');
        }
        normalized.push_str(field);
    }
    let comment: Vec<&str> = fields.collect();
    if !comment.is_empty() {
        normalized.push(' ');
        normalized.push_str(&comment.join(" "));
    }
    normalized.parse::<Entry>().ok()
}

/// Whether a line's host patterns select `name`: a hashed name by HMAC-SHA1 with its salt,
/// a pattern list as OpenSSH's `match_hostname` (case-insensitive, a `!` pattern vetoes).
pub fn patterns_select(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(list) => host_matches(&list.join(","), name),
    }
}

/// The hashed form of `name` with a fresh random salt (OpenSSH's `HashKnownHosts yes`).
pub fn hashed_name(name: &str) -> io::Result<String> {
    let mut salt = [0u8; 20];
    getrandom::fill(&mut salt).map_err(io::Error::other)?;
    let mac = Hmac::<Sha1>::new_from_slice(&salt).map_err(io::Error::other)?;
    let digest = mac.chain_update(name.as_bytes()).finalize().into_bytes();
    let mut hash = [0u8; 20];
    hash.copy_from_slice(&digest);
    Ok(HostPatterns::HashedName {
        salt: salt.to_vec(),
        hash,
    }
    .to_string())
}

/// Appends `key` for `name` to the known_hosts file `path` as OpenSSH's
/// `add_host_to_hostfile` does: the file and a missing `~/.ssh`-style parent directory
/// (mode 0700) are created, a missing final newline is supplied, and the name is hashed
/// when `hash` is set.
pub fn record_host_key(path: &Path, name: &str, key: &PublicKey, hash: bool) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut line = String::new();
    if file.seek(SeekFrom::End(0))? > 0 {
        file.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let plain = PublicKey::new(key.key_data().clone(), "");
    let key_text = plain.to_openssh().map_err(io::Error::other)?;
    let host = if hash {
        hashed_name(name)?
    } else {
        name.to_string()
    };
    line.push_str(&format!("{host} {key_text}\n"));
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn keys(name: &str, text: &str) -> KnownHostKeys {
        let mut k = KnownHostKeys::default();
        k.add_text(name, Path::new("kh"), text);
        k
    }

    fn line_of(status: HostKeyStatus<'_>) -> Option<usize> {
        match status {
            HostKeyStatus::Known(r) | HostKeyStatus::Changed(r) => Some(r.line),
            _ => None,
        }
    }

    #[test]
    fn patterns_wildcards_negation_and_case() {
        let text = format!("*.example.org,!bad.example.org {KEY_A}\n");
        assert!(matches!(
            keys("web.example.org", &text).status(&key(KEY_A)),
            HostKeyStatus::Known(_)
        ));
        assert!(matches!(
            keys("bad.example.org", &text).status(&key(KEY_A)),
            HostKeyStatus::New
        ));
        let upper = format!("WEB.Example.ORG {KEY_A}\n");
        assert!(matches!(
            keys("web.example.org", &upper).status(&key(KEY_A)),
            HostKeyStatus::Known(_)
        ));
        let port = format!("[h]:2222 {KEY_A}\n");
        assert!(matches!(
            keys("h", &port).status(&key(KEY_A)),
            HostKeyStatus::New
        ));
        assert!(matches!(
            keys("[h]:2222", &port).status(&key(KEY_A)),
            HostKeyStatus::Known(_)
        ));
    }

    #[test]
    fn every_line_is_counted_and_tabs_separate_fields() {
        let text = format!(
            "# comment\n\n  \t\nother {KEY_A}\nh\t\t{}  the comment\n",
            KEY_B.replace(' ', "\t ")
        );
        let k = keys("h", &text);
        assert_eq!(line_of(k.status(&key(KEY_B))), Some(5));
        // A different key for the host: changed, naming the recorded line.
        assert!(matches!(k.status(&key(KEY_A)), HostKeyStatus::Changed(r) if r.line == 5));
    }

    #[test]
    fn a_second_recorded_key_is_still_known() {
        // OpenSSH accepts the key if any line for the host matches, not only the first.
        let text = format!("h {KEY_B}\nh {KEY_A}\n");
        assert_eq!(line_of(keys("h", &text).status(&key(KEY_A))), Some(2));
    }

    #[test]
    fn revoked_keys_are_refused_even_when_recorded() {
        let text = format!("h {KEY_A}\n@revoked * {KEY_A}\n");
        assert_eq!(keys("h", &text).status(&key(KEY_A)), HostKeyStatus::Revoked);
        // A certificate authority line is not a plain record of the key.
        let ca = format!("@cert-authority h {KEY_A}\n");
        assert_eq!(keys("h", &ca).status(&key(KEY_A)), HostKeyStatus::New);
        // An unknown marker makes the line invalid: skipped.
        let bad = format!("@trusted h {KEY_A}\n");
        assert_eq!(keys("h", &bad).status(&key(KEY_A)), HostKeyStatus::New);
    }

    #[test]
    fn broken_lines_are_skipped() {
        let text = format!("h\nh ssh-ed25519\nh ssh-ed25519 !!!!\n|1|xx|yy {KEY_B}\nh {KEY_A}\n");
        assert_eq!(line_of(keys("h", &text).status(&key(KEY_A))), Some(5));
    }

    #[test]
    fn hashed_names_match_only_their_host() {
        let name = hashed_name("[127.0.0.1]:2222").unwrap_or_else(|e| panic!("{e}"));
        assert!(name.starts_with("|1|"), "{name}");
        let text = format!("{name} {KEY_A}\n");
        assert!(matches!(
            keys("[127.0.0.1]:2222", &text).status(&key(KEY_A)),
            HostKeyStatus::Known(_)
        ));
        assert_eq!(
            keys("127.0.0.1", &text).status(&key(KEY_A)),
            HostKeyStatus::New
        );
        // Hashes written by OpenSSH's `ssh-keygen -H` for "localhost" and "[127.0.0.1]:2222".
        let openssh = format!(
            "|1|x9kv4iOIeAPoHmdn6r7gfEbAm60=|chm3oApOa0gGhhrysHOp7t7R5W4= {KEY_A}\n\
             |1|c6Nt5o3YJjfaGSgqsjE1lbm0RIg=|oxlIrwR+PqqJY8pWI3yGp1l2d5U= {KEY_B}\n"
        );
        assert_eq!(
            line_of(keys("localhost", &openssh).status(&key(KEY_A))),
            Some(1)
        );
        assert_eq!(
            line_of(keys("[127.0.0.1]:2222", &openssh).status(&key(KEY_B))),
            Some(2)
        );
        assert_eq!(
            keys("127.0.0.1", &openssh).status(&key(KEY_A)),
            HostKeyStatus::New
        );
    }

    #[test]
    fn recording_adds_a_newline_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("rdsync-kh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("ssh/known_hosts");
        record_host_key(&path, "a", &key(KEY_A), false).unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ssh"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode, 0o700);
        // A file without a final newline gets one before the new line.
        let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(text, format!("a {KEY_A}\n"));
        text.pop();
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        record_host_key(&path, "[b]:2222", &key(KEY_B), true).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].starts_with("|1|") && !lines[1].contains("[b]"),
            "{text}"
        );
        let k = KnownHostKeys::load("[b]:2222", std::slice::from_ref(&path));
        assert_eq!(line_of(k.status(&key(KEY_B))), Some(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn known_key_types_are_offered_first() {
        let text = "h ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7\n".to_string();
        let offered = [
            Algorithm::Ed25519,
            Algorithm::Rsa {
                hash: Some(russh::keys::HashAlg::Sha512),
            },
        ];
        // The RSA line above is malformed (short key): nothing known, order kept.
        assert_eq!(keys("h", &text).prefer_known(&offered), offered.to_vec());
        let rsa = "h ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDDHr/jh2Jy4yALcK4JyWbVkPRaWmhck3IgCoeOO3z1e2dBowLh64QAM+Qb72pxekALga2oi4GvT+TlWNhzPH4V4HeKHpfhCcrm2vB4F3DCN7VyKKLBNhypzu1vPdtCAK0UtTOEIhfQGcmUvnpOILZ3GY7oohixnSM7C58+cZQOUw==\n";
        let ordered = keys("h", rsa).prefer_known(&offered);
        assert_eq!(ordered.first(), offered.get(1));
    }

    proptest::proptest! {
        /// Any file text is read without a panic, and every record read is for a line that
        /// exists.
        #[test]
        fn any_text_reads_without_panic(text in "\\PC{0,300}", name in "[a-z0-9.\\[\\]:]{0,20}") {
            let k = keys(&name, &text);
            let lines = text.split('\n').count();
            for r in k.records() {
                proptest::prop_assert!(r.line >= 1 && r.line <= lines);
            }
            let _ = k.status(&key(KEY_A));
        }
    }
}
