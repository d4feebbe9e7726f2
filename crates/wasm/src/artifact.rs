//! Compile once: modules are compiled at register time and kept on disk as native artifacts,
//! keyed by code hash and by the engine's compatibility hash (a new wasmtime or a new
//! configuration never loads an old artifact).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Module;

use crate::engine::WasmEngine;

/// The module for `code` (binary `.wasm` or `.wat` text), from the artifact cache when present.
pub fn load(
    engine: &WasmEngine,
    cache_dir: &Path,
    code_hash: &str,
    code: &[u8],
) -> wasmtime::Result<Module> {
    let path = artifact_path(engine, cache_dir, code_hash)?;
    if path.exists() {
        // SAFETY: artifacts are written only by this code, from `Module::serialize` of the same
        // engine configuration (the compatibility hash is in the file name), and renamed into
        // place whole; wasmtime still checks the header and refuses a mismatched artifact.
        match unsafe { Module::deserialize_file(engine.engine(), &path) } {
            Ok(module) => return Ok(module),
            Err(e) => {
                tracing::warn!(artifact = %path.display(), error = %e, "recompiling an unusable artifact")
            }
        }
    }
    let module = Module::new(engine.engine(), code)?;
    if let Err(e) = store(&path, &module.serialize()?) {
        tracing::warn!(artifact = %path.display(), error = %e, "cannot cache the compiled module");
    }
    Ok(module)
}

fn artifact_path(
    engine: &WasmEngine,
    cache_dir: &Path,
    code_hash: &str,
) -> wasmtime::Result<PathBuf> {
    if code_hash.is_empty() || !code_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        wasmtime::bail!("code hash '{code_hash}' is not hex");
    }
    let mut h = DefaultHasher::new();
    engine.engine().precompile_compatibility_hash().hash(&mut h);
    Ok(cache_dir.join(format!("{code_hash}-{:016x}.cwasm", h.finish())))
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
