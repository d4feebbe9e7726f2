//! Comet's `DataPlane` gRPC service (package `nova.v1`, `proto/dataplane.proto`): [`server`] is
//! what `comet daemon --grpc-addr` runs over its local data plane; [`Cluster`] is the remote data
//! plane Nova calls in standalone (one endpoint) and cluster (several) modes, behind the same
//! [`comet::DataPlane`] interface as the embedded one.

pub mod access;
mod cluster;
mod convert;
pub mod failure;
pub mod server;
pub mod token;

pub use cluster::Cluster;

use comet::journal::{InvocationPage, MetricsSummary};

#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("nova.v1");
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no comet endpoints given")]
    NoEndpoints,
    #[error("invalid comet endpoint '{0}': {1}")]
    Endpoint(String, String),
    #[error("{0}")]
    Token(String),
}

fn convert_metrics(m: &MetricsSummary) -> proto::GetMetricsResponse {
    proto::GetMetricsResponse {
        total: m.total as i64,
        successful: m.successful as i64,
        failed: m.failed as i64,
        avg_duration_ms: m.avg_ms,
        p50_duration_ms: m.p50_ms,
        p95_duration_ms: m.p95_ms,
        p99_duration_ms: m.p99_ms,
        cold_starts: m.cold_starts as i64,
    }
}

fn convert_page(page: &InvocationPage) -> proto::ListInvocationsResponse {
    proto::ListInvocationsResponse {
        invocations: page
            .invocations
            .iter()
            .map(|r| proto::InvocationLog {
                id: r.id.clone(),
                function: r.function.clone(),
                version: r.version,
                duration_ms: r.duration.as_secs_f64() * 1000.0,
                cold_start: r.cold_start,
                success: r.success,
                error: r.error.clone().unwrap_or_default(),
                started_at_ms: r.started_at_ms,
                node_id: r.node_id.clone(),
            })
            .collect(),
        total: page.total as i64,
    }
}
