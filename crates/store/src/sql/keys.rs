//! [`KeyStore`] in SQL: the `api_keys` table, read through nova-keys' queries (the ones comet
//! workers use too), and the `keys_required` setting a first key leaves behind.

use async_trait::async_trait;

use super::{INIT_SETTING, SqlStore};
use crate::{ApiKeyRecord, KeyStore, Kind, StoreError};

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        // The key and the mark that keys are required, together: no moment has one without the
        // other.
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "INSERT INTO api_keys (id, name, digest, scopes, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.id.clone())
        .bind(k.name.clone())
        .bind(k.digest.clone())
        .bind(k.scopes.clone())
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .execute(&mut *tx)
        .await;
        match done {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::already_exists(Kind::ApiKey, &k.name));
            }
            other => other.map(|_| ())?,
        }
        sqlx::query(INIT_SETTING)
            .bind(nova_keys::sql::KEYS_REQUIRED)
            .bind("1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(nova_keys::sql::list(&self.pool).await?)
    }

    async fn revoke_api_key(&self, name: &str, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(at_ms)
        .bind(name.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE name = $1")
            .bind(name.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_api_key(&self, k: &ApiKeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET name = $1, scopes = $2, expires_at = $3, revoked_at = $4 \
             WHERE id = $5",
        )
        .bind(k.name.clone())
        .bind(k.scopes.clone())
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .bind(k.id.clone())
        .execute(&self.writer)
        .await;
        match done {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::already_exists(Kind::ApiKey, &k.name))
            }
            other => Ok(other?.rows_affected() > 0),
        }
    }

    async fn keys_required(&self) -> Result<bool, StoreError> {
        Ok(nova_keys::sql::required(&self.pool).await?)
    }
}
