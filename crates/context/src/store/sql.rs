//! [`ContextStore`] in SQL, through sqlx's `Any` driver: the same statements on SQLite and
//! Postgres (`$n` placeholders, `ON CONFLICT`), so neither can drift from the other.

use std::path::Path;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::{ContextStore, Selection, StoreError};
use crate::entry::{Entry, EntryId};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS context_entries (
        context_id  TEXT NOT NULL,
        family      TEXT NOT NULL,
        entry_key   TEXT NOT NULL,
        read_token  TEXT NOT NULL,
        write_token TEXT NOT NULL,
        value       TEXT NOT NULL,
        last_access BIGINT NOT NULL,
        PRIMARY KEY (context_id, family, entry_key)
    )",
    "CREATE INDEX IF NOT EXISTS context_entries_last_access ON context_entries (last_access)",
];

const COLUMNS: &str = "context_id, family, entry_key, read_token, write_token, value, last_access";

pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    /// The embedded store: a SQLite file (WAL), created if missing.
    pub async fn sqlite(path: &Path) -> Result<SqlStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(e.into()))?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqlStore::connect(&url, 4).await?;
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&store.pool)
            .await?;
        Ok(store)
    }

    /// A Postgres store shared by several heads (`postgres://user@host/db`).
    pub async fn postgres(dsn: &str) -> Result<SqlStore, StoreError> {
        SqlStore::connect(dsn, 16).await
    }

    async fn connect(url: &str, connections: u32) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        sqlx::query("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000")
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        create_schema(&pool).await?;
        Ok(SqlStore { pool })
    }
}

impl SqlStore {
    /// Every entry (the embedded store loads them at start).
    pub async fn all(&self) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM context_entries");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
    }
}

/// Creates the table if missing. Two heads starting at once can race on Postgres's catalog
/// (`CREATE TABLE IF NOT EXISTS` is not atomic there): the loser tries again.
async fn create_schema(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        let mut result = Ok(());
        for statement in SCHEMA {
            result = sqlx::query(statement).execute(pool).await.map(|_| ());
            if result.is_err() {
                break;
            }
        }
        match result {
            Err(_) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
            }
            other => return other,
        }
    }
}

fn entry(row: &AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        id: EntryId {
            context_id: row.try_get(0)?,
            family: row.try_get(1)?,
            key: row.try_get(2)?,
        },
        read_token: row.try_get(3)?,
        write_token: row.try_get(4)?,
        value: row.try_get(5)?,
        last_access: row.try_get(6)?,
    })
}

#[async_trait]
impl ContextStore for SqlStore {
    async fn get(&self, id: &EntryId) -> Result<Option<Entry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM context_entries
             WHERE context_id = $1 AND family = $2 AND entry_key = $3"
        );
        let row = sqlx::query(&sql)
            .bind(&id.context_id)
            .bind(&id.family)
            .bind(&id.key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| entry(&r)).transpose()?)
    }

    async fn create(&self, e: &Entry) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO context_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (context_id, family, entry_key) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&e.id.context_id)
            .bind(&e.id.family)
            .bind(&e.id.key)
            .bind(&e.read_token)
            .bind(&e.write_token)
            .bind(&e.value)
            .bind(e.last_access)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update(&self, e: &Entry) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE context_entries SET value = $1, last_access = $2
             WHERE context_id = $3 AND family = $4 AND entry_key = $5 AND write_token = $6",
        )
        .bind(&e.value)
        .bind(e.last_access)
        .bind(&e.id.context_id)
        .bind(&e.id.family)
        .bind(&e.id.key)
        .bind(&e.write_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: &EntryId, write_token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM context_entries
             WHERE context_id = $1 AND family = $2 AND entry_key = $3 AND write_token = $4",
        )
        .bind(&id.context_id)
        .bind(&id.family)
        .bind(&id.key)
        .bind(write_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list(
        &self,
        context_id: &str,
        family: Option<&str>,
        read_token: &str,
    ) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM context_entries
             WHERE context_id = $1 AND read_token = $2 AND ($3 = '' OR family = $3)
             ORDER BY family, entry_key"
        );
        let rows = sqlx::query(&sql)
            .bind(context_id)
            .bind(read_token)
            .bind(family.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
    }

    async fn touch(
        &self,
        scope: &Selection<'_>,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE context_entries SET last_access = $1
             WHERE context_id = $2 AND read_token = $3 AND ($4 = '' OR family = $4)
               AND ($5 = '' OR entry_key = $5) AND last_access < $6 AND last_access >= $7",
        )
        .bind(now)
        .bind(scope.context_id)
        .bind(scope.read_token)
        .bind(scope.family.unwrap_or(""))
        .bind(scope.key.unwrap_or(""))
        .bind(stale_before)
        .bind(scope.alive_since)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_idle(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM context_entries WHERE last_access < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
