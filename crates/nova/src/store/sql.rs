//! The store in SQL, one implementation for both databases through sqlx's Any driver: SQLite (the
//! embedded default, one file in the data directory, WAL) and Postgres (`--pg-dsn`: several Nova
//! daemons sharing one state). The statements and migrations are the same on both (`$n`
//! placeholders, `ON CONFLICT`, `BIGINT`, `BYTEA`); only opening and the migration lock differ.

use std::path::Path;

use async_trait::async_trait;
use nova_api::Function;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Row as _};

use super::migrate::{CREATE_LEDGER, MIGRATIONS};
use super::record::{COLUMNS, Row};
use super::{ApiKeyRecord, InvocationLog, ListQuery, LogQuery, SecretRecord, Store, StoreError};

/// An arbitrary key for Postgres's advisory lock around migrations.
const MIGRATION_LOCK: i64 = 0x6e6f7661;

/// Functions and code in SQLite or Postgres.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
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
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            // A database that does not answer is reported within seconds, not minutes.
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        for pragma in [
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(SqlStore { pool, backend })
    }

    /// Applies migrations not yet recorded, under a lock (SQLite's write lock, Postgres's
    /// advisory lock) so that two daemons starting together do not both apply one.
    ///
    /// The lock comes before anything that creates a table, the ledger's `CREATE TABLE IF NOT
    /// EXISTS` included: on Postgres two of those racing on a fresh schema make one fail on the
    /// catalog's unique index (`pg_type_typname_nsp_index`).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
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
        sqlx::query("DELETE FROM code_blobs WHERE hash NOT IN (SELECT code_hash FROM functions)")
            .execute(conn)
            .await?;
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

/// `$1, $2, …, $n`.
/// Invocation records per INSERT (12 parameters each). Measured with `nova-bench access`: one
/// row per statement costs ~50 µs a row; 64 rows per statement cut that by two thirds but held
/// the database thread long enough to triple the invocations' p99 on two cores; 16 keeps most
/// of the saving and the p99.
const LOG_ROWS_PER_STATEMENT: usize = 16;

fn placeholders(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("${i}")).collect()
}

fn column_count() -> usize {
    COLUMNS.split(", ").count()
}

#[async_trait]
impl Store for SqlStore {
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
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id FROM store_identity WHERE singleton = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError> {
        let row = Row::from_function(function)?;
        let mut tx = self.pool.begin().await?;
        Self::put_code(&mut tx, &row.code_hash, code).await?;
        let values = placeholders(1, column_count()).join(", ");
        let sql = format!("INSERT INTO functions ({COLUMNS}) VALUES ({values})");
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
                Some(_) => StoreError::Conflict(function.name.clone()),
                None => StoreError::NotFound(function.name.clone()),
            });
        }
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
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let done = sqlx::query("DELETE FROM functions WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?;
        Self::drop_unused_code(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_invocations(&self, logs: &[InvocationLog]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Many rows per statement: one statement per row costs a round trip to the driver's
        // thread each, most of what a batch costs.
        for chunk in logs.chunks(LOG_ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| format!("({})", placeholders(1 + r * 12, 12).join(", ")))
                .collect();
            let sql = format!(
                "INSERT INTO invocations ({LOG_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for log in chunk {
                query = query
                    .bind(log.id.clone())
                    .bind(log.function.clone())
                    .bind(log.version as i64)
                    .bind(log.duration_us as i64)
                    .bind(i64::from(log.cold_start))
                    .bind(i64::from(log.success))
                    .bind(log.error.clone())
                    .bind(log.input_bytes as i64)
                    .bind(log.output_bytes as i64)
                    .bind(log.stdout.clone())
                    .bind(log.stderr.clone())
                    .bind(log.created_at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_invocations(&self, q: &LogQuery) -> Result<Vec<InvocationLog>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM invocations WHERE ($1 = '' OR function = $1) \
             AND ($2 = '' OR id = $2) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&sql)
            .bind(q.function.clone().unwrap_or_default())
            .bind(q.request_id.clone().unwrap_or_default())
            .bind(i64::from(q.limit.max(1)))
            .bind(i64::from(q.offset))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(read_log).collect::<Result<_, _>>()?)
    }

    async fn delete_invocations_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM invocations WHERE created_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        // The key and the mark that keys are required, together: no moment has one without the
        // other.
        let mut tx = self.pool.begin().await?;
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
                return Err(StoreError::AlreadyExists(format!("API key {}", k.name)));
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
        .execute(&self.pool)
        .await;
        match done {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::AlreadyExists(format!("API key {}", k.name)))
            }
            other => Ok(other?.rows_affected() > 0),
        }
    }

    async fn keys_required(&self) -> Result<bool, StoreError> {
        Ok(nova_keys::sql::required(&self.pool).await?)
    }

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
            .execute(&self.pool)
            .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("setting {name} vanished")))
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
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE name = $1")
            .bind(name.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nova_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name.to_string())
        .bind(value.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

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
        .execute(&self.pool)
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
            .execute(&self.pool)
            .await?;
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

/// Inserts a setting unless it is there.
const INIT_SETTING: &str =
    "INSERT INTO nova_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

const LOG_COLUMNS: &str = "id, function, version, duration_us, cold_start, success, error, \
    input_bytes, output_bytes, stdout, stderr, created_at";

fn read_secret(row: &AnyRow) -> Result<SecretRecord, sqlx::Error> {
    Ok(SecretRecord {
        name: row.try_get(0)?,
        nonce: row.try_get(1)?,
        ciphertext: row.try_get(2)?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

fn read_log(row: &AnyRow) -> Result<InvocationLog, sqlx::Error> {
    Ok(InvocationLog {
        id: row.try_get(0)?,
        function: row.try_get(1)?,
        version: row.try_get::<i64, _>(2)? as u64,
        duration_us: row.try_get::<i64, _>(3)? as u64,
        cold_start: row.try_get::<i64, _>(4)? != 0,
        success: row.try_get::<i64, _>(5)? != 0,
        error: row.try_get(6)?,
        input_bytes: row.try_get::<i64, _>(7)? as u64,
        output_bytes: row.try_get::<i64, _>(8)? as u64,
        stdout: row.try_get(9)?,
        stderr: row.try_get(10)?,
        created_at: row.try_get(11)?,
    })
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

fn read_row(row: &AnyRow) -> Result<Function, StoreError> {
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
