//! Where function metadata and code live. [`Store`] is the seam; [`sql::SqlStore`] implements
//! it on SQLite (the embedded default) and on Postgres, over the same migrations.

pub mod breaker;
mod migrate;
mod record;
pub mod redis_cache;
pub mod sql;

use async_trait::async_trait;
use nova_api::Function;
use thiserror::Error;

pub use breaker::Breaker;
pub use nova_keys::ApiKeyRecord;
pub use record::now_rfc3339 as record_now;
pub use redis_cache::RedisCached;
pub use sql::SqlStore;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("function '{0}' already exists")]
    AlreadyExists(String),
    #[error("function '{0}' not found")]
    NotFound(String),
    #[error("function '{0}' was changed by someone else meanwhile; retry")]
    Conflict(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached or is restarting: the caller should retry shortly.
    #[error("the metadata store is unreachable ({0}); retry shortly")]
    Unavailable(String),
    #[error("cannot open the database: {0}")]
    Open(String),
}

impl StoreError {
    /// Whether retrying later may succeed (the database is down or restarting), as opposed to a
    /// problem with the request or the data.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if connection_lost(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

/// Errors of reaching the database rather than of the statement: no connection could be made
/// or kept, or Postgres is shutting down or starting (SQLSTATE classes 08 and 57P).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Paging and filtering for [`Store::list_functions`].
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Substring of the name, case-insensitive.
    pub search: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            search: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Function metadata and code, by name and by code hash.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers at all.
    async fn ping(&self) -> Result<(), StoreError>;

    /// This store's name, the same for every daemon sharing it; made on first use.
    async fn identity(&self) -> Result<String, StoreError>;

    /// Adds a new function and its code. Fails with `AlreadyExists` if the name is taken.
    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError>;

    /// Replaces a function if its stored version is still `expected_version`; new code is stored
    /// when given.
    async fn replace_function(
        &self,
        function: &Function,
        code: Option<&[u8]>,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError>;

    /// Functions sorted by name.
    async fn list_functions(&self, query: &ListQuery) -> Result<Vec<Function>, StoreError>;

    /// Removes a function; `false` if there was none. Code no function uses any more goes too.
    async fn delete_function(&self, name: &str) -> Result<bool, StoreError>;

    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Appends invocation records, all in one transaction.
    async fn insert_invocations(&self, logs: &[InvocationLog]) -> Result<(), StoreError>;

    /// Records matching `query`, newest first.
    async fn list_invocations(&self, query: &LogQuery) -> Result<Vec<InvocationLog>, StoreError>;

    /// Deletes records created before `before_ms`; returns how many.
    async fn delete_invocations_before(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// Adds a key; `AlreadyExists` if its name is taken.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked at `at_ms`; false if there is no such key.
    async fn revoke_api_key(&self, name: &str, at_ms: i64) -> Result<bool, StoreError>;
    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError>;
    /// Rewrites the key with `key.id` (name, scopes, expiry, revocation); false if there is no
    /// such key, `AlreadyExists` if the new name is taken.
    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;
    /// Whether an API key has ever existed here (marked with the first, never unmarked).
    async fn keys_required(&self) -> Result<bool, StoreError>;

    /// A value from the store's settings (see the `nova_settings` migration).
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `name` unless a value is there already; the value that is there
    /// after, so daemons racing to initialise a setting all agree on the first.
    async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;
    /// Stores `value` under `name`, replacing what is there.
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;

    /// Creates or replaces an encrypted secret.
    async fn put_secret(&self, secret: &SecretRecord) -> Result<(), StoreError>;
    async fn get_secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError>;
    /// Every secret, without decrypting any.
    async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError>;
    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError>;
}

/// A secret as stored: encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub name: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One finished invocation, as the logs keep it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvocationLog {
    /// The request id.
    pub id: String,
    pub function: String,
    pub version: u64,
    pub duration_us: u64,
    pub cold_start: bool,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// The handler's output streams, cut to `LOG_STREAM_LIMIT` bytes each.
    pub stdout: String,
    pub stderr: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Most bytes of stdout and of stderr a log keeps.
pub const LOG_STREAM_LIMIT: usize = 4096;

/// Which invocation records to return.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub function: Option<String>,
    pub request_id: Option<String>,
    pub limit: u32,
    pub offset: u32,
}
