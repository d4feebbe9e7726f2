//! The invocations a data plane ran, most recent last, bounded: what `GetMetrics` and
//! `ListInvocations` answer from (real durations, not counters guessed at).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use comet_util::now_ms;

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

impl Journal {
    pub fn with_capacity(capacity: usize) -> Journal {
        Journal {
            records: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<InvocationRecord>> {
        comet_util::lock(&self.records)
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

    fn ids(page: &InvocationPage) -> Vec<&str> {
        page.invocations.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn the_oldest_records_make_room() {
        let journal = Journal::with_capacity(3);
        for ms in 1..=5 {
            journal.record(record("f", ms, true));
        }
        let page = journal.list("", 10, 0);
        assert_eq!(page.total, 3);
        assert_eq!(ids(&page), ["f-5", "f-4", "f-3"], "the two oldest went");
        assert_eq!(page.invocations[0].duration, Duration::from_millis(5));
        let m = journal.metrics("f", Duration::from_secs(60));
        assert_eq!(
            (m.total, m.p50_ms),
            (3, 4.0),
            "metrics see only what is kept"
        );
    }

    #[test]
    fn lists_filter_by_function_newest_first_and_page() {
        let journal = Journal::with_capacity(100);
        for (i, function) in ["f", "g", "f", "g", "f"].into_iter().enumerate() {
            journal.record(record(function, i as u64 + 1, i != 2));
        }
        let f = journal.list("f", 10, 0);
        assert_eq!((f.total, ids(&f)), (3, vec!["f-5", "f-3", "f-1"]));
        let failed = &f.invocations[1];
        assert_eq!(
            (failed.success, failed.error.as_deref()),
            (false, Some("boom"))
        );
        let g = journal.list("g", 1, 1);
        assert_eq!((g.total, ids(&g)), (2, vec!["g-2"]), "limit and offset");
        let all = journal.list("", 2, 0);
        assert_eq!((all.total, ids(&all)), (5, vec!["f-5", "g-4"]));
        let past_the_end = journal.list("f", 10, 3);
        assert_eq!((past_the_end.total, past_the_end.invocations.len()), (3, 0));
        assert_eq!(journal.list("h", 10, 0).total, 0);
    }

    #[test]
    fn metrics_cover_only_calls_started_within_the_range() {
        let journal = Journal::with_capacity(100);
        let mut old = record("f", 100, false);
        old.started_at_ms -= 120_000;
        journal.record(old);
        // A long call that started before the window and finished after newer ones.
        journal.record(record("f", 10, true));
        let mut straddling = record("f", 200, true);
        straddling.started_at_ms -= 90_000;
        journal.record(straddling);
        journal.record(record("f", 30, true));
        let m = journal.metrics("f", Duration::from_secs(60));
        assert_eq!(
            (m.total, m.successful, m.failed, m.cold_starts),
            (2, 2, 0, 0),
            "{m:?}"
        );
        assert_eq!((m.p50_ms, m.p99_ms, m.avg_ms), (30.0, 30.0, 20.0));
        let wide = journal.metrics("f", Duration::from_secs(600));
        assert_eq!((wide.total, wide.failed, wide.cold_starts), (4, 1, 1));
        assert_eq!(
            journal.metrics("g", Duration::from_secs(600)),
            MetricsSummary::default()
        );
    }

    #[test]
    fn a_record_carries_the_call_and_its_outcome() {
        let spec = nova_api::FunctionSpec {
            version: 7,
            ..nova_api::FunctionSpec::with_defaults("fn", nova_api::Runtime::Python, Vec::new())
        };
        let started = Started::now();
        let ok = Ok(nova_api::InvokeResponse {
            request_id: "r1".into(),
            output: None,
            error: Some("handler raised".into()),
            duration_ms: 0,
            duration_us: 0,
            cold_start: true,
            timed_out: false,
            version: Some(7),
            stdout: String::new(),
            stderr: String::new(),
        });
        let r = InvocationRecord::of(&spec, "r1", started, &ok, "node-a");
        assert_eq!(
            (
                r.id.as_str(),
                r.function.as_str(),
                r.version,
                r.node_id.as_str()
            ),
            ("r1", "fn", 7, "node-a")
        );
        assert_eq!((r.success, r.cold_start), (false, true));
        assert_eq!(r.error.as_deref(), Some("handler raised"));
        assert_eq!(r.started_at_ms, started.at_ms);
        let failed = InvocationRecord::of(
            &spec,
            "r2",
            started,
            &Err(crate::InvokeError::ShuttingDown),
            "node-a",
        );
        assert_eq!((failed.success, failed.cold_start), (false, false));
        assert_eq!(
            failed.error.as_deref(),
            Some("the data plane is shutting down")
        );
    }
}
