//! `GET /metrics`: JSON to a client that asks for `application/json` (the original Nova's shape:
//! totals under `invocations`, then per function), Prometheus text otherwise; and
//! `GET /metrics/prometheus`, always text. Counters come from the service's own counts, which
//! never decrease; the instance gauges from the data plane's pools; then the embedded KV
//! service's figures.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use comet_kv::Kv;
use comet_util::prometheus::{self, Family};
use serde_json::{Value, json};

use super::accepts;
use crate::service::{Counts, Functions};

/// One function's figures: the service's counts and the data plane's instances.
#[derive(Default)]
struct Figures {
    counts: Counts,
    instances: u64,
    idle: u64,
}

/// When this process first served its API, for `uptime_seconds`.
pub(super) fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

fn figures(functions: &Functions) -> BTreeMap<String, Figures> {
    let mut all: BTreeMap<String, Figures> = functions
        .counters()
        .snapshot()
        .into_iter()
        .map(|(name, counts)| {
            let figures = Figures {
                counts,
                ..Figures::default()
            };
            (name, figures)
        })
        .collect();
    for pool in functions.dataplane().stats() {
        let f = all.entry(pool.function).or_default();
        f.instances = pool.instances as u64;
        f.idle = pool.idle as u64;
    }
    all
}

pub async fn render(
    State(functions): State<Functions>,
    Extension(kv): Extension<Option<Arc<Kv>>>,
    headers: HeaderMap,
) -> Response {
    if accepts(&headers, "application/json") {
        Json(json_figures(&functions)).into_response()
    } else {
        prometheus(State(functions), Extension(kv)).await
    }
}

pub async fn prometheus(
    State(functions): State<Functions>,
    Extension(kv): Extension<Option<Arc<Kv>>>,
) -> Response {
    let figures = figures(&functions);
    let mut out = String::new();
    let families: [Family<Figures>; 5] = [
        (
            "nova_invocations_total",
            "counter",
            "Invocations that reached an instance.",
            |f| f.counts.invocations,
        ),
        (
            "nova_invocation_errors_total",
            "counter",
            "Invocations that ended in an error.",
            |f| f.counts.errors,
        ),
        (
            "nova_cold_starts_total",
            "counter",
            "Invocations that created their instance.",
            |f| f.counts.cold_starts,
        ),
        (
            "nova_instances",
            "gauge",
            "Instances that exist or are starting.",
            |f| f.instances,
        ),
        (
            "nova_idle_instances",
            "gauge",
            "Warm instances waiting for a call.",
            |f| f.idle,
        ),
    ];
    prometheus::families(&mut out, &families, "function", figures.iter());
    if let Some(kv) = kv {
        kv.render_metrics(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

fn json_figures(functions: &Functions) -> Value {
    let figures = figures(functions);
    let total = figures.values().fold(Counts::default(), |mut t, f| {
        t.invocations += f.counts.invocations;
        t.errors += f.counts.errors;
        t.cold_starts += f.counts.cold_starts;
        t
    });
    let per_function: serde_json::Map<String, Value> = figures
        .iter()
        .map(|(name, f)| {
            let c = f.counts;
            let figures = json!({
                "invocations": c.invocations,
                "successes": c.invocations.saturating_sub(c.errors),
                "failures": c.errors,
                "cold_starts": c.cold_starts,
                "warm_starts": c.invocations.saturating_sub(c.cold_starts),
                "instances": f.instances,
                "idle_instances": f.idle,
            });
            (name.clone(), figures)
        })
        .collect();
    let cold_pct = if total.invocations == 0 {
        0.0
    } else {
        100.0 * total.cold_starts as f64 / total.invocations as f64
    };
    json!({
        "uptime_seconds": started().elapsed().as_secs(),
        "invocations": {
            "total": total.invocations,
            "success": total.invocations.saturating_sub(total.errors),
            "failed": total.errors,
            "cold": total.cold_starts,
            "warm": total.invocations.saturating_sub(total.cold_starts),
            "cold_pct": cold_pct,
        },
        "functions": per_function,
    })
}
