//! Invocation logs, written off the hot path: an invocation hands its record to a bounded queue
//! and goes on; a writer task stores what has queued up in batches (one transaction each), and a
//! sweeper deletes records older than the retention period. When the queue is full (the store is
//! down for long or far behind) records are dropped and counted, never waited for. A batch that
//! meets an unreachable store is retried until the store is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nova_store::{InvocationLog, LogStore};
use tokio::sync::mpsc;

/// The clock of every stored timestamp (milliseconds since the Unix epoch) and how replies show
/// one.
pub use comet_util::{now_ms, rfc3339};

/// Records queued at most; beyond, new ones are dropped.
const QUEUE: usize = 16_384;
/// Records per batch at most, and how long a batch waits to fill.
const BATCH: usize = 512;
const BATCH_WAIT: Duration = Duration::from_millis(50);
/// Longest pause between attempts to store a batch while the store is unreachable.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// How often old records are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

pub struct Logger {
    queue: mpsc::Sender<InvocationLog>,
    dropped: Arc<AtomicU64>,
    /// Records queued so far, and records the writer is done with (stored or given up on):
    /// a reader waits until the second reaches what the first was when it asked.
    queued: AtomicU64,
    done: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Logger {
    pub fn start(store: Arc<dyn LogStore>, retention: Duration) -> Logger {
        let (queue, records) = mpsc::channel(QUEUE);
        let done = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(write_batches(store.clone(), records, done.clone()));
        let sweeper = tokio::spawn(sweep(store, retention));
        Logger {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
            queued: AtomicU64::new(0),
            done,
            tasks: vec![writer, sweeper],
        }
    }

    /// Queues a record; never waits.
    pub fn record(&self, log: InvocationLog) {
        if self.queue.try_send(log).is_ok() {
            self.queued.fetch_add(1, Ordering::Release);
        } else {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "invocation log queue full: records dropped");
            }
        }
    }

    /// Waits (up to two seconds) until every record queued before this call has been written,
    /// so a reader sees the calls that finished before it asked.
    pub async fn flush(&self) {
        let target = self.queued.load(Ordering::Acquire);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.done.load(Ordering::Acquire) < target && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops.
    pub async fn close(self) {
        let Logger { queue, tasks, .. } = self;
        drop(queue);
        let mut tasks = tasks.into_iter();
        if let Some(writer) = tasks.next() {
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
        }
        tasks.for_each(|t| t.abort());
    }
}

async fn write_batches(
    store: Arc<dyn LogStore>,
    mut records: mpsc::Receiver<InvocationLog>,
    done: Arc<AtomicU64>,
) {
    while let Some(first) = records.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, records.recv()).await {
                Ok(Some(log)) => batch.push(log),
                _ => break,
            }
        }
        store_batch(store.as_ref(), &batch, &records).await;
        done.fetch_add(batch.len() as u64, Ordering::Release);
    }
}

/// Stores a batch, retrying with backoff while the store is unreachable (the queue holds what
/// arrives meanwhile, up to its bound); a batch the store refuses for another reason, or one
/// still unstored when the daemon closes the queue, is dropped with a warning.
async fn store_batch(
    store: &dyn LogStore,
    batch: &[InvocationLog],
    queue: &mpsc::Receiver<InvocationLog>,
) {
    let mut wait = Duration::from_millis(100);
    loop {
        match store.insert_invocations(batch).await {
            Ok(()) => return,
            Err(e) if e.is_unavailable() && !queue.is_closed() => {
                tracing::warn!(error = %e, waiting = batch.len(), retry_in = ?wait, "cannot store invocation logs yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY_WAIT);
            }
            Err(e) => {
                tracing::warn!(error = %e, lost = batch.len(), "cannot store invocation logs");
                return;
            }
        }
    }
}

async fn sweep(store: Arc<dyn LogStore>, retention: Duration) {
    let mut tick = tokio::time::interval(SWEEP_EVERY.min(retention));
    loop {
        tick.tick().await;
        let before = now_ms() - retention.as_millis() as i64;
        match store.delete_invocations_before(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "old invocation logs deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot delete old invocation logs"),
        }
    }
}

/// At most `limit` bytes of `text`, cut at a character boundary.
pub fn bounded(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// A stored record as the API shows it; `function` is the function it belongs to, if it still
/// exists.
pub fn entry(
    log: InvocationLog,
    function: Option<&nova_api::Function>,
) -> nova_api::InvocationEntry {
    nova_api::InvocationEntry {
        id: log.id,
        function_id: function.map(|f| f.id.clone()).unwrap_or_default(),
        function_name: log.function,
        runtime: function.map(|f| f.runtime.to_string()).unwrap_or_default(),
        version: log.version,
        duration_ms: log.duration_us / 1000,
        duration_us: log.duration_us,
        cold_start: log.cold_start,
        success: log.success,
        error_message: log.error,
        input_size: log.input_bytes,
        output_size: log.output_bytes,
        stdout: log.stdout,
        stderr: log.stderr,
        created_at: rfc3339(log.created_at),
    }
}

/// The log record of one invocation.
pub fn record_of(
    spec: &nova_api::FunctionSpec,
    id: String,
    input_bytes: u64,
    started: std::time::Instant,
    created_at: i64,
    result: &Result<nova_api::InvokeResponse, comet::InvokeError>,
) -> InvocationLog {
    use nova_store::LOG_STREAM_LIMIT;
    let mut log = InvocationLog {
        id,
        function: spec.name.clone(),
        version: spec.version,
        duration_us: started.elapsed().as_micros() as u64,
        cold_start: false,
        success: false,
        error: None,
        input_bytes,
        output_bytes: 0,
        stdout: String::new(),
        stderr: String::new(),
        created_at,
    };
    match result {
        Ok(r) => {
            log.cold_start = r.cold_start;
            log.success = r.error.is_none();
            log.error = r.error.clone();
            log.output_bytes = r.output.as_ref().map_or(0, |o| o.get().len() as u64);
            log.stdout = bounded(&r.stdout, LOG_STREAM_LIMIT);
            log.stderr = bounded(&r.stderr, LOG_STREAM_LIMIT);
        }
        Err(e) => log.error = Some(e.to_string()),
    }
    log
}
