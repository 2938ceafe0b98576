//! Encryption of stored secrets (LLM-connection API keys): AES-256-GCM with a random 96-bit
//! nonce per value, under a key derived (HMAC-SHA256 with a fixed context) from the server
//! secret: `XTRACE_ENCRYPTION_KEY`, or a random secret generated once into
//! `<data_dir>/encryption.key` (mode 0600). Stored form: `v1:` + base64(nonce ‖ ciphertext).

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;

const PREFIX: &str = "v1:";
const KEY_FILE: &str = "encryption.key";
const CONTEXT: &[u8] = b"xtrace llm-connection secrets v1";

/// A ready cipher for stored secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A cipher keyed from `secret`.
    pub fn from_secret(secret: &str) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(CONTEXT);
        let key = mac.finalize().into_bytes();
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// The cipher of this server: the configured secret, else the data dir's key file
    /// (created with a fresh random secret on first use; a concurrent creator's file wins).
    pub fn for_config(config: &Config) -> anyhow::Result<Self> {
        if let Some(s) = &config.encryption_key {
            return Ok(Self::from_secret(s.expose()));
        }
        Ok(Self::from_secret(&key_file_secret(&config.data_dir)?))
    }

    /// `v1:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The plaintext of a sealed value; `None` when it was sealed under another key or is
    /// corrupt.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(PREFIX)?)
            .ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = self.cipher.decrypt(Nonce::from_slice(nonce), ct).ok()?;
        String::from_utf8(pt).ok()
    }
}

fn key_file_secret(dir: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(KEY_FILE);
    if let Ok(s) = std::fs::read_to_string(&path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let secret = hex::encode(bytes);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_the_same_secret() {
        let a = SecretBox::from_secret("server secret a");
        let sealed = a.seal("sk-provider-123456");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("sk-provider"));
        assert_ne!(
            sealed,
            a.seal("sk-provider-123456"),
            "fresh nonce per value"
        );
        assert_eq!(a.open(&sealed).as_deref(), Some("sk-provider-123456"));
        assert_eq!(SecretBox::from_secret("other").open(&sealed), None);
        assert_eq!(a.open("v1:AAAA"), None);
        assert_eq!(a.open("plain"), None);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("xtrace-enc-{}", uuid::Uuid::new_v4()));
        let first = key_file_secret(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(key_file_secret(&dir).unwrap(), first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
