//! Setting up the SSH session: TCP connection (or `ProxyCommand`, or a channel through
//! `ProxyJump` hosts, each with its own session), key exchange with the host key checked
//! against known_hosts, public-key authentication with the identity files, and the exec
//! channel that runs the remote command.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use russh::client::{self, Handle, Msg};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, Disconnect};

use crate::encrypted_key::EncryptedKey;
use crate::error::SshError;
use crate::host_keys::{
    HostKeyVerdict, known_host_keys, known_hosts_name, verify_host_certificate, verify_host_key,
};
use crate::options::{Proxy, SshOptions};
use crate::proxy::{BoxedStream, jump_stream, spawn_proxy_command};

/// Checks the server's key during the key exchange and remembers why it refused one.
struct HostKeyCheck {
    options: Arc<SshOptions>,
    refusal: Arc<Mutex<Option<SshError>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => verify_host_key(&self.options, key),
            PublicKeyOrCertificate::Certificate(cert) => {
                verify_host_certificate(&self.options, cert)
            }
        };
        match verdict {
            Ok(HostKeyVerdict::Learned(warning) | HostKeyVerdict::Unsafe(warning)) => {
                eprintln!("{warning}");
                Ok(true)
            }
            Ok(_) => Ok(true),
            Err(e) => {
                if let Ok(mut r) = self.refusal.lock() {
                    *r = Some(e);
                }
                Ok(false)
            }
        }
    }
}

/// An authenticated SSH session.
pub struct SshSession {
    handle: Handle<HostKeyCheck>,
}

