//! [`FunctionStore`] in SQL: the `functions` table and the code they use in `code_blobs`. Each
//! write records the function's new state in `function_versions` in the same transaction; a
//! delete takes the function's versions and aliases with it.

use async_trait::async_trait;
use nova_api::Function;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Connection as _, Row as _};

use super::row::{COLUMNS, Row};
use super::{SqlStore, aliases, placeholders, queue, schedules, versions};
use crate::{FunctionStore, Kind, ListQuery, StoreError};

impl SqlStore {
    async fn put_code(
        conn: &mut AnyConnection,
        hash: &str,
        code: &[u8],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO code_blobs (hash, data, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(code.to_vec())
        .bind(comet_util::now_ms())
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn drop_unused_code(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM code_blobs WHERE hash NOT IN (SELECT code_hash FROM functions) \
             AND hash NOT IN (SELECT code_hash FROM function_versions)",
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

fn column_count() -> usize {
    COLUMNS.split(", ").count()
}

#[async_trait]
impl FunctionStore for SqlStore {
    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError> {
        let row = Row::from_function(function)?;
        let mut tx = self.writer.begin().await?;
        Self::put_code(&mut tx, &row.code_hash, code).await?;
        let values = placeholders(1, column_count()).join(", ");
        let sql = format!("INSERT INTO functions ({COLUMNS}) VALUES ({values})");
        let inserted = bind_row(sqlx::query(&sql), &row).execute(&mut *tx).await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::already_exists(Kind::Function, &function.name));
            }
            other => other?,
        };
        versions::forget(&mut tx, &function.name).await?;
        aliases::forget(&mut tx, &function.name).await?;
        schedules::forget(&mut tx, &function.name).await?;
        versions::record(&mut tx, &function.name, "").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn replace_function(
        &self,
        function: &Function,
        code: Option<&[u8]>,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let row = Row::from_function(function)?;
        let mut tx = self.writer.begin().await?;
        if let Some(code) = code {
            Self::put_code(&mut tx, &row.code_hash, code).await?;
        }
        let n = column_count();
        let assignments = COLUMNS
            .split(", ")
            .zip(placeholders(1, n))
            .map(|(c, p)| format!("{c} = {p}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE functions SET {assignments} WHERE name = ${} AND version = ${}",
            n + 1,
            n + 2
        );
        let done = bind_row(sqlx::query(&sql), &row)
            .bind(function.name.clone())
            .bind(expected_version as i64)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM functions WHERE name = $1")
                    .bind(function.name.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::conflict(Kind::Function, &function.name),
                None => StoreError::not_found(Kind::Function, &function.name),
            });
        }
        versions::record(&mut tx, &function.name, "").await?;
        Self::drop_unused_code(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM functions WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| read_row(&r)).transpose()
    }

    async fn list_functions(&self, query: &ListQuery) -> Result<Vec<Function>, StoreError> {
        let pattern = format!(
            "%{}%",
            query
                .search
                .as_deref()
                .unwrap_or("")
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let sql = format!(
            "SELECT {COLUMNS} FROM functions WHERE lower(name) LIKE $1 ESCAPE '\\' \
             ORDER BY name LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(pattern)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_row).collect()
    }

    async fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = sqlx::query("DELETE FROM functions WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?;
        versions::forget(&mut tx, name).await?;
        aliases::forget(&mut tx, name).await?;
        schedules::forget(&mut tx, name).await?;
        queue::forget(&mut tx, name).await?;
        Self::drop_unused_code(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data FROM code_blobs WHERE hash = $1")
                .bind(hash.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

fn bind_row<'q>(q: Query<'q>, r: &Row) -> Query<'q> {
    q.bind(r.id.clone())
        .bind(r.name.clone())
        .bind(r.runtime.clone())
        .bind(r.handler.clone())
        .bind(r.mode.clone())
        .bind(r.network.clone())
        .bind(r.memory_mb)
        .bind(r.timeout_s)
        .bind(r.min_replicas)
        .bind(r.max_replicas)
        .bind(r.instance_concurrency)
        .bind(r.env_vars.clone())
        .bind(r.limits.clone())
        .bind(r.version)
        .bind(r.code_hash.clone())
        .bind(r.code_size)
        .bind(r.created_at)
        .bind(r.updated_at)
}

pub(super) fn read_row(row: &AnyRow) -> Result<Function, StoreError> {
    Row {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        runtime: row.try_get("runtime")?,
        handler: row.try_get("handler")?,
        mode: row.try_get("mode")?,
        network: row.try_get("network")?,
        memory_mb: row.try_get("memory_mb")?,
        timeout_s: row.try_get("timeout_s")?,
        min_replicas: row.try_get("min_replicas")?,
        max_replicas: row.try_get("max_replicas")?,
        instance_concurrency: row.try_get("instance_concurrency")?,
        env_vars: row.try_get("env_vars")?,
        limits: row.try_get("limits")?,
        version: row.try_get("version")?,
        code_hash: row.try_get("code_hash")?,
        code_size: row.try_get("code_size")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    }
    .into_function()
}
