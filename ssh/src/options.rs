//! Where and how to connect: read from an OpenSSH command line (the `-e` of rsync) and
//! the ssh_config file it names (`-F`, else `~/.ssh/config`), with OpenSSH's precedence —
//! command line first, then the file, the first value obtained winning, then defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{ConfigOrigin, Setting, check_permissions, read_config_text, settings_for};
use crate::config_match::{MatchContext, expand_hostname};
use crate::error::SshError;
use crate::tokens::percent_expand;

/// What to do with a host key that no known_hosts file records (`StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Refuse the host (OpenSSH's `yes`; also its default `ask`, as we never prompt).
    Yes,
    /// Record the key in the user's known_hosts file and go on (`accept-new`).
    AcceptNew,
    /// Accept any key, recording unknown ones (`no`, `off`); a changed or revoked key is
    /// used with OpenSSH's warnings and not recorded.
    No,
}

impl StrictHostKeyChecking {
    fn parse(v: &str) -> Result<Self, SshError> {
        match v.to_ascii_lowercase().as_str() {
            "yes" | "ask" => Ok(Self::Yes),
            "accept-new" => Ok(Self::AcceptNew),
            "no" | "off" => Ok(Self::No),
            _ => Err(SshError::Config(format!(
                "unsupported StrictHostKeyChecking value {v:?}"
            ))),
        }
    }
}

/// Everything the built-in client needs to reach a host and run a command there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// The host name as given (what `Host` sections match).
    pub host: String,
    /// The address dialled (`HostName`, else `host`); also the known_hosts name.
    pub hostname: String,
    /// The TCP port.
    pub port: u16,
    /// The remote user.
    pub user: String,
    /// Private keys to offer, in order.
    pub identity_files: Vec<PathBuf>,
    /// The user's known_hosts files (`UserKnownHostsFile`), consulted first; the first one
    /// learns new keys. Empty (`none`): a new key cannot be recorded and is refused.
    pub user_known_hosts: Vec<PathBuf>,
    /// The system's known_hosts files (`GlobalKnownHostsFile`), only read.
    pub global_known_hosts: Vec<PathBuf>,
    /// Record new host names hashed (`HashKnownHosts yes`).
    pub hash_known_hosts: bool,
    /// How the connection is carried when not dialled directly.
    pub proxy: Option<Proxy>,
    /// Ask for zlib compression of the connection (`-C`, `Compression yes`).
    pub compression: bool,
    /// Never ask the user anything (`BatchMode yes`): an encrypted key is skipped.
    pub batch_mode: bool,
    /// How many times a passphrase is asked for (`NumberOfPasswordPrompts`, default 3).
    pub password_prompts: u32,
    /// The configuration files read, in order (a jump host's settings come from them).
    pub config_files: Vec<ConfigFile>,
    /// The home directory (`~`).
    pub home: PathBuf,
    /// The policy for unknown host keys.
    pub strict: StrictHostKeyChecking,
    /// How long to wait for the TCP connection.
    pub connect_timeout: Option<Duration>,
    /// Keepalive interval (`ServerAliveInterval`).
    pub keepalive: Option<Duration>,
    /// Cipher names in order of preference (`-c`, `Ciphers`); empty: russh's defaults,
    /// which start like OpenSSH's (chacha20-poly1305 first).
    pub ciphers: Vec<String>,
    /// The ssh-agent socket whose keys are offered first (`$SSH_AUTH_SOCK`), unless
    /// `IdentitiesOnly yes` or `IdentityAgent none`.
    pub agent: Option<PathBuf>,
}

/// One configuration file to read: its path, whose it is, and whether it must exist
/// (`-F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// The user's or the system's (where relative `Include`s are taken from).
    pub origin: ConfigOrigin,
    /// A missing file is an error (the file named by `-F`).
    pub required: bool,
    /// Refused if others could change it (`~/.ssh/config`; OpenSSH's `SSHCONF_CHECKPERM`).
    pub check_permissions: bool,
}

/// How the TCP connection to the server is made when not dialled directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// `ProxyJump` / `-J`: through an SSH connection to the last of these hosts
    /// (`[user@]host[:port]` or `ssh://…`), which is itself reached through the ones before.
    Jump(String),
    /// `ProxyCommand`: a shell command whose standard input and output carry the
    /// connection; `%h`, `%p`, `%r`, `%n` and `%%` are already expanded.
    Command(String),
}

/// One `ProxyJump` hop: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    /// The user named in the hop, if any.
    pub user: Option<String>,
    /// The host (a name the configuration files may describe).
    pub host: String,
    /// The port named in the hop, if any.
    pub port: Option<u16>,
}

