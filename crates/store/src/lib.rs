//! Nova's metadata store: functions and their code, invocation logs, API keys, secrets and the
//! store's settings, in SQLite (the embedded default) or Postgres (shared by several daemons).
//!
//! Each aggregate has its own small trait, named by its role, and a caller takes only the one it
//! works on:
//!
//! - [`FunctionStore`]: functions and their code (by hash);
//! - [`VersionStore`]: every version of every function, immutable (written as functions change);
//! - [`AliasStore`]: names that point at a version of a function (with an optional canary);
//! - [`LogStore`]: invocation records;
//! - [`KeyStore`]: API key records and whether keys are required;
//! - [`SecretStore`]: encrypted secrets;
//! - [`QueueStore`]: async invocations, queued durably and claimed under leases;
//! - [`ScheduleStore`]: functions called on a cron expression, each tick fired into the queue
//!   exactly once;
//! - [`SettingStore`]: named values every daemon sharing the store agrees on;
//! - [`Database`]: the database itself, apart from any aggregate (ping, identity).
//!
//! [`SqlStore`] implements them all, on both databases through sqlx's Any driver, over one set of
//! migrations applied at open. A decorator wraps only the traits it concerns: [`Breaker`] (fail
//! fast while the database is unreachable) wraps every one, with one circuit per database shared
//! by its clones; Nova's Redis cache wraps only [`FunctionStore`]. [`Stores`] hands a store's
//! aggregates out to the services that use them.
//!
//! A new aggregate (function versions, schedules, objects …) is added the same way: a module
//! with its records and its trait here, its statements in `sql/`, a numbered migration, an impl
//! for [`Breaker`], a field in [`Stores`], a [`Kind`] if its errors name a record, and its case
//! in the contract tests (`tests/contract.rs`), which run on SQLite and on Postgres.

#![warn(missing_docs)]

mod aliases;
mod breaker;
mod database;
mod error;
mod functions;
mod keys;
mod logs;
mod migrate;
mod packages;
mod queue;
mod schedules;
mod secrets;
mod settings;
mod sql;
mod stores;
#[cfg(feature = "testing")]
pub mod testing;
mod versions;

pub use aliases::AliasStore;
pub use breaker::Breaker;
pub use database::Database;
pub use error::{Kind, StoreError};
pub use functions::{FunctionStore, ListQuery, record_now};
pub use keys::{ApiKeyRecord, KeyStore};
pub use logs::{InvocationLog, LOG_STREAM_LIMIT, LogQuery, LogStore};
pub use packages::{PackageRecord, PackageStore};
pub use queue::{
    AsyncConfig, AsyncInvocation, AsyncQuery, AsyncStatus, AttemptError, NewAsyncInvocation,
    Outcome, QueueStore, Retried,
};
pub use schedules::{Schedule, ScheduleStore, Tick};
pub use secrets::{SecretRecord, SecretStore};
pub use settings::SettingStore;
pub use sql::SqlStore;
pub use stores::Stores;
pub use versions::{VersionQuery, VersionStore};
