//! [`VersionStore`] in SQL: the `function_versions` table, rows of `functions` as they stood.
//! The statements that write versions as functions change are here too, for
//! [`crate::FunctionStore`]'s transactions.

use async_trait::async_trait;
use nova_api::FunctionVersion;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::functions::read_row;
use super::row::COLUMNS;
use crate::{Kind, StoreError, VersionQuery, VersionStore};

/// Records the function's current row as its version, described by `description`.
pub(super) async fn record(
    conn: &mut AnyConnection,
    name: &str,
    description: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO function_versions ({COLUMNS}, description) \
         SELECT {COLUMNS}, $1 FROM functions WHERE name = $2"
    );
    sqlx::query(&sql)
        .bind(description.to_string())
        .bind(name.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets every version of `name` (the function is deleted, or is registered anew and any
/// left by an older daemon must not be taken for its own).
pub(super) async fn forget(conn: &mut AnyConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM function_versions WHERE name = $1")
        .bind(name.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A version's `created_at` is when the version was made (the row's `updated_at`), not when the
/// function was first registered: that is what a list of versions shows.
fn read_version(row: &AnyRow) -> Result<FunctionVersion, StoreError> {
    let mut function = read_row(row)?;
    function.created_at = function.updated_at.clone();
    Ok(FunctionVersion {
        function,
        description: row.try_get("description")?,
    })
}

#[async_trait]
impl VersionStore for SqlStore {
    async fn list_versions(
        &self,
        function: &str,
        query: &VersionQuery,
    ) -> Result<Vec<FunctionVersion>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, description FROM function_versions WHERE name = $1 \
             ORDER BY version DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(function.to_string())
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_version).collect()
    }

    async fn get_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>, StoreError> {
        let Ok(number) = i64::try_from(number) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {COLUMNS}, description FROM function_versions \
             WHERE name = $1 AND version = $2"
        );
        let row = sqlx::query(&sql)
            .bind(function.to_string())
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| read_version(&r)).transpose()
    }

    async fn publish_version(
        &self,
        function: &str,
        description: &str,
    ) -> Result<FunctionVersion, StoreError> {
        let mut tx = self.writer.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM functions WHERE name = $1")
                .bind(function.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Err(StoreError::not_found(Kind::Function, function));
        };
        let described = sqlx::query(
            "UPDATE function_versions SET description = $1 \
             WHERE name = $2 AND version = $3 AND description = ''",
        )
        .bind(description.to_string())
        .bind(function.to_string())
        .bind(current)
        .execute(&mut *tx)
        .await?;
        if described.rows_affected() == 0 {
            let sql = "SELECT version FROM function_versions WHERE name = $1 AND version = $2";
            let exists: Option<i64> = sqlx::query_scalar(sql)
                .bind(function.to_string())
                .bind(current)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                record(&mut tx, function, description).await?;
            }
        }
        let sql = format!(
            "SELECT {COLUMNS}, description FROM function_versions \
             WHERE name = $1 AND version = $2"
        );
        let row = sqlx::query(&sql)
            .bind(function.to_string())
            .bind(current)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        read_version(&row)
    }
}
