//! The WebAssembly backend on real wasmtime, with WAT fixtures (this machine has no wasm32
//! target): the contract, the limits, and that nothing survives between invocations.

use std::path::Path;
use std::time::{Duration, Instant};

use comet_sandbox::{Backend, Instance};
use comet_wasm::{WasmBackend, WasmConfig};
use nova_api::{FunctionSpec, Runtime};
use serde_json::value::RawValue;
use serde_json::{Value, json};

fn backend(dir: &Path) -> WasmBackend {
    WasmBackend::new(WasmConfig::new(dir.join("cache"), dir.join("instances"))).expect("backend")
}

fn fixture(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = if name == "hello" {
        root.join("../../examples/wasm/hello.wat")
    } else {
        root.join("tests/fixtures").join(format!("{name}.wat"))
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn spec(name: &str, code: Vec<u8>) -> FunctionSpec {
    FunctionSpec {
        memory_mb: 16,
        timeout_s: 1,
        ..FunctionSpec::with_defaults(name, Runtime::Wasm, code)
    }
}

async fn run(instance: &mut Box<dyn Instance>, input: Value) -> comet_protocol::RespPayload {
    let input = RawValue::from_string(input.to_string()).expect("json");
    instance
        .invoke("req", &input, Duration::from_secs(1))
        .await
        .expect("an answer")
}

fn output(r: &comet_protocol::RespPayload) -> Value {
    assert!(r.error.is_none(), "{:?} / {}", r.error, r.stderr);
    serde_json::from_str(r.output.as_ref().expect("output").get()).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reads_its_input_file_and_prints_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut i = b
        .create(&spec("hello", fixture("hello")))
        .await
        .expect("create");
    let r = run(&mut i, json!({"name": "World"})).await;
    assert_eq!(
        output(&r),
        json!({"hello": "wasm", "input": {"name": "World"}})
    );
    assert_eq!(r.request_id, "req");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invocation_gets_a_fresh_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut i = b
        .create(&spec("counter", fixture("counter")))
        .await
        .expect("create");
    for _ in 0..3 {
        assert_eq!(
            output(&run(&mut i, json!({})).await),
            json!({"calls": 1}),
            "state leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_an_error_and_the_instance_serves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut i = b
        .create(&spec("trap", fixture("trap")))
        .await
        .expect("create");
    let r = run(&mut i, json!({})).await;
    assert!(
        r.error.as_deref().unwrap_or("").contains("wasm trap"),
        "{:?}",
        r.error
    );
    assert!(run(&mut i, json!({})).await.error.is_some());
    let mut good = b
        .create(&spec("hello", fixture("hello")))
        .await
        .expect("create");
    output(&run(&mut good, json!({})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_past_the_timeout_is_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut i = b
        .create(&spec("spin", fixture("spin")))
        .await
        .expect("create");
    let started = Instant::now();
    let r = run(&mut i, json!({})).await;
    assert!(r.timed_out, "{r:?}");
    assert!(
        r.error.as_deref().unwrap_or("").contains("timed out"),
        "{:?}",
        r.error
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_past_the_limit_is_out_of_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut i = b
        .create(&spec("grow", fixture("grow")))
        .await
        .expect("create");
    let r = run(&mut i, json!({})).await;
    let e = r.error.expect("error");
    assert!(e.contains("out of memory") && e.contains("16 MB"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_floods_and_exit_codes_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let mut flood = b
        .create(&spec("flood", fixture("flood")))
        .await
        .expect("create");
    let r = run(&mut flood, json!({})).await;
    assert!(
        r.error.as_deref().unwrap_or("").contains("exceeds"),
        "{:?}",
        r.error
    );
    let mut exit = b
        .create(&spec("exit3", fixture("exit3")))
        .await
        .expect("create");
    let r = run(&mut exit, json!({})).await;
    assert_eq!(
        r.error.as_deref(),
        Some("module exited with status 3: bad input")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_modules_are_refused_and_valid_ones_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backend(dir.path());
    let err = b
        .validate(&spec("garbage", b"definitely not wasm".to_vec()))
        .unwrap_err();
    assert!(
        matches!(err, comet_sandbox::ValidateError::InvalidModule(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("invalid WebAssembly module"),
        "{err}"
    );
    let missing_start = b"(module (func (export \"main\")))".to_vec();
    let s = spec("nostart", missing_start);
    b.validate(&s).expect("it compiles");
    let hello = spec("hello", fixture("hello"));
    b.validate(&hello).expect("valid");
    let mut huge = hello.clone();
    huge.memory_mb = 4096;
    let err = b.validate(&huge).unwrap_err();
    assert!(
        matches!(
            err,
            comet_sandbox::ValidateError::TooMuchMemory {
                requested: 4096,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("exceeds the wasm runtime's maximum"),
        "{err}"
    );
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .expect("cache")
        .flatten()
        .collect();
    assert!(cached.iter().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(&hello.code_hash)
    }));
    // A fresh backend (a restarted daemon) loads the artifact instead of compiling.
    let again = backend(dir.path());
    let mut i = again
        .create(&hello)
        .await
        .expect("create from the artifact");
    output(&run(&mut i, json!({})).await);
    // A module without _start cannot be invoked: an instance error, not a crash.
    let mut no_start = again.create(&s).await.expect("create");
    assert!(run(&mut no_start, json!({})).await.error.is_some());
}
