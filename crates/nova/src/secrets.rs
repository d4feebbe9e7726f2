//! Secrets: values a function's env can name as `$SECRET:name`, resolved only when Nova builds
//! the spec it hands the data plane, so `get`, listings, logs and errors only ever show the
//! reference. Stored encrypted with AES-256-GCM under a master key that is never stored with
//! them: `NOVA_MASTER_KEY` (base64 of 32 bytes), else the file `NOVA_MASTER_KEY_FILE` /
//! `secrets.master_key_file`, else `<data dir>/master.key`, created (mode 0600) on first use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use thiserror::Error;

use crate::logs::now_ms;
use crate::store::{SecretRecord, Store, StoreError};

/// How an env value refers to a secret.
pub const REFERENCE: &str = "$SECRET:";
/// Largest secret value.
pub const MAX_SECRET: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("no secret named '{0}'")]
    NotFound(String),
    #[error("invalid secret: {0}")]
    Invalid(String),
    #[error("the master key: {0}")]
    MasterKey(String),
    /// Wrong master key, or a tampered record: the value is never shown either way.
    #[error("secret '{0}' cannot be decrypted with this master key")]
    Undecryptable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Secrets {
    store: Arc<dyn Store>,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Reads (or, for the default file, creates) the master key.
pub fn master_key(file: Option<&Path>, data_dir: &Path) -> Result<[u8; 32], SecretError> {
    let bad = |m: String| SecretError::MasterKey(m);
    if let Ok(text) = std::env::var("NOVA_MASTER_KEY") {
        return decode_key(text.trim()).map_err(|m| bad(format!("NOVA_MASTER_KEY: {m}")));
    }
    let (path, create) = match file {
        Some(p) => (p.to_path_buf(), false),
        None => (data_dir.join("master.key"), true),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_key(text.trim()).map_err(|m| bad(format!("{}: {m}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => create_key(&path),
        Err(e) => Err(bad(format!("{}: {e}", path.display()))),
    }
}

fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("not base64: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| "must be 32 bytes (base64 of 32 random bytes)".to_string())
}

fn create_key(path: &PathBuf) -> Result<[u8; 32], SecretError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key: [u8; 32] = Aes256Gcm::generate_key(OsRng).into();
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SecretError::MasterKey(format!("creating {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| SecretError::MasterKey(format!("writing {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "created the master key for secrets: back it up");
    Ok(key)
}

impl Secrets {
    pub fn new(store: Arc<dyn Store>, key: [u8; 32]) -> Secrets {
        Secrets {
            store,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    pub async fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        nova_api::validate_name(name).map_err(|e| SecretError::Invalid(e.to_string()))?;
        if value.len() > MAX_SECRET {
            return Err(SecretError::Invalid(format!(
                "a value is at most {MAX_SECRET} bytes"
            )));
        }
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: value.as_bytes(),
            aad: name.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| SecretError::Invalid("encryption failed".into()))?;
        let now = now_ms();
        let created_at = match self.store.get_secret(name).await? {
            Some(old) => old.created_at,
            None => now,
        };
        self.store
            .put_secret(&SecretRecord {
                name: name.to_string(),
                nonce: nonce.to_vec(),
                ciphertext,
                created_at,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    pub async fn get(&self, name: &str) -> Result<String, SecretError> {
        let record = self
            .store
            .get_secret(name)
            .await?
            .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
        if record.nonce.len() != 12 {
            return Err(SecretError::Undecryptable(name.to_string()));
        }
        let payload = Payload {
            msg: &record.ciphertext,
            aad: name.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&record.nonce), payload)
            .map_err(|_| SecretError::Undecryptable(name.to_string()))?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable(name.to_string()))
    }

    /// Names and times, never values.
    pub async fn list(&self) -> Result<Vec<SecretRecord>, SecretError> {
        Ok(self.store.list_secrets().await?)
    }

    pub async fn delete(&self, name: &str) -> Result<bool, SecretError> {
        Ok(self.store.delete_secret(name).await?)
    }

    /// `env` with every `$SECRET:name` value replaced by the secret.
    pub async fn resolve(
        &self,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<std::collections::BTreeMap<String, String>, SecretError> {
        let mut out = env.clone();
        for value in out.values_mut() {
            if let Some(name) = value.strip_prefix(REFERENCE) {
                *value = self.get(name).await?;
            }
        }
        Ok(out)
    }
}

/// Whether `env` refers to secret `name`.
pub fn refers_to(env: &std::collections::BTreeMap<String, String>, name: &str) -> bool {
    env.values()
        .any(|v| v.strip_prefix(REFERENCE) == Some(name))
}