impl SshSession {
    /// Says goodbye to the server.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// The ciphers the built-in client knows, in OpenSSH's default order of preference
/// (`options::SUPPORTED_CIPHERS` by russh's names).
const OPENSSH_CIPHER_ORDER: [russh::cipher::Name; 6] = [
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_128_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
];

/// russh's name for a cipher [`SshOptions`] accepted.
fn cipher_name(name: &str) -> Option<russh::cipher::Name> {
    OPENSSH_CIPHER_ORDER
        .into_iter()
        .find(|n| n.as_ref() == name)
}

/// Whether this CPU has AES and carry-less multiply instructions (AES-GCM in hardware).
fn hardware_aes_gcm() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The ciphers offered when the user names none: OpenSSH's defaults, with AES-GCM first
/// where the CPU does it in hardware (it then runs at about twice chacha20-poly1305's speed
/// on both ends; chacha20-poly1305, OpenSSH's first choice, stays first elsewhere, where it
/// is the faster constant-time cipher).
fn default_ciphers() -> Vec<russh::cipher::Name> {
    use russh::cipher::{AES_128_GCM, AES_256_GCM};
    let mut order = OPENSSH_CIPHER_ORDER.to_vec();
    if hardware_aes_gcm() {
        order.retain(|c| *c != AES_256_GCM && *c != AES_128_GCM);
        order.splice(0..0, [AES_256_GCM, AES_128_GCM]);
    }
    order
}

/// Dials the host, retrying each address it resolves to, with the connect timeout.
async fn dial(o: &SshOptions) -> Result<tokio::net::TcpStream, SshError> {
    let failed = |reason: String| SshError::Connect {
        host: o.hostname.clone(),
        port: o.port,
        reason,
    };
    let attempt = tokio::net::TcpStream::connect((o.hostname.as_str(), o.port));
    let stream = match o.connect_timeout {
        Some(t) => tokio::time::timeout(t, attempt)
            .await
            .map_err(|_| failed("Connection timed out".into()))?,
        None => attempt.await,
    };
    let stream = stream.map_err(|e| failed(io_reason(&e)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// An I/O error as OpenSSH words it ("Connection refused", without Rust's "(os error N)").
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// Remembers the methods a refusing server still offers, for the final error.
fn note_refusal(result: &client::AuthResult, methods: &mut String) -> bool {
    match result {
        client::AuthResult::Success => true,
        client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let names: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
            if !names.is_empty() {
                *methods = names.join(",");
            }
            false
        }
    }
}

/// Offers the agent's keys, as OpenSSH does before the identity files; true once one is
/// accepted. An agent that cannot be reached is skipped.
async fn authenticate_with_agent(
    handle: &mut Handle<HostKeyCheck>,
    o: &SshOptions,
    methods: &mut String,
) -> bool {
    let Some(socket) = &o.agent else {
        return false;
    };
    let Ok(mut agent) = AgentClient::connect_uds(socket).await else {
        return false;
    };
    let Ok(identities) = agent.request_identities().await else {
        return false;
    };
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let Ok(hash) = handle.best_supported_rsa_hash().await else {
            return false;
        };
        match handle
            .authenticate_publickey_with(&o.user, key, hash.flatten(), &mut agent)
            .await
        {
            Ok(result) if note_refusal(&result, methods) => return true,
            _ => {}
        }
    }
    false
}

/// Offers the agent's keys, then each identity file in turn, until the server accepts one.
async fn authenticate(handle: &mut Handle<HostKeyCheck>, o: &SshOptions) -> Result<(), SshError> {
    let session_error = |e: russh::Error| SshError::Session(e.to_string());
    let mut methods = String::from("publickey");
    if authenticate_with_agent(handle, o, &mut methods).await {
        return Ok(());
    }
    for path in &o.identity_files {
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            // OpenSSH offers the public key and asks for the passphrase only if the
            // server accepts it; in batch mode it asks nothing and skips the key.
            Err(russh::keys::Error::KeyIsEncrypted) if !o.batch_mode => {
                let Some(mut encrypted) = EncryptedKey::open(path, o.password_prompts) else {
                    continue;
                };
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(session_error)?
                    .flatten();
                let public = encrypted.public_key().clone();
                match handle
                    .authenticate_publickey_with(&o.user, public, hash, &mut encrypted)
                    .await
                {
                    Ok(result) if note_refusal(&result, &mut methods) => return Ok(()),
                    _ => continue,
                }
            }
            // OpenSSH skips identity files that do not exist or cannot be read.
            Err(_) => continue,
        };
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(session_error)?
            .flatten();
        let result = handle
            .authenticate_publickey(&o.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(session_error)?;
        if note_refusal(&result, &mut methods) {
            return Ok(());
        }
    }
    Err(SshError::Auth {
        user: o.user.clone(),
        host: o.hostname.clone(),
        methods,
    })
}

/// How many `ProxyJump` hops (counting those a jump host's own configuration adds) are
/// followed before the chain is taken for a loop.
const MAX_JUMP_DEPTH: usize = 16;

/// The stream to the server of `o`: dialled, through its `ProxyCommand`, or through a
/// session with its jump host (`hops` jumps deep already).
fn server_stream(
    o: &SshOptions,
    hops: usize,
) -> Pin<Box<dyn Future<Output = Result<BoxedStream, SshError>> + Send + '_>> {
    Box::pin(async move {
        match &o.proxy {
            None => Ok(Box::new(dial(o).await?) as BoxedStream),
            Some(Proxy::Command(command)) => {
                Ok(Box::new(spawn_proxy_command(command)?) as BoxedStream)
            }
            Some(Proxy::Jump(spec)) => {
                let jump = o.jump_host_options(spec)?;
                if hops >= MAX_JUMP_DEPTH
                    || (jump.host == o.host && jump.port == o.port && jump.user == o.user)
                {
                    return Err(SshError::Config(format!("jumphost loop via {}", jump.host)));
                }
                let handle = authenticated_session(&jump, hops + 1).await?;
                let channel = handle
                    .channel_open_direct_tcpip(
                        o.hostname.as_str(),
                        u32::from(o.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        SshError::Session(format!(
                            "channel to {}:{} through {}: {e}",
                            o.hostname, o.port, jump.host
                        ))
                    })?;
                Ok(Box::new(jump_stream(handle, channel)) as BoxedStream)
            }
        }
    })
}

/// Reaches the server of `o` (directly or through its proxy), checks its host key and
/// authenticates.
async fn authenticated_session(
    o: &SshOptions,
    hops: usize,
) -> Result<Handle<HostKeyCheck>, SshError> {
    let stream = server_stream(o, hops).await?;
    let mut config = client::Config {
        keepalive_interval: o.keepalive,
        nodelay: true,
        ..Default::default()
    };
    let ciphers: Vec<russh::cipher::Name> = if o.ciphers.is_empty() {
        default_ciphers()
    } else {
        o.ciphers.iter().filter_map(|c| cipher_name(c)).collect()
    };
    config.preferred.cipher = std::borrow::Cow::Owned(ciphers);
    // As OpenSSH (compression_alg_list): "zlib@openssh.com,none" with Compression yes,
    // else "none,zlib@openssh.com".
    config.preferred.compression = std::borrow::Cow::Owned(if o.compression {
        vec![russh::compression::ZLIB_LEGACY, russh::compression::NONE]
    } else {
        vec![russh::compression::NONE, russh::compression::ZLIB_LEGACY]
    });
    // Ask for the kind of host key we already know, as OpenSSH does.
    let known = known_host_keys(o);
    let key_order = known.prefer_known(&config.preferred.key);
    // Certificates are asked for only where a certificate authority is recorded for the
    // host (OpenSSH asks always and checks a certificate without one as its plain key).
    if known.has_authorities() {
        config.preferred.host_key_certificates = std::borrow::Cow::Owned(key_order.clone());
    }
    config.preferred.key = std::borrow::Cow::Owned(key_order);
    let refusal = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        options: Arc::new(o.clone()),
        refusal: Arc::clone(&refusal),
    };
    let mut handle = match client::connect_stream(Arc::new(config), stream, handler).await {
        Ok(h) => h,
        Err(e) => {
            let refused = refusal.lock().ok().and_then(|mut r| r.take());
            return Err(refused
                .unwrap_or_else(|| SshError::Session(format!("{}: {e}", known_hosts_name(o)))));
        }
    };
    authenticate(&mut handle, o).await?;
    Ok(handle)
}

/// Connects, authenticates and starts `command` on an exec channel.
pub async fn open_exec_channel(
    o: &SshOptions,
    command: &str,
) -> Result<(SshSession, Channel<Msg>), SshError> {
    let handle = authenticated_session(o, 0).await?;
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| SshError::Session(format!("opening a session channel: {e}")))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| SshError::Session(format!("starting the remote command: {e}")))?;
    Ok((SshSession { handle }, channel))
}
