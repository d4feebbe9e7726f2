//! The data plane over gRPC: real `comet daemon` workers on loopback ports, driven through the
//! same `DataPlane` interface Nova uses. Embedded and remote give the same answers; a cluster keeps
//! a function on its warm worker, survives a worker killed mid-load (retrying only what never
//! reached a handler), and takes a restarted worker back.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use comet::DataPlane;
use comet::local::LocalConfig;
use comet_grpc::Cluster;
use comet_testkit::{Worker, free_port};
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Mode, Runtime};
use serde_json::value::RawValue;

/// `comet daemon` with its gRPC service on `port`, ready when it says so.
fn worker(name: &str, port: u16) -> Worker {
    let comet = std::path::Path::new(env!("CARGO_BIN_EXE_comet"));
    Worker::start(comet, name, &format!("127.0.0.1:{port}"), &[]).unwrap()
}

fn python(name: &str, source: &str, mode: Mode) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        mode,
        handler: "main.handler".into(),
        ..FunctionSpec::with_defaults(name, Runtime::Python, source.as_bytes().to_vec())
    })
}

const ECHO: &str = "def handler(event, context=None):\n    if event.get('fail'):\n        raise ValueError('asked to fail')\n    return {'echo': event.get('n')}\n";

fn request(payload: &str) -> InvokeRequest {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    InvokeRequest {
        request_id: format!("r{}-{n}", std::process::id()),
        payload: RawValue::from_string(payload.to_string()).unwrap(),
    }
}

fn summary(r: &InvokeResponse) -> (Option<String>, bool, bool) {
    (
        r.output.as_ref().map(|o| o.get().to_string()),
        r.error.is_some(),
        r.cold_start,
    )
}

fn endpoints(workers: &[&Worker]) -> Vec<String> {
    workers.iter().map(|w| w.endpoint.clone()).collect()
}

#[tokio::test]
async fn embedded_and_remote_give_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let executor = comet::local::executor(&LocalConfig {
        data_dir: dir.path().to_path_buf(),
        agent: None,
        python: None,
        isolation: Default::default(),
        idle_ttl: comet::ExecutorConfig::default().idle_ttl,
        daemon: false,
    })
    .unwrap();
    let embedded = comet::Embedded::new(executor, "here");
    let w = worker("w1", free_port());
    let remote = Cluster::connect(&endpoints(&[&w]), Duration::from_secs(10)).unwrap();
    assert_eq!(remote.kind(), "remote");
    let echo = python("echo", ECHO, Mode::Persistent);
    let oneshot = python("oneshot", ECHO, Mode::Process);
    for spec in [&echo, &oneshot] {
        for payload in [
            r#"{"n": 1}"#,
            r#"{"n": [1, "two"]}"#,
            r#"{"fail": true}"#,
            r#"{"n": 4}"#,
        ] {
            let here = embedded
                .invoke(spec.clone(), request(payload))
                .await
                .unwrap();
            let there = remote.invoke(spec.clone(), request(payload)).await.unwrap();
            assert_eq!(summary(&here), summary(&there), "{} {payload}", spec.name);
        }
    }
    // A new version reaches the worker with its code, and runs.
    let v2 = Arc::new(FunctionSpec {
        version: 2,
        ..(*python(
            "echo",
            "def handler(event, context=None):\n    return 'v2'\n",
            Mode::Persistent,
        ))
        .clone()
    });
    remote.evict("echo").await;
    let there = remote.invoke(v2, request("{}")).await.unwrap();
    assert_eq!(there.output.unwrap().get(), "\"v2\"");
    // Deleted and registered again (version 1 again, other code) while the evict was lost: the
    // worker notices the version going backwards and does not serve the old code.
    let again = python(
        "echo",
        "def handler(event, context=None):\n    return 'reborn'\n",
        Mode::Persistent,
    );
    let there = remote.invoke(again, request("{}")).await.unwrap();
    assert_eq!(there.output.unwrap().get(), "\"reborn\"");
    // A function that cannot start is the function's fault: a clear error, the worker stays in.
    let broken = python("broken", "def handler(event:\n", Mode::Persistent);
    let failed = match remote.invoke(broken, request("{}")).await {
        Ok(r) => r.error.is_some(),
        Err(e) => !e.to_string().is_empty(),
    };
    assert!(failed);
    assert_eq!(remote.health().await.status, "ok");
    // Both journals saw the calls; the figures are real durations.
    let m = remote
        .metrics("oneshot", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!((m.total, m.successful, m.failed), (4, 3, 1));
    assert!(m.p50_ms > 0.0 && m.p99_ms >= m.p50_ms, "{m:?}");
    let page = remote.invocations("", 3, 0).await.unwrap();
    assert_eq!((page.total, page.invocations.len()), (11, 3));
    // The worker's own GetMetrics and ListInvocations, over the wire.
    use comet_grpc::proto::{
        GetMetricsRequest, ListInvocationsRequest, data_plane_client::DataPlaneClient,
    };
    let mut client = DataPlaneClient::connect(format!("http://{}", w.endpoint))
        .await
        .unwrap();
    let request = GetMetricsRequest {
        function: "oneshot".into(),
        range_seconds: 60,
    };
    let m = client.get_metrics(request).await.unwrap().into_inner();
    assert_eq!((m.total, m.successful, m.failed), (4, 3, 1));
    assert!(
        m.p50_duration_ms > 0.0 && m.p95_duration_ms >= m.p50_duration_ms,
        "{m:?}"
    );
    assert!(
        m.p99_duration_ms >= m.p95_duration_ms && m.avg_duration_ms > 0.0,
        "{m:?}"
    );
    let request = ListInvocationsRequest {
        function: "echo".into(),
        limit: 2,
        offset: 0,
    };
    let page = client.list_invocations(request).await.unwrap().into_inner();
    assert_eq!((page.total, page.invocations.len()), (6, 2));
    assert_eq!(page.invocations[0].node_id, "w1");
    assert!(page.invocations[0].duration_ms > 0.0);
    embedded.shutdown().await;
}

