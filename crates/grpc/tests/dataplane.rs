//! The DataPlane service over a loopback port, driven by this crate's own clients: the server
//! runs over an `Embedded` data plane whose backend is a fake (no agent, no Python), so these
//! tests need nothing built and check only what the gRPC layer adds: placement and retry in the
//! cluster client, code sent only when a worker asks, health, and the token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comet::sandbox::{Backend, Instance, SandboxError};
use comet::{DataPlane, Embedded, Executor, ExecutorConfig, InvokeError};
use comet_grpc::access::Access;
use comet_grpc::proto::data_plane_client::DataPlaneClient;
use comet_grpc::{Cluster, proto, server};
use comet_protocol::RespPayload;
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Runtime};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Creates echo instances; a function named `broken` cannot start. A payload `{"sleep_ms": n}`
/// keeps the instance busy for n ms first.
struct EchoBackend {
    node: String,
    created: AtomicUsize,
}

#[async_trait]
impl Backend for EchoBackend {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn supports(&self, _: Runtime) -> bool {
        true
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        if spec.name == "broken" {
            return Err(SandboxError::Init("SyntaxError: broken on purpose".into()));
        }
        let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Box::new(Echo {
            id: format!("{}-{n}", self.node),
            code: String::from_utf8_lossy(&spec.code).into_owned(),
        }))
    }
}

struct Echo {
    id: String,
    code: String,
}

#[async_trait]
impl Instance for Echo {
    fn id(&self) -> &str {
        &self.id
    }

    async fn invoke(
        &mut self,
        request_id: &str,
        input: &RawValue,
        _: Duration,
    ) -> Result<RespPayload, SandboxError> {
        let event: Value = serde_json::from_str(input.get()).unwrap_or(Value::Null);
        if let Some(ms) = event.get("sleep_ms").and_then(Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let output = serde_json::json!({"event": event, "instance": self.id, "code": self.code});
        Ok(RespPayload {
            request_id: request_id.to_string(),
            output: Some(RawValue::from_string(output.to_string()).expect("json")),
            ..RespPayload::default()
        })
    }

    fn is_alive(&mut self) -> bool {
        true
    }

    async fn stop(self: Box<Self>) {}
}

/// A worker: the DataPlane service on a loopback port over an embedded data plane.
struct Worker {
    endpoint: String,
    local: Arc<Embedded>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Worker {
    async fn start(node: &str, access: Access) -> Worker {
        let backend = Arc::new(EchoBackend {
            node: node.to_string(),
            created: AtomicUsize::new(0),
        });
        let executor = Executor::new(backend, ExecutorConfig::default());
        let local = Arc::new(Embedded::new(executor, node));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(local.clone(), listener, access, async {
            let _ = stopped.await;
        }));
        Worker {
            endpoint,
            local,
            stop: Some(stop),
            task,
        }
    }

    async fn open(node: &str) -> Worker {
        Worker::start(node, Access::default()).await
    }

    async fn client(&self) -> DataPlaneClient<tonic::transport::Channel> {
        DataPlaneClient::connect(format!("http://{}", self.endpoint))
            .await
            .expect("connect")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("task").expect("serve");
        self.local.shutdown().await;
    }
}

fn spec(name: &str, code: &str) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        timeout_s: 1,
        ..FunctionSpec::with_defaults(name, Runtime::Python, code.as_bytes().to_vec())
    })
}

async fn call(
    plane: &dyn DataPlane,
    spec: &Arc<FunctionSpec>,
    id: &str,
    event: Value,
) -> Result<InvokeResponse, InvokeError> {
    let payload = RawValue::from_string(event.to_string()).expect("json");
    plane
        .invoke(
            spec.clone(),
            InvokeRequest {
                request_id: id.to_string(),
                payload,
            },
        )
        .await
}

fn output(r: &InvokeResponse) -> Value {
    assert!(r.error.is_none(), "{:?}", r.error);
    serde_json::from_str(r.output.as_ref().expect("output").get()).expect("json")
}

