//! The process backend on its own: real `comet-agent` children and real Python handlers, driven
//! through the `Backend` and `Instance` traits alone (no executor, no pool). Isolation is what
//! this host allows (`auto`): full as root, rlimits and seccomp otherwise; the assertions hold
//! under both. Needs `cargo build --workspace --bins` (the agent) and python3.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use comet_sandbox::{
    Backend, Instance, IsolationConfig, ProcessBackend, ProcessConfig, SandboxError, find_agent,
    find_python,
};
use nova_api::{FunctionSpec, Mode, Runtime};
use serde_json::value::RawValue;
use serde_json::{Value, json};

struct Host {
    backend: ProcessBackend,
    dir: tempfile::TempDir,
}

fn host() -> Host {
    host_with(find_python())
}

fn host_with(python: Option<PathBuf>) -> Host {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = ProcessBackend::new(ProcessConfig {
        agent: find_agent().expect("comet-agent not built: run `cargo build --workspace --bins`"),
        python,
        code_dir: dir.path().join("code"),
        instance_dir: dir.path().join("instances"),
        isolation: IsolationConfig {
            standby: 0,
            ..IsolationConfig::default()
        },
    })
    .expect("backend");
    Host { backend, dir }
}

impl Host {
    fn instance_dir(&self, instance: &dyn Instance) -> PathBuf {
        self.dir.path().join("instances").join(instance.id())
    }
}

fn python(name: &str, code: &str, mode: Mode) -> FunctionSpec {
    FunctionSpec {
        mode,
        memory_mb: 64,
        timeout_s: 5,
        ..FunctionSpec::with_defaults(name, Runtime::Python, code.as_bytes().to_vec())
    }
}

/// The handler's output of a call that must succeed.
async fn ok(instance: &mut dyn Instance, event: Value) -> Value {
    let input = RawValue::from_string(event.to_string()).expect("json");
    let r = instance
        .invoke("req", &input, Duration::from_secs(5))
        .await
        .expect("invoke");
    assert!(r.error.is_none(), "{:?}\n{}", r.error, r.stderr);
    assert_eq!(r.request_id, "req");
    serde_json::from_str(r.output.expect("output").get()).expect("json")
}

const COUNTER: &str = "import os\nCALLS = 0\ndef handler(event):\n    global CALLS\n    CALLS += 1\n    return {'calls': CALLS, 'echo': event, 'greeting': os.environ.get('GREETING')}\n";

#[tokio::test]
async fn a_persistent_instance_keeps_its_state_between_calls_and_stop_cleans_up() {
    let h = host();
    let mut spec = python("counter", COUNTER, Mode::Persistent);
    spec.env_vars = BTreeMap::from([("GREETING".to_string(), "hi".to_string())]);
    let mut instance = h.backend.create(&spec).await.expect("create");
    assert_eq!(instance.id(), "counter-1");
    let dir = h.instance_dir(instance.as_ref());
    assert!(dir.is_dir(), "{} missing while running", dir.display());
    assert!(instance.is_alive());
    let first = ok(instance.as_mut(), json!({"n": 1})).await;
    assert_eq!(
        first,
        json!({"calls": 1, "echo": {"n": 1}, "greeting": "hi"})
    );
    let second = ok(instance.as_mut(), json!({"n": 2})).await;
    assert_eq!(second["calls"], 2, "the same process served both calls");
    instance.stop().await;
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test]
async fn a_process_mode_instance_runs_the_program_once_per_call() {
    let h = host();
    let code = "import json, os, sys\nif __name__ == '__main__':\n    event = json.load(open(sys.argv[1]))\n    print(json.dumps({'i': event['i'], 'pid': os.getpid()}))\n";
    let mut instance = h
        .backend
        .create(&python("once", code, Mode::Process))
        .await
        .expect("create");
    let a = ok(instance.as_mut(), json!({"i": 1})).await;
    let b = ok(instance.as_mut(), json!({"i": 2})).await;
    assert_eq!((a["i"].clone(), b["i"].clone()), (json!(1), json!(2)));
    assert_ne!(a["pid"], b["pid"], "a fresh process per call");
    assert!(instance.is_alive());
    instance.stop().await;
}

