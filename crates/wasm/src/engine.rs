//! The wasmtime engine: configuration and the epoch ticker that bounds execution time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::WasmConfig;

/// How often the epoch advances: a running module yields to the executor this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One engine per backend, and the thread that advances its epoch.
pub struct WasmEngine {
    engine: Engine,
    stop: Arc<AtomicBool>,
}

impl WasmEngine {
    pub fn new(config: &WasmConfig) -> wasmtime::Result<WasmEngine> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(config.max_instances)
            .total_memories(config.max_instances)
            .total_tables(config.max_instances)
            .max_memory_size(config.max_memory_mb as usize * 1024 * 1024)
            // Reset small memories and tables in place instead of decommitting them: madvise
            // costs TLB shootdowns across CPUs on every instance teardown.
            .linear_memory_keep_resident(1024 * 1024)
            .table_keep_resident(64 * 1024);
        let mut cfg = Config::new();
        cfg.epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = engine.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .map_err(wasmtime::Error::from)?;
        Ok(WasmEngine { engine, stop })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
