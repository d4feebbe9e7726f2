//! Secrets: values a function's env can name as `$SECRET:name`, resolved only when Nova builds
//! the spec it hands the data plane, so `get`, listings, logs and errors only ever show the
//! reference. Stored encrypted with AES-256-GCM under a master key that is never stored with
//! them: `NOVA_MASTER_KEY` (base64 of 32 bytes), else the file `NOVA_MASTER_KEY_FILE` /
//! `secrets.master_key_file`, else `<data dir>/master.key`, created (mode 0600) on first use.
//!
//! Daemons sharing a store must share the key too. The store keeps a check value (a constant
//! encrypted under the key, written by the first daemon) and [`check_master_key`] refuses a key
//! that cannot read it, before a daemon with the wrong key starts storing secrets others cannot
//! read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use nova_store::{SecretRecord, SecretStore, SettingStore, StoreError};
use thiserror::Error;

use crate::logs::now_ms;

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
    /// This daemon's master key is not the one the store's secrets are encrypted under.
    #[error(
        "the master key {source_of_key} is not the one this store's secrets are encrypted with: \
         daemons sharing a store need the same master key. Copy the master.key of a daemon \
         already using this store (<its data dir>/master.key) to {path}, or point \
         secrets.master_key_file / NOVA_MASTER_KEY_FILE at a copy, or set NOVA_MASTER_KEY to \
         its contents; then start again"
    )]
    WrongMasterKey { source_of_key: String, path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The setting that holds the check value.
pub const MASTER_KEY_CHECK: &str = "master_key_check";
/// What the check value encrypts.
const CHECK_PLAINTEXT: &[u8] = b"nova master key check v1";

/// A loaded master key and where it came from.
#[derive(Clone)]
pub struct MasterKey {
    pub key: [u8; 32],
    /// For messages: `NOVA_MASTER_KEY` or the file's path.
    pub source: String,
    /// The file it lives in, if any.
    pub path: Option<PathBuf>,
    /// Whether this run created that file (it is removed again if the key is refused).
    pub created: bool,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey {{ source: {:?}, .. }}", self.source)
    }
}

/// Checks `key` against the store's check value, writing one if there is none yet (after
/// making sure the key reads a stored secret, for stores older than the check value). A refused
/// key that this run created is removed, so a retry with the right key is not confused by it.
///
/// `shared`: other daemons may use the store (Postgres), so a key that cannot read the check
/// value is refused whatever the store holds. A store of one daemon's own (SQLite in its data
/// directory) that holds no secrets takes the new key instead: nothing is lost.
pub async fn check_master_key(
    secrets: &dyn SecretStore,
    settings: &dyn SettingStore,
    key: &MasterKey,
    shared: bool,
) -> Result<(), SecretError> {
    let result = check(secrets, settings, key, shared).await;
    if let (Ok(()), Some(path), true) = (&result, &key.path, key.created) {
        tracing::info!(path = %path.display(), "created the master key for secrets: back it up");
    }
    if let (Err(SecretError::WrongMasterKey { .. }), Some(path), true) =
        (&result, &key.path, key.created)
        && let Err(e) = std::fs::remove_file(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the refused master key");
    }
    result
}

async fn check(
    secrets: &dyn SecretStore,
    settings: &dyn SettingStore,
    key: &MasterKey,
    shared: bool,
) -> Result<(), SecretError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.key));
    let refused = || SecretError::WrongMasterKey {
        source_of_key: key.source.clone(),
        path: key
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "this daemon's key file".into()),
    };
    let stored = match settings.setting(MASTER_KEY_CHECK).await? {
        Some(stored) => stored,
        None => {
            // A store from before check values: the key must read its secrets.
            if let Some(secret) = secrets.list_secrets().await?.first()
                && decrypt(&cipher, secret).is_none()
            {
                return Err(refused());
            }
            settings
                .init_setting(MASTER_KEY_CHECK, &seal(&cipher)?)
                .await?
        }
    };
    let opened = base64::engine::general_purpose::STANDARD
        .decode(stored.trim())
        .ok()
        .filter(|bytes| bytes.len() > 12)
        .and_then(|bytes| {
            cipher
                .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
                .ok()
        });
    match opened {
        Some(plain) if plain == CHECK_PLAINTEXT => Ok(()),
        _ if !shared && secrets.list_secrets().await?.is_empty() => {
            tracing::warn!(
                key = %key.source,
                "the master key is not the one this store last used; it holds no secrets, so \
                 the new key is kept"
            );
            settings
                .put_setting(MASTER_KEY_CHECK, &seal(&cipher)?)
                .await?;
            Ok(())
        }
        _ => Err(refused()),
    }
}

/// A check value: the constant, encrypted under `cipher`'s key, after its nonce, in base64.
fn seal(cipher: &Aes256Gcm) -> Result<String, SecretError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(&nonce, CHECK_PLAINTEXT)
        .map_err(|_| SecretError::MasterKey("encryption failed".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &sealed].concat()))
}

fn decrypt(cipher: &Aes256Gcm, record: &SecretRecord) -> Option<Vec<u8>> {
    if record.nonce.len() != 12 {
        return None;
    }
    let payload = Payload {
        msg: &record.ciphertext,
        aad: record.name.as_bytes(),
    };
    cipher
        .decrypt(Nonce::from_slice(&record.nonce), payload)
        .ok()
}

pub struct Secrets {
    store: Arc<dyn SecretStore>,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Reads (or, for the default file, creates) the master key: `inline` (NOVA_MASTER_KEY, through
/// the config layer) when given, else `file`, else `<data_dir>/master.key`, created on first use.
/// Says where the key came from and whether this call created its file.
pub fn load_master_key(
    inline: Option<&str>,
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<MasterKey, SecretError> {
    let bad = |m: String| SecretError::MasterKey(m);
    if let Some(text) = inline {
        let key = decode_key(text.trim()).map_err(|m| bad(format!("NOVA_MASTER_KEY: {m}")))?;
        return Ok(MasterKey {
            key,
            source: "from NOVA_MASTER_KEY".into(),
            path: None,
            created: false,
        });
    }
    let (path, create) = match file {
        Some(p) => (p.to_path_buf(), false),
        None => (data_dir.join("master.key"), true),
    };
    let (key, created) = match std::fs::read_to_string(&path) {
        Ok(text) => (
            decode_key(text.trim()).map_err(|m| bad(format!("{}: {m}", path.display())))?,
            false,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => (create_key(&path)?, true),
        Err(e) => return Err(bad(format!("{}: {e}", path.display()))),
    };
    Ok(MasterKey {
        key,
        source: format!("in {}", path.display()),
        path: Some(path),
        created,
    })
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
    Ok(key)
}

impl Secrets {
    pub fn new(store: Arc<dyn SecretStore>, key: [u8; 32]) -> Secrets {
        Secrets {
            store,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    pub async fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        nova_api::validate_name(name).map_err(|e| SecretError::Invalid(e.to_string()))?;
        if value.contains('\0') {
            return Err(SecretError::Invalid(
                "a value may not contain NUL characters".into(),
            ));
        }
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
