//! Shared by the executor tests: function specs for Python source.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use nova_api::{FunctionSpec, Limits, Mode, Network, Runtime};

/// A Python function spec whose code hash follows its source.
pub fn python_spec(name: &str, code: &str, mode: Mode) -> FunctionSpec {
    let mut h = DefaultHasher::new();
    code.hash(&mut h);
    FunctionSpec {
        name: name.into(),
        version: 1,
        runtime: Runtime::Python,
        handler: "main.handler".into(),
        mode,
        network: Network::None,
        memory_mb: 128,
        timeout_s: 5,
        min_replicas: 0,
        max_replicas: 0,
        env_vars: Default::default(),
        limits: Limits::default(),
        code_hash: format!("{:016x}", h.finish()),
        code: Arc::from(code.as_bytes()),
    }
}
