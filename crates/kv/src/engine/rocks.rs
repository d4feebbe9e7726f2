//! RocksDB behind [`Engine`]: WAL always on, optionally synced; a bloom filter and an LRU block
//! cache per database; statistics on, for the block-cache figures of `/metrics`; ingest
//! bookkeeping in its own column family, `comet.meta`, outside the default (user) one.

use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, DB, IngestExternalFileOptions, Options, WriteBatch,
    WriteOptions,
};

use super::{Engine, EngineError, Figures, WriteOp};
use crate::config::{DatabaseConfig, DbMode};

/// The column family for the service's own records.
const META_CF: &str = "comet.meta";
const DEFAULT_BLOCK_CACHE_MB: usize = 64;

pub struct RocksEngine {
    db: DB,
    /// Kept for the statistics it shares with the open database.
    options: Options,
    write: WriteOptions,
    cache: Cache,
}

impl RocksEngine {
    pub fn open(config: &DatabaseConfig) -> Result<RocksEngine, EngineError> {
        let cache = Cache::new_lru_cache(
            config.block_cache_mb.unwrap_or(DEFAULT_BLOCK_CACHE_MB) * 1024 * 1024,
        )?;
        let options = options(&cache);
        let db = match config.mode {
            DbMode::ReadWrite => {
                let mut cfs = existing_cfs(&options, &config.path);
                if !cfs.iter().any(|c| c == META_CF) {
                    cfs.push(META_CF.into());
                }
                DB::open_cf(&options, &config.path, cfs)?
            }
            DbMode::ReadOnly => {
                let cfs = existing_cfs(&options, &config.path);
                DB::open_cf_for_read_only(&options, &config.path, cfs, false)?
            }
            DbMode::Secondary => {
                let primary = config.primary.as_deref().ok_or(EngineError::Unsupported(
                    "a secondary needs its primary's path",
                ))?;
                let cfs = existing_cfs(&options, primary);
                DB::open_cf_as_secondary(&options, primary, &config.path, cfs)?
            }
        };
        let mut write = WriteOptions::default();
        write.set_sync(config.sync_writes);
        Ok(RocksEngine {
            db,
            options,
            write,
            cache,
        })
    }

    fn meta(&self) -> Option<&ColumnFamily> {
        self.db.cf_handle(META_CF)
    }

    fn int_property(&self, name: &str) -> u64 {
        self.db.property_int_value(name).ok().flatten().unwrap_or(0)
    }
}

fn options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_block_based_table_factory(&table);
    options.set_max_background_jobs(2);
    options.enable_statistics();
    options
}

/// The column families a database already has (just "default" for a new one).
fn existing_cfs(options: &Options, path: &Path) -> Vec<String> {
    DB::list_cf(options, path).unwrap_or_else(|_| vec!["default".into()])
}

impl Engine for RocksEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self.db.get(key)?)
    }

    fn multi_get(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        self.db
            .multi_get(keys)
            .into_iter()
            .map(|r| r.map_err(EngineError::from))
            .collect()
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), EngineError> {
        Ok(self.db.put_opt(key, value, &self.write)?)
    }

    fn delete(&self, key: &[u8]) -> Result<(), EngineError> {
        Ok(self.db.delete_opt(key, &self.write)?)
    }

    fn write(&self, ops: &[WriteOp]) -> Result<(), EngineError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => batch.put(key, value),
                WriteOp::Delete { key } => batch.delete(key),
            }
        }
        Ok(self.db.write_opt(batch, &self.write)?)
    }

    fn estimate_count(&self) -> Result<u64, EngineError> {
        Ok(self
            .db
            .property_int_value("rocksdb.estimate-num-keys")?
            .unwrap_or(0))
    }

    fn property(&self, name: &str) -> Result<Option<String>, EngineError> {
        Ok(self.db.property_value(name)?)
    }

    fn checkpoint(&self, dir: &Path) -> Result<(), EngineError> {
        Ok(Checkpoint::new(&self.db)?.create_checkpoint(dir)?)
    }

    fn ingest(&self, files: &[PathBuf], consume: bool) -> Result<(), EngineError> {
        let mut opts = IngestExternalFileOptions::default();
        // Moving is a hard link plus unlink of the original (a copy across file systems).
        opts.set_move_files(consume);
        Ok(self.db.ingest_external_file_opts(&opts, files.to_vec())?)
    }

    fn catch_up(&self) -> Result<(), EngineError> {
        Ok(self.db.try_catch_up_with_primary()?)
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, EngineError> {
        match self.meta() {
            Some(cf) => Ok(self.db.get_cf(cf, key)?),
            None => Ok(None),
        }
    }

    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), EngineError> {
        let cf = self.meta().ok_or(EngineError::Unsupported(
            "this database keeps no bookkeeping",
        ))?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(self.db.put_cf_opt(cf, key, value, &sync)?)
    }

    fn figures(&self) -> Figures {
        let stats = self.options.get_statistics().unwrap_or_default();
        Figures {
            block_cache_hits: ticker(&stats, "rocksdb.block.cache.hit"),
            block_cache_misses: ticker(&stats, "rocksdb.block.cache.miss"),
            block_cache_usage_bytes: self.cache.get_usage() as u64,
            pending_compaction_bytes: self
                .int_property("rocksdb.estimate-pending-compaction-bytes"),
            estimated_keys: self.int_property("rocksdb.estimate-num-keys"),
            live_sst_bytes: self.int_property("rocksdb.live-sst-files-size"),
            memtable_bytes: self.int_property("rocksdb.cur-size-all-mem-tables"),
        }
    }
}

/// A ticker's count from RocksDB's statistics dump (`rocksdb.block.cache.hit COUNT : 42`).
fn ticker(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(" COUNT : ")?;
            rest.trim().parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickers_are_read_from_the_dump() {
        let dump = "rocksdb.block.cache.miss COUNT : 7\nrocksdb.block.cache.hit COUNT : 42\n";
        assert_eq!(ticker(dump, "rocksdb.block.cache.hit"), 42);
        assert_eq!(ticker(dump, "rocksdb.block.cache.miss"), 7);
        assert_eq!(ticker(dump, "rocksdb.nothing"), 0);
    }
}