#[tokio::test]
async fn warm_affinity_failover_and_rejoin() {
    let ports = [free_port(), free_port(), free_port()];
    let mut workers: Vec<Option<Worker>> = vec![
        Some(worker("w1", ports[0])),
        Some(worker("w2", ports[1])),
        Some(worker("w3", ports[2])),
    ];
    let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let cluster = Arc::new(Cluster::connect(&list, Duration::from_secs(10)).unwrap());
    let spec = python("echo", ECHO, Mode::Persistent);

    // Warm affinity: sequential calls stay on the worker that has the function warm.
    let mut cold = 0;
    for n in 0..20 {
        let r = cluster
            .invoke(spec.clone(), request(&format!("{{\"n\": {n}}}")))
            .await
            .unwrap();
        cold += usize::from(r.cold_start);
    }
    assert_eq!(cold, 1, "cold starts multiplied across workers");
    let nodes: std::collections::HashSet<String> = cluster
        .invocations("echo", 20, 0)
        .await
        .unwrap()
        .invocations
        .into_iter()
        .map(|r| r.node_id)
        .collect();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    let warm_node = nodes.into_iter().next().unwrap();
    let warm_index = ["w1", "w2", "w3"]
        .iter()
        .position(|n| *n == warm_node)
        .unwrap();

    // Load from 8 clients; the warm worker is killed with SIGKILL half a second in.
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let (cluster, spec) = (cluster.clone(), spec.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0, Vec::new());
                while started.elapsed() < Duration::from_secs(3) {
                    match cluster
                        .invoke(spec.clone(), request(&format!("{{\"n\": {c}}}")))
                        .await
                    {
                        Ok(r) if r.error.is_none() => ok += 1,
                        Ok(r) => failed.push(r.error.unwrap()),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(workers[warm_index].take());
    let (mut ok, mut failed) = (0, Vec::new());
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    // Only calls in flight on the killed worker may fail (at most one per client), each with a
    // clear error naming the worker; everything after went elsewhere.
    eprintln!("{ok} calls succeeded, {} failed: {failed:?}", failed.len());
    assert!(ok > 100, "{ok} calls succeeded");
    assert!(failed.len() <= 8, "{} failed: {failed:?}", failed.len());
    let killed = format!("127.0.0.1:{}", ports[warm_index]);
    for f in &failed {
        assert!(
            f.contains(&killed) && f.contains("not retried"),
            "unclear failure: {f}"
        );
    }
    let health = cluster.health().await;
    assert_eq!(health.components[&killed], "down", "{health:?}");
    assert_eq!(health.status, "degraded");

    // The worker comes back on its port and is taken back.
    workers[warm_index] = Some(worker(&warm_node, ports[warm_index]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.health().await.components[&killed] != "ok" {
        assert!(
            Instant::now() < deadline,
            "the restarted worker was never taken back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cluster.health().await.status, "ok");
    // With the two others gone (and seen gone), the restarted worker serves alone.
    for (i, w) in workers.iter_mut().enumerate() {
        if i != warm_index {
            drop(w.take());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster
        .health()
        .await
        .components
        .values()
        .filter(|s| *s == "down")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the stopped workers were never taken out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = cluster
        .invoke(spec.clone(), request(r#"{"n": 99}"#))
        .await
        .unwrap();
    assert_eq!(r.output.unwrap().get(), r#"{"echo": 99}"#);
    let last = cluster
        .invocations("echo", 1, 0)
        .await
        .unwrap()
        .invocations
        .remove(0);
    assert_eq!(last.node_id, warm_node);
}

#[tokio::test]
async fn with_no_worker_up_calls_fail_clearly() {
    let cluster = Cluster::connect(
        &[format!("127.0.0.1:{}", free_port())],
        Duration::from_secs(2),
    )
    .unwrap();
    let err = cluster
        .invoke(python("echo", ECHO, Mode::Persistent), request("{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, comet::InvokeError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn a_worker_with_a_token_serves_only_callers_that_present_it() {
    let comet = std::path::Path::new(env!("CARGO_BIN_EXE_comet"));
    let w = Worker::start(
        comet,
        "locked",
        "127.0.0.1:0",
        &["--token", "cluster-token-0123456789"],
    )
    .unwrap();
    let spec = python("echo", ECHO, Mode::Persistent);
    let endpoint = endpoints(&[&w]);
    let stranger = Cluster::connect(&endpoint, Duration::from_secs(5)).unwrap();
    let err = stranger
        .invoke(spec.clone(), request(r#"{"n": 1}"#))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cluster token"), "{err}");
    let wrong =
        Cluster::connect_with_token(&endpoint, Duration::from_secs(5), Some("guess")).unwrap();
    assert!(wrong.invoke(spec.clone(), request("{}")).await.is_err());
    let nova = Cluster::connect_with_token(
        &endpoint,
        Duration::from_secs(5),
        Some("cluster-token-0123456789"),
    )
    .unwrap();
    let r = nova.invoke(spec, request(r#"{"n": 7}"#)).await.unwrap();
    assert_eq!(r.output.unwrap().get(), r#"{"echo": 7}"#);
}

/// Access settings that cannot work stop the daemon at start with a message saying why.
#[test]
fn unusable_access_settings_stop_the_daemon_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nova.db");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_comet"))
            .args([
                "daemon",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run(&["--api-keys-from", missing.to_str().unwrap()]);
    assert!(
        stderr.contains("--api-keys-from") && stderr.contains("cannot open"),
        "{stderr}"
    );
    let stderr = run(&[
        "--api-keys-from",
        "postgres://nova:hunter2@127.0.0.1:1/nova",
    ]);
    assert!(
        stderr.contains("nova:***@") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    let stderr = run(&["--require-auth"]);
    assert!(
        stderr.contains("nothing to check callers against"),
        "{stderr}"
    );
}
