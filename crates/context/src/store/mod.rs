//! Where entries live: the seam between the exchange's rules ([`crate::service`]) and storage.
//! [`sql::SqlStore`] runs on SQLite or on Postgres, so that several stateless heads can share one
//! store; the embedded default is [`cached::CachedStore`], SQLite with every entry in memory. Operations that guard an entry (create only if absent,
//! update or delete only with its write token) are single statements, atomic across heads.

pub mod cached;
pub mod sql;

use async_trait::async_trait;
use thiserror::Error;

use crate::entry::{Entry, EntryId};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("context store: {0}")]
    Database(#[from] sqlx::Error),
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
    async fn create(&self, entry: &Entry) -> Result<bool, StoreError>;
    /// Replaces the value of the entry at `entry.id` if its write token is `entry.write_token`.
    async fn update(&self, entry: &Entry) -> Result<bool, StoreError>;
    /// Deletes the entry if its write token is `write_token`; false when nothing matched.
    async fn delete(&self, id: &EntryId, write_token: &str) -> Result<bool, StoreError>;
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