fn connect(workers: &[&Worker], token: Option<&str>) -> Cluster {
    let endpoints: Vec<String> = workers.iter().map(|w| w.endpoint.clone()).collect();
    Cluster::connect_with_token(&endpoints, Duration::from_secs(5), token).expect("cluster")
}

#[tokio::test]
async fn a_call_runs_on_the_worker_and_comes_back_whole() {
    let worker = Worker::open("node-a").await;
    let cluster = connect(&[&worker], None);
    assert_eq!(cluster.kind(), "remote");
    let s = spec("hello", "print('v1')");
    let first = call(&cluster, &s, "r1", serde_json::json!({"n": 1}))
        .await
        .expect("first");
    assert_eq!(first.request_id, "r1");
    assert!(first.cold_start);
    assert_eq!(first.version, Some(1));
    let out = output(&first);
    assert_eq!(out["event"], serde_json::json!({"n": 1}));
    assert_eq!(out["instance"], "node-a-1");
    assert_eq!(out["code"], "print('v1')", "the worker got the code");
    let second = call(&cluster, &s, "r2", serde_json::json!({"n": 2}))
        .await
        .expect("second");
    assert!(!second.cold_start, "the worker keeps the instance warm");
    assert_eq!(output(&second)["instance"], "node-a-1");

    // The worker journals what it ran; Nova's side journals where it placed each call.
    let on_worker = worker.local.journal().list("hello", 10, 0);
    assert_eq!(on_worker.total, 2);
    let placed = cluster.invocations("hello", 10, 0).await.expect("list");
    let seen: Vec<(&str, &str, bool)> = placed
        .invocations
        .iter()
        .map(|r| (r.id.as_str(), r.node_id.as_str(), r.cold_start))
        .collect();
    assert_eq!(seen, [("r2", "node-a", false), ("r1", "node-a", true)]);
    cluster.shutdown().await;
    worker.stop().await;
}

#[tokio::test]
async fn code_goes_only_to_a_worker_that_asks_for_it() {
    let worker = Worker::open("node-a").await;
    let mut client = worker.client().await;
    let s = spec("coded", "print('code')");
    let message = |code: Vec<u8>| proto::InvokeRequest {
        function: s.name.clone(),
        payload: b"{}".to_vec(),
        spec: Some(proto::FunctionSpec {
            code,
            ..spec_message(&s)
        }),
        request_id: "r".into(),
        ..Default::default()
    };
    let missing = client
        .invoke(message(Vec::new()))
        .await
        .expect_err("the worker has never seen this code");
    assert_eq!(
        missing.code(),
        tonic::Code::FailedPrecondition,
        "{missing:?}"
    );
    let wrong = client
        .invoke(message(b"other code".to_vec()))
        .await
        .expect_err("code that does not match its hash");
    assert_eq!(wrong.code(), tonic::Code::InvalidArgument);
    // The cluster client sends the code only when asked, transparently …
    let cluster = connect(&[&worker], None);
    let r = call(&cluster, &s, "r", serde_json::json!({}))
        .await
        .expect("code-missing is answered by sending the code");
    assert_eq!(output(&r)["code"], "print('code')");
    // … and the worker keeps it: the same bare message now passes the code check and is judged
    // on the rest of the spec (which this one leaves empty).
    let kept = client
        .invoke(message(Vec::new()))
        .await
        .expect_err("an empty runtime");
    assert_eq!(kept.code(), tonic::Code::InvalidArgument, "{kept:?}");
    cluster.shutdown().await;
    worker.stop().await;
}

/// Only the identity of a spec (name, version, code hash): what the worker checks before it
/// looks for the code. The rest is left empty; calls that must run go through [`Cluster`].
fn spec_message(s: &FunctionSpec) -> proto::FunctionSpec {
    proto::FunctionSpec {
        name: s.name.clone(),
        version: s.version,
        code_hash: s.code_hash.clone(),
        timeout_s: s.timeout_s,
        ..Default::default()
    }
}

