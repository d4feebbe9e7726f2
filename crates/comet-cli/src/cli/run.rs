//! `comet run`: a function file, run directly through the executor (no control plane, no store).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use comet::sandbox::{Backend, Router};
use comet::sandbox::{
    IsolationConfig, IsolationMode, ProcessBackend, ProcessConfig, find_agent, find_python,
};
use comet::{Executor, ExecutorConfig};
use comet_wasm::{WasmBackend, WasmConfig};
use nova_api::{FunctionSpec, InvokeRequest};
use serde_json::value::RawValue;

pub async fn run_function(
    spec: Arc<FunctionSpec>,
    payload: Box<RawValue>,
    times: u32,
    isolation: IsolationMode,
    programs: super::ProgramArgs,
) -> Result<ExitCode> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let agent = programs
        .agent
        .or_else(find_agent)
        .context("comet-agent not found: put it beside comet, or give --agent or COMET_AGENT")?;
    let process = ProcessBackend::new(ProcessConfig {
        agent,
        python: programs.python.or_else(find_python),
        code_dir: scratch.path().join("code"),
        instance_dir: scratch.path().join("instances"),
        isolation: IsolationConfig {
            mode: isolation,
            ..IsolationConfig::default()
        },
    })?;
    let wasm = WasmBackend::new(WasmConfig::new(
        scratch.path().join("wasm-cache"),
        scratch.path().join("wasm-instances"),
    ))?;
    let backend = Router::new(vec![Arc::new(process), Arc::new(wasm)]);
    if let Err(e) = backend.validate(&spec) {
        bail!("{e}");
    }
    let executor = Executor::new(Arc::new(backend), ExecutorConfig::default());
    let mut failed = false;
    for _ in 0..times {
        let request = InvokeRequest {
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            payload: payload.clone(),
        };
        match executor.invoke(spec.clone(), request).await {
            Ok(resp) => {
                failed |= !resp.is_success();
                println!("{}", serde_json::to_string(&resp)?);
            }
            Err(e) => {
                executor.shutdown().await;
                return Err(e.into());
            }
        }
    }
    executor.shutdown().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
