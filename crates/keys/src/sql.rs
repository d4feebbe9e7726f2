//! The records in Nova's store, SQLite or Postgres (the `api_keys` table of Nova's migrations).
//! [`list`] is the one query that reads them and [`required`] the one that says whether a key has
//! ever existed, both used by Nova's store and by [`SqlKeys`], which lets a comet worker check
//! keys against the store its Nova writes, read-only.

use std::path::Path;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};

use crate::key::ApiKeyRecord;
use crate::verify::{KeySource, SourceError};

/// Every key, by name.
pub async fn list(pool: &AnyPool) -> Result<Vec<ApiKeyRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, digest, scopes, created_at, expires_at, revoked_at \
         FROM api_keys ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(record).collect()
}

/// The row of Nova's `nova_settings` table that is written (with the first key, and never
/// removed) once an API key has existed.
pub const KEYS_REQUIRED: &str = "keys_required";

/// Whether an API key has ever existed in the store: then a key is required even when every key
/// has expired or was revoked or deleted.
pub async fn required(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let marked: Option<String> =
        sqlx::query_scalar("SELECT value FROM nova_settings WHERE name = $1")
            .bind(KEYS_REQUIRED)
            .fetch_optional(pool)
            .await?;
    if marked.is_some() {
        return Ok(true);
    }
    // A key inserted by a Nova that wrote no marker still counts.
    let any: Option<String> = sqlx::query_scalar("SELECT id FROM api_keys LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(any.is_some())
}

fn record(r: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    Ok(ApiKeyRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        digest: r.try_get(2)?,
        scopes: r.try_get(3)?,
        created_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
    })
}

/// Nova's keys, read from its store.
pub struct SqlKeys {
    pool: AnyPool,
}

impl SqlKeys {
    /// Opens Nova's store: a Postgres DSN (`postgres://…`, Nova's `--pg-dsn`) or Nova's SQLite
    /// file (a path or `sqlite://path`, normally `<data-dir>/nova.db`), read-only. Fails when it
    /// cannot be read or holds no API keys table.
    pub async fn open(location: &str) -> Result<SqlKeys, SourceError> {
        let pool = comet_util::sql::open(&url_of(location), 2, &[])
            .await
            .map_err(|e| SourceError(format!("cannot open {}: {e}", redact(location))))?;
        let keys = SqlKeys { pool };
        let readable = match keys.api_keys().await {
            Ok(_) => keys.keys_required().await.map(|_| ()),
            Err(e) => Err(e),
        };
        readable.map_err(|e| {
            SourceError(format!(
                "{} is not a Nova store Nova has started on ({e})",
                redact(location)
            ))
        })?;
        Ok(keys)
    }
}

#[async_trait]
impl KeySource for SqlKeys {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, SourceError> {
        list(&self.pool).await.map_err(unreachable)
    }

    async fn keys_required(&self) -> Result<bool, SourceError> {
        required(&self.pool).await.map_err(unreachable)
    }
}

fn unreachable(e: sqlx::Error) -> SourceError {
    SourceError(format!("Nova's store is unreachable ({e}); retry shortly"))
}

fn url_of(location: &str) -> String {
    if location.starts_with("postgres://")
        || location.starts_with("postgresql://")
        || location.starts_with("sqlite:")
    {
        return location.to_string();
    }
    // A path: Nova's SQLite file, which must exist (read-only: nothing is created).
    format!("sqlite://{}?mode=ro", Path::new(location).display())
}

/// The location without its password, for messages.
pub fn redact(location: &str) -> String {
    match (location.find("://"), location.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &location[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &location[..scheme + 3], &location[at..])
                }
                None => location.to_string(),
            }
        }
        _ => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://nova:s3cret@db/nova"),
            "postgres://nova:***@db/nova"
        );
        assert_eq!(redact("/var/lib/nova/nova.db"), "/var/lib/nova/nova.db");
        assert_eq!(redact("postgres://db/nova"), "postgres://db/nova");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_nova_store_is_refused_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nova.db");
        let err = SqlKeys::open(missing.to_str().expect("utf-8"))
            .await
            .err()
            .expect("a missing file is refused");
        assert!(err.0.contains("cannot open"), "{err}");
        let empty = dir.path().join("empty.db");
        std::fs::File::create(&empty).expect("create");
        let err = SqlKeys::open(empty.to_str().expect("utf-8"))
            .await
            .err()
            .expect("a file without the table is refused");
        assert!(err.0.contains("not a Nova store"), "{err}");
    }
}
