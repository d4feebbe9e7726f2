//! One configured database: its name, how it was opened and the engine holding its data. The
//! mode is checked here, before the engine is asked, so a wrong-mode call is a clear 409.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::{DatabaseConfig, DbMode};
use crate::engine::rocks::RocksEngine;
use std::sync::Arc;

use crate::engine::{Engine, EngineError, WriteOp};
use crate::error::KvError;
use crate::writer::Writer;

/// Meta key of the last ingest.
const LAST_INGEST: &str = "ingest.last";

pub struct Database {
    pub name: String,
    pub mode: DbMode,
    engine: Arc<dyn Engine>,
    /// Key writes of a read-write database go through its writer thread.
    writer: Option<Writer>,
}

/// What `GET /admin/databases/{db}/ingest/last` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    /// The directory's name (under the ingest path, or the pulled folder's name).
    pub dir: String,
    pub files: Vec<String>,
    /// Seconds since the Unix epoch.
    pub ingested_at: u64,
}

impl Database {
    pub fn open(config: &DatabaseConfig) -> Result<Database, EngineError> {
        if config.mode == DbMode::ReadWrite {
            std::fs::create_dir_all(&config.path).ok();
        }
        Database::with_engine(config, Arc::new(RocksEngine::open(config)?))
    }

    pub fn with_engine(
        config: &DatabaseConfig,
        engine: Arc<dyn Engine>,
    ) -> Result<Database, EngineError> {
        let writer = match config.mode {
            DbMode::ReadWrite => Some(
                Writer::start(&config.name, engine.clone())
                    .map_err(|e| EngineError::Write(format!("cannot start the writer: {e}")))?,
            ),
            _ => None,
        };
        Ok(Database {
            name: config.name.clone(),
            mode: config.mode,
            engine,
            writer,
        })
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// A key write (put or delete) through the writer thread; 409 unless read-write.
    pub async fn write(&self, op: WriteOp, what: &'static str) -> Result<(), KvError> {
        self.writable(what)?;
        let writer = self.writer.as_ref().ok_or_else(|| self.wrong_mode(what))?;
        Ok(writer.write(op).await?)
    }

    fn wrong_mode(&self, what: &'static str) -> KvError {
        KvError::WrongMode {
            db: self.name.clone(),
            mode: self.mode,
            what,
            needs: "a read-write database",
        }
    }

    /// Refuses writes unless the database is read-write.
    pub fn writable(&self, what: &'static str) -> Result<&dyn Engine, KvError> {
        if self.mode != DbMode::ReadWrite {
            return Err(self.wrong_mode(what));
        }
        Ok(self.engine())
    }

    pub fn catch_up(&self) -> Result<(), KvError> {
        if self.mode != DbMode::Secondary {
            return Err(KvError::WrongMode {
                db: self.name.clone(),
                mode: self.mode,
                what: "catch-up",
                needs: "a secondary database",
            });
        }
        Ok(self.engine.catch_up()?)
    }

    /// Ingests `files` (already checked to be inside their base) and records it. `consume` moves
    /// the files in (the puller's downloaded copies) instead of copying them (an operator's
    /// directory stays as it was, ready to load into another database).
    pub fn ingest(
        &self,
        dir: &str,
        files: &[PathBuf],
        consume: bool,
    ) -> Result<IngestRecord, KvError> {
        let engine = self.writable("ingest")?;
        if files.is_empty() {
            return Err(KvError::BadRequest(format!("no .sst files in '{dir}'")));
        }
        engine
            .ingest(files, consume)
            .map_err(|e| KvError::Ingest(e.to_string()))?;
        let record = IngestRecord {
            dir: dir.into(),
            files: files
                .iter()
                .filter_map(|f| f.file_name()?.to_str().map(String::from))
                .collect(),
            ingested_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        engine.meta_put(LAST_INGEST, &json)?;
        Ok(record)
    }

    pub fn last_ingest(&self) -> Result<Option<IngestRecord>, KvError> {
        let Some(raw) = self.engine.meta_get(LAST_INGEST)? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&raw).ok())
    }
}
