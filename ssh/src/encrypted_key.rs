//! An encrypted identity file offered as OpenSSH offers it: its public key first, and the
//! passphrase asked for (up to `NumberOfPasswordPrompts` times) only once the server has
//! said it would accept that key.

use std::path::{Path, PathBuf};

use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::encoding::Encode;
use russh::keys::ssh_key::private::KeypairData;
use russh::keys::ssh_key::{PrivateKey, Signature};
use russh::keys::{HashAlg, PublicKey};

use crate::passphrase::read_passphrase;

/// Why an encrypted key did not sign.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    /// No passphrase was given, or none of those given opened the key.
    #[error("no passphrase opened {0}")]
    NotUnlocked(PathBuf),
    /// The key opened but could not sign.
    #[error("signing with {0}: {1}")]
    Sign(PathBuf, String),
    /// The session went away.
    #[error(transparent)]
    Send(#[from] russh::SendError),
}

/// An identity file whose private key is encrypted.
#[derive(Debug, Clone)]
pub struct EncryptedKey {
    path: PathBuf,
    public: PublicKey,
    prompts: u32,
}

impl EncryptedKey {
    /// The key at `path` with its public half, read from the file itself (OpenSSH's format
    /// keeps it in clear) or else from `path.pub`; `None` when neither gives it.
    pub fn open(path: &Path, prompts: u32) -> Option<EncryptedKey> {
        let public = PrivateKey::read_openssh_file(path)
            .map(|k| k.public_key().clone())
            .ok()
            .or_else(|| {
                let mut pub_path = path.as_os_str().to_owned();
                pub_path.push(".pub");
                russh::keys::load_public_key(PathBuf::from(pub_path)).ok()
            })?;
        Some(EncryptedKey {
            path: path.to_path_buf(),
            public,
            prompts,
        })
    }

    /// The public key offered to the server.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Asks for the passphrase with OpenSSH's prompt until one opens the key; an empty
    /// answer gives up at once.
    async fn unlock(&self) -> Result<PrivateKey, UnlockError> {
        let prompt = format!("Enter passphrase for key '{}': ", self.path.display());
        for _ in 0..self.prompts {
            let asked = prompt.clone();
            let passphrase = tokio::task::spawn_blocking(move || read_passphrase(&asked))
                .await
                .unwrap_or_default();
            if passphrase.is_empty() {
                break;
            }
            if let Ok(key) = russh::keys::load_secret_key(&self.path, Some(&passphrase)) {
                return Ok(key);
            }
        }
        Err(UnlockError::NotUnlocked(self.path.clone()))
    }
}

/// Signs `data` with `key` (RSA with the negotiated hash) and returns the SSH signature blob.
fn signature_blob(key: &PrivateKey, hash: Option<HashAlg>, data: &[u8]) -> Result<Vec<u8>, String> {
    use signature::Signer;
    let signature: Signature = match key.key_data() {
        KeypairData::Rsa(rsa) => Signer::try_sign(&(rsa, hash), data),
        other => other.try_sign(data),
    }
    .map_err(|e| e.to_string())?;
    signature.encode_vec().map_err(|e| e.to_string())
}

impl russh::Signer for EncryptedKey {
    type Error = UnlockError;

    #[allow(clippy::manual_async_fn)]
    fn auth_sign(
        &mut self,
        _key: &AgentIdentity,
        hash_alg: Option<HashAlg>,
        mut to_sign: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        async move {
            let key = self.unlock().await?;
            let blob = signature_blob(&key, hash_alg, &to_sign)
                .map_err(|e| UnlockError::Sign(self.path.clone(), e))?;
            // The request is the signed data followed by the signature as an SSH string.
            blob.as_slice()
                .encode(&mut to_sign)
                .map_err(|e| UnlockError::Sign(self.path.clone(), e.to_string()))?;
            Ok(to_sign)
        }
    }
}
