//! Where entries live: the seam between the exchange's rules ([`crate::service`]) and storage.
//! [`sql::SqlStore`] runs on SQLite or on Postgres, so that several stateless heads can share one
//! store; the embedded default is [`cached::CachedStore`], SQLite with every entry in memory.
//! Operations that guard an entry (create only if absent, update or delete only with its tokens)
//! are single statements, atomic across heads; those that change how much a context holds also
//! change its usage row in the same transaction, so the [`Limits`] hold across heads.

pub mod cached;
pub mod sql;

use async_trait::async_trait;
use thiserror::Error;

use crate::entry::{Entry, EntryId};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("context store: {0}")]
    Database(#[from] sqlx::Error),
    /// The write would take a context or the store past its [`Limits`].
    #[error(transparent)]
    Quota(#[from] Quota),
}

/// How much the store holds, per context and in all (see [`crate::config::ContextConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries one context may hold.
    pub max_entries_per_context: u64,
    /// Bytes one context may hold ([`Entry::size`] summed).
    pub max_bytes_per_context: u64,
    /// Bytes the whole store may hold.
    pub max_total_bytes: u64,
}

/// Which limit a refused write would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Quota {
    #[error("this context already holds its limit of {0} entries: delete some first")]
    ContextEntries(u64),
    #[error(
        "this write would take the context past its limit of {0} bytes: delete some entries first"
    )]
    ContextBytes(u64),
    #[error("the context store is full (its limit of {0} bytes is reached)")]
    TotalBytes(u64),
}

/// Entries a read or enumerate returned: one key, one family, or a whole context.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub context_id: &'a str,
    pub family: Option<&'a str>,
    pub key: Option<&'a str>,
    pub read_token: &'a str,
    /// Entries last used before this have expired and are left alone.
    pub alive_since: i64,
}

#[async_trait]
pub trait ContextStore: Send + Sync + 'static {
    async fn get(&self, id: &EntryId) -> Result<Option<Entry>, StoreError>;
    /// Inserts the entry unless one exists at its address; false when one did.
    /// [`StoreError::Quota`] when the new entry does not fit the limits.
    async fn create(&self, entry: &Entry) -> Result<bool, StoreError>;
    /// Replaces the value of the entry at `entry.id` if its tokens are `entry`'s.
    /// [`StoreError::Quota`] when the larger value does not fit the limits.
    async fn update(&self, entry: &Entry) -> Result<bool, StoreError>;
    /// Deletes the entry if its tokens are these; false when nothing matched.
    async fn delete(
        &self,
        id: &EntryId,
        read_token: &str,
        write_token: &str,
    ) -> Result<bool, StoreError>;
    /// The entries of a context (of one family, if given) readable with `read_token`.
    async fn list(
        &self,
        context_id: &str,
        family: Option<&str>,
        read_token: &str,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Marks what a read or enumerate returned as used at `now`, skipping entries used since
    /// `stale_before` (so a busy family is not rewritten on every read).
    async fn touch(
        &self,
        scope: &Selection<'_>,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError>;
    /// Deletes the entries last used before `before`; returns how many.
    async fn remove_idle(&self, before: i64) -> Result<u64, StoreError>;
}
