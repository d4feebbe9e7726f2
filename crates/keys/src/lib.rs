//! Nova's API keys, in one place for everyone who checks them: Nova's HTTP API and the invoke
//! path of comet workers.
//!
//! A key is `nova_<id>_<secret>`. Its [`ApiKeyRecord`] keeps the id, the [`Scope`]s and a SHA-256
//! digest of the secret, never the secret. A [`Verifier`] checks a presented key against the
//! records of a [`KeySource`] (Nova's store; `sql::SqlKeys` reads it from a worker), compared in
//! constant time, with a short-lived cache refreshed off the request path.
//!
//! The `sql` module (the store's queries and `SqlKeys`) is behind the `sql` feature, which Nova
//! and the `comet` binary enable: a crate that only verifies keys compiles no database driver.

mod key;
#[cfg(feature = "sql")]
pub mod sql;
mod verify;

pub use key::{ApiKeyRecord, MintedKey, Scope, mint, same_bytes};
pub use verify::{Anonymous, Denied, KeySource, SourceError, Verifier};
