//! Why a store operation failed, and what kind of record it was about.

use std::fmt;

use thiserror::Error;

/// The kind of record an error is about, so that its message (and whoever maps it to a status)
/// names the right thing: "API key 'x' already exists", not "function 'x' …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function ([`crate::FunctionStore`]).
    Function,
    /// An API key ([`crate::KeyStore`]).
    ApiKey,
    /// A secret ([`crate::SecretStore`]).
    Secret,
    /// A version of a function ([`crate::VersionStore`]), named by its number.
    Version,
    /// An alias of a function ([`crate::AliasStore`]).
    Alias,
    /// An async invocation ([`crate::QueueStore`]), named by its id.
    AsyncInvocation,
    /// A schedule of a function ([`crate::ScheduleStore`]), named by its id.
    Schedule,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Function => "function",
            Kind::ApiKey => "API key",
            Kind::Secret => "secret",
            Kind::Version => "version",
            Kind::Alias => "alias",
            Kind::AsyncInvocation => "async invocation",
            Kind::Schedule => "schedule",
        })
    }
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The name is taken by another record of the same kind.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// What kind of record.
        kind: Kind,
        /// The name that is taken.
        name: String,
    },
    /// There is no record of that kind by that name.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// What kind of record.
        kind: Kind,
        /// The name looked for.
        name: String,
    },
    /// The record is no longer the version the caller read (optimistic concurrency).
    #[error("{kind} '{name}' was changed by someone else meanwhile; retry")]
    Conflict {
        /// What kind of record.
        kind: Kind,
        /// The record's name.
        name: String,
    },
    /// A stored value cannot be read back as what it should be.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The database refused the statement.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached or is restarting: the caller should retry shortly.
    #[error("the metadata store is unreachable ({0}); retry shortly")]
    Unavailable(String),
    /// The database could not be opened at all (bad path or DSN, refused connection).
    #[error("cannot open the database: {0}")]
    Open(String),
}

impl StoreError {
    /// `AlreadyExists` for `name` of `kind`.
    pub fn already_exists(kind: Kind, name: impl Into<String>) -> StoreError {
        StoreError::AlreadyExists {
            kind,
            name: name.into(),
        }
    }

    /// `NotFound` for `name` of `kind`.
    pub fn not_found(kind: Kind, name: impl Into<String>) -> StoreError {
        StoreError::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// `Conflict` for `name` of `kind`.
    pub fn conflict(kind: Kind, name: impl Into<String>) -> StoreError {
        StoreError::Conflict {
            kind,
            name: name.into(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_kind_of_record() {
        let cases = [
            (
                StoreError::already_exists(Kind::Function, "f"),
                "function 'f' already exists",
            ),
            (
                StoreError::not_found(Kind::Function, "f"),
                "function 'f' not found",
            ),
            (
                StoreError::conflict(Kind::Function, "f"),
                "function 'f' was changed by someone else meanwhile; retry",
            ),
            (
                StoreError::already_exists(Kind::ApiKey, "ci"),
                "API key 'ci' already exists",
            ),
            (
                StoreError::not_found(Kind::ApiKey, "ci"),
                "API key 'ci' not found",
            ),
            (
                StoreError::already_exists(Kind::Secret, "token"),
                "secret 'token' already exists",
            ),
            (
                StoreError::not_found(Kind::Secret, "token"),
                "secret 'token' not found",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn only_reaching_the_database_is_unavailable() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::already_exists(Kind::ApiKey, "k").is_unavailable());
    }
}
