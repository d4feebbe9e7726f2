//! One writer thread per read-write database. Requests hand their write to it and await the
//! answer; the thread takes every write waiting at that moment into one RocksDB write batch. The
//! async workers never wait on RocksDB's write path (a write stall, a synced WAL), and under load
//! many writes share one WAL append and, with synced writes, one fsync.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::engine::{Engine, EngineError, WriteOp};

/// Most writes in one batch, and most bytes (values of 16 MiB should not wait for 255 others).
const MAX_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

struct Job {
    op: WriteOp,
    done: oneshot::Sender<Result<(), String>>,
}

pub struct Writer {
    /// None once dropping: closing the queue is what stops the thread.
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    /// Waits for the thread, so the engine it holds is closed (its lock released) on return.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// Starts the thread; it ends when the writer is dropped.
    pub fn start(name: &str, engine: Arc<dyn Engine>) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("kv-writer-{name}"))
            .spawn(move || run(&queue, engine.as_ref()))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    pub async fn write(&self, op: WriteOp) -> Result<(), EngineError> {
        let (done, answer) = oneshot::channel();
        let gone = || EngineError::Write("the database's writer has stopped".into());
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send(Job { op, done }).map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(EngineError::Write)
    }
}

fn size(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { key, value } => key.len() + value.len(),
        WriteOp::Delete { key } => key.len(),
    }
}

fn run(queue: &mpsc::Receiver<Job>, engine: &dyn Engine) {
    while let Ok(first) = queue.recv() {
        let mut bytes = size(&first.op);
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(job) => {
                    bytes += size(&job.op);
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (ops, answers): (Vec<WriteOp>, Vec<_>) =
            jobs.into_iter().map(|j| (j.op, j.done)).unzip();
        let result = engine.write(&ops).map_err(|e| e.to_string());
        for answer in answers {
            let _ = answer.send(result.clone());
        }
    }
}
