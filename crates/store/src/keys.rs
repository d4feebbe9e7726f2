//! API keys as stored: the records nova-keys defines, and the mark that a key has ever existed.

use async_trait::async_trait;

pub use nova_keys::ApiKeyRecord;

use crate::StoreError;

/// API key records, and whether keys are required.
///
/// Adding the first key marks the store as one whose API needs a key, in the same transaction,
/// and the mark is never removed: an API whose keys have all expired or been deleted stays
/// closed. Errors about a key carry [`crate::Kind::ApiKey`].
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Adds a key; `AlreadyExists` if its name is taken.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Every key, by name (the query comet workers read too).
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Marks a key revoked at `at_ms`; false if there is no such key, or it is revoked already.
    async fn revoke_api_key(&self, name: &str, at_ms: i64) -> Result<bool, StoreError>;

    /// Removes a key; false if there was none.
    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError>;

    /// Rewrites the key with `key.id` (name, scopes, expiry, revocation); false if there is no
    /// such key, `AlreadyExists` if the new name is taken.
    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;

    /// Whether an API key has ever existed here (marked with the first, never unmarked).
    async fn keys_required(&self) -> Result<bool, StoreError>;
}