impl JumpHop {
    /// Reads one hop as OpenSSH's `parse_jump` does.
    pub fn parse(spec: &str) -> Result<JumpHop, SshError> {
        let bad = || SshError::Config(format!("Invalid ProxyJump \"{spec}\""));
        let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((u, hp)) if !u.is_empty() => (Some(u.to_string()), hp),
            Some(_) => return Err(bad()),
            None => (None, rest),
        };
        let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
            let (h, after) = inner.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad()),
            }
        } else {
            match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad))
            .transpose()?;
        let valid = !host.is_empty()
            && !host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:%".contains(c));
        if !valid || user.as_deref().is_some_and(|u| u.starts_with('-')) {
            return Err(bad());
        }
        Ok(JumpHop {
            user,
            host: host.to_string(),
            port,
        })
    }
}

/// OpenSSH's system-wide client configuration, read after the user's.
pub const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// ssh's single-letter flags that take no value and change nothing we do.
const HARMLESS_FLAGS: &str = "46anqTxvNk";

/// Values gathered in precedence order: the first one set stays.
#[derive(Debug, Default)]
struct Gathered {
    hostname: Option<String>,
    port: Option<String>,
    user: Option<String>,
    identity_files: Vec<String>,
    user_known_hosts: Option<String>,
    global_known_hosts: Option<String>,
    strict: Option<String>,
    connect_timeout: Option<String>,
    keepalive: Option<String>,
    identities_only: Option<String>,
    identity_agent: Option<String>,
    ciphers: Option<String>,
    hash_known_hosts: Option<String>,
    proxy_jump: Option<String>,
    proxy_command: Option<String>,
    batch_mode: Option<String>,
    password_prompts: Option<String>,
    compression: Option<String>,
    tag: Option<String>,
}

impl Gathered {
    fn apply(&mut self, keyword: &str, value: &str) -> Result<(), SshError> {
        let first = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = Some(value.to_string());
            }
        };
        match keyword {
            "hostname" => first(&mut self.hostname),
            "port" => first(&mut self.port),
            "user" => first(&mut self.user),
            // OpenSSH offers every IdentityFile given, in order, a repeated one once.
            "identityfile" => {
                if !self.identity_files.iter().any(|f| f == value) {
                    self.identity_files.push(value.to_string());
                }
            }
            "userknownhostsfile" => first(&mut self.user_known_hosts),
            "globalknownhostsfile" => first(&mut self.global_known_hosts),
            "stricthostkeychecking" => first(&mut self.strict),
            "connecttimeout" => first(&mut self.connect_timeout),
            "serveraliveinterval" => first(&mut self.keepalive),
            "identitiesonly" => first(&mut self.identities_only),
            "identityagent" => first(&mut self.identity_agent),
            "ciphers" => first(&mut self.ciphers),
            "hashknownhosts" => first(&mut self.hash_known_hosts),
            // ProxyJump and ProxyCommand exclude each other: the first one obtained wins
            // (`ProxyJump none` only clears ProxyJump), as in OpenSSH's readconf.c.
            "proxyjump" => {
                if value.eq_ignore_ascii_case("none") {
                    first(&mut self.proxy_jump);
                } else if self.proxy_jump.is_none() && self.proxy_command.is_none() {
                    for hop in value.split(',') {
                        JumpHop::parse(hop)?;
                    }
                    self.proxy_jump = Some(value.to_string());
                    self.proxy_command = Some("none".into());
                }
            }
            "proxycommand" => first(&mut self.proxy_command),
            "batchmode" => first(&mut self.batch_mode),
            "compression" => first(&mut self.compression),
            "tag" => first(&mut self.tag),
            // Adding algorithms changes nothing we offer; narrowing them we cannot honour.
            "hostkeyalgorithms" if value.starts_with('+') => {}
            "canonicalizehostname" if value.eq_ignore_ascii_case("no") => {}
            "numberofpasswordprompts" => first(&mut self.password_prompts),
            // Settings that only matter to an interactive or forwarding ssh.
            "loglevel"
            | "passwordauthentication"
            | "forwardagent"
            | "forwardx11"
            | "requesttty"
            | "serveralivecountmax"
            | "addkeystoagent"
            | "controlmaster"
            | "controlpath"
            | "controlpersist"
            | "preferredauthentications"
            | "pubkeyauthentication"
            | "updatehostkeys"
            | "visualhostkey"
            | "checkhostip"
            | "tcpkeepalive"
            | "kbdinteractiveauthentication" => {}
            other => {
                return Err(SshError::Unsupported(format!("ssh option -o {other}")));
            }
        }
        Ok(())
    }
}

