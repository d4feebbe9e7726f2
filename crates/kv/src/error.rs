//! Everything a KV operation can refuse, each with the HTTP status it maps to in one place.

use thiserror::Error;

use crate::auth::AuthError;
use crate::config::DbMode;
use crate::engine::EngineError;
use crate::paths::PathError;

#[derive(Debug, Error)]
pub enum KvError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("no database named '{0}'")]
    UnknownDatabase(String),
    #[error("key not found")]
    KeyNotFound,
    #[error("database '{db}' is {}: {what} needs {needs}", mode.as_str())]
    WrongMode {
        db: String,
        mode: DbMode,
        what: &'static str,
        needs: &'static str,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("the value is larger than the limit of {max} bytes (kv.max_value_size)")]
    TooLarge { max: usize },
    #[error("the values asked for add up to {total} bytes, more than {max}: ask for fewer keys")]
    ResponseTooLarge { total: usize, max: usize },
    #[error("'{0}' already exists")]
    Exists(String),
    #[error("ingest refused, the database is unchanged: {0}")]
    Ingest(String),
    #[error("database '{0}' has no puller configured")]
    NoPuller(String),
    #[error("storage error: {0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl KvError {
    pub fn status(&self) -> u16 {
        match self {
            KvError::Auth(AuthError::Unauthenticated) => 401,
            KvError::Auth(AuthError::Forbidden { .. }) => 403,
            KvError::UnknownDatabase(_) | KvError::KeyNotFound => 404,
            KvError::WrongMode { .. } | KvError::Exists(_) | KvError::NoPuller(_) => 409,
            KvError::BadRequest(_) | KvError::Path(_) | KvError::Ingest(_) => 400,
            KvError::TooLarge { .. } | KvError::ResponseTooLarge { .. } => 413,
            KvError::Auth(AuthError::Config(..)) | KvError::Engine(_) | KvError::Io(_) => 500,
        }
    }
}
