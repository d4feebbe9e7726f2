//! The store in SQL, one implementation for both databases through sqlx's Any driver: SQLite (the
//! embedded default, one file in the data directory, WAL) and Postgres (`--pg-dsn`: several Nova
//! daemons sharing one state). The statements and migrations are the same on both (`$n`
//! placeholders, `ON CONFLICT`, `BIGINT`, `BYTEA`); only opening and the migration lock differ.
//!
//! This file opens and migrates the database; each aggregate's statements are in its own file.

mod aliases;
mod functions;
mod keys;
mod logs;
mod packages;
mod queue;
mod row;
mod schedules;
mod secrets;
mod settings;
mod versions;

use std::path::Path;

use async_trait::async_trait;
use sqlx::{AnyConnection, AnyPool, Row as _};

use crate::migrate::{CREATE_LEDGER, MIGRATIONS};
use crate::{Database, StoreError};

/// An arbitrary key for Postgres's advisory lock around migrations.
const MIGRATION_LOCK: i64 = 0x6e6f7661;

/// Every aggregate of the store in SQLite or Postgres. Cheap to clone (pool handles).
#[derive(Clone)]
pub struct SqlStore {
    /// What reads use.
    pool: AnyPool,
    /// What writes use. On SQLite, one connection: writers wait their turn in the pool's queue
    /// instead of colliding on the database's write lock, where SQLite's busy handler sleeps
    /// them for milliseconds at a time. On Postgres, the same pool as reads.
    writer: AnyPool,
    /// "SQLite" or "PostgreSQL", for the few statements that differ.
    backend: &'static str,
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    pub async fn sqlite(path: &Path) -> Result<SqlStore, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqlStore::connect(&url, 4, "SQLite")
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&store.pool)
            .await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to Postgres (`postgres://user:password@host/db`) and applies pending migrations.
    pub async fn postgres(dsn: &str) -> Result<SqlStore, StoreError> {
        let store = SqlStore::connect(dsn, 16, "PostgreSQL")
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", nova_keys::sql::redact(dsn))))?;
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(
        url: &str,
        connections: u32,
        backend: &'static str,
    ) -> Result<SqlStore, sqlx::Error> {
        let pragmas = &[
            "PRAGMA synchronous = NORMAL",
            "PRAGMA busy_timeout = 10000",
            // 16 MiB of pages per connection (SQLite's default is 2 MiB): a queue with a
            // backlog of tens of thousands of calls stays in memory.
            "PRAGMA cache_size = -16384",
            "PRAGMA foreign_keys = ON",
        ];
        let pool = comet_util::sql::open(url, connections, pragmas).await?;
        let writer = if backend == "SQLite" {
            comet_util::sql::open(url, 1, pragmas).await?
        } else {
            pool.clone()
        };
        Ok(SqlStore {
            pool,
            writer,
            backend,
        })
    }

    /// Applies migrations not yet recorded, under a lock (SQLite's write lock, Postgres's
    /// advisory lock) so that two daemons starting together do not both apply one.
    ///
    /// The lock comes before anything that creates a table, the ledger's `CREATE TABLE IF NOT
    /// EXISTS` included: on Postgres two of those racing on a fresh schema make one fail on the
    /// catalog's unique index (`pg_type_typname_nsp_index`).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        let (lock, unlock) = match self.backend {
            "SQLite" => ("BEGIN IMMEDIATE".to_string(), None),
            _ => (
                format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"),
                Some(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")),
            ),
        };
        sqlx::raw_sql(&lock).execute(&mut *conn).await?;
        let result = match sqlx::raw_sql(CREATE_LEDGER).execute(&mut *conn).await {
            Ok(_) => apply_pending(&mut conn).await,
            Err(e) => Err(e),
        };
        match unlock {
            None => {
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                sqlx::raw_sql(end).execute(&mut *conn).await?;
            }
            Some(unlock) => {
                sqlx::raw_sql(&unlock).execute(&mut *conn).await?;
            }
        }
        result?;
        Ok(())
    }
}

/// The migrations not in the ledger yet, each recorded as it is applied.
async fn apply_pending(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM nova_migrations")
        .fetch_all(&mut *conn)
        .await?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, "applying migration");
        sqlx::raw_sql(sql).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO nova_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(*version)
            .bind(*name)
            .bind(comet_util::now_ms())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `$from, $from+1, …`: `n` placeholders.
fn placeholders(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("${i}")).collect()
}

/// Inserts a setting unless it is there (settings, and the mark a first API key leaves).
const INIT_SETTING: &str =
    "INSERT INTO nova_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

#[async_trait]
impl Database for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn identity(&self) -> Result<String, StoreError> {
        // The first daemon's id wins; the others find it there.
        sqlx::query(
            "INSERT INTO store_identity (singleton, id) VALUES (1, $1) \
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .execute(&self.writer)
        .await?;
        let row = sqlx::query("SELECT id FROM store_identity WHERE singleton = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}
