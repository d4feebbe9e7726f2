//! The executor and its pools over the real process backend: real agents, real handlers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use comet::sandbox::{ProcessBackend, ProcessConfig, find_agent, find_python};
use comet::{Executor, ExecutorConfig, InvokeError};
use common::python_spec;
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Mode};
use serde_json::value::RawValue;

struct Harness {
    executor: Executor,
    _dir: tempfile::TempDir,
}

fn harness(idle_ttl: Duration) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent =
        find_agent().expect("comet-agent not built: run `cargo build --workspace --bins` first");
    let backend = ProcessBackend::new(ProcessConfig {
        agent,
        python: find_python(),
        code_dir: dir.path().join("code"),
        instance_dir: dir.path().join("instances"),
        isolation: Default::default(),
    })
    .expect("backend");
    Harness {
        executor: Executor::new(Arc::new(backend), ExecutorConfig { idle_ttl }),
        _dir: dir,
    }
}

fn spec(name: &str, code: &str, mode: Mode, version: u64) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        version,
        ..python_spec(name, code, mode)
    })
}

/// Echoes the request id; `instance` is random per instance (pids repeat across PID namespaces).
const ECHO: &str = "import os\nINSTANCE = os.urandom(8).hex()\ndef handler(event, context):\n    return {'id': event.get('id'), 'instance': INSTANCE, 'v': 1}\n";

async fn call(
    h: &Harness,
    spec: &Arc<FunctionSpec>,
    id: &str,
) -> Result<InvokeResponse, InvokeError> {
    let payload = RawValue::from_string(format!("{{\"id\":\"{id}\"}}")).expect("json");
    h.executor
        .invoke(
            spec.clone(),
            InvokeRequest {
                request_id: id.to_string(),
                payload,
            },
        )
        .await
}

