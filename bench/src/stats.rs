//! Latency samples and their summary.

use std::time::Duration;

#[derive(Default)]
pub struct Samples {
    latencies: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.latencies.push(d);
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    pub fn summary(mut self) -> Summary {
        self.latencies.sort_unstable();
        let pick = |q: f64| -> f64 {
            if self.latencies.is_empty() {
                return f64::NAN;
            }
            let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies[i].as_secs_f64() * 1000.0
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        Summary {
            requests: self.latencies.len(),
            errors: self.errors,
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            per_sec: self.latencies.len() as f64 / secs,
        }
    }
}

/// Runs `client` on `clients` tasks at once (each returns its own samples) and merges them,
/// timing the whole.
pub async fn concurrently<F, Fut>(clients: usize, client: F) -> Samples
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Samples> + Send + 'static,
{
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(client())).collect();
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all.elapsed = start.elapsed();
    all
}

#[derive(Clone, Copy)]
pub struct Summary {
    pub requests: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub per_sec: f64,
}

pub fn header() {
    println!(
        "{:<34} {:>7} {:>9} {:>7} {:>10} {:>10} {:>10}",
        "workload", "clients", "requests", "errors", "p50 ms", "p99 ms", "req/s"
    );
}

pub fn row(name: &str, clients: usize, s: &Summary) {
    println!(
        "{:<34} {:>7} {:>9} {:>7} {:>10.3} {:>10.3} {:>10.1}",
        name, clients, s.requests, s.errors, s.p50_ms, s.p99_ms, s.per_sec
    );
}