#[tokio::test]
async fn health_answers_with_the_node_and_the_cluster_sees_a_dead_worker() {
    let a = Worker::open("node-a").await;
    let b = Worker::open("node-b").await;
    let health = a
        .client()
        .await
        .health(proto::HealthRequest {})
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status, "ok");
    assert_eq!(
        health.components.get("node_id").map(String::as_str),
        Some("node-a")
    );
    assert_eq!(
        health.components.get("backend").map(String::as_str),
        Some("echo")
    );

    let cluster = connect(&[&a, &b], None);
    assert_eq!(cluster.kind(), "cluster");
    assert_eq!(cluster.health().await.status, "ok");
    let b_endpoint = b.endpoint.clone();
    b.stop().await;
    // The cluster checks every second; give it a few.
    let mut status = String::new();
    for _ in 0..50 {
        let health = cluster.health().await;
        status = health.status.clone();
        if status == "degraded" {
            assert_eq!(
                health.components.get(&b_endpoint).map(String::as_str),
                Some("down")
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "degraded");
    // Calls go to the worker that is left.
    let s = spec("survivor", "x");
    for i in 0..3 {
        let r = call(&cluster, &s, &format!("r{i}"), serde_json::json!({}))
            .await
            .expect("served by node-a");
        assert_eq!(output(&r)["instance"], "node-a-1");
    }
    cluster.shutdown().await;
    a.stop().await;
}

#[tokio::test]
async fn a_call_that_did_not_run_on_a_busy_worker_moves_to_another() {
    let a = Worker::open("node-a").await;
    let b = Worker::open("node-b").await;
    let cluster = connect(&[&a, &b], None);
    let s = Arc::new(FunctionSpec {
        max_replicas: 1,
        ..(*spec("single", "x")).clone()
    });
    // Warm on node-a, so the cluster prefers it.
    let r = call(&cluster, &s, "warm", serde_json::json!({}))
        .await
        .expect("warm");
    assert_eq!(output(&r)["instance"], "node-a-1");
    // node-a's only instance is busy for longer than a call waits for one (timeout_s = 1).
    let busy = {
        let local = a.local.clone();
        let s = s.clone();
        tokio::spawn(async move {
            call(
                local.as_ref(),
                &s,
                "hog",
                serde_json::json!({"sleep_ms": 2500}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let moved = call(&cluster, &s, "moved", serde_json::json!({}))
        .await
        .expect("retried on node-b");
    assert_eq!(output(&moved)["instance"], "node-b-1");
    assert!(busy.await.expect("task").is_ok());

    // With one worker there is nowhere to go: the caller hears that the plane is at capacity.
    let lone = connect(&[&a], None);
    let hog = {
        let local = a.local.clone();
        let s = s.clone();
        tokio::spawn(async move {
            call(
                local.as_ref(),
                &s,
                "hog2",
                serde_json::json!({"sleep_ms": 2500}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    match call(&lone, &s, "refused", serde_json::json!({})).await {
        Err(InvokeError::Overloaded(message)) => {
            assert!(message.contains(&a.endpoint), "{message}")
        }
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert!(hog.await.expect("task").is_ok());
    let health = lone.health().await;
    assert_eq!(health.status, "ok", "a busy worker is not taken out");
    lone.shutdown().await;
    cluster.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_function_that_cannot_start_fails_without_taking_the_worker_out() {
    let a = Worker::open("node-a").await;
    let b = Worker::open("node-b").await;
    let cluster = connect(&[&a, &b], None);
    let broken = spec("broken", "x");
    let error = call(&cluster, &broken, "r", serde_json::json!({}))
        .await
        .expect_err("cannot start");
    let text = error.to_string();
    assert!(text.contains("broken on purpose"), "{text}");
    // Not retried elsewhere: only one worker saw it.
    let seen = a.local.journal().list("broken", 10, 0).total
        + b.local.journal().list("broken", 10, 0).total;
    assert_eq!(seen, 1);
    assert_eq!(cluster.health().await.status, "ok");
    let r = call(&cluster, &spec("fine", "x"), "r2", serde_json::json!({}))
        .await
        .expect("other functions still run");
    assert!(r.error.is_none());
    cluster.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_worker_with_a_token_admits_only_callers_that_present_it() {
    let worker = Worker::start("node-a", Access::new(Some("s3cret"), None, false)).await;
    let s = spec("guarded", "x");

    let right = connect(&[&worker], Some("s3cret"));
    let r = call(&right, &s, "r1", serde_json::json!({}))
        .await
        .expect("the right token");
    assert_eq!(output(&r)["instance"], "node-a-1");

    for token in [None, Some("wrong")] {
        let cluster = connect(&[&worker], token);
        match call(&cluster, &s, "r2", serde_json::json!({})).await {
            Err(e @ InvokeError::Unauthorized { .. }) => {
                let message = e.to_string();
                assert!(message.contains("token"), "{token:?}: {message}")
            }
            other => panic!("{token:?}: expected a refusal, got {other:?}"),
        }
        cluster.shutdown().await;
    }
    assert_eq!(
        worker.local.journal().list("guarded", 10, 0).total,
        1,
        "refused calls never reached the data plane"
    );

    // Raw: the status says why; health answers everyone (load balancers carry no token).
    let mut client = worker.client().await;
    let refused = client
        .evict(proto::EvictRequest {
            function: "guarded".into(),
        })
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let health = client
        .health(proto::HealthRequest {})
        .await
        .expect("health is open");
    assert_eq!(health.into_inner().status, "ok");
    right.shutdown().await;
    worker.stop().await;
}

/// The spec of `name` at `version` running `code`.
fn versioned(name: &str, version: u64, code: &str) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        version,
        ..(*spec(name, code)).clone()
    })
}

/// A worker runs the version each call carries and keeps old versions warm beside the newest (a
/// lower version number no longer evicts); only version 1 coming back with other code (the
/// function deleted and registered again) replaces what it had.
#[tokio::test]
async fn a_worker_keeps_two_versions_warm_side_by_side() {
    let worker = Worker::open("node-a").await;
    let cluster = connect(&[&worker], None);
    let (v1, v3) = (versioned("two", 1, "one"), versioned("two", 3, "three"));
    let mut ran = Vec::new();
    for (i, s) in [&v3, &v1, &v3, &v1, &v1, &v3].into_iter().enumerate() {
        let r = call(&cluster, s, &format!("r{i}"), serde_json::json!({}))
            .await
            .expect("call");
        let out = output(&r);
        ran.push((r.version, out["code"].clone(), r.cold_start));
    }
    let expected: Vec<(Option<u64>, Value, bool)> = [
        (3, "three", true),
        (1, "one", true),
        (3, "three", false),
        (1, "one", false),
        (1, "one", false),
        (3, "three", false),
    ]
    .into_iter()
    .map(|(v, code, cold)| (Some(v), Value::from(code), cold))
    .collect();
    assert_eq!(ran, expected);
    assert_eq!(worker.local.stats()[0].instances, 2);

    let again = versioned("two", 1, "registered again");
    let r = call(&cluster, &again, "r9", serde_json::json!({}))
        .await
        .expect("call");
    assert!(
        r.cold_start,
        "new code under an old number is not served warm"
    );
    assert_eq!(output(&r)["code"], "registered again");
    assert_eq!(
        worker.local.stats()[0].instances,
        1,
        "the old versions' instances were stopped"
    );
    cluster.shutdown().await;
    worker.stop().await;
}

/// The seed's InvokeAsync kept calls in a worker's memory; it left the service (async calls are
/// Nova's durable queue), and a client that still calls it is told so, not served.
#[tokio::test]
async fn invoke_async_is_unimplemented() {
    let worker = Worker::open("node-a").await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", worker.endpoint))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/nova.v1.DataPlane/InvokeAsync");
    let codec = tonic_prost::ProstCodec::<proto::HealthRequest, proto::HealthResponse>::default();
    let refused = grpc
        .unary(tonic::Request::new(proto::HealthRequest {}), path, codec)
        .await
        .expect_err("InvokeAsync is not served");
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
    worker.stop().await;
}
