//! [`PackageStore`] in SQL: the `packages` table, each package one JSON document.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::StoreError;
use crate::packages::{PackageRecord, PackageStore};

const COLUMNS: &str = "name, version, document, created_at, updated_at";

fn read(row: &AnyRow) -> Result<PackageRecord, StoreError> {
    let name: String = row.try_get("name")?;
    let document: String = row.try_get("document")?;
    Ok(PackageRecord {
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(format!("package '{name}': {e}")))?,
        version: row.try_get("version")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        name,
    })
}

#[async_trait]
impl PackageStore for SqlStore {
    async fn put_package(&self, package: &PackageRecord) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let existed: Option<String> =
            sqlx::query_scalar("SELECT name FROM packages WHERE name = $1")
                .bind(package.name.clone())
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO packages (name, version, document, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             version = excluded.version, document = excluded.document, \
             updated_at = excluded.updated_at",
        )
        .bind(package.name.clone())
        .bind(package.version.clone())
        .bind(package.document.to_string())
        .bind(package.created_at_ms)
        .bind(package.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(existed.is_none())
    }

    async fn get_package(&self, name: &str) -> Result<Option<PackageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM packages WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| read(&r)).transpose()
    }

    async fn list_packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM packages ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(read).collect()
    }

    async fn delete_package(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM packages WHERE name = $1")
            .bind(name.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
