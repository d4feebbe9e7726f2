//! The embedded default store: one SQLite file in the data directory, in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use nova_api::Function;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row as _};

use super::migrate::{CREATE_LEDGER, MIGRATIONS};
use super::record::{COLUMNS, Row};
use super::{ListQuery, Store, StoreError};

/// Functions and code in `<data dir>/nova.db`.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies migrations not yet recorded, under an immediate (write) lock so that two
    /// processes starting together do not both apply one.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::raw_sql(CREATE_LEDGER).execute(&mut *conn).await?;
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = async {
            let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM nova_migrations")
                .fetch_all(&mut *conn)
                .await?;
            for (version, name, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                tracing::info!(version, name, "applying migration");
                sqlx::raw_sql(sql).execute(&mut *conn).await?;
                sqlx::query(
                    "INSERT INTO nova_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                )
                .bind(version)
                .bind(name)
                .bind(unix_millis())
                .execute(&mut *conn)
                .await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::raw_sql(end).execute(&mut *conn).await?;
        result?;
        Ok(())
    }

    async fn put_code(
        conn: &mut sqlx::SqliteConnection,
        hash: &str,
        code: &[u8],
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO code_blobs (hash, data, created_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING")
            .bind(hash)
            .bind(code)
            .bind(unix_millis())
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn drop_unused_code(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM code_blobs WHERE hash NOT IN (SELECT code_hash FROM functions)")
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError> {
        let row = Row::from_function(function)?;
        let mut tx = self.pool.begin().await?;
        Self::put_code(&mut tx, &row.code_hash, code).await?;
        let sql = format!(
            "INSERT INTO functions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let inserted = bind_row(sqlx::query(&sql), &row).execute(&mut *tx).await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::AlreadyExists(function.name.clone()));
            }
            other => other?,
        };
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
        let mut tx = self.pool.begin().await?;
        if let Some(code) = code {
            Self::put_code(&mut tx, &row.code_hash, code).await?;
        }
        let assignments = COLUMNS
            .split(", ")
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("UPDATE functions SET {assignments} WHERE name = ? AND version = ?");
        let done = bind_row(sqlx::query(&sql), &row)
            .bind(&function.name)
            .bind(expected_version as i64)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM functions WHERE name = ?")
                    .bind(&function.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::Conflict(function.name.clone()),
                None => StoreError::NotFound(function.name.clone()),
            });
        }
        Self::drop_unused_code(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM functions WHERE name = ?");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(read_row).transpose()
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
            "SELECT {COLUMNS} FROM functions WHERE lower(name) LIKE ? ESCAPE '\\' ORDER BY name LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(pattern)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(read_row).collect()
    }

    async fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = sqlx::query("DELETE FROM functions WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        Self::drop_unused_code(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data FROM code_blobs WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_row<'q>(q: Query<'q>, r: &'q Row) -> Query<'q> {
    q.bind(&r.id)
        .bind(&r.name)
        .bind(&r.runtime)
        .bind(&r.handler)
        .bind(&r.mode)
        .bind(&r.network)
        .bind(r.memory_mb)
        .bind(r.timeout_s)
        .bind(r.min_replicas)
        .bind(r.max_replicas)
        .bind(r.instance_concurrency)
        .bind(&r.env_vars)
        .bind(&r.limits)
        .bind(r.version)
        .bind(&r.code_hash)
        .bind(r.code_size)
        .bind(r.created_at)
        .bind(r.updated_at)
}

fn read_row(row: SqliteRow) -> Result<Function, StoreError> {
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

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}
