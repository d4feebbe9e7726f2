//! Between the domain types (nova-api, comet) and their protobuf messages.

use std::sync::Arc;

use comet::InvokeError;
use nova_api::{FunctionSpec, InvokeResponse, Limits};
use serde_json::value::RawValue;
use tonic::Status;

use crate::proto;

/// The spec as sent: everything but the code, which goes only when a worker asks for it.
pub fn spec_message(spec: &FunctionSpec, with_code: bool) -> proto::FunctionSpec {
    proto::FunctionSpec {
        name: spec.name.clone(),
        version: spec.version,
        runtime: spec.runtime.to_string(),
        handler: spec.handler.clone(),
        mode: spec.mode.to_string(),
        network: spec.network.to_string(),
        memory_mb: spec.memory_mb,
        timeout_s: spec.timeout_s,
        min_replicas: spec.min_replicas,
        max_replicas: spec.max_replicas,
        env_vars: spec.env_vars.clone().into_iter().collect(),
        limits: Some(proto::Limits {
            vcpus: spec.limits.vcpus,
            disk_iops: spec.limits.disk_iops,
            disk_bandwidth: spec.limits.disk_bandwidth,
            net_rx_bandwidth: spec.limits.net_rx_bandwidth,
            net_tx_bandwidth: spec.limits.net_tx_bandwidth,
        }),
        code_hash: spec.code_hash.clone(),
        code: if with_code {
            spec.code.to_vec()
        } else {
            Vec::new()
        },
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{what}: {e}"))
}

/// A spec from a message, with `code` (from the message or the worker's cache).
pub fn spec_from(m: proto::FunctionSpec, code: Arc<[u8]>) -> Result<FunctionSpec, Status> {
    let limits = m.limits.unwrap_or_default();
    Ok(FunctionSpec {
        runtime: m.runtime.parse().map_err(|e| invalid("runtime", e))?,
        mode: m.mode.parse().map_err(|e| invalid("mode", e))?,
        network: m.network.parse().map_err(|e| invalid("network", e))?,
        name: m.name,
        version: m.version,
        handler: m.handler,
        memory_mb: m.memory_mb,
        timeout_s: m.timeout_s,
        min_replicas: m.min_replicas,
        max_replicas: m.max_replicas,
        env_vars: m.env_vars.into_iter().collect(),
        limits: Limits {
            vcpus: limits.vcpus,
            disk_iops: limits.disk_iops,
            disk_bandwidth: limits.disk_bandwidth,
            net_rx_bandwidth: limits.net_rx_bandwidth,
            net_tx_bandwidth: limits.net_tx_bandwidth,
        },
        code_hash: m.code_hash,
        code,
    })
}

pub fn response_message(r: InvokeResponse, node_id: &str) -> proto::InvokeResponse {
    proto::InvokeResponse {
        request_id: r.request_id,
        output: r
            .output
            .map(|o| o.get().as_bytes().to_vec())
            .unwrap_or_default(),
        error: r.error.unwrap_or_default(),
        duration_ms: r.duration_ms as i64,
        cold_start: r.cold_start,
        duration_us: r.duration_us,
        timed_out: r.timed_out,
        stdout: r.stdout,
        stderr: r.stderr,
        version: r.version.unwrap_or_default(),
        node_id: node_id.to_string(),
    }
}

pub fn response_from(m: proto::InvokeResponse) -> Result<InvokeResponse, InvokeError> {
    let output = if m.output.is_empty() {
        None
    } else {
        let text = String::from_utf8(m.output).map_err(|_| InvokeError::OutputNotUtf8)?;
        Some(RawValue::from_string(text).map_err(|e| InvokeError::OutputNotJson(e.to_string()))?)
    };
    Ok(InvokeResponse {
        request_id: m.request_id,
        output,
        error: (!m.error.is_empty()).then_some(m.error),
        duration_ms: m.duration_ms.max(0) as u64,
        duration_us: m.duration_us,
        cold_start: m.cold_start,
        timed_out: m.timed_out,
        version: (m.version != 0).then_some(m.version),
        stdout: m.stdout,
        stderr: m.stderr,
    })
}
