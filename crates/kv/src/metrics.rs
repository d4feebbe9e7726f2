//! Request counts and latency histograms per route and database, kept in plain atomics laid out
//! at start-up (the databases are known then), so recording costs three uncontended-ish atomic
//! adds and no lookup by string. Database names not configured share one `(unknown)` label, so
//! hostile paths cannot grow the label set.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use comet_util::prometheus::{self, Family};

use crate::engine::Figures;

/// The routes, as labelled in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Get,
    Put,
    Delete,
    MultiGet,
    Count,
    CatchUp,
    Property,
    Checkpoint,
    Ingest,
    LastIngest,
    Pull,
}

const ROUTES: [Route; 11] = [
    Route::Get,
    Route::Put,
    Route::Delete,
    Route::MultiGet,
    Route::Count,
    Route::CatchUp,
    Route::Property,
    Route::Checkpoint,
    Route::Ingest,
    Route::LastIngest,
    Route::Pull,
];

impl Route {
    pub fn label(self) -> &'static str {
        match self {
            Route::Get => "get",
            Route::Put => "put",
            Route::Delete => "delete",
            Route::MultiGet => "multi_get",
            Route::Count => "count",
            Route::CatchUp => "catch_up",
            Route::Property => "property",
            Route::Checkpoint => "checkpoint",
            Route::Ingest => "ingest",
            Route::LastIngest => "last_ingest",
            Route::Pull => "pull",
        }
    }
}

/// Status codes counted by name; anything else is counted as `other`.
const STATUSES: [u16; 12] = [200, 201, 204, 400, 401, 403, 404, 409, 413, 500, 503, 0];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Cell {
    by_status: [AtomicU64; STATUSES.len()],
    /// Non-cumulative; the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

pub struct Metrics {
    /// Configured database names, then `(unknown)`.
    databases: Vec<String>,
    cells: Vec<Cell>,
}

impl Metrics {
    pub fn new(databases: &[String]) -> Metrics {
        let mut names = databases.to_vec();
        names.push("(unknown)".into());
        let cells = (0..names.len() * ROUTES.len())
            .map(|_| Cell::default())
            .collect();
        Metrics {
            databases: names,
            cells,
        }
    }

    pub fn observe(&self, route: Route, db: &str, status: u16, elapsed: Duration) {
        let db_index = self
            .databases
            .iter()
            .position(|d| d == db)
            .unwrap_or(self.databases.len() - 1);
        let cell = &self.cells[db_index * ROUTES.len() + route as usize];
        let status_slot = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len() - 1);
        cell.by_status[status_slot].fetch_add(1, Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        cell.buckets[bucket].fetch_add(1, Relaxed);
        cell.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// Prometheus text: requests and latencies, then each database's engine figures.
    pub fn render(&self, figures: &[(String, Figures)], out: &mut String) {
        self.render_requests(out);
        self.render_latencies(out);
        render_figures(figures, out);
    }

    fn cells(&self) -> impl Iterator<Item = (&str, Route, &Cell)> {
        self.databases.iter().enumerate().flat_map(move |(d, db)| {
            ROUTES
                .iter()
                .map(move |&r| (db.as_str(), r, &self.cells[d * ROUTES.len() + r as usize]))
        })
    }

    fn render_requests(&self, out: &mut String) {
        let name = "comet_kv_requests_total";
        prometheus::header(
            out,
            name,
            "counter",
            "KV requests by route, database and status.",
        );
        for (db, route, cell) in self.cells() {
            for (slot, &status) in STATUSES.iter().enumerate() {
                let n = cell.by_status[slot].load(Relaxed);
                if n == 0 {
                    continue;
                }
                let status = if status == 0 {
                    "other".to_string()
                } else {
                    status.to_string()
                };
                let _ = writeln!(
                    out,
                    "{name}{{route=\"{}\",db=\"{db}\",status=\"{status}\"}} {n}",
                    route.label()
                );
            }
        }
    }

    fn render_latencies(&self, out: &mut String) {
        let name = "comet_kv_request_duration_seconds";
        prometheus::header(
            out,
            name,
            "histogram",
            "KV request latency by route and database.",
        );
        for (db, route, cell) in self.cells() {
            let counts: Vec<u64> = cell.buckets.iter().map(|b| b.load(Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!("route=\"{}\",db=\"{db}\"", route.label());
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += counts[i];
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
            let sum = cell.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
        }
    }
}

fn render_figures(figures: &[(String, Figures)], out: &mut String) {
    let families: [Family<Figures>; 7] = [
        (
            "comet_kv_block_cache_hits_total",
            "counter",
            "Block cache hits.",
            |f| f.block_cache_hits,
        ),
        (
            "comet_kv_block_cache_misses_total",
            "counter",
            "Block cache misses.",
            |f| f.block_cache_misses,
        ),
        (
            "comet_kv_block_cache_usage_bytes",
            "gauge",
            "Bytes held by the block cache.",
            |f| f.block_cache_usage_bytes,
        ),
        (
            "comet_kv_pending_compaction_bytes",
            "gauge",
            "Estimated bytes compaction still has to rewrite.",
            |f| f.pending_compaction_bytes,
        ),
        (
            "comet_kv_estimated_keys",
            "gauge",
            "Estimated number of keys.",
            |f| f.estimated_keys,
        ),
        (
            "comet_kv_live_sst_bytes",
            "gauge",
            "Bytes of live SST files.",
            |f| f.live_sst_bytes,
        ),
        (
            "comet_kv_memtable_bytes",
            "gauge",
            "Bytes in memtables.",
            |f| f.memtable_bytes,
        ),
    ];
    prometheus::families(out, &families, "db", figures.iter().map(|(db, f)| (db, f)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_buckets_and_unknown_databases() {
        let m = Metrics::new(&["a".into()]);
        m.observe(Route::Get, "a", 200, Duration::from_micros(80));
        m.observe(Route::Get, "a", 404, Duration::from_millis(3));
        m.observe(Route::Put, "evil\"name", 404, Duration::from_micros(10));
        let mut out = String::new();
        m.render(&[("a".into(), Figures::default())], &mut out);
        assert!(out.contains("comet_kv_requests_total{route=\"get\",db=\"a\",status=\"200\"} 1"));
        assert!(out.contains("comet_kv_requests_total{route=\"get\",db=\"a\",status=\"404\"} 1"));
        assert!(
            out.contains("{route=\"put\",db=\"(unknown)\",status=\"404\"} 1"),
            "{out}"
        );
        assert!(out.contains(
            "comet_kv_request_duration_seconds_bucket{route=\"get\",db=\"a\",le=\"0.0001\"} 1"
        ));
        assert!(out.contains(
            "comet_kv_request_duration_seconds_bucket{route=\"get\",db=\"a\",le=\"0.005\"} 2"
        ));
        assert!(out.contains("comet_kv_request_duration_seconds_count{route=\"get\",db=\"a\"} 2"));
        assert!(out.contains("comet_kv_pending_compaction_bytes{db=\"a\"} 0"));
        assert!(!out.contains("evil"));
    }
}
