//! The puller: bulk loads prepared elsewhere arrive as folders `<base>_<n>` in a source (a local
//! directory or an object store); a folder is complete once it holds a `_SUCCESS` marker. A run
//! ingests the complete folders newer than the last one ingested, in order of `n`, and stops at
//! the first folder that is not complete yet (ingesting a later one first would let older data
//! overwrite newer) or that keeps failing after its retries; the next run starts there again.
//!
//! Runs happen on a cron schedule and on demand (`POST /admin/databases/{db}/pull`), never two at
//! once for one database. Progress (`pull.<base>.last`) lives in the database's bookkeeping
//! column family, so a restarted server skips what it already ingested.

mod source;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

pub use source::{Folder, Source};

use crate::config::PullerConfig;
use crate::database::Database;
use crate::error::KvError;

#[derive(Debug, Error)]
pub enum PullerError {
    #[error("invalid schedule '{0}': {1} (cron with seconds: 'sec min hour day month weekday')")]
    Schedule(String, String),
    #[error("source '{0}': {1}")]
    Source(String, String),
}

/// What one run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct PullReport {
    /// Folders ingested by this run, in order.
    pub ingested: Vec<String>,
    /// Folders found that an earlier run ingested.
    pub already_ingested: usize,
    /// Complete folders that held no `.sst` file: passed over, counted as done.
    pub empty: Vec<String>,
    /// The first folder without `_SUCCESS`, where the run stopped.
    pub waiting_for: Option<String>,
    /// The folder that failed every attempt, and why.
    pub failed: Option<Failure>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    pub folder: String,
    pub attempts: u32,
    pub error: String,
}

/// What ingesting one folder did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ingested {
    Files,
    /// A complete folder without `.sst` files: nothing to load, but done.
    Nothing,
}

pub struct Puller {
    database: Arc<Database>,
    config: PullerConfig,
    source: Source,
    schedule: Option<cron::Schedule>,
    /// Where a folder's files are downloaded before the ingest.
    staging: PathBuf,
    /// One run at a time.
    running: tokio::sync::Mutex<()>,
}

impl Puller {
    pub fn new(
        database: Arc<Database>,
        config: PullerConfig,
        staging: PathBuf,
    ) -> Result<Puller, PullerError> {
        let schedule = match &config.schedule {
            Some(expr) => Some(
                cron::Schedule::from_str(expr)
                    .map_err(|e| PullerError::Schedule(expr.clone(), e.to_string()))?,
            ),
            None => None,
        };
        let source = Source::open(&config.source)
            .map_err(|e| PullerError::Source(config.source.clone(), e.to_string()))?;
        Ok(Puller {
            database,
            config,
            source,
            schedule,
            staging,
            running: tokio::sync::Mutex::new(()),
        })
    }

    pub fn database(&self) -> &str {
        &self.database.name
    }

    fn progress_key(&self) -> String {
        format!("pull.{}.last", self.config.base)
    }

    fn last_ingested(&self) -> Option<u64> {
        let raw = self
            .database
            .engine()
            .meta_get(&self.progress_key())
            .ok()??;
        std::str::from_utf8(&raw).ok()?.parse().ok()
    }

    /// One run; errors are reported, never raised, so a scheduled run cannot stop the loop.
    /// The run is a task of its own: a caller that goes away (an HTTP client disconnecting)
    /// does not cut it short, so the one-run-at-a-time lock is held until the run is over.
    pub async fn run(self: &Arc<Self>) -> PullReport {
        let puller = self.clone();
        match tokio::spawn(async move { puller.run_now().await }).await {
            Ok(report) => report,
            Err(e) => PullReport {
                failed: Some(Failure {
                    folder: String::new(),
                    attempts: 1,
                    error: format!("the run panicked: {e}"),
                }),
                ..PullReport::default()
            },
        }
    }

    async fn run_now(&self) -> PullReport {
        let _one_at_a_time = self.running.lock().await;
        let mut report = PullReport::default();
        let folders = match self.source.folders(&self.config.base).await {
            Ok(folders) => folders,
            Err(e) => {
                report.failed = Some(Failure {
                    folder: String::new(),
                    attempts: 1,
                    error: format!("cannot list the source: {e}"),
                });
                return report;
            }
        };
        let last = self.last_ingested();
        for folder in folders {
            if last.is_some_and(|last| folder.n <= last) {
                report.already_ingested += 1;
                continue;
            }
            if !self.source.is_complete(&folder).await {
                report.waiting_for = Some(folder.name);
                break;
            }
            match self.ingest_with_retries(&folder).await {
                Ok(Ingested::Files) => report.ingested.push(folder.name),
                Ok(Ingested::Nothing) => report.empty.push(folder.name),
                Err(failure) => {
                    report.failed = Some(failure);
                    break;
                }
            }
        }
        if !report.ingested.is_empty() || report.failed.is_some() {
            tracing::info!(db = %self.database.name, ?report, "pull run");
        }
        report
    }

    async fn ingest_with_retries(&self, folder: &Folder) -> Result<Ingested, Failure> {
        let attempts = self.config.retries.max(1);
        let mut error = String::new();
        for attempt in 1..=attempts {
            match self.ingest(folder).await {
                Ok(done) => return Ok(done),
                Err(e) => {
                    error = e.to_string();
                    tracing::warn!(db = %self.database.name, folder = %folder.name, attempt, %error, "pull failed");
                }
            }
            if attempt < attempts {
                tokio::time::sleep(self.config.retry_backoff * attempt).await;
            }
        }
        Err(Failure {
            folder: folder.name.clone(),
            attempts,
            error,
        })
    }

    async fn ingest(&self, folder: &Folder) -> Result<Ingested, KvError> {
        let dir = self.staging.join(&folder.name);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        tokio::fs::create_dir_all(&dir).await?;
        let files = self.source.download_ssts(folder, &dir).await?;
        let database = self.database.clone();
        let name = folder.name.clone();
        let progress = (self.progress_key(), folder.n.to_string());
        let result = tokio::task::spawn_blocking(move || {
            let done = if files.is_empty() {
                Ingested::Nothing
            } else {
                database.ingest(&name, &files, true)?;
                Ingested::Files
            };
            database
                .engine()
                .meta_put(&progress.0, progress.1.as_bytes())?;
            Ok::<_, KvError>(done)
        })
        .await
        .map_err(|e| KvError::Io(std::io::Error::other(e.to_string())))?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result
    }

    /// Runs on the cron schedule until the task is aborted; None without a schedule.
    pub fn spawn_schedule(self: Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let schedule = self.schedule.clone()?;
        Some(tokio::spawn(async move {
            // The next time after now, every time: a run longer than the period skips the
            // ticks it overran instead of replaying them back to back.
            while let Some(next) = schedule.upcoming(chrono::Utc).next() {
                let wait = (next - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await;
                self.run().await;
            }
        }))
    }
}