/// Takes the value of a single-letter option: attached (`-p22`) or the next argument.
fn option_value<'a>(
    attached: &'a str,
    rest: &mut impl Iterator<Item = &'a String>,
    letter: char,
) -> Result<&'a str, SshError> {
    if !attached.is_empty() {
        return Ok(attached);
    }
    rest.next()
        .map(String::as_str)
        .ok_or_else(|| SshError::Config(format!("ssh option -{letter} needs a value")))
}

/// Expands `~/` and the `%d` `%h` `%p` `%r` `%u` `%%` tokens of a path setting.
fn expand_path(
    raw: &str,
    home: &Path,
    o: &SshOptions,
    local_user: &str,
) -> Result<PathBuf, SshError> {
    let raw = match raw.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", home.display()),
        None => raw.to_string(),
    };
    let home = home.display().to_string();
    let port = o.port.to_string();
    let values = [
        ('d', home.as_str()),
        ('h', o.hostname.as_str()),
        ('p', port.as_str()),
        ('r', o.user.as_str()),
        ('u', local_user),
    ];
    percent_expand(&raw, &values, &raw).map(PathBuf::from)
}

/// The ciphers the built-in client can use, in OpenSSH's default order of preference.
pub const SUPPORTED_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];

/// Reads a `Ciphers` value: a comma-separated list, or one that changes the default list
/// (`+` appends, `-` removes, `^` puts first), as OpenSSH reads it.
fn cipher_list(value: &str) -> Result<Vec<String>, SshError> {
    let (op, list) = match value.chars().next() {
        Some(c @ ('+' | '-' | '^')) => (Some(c), value.get(1..).unwrap_or("")),
        _ => (None, value),
    };
    let names: Vec<String> = list.split(',').map(str::to_string).collect();
    if let Some(bad) = names
        .iter()
        .find(|n| !SUPPORTED_CIPHERS.contains(&n.as_str()))
    {
        return Err(SshError::Config(format!("Unknown cipher type '{bad}'")));
    }
    let defaults = SUPPORTED_CIPHERS.iter().map(|c| c.to_string());
    Ok(match op {
        None => names,
        Some('+') => defaults
            .filter(|d| !names.contains(d))
            .chain(names.clone())
            .collect(),
        Some('-') => defaults.filter(|d| !names.contains(d)).collect(),
        _ => names
            .clone()
            .into_iter()
            .chain(defaults.filter(|d| !names.contains(d)))
            .collect(),
    })
}

/// Applies the settings for `host` of each configuration file in turn, and once more in a
/// final pass when a `Match final` asked for one (as ssh does; the first value still wins).
fn read_config_files(
    g: &mut Gathered,
    files: &[ConfigFile],
    host: &str,
    home: &Path,
) -> Result<(), SshError> {
    let mut wants_final = false;
    let local_user = local_user().unwrap_or_default();
    for final_pass in [false, true] {
        if final_pass && !wants_final {
            break;
        }
        for file in files {
            let text = match read_config_text(&file.path) {
                Ok(text) => {
                    if file.check_permissions {
                        check_permissions(&file.path)?;
                    }
                    text
                }
                Err(e) if file.required => {
                    return Err(SshError::Config(format!(
                        "Can't open user config file {}: {e}",
                        file.path.display()
                    )));
                }
                Err(_) => continue,
            };
            let ctx = MatchContext {
                original_host: host.to_string(),
                hostname: g.hostname.clone(),
                user: g.user.clone(),
                port: g.port.clone(),
                tag: g.tag.clone(),
                local_user: local_user.clone(),
                home: home.display().to_string(),
                final_pass,
            };
            let source = file.path.display().to_string();
            let read = settings_for(&text, &source, home, file.origin, &ctx)?;
            wants_final |= read.wants_final;
            for Setting { keyword, value } in read.settings {
                g.apply(&keyword, &value)?;
            }
        }
    }
    Ok(())
}

/// Expands the tokens `ProxyCommand` accepts: `%h` (the host dialled), `%p`, `%r`, `%n`
/// and `%k` (the name as given) and `%%`.
fn proxy_command_tokens(command: &str, o: &SshOptions) -> Result<String, SshError> {
    let port = o.port.to_string();
    let values = [
        ('h', o.hostname.as_str()),
        ('p', port.as_str()),
        ('r', o.user.as_str()),
        ('n', o.host.as_str()),
        ('k', o.host.as_str()),
    ];
    percent_expand(command, &values, "ProxyCommand")
}

