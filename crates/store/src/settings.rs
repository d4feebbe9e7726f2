//! The store's own settings: small facts every daemon sharing the store must agree on.

use async_trait::async_trait;

use crate::StoreError;

/// Named values in the store (the `nova_settings` migration lists them: whether keys are
/// required, the Redis cache's MAC key, the master key's check value).
#[async_trait]
pub trait SettingStore: Send + Sync + 'static {
    /// The value of setting `name`, if there is one.
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `name` unless a value is there already; the value that is there
    /// after, so daemons racing to initialise a setting all agree on the first.
    async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;

    /// Stores `value` under `name`, replacing what is there.
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;
}
