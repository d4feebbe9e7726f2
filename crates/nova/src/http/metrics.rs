//! `GET /metrics`: the executor's pool figures in Prometheus text format, then the embedded KV
//! service's.

use std::fmt::Write;

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use comet_kv::Kv;

use crate::service::Functions;

/// A metric family: name, type, help text, and how to read it from a pool's figures.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&comet::PoolStats) -> u64,
);

pub async fn render(
    State(functions): State<Functions>,
    Extension(kv): Extension<Option<Arc<Kv>>>,
) -> impl IntoResponse {
    let stats = functions.dataplane().stats();
    let mut out = String::new();
    let families: [Family; 5] = [
        (
            "nova_invocations_total",
            "counter",
            "Invocations that reached an instance.",
            |s| s.invocations,
        ),
        (
            "nova_invocation_errors_total",
            "counter",
            "Invocations that ended in an error.",
            |s| s.errors,
        ),
        (
            "nova_cold_starts_total",
            "counter",
            "Invocations that created their instance.",
            |s| s.cold_starts,
        ),
        (
            "nova_instances",
            "gauge",
            "Instances that exist or are starting.",
            |s| s.instances as u64,
        ),
        (
            "nova_idle_instances",
            "gauge",
            "Warm instances waiting for a call.",
            |s| s.idle as u64,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in &stats {
            let _ = writeln!(out, "{name}{{function=\"{}\"}} {}", s.function, value(s));
        }
    }
    if let Some(kv) = kv {
        kv.render_metrics(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