/// Reads a `yes`/`no` setting (absent: no).
fn yes_no(value: Option<&str>, keyword: &str) -> Result<bool, SshError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(true),
        Some(v) => Err(SshError::Config(format!("invalid {keyword} {v:?}"))),
    }
}

/// The local account: the passwd entry of our user id, as OpenSSH takes it, else `$USER`
/// or `$LOGNAME`.
fn local_user() -> Option<String> {
    let uid = rustix::process::getuid().as_raw();
    rdsync_wire::flist::IdNames::load(true)
        .name_of(uid)
        .and_then(|n| std::str::from_utf8(n).ok())
        .map(str::to_string)
        .or_else(|| {
            ["USER", "LOGNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        })
}

impl SshOptions {
    /// Reads the options of `rsh` (an OpenSSH command line such as `ssh -p 2222 -i key`;
    /// `None` is plain `ssh`) for `host`, with `user` from `user@host` taking precedence
    /// over `-l` and `User`, as with OpenSSH. `home` is where `~` and the default files are;
    /// without `-F` the user's `~/.ssh/config` and then [`SYSTEM_CONFIG`] are read.
    pub fn from_command(
        rsh: Option<&str>,
        user: Option<&str>,
        host: &str,
        home: &Path,
    ) -> Result<SshOptions, SshError> {
        Self::from_command_with_system_config(rsh, user, host, home, Path::new(SYSTEM_CONFIG))
    }

    /// [`from_command`](Self::from_command) with another system-wide configuration file.
    pub fn from_command_with_system_config(
        rsh: Option<&str>,
        user: Option<&str>,
        host: &str,
        home: &Path,
        system_config: &Path,
    ) -> Result<SshOptions, SshError> {
        let argv = match rsh {
            Some(cmd) => rdsync_wire::rsh::split_rsh_command(cmd)
                .map_err(|e| SshError::Config(e.to_string()))?,
            None => vec!["ssh".to_string()],
        };
        let program = argv.first().map(String::as_str).unwrap_or("ssh");
        if Path::new(program).file_name().and_then(|n| n.to_str()) != Some("ssh") {
            return Err(SshError::Unsupported(format!(
                "the remote shell {program:?} (only an ssh command line can be read)"
            )));
        }
        let mut g = Gathered::default();
        if let Some(u) = user {
            g.user = Some(u.to_string());
        }
        let mut config_file: Option<String> = None;
        let mut rest = argv.iter().skip(1);
        while let Some(arg) = rest.next() {
            let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
                return Err(SshError::Unsupported(format!(
                    "the ssh argument {arg:?} in the remote-shell command"
                )));
            };
            for (at, letter) in flags.char_indices() {
                let attached = flags.get(at + letter.len_utf8()..).unwrap_or("");
                match letter {
                    'p' | 'l' | 'i' | 'o' | 'F' | 'c' | 'J' | 'P' => {
                        let v = option_value(attached, &mut rest, letter)?;
                        match letter {
                            'p' => g.apply("port", v)?,
                            'l' => g.apply("user", v)?,
                            'i' => g.apply("identityfile", v)?,
                            'F' => config_file = Some(v.to_string()),
                            'c' => g.apply("ciphers", v)?,
                            'J' => g.apply("proxyjump", v)?,
                            'P' => g.apply("tag", v)?,
                            _ => {
                                // As OpenSSH's strdelim: the keyword ends at the first
                                // space, tab or `=`; one `=` may follow the spaces.
                                let (k, val) = v
                                    .find([' ', '\t', '='])
                                    .map(|at| {
                                        let (k, rest) = v.split_at(at);
                                        let rest = rest.trim_start();
                                        let rest = rest.strip_prefix('=').unwrap_or(rest);
                                        (k, rest)
                                    })
                                    .ok_or_else(|| {
                                        SshError::Config(format!(
                                            "ssh option -o {v:?} has no value"
                                        ))
                                    })?;
                                g.apply(&k.trim().to_ascii_lowercase(), val.trim())?;
                            }
                        }
                        break;
                    }
                    'C' => g.apply("compression", "yes")?,
                    c if HARMLESS_FLAGS.contains(c) => {}
                    c => {
                        return Err(SshError::Unsupported(format!("ssh option -{c}")));
                    }
                }
            }
        }
        // As ssh: `-F file` alone (`-F none`: no file), else the user's file and then the
        // system's, both optional.
        let files: Vec<ConfigFile> = match &config_file {
            Some(f) if f.eq_ignore_ascii_case("none") => Vec::new(),
            Some(f) => vec![ConfigFile {
                path: PathBuf::from(f),
                origin: ConfigOrigin::User,
                required: true,
                check_permissions: false,
            }],
            None => vec![
                ConfigFile {
                    path: home.join(".ssh/config"),
                    origin: ConfigOrigin::User,
                    required: false,
                    check_permissions: true,
                },
                ConfigFile {
                    path: system_config.to_path_buf(),
                    origin: ConfigOrigin::System,
                    required: false,
                    check_permissions: false,
                },
            ],
        };
        read_config_files(&mut g, &files, host, home)?;
        Self::settle(g, host, home, files)
    }

    /// The options for the last hop of a `ProxyJump` value, as OpenSSH's implicit
    /// `ssh [-l user] [-p port] [-J earlier,hops] [-F file] -W … host` gets them: the hop's
    /// user and port, the hops before it as its own jump, the rest from the same
    /// configuration files; nothing else of our command line.
    pub fn jump_host_options(&self, spec: &str) -> Result<SshOptions, SshError> {
        let (earlier, last) = match spec.rsplit_once(',') {
            Some((e, l)) => (Some(e), l),
            None => (None, spec),
        };
        let hop = JumpHop::parse(last)?;
        let mut g = Gathered::default();
        if let Some(u) = &hop.user {
            g.apply("user", u)?;
        }
        if let Some(p) = hop.port {
            g.apply("port", &p.to_string())?;
        }
        if let Some(e) = earlier {
            g.apply("proxyjump", e)?;
        }
        read_config_files(&mut g, &self.config_files, &hop.host, &self.home)?;
        Self::settle(g, &hop.host, &self.home, self.config_files.clone())
    }

    /// Fills in defaults and checks values.
    fn settle(
        g: Gathered,
        host: &str,
        home: &Path,
        config_files: Vec<ConfigFile>,
    ) -> Result<SshOptions, SshError> {
        let local = local_user();
        let user = match g.user.or_else(|| local.clone()) {
            Some(u) => u,
            None => {
                return Err(SshError::Config(
                    "cannot tell the local user name ($USER): give the remote user as user@host"
                        .into(),
                ));
            }
        };
        let port = match g.port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| SshError::Config(format!("Bad port '{p}'")))?,
            None => 22,
        };
        let seconds = |v: Option<String>, what: &str| -> Result<Option<Duration>, SshError> {
            v.map(|s| {
                s.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| SshError::Config(format!("invalid {what} {s:?}")))
            })
            .transpose()
        };
        let mut o = SshOptions {
            host: host.to_string(),
            hostname: match &g.hostname {
                Some(h) => expand_hostname(h, host)?,
                None => host.to_string(),
            },
            port,
            user,
            identity_files: Vec::new(),
            user_known_hosts: Vec::new(),
            global_known_hosts: Vec::new(),
            hash_known_hosts: yes_no(g.hash_known_hosts.as_deref(), "HashKnownHosts")?,
            proxy: None,
            batch_mode: yes_no(g.batch_mode.as_deref(), "BatchMode")?,
            compression: yes_no(g.compression.as_deref(), "Compression")?,
            password_prompts: match &g.password_prompts {
                Some(n) => n.parse::<u32>().map_err(|_| {
                    SshError::Config(format!("invalid NumberOfPasswordPrompts {n:?}"))
                })?,
                None => 3,
            },
            config_files,
            home: home.to_path_buf(),
            strict: match g.strict {
                Some(v) => StrictHostKeyChecking::parse(&v)?,
                None => StrictHostKeyChecking::Yes,
            },
            connect_timeout: seconds(g.connect_timeout, "ConnectTimeout")?,
            keepalive: seconds(g.keepalive, "ServerAliveInterval")?.filter(|d| !d.is_zero()),
            agent: None,
            ciphers: match &g.ciphers {
                Some(list) => cipher_list(list)?,
                None => Vec::new(),
            },
        };
        let local = local.unwrap_or_default();
        o.identity_files = if g.identity_files.is_empty() {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|k| home.join(".ssh").join(k))
                .filter(|p| p.exists())
                .collect()
        } else {
            g.identity_files
                .iter()
                .map(|f| expand_path(f, home, &o, &local))
                .collect::<Result<_, _>>()?
        };
        let identities_only = yes_no(g.identities_only.as_deref(), "IdentitiesOnly")?;
        o.agent = match g.identity_agent.as_deref() {
            _ if identities_only => None,
            Some(a) if a.eq_ignore_ascii_case("none") => None,
            Some("SSH_AUTH_SOCK") | None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            Some(path) => Some(expand_path(path, home, &o, &local)?),
        };
        let user_files = g
            .user_known_hosts
            .unwrap_or_else(|| "~/.ssh/known_hosts ~/.ssh/known_hosts2".into());
        let global_files = g
            .global_known_hosts
            .unwrap_or_else(|| "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2".into());
        let files = |list: &str| -> Result<Vec<PathBuf>, SshError> {
            list.split_whitespace()
                .filter(|f| !f.eq_ignore_ascii_case("none"))
                .map(|f| expand_path(f, home, &o, &local))
                .collect()
        };
        let (user_known_hosts, global_known_hosts) = (files(&user_files)?, files(&global_files)?);
        o.user_known_hosts = user_known_hosts;
        o.global_known_hosts = global_known_hosts;
        fn set(v: &Option<String>) -> Option<&String> {
            v.as_ref().filter(|v| !v.eq_ignore_ascii_case("none"))
        }
        o.proxy = match (set(&g.proxy_jump), set(&g.proxy_command)) {
            (Some(jump), _) => Some(Proxy::Jump(jump.clone())),
            (None, Some(command)) => Some(Proxy::Command(proxy_command_tokens(command, &o)?)),
            (None, None) => None,
        };
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `from_command` without the machine's /etc/ssh/ssh_config.
    fn options_for(
        rsh: Option<&str>,
        user: Option<&str>,
        host: &str,
        home: &Path,
    ) -> Result<SshOptions, SshError> {
        SshOptions::from_command_with_system_config(
            rsh,
            user,
            host,
            home,
            Path::new("/nonexistent-system-config"),
        )
    }

    fn home() -> PathBuf {
        PathBuf::from("/nonexistent-home")
    }

    #[test]
    fn command_line_options_are_read() {
        let o = options_for(
            Some("ssh -p 2222 -l alice -i /k1 -i/k2 -o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile /kh' -qT"),
            None,
            "h",
            &home(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.port, 2222);
        assert_eq!(o.user, "alice");
        assert_eq!(
            o.identity_files,
            [PathBuf::from("/k1"), PathBuf::from("/k2")]
        );
        assert_eq!(o.strict, StrictHostKeyChecking::AcceptNew);
        assert_eq!(o.user_known_hosts, [PathBuf::from("/kh")]);
        assert!(!o.hash_known_hosts);
        assert_eq!(o.hostname, "h");
    }

    #[test]
    fn user_at_host_wins_over_dash_l_and_the_first_port_wins() {
        let o = options_for(
            Some("ssh -l bob -p 1 -o Port=2"),
            Some("carol"),
            "h",
            &home(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.user, "carol");
        assert_eq!(o.port, 1);
    }

    #[test]
    fn the_config_file_fills_what_the_command_line_left() {
        let dir = std::env::temp_dir().join(format!("rdsync-ssh-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let cfg = dir.join("config");
        std::fs::write(
            &cfg,
            "Host box\n  HostName 127.0.0.1\n  Port 2200\n  User u\n  IdentityFile %d/key-%r\n  UserKnownHostsFile /dev/null\n",
        )
        .unwrap_or_default();
        let cmd = format!("ssh -F {} -p 2300", cfg.display());
        let o = options_for(Some(&cmd), None, "box", Path::new("/home/x"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (o.hostname.as_str(), o.port, o.user.as_str()),
            ("127.0.0.1", 2300, "u")
        );
        assert_eq!(o.identity_files, [PathBuf::from("/home/x/key-u")]);
        // /dev/null is the file new keys go to (none are kept), never a global file.
        assert_eq!(o.user_known_hosts, [PathBuf::from("/dev/null")]);
        assert_eq!(
            o.global_known_hosts,
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
        let cmd = "ssh -F /dev/null -o UserKnownHostsFile=none -o HashKnownHosts=yes";
        let o = options_for(Some(cmd), Some("u"), "box", Path::new("/home/x"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.user_known_hosts.is_empty() && o.hash_known_hosts);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cipher_lists_are_read_like_openssh() {
        let ciphers =
            |cmd: &str| options_for(Some(cmd), Some("u"), "h", &home()).map(|o| o.ciphers);
        assert_eq!(
            ciphers("ssh -c aes128-gcm@openssh.com,aes128-ctr").ok(),
            Some(vec![
                "aes128-gcm@openssh.com".to_string(),
                "aes128-ctr".into()
            ])
        );
        let first = ciphers("ssh -o Ciphers=^aes256-gcm@openssh.com").unwrap_or_default();
        assert_eq!(
            first.first().map(String::as_str),
            Some("aes256-gcm@openssh.com")
        );
        assert_eq!(first.len(), SUPPORTED_CIPHERS.len());
        let fewer = ciphers("ssh -o Ciphers=-chacha20-poly1305@openssh.com").unwrap_or_default();
        assert_eq!(fewer.len(), SUPPORTED_CIPHERS.len() - 1);
        assert!(matches!(
            ciphers("ssh -c 3des-cbc"),
            Err(SshError::Config(m)) if m == "Unknown cipher type '3des-cbc'"
        ));
        assert_eq!(ciphers("ssh").ok(), Some(vec![]));
    }

    #[test]
    fn the_agent_is_used_unless_identities_only_or_none() {
        let agent = |cmd: &str| {
            options_for(Some(cmd), Some("u"), "h", &home())
                .map(|o| o.agent)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            agent("ssh -o IdentityAgent=/run/a.sock"),
            Some(PathBuf::from("/run/a.sock"))
        );
        assert_eq!(agent("ssh -o IdentityAgent=none"), None);
        assert_eq!(
            agent("ssh -o IdentitiesOnly=yes -o IdentityAgent=/run/a.sock"),
            None
        );
        assert!(options_for(Some("ssh -o IdentitiesOnly=maybe"), Some("u"), "h", &home()).is_err());
    }

    #[test]
    fn what_we_cannot_honour_is_refused() {
        for cmd in [
            "ssh -J -jump",
            "ssh -J user@",
            "ssh -J h:0",
            "ssh -o RemoteCommand=x",
            "ssh -W h:2",
            "rsh",
            "ssh extra-arg",
            "ssh -L 1:h:2",
        ] {
            assert!(
                options_for(Some(cmd), Some("u"), "h", &home()).is_err(),
                "{cmd}"
            );
        }
        assert!(options_for(Some("ssh -p 0"), Some("u"), "h", &home()).is_err());
        assert!(options_for(Some("ssh -F /nonexistent/cfg"), Some("u"), "h", &home()).is_err());
    }

    #[test]
    fn the_system_file_comes_after_the_user_file_and_not_with_dash_f() {
        let home = std::env::temp_dir().join(format!("rdsync-ssh-sys-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(home.join(".ssh/config"), "Port 1\n").unwrap_or_else(|e| panic!("{e}"));
        let system = home.join("ssh_config");
        std::fs::write(
            &system,
            "Host *\n  SendEnv LANG LC_*\n  Port 2\n  User sys\n  HashKnownHosts yes\n  GSSAPIAuthentication yes\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let o = SshOptions::from_command_with_system_config(Some("ssh"), None, "h", &home, &system)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (o.port, o.user.as_str(), o.hash_known_hosts),
            (1, "sys", true)
        );
        let o = SshOptions::from_command_with_system_config(
            Some("ssh -F none -l u"),
            None,
            "h",
            &home,
            &system,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.port, o.hash_known_hosts), (22, false));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn jump_hops_are_read_like_openssh() {
        let hop = |s: &str| JumpHop::parse(s).ok();
        assert_eq!(
            hop("alice@bastion:2222"),
            Some(JumpHop {
                user: Some("alice".into()),
                host: "bastion".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            hop("ssh://b@[::1]:22"),
            Some(JumpHop {
                user: Some("b".into()),
                host: "::1".into(),
                port: Some(22)
            })
        );
        assert_eq!(
            hop("bastion"),
            Some(JumpHop {
                user: None,
                host: "bastion".into(),
                port: None
            })
        );
        for bad in ["", "@h", "h:x", "h:70000", "-oProxyCommand=x", "h;rm", "[h"] {
            assert_eq!(hop(bad), None, "{bad}");
        }
    }

    #[test]
    fn proxies_come_from_the_first_setting_and_jump_hosts_from_the_config() {
        let dir = std::env::temp_dir().join(format!("rdsync-ssh-jump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let cfg = dir.join("config");
        std::fs::write(
            &cfg,
            "Host target\n  ProxyCommand nc %h %p\n  HostName 10.0.0.9\n\
             Host bastion\n  HostName 192.0.2.1\n  User jumper\n  IdentityFile /jump-key\n\
             Host inner\n  ProxyJump outer\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let read = |cmd: &str, host: &str| {
            options_for(
                Some(&format!("ssh -F {} {cmd}", cfg.display())),
                Some("u"),
                host,
                &home(),
            )
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
        };
        // From the config alone: ProxyCommand with its tokens expanded.
        let o = read("-p 2200", "target");
        assert_eq!(o.proxy, Some(Proxy::Command("nc 10.0.0.9 2200".into())));
        // -J comes first and wins over the config's ProxyCommand; none clears it.
        let o = read("-J bastion -i /mine", "target");
        assert_eq!(o.proxy, Some(Proxy::Jump("bastion".into())));
        assert_eq!(read("-o ProxyCommand=none", "target").proxy, None);
        // The jump host's options: from the config, not from our -i.
        let jump = o
            .jump_host_options("first,bastion")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (jump.hostname.as_str(), jump.user.as_str(), jump.port),
            ("192.0.2.1", "jumper", 22)
        );
        assert_eq!(jump.identity_files, [PathBuf::from("/jump-key")]);
        assert_eq!(jump.proxy, Some(Proxy::Jump("first".into())));
        let jump = o
            .jump_host_options("me@bastion:2")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((jump.user.as_str(), jump.port, jump.proxy), ("me", 2, None));
        // A jump host's own ProxyJump is followed.
        let inner = o
            .jump_host_options("inner")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inner.proxy, Some(Proxy::Jump("outer".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_files_others_can_change_are_refused_like_openssh() {
        use std::os::unix::fs::PermissionsExt;
        let home = std::env::temp_dir().join(format!("rdsync-ssh-perm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join(".ssh/conf.d/sub.conf"))
            .unwrap_or_else(|e| panic!("{e}"));
        let write = |rel: &str, text: &str, mode: u32| {
            let p = home.join(rel);
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        };
        let read = |cmd: &str| {
            SshOptions::from_command_with_system_config(
                Some(cmd),
                Some("u"),
                "h",
                &home,
                Path::new("/nonexistent-system-config"),
            )
        };
        // Includes skip dotfiles and directories (conf.d/sub.conf is one).
        write(".ssh/config", "Include conf.d/*\n", 0o600);
        write(".ssh/conf.d/a.conf", "Port 2\n", 0o644);
        write(".ssh/conf.d/.a.conf.swp", "Port 3\n", 0o644);
        assert_eq!(read("ssh").map(|o| o.port).ok(), Some(2));
        // An included file others may write is refused, with ssh's exit code.
        write(".ssh/conf.d/a.conf", "Port 2\n", 0o666);
        let refused = read("ssh");
        assert!(
            matches!(&refused, Err(e @ SshError::BadPermissions(p)) if p.ends_with("a.conf") && e.exit_code() == 255),
            "{refused:?}"
        );
        // So is the user's own file, but not one named with -F.
        write(".ssh/conf.d/a.conf", "Port 2\n", 0o644);
        write(".ssh/config", "Port 4\n", 0o664);
        assert!(matches!(read("ssh"), Err(SshError::BadPermissions(_))));
        let f = format!("ssh -F {}", home.join(".ssh/config").display());
        assert_eq!(read(&f).map(|o| o.port).ok(), Some(4));
        let _ = std::fs::remove_dir_all(&home);
    }

    #[test]
    fn option_values_tags_and_narrowing_are_read_like_openssh() {
        let read = |cmd: &str| options_for(Some(cmd), Some("u"), "h", &home());
        // -o ends the keyword at the first space or `=`: an `=` later is the value's.
        let o =
            read("ssh -o 'ProxyCommand ssh -o A=b -W %h:%p j'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.proxy, Some(Proxy::Command("ssh -o A=b -W h:22 j".into())));
        let o = read("ssh -o 'Port = 2'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.port, 2);
        // Adding host key algorithms changes nothing; narrowing them is refused.
        assert!(read("ssh -o HostKeyAlgorithms=+ssh-rsa").is_ok());
        assert!(matches!(
            read("ssh -o HostKeyAlgorithms=ssh-ed25519"),
            Err(SshError::Unsupported(_))
        ));
        assert!(read("ssh -o CanonicalizeHostname=no").is_ok());
        assert!(matches!(
            read("ssh -o CanonicalizeHostname=yes"),
            Err(SshError::Unsupported(_))
        ));
        // -P sets the tag `Match tagged` tests.
        let dir = std::env::temp_dir().join(format!("rdsync-ssh-tag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let cfg = dir.join("config");
        std::fs::write(&cfg, "Match tagged prod\n  Port 7\n").unwrap_or_else(|e| panic!("{e}"));
        let tagged = read(&format!("ssh -F {} -P prod", cfg.display())).map(|o| o.port);
        let untagged = read(&format!("ssh -F {}", cfg.display())).map(|o| o.port);
        assert_eq!((tagged.ok(), untagged.ok()), (Some(7), Some(22)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