#[tokio::test]
async fn handler_failures_and_timeouts_are_answers_and_the_instance_lives_on() {
    let h = host();
    let code = "import time\ndef handler(event):\n    if event.get('raise'):\n        raise ValueError('nope')\n    if event.get('hang'):\n        time.sleep(30)\n    return 'fine'\n";
    let mut instance = h
        .backend
        .create(&python("flaky", code, Mode::Persistent))
        .await
        .expect("create");
    let raise = RawValue::from_string(r#"{"raise": true}"#.into()).expect("json");
    let r = instance
        .invoke("r1", &raise, Duration::from_secs(5))
        .await
        .expect("a handler error is an answer");
    assert_eq!(r.error.as_deref(), Some("ValueError: nope"));
    assert!(r.output.is_none());
    let hang = RawValue::from_string(r#"{"hang": true}"#.into()).expect("json");
    let r = instance
        .invoke("r2", &hang, Duration::from_secs(1))
        .await
        .expect("a timeout is an answer");
    assert!(r.timed_out, "{r:?}");
    assert!(instance.is_alive());
    assert_eq!(ok(instance.as_mut(), json!({})).await, "fine");
    instance.stop().await;
}

#[tokio::test]
async fn memory_past_the_limit_fails_the_call() {
    let h = host();
    let code = "def handler(event):\n    blocks = [bytearray(1 << 20) for _ in range(512)]\n    return len(blocks)\n";
    let mut instance = h
        .backend
        .create(&python("hog", code, Mode::Persistent))
        .await
        .expect("create");
    let input = RawValue::from_string("{}".into()).expect("json");
    let error = match instance.invoke("r", &input, Duration::from_secs(5)).await {
        // Under a cgroup the OOM killer takes the handler; under rlimits Python raises.
        Ok(r) => r.error.expect("512 MB in a 64 MB instance must fail"),
        Err(e) => e.to_string(),
    };
    assert!(error.to_lowercase().contains("memory"), "{error}");
    instance.stop().await;
}

#[tokio::test]
async fn a_handler_that_fails_to_load_is_an_init_error() {
    let h = host();
    let spec = python("broken", "def handler(:\n", Mode::Persistent);
    match h.backend.create(&spec).await {
        Err(SandboxError::Init(message)) => assert!(message.contains("SyntaxError"), "{message}"),
        Err(e) => panic!("expected an Init error, got {e}"),
        Ok(_) => panic!("expected an Init error, got an instance"),
    }
    let left: Vec<_> = std::fs::read_dir(h.dir.path().join("instances"))
        .expect("instance dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "a failed start left {left:?}");
}

#[tokio::test]
async fn code_is_unpacked_once_per_hash_and_shared() {
    let h = host();
    let spec = python("shared", COUNTER, Mode::Persistent);
    let a = h.backend.create(&spec).await.expect("a");
    let b = h.backend.create(&spec).await.expect("b");
    assert_ne!(a.id(), b.id());
    let code_dirs: Vec<_> = std::fs::read_dir(h.dir.path().join("code"))
        .expect("code dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(code_dirs, [spec.code_hash.as_str()]);
    let handler = h
        .dir
        .path()
        .join("code")
        .join(&spec.code_hash)
        .join("handler");
    assert_eq!(std::fs::read(handler).expect("handler"), COUNTER.as_bytes());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn runtimes_it_cannot_run_are_refused_as_unsupported() {
    let h = host_with(None);
    assert_eq!(h.backend.name(), "process");
    assert!(!h.backend.supports(Runtime::Python), "no interpreter");
    assert!(!h.backend.supports(Runtime::Wasm));
    assert!(h.backend.supports(Runtime::Go));
    for runtime in [Runtime::Python, Runtime::Wasm] {
        let spec = FunctionSpec::with_defaults("f", runtime, b"x".to_vec());
        match h.backend.create(&spec).await {
            Err(e @ SandboxError::Unsupported { .. }) => assert!(!e.is_fatal()),
            Err(e) => panic!("{runtime}: expected Unsupported, got {e}"),
            Ok(_) => panic!("{runtime}: expected Unsupported, got an instance"),
        }
    }
}
