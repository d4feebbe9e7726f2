//! One instance of a `wasm` function: its compiled, pre-linked module. Each invocation runs a
//! fresh wasm instance from it (see [`crate::run`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use comet_protocol::RespPayload;
use comet_sandbox::{Instance, SandboxError};
use nova_api::FunctionSpec;
use serde_json::value::RawValue;
use wasmtime::{InstancePre, Linker};

use crate::artifact;
use crate::engine::WasmEngine;
use crate::run::{self, Guest};

pub struct WasmInstance {
    id: String,
    dir: PathBuf,
    engine: Arc<WasmEngine>,
    pre: InstancePre<Guest>,
    call: Arc<run::CallSettings>,
}

impl WasmInstance {
    /// Loads (or compiles) the module and resolves its imports once. Blocking.
    pub fn new(
        id: String,
        dir: PathBuf,
        engine: Arc<WasmEngine>,
        cache_dir: &Path,
        spec: &FunctionSpec,
    ) -> Result<WasmInstance, SandboxError> {
        std::fs::create_dir_all(&dir)?;
        let init = |e: wasmtime::Error| SandboxError::Init(format!("{e:#}"));
        let module =
            artifact::load(&engine, cache_dir, &spec.code_hash, &spec.code).map_err(init)?;
        let mut linker: Linker<Guest> = Linker::new(engine.engine());
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |g: &mut Guest| &mut g.wasi)
            .map_err(init)?;
        let pre = linker.instantiate_pre(&module).map_err(init)?;
        let call = run::CallSettings {
            handler: spec.handler.clone(),
            env: nova_env(spec),
            memory_bytes: spec.memory_mb as usize * 1024 * 1024,
        };
        Ok(WasmInstance {
            id,
            dir,
            engine,
            pre,
            call: Arc::new(call),
        })
    }
}

/// The user's variables plus Nova's, as every runtime gets them.
fn nova_env(spec: &FunctionSpec) -> BTreeMap<String, String> {
    let mut env = spec.env_vars.clone();
    for (k, v) in [
        ("NOVA_FUNCTION_NAME", spec.name.clone()),
        ("NOVA_FUNCTION_VERSION", spec.version.to_string()),
        ("NOVA_MEMORY_LIMIT_MB", spec.memory_mb.to_string()),
        ("NOVA_TIMEOUT_S", spec.timeout_s.to_string()),
        ("NOVA_RUNTIME", spec.runtime.to_string()),
        ("NOVA_CODE_DIR", ".".to_string()),
        ("NOVA_MODE", spec.mode.to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    env
}

#[async_trait]
impl Instance for WasmInstance {
    fn id(&self) -> &str {
        &self.id
    }

    async fn invoke(
        &mut self,
        request_id: &str,
        input: &RawValue,
        timeout: Duration,
    ) -> Result<RespPayload, SandboxError> {
        let mut resp = run::once(
            &self.engine,
            &self.pre,
            &self.call,
            &self.dir,
            request_id,
            input.get(),
            timeout,
        )
        .await;
        resp.request_id = request_id.to_string();
        Ok(resp)
    }

    fn is_alive(&mut self) -> bool {
        true
    }

    async fn stop(self: Box<Self>) {}
}

impl Drop for WasmInstance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
