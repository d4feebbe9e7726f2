//! One invocation: a fresh store and instance, `_start`, and the outcome in the function
//! contract's terms.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use comet_protocol::RespPayload;
use comet_protocol::contract::{MAX_LOG, MAX_OUTPUT, parse_stdout, tail};
use wasmtime::{InstancePre, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::engine::WasmEngine;

/// What every call of one function shares.
pub struct CallSettings {
    pub handler: String,
    pub env: BTreeMap<String, String>,
    pub memory_bytes: usize,
}

/// A store's data: the WASI context and the memory limiter.
pub struct Guest {
    pub wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// Runs `_start` once with `input` as `input.json` in the preopened directory `dir`.
///
/// The module runs on the calling task, on a fiber that yields back to the executor at every
/// epoch tick (10 ms): short calls cost no thread hop, long ones never hog a worker, and the
/// timeout is the caller dropping the future.
pub async fn once(
    engine: &WasmEngine,
    pre: &InstancePre<Guest>,
    call: &CallSettings,
    dir: &Path,
    request_id: &str,
    input: &str,
    timeout: Duration,
) -> RespPayload {
    if let Err(e) = std::fs::write(dir.join("input.json"), input) {
        return RespPayload::error("", format!("cannot write the input file: {e}"));
    }
    let stdout = MemoryOutputPipe::new(MAX_OUTPUT + 1);
    let stderr = MemoryOutputPipe::new(MAX_LOG);
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&[call.handler.as_str(), "input.json"])
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        // Input files live on a tmpfs: reading one inline beats a hop to the blocking pool.
        .allow_blocking_current_thread(true);
    for (k, v) in &call.env {
        wasi.env(k, v);
    }
    wasi.env("NOVA_REQUEST_ID", request_id);
    if let Err(e) = wasi.preopened_dir(dir, ".", FsPerms::ReadOnly) {
        return RespPayload::error("", format!("cannot preopen the input directory: {e}"));
    }
    let guest = Guest {
        wasi: wasi.build_p1(),
        limits: StoreLimitsBuilder::new()
            .memory_size(call.memory_bytes)
            .instances(1)
            .trap_on_grow_failure(true)
            .build(),
    };
    let mut store = Store::new(engine.engine(), guest);
    store.limiter(|g| &mut g.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    let run = async {
        let instance = pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    };
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(result) => result,
        Err(_) => Err(wasmtime::Error::new(Trap::Interrupt)),
    };
    drop(store);
    outcome(
        result,
        &stdout.contents(),
        &stderr.contents(),
        call,
        timeout,
    )
}

fn outcome(
    result: wasmtime::Result<()>,
    stdout: &[u8],
    stderr: &[u8],
    call: &CallSettings,
    timeout: Duration,
) -> RespPayload {
    let mut resp = RespPayload {
        stderr: tail(&String::from_utf8_lossy(stderr), MAX_LOG),
        ..RespPayload::default()
    };
    let exit = match result {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => *code,
            None => {
                resp.timed_out = e.downcast_ref::<Trap>() == Some(&Trap::Interrupt);
                resp.error = Some(failure(&e, call, timeout));
                resp.stdout = tail(&String::from_utf8_lossy(stdout), MAX_LOG);
                return resp;
            }
        },
    };
    if stdout.len() > MAX_OUTPUT {
        resp.error = Some(format!(
            "handler output exceeds the {MAX_OUTPUT}-byte limit"
        ));
        return resp;
    }
    if exit != 0 {
        let last = resp.stderr.trim().lines().last().unwrap_or("").to_string();
        resp.error = Some(if last.is_empty() {
            format!("module exited with status {exit}")
        } else {
            format!("module exited with status {exit}: {last}")
        });
        resp.stdout = tail(&String::from_utf8_lossy(stdout), MAX_LOG);
        return resp;
    }
    match parse_stdout(&String::from_utf8_lossy(stdout)) {
        Ok(parsed) => {
            resp.output = Some(parsed.output);
            resp.stdout = parsed.logs;
        }
        Err(e) => resp.error = Some(e),
    }
    resp
}

/// A trap or limit, in words a user can act on.
fn failure(e: &wasmtime::Error, call: &CallSettings, timeout: Duration) -> String {
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return format!(
            "handler timed out after {} s and was stopped",
            timeout.as_secs()
        );
    }
    let text = format!("{e:#}");
    if text.contains("growing memory") || text.contains("memory minimum size") {
        return format!(
            "out of memory: the module needs more than its {} MB memory limit",
            call.memory_bytes / (1024 * 1024)
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => format!("wasm error: {text}"),
    }
}
