//! The invocations a data plane ran, most recent last, bounded: what `GetMetrics` and
//! `ListInvocations` answer from (real durations, not counters guessed at).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// One finished invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub id: String,
    pub function: String,
    pub version: u64,
    pub duration: Duration,
    pub cold_start: bool,
    pub success: bool,
    pub error: Option<String>,
    /// Unix milliseconds at the start.
    pub started_at_ms: i64,
    pub node_id: String,
}

/// When an invocation started: the wall clock for the record, a monotonic clock for its duration.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub at_ms: i64,
    pub instant: std::time::Instant,
}

impl Started {
    pub fn now() -> Started {
        Started {
            at_ms: now_ms(),
            instant: std::time::Instant::now(),
        }
    }
}

impl InvocationRecord {
    /// The record of a finished call of `spec` on `node_id`.
    pub fn of(
        spec: &nova_api::FunctionSpec,
        id: &str,
        started: Started,
        result: &Result<nova_api::InvokeResponse, crate::InvokeError>,
        node_id: &str,
    ) -> InvocationRecord {
        let (success, error, cold_start) = match result {
            Ok(r) => (r.error.is_none(), r.error.clone(), r.cold_start),
            Err(e) => (false, Some(e.to_string()), false),
        };
        InvocationRecord {
            id: id.to_string(),
            function: spec.name.clone(),
            version: spec.version,
            duration: started.instant.elapsed(),
            cold_start,
            success,
            error,
            started_at_ms: started.at_ms,
            node_id: node_id.to_string(),
        }
    }
}

/// Figures over the invocations of a time range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSummary {
    pub total: u64,
    pub successful: u64,
    pub failed: u64,
    pub cold_starts: u64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A page of invocations, newest first, and how many matched in all.
#[derive(Debug, Clone, Default)]
pub struct InvocationPage {
    pub invocations: Vec<InvocationRecord>,
    pub total: u64,
}

pub struct Journal {
    records: Mutex<VecDeque<InvocationRecord>>,
    capacity: usize,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::with_capacity(50_000)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Journal {
    pub fn with_capacity(capacity: usize) -> Journal {
        Journal {
            records: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<InvocationRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, record: InvocationRecord) {
        let mut records = self.lock();
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Figures over `function`'s invocations (every function's when empty) that started within
    /// `range` of now.
    pub fn metrics(&self, function: &str, range: Duration) -> MetricsSummary {
        let since = now_ms() - range.as_millis() as i64;
        let mut durations = Vec::new();
        let mut summary = MetricsSummary::default();
        for r in self.lock().iter().rev() {
            // Records are in finishing order: a long call that started before the window may sit
            // after newer ones, so look at every record rather than stop at the first old one.
            if r.started_at_ms < since {
                continue;
            }
            if !function.is_empty() && r.function != function {
                continue;
            }
            summary.total += 1;
            if r.success {
                summary.successful += 1;
            } else {
                summary.failed += 1;
            }
            summary.cold_starts += u64::from(r.cold_start);
            durations.push(r.duration.as_secs_f64() * 1000.0);
        }
        if durations.is_empty() {
            return summary;
        }
        durations.sort_by(f64::total_cmp);
        let pick = |q: f64| durations[((durations.len() - 1) as f64 * q).round() as usize];
        summary.avg_ms = durations.iter().sum::<f64>() / durations.len() as f64;
        summary.p50_ms = pick(0.50);
        summary.p95_ms = pick(0.95);
        summary.p99_ms = pick(0.99);
        summary
    }

    /// `function`'s invocations (every function's when empty), newest first.
    pub fn list(&self, function: &str, limit: usize, offset: usize) -> InvocationPage {
        let records = self.lock();
        let matching = records
            .iter()
            .rev()
            .filter(|r| function.is_empty() || r.function == function);
        let total = matching.clone().count() as u64;
        InvocationPage {
            invocations: matching.skip(offset).take(limit).cloned().collect(),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(function: &str, ms: u64, success: bool) -> InvocationRecord {
        InvocationRecord {
            id: format!("{function}-{ms}"),
            function: function.into(),
            version: 1,
            duration: Duration::from_millis(ms),
            cold_start: ms == 100,
            success,
            error: (!success).then(|| "boom".into()),
            started_at_ms: now_ms(),
            node_id: "n1".into(),
        }
    }

    #[test]
    fn percentiles_come_from_the_recorded_durations() {
        let journal = Journal::with_capacity(1000);
        for ms in 1..=100 {
            journal.record(record("f", ms, ms % 10 != 0));
        }
        journal.record(record("g", 500, true));
        let m = journal.metrics("f", Duration::from_secs(60));
        assert_eq!(
            (m.total, m.successful, m.failed, m.cold_starts),
            (100, 90, 10, 1)
        );
        assert_eq!((m.p50_ms, m.p95_ms, m.p99_ms), (51.0, 95.0, 99.0));
        assert!((m.avg_ms - 50.5).abs() < 1e-9);
        assert_eq!(journal.metrics("", Duration::from_secs(60)).total, 101);
        let page = journal.list("f", 3, 1);
        assert_eq!(page.total, 100);
        let ids: Vec<&str> = page.invocations.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["f-99", "f-98", "f-97"]);
    }

    #[test]
    fn the_oldest_records_make_room() {
        let journal = Journal::with_capacity(3);
        for ms in 1..=5 {
            journal.record(record("f", ms, true));
        }
        assert_eq!(journal.list("", 10, 0).total, 3);
    }
}
