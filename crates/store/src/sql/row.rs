//! Mapping between [`Function`] and rows of the `functions` table.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use comet_util::rfc3339;
use nova_api::{Function, Limits};

use crate::StoreError;

/// A `functions` row as plain column values.
pub struct Row {
    pub id: String,
    pub name: String,
    pub runtime: String,
    pub handler: String,
    pub mode: String,
    pub network: String,
    pub memory_mb: i64,
    pub timeout_s: i64,
    pub min_replicas: i64,
    pub max_replicas: i64,
    pub instance_concurrency: i64,
    pub env_vars: String,
    pub limits: String,
    pub version: i64,
    pub code_hash: String,
    pub code_size: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, name, runtime, handler, mode, network, memory_mb, timeout_s, min_replicas, \
    max_replicas, instance_concurrency, env_vars, limits, version, code_hash, code_size, \
    created_at, updated_at";

impl Row {
    pub fn from_function(f: &Function) -> Result<Row, StoreError> {
        let json =
            |v: serde_json::Result<String>| v.map_err(|e| StoreError::Corrupt(e.to_string()));
        Ok(Row {
            id: f.id.clone(),
            name: f.name.clone(),
            runtime: f.runtime.to_string(),
            handler: f.handler.clone(),
            mode: f.mode.to_string(),
            network: f.network.to_string(),
            memory_mb: f.memory_mb.into(),
            timeout_s: f.timeout_s.into(),
            min_replicas: f.min_replicas.into(),
            max_replicas: f.max_replicas.into(),
            instance_concurrency: f.instance_concurrency.into(),
            env_vars: json(serde_json::to_string(&f.env_vars))?,
            limits: json(serde_json::to_string(&f.limits))?,
            version: f.version as i64,
            code_hash: f.code_hash.clone(),
            code_size: f.code_size as i64,
            created_at: millis(&f.created_at)?,
            updated_at: millis(&f.updated_at)?,
        })
    }

    pub fn into_function(self) -> Result<Function, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("function '{}': {what}: {e}", self.name))
        };
        let num = |what: &str, v: i64| u32::try_from(v).map_err(|e| corrupt(what, &e));
        let env_vars: BTreeMap<String, String> =
            serde_json::from_str(&self.env_vars).map_err(|e| corrupt("env_vars", &e))?;
        let limits: Limits =
            serde_json::from_str(&self.limits).map_err(|e| corrupt("limits", &e))?;
        Ok(Function {
            runtime: self.runtime.parse().map_err(|e| corrupt("runtime", &e))?,
            mode: self.mode.parse().map_err(|e| corrupt("mode", &e))?,
            network: self.network.parse().map_err(|e| corrupt("network", &e))?,
            memory_mb: num("memory_mb", self.memory_mb)?,
            timeout_s: num("timeout_s", self.timeout_s)?,
            min_replicas: num("min_replicas", self.min_replicas)?,
            max_replicas: num("max_replicas", self.max_replicas)?,
            instance_concurrency: num("instance_concurrency", self.instance_concurrency)?,
            env_vars,
            limits,
            version: self.version as u64,
            code_size: self.code_size as u64,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            id: self.id,
            name: self.name,
            handler: self.handler,
            code_hash: self.code_hash,
        })
    }
}

fn millis(ts: &str) -> Result<i64, StoreError> {
    let t = humantime::parse_rfc3339_weak(ts)
        .map_err(|e| StoreError::Corrupt(format!("timestamp '{ts}': {e}")))?;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_millisecond() {
        let ts = crate::record_now();
        assert_eq!(rfc3339(millis(&ts).expect("parse")), ts);
    }
}
