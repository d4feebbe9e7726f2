//! The one home of the small things every crate of Nova + Comet would otherwise write again.
//! Each is a few lines; keeping them here means one behaviour and one place to fix it. The crate
//! depends on nothing but tokio (for [`AbortOnDrop`]) and humantime (for [`rfc3339`]), which
//! every user already has, so any crate can use it without pulling anything heavy; sqlx comes
//! only with the `sql` feature, which the crates with a database turn on.
//!
//! - [`now_ms`]: the wall clock as milliseconds since the Unix epoch, the unit of every stored
//!   timestamp (logs, keys, context entries, the journal), and [`rfc3339`], how replies show one.
//! - [`lock`], [`read`], [`write`]: take a std lock even if a thread panicked while holding it.
//!   Every state we guard this way stays valid between statements (maps, counters, caches), so a
//!   panic elsewhere must not turn into a panic on every later request.
//! - [`AbortOnDrop`]: background tasks that end with their owner, however it ends.
//! - [`same_bytes`]: compare secrets (key digests, MACs) in a time that does not tell where they
//!   differ.
//! - [`parse_duration`]: how every setting spells a duration (`60s`, `500ms`, or plain seconds).
//! - [`prometheus`]: the Prometheus text every `/metrics` writes (`# HELP`, `# TYPE`, a family
//!   of figures per labelled thing).
//! - `sql` (the `sql` feature, which alone brings sqlx): how a pool on SQLite or Postgres is
//!   opened, with the caller's SQLite pragmas on each connection.

#![warn(missing_docs)]

pub mod prometheus;
#[cfg(feature = "sql")]
pub mod sql;

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

/// A duration that [`parse_duration`] refuses.
#[derive(Debug)]
pub enum DurationError {
    /// Zero (`0`, `0s`): a timeout or TTL of nothing is never meant.
    Zero,
    /// Neither plain seconds nor a humantime duration.
    Invalid(humantime::DurationError),
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationError::Zero => f.write_str("must be more than zero"),
            DurationError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DurationError {}

impl From<humantime::DurationError> for DurationError {
    fn from(e: humantime::DurationError) -> DurationError {
        DurationError::Invalid(e)
    }
}

/// `60s`, `500ms`, `5m`, or plain seconds (`60`); never zero. Surrounding spaces are ignored.
pub fn parse_duration(value: &str) -> Result<Duration, DurationError> {
    let value = value.trim();
    let parsed = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(value)?,
    };
    if parsed.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(parsed)
}

/// Milliseconds since the Unix epoch; 0 if the clock is set before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 in UTC, to the millisecond (`2024-05-01T12:00:00.000Z`): how
/// every reply shows a stored time. Times before the epoch show as the epoch.
pub fn rfc3339(ms: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Locks `mutex`, recovering the guard if a previous holder panicked.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks `lock`, recovering the guard if a writer panicked.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks `lock`, recovering the guard if a previous holder panicked.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Background tasks that are aborted when this is dropped, so they end with the server that
/// started them however it ends (even when its own task is aborted).
#[derive(Debug, Default)]
pub struct AbortOnDrop(pub Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ (only on
/// their lengths, which are not secret: digests and MACs have a fixed size).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn now_ms_is_after_2020_and_moves_forward() {
        let first = now_ms();
        assert!(first > 1_577_836_800_000, "{first}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now_ms() > first);
    }

    #[test]
    fn rfc3339_shows_milliseconds_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn locks_survive_a_panicking_holder() {
        let mutex = Arc::new(Mutex::new(1));
        let rw = Arc::new(RwLock::new(1));
        let (m, r) = (mutex.clone(), rw.clone());
        let panicked = std::thread::spawn(move || {
            let _m = m.lock();
            let _r = r.write();
            panic!("poison both");
        })
        .join();
        assert!(panicked.is_err());
        assert!(mutex.is_poisoned() && rw.is_poisoned());
        *lock(&mutex) += 1;
        *write(&rw) += 1;
        assert_eq!(*lock(&mutex), 2);
        assert_eq!(*read(&rw), 2);
    }

    #[tokio::test]
    async fn abort_on_drop_ends_the_tasks() {
        let task = tokio::spawn(std::future::pending::<()>());
        let probe = task.abort_handle();
        drop(AbortOnDrop(vec![task]));
        tokio::task::yield_now().await;
        assert!(probe.is_finished());
    }

    #[test]
    fn same_bytes_compares_content_and_length() {
        assert!(same_bytes(b"secret", b"secret"));
        assert!(same_bytes(b"", b""));
        assert!(!same_bytes(b"secret", b"secreT"));
        assert!(!same_bytes(b"Secret", b"secret"));
        assert!(!same_bytes(b"secret", b"secre"));
    }
}