fn out(r: &InvokeResponse) -> serde_json::Value {
    assert!(
        r.error.is_none(),
        "error {:?}, stderr {}",
        r.error,
        r.stderr
    );
    serde_json::from_str(r.output.as_ref().expect("output").get()).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_call_is_warm_and_reuses_the_instance() {
    let h = harness(Duration::from_secs(60));
    let s = spec("warm", ECHO, Mode::Persistent, 1);
    let first = call(&h, &s, "a").await.expect("first");
    let second = call(&h, &s, "b").await.expect("second");
    assert!(first.cold_start && !second.cold_start);
    assert_eq!(out(&first)["instance"], out(&second)["instance"]);
    assert_eq!(out(&second)["id"], "b");
    let stats = &h.executor.stats()[0];
    assert_eq!(
        (stats.instances, stats.cold_starts, stats.invocations),
        (1, 1, 2)
    );
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_neither_lost_nor_crossed() {
    let h = harness(Duration::from_secs(60));
    let mut s = spec("many", ECHO, Mode::Persistent, 1);
    Arc::get_mut(&mut s).expect("unique").max_replicas = 4;
    let calls = (0..50).map(|i| {
        let (h_exec, s) = (h.executor.clone(), s.clone());
        tokio::spawn(async move {
            let id = format!("req-{i}");
            let payload = RawValue::from_string(format!("{{\"id\":\"{id}\"}}")).expect("json");
            let r = h_exec
                .invoke(
                    s,
                    InvokeRequest {
                        request_id: id.clone(),
                        payload,
                    },
                )
                .await
                .expect("invoke");
            (id, r)
        })
    });
    let mut cold = 0;
    for call in calls {
        let (id, r) = call.await.expect("task");
        assert_eq!(r.request_id, id);
        assert_eq!(out(&r)["id"], id.as_str(), "response crossed");
        cold += usize::from(r.cold_start);
    }
    let stats = &h.executor.stats()[0];
    assert!(
        (1..=4).contains(&cold),
        "{cold} cold starts with max_replicas 4"
    );
    assert_eq!(stats.cold_starts as usize, cold);
    assert!(stats.instances <= 4);
    assert_eq!(stats.invocations, 50);
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_callers_share_one_creation() {
    let h = harness(Duration::from_secs(60));
    // Loading takes 0.5 s: without singleflight, ten callers would start ten instances.
    let slow = format!("import time\ntime.sleep(0.5)\n{ECHO}");
    let s = spec("slow-start", &slow, Mode::Persistent, 1);
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let (e, s) = (h.executor.clone(), s.clone());
            tokio::spawn(async move {
                let payload = RawValue::from_string("{}".into()).expect("json");
                e.invoke(
                    s,
                    InvokeRequest {
                        request_id: i.to_string(),
                        payload,
                    },
                )
                .await
            })
        })
        .collect();
    for c in calls {
        assert!(c.await.expect("task").expect("invoke").error.is_none());
    }
    let stats = &h.executor.stats()[0];
    // One creation at a time: the first serves the queue while at most one or two more start.
    assert!(
        stats.cold_starts <= 3,
        "{} cold starts for 10 callers",
        stats.cold_starts
    );
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_expire_after_the_ttl() {
    let h = harness(Duration::from_millis(500));
    let s = spec("ttl", ECHO, Mode::Persistent, 1);
    call(&h, &s, "a").await.expect("call");
    h.executor.sweep(Instant::now()).await;
    assert_eq!(h.executor.stats()[0].instances, 1, "expired too early");
    h.executor
        .sweep(Instant::now() + Duration::from_secs(1))
        .await;
    assert_eq!(h.executor.stats()[0].instances, 0);
    assert!(call(&h, &s, "b").await.expect("call").cold_start);
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_replicas_are_prewarmed_and_survive_the_ttl() {
    let h = harness(Duration::from_millis(100));
    let mut s = spec("warmup", ECHO, Mode::Persistent, 1);
    Arc::get_mut(&mut s).expect("unique").min_replicas = 2;
    assert_eq!(h.executor.prewarm(s.clone()).await.expect("prewarm"), 2);
    assert_eq!(h.executor.stats()[0].idle, 2);
    assert!(!call(&h, &s, "a").await.expect("call").cold_start);
    h.executor
        .sweep(Instant::now() + Duration::from_secs(5))
        .await;
    assert_eq!(h.executor.stats()[0].instances, 2);
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_runs_beside_the_old_one() {
    let h = harness(Duration::from_secs(60));
    let v1 = spec("upd", ECHO, Mode::Persistent, 1);
    let v2 = spec(
        "upd",
        &ECHO.replace("'v': 1", "'v': 2"),
        Mode::Persistent,
        2,
    );
    let old = call(&h, &v1, "a").await.expect("v1");
    let new = call(&h, &v2, "b").await.expect("v2");
    assert!(new.cold_start, "v2 must not run on a v1 instance");
    assert_eq!(
        (out(&old)["v"].clone(), out(&new)["v"].clone()),
        (1.into(), 2.into())
    );
    assert_ne!(out(&old)["instance"], out(&new)["instance"]);
    let again = call(&h, &v1, "c").await.expect("v1 again");
    assert!(!again.cold_start, "v1 stayed warm beside v2");
    assert_eq!(out(&again)["instance"], out(&old)["instance"]);
    assert_eq!(
        h.executor.stats()[0].instances,
        2,
        "one instance of each version"
    );
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_is_replaced_not_reused() {
    let h = harness(Duration::from_secs(60));
    // The handler can kill its own agent: the instance dies under the call.
    let code = format!(
        "import os, signal\n{ECHO}\ndef kill_agent(event):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
    );
    let code = code.replace(
        "def handler(event, context):",
        "def handler(event, context):\n    if event.get('id') == 'die':\n        kill_agent(event)",
    );
    let s = spec("dies", &code, Mode::Persistent, 1);
    let first = call(&h, &s, "a").await.expect("call");
    assert!(first.cold_start);
    match call(&h, &s, "die").await {
        Err(InvokeError::Instance { .. }) => {}
        other => panic!("expected the instance to fail, got {other:?}"),
    }
    let second = call(&h, &s, "b").await.expect("call after the agent died");
    assert!(second.cold_start, "a dead instance must not be reused");
    assert_eq!(out(&second)["id"], "b");
    assert_eq!(h.executor.stats()[0].instances, 1);
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failures_keep_the_instance_warm() {
    let h = harness(Duration::from_secs(60));
    let code = "import time\ndef handler(event):\n    if event.get('id') == 'crash':\n        raise RuntimeError('no')\n    if event.get('id') == 'hang':\n        time.sleep(60)\n    return {'ok': 1}\n";
    let mut s = spec("flaky", code, Mode::Persistent, 1);
    Arc::get_mut(&mut s).expect("unique").timeout_s = 1;
    call(&h, &s, "ok").await.expect("warm up");
    let crash = call(&h, &s, "crash").await.expect("crash is an answer");
    assert_eq!(crash.error.as_deref(), Some("RuntimeError: no"));
    let hang = call(&h, &s, "hang").await.expect("timeout is an answer");
    assert!(hang.timed_out && !hang.cold_start);
    let after = call(&h, &s, "ok").await.expect("call");
    assert!(after.error.is_none() && !after.cold_start);
    let stats = &h.executor.stats()[0];
    assert_eq!((stats.errors, stats.cold_starts), (2, 1));
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_fails_to_load_is_a_start_error() {
    let h = harness(Duration::from_secs(60));
    let s = spec("broken", "def handler(:\n", Mode::Persistent, 1);
    match call(&h, &s, "a").await {
        Err(InvokeError::Start { source, .. }) => {
            assert!(source.to_string().contains("SyntaxError"), "{source}")
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    assert_eq!(h.executor.stats()[0].instances, 0);
    h.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_an_older_spec_runs_that_spec() {
    let h = harness(Duration::from_secs(60));
    let v1 = spec("stale", ECHO, Mode::Persistent, 1);
    let v2 = spec(
        "stale",
        &ECHO.replace("'v': 1", "'v': 2"),
        Mode::Persistent,
        2,
    );
    assert_eq!(out(&call(&h, &v2, "a").await.expect("v2"))["v"], 2);
    // A call of version 1 (an alias or a pinned caller) after the newest ran.
    let late = call(&h, &v1, "b").await.expect("v1 call");
    assert!(late.cold_start);
    assert_eq!(out(&late)["v"], 1, "a call runs the version it carries");
    h.executor
        .sweep(Instant::now() + Duration::from_secs(120))
        .await;
    assert_eq!(
        h.executor.stats()[0].instances,
        0,
        "both idle instances went at the TTL"
    );
    h.executor.shutdown().await;
}
