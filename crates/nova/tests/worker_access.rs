//! The data plane's invoke path honours Nova's API keys: a real `comet daemon` worker reading
//! the keys from the store a real Nova daemon writes (SQLite here; Postgres is the same query),
//! called over gRPC with and without keys, and Nova itself reaching a locked worker.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use comet::DataPlane;
use comet_grpc::Cluster;
use comet_grpc::proto::data_plane_client::DataPlaneClient;
use comet_grpc::proto::{
    self, EvictRequest, GetMetricsRequest, HealthRequest, ListInvocationsRequest, PrewarmRequest,
};
use common::process::start_worker;
use common::{TestDaemon, python_function};
use nova_api::{FunctionSpec, InvokeRequest, Mode, Runtime};
use serde_json::value::RawValue;

const ECHO: &str = "def handler(event, context=None):\n    return {'echo': event.get('n')}\n";

fn echo() -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        mode: Mode::Persistent,
        handler: "main.handler".into(),
        ..FunctionSpec::with_defaults("echo", Runtime::Python, ECHO.as_bytes().to_vec())
    })
}

fn request() -> InvokeRequest {
    InvokeRequest {
        request_id: uuid::Uuid::new_v4().simple().to_string(),
        payload: RawValue::from_string(r#"{"n": 1}"#.into()).expect("json"),
    }
}

/// An invocation over gRPC with `key` (none: no credential): the output, or the error's text.
async fn invoke_as(endpoint: &str, key: Option<&str>) -> Result<String, String> {
    let cluster = Cluster::connect_with_token(&[endpoint.to_string()], Duration::from_secs(5), key)
        .expect("client");
    match cluster.invoke(echo(), request()).await {
        Ok(r) => Ok(r.output.map(|o| o.get().to_string()).unwrap_or_default()),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits (keys reach a worker within its refresh period) until `check` holds for an invocation.
async fn until(
    what: &str,
    endpoint: &str,
    key: Option<&str>,
    check: impl Fn(&Result<String, String>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = invoke_as(endpoint, key).await;
        if check(&outcome) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {outcome:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_key(nova: &TestDaemon, admin: Option<&str>, name: &str, scope: &str) -> String {
    let mut post = nova
        .client
        .post(nova.url("/apikeys"))
        .json(&serde_json::json!({"name": name, "scopes": [scope]}));
    if let Some(admin) = admin {
        post = post.bearer_auth(admin);
    }
    let response = post.send().await.expect("create key");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("json");
    body["key"].as_str().expect("key").to_string()
}

/// A raw gRPC call's status code, with `key` in its metadata.
async fn code_of<T>(
    call: impl AsyncFnOnce(
        DataPlaneClient<tonic::transport::Channel>,
        Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    ) -> Result<T, tonic::Status>,
    endpoint: &str,
    key: Option<&str>,
) -> tonic::Code {
    let client = DataPlaneClient::connect(format!("http://{endpoint}"))
        .await
        .expect("connect");
    let value = key.map(|k| format!("Bearer {k}").parse().expect("ascii"));
    match call(client, value).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

fn with_key<T>(
    message: T,
    key: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(key) = key {
        request.metadata_mut().insert("authorization", key);
    }
    request
}

#[tokio::test]
async fn a_worker_checks_novas_api_keys_once_one_exists() {
    let nova = TestDaemon::start().await;
    let store = nova.dir.path().join("nova.db");
    let worker = start_worker(
        "keyed",
        &["--api-keys-from", store.to_str().expect("utf-8")],
    );
    let endpoint = worker.endpoint.clone();

    // No key yet: open, as Nova's own API is.
    assert_eq!(
        invoke_as(&endpoint, None).await,
        Ok(r#"{"echo": 1}"#.into())
    );

    let root = create_key(&nova, None, "root", "admin").await;
    let reader = create_key(&nova, Some(&root), "reader", "read").await;
    let caller = create_key(&nova, Some(&root), "caller", "invoke").await;
    let deployer = create_key(&nova, Some(&root), "deployer", "admin").await;
    until("a key is required", &endpoint, None, |r| {
        r.as_ref()
            .is_err_and(|e| e.contains("an API key is required"))
    })
    .await;
    // A call carries the function's code: deploying, which only admin keys may do.
    for key in [&reader, &caller] {
        let refused = invoke_as(&endpoint, Some(key)).await.unwrap_err();
        assert!(refused.contains("lacks the 'admin' scope"), "{refused}");
        assert!(refused.contains("carry a function's code"), "{refused}");
    }
    let forged = format!("{}x", &deployer);
    let refused = invoke_as(&endpoint, Some(&forged)).await.unwrap_err();
    assert!(refused.contains("unknown API key"), "{refused}");
    assert_eq!(
        invoke_as(&endpoint, Some(&deployer)).await,
        Ok(r#"{"echo": 1}"#.into())
    );

    // The other calls, by scope; Health needs nothing. A refused call's body is not read: an
    // empty message is refused just like a full one.
    let list = async |mut c: DataPlaneClient<_>, k| {
        let m = ListInvocationsRequest {
            function: "echo".into(),
            limit: 10,
            offset: 0,
        };
        c.list_invocations(with_key(m, k)).await
    };
    let metrics = async |mut c: DataPlaneClient<_>, k| {
        let m = GetMetricsRequest {
            function: "echo".into(),
            range_seconds: 60,
        };
        c.get_metrics(with_key(m, k)).await
    };
    let evict = async |mut c: DataPlaneClient<_>, k| {
        let m = EvictRequest {
            function: "echo".into(),
        };
        c.evict(with_key(m, k)).await
    };
    let prewarm = async |mut c: DataPlaneClient<_>, k| {
        c.prewarm(with_key(PrewarmRequest::default(), k)).await
    };
    let huge = async |mut c: DataPlaneClient<_>, k| {
        let m = proto::InvokeRequest {
            payload: vec![b' '; 32 << 20],
            ..proto::InvokeRequest::default()
        };
        c.invoke(with_key(m, k)).await
    };
    let health = async |mut c: DataPlaneClient<_>, k| c.health(with_key(HealthRequest {}, k)).await;
    use tonic::Code;
    assert_eq!(code_of(list, &endpoint, None).await, Code::Unauthenticated);
    assert_eq!(
        code_of(list, &endpoint, Some(&caller)).await,
        Code::PermissionDenied
    );
    assert_eq!(code_of(list, &endpoint, Some(&reader)).await, Code::Ok);
    assert_eq!(
        code_of(metrics, &endpoint, None).await,
        Code::Unauthenticated
    );
    assert_eq!(code_of(metrics, &endpoint, Some(&reader)).await, Code::Ok);
    for key in [None, Some(reader.as_str()), Some(caller.as_str())] {
        let expected = match key {
            None => Code::Unauthenticated,
            Some(_) => Code::PermissionDenied,
        };
        assert_eq!(code_of(prewarm, &endpoint, key).await, expected);
        assert_eq!(code_of(evict, &endpoint, key).await, expected);
    }
    assert_eq!(code_of(huge, &endpoint, None).await, Code::Unauthenticated);
    assert_eq!(code_of(evict, &endpoint, Some(&root)).await, Code::Ok);
    assert_eq!(code_of(health, &endpoint, None).await, Code::Ok);

    // Revoked on Nova: refused by the worker within its refresh period.
    let revoked = nova
        .client
        .post(nova.url("/apikeys/deployer/revoke"))
        .bearer_auth(&root)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    until(
        "the revoked key is refused",
        &endpoint,
        Some(&deployer),
        |r| r.as_ref().is_err_and(|e| e.contains("revoked or expired")),
    )
    .await;
    nova.stop().await;
}

/// A worker with a token and Nova's keys: Nova gets through with the token, a client with an
/// admin key directly, nobody without either (a token means a credential is always needed).
#[tokio::test]
async fn nova_reaches_a_locked_worker_with_its_token() {
    const TOKEN: &str = "cluster-token-0123456789";
    // The worker needs a Nova store to read from before Nova itself starts.
    let seed = TestDaemon::start().await;
    let store = seed.dir.path().join("nova.db");
    let worker = start_worker(
        "locked",
        &[
            "--token",
            TOKEN,
            "--api-keys-from",
            store.to_str().expect("utf-8"),
        ],
    );
    let config = format!(
        "comet:\n  endpoint: {}\n  token: {TOKEN}\n",
        worker.endpoint
    );
    let nova = TestDaemon::start_with_config(&config).await;
    let f = python_function(
        "hello",
        "def handler(event, context=None):\n    return 'hi'\n",
    );
    assert_eq!(nova.post_json("/functions", &f).await.0, 201);
    let (status, body) = nova.invoke("hello", "{}").await;
    assert_eq!(
        (status, body["output"].clone()),
        (200, "hi".into()),
        "{body}"
    );

    let refused = invoke_as(&worker.endpoint, None).await.unwrap_err();
    assert!(refused.contains("an API key is required"), "{refused}");
    let ops = create_key(&seed, None, "ops", "admin").await;
    until(
        "the seed's key is accepted",
        &worker.endpoint,
        Some(&ops),
        |r| r.is_ok(),
    )
    .await;
    seed.stop().await;
    nova.stop().await;
}
