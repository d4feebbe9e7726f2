//! [`AliasStore`] in SQL: the `function_aliases` table. Writing an alias checks, in the same
//! transaction, that the function and every version it points at exist.

use async_trait::async_trait;
use comet_util::rfc3339;
use nova_api::FunctionAlias;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use crate::{AliasStore, Kind, StoreError};

const COLUMNS: &str = "function_name, name, version, routing, description, created_at, updated_at";

/// Forgets every alias of `function` (deleted, or registered anew over an older daemon's rows).
pub(super) async fn forget(conn: &mut AnyConnection, function: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM function_aliases WHERE function_name = $1")
        .bind(function.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn read_alias(row: &AnyRow) -> Result<FunctionAlias, StoreError> {
    let name: String = row.try_get("name")?;
    let routing: String = row.try_get("routing")?;
    let routing = serde_json::from_str(&routing)
        .map_err(|e| StoreError::Corrupt(format!("alias '{name}': routing: {e}")))?;
    let version: i64 = row.try_get("version")?;
    Ok(FunctionAlias {
        function: row.try_get("function_name")?,
        version: version as u64,
        routing,
        description: row.try_get("description")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
        name,
    })
}

#[async_trait]
impl AliasStore for SqlStore {
    async fn put_alias(
        &self,
        alias: &FunctionAlias,
        replace: bool,
    ) -> Result<FunctionAlias, StoreError> {
        let routing = serde_json::to_string(&alias.routing)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.writer.begin().await?;
        let function: Option<i64> =
            sqlx::query_scalar("SELECT version FROM functions WHERE name = $1")
                .bind(alias.function.clone())
                .fetch_optional(&mut *tx)
                .await?;
        if function.is_none() {
            return Err(StoreError::not_found(Kind::Function, &alias.function));
        }
        for version in alias.versions() {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM function_versions WHERE name = $1 AND version = $2",
            )
            .bind(alias.function.clone())
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(StoreError::not_found(Kind::Version, version.to_string()));
            }
        }
        let now = comet_util::now_ms();
        let on_conflict = if replace {
            "DO UPDATE SET version = excluded.version, routing = excluded.routing, \
             description = excluded.description, updated_at = excluded.updated_at"
        } else {
            "DO NOTHING"
        };
        let sql = format!(
            "INSERT INTO function_aliases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (function_name, name) {on_conflict}"
        );
        let done = sqlx::query(&sql)
            .bind(alias.function.clone())
            .bind(alias.name.clone())
            .bind(alias.version as i64)
            .bind(routing)
            .bind(alias.description.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::already_exists(Kind::Alias, &alias.name));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM function_aliases WHERE function_name = $1 AND name = $2"
        );
        let row = sqlx::query(&sql)
            .bind(alias.function.clone())
            .bind(alias.name.clone())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        read_alias(&row)
    }

    async fn get_alias(
        &self,
        function: &str,
        name: &str,
    ) -> Result<Option<FunctionAlias>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM function_aliases WHERE function_name = $1 AND name = $2"
        );
        let row = sqlx::query(&sql)
            .bind(function.to_string())
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| read_alias(&r)).transpose()
    }

    async fn list_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM function_aliases WHERE function_name = $1 ORDER BY name"
        );
        let rows = sqlx::query(&sql)
            .bind(function.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_alias).collect()
    }

    async fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM function_aliases WHERE function_name = $1 AND name = $2")
                .bind(function.to_string())
                .bind(name.to_string())
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
