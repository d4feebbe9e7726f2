//! [`SettingStore`] in SQL: the `nova_settings` table.

use async_trait::async_trait;

use super::{INIT_SETTING, SqlStore};
use crate::{SettingStore, StoreError};

#[async_trait]
impl SettingStore for SqlStore {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM nova_settings WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(INIT_SETTING)
            .bind(name.to_string())
            .bind(value.to_string())
            .execute(&self.writer)
            .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {name} vanished")))
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nova_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name.to_string())
        .bind(value.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
