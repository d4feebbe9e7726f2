//! The storage seam: what the KV service needs from a key-value engine. RocksDB
//! ([`rocks::RocksEngine`]) is the one we ship; the service never names it outside `open`.
//!
//! Calls are synchronous and fast (microseconds) on the key paths; the service moves the slow
//! ones (checkpoint, ingest, catch-up, synced writes) off the async workers.

pub mod rocks;

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("{0}")]
    Unsupported(&'static str),
    /// A batched write failed (the message is shared by every write of the batch).
    #[error("{0}")]
    Write(String),
}

/// One change of a batched write.
#[derive(Debug)]
pub enum WriteOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
}

/// Figures for `/metrics`, read when scraped.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    pub block_cache_usage_bytes: u64,
    pub pending_compaction_bytes: u64,
    pub estimated_keys: u64,
    pub live_sst_bytes: u64,
    pub memtable_bytes: u64,
}

pub trait Engine: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError>;
    fn multi_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, EngineError>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), EngineError>;
    fn delete(&self, key: &[u8]) -> Result<(), EngineError>;
    /// Applies every op, atomically, in order.
    fn write(&self, ops: &[WriteOp]) -> Result<(), EngineError>;
    fn estimate_count(&self) -> Result<u64, EngineError>;
    /// An engine property by name (`rocksdb.stats`, …); None when the engine has no such one.
    fn property(&self, name: &str) -> Result<Option<String>, EngineError>;
    /// A consistent copy openable as a database at `dir`, which must not exist yet.
    fn checkpoint(&self, dir: &Path) -> Result<(), EngineError>;
    /// Adds the keys of these sorted-table files; all of them or none. With `consume`, the files
    /// are moved into the database (gone from where they were); otherwise they are copied.
    fn ingest(&self, files: &[PathBuf], consume: bool) -> Result<(), EngineError>;
    /// A secondary reads what its primary wrote since the last catch-up.
    fn catch_up(&self) -> Result<(), EngineError>;
    /// Bookkeeping kept beside, never inside, the user keyspace.
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, EngineError>;
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), EngineError>;
    fn figures(&self) -> Figures;
}
