//! Secrets as stored: encrypted by Nova before they get here; the store never sees a value.

use async_trait::async_trait;

use crate::StoreError;

/// Encrypted secrets, by name. Errors about a secret carry [`crate::Kind::Secret`].
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Creates or replaces an encrypted secret (a replaced one keeps its `created_at`).
    async fn put_secret(&self, secret: &SecretRecord) -> Result<(), StoreError>;

    /// The secret called `name`, if there is one.
    async fn get_secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError>;

    /// Every secret, by name, without decrypting any.
    async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError>;

    /// Removes a secret; false if there was none.
    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError>;
}

/// A secret as stored: encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// The name functions refer to it by.
    pub name: String,
    /// The nonce it was encrypted with.
    pub nonce: Vec<u8>,
    /// The encrypted value.
    pub ciphertext: Vec<u8>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}
