//! [`SecretStore`] in SQL: the `secrets` table.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::{SecretRecord, SecretStore, StoreError};

#[async_trait]
impl SecretStore for SqlStore {
    async fn put_secret(&self, secret: &SecretRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(secret.name.clone())
        .bind(secret.nonce.clone())
        .bind(secret.ciphertext.clone())
        .bind(secret.created_at)
        .bind(secret.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT name, nonce, ciphertext, created_at, updated_at FROM secrets WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| read_secret(&r)).transpose()?)
    }

    async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, nonce, ciphertext, created_at, updated_at FROM secrets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(read_secret).collect::<Result<_, _>>()?)
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn read_secret(row: &AnyRow) -> Result<SecretRecord, sqlx::Error> {
    Ok(SecretRecord {
        name: row.try_get(0)?,
        nonce: row.try_get(1)?,
        ciphertext: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}
